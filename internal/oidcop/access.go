package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/store"
)

// Access tokens are JWTs that are not stored. Everything userinfo, introspection and revocation
// need is in the signed claims: the client, the scopes, and for a person's token the SSO session
// (sid) and the grant (grant_id: the authorization request the code came from, whose refresh
// family carries the same id). A token is live while its signature and expiry hold, its client
// is enabled, and none of jti, sid and grant_id is listed in the store's revocations (one indexed
// statement). See README, "Design notes".

// tokenUse marks our access tokens, so an ID token (signed by the same keys) is never taken for
// one.
const tokenUse = "access"

type accessClaims struct {
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  oidc.Audience `json:"aud"`
	Expiry    int64         `json:"exp"`
	IssuedAt  int64         `json:"iat"`
	NotBefore int64         `json:"nbf"`
	JTI       string        `json:"jti"`
	ClientID  string        `json:"client_id"`
	Scope     string        `json:"scope"`
	SID       string        `json:"sid"`
	Grant     string        `json:"grant_id"`
	Use       string        `json:"token_use"`
	// Delegation of a patient-context token (proxy.go).
	Act        *actClaim `json:"act"`
	Patient    string    `json:"patient"`
	ProxyGrant string    `json:"proxy_grant"`
	ProxyExp   int64     `json:"proxy_exp"`
}

// user reports whether the token was issued to a person (code or refresh grant), not to a
// service client for itself.
func (c *accessClaims) user() bool { return c.Grant != "" }

// GetPrivateClaimsFromRequest adds what the access token needs to be checked without a row:
// its scopes, and for a person's token the session and the grant. The library calls it only
// while building an access token (CreateJWT), right before it asks for the signing key.
func (s *Storage) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	claims := map[string]any{"token_use": tokenUse, "scope": strings.Join(req.GetScopes(), " ")}
	switch r := req.(type) {
	case *AuthRequest:
		claims["sid"], claims["grant_id"] = r.Row.SessionID, r.Row.ID
	case *refreshRequest:
		grant := r.row.AuthRequestID
		if grant == "" {
			grant = r.row.FamilyID
		}
		claims["sid"], claims["grant_id"] = r.row.SessionID, grant
	}
	delegationClaims(ctx, req, claims)
	if _, service := req.(*serviceRequest); !service {
		if err := s.smartAccessClaims(ctx, req.GetSubject(), userReadWith(req), req.GetScopes(), claims); err != nil { // smart.go
			return nil, err
		}
	}
	markAccessSigning(ctx) // the library signs the access token next (SigningKey, storage.go)
	return claims, nil
}

var _ op.CanGetPrivateClaimsFromRequest = (*Storage)(nil)

// verifyAccessToken checks an access token's signature against the cached key set, its issuer,
// its expiry and that it is an access token. It does not consult revocations.
func (s *Storage) verifyAccessToken(ctx context.Context, raw string) (*accessClaims, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, errInvalidToken
	}
	if c, kid, alg, ok := s.verified.get(raw); ok {
		// The signature was verified before; the key must still be in the set.
		if _, kalg, err := s.keys.VerificationKey(ctx, kid); err != nil || string(kalg) != alg {
			return nil, errInvalidToken
		}
		return s.checkAccessClaims(&c)
	}
	jws, err := jose.ParseSigned(raw, keys.Algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errInvalidToken
	}
	h := jws.Signatures[0].Header
	pub, alg, err := s.keys.VerificationKey(ctx, h.KeyID)
	if err != nil || string(alg) != h.Algorithm {
		return nil, errInvalidToken
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, errInvalidToken
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errInvalidToken
	}
	checked, err := s.checkAccessClaims(&c)
	if err == nil {
		s.verified.put(raw, &c, h.KeyID, h.Algorithm)
	}
	return checked, err
}

// checkAccessClaims checks what a verified access token says: ours, an access token, live.
func (s *Storage) checkAccessClaims(c *accessClaims) (*accessClaims, error) {
	now := time.Now().Unix()
	if c.Use != tokenUse || c.Issuer != s.opts.Issuer || c.JTI == "" || c.ClientID == "" || c.Expiry <= now ||
		c.NotBefore > now+5 {
		return nil, errInvalidToken
	}
	return c, nil
}

// liveAccessToken is verifyAccessToken plus the client (enabled, from the cache) and the
// revocation list.
func (s *Storage) liveAccessToken(ctx context.Context, raw string) (*accessClaims, *Client, error) {
	c, client, _, err := s.live(ctx, raw, false)
	return c, client, err
}

// liveAccessTokenUser is liveAccessToken that, for a person's own token (no delegation), reads
// the person in the same statement as the revocation list; the person is nil otherwise (and
// when there is no such person), and the caller reads whom it needs.
func (s *Storage) liveAccessTokenUser(ctx context.Context, raw string) (*accessClaims, *Client, *store.User, error) {
	return s.live(ctx, raw, true)
}

func (s *Storage) live(ctx context.Context, raw string, withUser bool) (*accessClaims, *Client, *store.User, error) {
	c, err := s.verifyAccessToken(ctx, raw)
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := s.client(ctx, c.ClientID)
	if err != nil {
		return nil, nil, nil, errInvalidToken
	}
	var (
		u       *store.User
		revoked bool
	)
	if withUser && c.user() && c.ProxyGrant == "" && c.Act == nil {
		u, revoked, err = s.st.UserUnlessRevoked(ctx, c.Subject, c.JTI, c.SID, c.Grant)
	} else {
		revoked, err = s.revoked(ctx, c)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if revoked {
		return nil, nil, nil, errInvalidToken
	}
	return c, client, u, nil
}

// userinfoFor fills info for userID from u when it is that person, else from a read.
func (s *Storage) userinfoFor(ctx context.Context, info *oidc.UserInfo, u *store.User, userID string, scopes []string) error {
	if u != nil && u.ID == userID {
		fillUserinfoFrom(info, u, scopes)
		return nil
	}
	return s.fillUserinfo(ctx, info, userID, scopes)
}

// corsHandler answers browsers as the protocol library does for the endpoints it serves.
var corsHandler = cors.New(cors.Options{
	AllowCredentials: true,
	AllowedHeaders:   []string{"Origin", "Accept", "Accept-Language", "Authorization", "Content-Type", "X-Requested-With"},
	AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost},
	ExposedHeaders:   []string{"Location", "Content-Length"},
	AllowOriginFunc:  func(string) bool { return true },
}).Handler

// serveUserinfo answers OIDC Core §5.3 for a live access token issued to a person, with the
// claims its scopes grant. Failures are RFC 6750 §3 answers: 401 with a WWW-Authenticate
// challenge naming the error when a token was presented.
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	token, presented := bearerToken(r)
	fail := func() {
		challenge := `Bearer realm="tessera"`
		if presented {
			challenge += `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		tokenError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
	}
	if token == "" {
		fail()
		return
	}
	c, _, u, err := p.storage.liveAccessTokenUser(r.Context(), token)
	if err != nil && !errors.Is(err, errInvalidToken) {
		http.Error(w, "the token could not be checked", http.StatusServiceUnavailable)
		return
	}
	if err != nil || !c.user() {
		fail()
		return
	}
	info := new(oidc.UserInfo)
	// For a patient-context token this is the caregiver (act.sub): userinfo describes the person
	// who signed in, whose sub must equal the ID token's (OIDC Core §5.3.2).
	if err := p.storage.userinfoFor(r.Context(), info, u, c.person(), store.SplitList(c.Scope)); err != nil {
		fail()
		return
	}
	writeJSON(w, info)
}

// bearerToken reads the access token from the Authorization header (RFC 6750 §2.1) or the form
// (§2.2); presented reports whether the request carried one at all.
func bearerToken(r *http.Request) (token string, presented bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:]), true
		}
		return "", true
	}
	if err := r.ParseForm(); err == nil {
		if t := r.Form.Get("access_token"); t != "" {
			return t, true
		}
	}
	return "", false
}

// serveIntrospect answers RFC 7662 for our access tokens (guardToken has authenticated the
// caller; introspectRefresh has answered for refresh tokens). Only a client of the token's
// tenant learns anything; everyone else, and every dead token, gets {"active": false}.
func (p *Provider) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	caller, _ := r.Context().Value(clientCtxKey{}).(*Client)
	resp := new(oidc.IntrospectionResponse)
	c, client, u, err := p.storage.liveAccessTokenUser(r.Context(), r.PostForm.Get("token"))
	if err != nil && !errors.Is(err, errInvalidToken) {
		tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be checked")
		return
	}
	if err == nil && caller != nil && caller.row.TenantID == client.row.TenantID {
		scopes := store.SplitList(c.Scope)
		if c.user() && c.Act == nil {
			var info oidc.UserInfo
			if err := p.storage.userinfoFor(r.Context(), &info, u, c.Subject, scopes); err != nil {
				writeJSON(w, resp)
				return
			}
			resp.SetUserInfo(&info)
		}
		resp.Active = true
		resp.Scope = oidc.SpaceDelimitedArray(scopes)
		resp.ClientID = c.ClientID
		resp.Subject = c.Subject
		resp.TokenType = oidc.BearerToken
		resp.Expiration = oidc.Time(c.Expiry)
		resp.IssuedAt = oidc.Time(c.IssuedAt)
		resp.Audience = []string{c.ClientID}
		resp.Issuer = p.opts.Issuer
		resp.JWTID = c.JTI
		describeDelegation(resp, c)
	}
	writeJSON(w, resp)
}

// revokeAccess handles RFC 7009 revocation of our access tokens: the caller (authenticated by
// guardToken) may revoke only its own; the jti is listed until the token would expire anyway.
// Anything else (refresh tokens, unknown strings) goes on to the library.
func (p *Provider) revokeAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PostForm.Get("token")
		if strings.HasPrefix(token, "rt_") {
			next.ServeHTTP(w, r)
			return
		}
		c, err := p.storage.verifyAccessToken(r.Context(), token)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		caller, _ := r.Context().Value(clientCtxKey{}).(*Client)
		if caller != nil && caller.row.ID == c.ClientID {
			if err := p.storage.st.RevokeAccessToken(r.Context(), c.JTI, c.Expiry); err != nil {
				tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be revoked")
				return
			}
		}
		// Another client's token is left alone, and the answer is still 200 (RFC 7009 §2.2).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// AccessToken is what a live access token says, for resource servers inside Tessera (the admin
// API).
type AccessToken struct {
	ClientID, TenantID, Subject string
	Scopes                      []string
	// Person: issued to a person (code or refresh grant), not to a service client for itself.
	Person bool
}

// ErrInvalidToken is a token that is not a live access token of this issuer.
var ErrInvalidToken = errInvalidToken

// VerifyAccessToken checks a bearer token exactly as userinfo and introspection do: signature
// against the cached keys, issuer, expiry, an enabled client and the revocation list.
func (p *Provider) VerifyAccessToken(ctx context.Context, raw string) (*AccessToken, error) {
	c, client, err := p.storage.liveAccessToken(ctx, raw)
	if err != nil {
		return nil, err
	}
	return &AccessToken{ClientID: c.ClientID, TenantID: client.row.TenantID, Subject: c.Subject,
		Scopes: store.SplitList(c.Scope), Person: c.user()}, nil
}
