package oidcop

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/store"
)

// Client is a registered relying party as the protocol library sees it.
type Client struct {
	row      *store.Client
	loginURL string
	idTTL    time.Duration
}

var _ op.Client = (*Client)(nil)

// Row exposes the stored client (name, tenant) to the login pages.
func (c *Client) Row() *store.Client { return c.row }

func (c *Client) GetID() string                    { return c.row.ID }
func (c *Client) RedirectURIs() []string           { return c.row.RedirectURIs }
func (c *Client) PostLogoutRedirectURIs() []string { return c.row.PostLogoutRedirectURIs }
func (c *Client) LoginURL(id string) string {
	return c.loginURL + "?authRequestID=" + url.QueryEscape(id)
}
func (c *Client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeJWT
}
func (c *Client) IDTokenLifetime() time.Duration { return c.idTTL }
func (c *Client) DevMode() bool                  { return false }
func (c *Client) ClockSkew() time.Duration       { return 0 }

// IDTokenUserinfoClaimsAssertion puts the scope's claims in the ID token too, so an RP that
// never calls userinfo still sees the person's name and email.
func (c *Client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *Client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *Client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits, besides the standard OIDC scopes the library always admits, the
// scopes on the client's allowed list and the SMART resource scopes they cover (smart.go). A
// proxy-capable client without a list may ask for any resource scope: the caregiver grant
// narrows its patient-context tokens (proxy.go).
func (c *Client) IsScopeAllowed(scope string) bool {
	if c.row.AllowedScopes == "" && c.row.Proxy {
		return proxy.IsResourceScope(scope)
	}
	return c.allowedScope(scope)
}

// ApplicationType maps public clients to the library's "native" type: it accepts their https
// and loopback redirects, with the loopback port free (RFC 8252 §7.3), as browser and mobile apps
// need. Confidential and service clients are "web".
func (c *Client) ApplicationType() op.ApplicationType {
	if c.row.Type == store.ClientPublic {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

// redirectAllowed reports whether uri may receive this client's responses: an exact match of a
// registered URI or, for a public client, a registered loopback URI on another port.
func (c *Client) redirectAllowed(uri string) bool {
	if slices.Contains(c.row.RedirectURIs, uri) {
		return true
	}
	if c.row.Type != store.ClientPublic {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !IsLoopbackHost(u.Hostname()) {
		return false
	}
	for _, r := range c.row.RedirectURIs {
		ru, err := url.Parse(r)
		if err == nil && ru.Scheme == "http" && ru.Hostname() == u.Hostname() && ru.Path == u.Path && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

func (c *Client) AuthMethod() oidc.AuthMethod {
	if c.row.Type == store.ClientPublic {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *Client) ResponseTypes() []oidc.ResponseType {
	if c.row.Type == store.ClientService {
		return nil
	}
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *Client) GrantTypes() []oidc.GrantType {
	switch c.row.Type {
	case store.ClientService:
		return []oidc.GrantType{oidc.GrantTypeClientCredentials}
	default:
		return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	}
}

// clientCache keeps clients in memory for a short TTL: every token request needs its client,
// and a revoked client must stop working within that TTL.
type clientCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[string]cachedClient
}

type cachedClient struct {
	row    *store.Client
	loaded time.Time
}

func (cc *clientCache) get(ctx context.Context, st *store.Store, id string) (*store.Client, error) {
	if cc.ttl > 0 {
		cc.mu.RLock()
		e, ok := cc.m[id]
		cc.mu.RUnlock()
		if ok && time.Since(e.loaded) < cc.ttl {
			return e.row, nil
		}
	}
	row, err := st.ClientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if cc.ttl > 0 {
		cc.mu.Lock()
		if len(cc.m) > 10000 {
			cc.m = map[string]cachedClient{} // bound memory against floods of distinct ids
		}
		cc.m[id] = cachedClient{row: row, loaded: time.Now()}
		cc.mu.Unlock()
	}
	return row, nil
}
