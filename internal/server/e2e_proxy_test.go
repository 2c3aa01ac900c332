package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// Caregiver (proxy) access as an outside relying party sees it: the chooser after sign-in, the
// delegation claims (ID token sub = the caregiver; access token sub = the patient, act.sub = the
// caregiver, patient, narrowed scope; patient in the token response), token exchange to another
// patient, and a revoked or expired grant refused at once.

const exchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

// proxySetup is a tenant with a proxy-capable client, a caregiver and two patients they may act
// for: limited access to the first, full access to the second. mods adjust the client.
type proxySetup struct {
	e                 *env
	id, sec           string
	rp                *rp
	carer, kid, elder *store.User
	limited, full     *store.ProxyGrant
}

const proxyPW = "correct horse battery staple"

func newProxySetup(t *testing.T, b storetest.Backend, fullExpires *time.Time, mods ...func(*store.Client)) *proxySetup {
	e := newEnv(t, b, nil)
	s := &proxySetup{e: e}
	s.id, s.sec = e.client(store.ClientWeb, func(c *store.Client) {
		c.Proxy = true
		c.Name = "Family Health App"
		for _, mod := range mods {
			mod(c)
		}
	})
	s.rp = e.rp(s.id, s.sec, "openid", "profile", "offline_access", "patient/Appointment.read", "patient/Observation.read")
	s.carer = e.user("carer@example.org", proxyPW)
	s.kid = e.user("kid@example.org", proxyPW)
	s.elder = e.user("elder@example.org", proxyPW)
	s.limited = s.grant(t, s.kid, store.ProxyLimited, nil)
	s.full = s.grant(t, s.elder, store.ProxyFull, fullExpires)
	return s
}

func (s *proxySetup) grant(t *testing.T, patient *store.User, access string, exp *time.Time) *store.ProxyGrant {
	g := &store.ProxyGrant{TenantID: s.e.tenant.ID, PatientID: patient.ID, CaregiverID: s.carer.ID, Access: access,
		Reason: "test", CreatedBy: "cli"}
	if access == store.ProxyLimited {
		g.ScopeSet = "limited"
	}
	if exp != nil {
		u := exp.Unix()
		g.ExpiresAt = &u
	}
	if err := s.e.st.CreateProxyGrant(s.e.ctx, g); err != nil {
		t.Fatal(err)
	}
	return g
}

// signIn signs the caregiver in and picks choice ("self" or a grant id) on the chooser.
func (s *proxySetup) signIn(t *testing.T, b *browser, choice string) (*oauth2.Token, map[string]any, map[string]any) {
	t.Helper()
	u, f := s.rp.authURL()
	b.get(u)
	b.submitLogin(s.e.issuer, s.carer.Email, proxyPW)
	if b.last != nil || !strings.Contains(b.body, `name="choice"`) {
		t.Fatalf("expected the patient chooser after sign-in, got %d: %.400s", b.status, b.body)
	}
	for _, want := range []string{"<fieldset", "<legend>", `value="self"`, `value="` + s.limited.ID + `"`, `value="` + s.full.ID + `"`} {
		if !strings.Contains(b.body, want) {
			t.Fatalf("chooser lacks %q", want)
		}
	}
	form := b.formFields()
	form.Set("choice", choice)
	b.post(s.e.issuer+"/login/patient", form)
	tok, idt := s.rp.exchange(b.code(f), f)
	return tok, claims(t, idt), s.accessClaims(t, tok.AccessToken)
}

// accessClaims verifies an access token's signature with the published keys and decodes it.
func (s *proxySetup) accessClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	at, err := s.rp.verifier.Verify(s.e.ctx, raw)
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	return claims(t, at)
}

func (s *proxySetup) exchange(subjectToken, patient string) (int, map[string]any) {
	code, body, _ := s.e.postForm("/oauth/token", url.Values{"grant_type": {exchangeGrant}, "subject_token": {subjectToken},
		"subject_token_type": {accessTokenType}, "patient": {patient}}, s.id, s.sec)
	return code, body
}

func (s *proxySetup) introspect(token string) map[string]any {
	_, body, _ := s.e.postForm("/oauth/introspect", url.Values{"token": {token}}, s.id, s.sec)
	return body
}

func (s *proxySetup) refresh(rt string) (*oauth2.Token, error) {
	return s.rp.cfg.TokenSource(s.e.ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

func actSub(c map[string]any) string {
	act, _ := c["act"].(map[string]any)
	s, _ := act["sub"].(string)
	return s
}

func TestProxyLimitedFlowExchangeAndRevocation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := newProxySetup(t, b, nil)
		tok, id, at := s.signIn(t, newBrowser(t), s.limited.ID)

		if id["sub"] != s.carer.ID {
			t.Errorf("ID token sub = %v, want the caregiver %s", id["sub"], s.carer.ID)
		}
		if _, ok := id["act"]; ok {
			t.Errorf("the ID token names the person who signed in; it has no act: %v", id["act"])
		}
		if at["sub"] != s.kid.ID || actSub(at) != s.carer.ID || at["patient"] != s.kid.ID {
			t.Errorf("access token sub=%v act.sub=%v patient=%v; want patient %s acted for by %s", at["sub"], actSub(at), at["patient"], s.kid.ID, s.carer.ID)
		}
		if want := "openid profile offline_access patient/Appointment.read"; at["scope"] != want {
			t.Errorf("limited access token scope = %q, want %q (no results)", at["scope"], want)
		}
		if tok.Extra("patient") != s.kid.ID {
			t.Errorf("token response patient = %v, want %s", tok.Extra("patient"), s.kid.ID)
		}

		// userinfo describes the person who signed in (its sub must match the ID token's).
		ui, err := s.rp.provider.UserInfo(s.e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil || ui.Subject != s.carer.ID {
			t.Errorf("userinfo sub = %v (%v), want the caregiver", ui, err)
		}
		in := s.introspect(tok.AccessToken)
		if in["active"] != true || in["sub"] != s.kid.ID || actSub(in) != s.carer.ID || in["patient"] != s.kid.ID {
			t.Errorf("introspection = %v", in)
		}

		// Refresh keeps the patient context and the caregiver's ID token.
		next, err := s.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if c := s.accessClaims(t, next.AccessToken); c["sub"] != s.kid.ID || actSub(c) != s.carer.ID {
			t.Errorf("refreshed access token sub=%v act=%v", c["sub"], c["act"])
		}
		if raw, _ := next.Extra("id_token").(string); raw != "" {
			idt, err := s.rp.verifier.Verify(s.e.ctx, raw)
			if err != nil || idt.Subject != s.carer.ID {
				t.Errorf("refreshed ID token sub = %v (%v), want the caregiver", idt, err)
			}
		}

		// Switch to the other patient without signing in again.
		code, ex := s.exchange(next.AccessToken, s.elder.ID)
		if code != http.StatusOK {
			t.Fatalf("token exchange: %d %v", code, ex)
		}
		if ex["issued_token_type"] != accessTokenType || ex["patient"] != s.elder.ID || ex["token_type"] != "Bearer" {
			t.Errorf("exchange response = %v", ex)
		}
		elderTok, _ := ex["access_token"].(string)
		if c := s.accessClaims(t, elderTok); c["sub"] != s.elder.ID || actSub(c) != s.carer.ID || c["patient"] != s.elder.ID {
			t.Errorf("exchanged token sub=%v act=%v patient=%v", c["sub"], c["act"], c["patient"])
		}
		// A stranger to the caregiver cannot be opened.
		stranger := s.e.user("stranger@example.org", proxyPW)
		if code, ex := s.exchange(next.AccessToken, stranger.ID); code != http.StatusBadRequest || ex["error"] != "invalid_grant" {
			t.Errorf("exchange without a grant: %d %v", code, ex)
		}

		// A patient known to the RP by their FHIR Patient id: the tokens name them by it, and the
		// exchange may ask for them by it, as `patient` or as an RFC 8693 resource.
		if err := s.e.st.SetFHIRUser(s.e.ctx, s.elder.ID, "Patient/e-77"); err != nil {
			t.Fatal(err)
		}
		for _, form := range []url.Values{{"resource": {"https://fhir.example/r4/Patient/e-77"}}, {"patient": {"e-77"}}} {
			form.Set("grant_type", exchangeGrant)
			form.Set("subject_token", next.AccessToken)
			form.Set("subject_token_type", accessTokenType)
			code, ex, _ := s.e.postForm("/oauth/token", form, s.id, s.sec)
			if code != http.StatusOK || ex["patient"] != "e-77" {
				t.Fatalf("exchange by %v: %d %v", form, code, ex)
			}
			if c := s.accessClaims(t, ex["access_token"].(string)); c["sub"] != s.elder.ID || c["patient"] != "e-77" || actSub(c) != s.carer.ID {
				t.Errorf("exchanged by FHIR id: sub=%v patient=%v act=%v", c["sub"], c["patient"], c["act"])
			}
		}

		// The patient revokes: refresh, exchange and introspection all stop at once.
		if err := s.e.st.RevokeProxyGrant(s.e.ctx, s.limited.ID, s.kid.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.refresh(next.RefreshToken); oauthErr(err) != "invalid_grant" {
			t.Errorf("refresh after revocation: %v, want invalid_grant", err)
		}
		if code, ex := s.exchange(elderTok, s.kid.ID); code != http.StatusBadRequest || ex["error"] != "invalid_grant" {
			t.Errorf("exchange to the revoked patient: %d %v", code, ex)
		}
		if in := s.introspect(next.AccessToken); in["active"] != false {
			t.Errorf("introspection after revocation = %v, want inactive", in)
		}
		if _, err := s.rp.provider.UserInfo(s.e.ctx, oauth2.StaticTokenSource(next)); err == nil {
			t.Error("userinfo accepted a token of a revoked grant")
		}
		// The other grant is untouched.
		if in := s.introspect(elderTok); in["active"] != true {
			t.Errorf("the other patient's token went inactive: %v", in)
		}
	})
}

func TestProxyExpiredGrant(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		exp := time.Now().Add(10 * time.Minute)
		s := newProxySetup(t, b, &exp)
		tok, _, at := s.signIn(t, newBrowser(t), s.full.ID)
		if at["sub"] != s.elder.ID || at["scope"] != "openid profile offline_access patient/Appointment.read patient/Observation.read" {
			t.Fatalf("full access token: sub=%v scope=%v", at["sub"], at["scope"])
		}
		self, _, _ := s.signIn(t, newBrowser(t), "self")
		if code, _ := s.exchange(self.AccessToken, s.elder.ID); code != http.StatusOK {
			t.Fatalf("exchange before expiry: %d", code)
		}

		// Fifteen minutes later the grant has expired.
		s.e.st.SetClock(func() time.Time { return time.Now().Add(15 * time.Minute) })
		if _, err := s.refresh(tok.RefreshToken); oauthErr(err) != "invalid_grant" {
			t.Errorf("refresh after expiry: %v, want invalid_grant", err)
		}
		if code, ex := s.exchange(self.AccessToken, s.elder.ID); code != http.StatusBadRequest || ex["error"] != "invalid_grant" {
			t.Errorf("exchange after expiry: %d %v", code, ex)
		}
		if in := s.introspect(tok.AccessToken); in["active"] != false {
			t.Errorf("introspection after expiry = %v, want inactive", in)
		}
	})
}

func TestProxySelfAndNotProxyCapable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := newProxySetup(t, b, nil)
		// "Myself": an ordinary token, no delegation.
		tok, id, at := s.signIn(t, newBrowser(t), "self")
		if id["sub"] != s.carer.ID || at["sub"] != s.carer.ID || at["act"] != nil || at["patient"] != nil || tok.Extra("patient") != nil {
			t.Errorf("self: id sub=%v, at=%v, patient=%v", id["sub"], at, tok.Extra("patient"))
		}

		// A disabled patient account cannot be opened, grant or not.
		if code, _ := s.exchange(tok.AccessToken, s.elder.ID); code != http.StatusOK {
			t.Fatalf("exchange to the elder: %d", code)
		}
		if err := s.e.st.ExecRaw(s.e.ctx, "UPDATE users SET disabled = ? WHERE id = ?", true, s.elder.ID); err != nil {
			t.Fatal(err)
		}
		if code, ex := s.exchange(tok.AccessToken, s.elder.ID); code != http.StatusBadRequest || ex["error"] != "invalid_grant" {
			t.Errorf("exchange to a disabled patient: %d %v", code, ex)
		}

		// An application not marked proxy-capable never shows the chooser.
		plainID, plainSec := s.e.client(store.ClientWeb, nil)
		plain := s.e.rp(plainID, plainSec)
		br := newBrowser(t)
		u, f := plain.authURL()
		br.get(u)
		br.submitLogin(s.e.issuer, s.carer.Email, proxyPW)
		if br.last == nil {
			t.Fatalf("a client that is not proxy-capable showed a page after sign-in: %d %.300s", br.status, br.body)
		}
		ptok, pid := plain.exchange(br.code(f), f)
		if pid.Subject != s.carer.ID {
			t.Errorf("sub = %s", pid.Subject)
		}
		// Nor can it exchange tokens for a patient.
		code, body, _ := s.e.postForm("/oauth/token", url.Values{"grant_type": {exchangeGrant}, "subject_token": {ptok.AccessToken},
			"subject_token_type": {accessTokenType}, "patient": {s.kid.ID}}, plainID, plainSec)
		if code != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Errorf("exchange by a client that is not proxy-capable: %d %v", code, body)
		}
	})
}

// TestProxyTokenAlgs: a proxy-capable client that registered RS256 gets RS256 ID tokens about
// the caregiver, while its patient-context access tokens — from the code, from a refresh and
// from token exchange — are ES256 like every access token, and userinfo and introspection take
// them.
func TestProxyTokenAlgs(t *testing.T) {
	for _, tc := range []struct{ alg, wantID string }{{"", "ES256"}, {"RS256", "RS256"}} {
		t.Run("id_token_alg="+tc.wantID, func(t *testing.T) {
			s := newProxySetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil,
				func(c *store.Client) { c.IDTokenAlg = tc.alg })
			tok, id, at := s.signIn(t, newBrowser(t), s.limited.ID) // verifies both against the JWKS
			if id["sub"] != s.carer.ID || at["sub"] != s.kid.ID {
				t.Fatalf("ID token sub=%v, access token sub=%v", id["sub"], at["sub"])
			}
			next, err := s.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if _, err := s.rp.verifier.Verify(s.e.ctx, next.Extra("id_token").(string)); err != nil {
				t.Errorf("refreshed ID token does not verify: %v", err)
			}
			code, ex := s.exchange(next.AccessToken, s.elder.ID)
			if code != http.StatusOK {
				t.Fatalf("token exchange: %d %v", code, ex)
			}
			exchanged, _ := ex["access_token"].(string)
			if c := s.accessClaims(t, exchanged); c["sub"] != s.elder.ID || actSub(c) != s.carer.ID {
				t.Errorf("exchanged token sub=%v act=%v", c["sub"], c["act"])
			}
			for _, x := range []struct{ what, raw, want string }{
				{"code ID token", tok.Extra("id_token").(string), tc.wantID},
				{"refresh ID token", next.Extra("id_token").(string), tc.wantID},
				{"code access token", tok.AccessToken, "ES256"},
				{"refresh access token", next.AccessToken, "ES256"},
				{"exchanged access token", exchanged, "ES256"},
			} {
				if got := jwsAlg(t, x.raw); got != x.want {
					t.Errorf("%s alg = %s, want %s", x.what, got, x.want)
				}
			}
			for _, raw := range []string{tok.AccessToken, next.AccessToken, exchanged} {
				if in := s.introspect(raw); in["active"] != true {
					t.Errorf("introspection = %v", in)
				}
				ui, err := s.rp.provider.UserInfo(s.e.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: raw, TokenType: "Bearer"}))
				if err != nil || ui.Subject != s.carer.ID {
					t.Errorf("userinfo = %v, %v; want the caregiver", ui, err)
				}
			}
		})
	}
}

// TestTokenExchangeBadRequests: a malformed token exchange is refused with the RFC 8693 / RFC
// 6749 error a client can act on, and issues nothing.
func TestTokenExchangeBadRequests(t *testing.T) {
	s := newProxySetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	tok, _, _ := s.signIn(t, newBrowser(t), "self")
	base := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {exchangeGrant}, "subject_token": {tok.AccessToken},
			"subject_token_type": {accessTokenType}, "patient": {s.kid.ID}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no subject token", base("subject_token", ""), "invalid_request"},
		{"an ID token type", base("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), "invalid_request"},
		{"a refresh token asked for", base("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), "invalid_request"},
		{"an actor token", base("actor_token", tok.AccessToken), "invalid_request"},
		{"no patient", base("patient", ""), "invalid_request"},
		{"a resource that names no patient", base("patient", "", "resource", "https://fhir.example/r4/Observation/1"), "invalid_request"},
		{"a resource past the patient", base("patient", "", "resource", "https://fhir.example/r4/Patient/1/_history/2"), "invalid_request"},
		{"a forged subject token", base("subject_token", tok.AccessToken+"x"), "invalid_grant"},
		{"a scope beyond the subject token's", base("scope", "openid patient/*.write"), "invalid_scope"},
	} {
		code, body, _ := s.e.postForm("/oauth/token", c.form, s.id, s.sec)
		if code != http.StatusBadRequest || body["error"] != c.want || body["access_token"] != nil {
			t.Errorf("%s: %d %v, want 400 %s", c.name, code, body, c.want)
		}
	}
}
