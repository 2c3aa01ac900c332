package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestACRRequirements: Tessera never silently returns a lower acr than an RP insists on. A
// voluntary acr_values gets the best available (and says truthfully what it was); an essential
// acr in the claims parameter or a client's minimum that cannot be met answers
// unmet_authentication_requirements; a malformed claims parameter is invalid_request.
func TestACRRequirements(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	ehr, ehrSec := e.client(store.ClientWeb, func(c *store.Client) { c.Name = "EHR"; c.MinACR = "urn:tessera:acr:mfa" })
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)

	// Voluntary: signed in, and the token says 1fa — never the mfa that was asked.
	_, idt := r.login(newBrowser(t), "pat@example.org", "correct horse battery", oauth2.SetAuthURLParam("acr_values", "urn:tessera:acr:mfa"))
	if claims(t, idt)["acr"] != "urn:tessera:acr:1fa" {
		t.Errorf("acr = %v", claims(t, idt)["acr"])
	}

	unmet := func(name string, rp *rp, opts ...oauth2.AuthCodeOption) {
		t.Helper()
		br := newBrowser(t)
		u, f := rp.authURL(opts...)
		br.get(u)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if br.last == nil || br.last.Query().Get("error") != "unmet_authentication_requirements" || br.last.Query().Get("state") != f.state {
			t.Errorf("%s: %v (%d)", name, br.last, br.status)
		}
	}
	unmet("essential phishing-resistant acr without a passkey", r, oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["phr"]}}}`))

	// An essential mfa (a client minimum, or the claims parameter) for someone with no second
	// factor: they are asked to set one up — never handed a one-factor token.
	for name, rp := range map[string]*rp{"client minimum": e.rp(ehr, ehrSec), "essential claims": r} {
		br := newBrowser(t)
		var opts []oauth2.AuthCodeOption
		if name == "essential claims" {
			opts = append(opts, oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["urn:tessera:acr:mfa"]}}}`))
		}
		u, _ := rp.authURL(opts...)
		br.get(u)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if br.last != nil || !strings.Contains(br.body, `action="/mfa/enroll"`) || strings.Contains(br.body, "Remind me later") {
			t.Errorf("%s: want the enrollment page without deferral, got %d %v", name, br.status, br.last)
		}
	}

	q := url.Values{"client_id": {id}, "redirect_uri": {rpRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s1"}, "claims": {"{not json"}}
	resp, _ := getNoFollow(t, e.issuer+"/authorize?"+q.Encode())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "claims") {
		t.Errorf("malformed claims: %d %v", resp.StatusCode, loc)
	}
}
