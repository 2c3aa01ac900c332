package server_test

import (
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

// TestCodeFlow is the thin path end to end: authorize → sign-in page → code → token → a verified
// ID token with the claims an RP relies on, then userinfo and refresh rotation.
func TestCodeFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, nil)
		u := e.user("Pat.Smith@example.org", "correct horse battery")
		r := e.rp(id, sec, oidc.ScopeOpenID, "profile", "email", "phone", oidc.ScopeOfflineAccess)
		br := newBrowser(t)

		before := time.Now().Add(-time.Second)
		u0, _ := r.authURL()
		br.get(u0)
		if br.status != 200 || !contains(br.body, "Riverside Patient Portal") {
			t.Fatalf("the sign-in page must name the application; got %d", br.status)
		}
		tok, idt := r.login(br, "pat.smith@EXAMPLE.org", "correct horse battery")
		c := claims(t, idt)
		if idt.Subject != u.ID || idt.Subject == u.Email {
			t.Errorf("sub = %q, want the stable opaque id %q", idt.Subject, u.ID)
		}
		at := time.Unix(int64(c["auth_time"].(float64)), 0)
		if at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("auth_time = %v, want about now", at)
		}
		if c["acr"] != "urn:tessera:acr:1fa" {
			t.Errorf("acr = %v", c["acr"])
		}
		if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
			t.Errorf("amr = %v, want [pwd]", c["amr"])
		}
		if sid, _ := c["sid"].(string); sid == "" {
			t.Error("no sid in the ID token")
		}
		if c["email"] != "Pat.Smith@example.org" || c["name"] != "Pat Smith" || c["phone_number"] != "+12025550123" {
			t.Errorf("scope claims missing: %v", c)
		}
		if tok.RefreshToken == "" {
			t.Fatal("offline_access granted no refresh token")
		}

		// userinfo with the access token
		ui, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != u.ID || ui.Email != "Pat.Smith@example.org" {
			t.Errorf("userinfo = %+v", ui)
		}

		// refresh rotation: a new refresh token, the ID token keeps acr, amr and auth_time
		next, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
			t.Fatal("refresh did not rotate the refresh token")
		}
		raw, _ := next.Extra("id_token").(string)
		idt2, err := r.verifier.Verify(e.ctx, raw)
		if err != nil {
			t.Fatalf("refreshed ID token: %v", err)
		}
		c2 := claims(t, idt2)
		if c2["acr"] != c["acr"] || c2["auth_time"] != c["auth_time"] || !slices.Equal(toStrings(c2["amr"]), toStrings(c["amr"])) {
			t.Errorf("refreshed ID token lost how the person authenticated: %v", c2)
		}

		// Introspecting the rotated token says inactive and changes nothing (no reuse detection).
		if _, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {tok.RefreshToken}}, id, sec); body["active"] != false {
			t.Errorf("rotated refresh token introspected as %v", body)
		}
		if _, body, _ := e.postForm("/oauth/introspect", url.Values{"token": {next.RefreshToken}}, id, sec); body["active"] != true {
			t.Errorf("introspection had a side effect on the family: %v", body)
		}

		// reuse of the rotated token: refused, and the whole family is revoked
		if _, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
			t.Fatalf("reused refresh token: %v, want invalid_grant", err)
		}
		if _, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
			t.Fatalf("after reuse, the newest refresh token must be revoked too: %v", err)
		}
		if _, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(next)); err == nil {
			t.Error("access token of a revoked family still works at userinfo")
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
