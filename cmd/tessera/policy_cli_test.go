package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

// TestCLITenantPolicy: the remember-device and patient settings are set by tenant create and
// update, checked with messages that say what is accepted, audited, and MFA once required
// cannot be turned off — not even by a tenant update racing a stale read (the store refuses it).
func TestCLITenantPolicy(t *testing.T) {
	c := newCLI(t)
	id := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	tenant := func() *store.Tenant {
		t.Helper()
		tn, err := c.store().TenantByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	if tn := tenant(); tn.RememberDays() != 7 || tn.RememberNetwork() != "exact" || !tn.RememberedDeviceIsMFA() || tn.PatientsMayDisableMFA {
		t.Fatalf("defaults: %+v", tn)
	}
	c.ok("", "tenant", "update", "--tenant", "Riverside Health", "--remember-device-days", "0",
		"--remember-device-network", "prefix", "--remember-device-mfa", "off", "--patients-may-disable-mfa", "on")
	if tn := tenant(); tn.RememberDays() != 0 || tn.RememberNetwork() != "prefix" || tn.RememberedDeviceIsMFA() || !tn.PatientsMayDisableMFA {
		t.Fatalf("after update: %+v", tn)
	}
	// Flags not given are left alone.
	c.ok("", "tenant", "update", "--tenant", id, "--remember-device-days", "14")
	if tn := tenant(); tn.RememberDays() != 14 || tn.RememberNetwork() != "prefix" || tn.RememberedDeviceIsMFA() || !tn.PatientsMayDisableMFA {
		t.Fatalf("an update touched other settings: %+v", tn)
	}
	if tenant().PasskeyWindowDays() != 90 {
		t.Fatalf("passkey window default: %d", tenant().PasskeyWindowDays())
	}
	c.ok("", "tenant", "update", "--tenant", id, "--passkey-mfa-days", "30")
	if tn := tenant(); tn.PasskeyWindowDays() != 30 || tn.RememberDays() != 14 {
		t.Fatalf("--passkey-mfa-days: %+v", tn)
	}
	lake := c.ok("", "tenant", "create", "--name", "Lakeside", "--remember-device-days", "0", "--remember-device-mfa", "off",
		"--remember-device-network", "off", "--patients-may-disable-mfa", "on")["id"].(string)
	if tn, _ := c.store().TenantByID(context.Background(), lake); tn.RememberDays() != 0 || tn.RememberedDeviceIsMFA() ||
		tn.RememberNetwork() != "off" || !tn.PatientsMayDisableMFA {
		t.Fatalf("create with policy: %+v", tn)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--remember-device-days", "-1"}, "--remember-device-days \"-1\": use a whole number of days from 0 (off) to 365"},
		{[]string{"--remember-device-days", "seven"}, "use a whole number of days"},
		{[]string{"--remember-device-days", "366"}, "use a whole number of days"},
		{[]string{"--remember-device-network", "city"}, "--remember-device-network \"city\": use exact, prefix or off"},
		{[]string{"--remember-device-mfa", "yes"}, "--remember-device-mfa \"yes\": use on or off"},
		{[]string{"--passkey-mfa-days", "400"}, "--passkey-mfa-days \"400\": use a whole number of days from 0 to 365"},
		{[]string{"--patients-may-disable-mfa", "true"}, "--patients-may-disable-mfa \"true\": use on or off"},
	} {
		for _, cmd := range [][]string{{"tenant", "update", "--tenant", id}, {"tenant", "create", "--name", "Other"}} {
			code, out, errs := c.run("", append(cmd, bad.args...)...)
			if code != 2 || out != "" || !strings.Contains(errs, bad.want) {
				t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", cmd, bad.args, code, errs, bad.want)
			}
		}
	}
	if tn := tenant(); tn.RememberDays() != 14 {
		t.Errorf("a refused update wrote: %+v", tn)
	}

	// The switch: required cannot be turned off by the CLI …
	c.ok("", "tenant", "update", "--tenant", id, "--mfa", "required")
	for _, mode := range []string{"optional", "off"} {
		code, _, errs := c.run("", "tenant", "update", "--tenant", id, "--mfa", mode)
		if code != 1 || !strings.Contains(errs, "cannot be turned off") {
			t.Errorf("--mfa %s: exit %d %q", mode, code, errs)
		}
	}
	// … and other settings of a required tenant still change.
	c.ok("", "tenant", "update", "--tenant", id, "--remember-device-days", "7")
	// … nor by the store, whoever asks (a caller that skipped the CLI's check).
	tn := tenant()
	tn.MFAMode = store.MFAOptional
	if err := c.store().UpdateTenant(context.Background(), tn); err != store.ErrMFALocked {
		t.Errorf("store: %v, want ErrMFALocked", err)
	}
	if tn := tenant(); tn.MFAMode != store.MFARequired || tn.RememberDays() != 7 {
		t.Errorf("after refusals: %+v", tn)
	}

	// Every change is in the audit trail with the new settings.
	code, out, errs := c.run("", "audit", "export")
	if code != 0 {
		t.Fatal(errs)
	}
	if !strings.Contains(out, "remember_device_days=0 remember_device_network=prefix remember_device_mfa=false patients_may_disable_mfa=true") {
		t.Errorf("the audit trail does not record the policy: %s", out)
	}
}

// TestCLIHelpContact: tenant create and update set the help contact shown to people who are
// stuck; it is trimmed, left alone by updates that do not name it, cleared by "", audited, and
// refused (exit 2, nothing written) when longer than a sentence or more than one line.
func TestCLIHelpContact(t *testing.T) {
	c := newCLI(t)
	const words = "Call Riverside Health at 555-0100, Monday to Friday 8–6"
	id := c.ok("", "tenant", "create", "--name", "Riverside Health", "--help-contact", " "+words+" ")["id"].(string)
	help := func() string {
		t.Helper()
		tn, err := c.store().TenantByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tn.HelpContact
	}
	if got := help(); got != words {
		t.Fatalf("after create: %q", got)
	}
	c.ok("", "tenant", "update", "--tenant", id, "--remember-device-days", "3")
	if got := help(); got != words {
		t.Fatalf("an update without --help-contact changed it: %q", got)
	}
	for _, bad := range []struct{ v, want string }{
		{strings.Repeat("x", store.MaxHelpContact+1), "at most 200"},
		{"Call us\nor write", "one line of plain text"},
	} {
		code, out, errs := c.run("", "tenant", "update", "--tenant", id, "--help-contact", bad.v)
		if code != 2 || out != "" || !strings.Contains(errs, bad.want) {
			t.Errorf("--help-contact %.20q: exit %d, stderr %q; want 2 and %q", bad.v, code, errs, bad.want)
		}
	}
	if got := help(); got != words {
		t.Fatalf("a refused update wrote: %q", got)
	}
	c.ok("", "tenant", "update", "--tenant", id, "--help-contact", "")
	if got := help(); got != "" {
		t.Fatalf("not cleared: %q", got)
	}
	_, out, _ := c.run("", "audit", "export")
	if !strings.Contains(out, "Monday to Friday") {
		t.Errorf("the audit trail does not record the help contact")
	}
}
