package server_test

import (
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestConsent: a third-party application is allowed only after the person says so, once per set
// of scopes; "Don't allow" answers access_denied; prompt=none without consent answers
// consent_required; first-party applications never ask (TestCodeFlow).
func TestConsent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.FirstParty = false; c.Name = "Outside Fitness App" })
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)
		br := newBrowser(t)

		// prompt=none before any consent (and before any session): login_required first.
		u, f := r.authURL()
		br.get(u)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if br.last != nil || !strings.Contains(br.body, "Allow Outside Fitness App?") || !strings.Contains(br.body, "Your email address") {
			t.Fatalf("expected the consent page, got %d %.300s", br.status, br.body)
		}
		// With a session but no consent, prompt=none answers consent_required.
		other := newBrowser(t)
		other.c.Jar = br.c.Jar
		un, _ := r.authURL(oauth2.SetAuthURLParam("prompt", "none"))
		other.get(un)
		if other.last == nil || other.last.Query().Get("error") != "consent_required" {
			t.Fatalf("prompt=none without consent: %v", other.last)
		}

		// "Don't allow" → access_denied with state.
		fields := br.formFields()
		fields.Set("decision", "deny")
		br.post(e.issuer+"/consent", fields)
		if br.last == nil || br.last.Query().Get("error") != "access_denied" || br.last.Query().Get("state") != f.state {
			t.Fatalf("deny: %v", br.last)
		}

		// Allow → tokens; next time no question.
		u, f = r.authURL()
		br.get(u)
		fields = br.formFields()
		fields.Set("decision", "allow")
		br.post(e.issuer+"/consent", fields)
		if _, idt := r.exchange(br.code(f), f); idt.Subject == "" {
			t.Fatal("no subject")
		}
		u, f = r.authURL()
		br.get(u)
		if br.last == nil {
			t.Fatalf("consent asked again: %.200s", br.body)
		}
		r.exchange(br.code(f), f)

		// prompt=consent asks even after consent was given.
		u, _ = r.authURL(oauth2.SetAuthURLParam("prompt", "consent"))
		br.get(u)
		if br.last != nil || !strings.Contains(br.body, "Allow Outside Fitness App?") {
			t.Error("prompt=consent did not ask")
		}
	})
}

// TestConsentIsNoWayAroundMFA: with the password given and the code still owed, posting "Allow"
// on the consent form does not hand out a code; the person is asked for the second factor.
func TestConsentIsNoWayAroundMFA(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.FirstParty = false })
	u := e.user("pat@example.org", "correct horse battery")
	enrollDirect(t, e, u)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, `action="/mfa/verify"`) {
		t.Fatalf("expected the code page first: %.300s", br.body)
	}
	f := br.formFields()
	f.Set("decision", "allow")
	br.post(e.issuer+"/consent", f)
	if br.last != nil || !strings.Contains(br.body, `action="/mfa/verify"`) {
		t.Fatalf("consent skipped the second factor: sent back to the RP = %v, status %d", br.last, br.status)
	}
}
