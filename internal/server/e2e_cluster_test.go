package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestLockoutAcrossTwoNodes: two Tessera nodes, each with its own connection pool, on one
// PostgreSQL database, each behind its own listener. Fifty browsers, each signed in with the
// password on one node or the other, post a wrong authenticator code at the same moment. The one
// counter per person ends at exactly seven, the account is locked, and the audit trail holds
// exactly seven failed answers and one lock (the guesses that lost the race to the lock are
// recorded as refused, not as failures) — and its hash chain, written by both nodes at once,
// verifies.
func TestLockoutAcrossTwoNodes(t *testing.T) {
	ctx := context.Background()
	a, b, key := twoNodes(t)
	tn := a.tenant
	id, sec := a.client(store.ClientWeb, nil)
	u := a.user("pat@example.org", "correct horse battery")
	secretKey := enrollDirect(t, a, u)
	wrong := wrongCode(t, secretKey)
	nodes := []*env{a, b}
	rps := []*rp{a.rp(id, sec), b.rp(id, sec)}

	const n = 50
	browsers := make([]*browser, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	// Everyone signs in first (the lock would stop later sign-ins at the password).
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, r, br := nodes[i%2], rps[i%2], newBrowser(t)
			start, _ := r.authURL()
			resp, err := br.c.Get(start)
			if err != nil {
				errs <- err
				return
			}
			br.read(resp)
			f := br.formFields()
			f.Set("email", "pat@example.org")
			f.Set("password", "correct horse battery")
			if resp, err = br.c.PostForm(e.issuer+"/login", f); err != nil {
				errs <- err
				return
			}
			br.read(resp)
			if !strings.Contains(br.body, `action="/mfa/verify"`) {
				errs <- fmt.Errorf("browser %d on node %d: no code page after the password: %d", i, i%2, br.status)
				return
			}
			browsers[i] = br
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Then fifty wrong codes at once, half on each node.
	statuses := make([]int, n)
	startGun := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := browsers[i]
			f := br.formFields()
			f.Set("code", wrong)
			<-startGun
			resp, err := br.c.PostForm(nodes[i%2].issuer+"/mfa/verify", f)
			if err != nil {
				return // statuses[i] stays 0 and fails below
			}
			br.read(resp)
			statuses[i] = br.status
		}()
	}
	close(startGun)
	wg.Wait()
	for i, s := range statuses {
		if s != 401 && s != 403 {
			t.Errorf("browser %d: status %d, want 401 (attempts left) or 403 (locked)", i, s)
		}
	}

	got, err := a.st.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MFAFailures != 7 || got.LockedAt == nil {
		t.Errorf("users.mfa_failures = %d, locked %t; want exactly 7 and locked", got.MFAFailures, got.LockedAt != nil)
	}
	events, err := a.st.AuditEvents(ctx, tn.ID, u.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Event+" "+ev.Result]++
	}
	if count["mfa.totp failed"] != 7 || count["user.locked ok"] != 1 {
		t.Errorf("audit: %d mfa.totp failed, %d user.locked; want 7 and 1 (all: %v)", count["mfa.totp failed"], count["user.locked ok"], count)
	}
	if count["mfa.totp failed"]+count["mfa.totp locked"] > n {
		t.Errorf("more answers audited than were posted: %v", count)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	if problems, _, err := audit.Verify(ctx, b.st, box.Hasher("audit-chain"), tn.ID); err != nil || len(problems) != 0 {
		t.Errorf("the audit chain written by two nodes does not verify: %v %v", problems, err)
	}
}

// twoNodes starts two nodes on one scratch PostgreSQL database (skipping, with the message,
// without TESSERA_TEST_POSTGRES_URL) with one tenant, and returns the cluster's secret key.
func twoNodes(t *testing.T) (a, b *env, key []byte) {
	dsn := storetest.ScratchPostgres(t)
	key = make([]byte, 32)
	rand.Read(key)
	a, b = clusterNode(t, dsn, key, true), clusterNode(t, dsn, key, false)
	tn := &store.Tenant{Name: "Riverside Health"}
	if err := a.st.CreateTenant(a.ctx, tn); err != nil {
		t.Fatal(err)
	}
	a.tenant, b.tenant = tn, tn
	return a, b, key
}

// clusterNode is one Tessera node of a cluster on the PostgreSQL database dsn: its own store
// handle (and pool), its own listener, the cluster's secret key, caches off.
func clusterNode(t *testing.T, dsn string, key []byte, migrate bool) *env {
	ctx := context.Background()
	t.Helper()
	st, err := store.Open("postgres", dsn) // a separate handle (and pool) per node
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if migrate {
		if err := st.Migrate(ctx, tessera.Migrations()); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	opts := server.Defaults(issuer, key) // one secret key for the cluster
	opts.Password = password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, KeyLen: 32, SaltLen: 16}
	opts.CacheTTL = 0
	n, err := server.New(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(n.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{t: t, node: n, ts: ts, issuer: issuer, st: st, ctx: ctx}
}

// TestKeyRotationAcrossNodes: a key rotated through one node (as `tessera keys rotate` does,
// against the shared database) is the key every node signs with once it is active, and every
// node publishes both the new key and the retired one, so tokens signed just before still verify.
func TestKeyRotationAcrossNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	id, sec := a.client(store.ClientWeb, nil)
	a.user("pat@example.org", "correct horse battery")
	onB := b.rp(id, sec)
	kidOf := func(tok *oauth2.Token) string {
		t.Helper()
		raw, _ := tok.Extra("id_token").(string)
		head, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		var h struct{ Kid string }
		if err != nil || json.Unmarshal(head, &h) != nil || h.Kid == "" {
			t.Fatalf("ID token header %q: %v", raw, err)
		}
		return h.Kid
	}
	published := func(e *env) []string {
		t.Helper()
		resp, err := http.Get(e.issuer + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []struct{ Kid string } }
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}

	before, _ := onB.login(newBrowser(t), "pat@example.org", "correct horse battery")
	oldKid := kidOf(before)
	newKid, from, err := a.node.Keys.Rotate(a.ctx, jose.ES256) // the cluster's cache TTL is 0: active at once
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(from) > time.Second {
		t.Fatalf("the new key starts at %v", from)
	}
	time.Sleep(time.Until(from))
	after, _ := onB.login(newBrowser(t), "pat@example.org", "correct horse battery")
	if got := kidOf(after); got != newKid || got == oldKid {
		t.Errorf("node B signs with %s after node A rotated to %s (old %s)", got, newKid, oldKid)
	}
	for _, e := range []*env{a, b} {
		if kids := published(e); !slices.Contains(kids, newKid) || !slices.Contains(kids, oldKid) {
			t.Errorf("%s publishes %v; want the new key %s and the retired %s", e.issuer, kids, newKid, oldKid)
		}
	}
	// The token signed before the rotation still verifies against node B's published keys.
	if _, err := onB.verifier.Verify(b.ctx, before.Extra("id_token").(string)); err != nil {
		t.Errorf("a token signed before the rotation no longer verifies: %v", err)
	}
}

// TestPendingRequestCompletedElsewhere: a node serves a sign-in's pages from the authorization
// request it remembers as pending (oidcop/pending.go). When the same request was completed on
// another node meanwhile, this node's page still shows, but the sign-in there ends on an error
// page and no second code is issued; after that the node reads the request from the database
// and says it was completed.
func TestPendingRequestCompletedElsewhere(t *testing.T) {
	a, b, _ := twoNodes(t)
	id, sec := a.client(store.ClientWeb, nil)
	a.user("pat@example.org", "correct horse battery")
	onA := a.rp(id, sec)
	start, f := onA.authURL()
	first := newBrowser(t)
	first.get(start) // node A creates the request and shows its sign-in page
	arID := first.formFields().Get("authRequestID")
	if first.status != http.StatusOK || arID == "" {
		t.Fatalf("sign-in page on node A: %d %.300s", first.status, first.body)
	}

	second := newBrowser(t)
	second.get(b.issuer + "/login?authRequestID=" + url.QueryEscape(arID))
	second.submitLogin(b.issuer, "pat@example.org", "correct horse battery")
	if _, idt := onA.exchange(second.code(f), f); idt.Subject == "" {
		t.Fatal("no subject in the ID token")
	}

	first.submitLogin(a.issuer, "pat@example.org", "correct horse battery")
	if first.last != nil || first.status != http.StatusBadRequest {
		t.Errorf("completing the request again on node A: sent back to the application (%v) or status %d, want an error page", first.last, first.status)
	}
	first.get(a.issuer + "/login?authRequestID=" + url.QueryEscape(arID))
	if first.status != http.StatusBadRequest || !strings.Contains(first.body, "already completed") {
		t.Errorf("the completed request on node A: %d %.300s", first.status, first.body)
	}
}
