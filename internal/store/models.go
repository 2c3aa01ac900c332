package store

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
)

// Roles a user may hold.
const (
	RolePatient  = "patient"
	RoleProvider = "provider"
	RoleStaff    = "staff"
	RoleAdmin    = "admin"
)

// Roles lists the valid roles, for validation and help texts.
var Roles = []string{RolePatient, RoleProvider, RoleStaff, RoleAdmin}

// Client types.
const (
	ClientWeb     = "web"     // confidential: a server-side app with a secret
	ClientPublic  = "public"  // a browser or native app without a secret; PKCE required
	ClientService = "service" // machine to machine: client_credentials only
)

// MFA modes of a tenant.
const (
	MFAOff      = "off"
	MFAOptional = "optional"
	MFARequired = "required"
)

// Tenant is an "account" in the seeds' words: one organisation with its practices, users and
// applications, and one MFA policy for all of them.
type Tenant struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	NameLower   string
	MFAMode     string `gorm:"column:mfa_mode"`
	EnforceFrom *int64
	// PhoneRegion (ISO 3166, "US") reads numbers typed without a country code.
	PhoneRegion string
	// SelfRegistration lets people create their own accounts at /register.
	SelfRegistration bool
	// RememberDeviceDays is how long "Don't ask for a code on this device" lasts; 0 turns the
	// checkbox off. Nil on a new struct means the default (7); read it with RememberDays.
	RememberDeviceDays *int `gorm:"column:remember_device_days"`
	// RememberDeviceNetwork ties a remembered device to the address it was remembered from:
	// NetworkExact, NetworkPrefix (IPv4 /24, IPv6 /56) or NetworkOff; "" means exact.
	RememberDeviceNetwork string `gorm:"column:remember_device_network"`
	// RememberDeviceMFA: whether a sign-in on a remembered device counts as multi-factor (amr
	// "rmd"). Nil on a new struct means the default (true); read it with RememberedDeviceIsMFA.
	RememberDeviceMFA *bool `gorm:"column:remember_device_mfa"`
	// PatientsMayDisableMFA lets patients turn MFA off with their password while the tenant's
	// MFA is optional.
	PatientsMayDisableMFA bool `gorm:"column:patients_may_disable_mfa"`
	// PasskeyMFADays is how long passkey-only sign-ins count as multi-factor after the last other
	// second factor. Nil on a new struct means the default (90); read it with PasskeyWindowDays.
	PasskeyMFADays *int `gorm:"column:passkey_mfa_days"`
	// HelpContact is where a person who is stuck gets help, in the practice's own words (plain
	// text, at most MaxHelpContact characters): shown on the locked page, under "Can't access
	// your code?" and on the dead ends of registration and password reset. "" shows the
	// generic "contact your practice".
	HelpContact string `gorm:"column:help_contact"`
	// ProviderPasskeyAttestation is AttestationRequired or AttestationNone ("" means none): with
	// required, a provider's or administrator's new passkey must carry a verified attestation
	// statement (not none, not self attestation); read it with PasskeyAttestation.
	ProviderPasskeyAttestation string `gorm:"column:provider_passkey_attestation"`
	// ProviderPasskeyAAGUIDs are the authenticator models (AAGUIDs, lower-case UUIDs separated by
	// spaces) allowed for those passkeys when attestation is required; "" allows any model whose
	// attestation verifies.
	ProviderPasskeyAAGUIDs string `gorm:"column:provider_passkey_aaguids"`
	// SMSCodeMinutes and EmailCodeMinutes are the tenant's one-time-code lifetimes (SMS and
	// voice share the first); nil keeps the server's setting. Read them with CodeLifetime.
	SMSCodeMinutes   *int `gorm:"column:sms_code_minutes"`
	EmailCodeMinutes *int `gorm:"column:email_code_minutes"`
	// PatientFactors are the second factors patients may choose (space-separated kinds of
	// PatientFactorChoices); "" allows every one. Providers and administrators are fixed.
	PatientFactors string `gorm:"column:patient_factors"`
	CreatedAt      int64  `gorm:"autoCreateTime:false"`
	UpdatedAt      int64  `gorm:"autoUpdateTime:false"`
}

// Passkey attestation policies of a tenant (ProviderPasskeyAttestation).
const (
	AttestationNone     = "none"
	AttestationRequired = "required"
)

// PasskeyAttestation is what a tenant demands of a new passkey of a person with role: whether a
// verified attestation is required and, if so, the authenticator models (AAGUIDs) allowed (nil:
// any). Only providers and administrators are asked; everyone else registers without attestation.
func (t *Tenant) PasskeyAttestation(role string) (required bool, aaguids []string) {
	if (role != RoleProvider && role != RoleAdmin) || t.ProviderPasskeyAttestation != AttestationRequired {
		return false, nil
	}
	return true, strings.Fields(t.ProviderPasskeyAAGUIDs)
}

// NormalizeAAGUID reads an AAGUID written as a UUID (with or without hyphens, any case) and
// returns it in the canonical lower-case 8-4-4-4-12 form, or an error.
func NormalizeAAGUID(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if len(h) != 32 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("store: %q is not an AAGUID (a UUID such as cb69481e-8ff7-4039-93ec-0a2729a154a8)", s)
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// MaxHelpContact bounds a tenant's help contact (in characters): a sentence, not a page.
const MaxHelpContact = 200

// Remember-device network granularities (internal/authn.Network).
const (
	NetworkExact  = "exact"
	NetworkPrefix = "prefix"
	NetworkOff    = "off"
)

// NetworkModes lists the valid remember-device network granularities.
var NetworkModes = []string{NetworkExact, NetworkPrefix, NetworkOff}

// Tenant policy defaults (the seeds'), as the migration sets them for existing tenants.
const (
	DefaultRememberDeviceDays = 7
	DefaultRememberDeviceMFA  = true
	DefaultPasskeyMFADays     = 90
)

// PasskeyWindowDays is how many days passkey-only sign-ins count as multi-factor after the last
// other second factor.
func (t *Tenant) PasskeyWindowDays() int {
	if t.PasskeyMFADays == nil {
		return DefaultPasskeyMFADays
	}
	return *t.PasskeyMFADays
}

// RememberDays is how many days a device may be remembered (0: not at all).
func (t *Tenant) RememberDays() int {
	if t.RememberDeviceDays == nil {
		return DefaultRememberDeviceDays
	}
	return *t.RememberDeviceDays
}

// RememberNetwork is the remember-device network granularity.
func (t *Tenant) RememberNetwork() string {
	if t.RememberDeviceNetwork == "" {
		return NetworkExact
	}
	return t.RememberDeviceNetwork
}

// RememberedDeviceIsMFA reports whether a remembered device counts as a second factor.
func (t *Tenant) RememberedDeviceIsMFA() bool {
	if t.RememberDeviceMFA == nil {
		return DefaultRememberDeviceMFA
	}
	return *t.RememberDeviceMFA
}

// Practice is one clinic inside a tenant.
type Practice struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	Name      string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
}

// User is a person who signs in: a patient, a provider, practice staff or an administrator.
type User struct {
	ID            string `gorm:"primaryKey"`
	TenantID      string
	PracticeID    *string
	Email         string
	EmailLower    string
	EmailVerified bool
	Name          string
	GivenName     string
	FamilyName    string
	Phone         string
	PhoneVerified bool
	PhoneLineType string // internal/phone.LineType the number was judged by; "" when unknown
	Role          string
	PasswordHash  string
	Locale        string
	Disabled      bool
	MFAFailures   int    `gorm:"column:mfa_failures"`
	LockedAt      *int64 // set by the seventh wrong code; only an administrator clears it
	// LastOtherMFAAt is when the person last passed a second factor other than a passkey.
	LastOtherMFAAt *int64 `gorm:"column:last_other_mfa_at"`
	// FHIRUser is the person's FHIR resource (Practitioner/123, Patient/456, RelatedPerson/7 or
	// an absolute URL of one), the SMART fhirUser claim; "" when not set.
	FHIRUser  string `gorm:"column:fhir_user"`
	CreatedAt int64  `gorm:"autoCreateTime:false"`
	UpdatedAt int64  `gorm:"autoUpdateTime:false"`
}

// Client is a relying party registered with a tenant.
type Client struct {
	ID                     string `gorm:"primaryKey"`
	TenantID               string
	Name                   string
	Type                   string
	SecretHash             string
	RedirectURIs           StringList `gorm:"column:redirect_uris"`
	PostLogoutRedirectURIs StringList `gorm:"column:post_logout_redirect_uris"`
	IDTokenAlg             string     `gorm:"column:id_token_alg"`
	FirstParty             bool
	MinACR                 string `gorm:"column:min_acr"`
	// AllowedScopes lists the scopes the client may be granted (space separated; SMART
	// resource scopes cover narrower ones). "" allows the standard OpenID scopes only.
	AllowedScopes string `gorm:"column:allowed_scopes"`
	// BackchannelLogoutURI receives OpenID Connect Back-Channel Logout tokens; "" for none.
	BackchannelLogoutURI             string `gorm:"column:backchannel_logout_uri"`
	BackchannelLogoutSessionRequired bool   `gorm:"column:backchannel_logout_session_required"`
	// Scopes are the admin API scopes (admin:read, admin:write) an administrator granted this
	// service client; only they are ever issued those.
	Scopes    StringList `gorm:"column:scopes"`
	Disabled  bool
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	UpdatedAt int64 `gorm:"autoUpdateTime:false"`

	// Proxy marks a client that may receive patient-context (caregiver) tokens.
	Proxy bool
}

// SigningKey is one token-signing key pair; the private half is sealed with the server's secret
// key before it reaches this struct.
type SigningKey struct {
	ID            string `gorm:"primaryKey"`
	Alg           string
	PrivateSealed []byte
	PublicJWK     string `gorm:"column:public_jwk"`
	CreatedAt     int64  `gorm:"autoCreateTime:false"`
	ActiveFrom    int64
	RetiredAt     *int64
}

// AuthRequest is an authorization request between /authorize and the token endpoint.
type AuthRequest struct {
	ID            string `gorm:"primaryKey"`
	ClientID      string
	TenantID      string
	Params        string // JSON of the protocol parameters, owned by the oidcop package
	UserID        string
	SessionID     string
	AuthTime      int64
	AMR           string `gorm:"column:amr"`
	ACR           string `gorm:"column:acr"`
	Done          bool
	CodeHash      *string
	CodeExpiresAt *int64
	CodeUsedAt    *int64
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	ExpiresAt     int64

	// ProxyGrantID is the caregiver grant the person chose to act under ("" for themselves).
	ProxyGrantID string
}

// Session is a browser's single sign-on session. The cookie holds a random value whose keyed
// hash is CookieHash; ID is a separate random id safe to put in tokens (the sid claim).
type Session struct {
	ID         string `gorm:"primaryKey"`
	CookieHash string
	UserID     string
	TenantID   string
	AuthTime   int64
	AMR        string `gorm:"column:amr"`
	ACR        string `gorm:"column:acr"`
	IP         string `gorm:"column:ip"`
	UserAgent  string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	LastSeenAt int64
	ExpiresAt  int64
	RevokedAt  *int64
	MFAAt      *int64 `gorm:"column:mfa_at"` // the last second factor passed in this session
}

// TokenRevocation lists one revoked id: an access token's jti, an SSO session, or a grant (the
// authorization request a code came from, or a refresh family). Access tokens are JWTs that are
// not stored; one is live while its signature and expiry hold and none of its ids is listed.
type TokenRevocation struct {
	ID        string `gorm:"primaryKey"`
	Kind      string
	RevokedAt int64
	ExpiresAt int64
}

// Kinds of TokenRevocation.
const (
	RevokedToken   = "token"
	RevokedSession = "session"
	RevokedGrant   = "grant"
	RevokedProxy   = "proxy" // a caregiver grant (proxy_grants.id)
)

// RefreshToken is one link of a rotation chain (a family). Presenting a link that was already
// rotated revokes the whole family.
type RefreshToken struct {
	ID              string `gorm:"primaryKey"`
	TokenHash       string
	FamilyID        string
	ClientID        string
	TenantID        string
	UserID          string
	Scopes          string
	Audience        string
	AuthTime        int64
	AMR             string `gorm:"column:amr"`
	ACR             string `gorm:"column:acr"`
	SessionID       string
	AuthRequestID   string
	CreatedAt       int64 `gorm:"autoCreateTime:false"`
	ExpiresAt       int64
	FamilyExpiresAt int64
	RotatedAt       *int64
	RevokedAt       *int64
	ProxyGrantID    string // the caregiver grant of a patient-context family ("" for none)
}

// AuditEvent is one security-relevant event.
type AuditEvent struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	At        int64
	TenantID  string
	Event     string
	Result    string
	ActorID   string
	SubjectID string
	ClientID  string
	IP        string `gorm:"column:ip"`
	UserAgent string
	RequestID string
	Detail    string
	Seq       int64  // position in the tenant's chain, from 1, without gaps
	PrevHash  string // the previous link's Hash ("" for the first)
	Hash      string // keyed hash over PrevHash and this row
}

// NewID returns a fresh opaque identifier: 128 random bits, lower-case base32 without padding.
// Subject identifiers are these ids, never an email address.
func NewID() string { return randomID() }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Space-separated lists (scopes, amr) are stored as one text column.
func joinList(v []string) string { return strings.Join(v, " ") }

// SplitList is the inverse of the store's list encoding.
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// SplitName makes a best guess at given and family names for the profile claims (the last word
// is the family name); the full name is kept as typed in User.Name.
func SplitName(full string) (given, family string) {
	parts := strings.Fields(full)
	switch len(parts) {
	case 0:
		return "", ""
	case 1:
		return parts[0], ""
	}
	return strings.Join(parts[:len(parts)-1], " "), parts[len(parts)-1]
}
