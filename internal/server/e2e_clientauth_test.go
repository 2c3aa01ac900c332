package server_test

import (
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestClientAuthMethods: client_secret_basic and client_secret_post both work, a public client
// authenticates with PKCE alone, and mixing or forging credentials is refused.
func TestClientAuthMethods(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	svc, svcSecret := e.client(store.ClientService, nil)
	pub, _ := e.client(store.ClientPublic, nil)
	e.user("pat@example.org", "correct horse battery")

	status, body, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {svc}, "client_secret": {svcSecret}}, "", "")
	if status != 200 || body["access_token"] == nil {
		t.Errorf("client_secret_post: %d %v", status, body)
	}
	status, body, _ = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_secret": {svcSecret}}, svc, svcSecret)
	if status != 400 || body["error"] != "invalid_request" {
		t.Errorf("two authentication methods at once: %d %v, want 400 invalid_request", status, body)
	}

	// A public client: code flow with PKCE and no secret, then a refresh.
	r := e.rp(pub, "", oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	r.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tok, idt := r.login(newBrowser(t), "pat@example.org", "correct horse battery")
	if idt.Subject == "" || tok.RefreshToken == "" {
		t.Fatalf("public client flow: sub %q refresh %q", idt.Subject, tok.RefreshToken)
	}
	if _, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("public client refresh: %v", err)
	}
	// A public client that presents a secret is not a public client.
	status, body, _ = e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, pub, "made-up")
	if status != 401 || body["error"] != "invalid_client" {
		t.Errorf("public client with a secret: %d %v", status, body)
	}
	// A public client cannot use client_credentials.
	status, _, _ = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {pub}}, "", "")
	if status == 200 {
		t.Error("public client obtained a client_credentials token")
	}
}
