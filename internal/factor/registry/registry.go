package registry

import (
	"errors"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/factor/backupcode"
	"github.com/tessera-health/tessera/internal/factor/otp"
	"github.com/tessera-health/tessera/internal/factor/passkey"
	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
)

// Hashing purposes (secret.Box.Hasher) of the factors' stored codes.
const (
	PurposeBackupCode = "backup-code"
	PurposeOTPCode    = "otp-code"
)

// Deps are what the factors need.
type Deps struct {
	Store *store.Store
	// Box seals TOTP secrets and derives the keyed hashers of codes.
	Box *secret.Box
	// Senders per channel: a nil sender leaves that channel out of the registry.
	Email, SMS, Voice delivery.Sender
	// Code lifetimes and send limits per channel; zero fields take the defaults
	// (otp.DefaultTTL, otp.DefaultLimits).
	EmailCodes, SMSCodes, VoiceCodes otp.Options
	// Issuer, when its host is a name (not an IP address), is the passkeys' relying party: the
	// RP ID is its host and the only origin the issuer's. Empty leaves passkeys out.
	Issuer string
}

// New builds the registry of every factor the deployment can offer. Which of them a person may
// use is policy's business, not the registry's.
func New(d Deps) (factor.Registry, error) {
	if d.Store == nil || d.Box == nil {
		return nil, errors.New("registry: a store and a secret box are required")
	}
	codes := d.Box.Hasher(PurposeOTPCode)
	r := factor.Registry{}
	r.Register(totp.New(d.Store, d.Box))
	r.Register(backupcode.New(d.Store, d.Box.Hasher(PurposeBackupCode)))
	for _, ch := range []struct {
		kind   string
		sender delivery.Sender
		opts   otp.Options
	}{
		{policy.Email, d.Email, d.EmailCodes},
		{policy.SMS, d.SMS, d.SMSCodes},
		{policy.Voice, d.Voice, d.VoiceCodes},
	} {
		if ch.sender == nil {
			continue
		}
		c, err := otp.New(ch.kind, d.Store, codes, ch.sender, ch.opts)
		if err != nil {
			return nil, err
		}
		r.Register(c)
	}
	if d.Issuer != "" {
		p, err := passkey.New(d.Store, d.Issuer, "Tessera")
		if err != nil {
			return nil, err
		}
		r.Register(p)
	}
	return r, nil
}
