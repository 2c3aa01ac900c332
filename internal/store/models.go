package store

import (
	"crypto/rand"
	"encoding/base32"
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
	CreatedAt        int64 `gorm:"autoCreateTime:false"`
	UpdatedAt        int64 `gorm:"autoUpdateTime:false"`
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
	CreatedAt     int64  `gorm:"autoCreateTime:false"`
	UpdatedAt     int64  `gorm:"autoUpdateTime:false"`
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
	Disabled               bool
	CreatedAt              int64 `gorm:"autoCreateTime:false"`
	UpdatedAt              int64 `gorm:"autoUpdateTime:false"`
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
