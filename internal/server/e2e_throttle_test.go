package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestPasswordThrottle: a few typos cost nothing; past five failures the account waits longer
// and longer from that address — even the right password is refused while it waits, so the wait
// cannot be probed — and it never turns into a lockout.
func TestPasswordThrottle(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	br := newBrowser(t)
	u, _ := r.authURL()
	for i := 1; i <= 6; i++ {
		br.get(u)
		br.submitLogin(e.issuer, "pat@example.org", "wrong guess")
		if br.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, br.status)
		}
	}
	br.get(u)
	br.submitLogin(e.issuer, "PAT@example.org", "correct horse battery")
	if br.status != http.StatusTooManyRequests || !strings.Contains(br.body, "Too many sign-in attempts") || br.last != nil {
		t.Fatalf("right password during the delay: %d %v", br.status, br.last)
	}
	// Another account from the same address is not slowed down by Pat's failures.
	e.user("sam@example.org", "another good pass")
	other := newBrowser(t)
	if _, idt := r.login(other, "sam@example.org", "another good pass"); idt.Subject == "" {
		t.Fatal("another account was slowed down by Pat's failures")
	}
	// After the wait, the right password works and the count starts again.
	later := func() time.Time { return time.Now().Add(5 * time.Second) }
	e.st.SetClock(later)
	e.node.Login.SetClock(later)
	defer e.st.SetClock(time.Now)
	if _, idt := r.login(newBrowser(t), "pat@example.org", "correct horse battery"); idt.Subject == "" {
		t.Fatal("sign-in after the wait failed")
	}
}

// TestLockedAccount: a locked account cannot sign in; only the right password reveals why (so a
// stranger learns nothing), and unlocking restores access.
func TestLockedAccount(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	for range 7 {
		e.st.MFAFailure(e.ctx, u.ID, 7)
	}
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "wrong guess")
	if br.status != http.StatusUnauthorized || strings.Contains(br.body, "locked") {
		t.Errorf("wrong password on a locked account must look like any wrong password: %d", br.status)
	}
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if br.status != http.StatusForbidden || br.last != nil || !strings.Contains(br.body, "practice administrator") {
		t.Fatalf("locked account: %d %v", br.status, br.last)
	}
	if _, err := e.st.Unlock(e.ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, idt := r.login(newBrowser(t), "pat@example.org", "correct horse battery"); idt.Subject != u.ID {
		t.Fatal("sign-in after unlock failed")
	}
}
