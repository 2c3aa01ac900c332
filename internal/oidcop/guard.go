package oidcop

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/store"
)

// The protocol library leaves several spec rules to its user. The guards below apply them before
// a request reaches the library, so every route behaves as RFC 6749, 6750, 7009, 7636 and 7662
// and OIDC Core require, whatever the library's defaults.

type clientCtxKey struct{}

// claimsACRKey carries the acr request of the `claims` parameter from the guard to
// CreateAuthRequest (the library does not parse `claims`).
type claimsACRKey struct{}

type claimsACR struct {
	values    []string
	essential bool
}

// Handler returns the protocol endpoints. Discovery and JWKS are served from precomputed bytes
// with ETags; the rest goes through the guards to the library.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /keys", p.serveJWKS)
	mux.HandleFunc("GET /.well-known/smart-configuration", p.serveSMARTConfiguration)
	mux.Handle("/authorize", p.guardAuthorize(p.op))
	mux.Handle("/authorize/callback", p.guardCallback(p.op))
	mux.Handle("/oauth/token", p.guardToken(p.tokenContext(p.proxyToken(p.op))))
	mux.Handle("/oauth/introspect", corsHandler(p.guardTokenParam(p.guardToken(p.introspectRefresh(http.HandlerFunc(p.serveIntrospect))))))
	mux.Handle("/revoke", p.guardTokenParam(p.guardToken(p.revokeAccess(p.op))))
	mux.Handle("/userinfo", corsHandler(http.HandlerFunc(p.serveUserinfo)))
	mux.Handle("/end_session", p.guardEndSession(p.op))
	return mux
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	serveCached(w, r, p.discovery, p.discETag, "public, max-age=3600")
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag, err := p.keys.JWKS(r.Context())
	if err != nil {
		http.Error(w, "key set unavailable", http.StatusServiceUnavailable)
		return
	}
	serveCached(w, r, body, etag, "public, max-age=60")
}

func serveCached(w http.ResponseWriter, r *http.Request, body []byte, etag, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}

// guardAuthorize refuses, before anything is stored: an unknown client or an unregistered
// redirect_uri (an error page, never a redirect); then, with the redirect now known to be safe,
// duplicated parameters (RFC 6749 §3.1), a response_type other than code, the `plain` PKCE
// method (OAuth 2.1, SMART) and a public client without PKCE (RFC 7636 §4.4.1).
func (p *Provider) guardAuthorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			p.opts.ErrorPage(w, r, http.StatusBadRequest, "error.bad_request")
			return
		}
		f := r.Form
		c, err := p.storage.client(r.Context(), f.Get("client_id"))
		if err != nil || len(f["client_id"]) != 1 {
			p.opts.ErrorPage(w, r, http.StatusBadRequest, "error.unknown_client")
			return
		}
		redirect := f.Get("redirect_uri")
		if len(f["redirect_uri"]) != 1 || !c.redirectAllowed(redirect) {
			p.opts.ErrorPage(w, r, http.StatusBadRequest, "error.bad_redirect")
			return
		}
		state := f.Get("state")
		fail := func(code, desc string) { redirectError(w, r, p.opts.Issuer, redirect, state, code, desc) }
		for k, v := range f {
			if len(v) > 1 {
				fail("invalid_request", "parameter "+k+" is repeated")
				return
			}
		}
		if rt := f.Get("response_type"); rt != string(oidc.ResponseTypeCode) {
			if rt == "" {
				fail("invalid_request", "response_type is required")
			} else {
				fail("unsupported_response_type", "only response_type=code is supported")
			}
			return
		}
		challenge, method := f.Get("code_challenge"), f.Get("code_challenge_method")
		switch {
		case challenge != "" && method != string(oidc.CodeChallengeMethodS256):
			fail("invalid_request", "code_challenge_method must be S256")
			return
		case challenge == "" && method != "":
			fail("invalid_request", "code_challenge_method without code_challenge")
			return
		case challenge == "" && c.row.Type == store.ClientPublic:
			fail("invalid_request", "PKCE (code_challenge with S256) is required for this client")
			return
		}
		if rm := f.Get("response_mode"); rm != "" && rm != "query" {
			fail("invalid_request", "only response_mode=query is supported")
			return
		}
		values, essential, err := authn.ParseClaimsACR(f.Get("claims"))
		if err != nil {
			fail("invalid_request", err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsACRKey{}, claimsACR{values, essential})))
	})
}

// guardCallback releases the code only to the browser that signed in: the auth request must be
// complete and bound to this browser's SSO session. Otherwise whoever started the request (and
// knows its id) could collect the code of someone they tricked into signing in. It also adds
// iss to the response (RFC 9207) so the RP can tell which issuer answered.
func (p *Provider) guardCallback(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ar, ok := p.callbackRequest(r)
		if !ok {
			p.opts.ErrorPage(w, r, http.StatusBadRequest, "error.callback")
			return
		}
		rec := &recorder{header: http.Header{}}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), loadedAuthRequestKey{}, ar)))
		if loc := rec.header.Get("Location"); loc != "" && strings.HasPrefix(loc, ar.Params.RedirectURI) {
			if u, err := url.Parse(loc); err == nil {
				q := u.Query()
				q.Set("iss", p.opts.Issuer)
				u.RawQuery = q.Encode()
				rec.header.Set("Location", u.String())
			}
		}
		rec.flush(w)
	})
}

// callbackRequest returns the callback's auth request when it is complete and bound to this
// browser's SSO session.
func (p *Provider) callbackRequest(r *http.Request) (*AuthRequest, bool) {
	id := r.URL.Query().Get("id")
	if p.opts.BrowserAuthRequest != nil {
		row, err := p.opts.BrowserAuthRequest(r, id)
		if err != nil || row.SessionID == "" {
			return nil, false
		}
		ar, err := loadAuthRequest(row)
		return ar, err == nil && ar.Done()
	}
	ar, err := p.storage.AuthRequest(r.Context(), id)
	if err != nil || !ar.Done() || p.opts.BrowserSession == nil || p.opts.BrowserSession(r) != ar.Row.SessionID {
		return nil, false
	}
	return ar, true
}

// redirectError sends an authorization error to the RP (RFC 6749 §4.1.2.1), with iss (RFC 9207).
func redirectError(w http.ResponseWriter, r *http.Request, issuer, redirect, state, code, desc string) {
	u, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := u.Query()
	q.Set("error", code)
	if desc != "" {
		q.Set("error_description", desc)
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// guardToken authenticates the client before the grant is judged: a wrong secret is
// 401 invalid_client even when the code is also bad (RFC 6749 §5.2). It refuses bodies that are
// not form-encoded and repeated parameters, and puts the client in the context so ID tokens are
// signed with the algorithm it registered (access tokens are ES256: SigningKey, storage.go).
func (p *Provider) guardToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
			tokenError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "the body could not be parsed")
			return
		}
		for k, v := range r.PostForm {
			if len(v) > 1 {
				tokenError(w, http.StatusBadRequest, "invalid_request", "parameter "+k+" is repeated")
				return
			}
		}
		id, secret, basic := r.BasicAuth()
		if basic {
			// RFC 6749 §2.3.1: the credentials are form-urlencoded before Basic encoding.
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
			if r.PostForm.Get("client_secret") != "" {
				tokenError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method")
				return
			}
			if f := r.PostForm.Get("client_id"); f != "" && f != id {
				tokenError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the credentials")
				return
			}
		} else {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		unauthorized := func() {
			if basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="tessera"`)
			}
			tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		}
		if id == "" {
			unauthorized()
			return
		}
		c, err := p.storage.client(r.Context(), id)
		if err != nil {
			unauthorized()
			return
		}
		if c.row.Type == store.ClientPublic {
			if secret != "" {
				unauthorized()
				return
			}
		} else if p.storage.checkSecret(c, secret) != nil {
			p.opts.Audit(r.Context(), &store.AuditEvent{TenantID: c.row.TenantID, Event: "client.auth_failed",
				Result: "refused", ClientID: c.row.ID})
			unauthorized()
			return
		}
		if basic {
			// The library reads client_id from the form; give it the authenticated one.
			r.PostForm.Set("client_id", id)
			r.Form.Set("client_id", id)
		}
		// Token responses carry credentials: never cached (RFC 6749 §5.1).
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next.ServeHTTP(w, r.WithContext(withAccessSigning(context.WithValue(r.Context(), clientCtxKey{}, c))))
	})
}

// guardTokenParam answers 400 invalid_request when introspection or revocation has no token
// (RFC 7662 §2.1, RFC 7009 §2.1).
func (p *Provider) guardTokenParam(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err == nil && r.PostForm.Get("token") == "" {
				tokenError(w, http.StatusBadRequest, "invalid_request", "token is required")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// introspectRefresh answers introspection of our refresh tokens (the library knows only access
// tokens): active while the link is current, unrevoked and unexpired, and only to a client of
// the same tenant. Reading it has no side effect, so introspection never trips reuse detection.
func (p *Provider) introspectRefresh(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PostForm.Get("token")
		if !strings.HasPrefix(token, "rt_") {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		caller, _ := r.Context().Value(clientCtxKey{}).(*Client)
		rt, err := p.storage.st.PeekRefreshToken(r.Context(), p.storage.refresh.Sum(token))
		now := time.Now().Unix()
		if err != nil || caller == nil || caller.row.TenantID != rt.TenantID || rt.RevokedAt != nil || rt.RotatedAt != nil ||
			rt.ExpiresAt <= now || rt.FamilyExpiresAt <= now {
			json.NewEncoder(w).Encode(map[string]any{"active": false})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"active": true, "client_id": rt.ClientID, "sub": rt.UserID,
			"scope": rt.Scopes, "exp": rt.ExpiresAt, "iat": rt.CreatedAt, "iss": p.opts.Issuer, "token_type": "refresh_token"})
	})
}

// guardEndSession lets the library validate the logout request (id_token_hint, registered
// post_logout_redirect_uri) and, when it succeeds, also ends the browser's own SSO session and
// tells the relying parties of the ended sessions (back-channel logout, backchannel.go).
func (p *Provider) guardEndSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ended := &endedSessions{}
		r = r.WithContext(context.WithValue(r.Context(), endedSessionsKey{}, ended))
		rec := &recorder{header: http.Header{}}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusFound && p.opts.OnLogout != nil {
			if p.opts.BrowserSession != nil {
				ended.add(p.opts.BrowserSession(r))
			}
			p.opts.OnLogout(w, r)
		}
		if err := p.SessionsEnded(r.Context(), ended.ids); err != nil {
			slog.ErrorContext(r.Context(), "logout: queue back-channel logout", "err", err)
		}
		if rec.status >= 400 {
			p.opts.ErrorPage(w, r, http.StatusBadRequest, "error.logout")
			return
		}
		rec.flush(w)
	})
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rc *recorder) Header() http.Header { return rc.header }
func (rc *recorder) Write(b []byte) (int, error) {
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	return rc.body.Write(b)
}
func (rc *recorder) WriteHeader(s int) {
	if rc.status == 0 {
		rc.status = s
	}
}
func (rc *recorder) flush(w http.ResponseWriter) {
	for k, v := range rc.header {
		w.Header()[k] = v
	}
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	w.WriteHeader(rc.status)
	w.Write(rc.body.Bytes())
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
