package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// smartScopes is what a SMART app on a patient portal asks for.
var smartScopes = []string{oidc.ScopeOpenID, "fhirUser", "launch/patient", oidc.ScopeOfflineAccess, "email",
	"patient/Observation.rs", "patient/*.read", "user/Observation.rs"}

// accessClaims decodes an access token after checking its signature against the published keys.
func (e *env) accessClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	payload, err := oidc.NewRemoteKeySet(e.ctx, e.issuer+"/keys").VerifySignature(e.ctx, token)
	if err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSMARTLaunch: a client allowed "openid fhirUser launch/patient offline_access patient/*.rs"
// gets only those (email and user/… are dropped) and the token response says so in `scope`;
// the ID token and userinfo carry fhirUser; launch/patient puts the patient in the token
// response and in the access token, on refresh too; a practitioner gets no patient; a client
// without an allowed list keeps the standard scopes only.
func TestSMARTLaunch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, func(c *store.Client) {
			c.AllowedScopes = "openid fhirUser launch/patient offline_access patient/*.rs"
		})
		pat := e.user("pat@example.org", "correct horse battery")
		if err := e.st.SetFHIRUser(e.ctx, pat.ID, "Patient/456"); err != nil {
			t.Fatal(err)
		}
		r := e.rp(id, sec, smartScopes...)
		tok, idt := r.login(newBrowser(t), "pat@example.org", "correct horse battery")

		want := []string{"openid", "fhirUser", "launch/patient", "offline_access", "patient/Observation.rs", "patient/*.read"}
		if got := strings.Fields(tok.Extra("scope").(string)); !slices.Equal(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
		if got := claims(t, idt)["fhirUser"]; got != "Patient/456" {
			t.Errorf("ID token fhirUser = %v", got)
		}
		if _, ok := claims(t, idt)["email"]; ok {
			t.Error("a dropped scope (email) still put its claim in the ID token")
		}
		if got := tok.Extra("patient"); got != "456" {
			t.Errorf("token response patient = %v, want 456", got)
		}
		at := e.accessClaims(t, tok.AccessToken)
		if at["patient"] != "456" || !strings.Contains(at["scope"].(string), "patient/Observation.rs") {
			t.Errorf("access token claims: %v", at)
		}
		// Introspection tells a resource server the launch context of a person's own token too.
		if _, in, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}}, id, sec); in["active"] != true ||
			in["patient"] != "456" || in["sub"] != pat.ID || in["act"] != nil {
			t.Errorf("introspection of a self-context SMART token = %v, want active with patient 456 and no act", in)
		}
		info, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		var ui map[string]any
		info.Claims(&ui)
		if ui["fhirUser"] != "Patient/456" {
			t.Errorf("userinfo fhirUser = %v", ui["fhirUser"])
		}
		// A refreshed token keeps the launch context.
		next, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.Extra("patient") != "456" || e.accessClaims(t, next.AccessToken)["patient"] != "456" {
			t.Errorf("refresh lost the patient: %v", next.Extra("patient"))
		}

		// A patient without a Patient resource: the patient context is the person.
		self := e.user("sam@example.org", "correct horse battery")
		tok, _ = r.login(newBrowser(t), "sam@example.org", "correct horse battery")
		if tok.Extra("patient") != self.ID {
			t.Errorf("patient for a patient without fhirUser = %v, want %s", tok.Extra("patient"), self.ID)
		}

		// A practitioner signs in for themselves: fhirUser, and no patient context.
		doc := e.user("doc@example.org", "correct horse battery")
		if err := e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'provider', fhir_user = 'Practitioner/123' WHERE id = ?", doc.ID); err != nil {
			t.Fatal(err)
		}
		secret := enrollDirect(t, e, doc) // providers must use an authenticator app
		br := newBrowser(t)
		u, f := r.authURL()
		br.get(u)
		br.submitLogin(e.issuer, "doc@example.org", "correct horse battery")
		fields := br.formFields()
		fields.Set("code", codeFor(t, secret, time.Now().Add(30*time.Second))) // the enrollment spent this step's code
		br.post(e.issuer+"/mfa/verify", fields)
		tok, idt = r.exchange(br.code(f), f)
		if claims(t, idt)["fhirUser"] != "Practitioner/123" {
			t.Errorf("practitioner fhirUser = %v", claims(t, idt)["fhirUser"])
		}
		if p := tok.Extra("patient"); p != nil {
			t.Errorf("a practitioner got a patient context %v", p)
		}
		if _, ok := e.accessClaims(t, tok.AccessToken)["patient"]; ok {
			t.Error("a practitioner's access token has a patient claim")
		}

		// A client without an allowed list: today's behaviour, the standard scopes only.
		plain, plainSec := e.client(store.ClientWeb, func(c *store.Client) { c.Name = "Plain portal" })
		tok, idt = e.rp(plain, plainSec, smartScopes...).login(newBrowser(t), "pat@example.org", "correct horse battery")
		if got := strings.Fields(tok.Extra("scope").(string)); !slices.Equal(got, []string{"openid", "offline_access", "email"}) {
			t.Errorf("scope without an allowed list = %v", got)
		}
		if _, ok := claims(t, idt)["fhirUser"]; ok || tok.Extra("patient") != nil {
			t.Error("a client without SMART scopes got fhirUser or patient")
		}
	})
}

// TestSMARTConfiguration: /.well-known/smart-configuration describes the endpoints and
// capabilities, is cacheable with an ETag, and discovery advertises back-channel logout.
func TestSMARTConfiguration(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	resp, err := http.Get(e.issuer + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("smart-configuration: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Errorf("not cacheable: ETag %q Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	var conf struct {
		Issuer        string   `json:"issuer"`
		Authorization string   `json:"authorization_endpoint"`
		Token         string   `json:"token_endpoint"`
		JWKS          string   `json:"jwks_uri"`
		Revocation    string   `json:"revocation_endpoint"`
		Introspection string   `json:"introspection_endpoint"`
		Grants        []string `json:"grant_types_supported"`
		Scopes        []string `json:"scopes_supported"`
		ResponseTypes []string `json:"response_types_supported"`
		PKCE          []string `json:"code_challenge_methods_supported"`
		Capabilities  []string `json:"capabilities"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := json.Unmarshal(body, &conf); err != nil {
		t.Fatal(err)
	}
	// The endpoints are the ones discovery names.
	p, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		JWKS       string `json:"jwks_uri"`
		BCL        bool   `json:"backchannel_logout_supported"`
		BCLSession bool   `json:"backchannel_logout_session_supported"`
	}
	p.Claims(&disc)
	if conf.Issuer != e.issuer || conf.Authorization != p.Endpoint().AuthURL || conf.Token != p.Endpoint().TokenURL ||
		conf.JWKS != disc.JWKS || conf.Revocation != e.issuer+"/revoke" || conf.Introspection != e.issuer+"/oauth/introspect" {
		t.Errorf("endpoints: %+v", conf)
	}
	if !slices.Equal(conf.PKCE, []string{"S256"}) || !slices.Equal(conf.ResponseTypes, []string{"code"}) ||
		!slices.Contains(conf.Grants, "authorization_code") || !slices.Contains(conf.AuthMethods, "client_secret_basic") {
		t.Errorf("methods: %+v", conf)
	}
	for _, s := range []string{"openid", "fhirUser", "launch/patient", "offline_access"} {
		if !slices.Contains(conf.Scopes, s) {
			t.Errorf("scopes_supported lacks %s", s)
		}
	}
	for _, c := range []string{"launch-standalone", "client-public", "client-confidential-symmetric", "sso-openid-connect",
		"context-standalone-patient", "permission-patient", "permission-user", "permission-v1", "permission-v2", "permission-offline"} {
		if !slices.Contains(conf.Capabilities, c) {
			t.Errorf("capabilities lack %s", c)
		}
	}
	if !disc.BCL || !disc.BCLSession {
		t.Errorf("discovery does not advertise back-channel logout: %+v", disc)
	}
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/.well-known/smart-configuration", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
}

// TestSMARTConsent: a third-party SMART app's consent page says what fhirUser and launch/patient
// give it in plain words, in English and Spanish, and lists only the scopes it may be granted.
func TestSMARTConsent(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, func(c *store.Client) {
		c.FirstParty, c.Name, c.AllowedScopes = false, "Outside Health App", "openid fhirUser launch/patient patient/*.rs"
	})
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec, smartScopes...)
	for _, tc := range []struct{ lang, fhirUser, launch, offline, observations, everyPatient string }{
		{"en", "Who you are in your health record", "Which patient&#39;s record to open: yours", "Access while you are not using it",
			"See your test results and measurements", "every patient you can see"},
		{"es", "Quién es usted en su historia clínica", "Qué historia clínica abrir: la suya", "Acceso mientras no la usa",
			"Ver sus resultados de pruebas y mediciones", "todos los pacientes"},
	} {
		br := newBrowser(t)
		u, _ := r.authURL(oauth2.SetAuthURLParam("ui_locales", tc.lang))
		br.get(u)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, `action="/consent"`) || !strings.Contains(br.body, tc.fhirUser) || !strings.Contains(br.body, tc.launch) ||
			!strings.Contains(br.body, tc.observations) || strings.Contains(br.body, "patient/Observation.rs") {
			t.Errorf("%s consent page (every scope in plain words): %.2000s", tc.lang, br.body)
		}
		if strings.Contains(br.body, tc.everyPatient) || strings.Contains(br.body, tc.offline) {
			t.Errorf("%s consent page lists scopes the app may not have", tc.lang)
		}
	}
}
