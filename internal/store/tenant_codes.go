package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Per-tenant code lifetimes and the second factors patients may choose (migration 00095).

// Code lifetime bounds, in minutes: NIST SP 800-63B gives an out-of-band code about 10 minutes,
// so SMS and voice codes live at most that; an email code at most 15.
const (
	MaxPhoneCodeMinutes = 10
	MaxEmailCodeMinutes = 15
)

// PatientFactorChoices are the second factors a tenant may let patients choose (backup codes
// always come with them).
var PatientFactorChoices = []string{"sms", "voice", "email", "totp", "passkey"}

// MaxCodeMinutes is the longest lifetime a tenant may set for a channel's codes (sms, voice,
// email); 0 for anything else.
func MaxCodeMinutes(kind string) int {
	switch kind {
	case "sms", "voice":
		return MaxPhoneCodeMinutes
	case "email":
		return MaxEmailCodeMinutes
	}
	return 0
}

// CodeLifetime is the tenant's lifetime for codes of kind (sms and voice share one), or 0 when
// the tenant keeps the server's setting.
func (t *Tenant) CodeLifetime(kind string) time.Duration {
	if t == nil {
		return 0
	}
	var m *int
	switch kind {
	case "sms", "voice":
		m = t.SMSCodeMinutes
	case "email":
		m = t.EmailCodeMinutes
	}
	if m == nil || *m <= 0 {
		return 0
	}
	return time.Duration(min(*m, MaxCodeMinutes(kind))) * time.Minute
}

// PatientFactorList is the factors the tenant lets patients choose, nil for all of them.
func (t *Tenant) PatientFactorList() []string {
	if t == nil || strings.TrimSpace(t.PatientFactors) == "" {
		return nil
	}
	return strings.Fields(t.PatientFactors)
}

func validTenantCodes(t *Tenant) error {
	for _, c := range []struct {
		kind string
		m    *int
	}{{"sms", t.SMSCodeMinutes}, {"email", t.EmailCodeMinutes}} {
		if c.m != nil && (*c.m < 1 || *c.m > MaxCodeMinutes(c.kind)) {
			return fmt.Errorf("store: %s code lifetime %d minutes is outside 1..%d", c.kind, *c.m, MaxCodeMinutes(c.kind))
		}
	}
	for _, k := range t.PatientFactorList() {
		if !slices.Contains(PatientFactorChoices, k) {
			return fmt.Errorf("store: unknown patient factor %q", k)
		}
	}
	return nil
}

func codesSummary(t *Tenant) string {
	show := func(m *int) string {
		if m == nil {
			return "default"
		}
		return fmt.Sprint(*m)
	}
	pf := t.PatientFactors
	if pf == "" {
		pf = "all"
	}
	return fmt.Sprintf(" sms_code_minutes=%s email_code_minutes=%s patient_factors=%q", show(t.SMSCodeMinutes), show(t.EmailCodeMinutes), pf)
}
