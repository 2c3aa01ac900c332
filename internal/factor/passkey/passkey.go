// Package passkey is the WebAuthn factor: passkeys registered from the account page, used as the
// second factor after a password or alone (passwordless, discoverable credentials). User
// verification is always required, so a passkey proves possession and the person (RFC 8176:
// hwk or swk, plus user). The WebAuthn work itself is go-webauthn's; this package keeps the
// credentials in the store, checks the signature counter, and says what a use is worth.
//
// A ceremony's server-side state (go-webauthn's SessionData) is returned as bytes by the Begin
// methods; the caller keeps it server-side, bound to the browser, and hands it back once.
package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// AMR values (RFC 8176).
const (
	AMRHardware = "hwk"
	AMRSoftware = "swk"
	AMRUser     = "user"
)

// Timeout is how long the browser waits for the person, and how long a ceremony may take.
const Timeout = 5 * time.Minute

// MaxNameLength bounds the name a person gives a passkey.
const MaxNameLength = 60

// Errors a caller tells apart.
var (
	// ErrUnknown: the credential is not (or no longer) registered, or belongs to someone else.
	ErrUnknown = errors.New("passkey: unknown credential")
	// ErrCloned: the signature counter did not increase (a cloned authenticator).
	ErrCloned = errors.New("passkey: signature counter regressed")
	// ErrFailed: the browser's answer did not verify (wrong origin, challenge, signature, no
	// user verification…).
	ErrFailed = errors.New("passkey: the response did not verify")
)

// Passkeys is the factor.
type Passkeys struct {
	st *store.Store
	wa *webauthn.WebAuthn
}

var _ factor.Factor = (*Passkeys)(nil)

// New returns the factor for issuer: the RP ID is the issuer's host name, the only origin the
// issuer's own. WebAuthn refuses IP addresses, so an issuer on one cannot offer passkeys.
func New(st *store.Store, issuer, displayName string) (*Passkeys, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("passkey: issuer %q is not a URL", issuer)
	}
	host := u.Hostname()
	if strings.Trim(host, "0123456789.") == "" || strings.Contains(host, ":") {
		return nil, fmt.Errorf("passkey: the issuer's host %q is an IP address; passkeys need a host name", host)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: host, RPDisplayName: displayName, RPOrigins: []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: Timeout, TimeoutUVD: Timeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: Timeout, TimeoutUVD: Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Passkeys{st: st, wa: wa}, nil
}

// Kind is policy.Passkey.
func (p *Passkeys) Kind() string { return policy.Passkey }

// AMR is what a passkey without attested hardware contributes: swk and user. A passkey with
// attested, device-bound hardware contributes hwk instead of swk (AMRFor).
func (p *Passkeys) AMR() []string { return []string{AMRSoftware, AMRUser} }

// AMRFor is what a use of this passkey contributes: hwk only for a device-bound passkey whose
// attestation verified at registration (HardwareAttested; the stored flag alone is not trusted,
// so a row written under an older, looser rule never claims more than its attestation shows).
func AMRFor(pk *store.Passkey) []string {
	if pk.Hardware && HardwareAttested(pk) {
		return []string{AMRHardware, AMRUser}
	}
	return []string{AMRSoftware, AMRUser}
}

// PhishingResistant is true: the browser binds the answer to the origin.
func (p *Passkeys) PhishingResistant() bool { return true }

// BeginChallenge sends nothing: the page asks the browser (BeginLogin holds the challenge).
func (p *Passkeys) BeginChallenge(context.Context, factor.ChallengeRequest) (*factor.Challenge, error) {
	return &factor.Challenge{Kind: p.Kind()}, nil
}

// Verify cannot check a passkey on its own: an assertion is only meaningful against the
// challenge of its ceremony, which FinishLogin takes. It always fails.
func (p *Passkeys) Verify(context.Context, *store.Factor, string) error {
	return errors.New("passkey: verify with BeginLogin and FinishLogin (the ceremony holds the challenge)")
}

// user adapts a person and their passkeys to go-webauthn. The user handle is the person's
// opaque id (the same as sub: random, no personal data).
type user struct {
	u     *store.User
	creds []webauthn.Credential
}

func (w *user) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *user) WebAuthnName() string                       { return w.u.Email }
func (w *user) WebAuthnDisplayName() string                { return displayName(w.u) }
func (w *user) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func displayName(u *store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

func credentialOf(pk *store.Passkey) (webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(pk.CredentialID)
	if err != nil {
		return webauthn.Credential{}, err
	}
	var transports []protocol.AuthenticatorTransport
	for _, t := range strings.Fields(pk.Transports) {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent | protocol.FlagUserVerified
	if pk.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if pk.BackupState {
		flags |= protocol.FlagBackupState
	}
	return webauthn.Credential{ID: id, PublicKey: pk.PublicKey, AttestationType: pk.AttestationType, Transport: transports,
		Flags: webauthn.NewCredentialFlags(flags), Authenticator: webauthn.Authenticator{SignCount: uint32(pk.SignCount)}}, nil
}

func (p *Passkeys) load(ctx context.Context, u *store.User) (*user, []store.Passkey, error) {
	pks, err := p.st.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	w := &user{u: u}
	for i := range pks {
		c, err := credentialOf(&pks[i])
		if err != nil {
			return nil, nil, err
		}
		w.creds = append(w.creds, c)
	}
	return w, pks, nil
}

// BeginRegistration starts registering a new passkey for u: the options for
// navigator.credentials.create (JSON) and the ceremony's state. The person's passkeys are
// excluded, so the same authenticator is not registered twice. When want requires attestation
// the browser is asked for it ("direct"); otherwise for none.
func (p *Passkeys) BeginRegistration(ctx context.Context, u *store.User, want Attestation) (options, state []byte, err error) {
	w, _, err := p.load(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts := []webauthn.RegistrationOption{webauthn.WithExclusions(exclude)}
	if want.Required {
		opts = append(opts, webauthn.WithConveyancePreference(protocol.PreferDirectAttestation))
	}
	creation, sd, err := p.wa.BeginRegistration(w, opts...)
	if err != nil {
		return nil, nil, err
	}
	return marshal(creation, sd)
}

// FinishRegistration checks the browser's answer to a registration begun for u, refuses it when
// it does not meet want (ErrNotAttested, ErrModel; the refused passkey is returned for the
// audit), and stores the passkey with its name, AAGUID and attestation type (and its factor row).
func (p *Passkeys) FinishRegistration(ctx context.Context, u *store.User, state []byte, response, name string, want Attestation) (*store.Passkey, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(state, &sd); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(response))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	w, _, err := p.load(ctx, u)
	if err != nil {
		return nil, err
	}
	c, err := p.wa.CreateCredential(w, sd, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	if !c.Flags.UserVerified {
		return nil, fmt.Errorf("%w: no user verification", ErrFailed)
	}
	var transports []string
	for _, t := range c.Transport {
		transports = append(transports, string(t))
	}
	attType := c.AttestationType
	if c.AttestationFormat == "" || c.AttestationFormat == string(protocol.AttestationFormatNone) {
		attType = "none"
	}
	pk := &store.Passkey{UserID: u.ID, TenantID: u.TenantID, CredentialID: base64.RawURLEncoding.EncodeToString(c.ID),
		PublicKey: c.PublicKey, SignCount: int64(c.Authenticator.SignCount), AAGUID: aaguid(c.Authenticator.AAGUID),
		Transports: strings.Join(transports, " "), AttestationType: attType,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, Name: name}
	pk.Hardware = HardwareAttested(pk)
	if err := CheckAttestation(want, pk); err != nil {
		return pk, err
	}
	if err := p.st.CreatePasskey(ctx, pk); err != nil {
		return nil, err
	}
	return pk, nil
}

// BeginLogin starts an assertion: for u's passkeys when u is set (the second factor), or for any
// discoverable credential when it is nil (passwordless). User verification is required.
func (p *Passkeys) BeginLogin(ctx context.Context, u *store.User) (options, state []byte, err error) {
	if u == nil {
		a, sd, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return nil, nil, err
		}
		return marshal(a, sd)
	}
	w, _, err := p.load(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	if len(w.creds) == 0 {
		return nil, nil, ErrUnknown
	}
	a, sd, err := p.wa.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, err
	}
	return marshal(a, sd)
}

// Use is a verified assertion.
type Use struct {
	UserID  string
	Passkey *store.Passkey
	AMR     []string
	// CounterFrom and CounterTo are the stored and the presented signature counters (for the
	// audit of a suspected clone).
	CounterFrom, CounterTo int64
}

// FinishLogin checks the browser's answer to BeginLogin. For the second factor, userID names
// who must own the passkey; for passwordless it is "" and the answer's user handle and
// credential id say who it is. A counter that does not increase is ErrCloned (the Use still
// says which passkey and person, for the audit); an unknown or removed passkey is ErrUnknown.
func (p *Passkeys) FinishLogin(ctx context.Context, state []byte, response, userID string) (*Use, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(state, &sd); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	pk, err := p.st.PasskeyByCredential(ctx, base64.RawURLEncoding.EncodeToString(parsed.RawID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	if userID != "" && pk.UserID != userID {
		return nil, ErrUnknown
	}
	if len(parsed.Response.UserHandle) > 0 && !bytes.Equal(parsed.Response.UserHandle, []byte(pk.UserID)) {
		return nil, ErrUnknown
	}
	u, err := p.st.UserByID(ctx, pk.UserID)
	if err != nil {
		return nil, err
	}
	w, _, err := p.load(ctx, u)
	if err != nil {
		return nil, err
	}
	var c *webauthn.Credential
	if userID != "" {
		c, err = p.wa.ValidateLogin(w, sd, parsed)
	} else {
		c, err = p.wa.ValidateDiscoverableLogin(func(_, _ []byte) (webauthn.User, error) { return w, nil }, sd, parsed)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return nil, fmt.Errorf("%w: no user verification", ErrFailed)
	}
	use := &Use{UserID: pk.UserID, Passkey: pk, AMR: AMRFor(pk), CounterFrom: pk.SignCount, CounterTo: int64(parsed.Response.AuthenticatorData.Counter)}
	if c.Authenticator.CloneWarning {
		return use, ErrCloned
	}
	if err := p.st.UsePasskey(ctx, pk, use.CounterFrom, use.CounterTo, c.Flags.BackupState); err != nil {
		if errors.Is(err, store.ErrCounterRegressed) {
			return use, ErrCloned
		}
		return nil, err
	}
	return use, nil
}

func marshal(options any, sd *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(sd)
	if err != nil {
		return nil, nil, err
	}
	return o, s, nil
}

func aaguid(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	h := fmt.Sprintf("%x", b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
