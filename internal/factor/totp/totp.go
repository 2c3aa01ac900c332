package totp

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

const (
	period = 30 // seconds per step
	skew   = 1  // steps accepted either side of now
	digits = otp.DigitsSix
	// qrSize is the QR code's side in pixels: large enough for a phone camera across a desk.
	qrSize = 240
)

// Sealer seals secrets at rest (internal/secret.Box).
type Sealer interface {
	Seal(plaintext, associatedData []byte) []byte
	Open(sealed, associatedData []byte) ([]byte, error)
}

// TOTP is the authenticator-app factor.
type TOTP struct {
	st  *store.Store
	box Sealer
	now func() time.Time
}

var _ factor.Factor = (*TOTP)(nil)

// New returns the factor.
func New(st *store.Store, box Sealer) *TOTP { return &TOTP{st: st, box: box, now: time.Now} }

// SetClock replaces the clock (tests).
func (t *TOTP) SetClock(now func() time.Time) { t.now = now }

// Kind is policy.TOTP.
func (t *TOTP) Kind() string { return policy.TOTP }

// AMR is otp (RFC 8176: a one-time password).
func (t *TOTP) AMR() []string { return []string{"otp"} }

// PhishingResistant is false: a code can be typed into a look-alike site.
func (t *TOTP) PhishingResistant() bool { return false }

// BeginChallenge sends nothing: the code is in the person's app.
func (t *TOTP) BeginChallenge(context.Context, factor.ChallengeRequest) (*factor.Challenge, error) {
	return &factor.Challenge{Kind: t.Kind()}, nil
}

// Enrollment is what the enrollment page shows.
type Enrollment struct {
	FactorID string
	URL      string // otpauth:// (what the QR code holds)
	Key      string // the manual setup key, in groups of four
	QR       []byte // the QR code as a PNG, drawn here (no outside service)
	QRPNG    string // the same PNG as a data: URL, for an <img src>
}

// Begin creates a pending authenticator for a user: issuer = the tenant's name, account = the
// person's email. It becomes active only after Confirm. A pending one started within the last
// hour is shown again instead, so a reload keeps the QR code the person may have scanned.
func (t *TOTP) Begin(ctx context.Context, u *store.User, tenantName string) (*Enrollment, error) {
	if f, err := t.st.PendingFactor(ctx, u.ID, t.Kind(), time.Hour); err == nil {
		return t.Show(f, u, tenantName)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: tenantName, AccountName: u.Email, Period: period,
		Digits: digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	f := &store.Factor{ID: store.NewID(), UserID: u.ID, TenantID: u.TenantID, Kind: t.Kind(), Label: DefaultLabel}
	f.SecretSealed = seal(t.box, f.ID, key.Secret())
	if err := t.st.CreateFactor(ctx, f); err != nil {
		return nil, err
	}
	return enrollment(f.ID, key)
}

// DefaultLabel names an authenticator app in the account console when nothing else does.
const DefaultLabel = "Authenticator app"

// seal binds a secret (base32, as the app shows it) to its factor row. Begin and Imported both
// use it, and Verify opens what it produced.
func seal(box Sealer, factorID, secret string) []byte {
	return box.Seal([]byte(secret), []byte(factorID))
}

// Secrets brought in from another system: at least 80 bits (RFC 4226's minimum; it recommends
// 160, which is what Begin makes), and a bound that no real app's key comes near.
const (
	minSecretBytes = 10
	maxSecretBytes = 128
)

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrSecret is an authenticator secret that cannot be used; the wrapping error says why and
// never contains the secret.
var ErrSecret = errors.New("totp: unusable secret")

// ParseSecret reads an authenticator app's secret as another system stored it: base32 (RFC
// 4648), in either case, with or without padding, spaces or dashes between groups. It returns
// the form Begin makes (upper case, no padding), which is what gets sealed. The app must use
// what every app uses by default: SHA1, 6 digits, 30-second steps.
func ParseSecret(s string) (string, error) {
	if len(s) > 2*maxSecretBytes*8/5 { // before any copying: even with separators, this is no key
		return "", fmt.Errorf("%w: longer than %d bits", ErrSecret, maxSecretBytes*8)
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	raw, err := secretEncoding.DecodeString(clean)
	switch {
	case clean == "":
		return "", fmt.Errorf("%w: empty", ErrSecret)
	case err != nil:
		return "", fmt.Errorf("%w: not base32 (letters A-Z and digits 2-7)", ErrSecret)
	case len(clean)%8 == 1 || len(clean)%8 == 3 || len(clean)%8 == 6:
		// No whole number of bytes has this length: the decoder drops the last characters,
		// while apps refuse the key. Better to ask than to guess which the person's app did.
		return "", fmt.Errorf("%w: %d characters is not a whole number of bytes in base32", ErrSecret, len(clean))
	case len(raw) < minSecretBytes:
		return "", fmt.Errorf("%w: %d bits, fewer than the %d required", ErrSecret, len(raw)*8, minSecretBytes*8)
	case len(raw) > maxSecretBytes:
		return "", fmt.Errorf("%w: longer than %d bits", ErrSecret, maxSecretBytes*8)
	}
	return secretEncoding.EncodeToString(raw), nil
}

// Imported returns an authenticator the person already uses with another system, ready for
// store.ImportUser: active and the default (they proved it there long ago), labelled label (or
// DefaultLabel), its secret sealed to its own id exactly as Begin seals a new one, so it
// verifies like one. The store fills in the user and tenant.
func Imported(box Sealer, secret, label string) (*store.Factor, error) {
	secret, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	if label = strings.TrimSpace(label); label == "" {
		label = DefaultLabel
	}
	f := &store.Factor{ID: store.NewID(), Kind: policy.TOTP, Label: label, Active: true, IsDefault: true}
	f.SecretSealed = seal(box, f.ID, secret)
	return f, nil
}

// Show rebuilds the enrollment page's content for a pending factor (after a mistyped code the
// person keeps the QR code they already scanned).
func (t *TOTP) Show(f *store.Factor, u *store.User, tenantName string) (*Enrollment, error) {
	secret, err := t.box.Open(f.SecretSealed, []byte(f.ID))
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	v := url.Values{"secret": {string(secret)}, "issuer": {tenantName}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	key, err := otp.NewKeyFromURL((&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + tenantName + ":" + u.Email, RawQuery: v.Encode()}).String())
	if err != nil {
		return nil, err
	}
	return enrollment(f.ID, key)
}

func enrollment(id string, key *otp.Key) (*Enrollment, error) {
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &Enrollment{FactorID: id, URL: key.URL(), Key: Group(key.Secret()), QR: buf.Bytes(),
		QRPNG: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// Confirm activates a pending authenticator when code comes from it. The code is spent: it
// cannot also answer the next challenge.
func (t *TOTP) Confirm(ctx context.Context, f *store.Factor, code string) error {
	if err := t.Verify(ctx, f, code); err != nil {
		return err
	}
	return t.st.ActivateFactor(ctx, f.UserID, f.ID)
}

// Verify accepts a code for the current step or one step either side, once: ErrReplayed for a
// code of a step no later than one already accepted. Spaces and dashes in the input are ignored.
func (t *TOTP) Verify(ctx context.Context, f *store.Factor, code string) error {
	if f.Kind != t.Kind() {
		return fmt.Errorf("totp: factor %s is %q, not an authenticator app", f.ID, f.Kind)
	}
	code = onlyDigits(code)
	if len(code) != digits.Length() {
		return factor.ErrWrong
	}
	secret, err := t.box.Open(f.SecretSealed, []byte(f.ID))
	if err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	now := t.now().Unix() / period
	opts := hotp.ValidateOpts{Digits: digits, Algorithm: otp.AlgorithmSHA1}
	for d := int64(-skew); d <= skew; d++ {
		step := now + d
		// ValidateCustom compares in constant time.
		ok, err := hotp.ValidateCustom(code, uint64(step), string(secret), opts)
		if err != nil || !ok {
			continue
		}
		fresh, err := t.st.AdvanceTOTPStep(ctx, f.ID, step)
		if err != nil {
			return err
		}
		if !fresh {
			return factor.ErrReplayed
		}
		return nil
	}
	return factor.ErrWrong
}

// Group writes a setup key in groups of four for reading aloud or typing.
func Group(key string) string {
	var b strings.Builder
	for i, r := range key {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
