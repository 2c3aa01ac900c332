package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/store"
)

// Options configure the provider.
type Options struct {
	Issuer         string
	LoginURL       string // absolute URL of the login page
	SignedOutURL   string // where logout lands without a post_logout_redirect_uri
	AccessTokenTTL time.Duration
	IDTokenTTL     time.Duration
	RefreshTTL     time.Duration // absolute lifetime of a refresh-token family
	RefreshIdleTTL time.Duration
	CodeTTL        time.Duration
	AuthRequestTTL time.Duration
	CacheTTL       time.Duration
	CryptoKey      [32]byte // encrypts the authorization code the library builds
	UILocales      []language.Tag
	CodeHasher     Hasher
	RefreshHasher  Hasher
	SecretHasher   Hasher
	Audit          func(ctx context.Context, e *store.AuditEvent)
	ErrorPage      func(w http.ResponseWriter, r *http.Request, status int, messageID string) // messageID: an i18n catalog id
	OnLogout       func(w http.ResponseWriter, r *http.Request)                               // clears the browser's SSO session
	BrowserSession func(r *http.Request) string                                               // the id of this browser's SSO session, or ""
	// BrowserAuthRequest, when set, returns the auth request id only when it is bound to this
	// browser's live SSO session (the callback's check in one read instead of two).
	BrowserAuthRequest func(r *http.Request, id string) (*store.AuthRequest, error)
	// Back-channel logout (backchannel.go): the HTTP client that posts logout tokens (nil: one
	// with a 5-second timeout), and how long a request that ended sessions waits for their
	// first delivery attempt before it answers (0: 2 seconds).
	LogoutClient *http.Client
	LogoutWait   time.Duration
}

// Provider is the OpenID Provider: the protocol library over our storage, behind our guards.
type Provider struct {
	opts      Options
	storage   *Storage
	op        *op.Provider
	discovery []byte
	discETag  string
	keys      *keys.Manager
	smartConf []byte // smart.go
	smartETag string
	logouts   logoutSender // backchannel.go
}

// New builds the provider.
func New(st *store.Store, km *keys.Manager, opts Options) (*Provider, error) {
	if opts.Audit == nil {
		opts.Audit = func(context.Context, *store.AuditEvent) {}
	}
	s := &Storage{st: st, keys: km, opts: opts, codes: opts.CodeHasher, refresh: opts.RefreshHasher,
		secrets: opts.SecretHasher, clients: clientCache{ttl: opts.CacheTTL, m: map[string]cachedClient{}}, audit: opts.Audit}
	cfg := &op.Config{
		CryptoKey:                opts.CryptoKey,
		DefaultLogoutRedirectURI: opts.SignedOutURL,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       opts.UILocales,
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeOfflineAccess},
	}
	var opOpts []op.Option
	if u, err := url.Parse(opts.Issuer); err == nil && u.Scheme == "http" {
		opOpts = append(opOpts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(cfg, s, op.StaticIssuer(opts.Issuer), opOpts...)
	if err != nil {
		return nil, err
	}
	pr := &Provider{opts: opts, storage: s, op: p, keys: km}
	if err := pr.buildDiscovery(); err != nil {
		return nil, err
	}
	if err := pr.buildSMARTConfiguration(); err != nil {
		return nil, err
	}
	pr.logouts = newLogoutSender(opts)
	return pr, nil
}

// Storage exposes the storage adapter to the login pages (auth requests, clients).
func (p *Provider) Storage() *Storage { return p.storage }

// Client returns a registered, enabled client.
func (p *Provider) Client(ctx context.Context, id string) (*Client, error) {
	return p.storage.client(ctx, id)
}

// Complete records a finished authentication on an auth request; the browser is then sent to
// CallbackURL to collect the code.
func (p *Provider) Complete(ctx context.Context, ar *AuthRequest, userID, sessionID string, authTime time.Time, amr []string) error {
	p.storage.pending.forget(ar.GetID())
	return p.storage.st.CompleteAuthRequest(ctx, ar.GetID(), userID, sessionID, authTime, amr, authn.ACRFor(amr))
}

// CallbackURL is where the login page sends the browser once the request is complete.
func (p *Provider) CallbackURL(id string) string {
	return p.opts.Issuer + "/authorize/callback?id=" + url.QueryEscape(id)
}

// RedirectError answers an authorization request with an OAuth error at the RP's redirect URI
// (with state and iss), e.g. login_required for prompt=none without a session.
func (p *Provider) RedirectError(w http.ResponseWriter, r *http.Request, ar *AuthRequest, code, description string) {
	redirectError(w, r, p.opts.Issuer, ar.Params.RedirectURI, ar.Params.State, code, description)
}

func (p *Provider) buildDiscovery() error {
	iss := p.opts.Issuer
	d := &oidc.DiscoveryConfiguration{
		Issuer:                                    iss,
		AuthorizationEndpoint:                     iss + "/authorize",
		TokenEndpoint:                             iss + "/oauth/token",
		IntrospectionEndpoint:                     iss + "/oauth/introspect",
		UserinfoEndpoint:                          iss + "/userinfo",
		RevocationEndpoint:                        iss + "/revoke",
		EndSessionEndpoint:                        iss + "/end_session",
		JwksURI:                                   iss + "/keys",
		ScopesSupported:                           append([]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeOfflineAccess}, smartScopes...),
		ResponseTypesSupported:                    []string{string(oidc.ResponseTypeCode)},
		ResponseModesSupported:                    []string{"query"},
		GrantTypesSupported:                       []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, GrantTypeTokenExchange},
		ACRValuesSupported:                        authn.ACRValues,
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          algs(keys.Algorithms),
		TokenEndpointAuthMethodsSupported:         []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone},
		IntrospectionEndpointAuthMethodsSupported: []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost},
		RevocationEndpointAuthMethodsSupported:    []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
			"at_hash", "c_hash", "name", "given_name", "family_name", "locale", "updated_at", "email", "email_verified",
			"phone_number", "phone_number_verified", "fhirUser"},
		CodeChallengeMethodsSupported: []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		UILocalesSupported:            p.opts.UILocales,
		RequestParameterSupported:     false,
		RequestURIParameterSupported:  false,
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	// Fields the library's struct does not have.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	m["authorization_response_iss_parameter_supported"] = true
	m["claims_parameter_supported"] = true   // acr requests are honoured; other requested claims follow the scopes
	m["backchannel_logout_supported"] = true // backchannel.go
	m["backchannel_logout_session_supported"] = true
	if b, err = json.Marshal(m); err != nil {
		return err
	}
	p.discovery = b
	sum := sha256.Sum256(b)
	p.discETag = `"` + hex.EncodeToString(sum[:8]) + `"`
	return nil
}

func algs(a []jose.SignatureAlgorithm) []string {
	out := make([]string, len(a))
	for i, v := range a {
		out[i] = string(v)
	}
	return out
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func parseTag(s string) language.Tag {
	t, err := language.Parse(s)
	if err != nil {
		return language.Und
	}
	return t
}
