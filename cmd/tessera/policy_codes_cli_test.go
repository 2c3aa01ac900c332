package main

import (
	"context"
	"strings"
	"testing"
)

// TestCLITenantCodesAndFactors: tenant create and update set the tenant's code lifetimes and
// the factors patients may choose, within the bounds (SMS/voice at most 10 minutes per NIST,
// email at most 15, at least one factor), 0 returns to the server's setting, and the change is
// in the audit trail.
func TestCLITenantCodesAndFactors(t *testing.T) {
	c := newCLI(t)
	id := c.ok("", "tenant", "create", "--name", "Riverside Health", "--sms-code-minutes", "5", "--patient-factors", "totp,passkey,email")["id"].(string)
	tn, _ := c.store().TenantByID(context.Background(), id)
	if tn.SMSCodeMinutes == nil || *tn.SMSCodeMinutes != 5 || tn.EmailCodeMinutes != nil || tn.PatientFactors != "email totp passkey" {
		t.Fatalf("create: sms=%v email=%v factors=%q", tn.SMSCodeMinutes, tn.EmailCodeMinutes, tn.PatientFactors)
	}
	c.ok("", "tenant", "update", "--tenant", id, "--email-code-minutes", "15", "--sms-code-minutes", "0")
	tn, _ = c.store().TenantByID(context.Background(), id)
	if tn.SMSCodeMinutes != nil || tn.EmailCodeMinutes == nil || *tn.EmailCodeMinutes != 15 || tn.PatientFactors != "email totp passkey" {
		t.Fatalf("update: sms=%v email=%v factors=%q", tn.SMSCodeMinutes, tn.EmailCodeMinutes, tn.PatientFactors)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--sms-code-minutes", "11"}, "--sms-code-minutes \"11\": use a whole number of minutes from 1 to 10"},
		{[]string{"--email-code-minutes", "16"}, "--email-code-minutes \"16\": use a whole number of minutes from 1 to 15"},
		{[]string{"--sms-code-minutes", "ten"}, "--sms-code-minutes \"ten\": use a whole number of minutes"},
		{[]string{"--patient-factors", "sms,carrier-pigeon"}, "--patient-factors \"sms,carrier-pigeon\": use sms, voice, email, totp or passkey"},
		{[]string{"--patient-factors", ""}, "at least one"},
	} {
		code, out, errs := c.run("", append([]string{"tenant", "update", "--tenant", id}, bad.args...)...)
		if code != 2 || out != "" || !strings.Contains(errs, bad.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", bad.args, code, errs, bad.want)
		}
	}
	if tn, _ := c.store().TenantByID(context.Background(), id); *tn.EmailCodeMinutes != 15 || tn.PatientFactors != "email totp passkey" {
		t.Errorf("a refused update wrote: %+v", tn)
	}
	_, out, _ := c.run("", "audit", "export")
	if !strings.Contains(out, `sms_code_minutes=default email_code_minutes=15 patient_factors=\"email totp passkey\"`) {
		t.Errorf("the audit trail lacks the new settings: %.2000s", out)
	}
}
