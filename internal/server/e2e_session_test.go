package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

func authTime(t *testing.T, idt *oidc.IDToken) int64 {
	return int64(claims(t, idt)["auth_time"].(float64))
}

// TestSingleSignOn: a second RP and prompt=none sign in without asking again and keep auth_time;
// prompt=login and max_age force the password again and move auth_time.
func TestSingleSignOn(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id1, sec1 := e.client(store.ClientWeb, nil)
		id2, sec2 := e.client(store.ClientWeb, func(c *store.Client) { c.Name = "Riverside Scheduling" })
		e.user("pat@example.org", "correct horse battery")
		rp1, rp2 := e.rp(id1, sec1), e.rp(id2, sec2)
		br := newBrowser(t)
		_, first := rp1.login(br, "pat@example.org", "correct horse battery")
		t0 := authTime(t, first)

		// Second application: no page, same person, same auth_time and sid.
		u, f := rp2.authURL()
		br.get(u)
		if br.last == nil {
			t.Fatalf("second RP was shown a page (%d) instead of single sign-on", br.status)
		}
		_, second := rp2.exchange(br.code(f), f)
		if second.Subject != first.Subject || authTime(t, second) != t0 || claims(t, second)["sid"] != claims(t, first)["sid"] {
			t.Errorf("SSO token differs: sub %s/%s auth_time %d/%d", second.Subject, first.Subject, authTime(t, second), t0)
		}

		// prompt=none with a session succeeds silently.
		u, f = rp1.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		br.get(u)
		if _, idt := rp1.exchange(br.code(f), f); authTime(t, idt) != t0 {
			t.Error("prompt=none moved auth_time")
		}

		time.Sleep(1100 * time.Millisecond) // auth_time has one-second resolution

		// prompt=login: the password page again, and a new auth_time.
		u, f = rp1.authURL(oauth2.SetAuthURLParam("prompt", "login"))
		br.get(u)
		if br.last != nil {
			t.Fatal("prompt=login did not ask for the password")
		}
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		_, relogin := rp1.exchange(br.code(f), f)
		t1 := authTime(t, relogin)
		if t1 <= t0 {
			t.Errorf("prompt=login kept auth_time %d (was %d)", t1, t0)
		}

		// max_age=0 forces re-authentication; a generous max_age does not.
		u, f = rp1.authURL(oauth2.SetAuthURLParam("max_age", "3600"))
		br.get(u)
		if _, idt := rp1.exchange(br.code(f), f); authTime(t, idt) != t1 {
			t.Error("max_age=3600 should reuse the session")
		}
		time.Sleep(1100 * time.Millisecond)
		u, f = rp1.authURL(oauth2.SetAuthURLParam("max_age", "0"))
		br.get(u)
		if br.last != nil {
			t.Fatal("max_age=0 did not ask for the password")
		}
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if _, idt := rp1.exchange(br.code(f), f); authTime(t, idt) <= t1 {
			t.Error("max_age=0 did not move auth_time")
		}

		// A different browser has no session: prompt=none answers login_required.
		other := newBrowser(t)
		u, _ = rp1.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		other.get(u)
		if other.last == nil || other.last.Query().Get("error") != "login_required" {
			t.Errorf("prompt=none without a session: %v", other.last)
		}
	})
}

// TestLogout: RP-initiated logout with id_token_hint ends the SSO session and its tokens, and
// lands on the registered post_logout_redirect_uri with state; an unregistered one is refused.
func TestLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		br := newBrowser(t)
		tok, _ := r.login(br, "pat@example.org", "correct horse battery")
		hint := tok.Extra("id_token").(string)

		bad := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}
		br.get(e.issuer + "/end_session?" + bad.Encode())
		if br.last != nil || br.status < 400 {
			t.Fatalf("unregistered post_logout_redirect_uri: status %d, redirected to %v", br.status, br.last)
		}

		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:1/rp/logged-out"}, "state": {"bye"}}
		br.get(e.issuer + "/end_session?" + q.Encode())
		if br.last == nil || br.last.Path != "/rp/logged-out" || br.last.Query().Get("state") != "bye" {
			t.Fatalf("logout did not return to the RP with state: %v (%d)", br.last, br.status)
		}
		// The session is gone: prompt=none now fails, and the session's tokens are revoked.
		u, _ := r.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		br.get(u)
		if br.last == nil || br.last.Query().Get("error") != "login_required" {
			t.Errorf("after logout prompt=none: %v", br.last)
		}
		if _, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
			t.Errorf("refresh after logout: %v, want invalid_grant", err)
		}
		// Without a redirect URI the person sees the signed-out page.
		br.get(e.issuer + "/end_session")
		if br.status != 200 || !strings.Contains(br.body, "close every browser window") {
			t.Errorf("signed-out page: %d %.200s", br.status, br.body)
		}
	})
}

// TestClientCredentialsIntrospectRevoke: a service client gets a JWT access token; introspection
// reports it active until it is revoked.
func TestClientCredentialsIntrospectRevoke(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		svc, svcSecret := e.client(store.ClientService, nil)
		web, webSecret := e.client(store.ClientWeb, nil)
		p, err := oidc.NewProvider(e.ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		cc := &clientcredentials.Config{ClientID: svc, ClientSecret: svcSecret, TokenURL: p.Endpoint().TokenURL}
		tok, err := cc.Token(e.ctx)
		if err != nil {
			t.Fatalf("client_credentials: %v", err)
		}
		// The access token is a JWT signed by a published key, with a jti.
		ks := oidc.NewRemoteKeySet(e.ctx, e.issuer+"/keys")
		payload, err := ks.VerifySignature(e.ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("access token signature: %v", err)
		}
		if !strings.Contains(string(payload), `"jti"`) || !strings.Contains(string(payload), `"sub":"`+svc+`"`) {
			t.Errorf("access token claims: %s", payload)
		}
		status, body, hdr := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, web, webSecret)
		if status != 200 || body["active"] != true || body["client_id"] != svc {
			t.Fatalf("introspection: %d %v", status, body)
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("introspection response may be cached: Cache-Control %q", hdr.Get("Cache-Control"))
		}
		status, body, hdr = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, svc, svcSecret)
		if status != 200 || body["token_type"] != "Bearer" || hdr.Get("Cache-Control") != "no-store" || hdr.Get("Pragma") != "no-cache" {
			t.Errorf("token response: %d %v, Cache-Control %q Pragma %q", status, body, hdr.Get("Cache-Control"), hdr.Get("Pragma"))
		}
		// A web client may not use client_credentials.
		wc := &clientcredentials.Config{ClientID: web, ClientSecret: webSecret, TokenURL: p.Endpoint().TokenURL}
		if _, err := wc.Token(e.ctx); err == nil {
			t.Error("a web client obtained a client_credentials token")
		}
		// Revoke, then introspection says inactive.
		status, _, _ = e.postForm("/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, svc, svcSecret)
		if status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		_, body, _ = e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, web, webSecret)
		if body["active"] != false {
			t.Errorf("revoked token still active: %v", body)
		}
	})
}

// TestRevokeRefreshToken: revoking a refresh token (RFC 7009) ends its family and access tokens.
func TestRevokeRefreshToken(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	tok, _ := r.login(newBrowser(t), "pat@example.org", "correct horse battery")
	_, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.RefreshToken}}, id, sec)
	if body["active"] != true || body["client_id"] != id || body["token_type"] != "refresh_token" {
		t.Errorf("introspection of a live refresh token: %v", body)
	}
	status, _, _ := e.postForm("/revoke", url.Values{"token": {tok.RefreshToken}}, id, sec)
	if status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	_, body, _ = e.postForm("/oauth/introspect", url.Values{"token": {tok.RefreshToken}}, id, sec)
	if body["active"] != false {
		t.Errorf("introspection of a revoked refresh token: %v", body)
	}
	if _, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Errorf("refresh after revocation: %v", err)
	}
	_, body, _ = e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, id, sec)
	if body["active"] != false {
		t.Errorf("access token of a revoked refresh token still active: %v", body)
	}
}

// TestKeyRotation: after a rotation new tokens carry the new kid, and tokens signed with the old
// key still verify because the JWKS keeps publishing it. Two nodes on one database agree.
func TestKeyRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)
		oldTok, oldIDT := r.login(newBrowser(t), "pat@example.org", "correct horse battery")
		oldKid := kid(t, oldTok.Extra("id_token").(string))

		newKid, _, err := e.node.Keys.Rotate(e.ctx, jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		newTok, _ := r.login(newBrowser(t), "pat@example.org", "correct horse battery")
		if got := kid(t, newTok.Extra("id_token").(string)); got != newKid || got == oldKid {
			t.Errorf("after rotation kid = %s, want the new %s (old %s)", got, newKid, oldKid)
		}
		// A fresh RP (empty key cache) still verifies the old token.
		if _, err := e.rp(id, sec).verifier.Verify(context.Background(), oldTok.Extra("id_token").(string)); err != nil {
			t.Errorf("old ID token no longer verifies after rotation: %v", err)
		}
		_ = oldIDT
	})
}

// TestIDTokenAlg: a client's registered ID-token algorithm (id_token_signed_response_alg) is what
// its ID tokens are signed with, from the code grant and from every refresh, and they verify
// against the published keys; its access tokens are ES256 whatever it registered (one RSA
// signature per response for an RS256 client, not two), and userinfo and introspection take
// them. A service client that registered an algorithm gets ES256 access tokens too.
func TestIDTokenAlg(t *testing.T) {
	for _, tc := range []struct {
		name, alg string // alg: the client's IDTokenAlg ("" = the default)
		wantID    string // the ID token's header alg
	}{
		{"default", "", "ES256"},
		{"RS256", "RS256", "RS256"},
		{"EdDSA", "EdDSA", "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
			id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.IDTokenAlg = tc.alg })
			e.user("pat@example.org", "correct horse battery")
			r := e.rp(id, sec, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)

			check := func(grant string, tok *oauth2.Token, idt *oidc.IDToken) {
				t.Helper()
				if got := jwsAlg(t, tok.Extra("id_token").(string)); got != tc.wantID {
					t.Errorf("%s: ID token alg = %s, want %s", grant, got, tc.wantID)
				}
				// at_hash is taken with the ID token's algorithm over the (ES256) access token.
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Errorf("%s: at_hash: %v", grant, err)
				}
				if got := jwsAlg(t, tok.AccessToken); got != "ES256" {
					t.Errorf("%s: access token alg = %s, want ES256 whatever the client's ID-token alg", grant, got)
				}
				// A resource server verifies the access token with the published keys.
				if _, err := r.verifier.Verify(e.ctx, tok.AccessToken); err != nil {
					t.Errorf("%s: access token does not verify against the JWKS: %v", grant, err)
				}
				if info, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err != nil || info.Email != "pat@example.org" {
					t.Errorf("%s: userinfo = %+v, %v", grant, info, err)
				}
				if code, in, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, id, sec); code != http.StatusOK ||
					in["active"] != true || in["client_id"] != id {
					t.Errorf("%s: introspection = %d %v", grant, code, in)
				}
			}

			tok, idt := r.login(newBrowser(t), "pat@example.org", "correct horse battery") // verifies the ID token
			check("authorization_code", tok, idt)
			for i := range 2 { // the ID token of every rotation, not only the first
				next, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				if err != nil {
					t.Fatalf("refresh %d: %v", i+1, err)
				}
				raw, _ := next.Extra("id_token").(string)
				nidt, err := r.verifier.Verify(e.ctx, raw)
				if err != nil {
					t.Fatalf("refresh %d: ID token does not verify: %v", i+1, err)
				}
				check("refresh_token", next, nidt)
				tok = next
			}

			svc, svcSecret := e.client(store.ClientService, func(c *store.Client) { c.IDTokenAlg = tc.alg })
			cc := &clientcredentials.Config{ClientID: svc, ClientSecret: svcSecret, TokenURL: r.provider.Endpoint().TokenURL}
			st, err := cc.Token(e.ctx)
			if err != nil {
				t.Fatalf("client_credentials: %v", err)
			}
			if got := jwsAlg(t, st.AccessToken); got != "ES256" {
				t.Errorf("client_credentials: access token alg = %s, want ES256", got)
			}
			if _, in, _ := e.postForm("/oauth/introspect", url.Values{"token": {st.AccessToken}}, svc, svcSecret); in["active"] != true {
				t.Errorf("client_credentials: introspection = %v", in)
			}
		})
	}
}

// jwsAlg returns a compact JWS's header alg.
func jwsAlg(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("not a JWS: %v", err)
	}
	return jws.Signatures[0].Header.Algorithm
}

// TestDiscoveryAndJWKS: the documents RP libraries read, with caching headers.
func TestDiscoveryAndJWKS(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	var d struct {
		Issuer     string   `json:"issuer"`
		ACR        []string `json:"acr_values_supported"`
		PKCE       []string `json:"code_challenge_methods_supported"`
		Responses  []string `json:"response_types_supported"`
		JWKSURI    string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
	}
	p, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Claims(&d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != e.issuer || len(d.ACR) != 4 || d.ACR[0] != "urn:tessera:acr:1fa" || len(d.PKCE) != 1 || d.PKCE[0] != "S256" ||
		len(d.Responses) != 1 || d.EndSession == "" {
		t.Errorf("discovery: %+v", d)
	}
	for _, u := range []string{e.issuer + "/.well-known/openid-configuration", d.JWKSURI} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
			t.Errorf("%s: no ETag / Cache-Control", u)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", u, resp.StatusCode)
		}
	}
}

func kid(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

var _ = server.Defaults

// TestAccessTokenChecks: access tokens are not stored, so what makes one acceptable is checked
// from its claims: an ID token (same keys) is not an access token, a service token has no
// person for userinfo, and ending the SSO session ends the access tokens issued under it.
func TestAccessTokenChecks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, nil)
		svc, svcSecret := e.client(store.ClientService, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec, oidc.ScopeOpenID, "email")
		br := newBrowser(t)
		tok, _ := r.login(br, "pat@example.org", "correct horse battery")
		info, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil || info.Email != "pat@example.org" {
			t.Fatalf("userinfo: %v %v", info, err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		if _, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: rawID, TokenType: "Bearer"})); err == nil {
			t.Error("userinfo accepted an ID token")
		}
		if _, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {rawID}}, id, sec); body["active"] != false {
			t.Errorf("introspection of an ID token: %v", body)
		}
		p, _ := oidc.NewProvider(e.ctx, e.issuer)
		cc := &clientcredentials.Config{ClientID: svc, ClientSecret: svcSecret, TokenURL: p.Endpoint().TokenURL}
		stok, err := cc.Token(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(stok)); err == nil {
			t.Error("userinfo answered for a service token")
		}
		// Another client may not revoke this client's token.
		e.postForm("/revoke", url.Values{"token": {tok.AccessToken}}, svc, svcSecret)
		if _, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, id, sec); body["active"] != true {
			t.Errorf("another client revoked the token: %v", body)
		}
		// Ending the session (RP-initiated logout) ends the token.
		if sid, _ := jwtClaim(t, tok.AccessToken)["sid"].(string); sid == "" {
			t.Fatal("access token without sid")
		}
		br.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {rawID}}.Encode())
		if _, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo answered after the session ended")
		}
		if _, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, id, sec); body["active"] != false {
			t.Errorf("introspection after the session ended: %v", body)
		}
	})
}

func jwtClaim(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
