package passkey_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/factor/passkey"
	"github.com/tessera-health/tessera/internal/store"
)

// TestAttestationPolicy: the tenant's demand applied to credential records as go-webauthn
// leaves them after registration (attestation type, AAGUID, backup eligibility), and what each
// passkey is then worth: hwk and phrh only for a verified, non-self attestation of a device-bound
// authenticator; everything else swk and phr.
func TestAttestationPolicy(t *testing.T) {
	const listed = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
	const other = "01020304-0506-0708-0102-030405060708"
	const zero = "00000000-0000-0000-0000-000000000000"
	none := passkey.Attestation{}
	anyModel := passkey.Attestation{Required: true}
	onlyListed := passkey.Attestation{Required: true, AAGUIDs: []string{listed}}
	for _, c := range []struct {
		name   string
		want   passkey.Attestation
		pk     store.Passkey
		err    error
		hwk    bool
		acrSol string // acr of the passkey alone
	}{
		{"not required: no attestation accepted", none, store.Passkey{AttestationType: "none", AAGUID: zero}, nil, false, authn.ACRPhishingRes},
		{"not required: self attestation accepted", none, store.Passkey{AttestationType: "basic_surrogate", AAGUID: other}, nil, false, authn.ACRPhishingRes},
		{"not required: a verified attestation still earns hwk", none, store.Passkey{AttestationType: "basic_full", AAGUID: other}, nil, true, authn.ACRPhishingHW},
		{"required: none refused", anyModel, store.Passkey{AttestationType: "none", AAGUID: zero}, passkey.ErrNotAttested, false, authn.ACRPhishingRes},
		{"required: empty type refused", anyModel, store.Passkey{AAGUID: listed}, passkey.ErrNotAttested, false, authn.ACRPhishingRes},
		{"required: self attestation refused", anyModel, store.Passkey{AttestationType: "basic_surrogate", AAGUID: listed}, passkey.ErrNotAttested, false, authn.ACRPhishingRes},
		{"required: an unknown type refused", anyModel, store.Passkey{AttestationType: "packed", AAGUID: listed}, passkey.ErrNotAttested, false, authn.ACRPhishingRes},
		{"required, any model: basic", anyModel, store.Passkey{AttestationType: "basic_full", AAGUID: other}, nil, true, authn.ACRPhishingHW},
		{"required, any model: attestation CA (tpm)", anyModel, store.Passkey{AttestationType: "attca", AAGUID: other}, nil, true, authn.ACRPhishingHW},
		{"required, any model: anonymization CA (apple)", anyModel, store.Passkey{AttestationType: "anonca", AAGUID: other}, nil, true, authn.ACRPhishingHW},
		{"required, any model: synced passkey accepted but not hardware", anyModel, store.Passkey{AttestationType: "anonca", AAGUID: other, BackupEligible: true}, nil, false, authn.ACRPhishingRes},
		{"listed model accepted", onlyListed, store.Passkey{AttestationType: "basic_full", AAGUID: listed}, nil, true, authn.ACRPhishingHW},
		{"unlisted model refused", onlyListed, store.Passkey{AttestationType: "basic_full", AAGUID: other}, passkey.ErrModel, true, authn.ACRPhishingHW},
		{"listed model with self attestation refused (its AAGUID is only its own claim)", onlyListed, store.Passkey{AttestationType: "basic_surrogate", AAGUID: listed}, passkey.ErrNotAttested, false, authn.ACRPhishingRes},
		{"listed model without attestation refused", onlyListed, store.Passkey{AttestationType: "none", AAGUID: listed}, passkey.ErrNotAttested, false, authn.ACRPhishingRes},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := passkey.CheckAttestation(c.want, &c.pk); !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Errorf("CheckAttestation: %v, want %v", err, c.err)
			}
			c.pk.Hardware = passkey.HardwareAttested(&c.pk)
			if c.pk.Hardware != c.hwk {
				t.Errorf("hardware %v, want %v", c.pk.Hardware, c.hwk)
			}
			amr := passkey.AMRFor(&c.pk)
			if (slices.Contains(amr, "hwk")) != c.hwk || !slices.Contains(amr, "user") {
				t.Errorf("amr %v (hardware %v)", amr, c.hwk)
			}
			if got := authn.ACRFor(amr); got != c.acrSol {
				t.Errorf("acr %s, want %s", got, c.acrSol)
			}
		})
	}
	// A row marked hardware under an older rule but only self-attested never claims hwk.
	if amr := passkey.AMRFor(&store.Passkey{Hardware: true, AttestationType: "basic_surrogate"}); slices.Contains(amr, "hwk") {
		t.Errorf("a self-attested passkey claims %v", amr)
	}
}
