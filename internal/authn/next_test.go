package authn

import (
	"slices"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/policy"
)

func TestNext(t *testing.T) {
	now := time.Date(2027, 1, 10, 9, 0, 0, 0, time.UTC)
	optional := policy.Defaults()
	required := policy.Defaults()
	required.MFAMode = policy.MFARequired
	later := required
	later.EnforceFrom = now.AddDate(0, 2, 0)
	patient, provider := policy.RoleFor("patient"), policy.RoleFor("provider")
	totp := []Factor{{Kind: policy.TOTP}}
	pwd := []string{AMRPassword}

	tests := []struct {
		name string
		s    State
		want Step
	}{
		{"nothing yet: password", State{Tenant: optional, Role: patient}, Step{Kind: StepPassword}},
		{"locked wins", State{Tenant: optional, Role: patient, Locked: true, AMR: pwd}, Step{Kind: StepLocked}},
		{"optional, nothing enrolled: done with one factor", State{Tenant: optional, Role: patient, AMR: pwd},
			Step{Kind: StepDone, ACR: ACRSingleFactor, AMR: pwd}},
		{"optional, enrolled: challenged", State{Tenant: optional, Role: patient, AMR: pwd, Enrolled: totp},
			Step{Kind: StepChallenge, Factors: []string{policy.TOTP}}},
		{"after the code: done, mfa", State{Tenant: optional, Role: patient, AMR: []string{AMRPassword, AMROTP}, Enrolled: totp},
			Step{Kind: StepDone, ACR: ACRMultiFactor, AMR: []string{AMRPassword, AMROTP, AMRMFA}}},
		{"required, nothing enrolled: forced enrollment", State{Tenant: required, Role: patient, AMR: pwd},
			Step{Kind: StepEnroll, Factors: []string{policy.TOTP, policy.SMS, policy.Voice, policy.Email, policy.Passkey}}},
		{"before the enforcement date: may defer", State{Tenant: later, Role: patient, AMR: pwd},
			Step{Kind: StepEnroll, Factors: []string{policy.TOTP, policy.SMS, policy.Voice, policy.Email, policy.Passkey}, CanDefer: true}},
		{"deferred: done", State{Tenant: later, Role: patient, AMR: pwd, Deferred: true},
			Step{Kind: StepDone, ACR: ACRSingleFactor, AMR: pwd}},
		{"provider never defers and enrolls app or passkey only", State{Tenant: later, Role: provider, AMR: pwd},
			Step{Kind: StepEnroll, Factors: []string{policy.TOTP, policy.Passkey}}},
		{"provider's SMS is not offered", State{Tenant: optional, Role: provider, AMR: pwd, Enrolled: []Factor{{Kind: policy.SMS}, {Kind: policy.TOTP}}},
			Step{Kind: StepChallenge, Factors: []string{policy.TOTP}}},
		{"default factor first", State{Tenant: optional, Role: patient, AMR: pwd, Enrolled: []Factor{{Kind: policy.TOTP}, {Kind: policy.SMS, IsDefault: true}}},
			Step{Kind: StepChallenge, Factors: []string{policy.SMS, policy.TOTP}}},
		{"unverified phone is verified first", State{Tenant: required, Role: patient, AMR: pwd, PhoneUnverified: true, Enrolled: []Factor{{Kind: policy.SMS}}},
			Step{Kind: StepVerifyPhone}},
		{"remembered device skips the code", State{Tenant: required, Role: patient, AMR: pwd, Enrolled: totp, RememberedDevice: true},
			Step{Kind: StepDone, ACR: ACRMultiFactor, AMR: []string{AMRPassword, AMRRememberedDevice, AMRMFA}}},
		{"step-up: the RP asks for mfa of a password session", State{Tenant: optional, Role: patient, AMR: pwd, Enrolled: totp, RequiredACR: ACRMultiFactor},
			Step{Kind: StepChallenge, Factors: []string{policy.TOTP}}},
		{"essential phr without a passkey: unmet", State{Tenant: optional, Role: patient, AMR: pwd, Enrolled: totp, RequiredACR: ACRPhishingRes, ACREssential: true},
			Step{Kind: StepUnmet}},
		{"voluntary phr without a passkey: the best available", State{Tenant: optional, Role: patient, AMR: pwd, Enrolled: totp, RequiredACR: ACRPhishingRes},
			Step{Kind: StepChallenge, Factors: []string{policy.TOTP}}},
		{"phr with a passkey enrolled: the passkey is asked", State{Tenant: optional, Role: patient, AMR: pwd, Enrolled: []Factor{{Kind: policy.TOTP}, {Kind: policy.Passkey}}, RequiredACR: ACRPhishingRes},
			Step{Kind: StepChallenge, Factors: []string{policy.Passkey}}},
		{"passkey inside the 90 days: done", State{Now: now, Tenant: required, Role: patient, AMR: []string{AMRHardware, AMRUser}, Enrolled: []Factor{{Kind: policy.Passkey}}, LastOtherMFA: now.AddDate(0, 0, -30)},
			Step{Kind: StepDone, ACR: ACRPhishingHW, AMR: []string{AMRHardware, AMRUser}}},
		{"passkey after 90 days: one more check", State{Now: now, Tenant: required, Role: patient, AMR: []string{AMRHardware, AMRUser}, Enrolled: []Factor{{Kind: policy.Passkey}, {Kind: policy.TOTP}}, LastOtherMFA: now.AddDate(0, 0, -91)},
			Step{Kind: StepChallenge, Factors: []string{policy.TOTP}}},
		{"only a passkey, window passed: enroll another factor", State{Now: now, Tenant: required, Role: patient, AMR: []string{AMRHardware, AMRUser}, Enrolled: []Factor{{Kind: policy.Passkey}}, LastOtherMFA: now.AddDate(0, 0, -91)},
			Step{Kind: StepEnroll, Factors: []string{policy.TOTP, policy.SMS, policy.Voice, policy.Email}}},
		{"voluntary mfa, nothing enrolled: the truthful best", State{Tenant: optional, Role: patient, AMR: pwd, RequiredACR: ACRMultiFactor},
			Step{Kind: StepDone, ACR: ACRSingleFactor, AMR: pwd}},
		{"essential mfa, nothing enrolled: enroll, no deferral", State{Tenant: later, Role: patient, AMR: pwd, RequiredACR: ACRMultiFactor, ACREssential: true},
			Step{Kind: StepEnroll, Factors: []string{policy.TOTP, policy.SMS, policy.Voice, policy.Email, policy.Passkey}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.Now.IsZero() {
				tt.s.Now = now
			}
			got := Next(tt.s)
			if got.Kind != tt.want.Kind || !slices.Equal(got.Factors, tt.want.Factors) || got.CanDefer != tt.want.CanDefer ||
				got.ACR != tt.want.ACR || !slices.Equal(got.AMR, tt.want.AMR) {
				t.Errorf("Next = %+v\n want %+v", got, tt.want)
			}
		})
	}
}
