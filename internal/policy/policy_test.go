package policy

import (
	"testing"
	"time"
)

func TestEnforcement(t *testing.T) {
	march31 := time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)
	before, after := march31.Add(-time.Hour), march31.Add(time.Hour)
	tests := []struct {
		name                 string
		t                    Tenant
		now                  time.Time
		enforced, deferrable bool
	}{
		{"optional", Tenant{MFAMode: MFAOptional}, after, false, false},
		{"required now", Tenant{MFAMode: MFARequired}, before, true, false},
		{"required from a date, before it", Tenant{MFAMode: MFARequired, EnforceFrom: march31}, before, false, true},
		{"required from a date, after it", Tenant{MFAMode: MFARequired, EnforceFrom: march31}, after, true, false},
		{"off", Tenant{MFAMode: MFAOff, EnforceFrom: march31}, after, false, false},
	}
	for _, tt := range tests {
		if got := tt.t.Enforced(tt.now); got != tt.enforced {
			t.Errorf("%s: Enforced = %v", tt.name, got)
		}
		if got := tt.t.Deferrable(tt.now); got != tt.deferrable {
			t.Errorf("%s: Deferrable = %v", tt.name, got)
		}
	}
}

func TestRoles(t *testing.T) {
	p := RoleFor("provider")
	if p.Allows(SMS) || p.Allows(Email) || !p.Allows(TOTP) || !p.Allows(Passkey) || !p.MFARequired || p.MayDisableMFA {
		t.Errorf("provider policy: %+v", p)
	}
	pt := RoleFor("patient")
	if !pt.Allows(SMS) || !pt.Allows(Voice) || pt.MFARequired || !pt.MayDisableMFA {
		t.Errorf("patient policy: %+v", pt)
	}
}

func TestTenantPatientFactors(t *testing.T) {
	ten := Tenant{PatientFactors: []string{TOTP, Email}}
	pt := RoleFor("patient", ten)
	if pt.Allows(SMS) || pt.Allows(Voice) || pt.Allows(Passkey) || !pt.Allows(TOTP) || !pt.Allows(Email) || !pt.Allows(BackupCode) {
		t.Errorf("patient in a tenant allowing totp and email: %+v", pt)
	}
	// What the tenant stopped offering still signs in whoever set it up, but is not set up anew.
	if !pt.Uses(SMS) || !pt.Uses(Passkey) || !pt.Uses(TOTP) || pt.Allows(SMS) {
		t.Errorf("patient's kept factors: %+v", pt)
	}
	if p := RoleFor("provider", ten); p.Uses(SMS) {
		t.Errorf("a provider's text messages sign in: %+v", p)
	}
	if !RoleFor("patient", Tenant{}).Allows(SMS) {
		t.Error("a tenant without a list narrowed patients")
	}
	// Providers stay fixed whatever the tenant lists.
	if p := RoleFor("provider", Tenant{PatientFactors: []string{SMS}}); p.Allows(SMS) || !p.Allows(TOTP) {
		t.Errorf("provider policy changed by the tenant: %+v", p)
	}
	if s := RoleFor("staff", ten); !s.Allows(SMS) {
		t.Errorf("staff policy changed by the patient list: %+v", s)
	}
	// The patient role's list is not shared with the next call.
	RoleFor("patient", ten)
	if !RoleFor("patient").Allows(SMS) {
		t.Error("narrowing leaked into the role table")
	}
}
