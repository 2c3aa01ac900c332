package server_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// logoutRP is a relying party's back-channel logout endpoint on 127.0.0.1: it answers with the
// statuses it is told to (then 200) and keeps every logout token it was sent.
type logoutRP struct {
	t        *testing.T
	addr     string
	mu       sync.Mutex
	statuses []int
	tokens   []string
	srv      *http.Server
}

func newLogoutRP(t *testing.T, statuses ...int) *logoutRP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &logoutRP{t: t, addr: ln.Addr().String(), statuses: statuses}
	rp.serve(ln)
	t.Cleanup(func() { rp.srv.Close() })
	return rp
}

func (rp *logoutRP) serve(ln net.Listener) {
	rp.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.ParseForm()
		rp.mu.Lock()
		defer rp.mu.Unlock()
		rp.tokens = append(rp.tokens, r.PostForm.Get("logout_token"))
		status := http.StatusOK
		if len(rp.statuses) > 0 {
			status, rp.statuses = rp.statuses[0], rp.statuses[1:]
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	})}
	go rp.srv.Serve(ln)
}

// down closes the endpoint (connections are refused); up listens on the same address again.
func (rp *logoutRP) down() { rp.srv.Close() }
func (rp *logoutRP) up() {
	ln, err := net.Listen("tcp", rp.addr)
	if err != nil {
		rp.t.Fatalf("listen again on %s: %v", rp.addr, err)
	}
	rp.serve(ln)
}

func (rp *logoutRP) uri() string { return "http://" + rp.addr + "/backchannel-logout" }

func (rp *logoutRP) received() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.tokens...)
}

// checkLogoutToken verifies a logout token as an RP must (Back-Channel Logout 1.0 §2.6): the
// signature against the published keys, iss, aud and exp (go-oidc's verifier), typ logout+jwt,
// the events claim, sub and sid as in the ID token, a jti, and no nonce.
func checkLogoutToken(t *testing.T, r *rp, raw string, idt *oidc.IDToken) {
	t.Helper()
	tok, err := r.verifier.Verify(r.e.ctx, raw)
	if err != nil {
		t.Fatalf("logout token does not verify: %v", err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "logout+jwt" {
		t.Errorf("typ = %v, want logout+jwt", typ)
	}
	var c map[string]any
	tok.Claims(&c)
	events, _ := c["events"].(map[string]any)
	if ev, ok := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(ev) != 0 {
		t.Errorf("events = %v", c["events"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token must not carry a nonce")
	}
	if c["sid"] != claims(t, idt)["sid"] || c["sid"] == nil || tok.Subject != idt.Subject {
		t.Errorf("sid %v sub %v, want the ID token's %v %v", c["sid"], tok.Subject, claims(t, idt)["sid"], idt.Subject)
	}
	if c["jti"] == nil || c["iat"] == nil || c["exp"] == nil {
		t.Errorf("jti, iat, exp: %v", c)
	}
}

func backchannelEnv(t *testing.T, b storetest.Backend) *env {
	// The logout request waits for the first attempt to finish, so what the RP received can be
	// checked when the browser is back; the default is a short bound.
	return newEnv(t, b, func(o *server.Options) { o.LogoutWait = time.Minute })
}

// TestBackChannelLogout: RP-initiated logout sends a signed logout token to every RP the session
// signed in to that registered a back-channel logout URI (and only to those), the RP can verify
// it, and each delivery is audited; the RPs of another session hear nothing.
func TestBackChannelLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := backchannelEnv(t, b)
		portal, scheduling := newLogoutRP(t), newLogoutRP(t)
		id1, sec1 := e.client(store.ClientWeb, func(c *store.Client) { c.BackchannelLogoutURI = portal.uri() })
		id2, sec2 := e.client(store.ClientWeb, func(c *store.Client) {
			c.Name, c.BackchannelLogoutURI, c.IDTokenAlg = "Riverside Scheduling", scheduling.uri(), "RS256"
		})
		id3, sec3 := e.client(store.ClientWeb, func(c *store.Client) { c.Name = "No back channel" })
		u := e.user("pat@example.org", "correct horse battery")
		e.user("sam@example.org", "correct horse battery")
		rp1, rp2, rp3 := e.rp(id1, sec1), e.rp(id2, sec2), e.rp(id3, sec3)

		br := newBrowser(t)
		tok1, idt1 := rp1.login(br, "pat@example.org", "correct horse battery")
		_, idt2 := rp2.login(br, "pat@example.org", "correct horse battery") // single sign-on
		rp3.login(br, "pat@example.org", "correct horse battery")
		other := newBrowser(t) // another person's session with the portal
		rp1.login(other, "sam@example.org", "correct horse battery")
		if claims(t, idt1)["sid"] == nil || claims(t, idt1)["sid"] != claims(t, idt2)["sid"] {
			t.Fatalf("sid: %v / %v", claims(t, idt1)["sid"], claims(t, idt2)["sid"])
		}
		if n := len(portal.received()) + len(scheduling.received()); n != 0 {
			t.Fatalf("%d logout tokens before anyone signed out", n)
		}

		q := url.Values{"id_token_hint": {tok1.Extra("id_token").(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:1/rp/logged-out"}}
		br.get(e.issuer + "/end_session?" + q.Encode())
		if br.last == nil || br.last.Path != "/rp/logged-out" {
			t.Fatalf("logout did not return to the RP: %v (%d)", br.last, br.status)
		}
		got1, got2 := portal.received(), scheduling.received()
		if len(got1) != 1 || len(got2) != 1 {
			t.Fatalf("logout tokens: portal %d, scheduling %d; want 1 each", len(got1), len(got2))
		}
		checkLogoutToken(t, rp1, got1[0], idt1)
		checkLogoutToken(t, rp2, got2[0], idt2) // signed with the algorithm the client registered
		if _, err := rp1.verifier.Verify(e.ctx, got2[0]); err == nil {
			t.Error("the scheduling app's logout token verifies for the portal (aud)")
		}
		if n := e.auditCount(t, u.ID, "logout.backchannel", "ok", ""); n != 2 {
			t.Errorf("%d audited deliveries, want 2", n)
		}
		// A second logout of the same session sends nothing again.
		e.node.Provider.DeliverLogouts(e.ctx, time.Now().Add(time.Hour))
		if len(portal.received()) != 1 {
			t.Errorf("the portal was told twice")
		}
	})
}

// TestBackChannelLogoutRetry: an RP that is down, then answers 503, gets the logout token on a
// later pass of the queue, with backoff between attempts; each attempt is audited.
func TestBackChannelLogoutRetry(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := backchannelEnv(t, b)
		rpEnd := newLogoutRP(t, http.StatusServiceUnavailable)
		id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.BackchannelLogoutURI = rpEnd.uri() })
		u := e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)
		br := newBrowser(t)
		tok, idt := r.login(br, "pat@example.org", "correct horse battery")
		sid := claims(t, idt)["sid"].(string)

		rpEnd.down()
		br.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode())
		if br.status != 200 {
			t.Fatalf("logout with the RP down: %d", br.status)
		}
		ds, err := e.st.LogoutDeliveries(e.ctx, sid)
		if err != nil || len(ds) != 1 || ds[0].Attempts != 1 || ds[0].Result != "" {
			t.Fatalf("after the first attempt: %+v %v", ds, err)
		}
		rpEnd.up()
		// Not due yet: the backoff holds the next attempt back.
		if n, err := e.node.Provider.DeliverLogouts(e.ctx, time.Now()); n != 0 || err != nil {
			t.Errorf("a pass before the backoff attempted %d (%v)", n, err)
		}
		// Due: the RP answers 503, so it stays queued.
		if n, err := e.node.Provider.DeliverLogouts(e.ctx, time.Now().Add(time.Minute)); n != 1 || err != nil {
			t.Fatalf("second pass attempted %d (%v)", n, err)
		}
		if got := rpEnd.received(); len(got) != 1 {
			t.Fatalf("the RP saw %d requests, want 1 (the 503)", len(got))
		}
		// Due again: delivered.
		if n, err := e.node.Provider.DeliverLogouts(e.ctx, time.Now().Add(time.Hour)); n != 1 || err != nil {
			t.Fatalf("third pass attempted %d (%v)", n, err)
		}
		got := rpEnd.received()
		if len(got) != 2 {
			t.Fatalf("the RP saw %d requests, want 2", len(got))
		}
		checkLogoutToken(t, r, got[1], idt)
		ds, _ = e.st.LogoutDeliveries(e.ctx, sid)
		if ds[0].Result != store.LogoutDelivered || ds[0].Attempts != 3 {
			t.Errorf("delivery: %+v", ds[0])
		}
		if n := e.node.Provider; n != nil {
			if c, _ := n.DeliverLogouts(e.ctx, time.Now().Add(24*time.Hour)); c != 0 {
				t.Errorf("a delivered token was sent again (%d)", c)
			}
		}
		if e.auditCount(t, u.ID, "logout.backchannel", "retry", "") != 2 || e.auditCount(t, u.ID, "logout.backchannel", "ok", "") != 1 {
			es, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, u.ID, 100)
			b, _ := json.Marshal(es)
			t.Errorf("audit: %s", b)
		}
	})
}

// TestBackChannelLogoutGivesUp: an RP that never answers is attempted a bounded number of times,
// then the delivery is recorded as failed and audited.
func TestBackChannelLogoutGivesUp(t *testing.T) {
	e := backchannelEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	rpEnd := newLogoutRP(t)
	rpEnd.down()
	id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.BackchannelLogoutURI = rpEnd.uri() })
	u := e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	br := newBrowser(t)
	tok, idt := r.login(br, "pat@example.org", "correct horse battery")
	br.get(e.issuer + "/end_session?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode())
	at := time.Now()
	for i := 0; i < 20; i++ {
		at = at.Add(2 * time.Hour)
		e.node.Provider.DeliverLogouts(e.ctx, at)
	}
	ds, _ := e.st.LogoutDeliveries(e.ctx, claims(t, idt)["sid"].(string))
	if len(ds) != 1 || ds[0].Result != store.LogoutFailed || ds[0].Attempts < 3 || ds[0].Attempts > 10 {
		t.Fatalf("delivery: %+v", ds)
	}
	if e.auditCount(t, u.ID, "logout.backchannel", "failed", "") != 1 {
		t.Error("giving up is not audited")
	}
}

// TestBackChannelLogoutNewPerson: when another person signs in on the same browser, the first
// person's session ends, and the queue (the worker's pass) tells its RPs.
func TestBackChannelLogoutNewPerson(t *testing.T) {
	e := backchannelEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	rpEnd := newLogoutRP(t)
	id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.BackchannelLogoutURI = rpEnd.uri() })
	e.user("pat@example.org", "correct horse battery")
	e.user("sam@example.org", "correct horse battery")
	r := e.rp(id, sec)
	br := newBrowser(t)
	_, pat := r.login(br, "pat@example.org", "correct horse battery")
	_, sam := r.login(br, "sam@example.org", "correct horse battery", oauth2.SetAuthURLParam("prompt", "login"))
	if sam.Subject == pat.Subject {
		t.Fatal("the second sign-in is the same person")
	}
	if n, err := e.node.Provider.DeliverLogouts(e.ctx, time.Now()); n != 1 || err != nil {
		t.Fatalf("worker pass attempted %d (%v), want 1", n, err)
	}
	got := rpEnd.received()
	if len(got) != 1 {
		t.Fatalf("the RP got %d logout tokens, want 1", len(got))
	}
	checkLogoutToken(t, r, got[0], pat)
}
