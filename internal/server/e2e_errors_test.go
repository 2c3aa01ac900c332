package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// noRedirect is an HTTP client that shows each redirect instead of following it.
var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

func getNoFollow(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestAuthorizeBadInput: an unknown client or unregistered redirect_uri gets an error page and
// never a redirect; once the redirect is known to be safe, errors go back to it with state.
func TestAuthorizeBadInput(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	web, _ := e.client(store.ClientWeb, nil)
	public, _ := e.client(store.ClientPublic, nil)
	base := func(client string) url.Values {
		return url.Values{"client_id": {client}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"st-123"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"code_challenge_method": {"S256"}}
	}
	pageCases := map[string]url.Values{
		"unknown client":        func() url.Values { v := base(web); v.Set("client_id", "nope"); return v }(),
		"unregistered redirect": func() url.Values { v := base(web); v.Set("redirect_uri", "https://evil.example/cb"); return v }(),
		"redirect prefix trick": func() url.Values { v := base(web); v.Set("redirect_uri", rpRedirect+"/../x"); return v }(),
		"missing redirect":      func() url.Values { v := base(web); v.Del("redirect_uri"); return v }(),
		"duplicated client_id":  func() url.Values { v := base(web); v.Add("client_id", web); return v }(),
	}
	for name, q := range pageCases {
		t.Run(name, func(t *testing.T) {
			resp, body := getNoFollow(t, e.issuer+"/authorize?"+q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q: want a 400 error page and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<h1>") {
				t.Errorf("want a readable HTML error page, got %q", body)
			}
		})
	}
	t.Run("public client on another loopback port (RFC 8252)", func(t *testing.T) {
		v := base(public)
		v.Set("redirect_uri", "http://127.0.0.1:7777/rp/callback")
		resp, body := getNoFollow(t, e.issuer+"/authorize?"+v.Encode())
		for resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), e.issuer) {
			resp, body = getNoFollow(t, resp.Header.Get("Location"))
		}
		if resp.StatusCode != 200 || !strings.Contains(body, `autocomplete="current-password"`) {
			t.Errorf("got %d %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	redirectCases := []struct {
		name string
		q    url.Values
		want string
	}{
		{"unsupported response_type", func() url.Values { v := base(web); v.Set("response_type", "token"); return v }(), "unsupported_response_type"},
		{"plain PKCE", func() url.Values { v := base(web); v.Set("code_challenge_method", "plain"); return v }(), "invalid_request"},
		{"unknown PKCE method", func() url.Values { v := base(web); v.Set("code_challenge_method", "S512"); return v }(), "invalid_request"},
		{"public client without PKCE", func() url.Values {
			v := base(public)
			v.Del("code_challenge")
			v.Del("code_challenge_method")
			return v
		}(), "invalid_request"},
		{"duplicated scope", func() url.Values { v := base(web); v.Add("scope", "profile"); return v }(), "invalid_request"},
		{"prompt=none without a session", func() url.Values { v := base(web); v.Set("prompt", "none"); return v }(), "login_required"},
	}
	for _, tc := range redirectCases {
		t.Run(tc.name, func(t *testing.T) {
			u := e.issuer + "/authorize?" + tc.q.Encode()
			resp, body := getNoFollow(t, u)
			// prompt=none goes through the login page first; follow our own redirects only.
			for resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), e.issuer) {
				resp, body = getNoFollow(t, resp.Header.Get("Location"))
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), rpRedirect) {
				t.Fatalf("status %d, Location %q (%.200s): want a redirect to the RP", resp.StatusCode, loc, body)
			}
			q := loc.Query()
			if q.Get("error") != tc.want || q.Get("state") != "st-123" || q.Get("code") != "" {
				t.Errorf("redirect query = %v, want error=%s with state", q, tc.want)
			}
		})
	}
}

// TestTokenBadInput: wrong PKCE verifier, reused and expired codes, wrong secrets, malformed bodies.
func TestTokenBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)

		signIn := func() (string, flow) {
			br := newBrowser(t)
			u, f := r.authURL()
			br.get(u)
			br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
			return br.code(f), f
		}

		t.Run("wrong PKCE verifier", func(t *testing.T) {
			code, _ := signIn()
			_, err := r.cfg.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			if oauthErr(err) != "invalid_grant" {
				t.Errorf("err = %v, want invalid_grant", err)
			}
		})

		t.Run("reused code revokes what it issued", func(t *testing.T) {
			code, f := signIn()
			tok, _ := r.exchange(code, f)
			_, err := r.cfg.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier))
			if oauthErr(err) != "invalid_grant" {
				t.Fatalf("second exchange: %v, want invalid_grant", err)
			}
			if _, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Error("the access token from a replayed code still works")
			}
			status, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, id, sec)
			if status != 200 || body["active"] != false {
				t.Errorf("introspection of a revoked token: %d %v", status, body)
			}
		})

		t.Run("expired code", func(t *testing.T) {
			code, f := signIn()
			e.st.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
			defer e.st.SetClock(time.Now)
			_, err := r.cfg.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier))
			if oauthErr(err) != "invalid_grant" {
				t.Errorf("err = %v, want invalid_grant", err)
			}
		})

		t.Run("wrong client secret is invalid_client even with a bad code", func(t *testing.T) {
			status, body, hdr := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"},
				"code": {"garbage"}, "redirect_uri": {rpRedirect}}, id, "wrong-secret")
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" || hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("got %d %v %q, want 401 invalid_client with WWW-Authenticate", status, body, hdr.Get("WWW-Authenticate"))
			}
			status, body, _ = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"},
				"client_id": {"unknown"}, "client_secret": {"x"}}, "", "")
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("unknown client: %d %v", status, body)
			}
		})

		t.Run("malformed bodies", func(t *testing.T) {
			for name, req := range map[string]func() *http.Request{
				"json body": func() *http.Request {
					r, _ := http.NewRequest("POST", e.issuer+"/oauth/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
					r.Header.Set("Content-Type", "application/json")
					r.SetBasicAuth(id, sec)
					return r
				},
				"repeated parameter": func() *http.Request {
					r, _ := http.NewRequest("POST", e.issuer+"/oauth/token", strings.NewReader("grant_type=authorization_code&code=a&code=b"))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.SetBasicAuth(id, sec)
					return r
				},
				"broken encoding": func() *http.Request {
					r, _ := http.NewRequest("POST", e.issuer+"/oauth/token", strings.NewReader("grant_type=%zz"))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.SetBasicAuth(id, sec)
					return r
				},
				"missing grant_type": func() *http.Request {
					r, _ := http.NewRequest("POST", e.issuer+"/oauth/token", strings.NewReader("code=abc"))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.SetBasicAuth(id, sec)
					return r
				},
			} {
				resp, err := http.DefaultClient.Do(req())
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
					t.Errorf("%s: %d %s, want 400 with an OAuth error", name, resp.StatusCode, body)
				}
			}
		})

		t.Run("introspection and revocation need a token", func(t *testing.T) {
			for _, p := range []string{"/oauth/introspect", "/revoke"} {
				status, body, _ := e.postForm(p, url.Values{}, id, sec)
				if status != http.StatusBadRequest || body["error"] != "invalid_request" {
					t.Errorf("%s without token: %d %v", p, status, body)
				}
			}
		})

		t.Run("userinfo with a bad token", func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer not-a-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("got %d %q, want 401 with WWW-Authenticate error=invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})

		t.Run("wrong password shows one message and no session", func(t *testing.T) {
			br := newBrowser(t)
			u, _ := r.authURL()
			br.get(u)
			br.submitLogin(e.issuer, "pat@example.org", "wrong password")
			wrongPw := br.body
			if br.status != 401 || br.last != nil {
				t.Fatalf("wrong password: %d, sent back to RP: %v", br.status, br.last)
			}
			br.get(u)
			br.submitLogin(e.issuer, "nobody@example.org", "whatever pass")
			if br.status != 401 || !strings.Contains(wrongPw, "email address or password is not right") ||
				!strings.Contains(br.body, "email address or password is not right") {
				t.Error("unknown email and wrong password must show the same message")
			}
		})
	})
}

// TestCallbackBoundToBrowser: whoever started an authorization request knows its id; they must
// not be able to collect the code after tricking someone else into signing in with it.
func TestCallbackBoundToBrowser(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientPublic, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	u, f := r.authURL() // made by the attacker, who keeps the PKCE verifier

	victim := newBrowser(t)
	victim.get(u)
	fields := victim.formFields()
	fields.Set("email", "pat@example.org")
	fields.Set("password", "correct horse battery")
	victim.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	victim.post(e.issuer+"/login", fields)
	if victim.status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", victim.status, victim.body)
	}

	callback := e.issuer + "/authorize/callback?id=" + url.QueryEscape(fields.Get("authRequestID"))
	resp, _ := getNoFollow(t, callback) // the attacker's browser: no session cookie
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("attacker got %d Location=%q; the code must stay with the victim's browser", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The victim's own browser still finishes normally, and the redirect carries iss.
	victim.c.CheckRedirect = nil
	victim2 := newBrowser(t)
	victim2.c.Jar = victim.c.Jar
	victim2.get(callback)
	if victim2.last == nil || victim2.last.Query().Get("iss") != e.issuer {
		t.Fatalf("victim's callback: %v", victim2.last)
	}
	if victim2.code(f) == "" {
		t.Fatal("no code for the victim's browser")
	}
}
