package admin

import (
	"slices"
	"strings"

	"github.com/tessera-health/tessera/internal/store"
)

// The per-tenant code lifetimes and the factors patients may choose (PolicyChanges).

func (c PolicyChanges) applyCodes(t *store.Tenant) error {
	for _, m := range []struct {
		v     *int
		field string
		kind  string
		dst   **int
	}{{c.SMSCodeMinutes, "sms_code_minutes", "sms", &t.SMSCodeMinutes}, {c.EmailCodeMinutes, "email_code_minutes", "email", &t.EmailCodeMinutes}} {
		if m.v == nil {
			continue
		}
		n, max := *m.v, store.MaxCodeMinutes(m.kind)
		if n < 0 || n > max {
			return bad(m.field, m.field, "use a whole number of minutes from 1 to %d, or 0 for the server's setting", max)
		}
		if n == 0 {
			*m.dst = nil
		} else {
			*m.dst = &n
		}
	}
	if c.PatientFactors != nil {
		var list []string
		for _, k := range *c.PatientFactors {
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "" {
				continue
			}
			if !slices.Contains(store.PatientFactorChoices, k) {
				return bad("patient_factors", "patient_factors", "use sms, voice, email, totp or passkey")
			}
			if !slices.Contains(list, k) {
				list = append(list, k)
			}
		}
		if len(list) == 0 {
			return bad("patient_factors", "patient_factors_none", "allow patients at least one second factor")
		}
		// In the fixed order, and "" when every one is allowed (new kinds then follow the server).
		slices.SortFunc(list, func(a, b string) int {
			return slices.Index(store.PatientFactorChoices, a) - slices.Index(store.PatientFactorChoices, b)
		})
		t.PatientFactors = strings.Join(list, " ")
		if len(list) == len(store.PatientFactorChoices) {
			t.PatientFactors = ""
		}
	}
	return nil
}
