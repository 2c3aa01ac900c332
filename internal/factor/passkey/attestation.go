package passkey

import (
	"errors"
	"slices"

	"github.com/go-webauthn/webauthn/metadata"

	"github.com/tessera-health/tessera/internal/store"
)

// Attestation is what a tenant demands of a new passkey (store.Tenant.PasskeyAttestation): a
// verified attestation statement and, when AAGUIDs is not empty, one of those authenticator
// models. The zero value asks for nothing (the browser is asked for no attestation at all).
//
// What "verified" means here: go-webauthn checks the statement of every format it knows
// (packed, tpm, android-key, android-safetynet, apple, fido-u2f, compound) against the new
// credential and the challenge, including the certificate chain's signatures and the
// format-specific certificate extensions. Without the FIDO Metadata Service (no network here, and
// no MDS BLOB configured) the chain is not anchored in a vendor's root, so an allowlist by AAGUID
// is a statement the authenticator signed with an attestation certificate, not proof that a given
// vendor built it. Self attestation (the credential's own key signing its own statement) and
// "none" prove nothing about the device and are refused when attestation is required.
type Attestation struct {
	Required bool
	AAGUIDs  []string // lower-case UUIDs; empty: any model whose attestation verifies
}

// Errors of the attestation policy, told apart for the plain message a person sees.
var (
	// ErrNotAttested: attestation is required and the authenticator gave none, only self
	// attestation, or a statement that does not verify.
	ErrNotAttested = errors.New("passkey: no verified attestation")
	// ErrModel: the authenticator model (AAGUID) is not on the tenant's list.
	ErrModel = errors.New("passkey: this authenticator model is not allowed")
)

// VerifiedAttestation reports whether an attestation type, as go-webauthn derived it from a
// statement it verified, is backed by an attestation key other than the credential's own:
// basic (full), attestation CA, anonymization CA or ECDAA. Self attestation ("basic_surrogate")
// and "none" are not, nor is anything unknown or empty.
func VerifiedAttestation(attestationType string) bool {
	switch metadata.AuthenticatorAttestationType(attestationType) {
	case metadata.BasicFull, metadata.AttCA, metadata.AnonCA, metadata.Ecdaa:
		return true
	}
	return false
}

// HardwareAttested reports whether a passkey counts as attested hardware (amr hwk, acr phrh): its
// attestation verified (not self, not none) and it is device-bound — a passkey that may be synced
// to other devices (backup eligible) is not one piece of hardware, whatever attested it.
func HardwareAttested(pk *store.Passkey) bool {
	return VerifiedAttestation(pk.AttestationType) && !pk.BackupEligible
}

// CheckAttestation applies a tenant's demand to a registered (not yet stored) passkey: nil, or
// ErrNotAttested or ErrModel.
func CheckAttestation(want Attestation, pk *store.Passkey) error {
	if !want.Required {
		return nil
	}
	if !VerifiedAttestation(pk.AttestationType) {
		return ErrNotAttested
	}
	if len(want.AAGUIDs) > 0 && !slices.Contains(want.AAGUIDs, pk.AAGUID) {
		return ErrModel
	}
	return nil
}
