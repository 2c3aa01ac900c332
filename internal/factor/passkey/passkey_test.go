package passkey_test

import (
	"slices"
	"testing"

	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/factor/passkey"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestAMRAndACR: what a passkey contributes (RFC 8176) and the acr that earns, alone
// (passwordless) and after a password.
func TestAMRAndACR(t *testing.T) {
	for _, c := range []struct {
		name     string
		hardware bool
		before   []string
		amr      []string
		acr      string
	}{
		{"synced or platform passkey alone", false, nil, []string{"swk", "user"}, authn.ACRPhishingRes},
		{"attested hardware alone", true, nil, []string{"hwk", "user"}, authn.ACRPhishingHW},
		{"after the password", false, []string{"pwd"}, []string{"pwd", "swk", "user"}, authn.ACRPhishingRes},
		{"hardware after the password", true, []string{"pwd"}, []string{"pwd", "hwk", "user"}, authn.ACRPhishingHW},
	} {
		t.Run(c.name, func(t *testing.T) {
			amr := append(slices.Clone(c.before), passkey.AMRFor(&store.Passkey{Hardware: c.hardware, AttestationType: "basic_full"})...)
			if !slices.Equal(amr, c.amr) {
				t.Errorf("amr %v, want %v", amr, c.amr)
			}
			if got := authn.ACRFor(amr); got != c.acr {
				t.Errorf("acr %s, want %s", got, c.acr)
			}
		})
	}
}

func TestFactor(t *testing.T) {
	st := storetest.OpenSQLite(t)
	p, err := passkey.New(st, "http://localhost:8080", "Tessera")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind() != policy.Passkey || !p.PhishingResistant() || !slices.Equal(p.AMR(), []string{"swk", "user"}) {
		t.Errorf("kind %s, phishing resistant %v, amr %v", p.Kind(), p.PhishingResistant(), p.AMR())
	}
	if err := p.Verify(t.Context(), &store.Factor{}, "{}"); err == nil {
		t.Error("Verify accepted an answer without a ceremony")
	}
	for _, issuer := range []string{"http://127.0.0.1:8080", "http://[::1]:8080", "not a url"} {
		if _, err := passkey.New(st, issuer, "Tessera"); err == nil {
			t.Errorf("%s: passkeys on an IP address (browsers refuse them)", issuer)
		}
	}
}
