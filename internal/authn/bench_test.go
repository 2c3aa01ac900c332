package authn

import (
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/policy"
)

// BenchmarkNext is one sign-in decision (a person with an authenticator app, after the
// password, in a tenant that requires MFA), and the acr request parsing of /authorize.
func BenchmarkNext(b *testing.B) {
	required := policy.Defaults()
	required.MFAMode = policy.MFARequired
	s := State{Now: time.Now(), Tenant: required, Role: policy.RoleFor("provider"),
		Enrolled: []Factor{{Kind: policy.TOTP, IsDefault: true}}, AMR: []string{AMRPassword}}
	b.ReportAllocs()
	for b.Loop() {
		if Next(s).Kind == "" {
			b.Fatal("no step")
		}
	}
}

func BenchmarkRequire(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Require([]string{"urn:tessera:acr:mfa"}, nil, false, "")
	}
}
