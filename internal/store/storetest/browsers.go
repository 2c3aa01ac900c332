package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunBrowserTests runs the known-browsers part of the suite (the "sign-in from a new browser"
// notice) against one backend.
func RunBrowserTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t) // skip once, with the message, rather than once per test
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"browser first, new, known":     testBrowserLifecycle,
		"browser shared by two people":  testBrowserShared,
		"browser new once concurrent":   testBrowserConcurrent,
		"browser first once concurrent": testBrowserFirstConcurrent,
		"browser prune":                 testBrowserPrune,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

func seeBrowser(t *testing.T, st *store.Store, userID, hash string) (isNew, first bool) {
	t.Helper()
	isNew, first, err := st.SeeBrowser(ctx, userID, hash)
	if err != nil {
		t.Fatal(err)
	}
	return isNew, first
}

func testBrowserLifecycle(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "B")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	now := time.Unix(1_800_000_000, 0)
	st.SetClock(func() time.Time { return now })
	if isNew, first := seeBrowser(t, st, u.ID, "h1"); !isNew || !first {
		t.Errorf("the account's first browser: new %v, first %v; want both", isNew, first)
	}
	now = now.Add(time.Hour)
	if isNew, first := seeBrowser(t, st, u.ID, "h1"); isNew || first {
		t.Errorf("the same browser again: new %v, first %v; want neither", isNew, first)
	}
	if isNew, first := seeBrowser(t, st, u.ID, "h2"); !isNew || first {
		t.Errorf("a second browser: new %v, first %v; want new only", isNew, first)
	}
	bs, err := st.KnownBrowsers(ctx, u.ID)
	if err != nil || len(bs) != 2 {
		t.Fatalf("KnownBrowsers = %+v, %v", bs, err)
	}
	for _, b := range bs {
		if b.TokenHash == "h1" && (b.FirstSeen != now.Add(-time.Hour).Unix() || b.LastSeen != now.Unix()) {
			t.Errorf("h1 seen %d..%d, want %d..%d", b.FirstSeen, b.LastSeen, now.Add(-time.Hour).Unix(), now.Unix())
		}
		if b.ID == "" || b.UserID != u.ID {
			t.Errorf("row %+v", b)
		}
	}
}

// testBrowserShared: a family computer is new for each person who signs in on it.
func testBrowserShared(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "B")
	a := mustUser(t, st, tn.ID, "a@example.org")
	b := mustUser(t, st, tn.ID, "b@example.org")
	seeBrowser(t, st, a.ID, "old-a")
	seeBrowser(t, st, b.ID, "old-b")
	if isNew, _ := seeBrowser(t, st, a.ID, "family"); !isNew {
		t.Error("the family browser is not new for a")
	}
	if isNew, first := seeBrowser(t, st, b.ID, "family"); !isNew || first {
		t.Errorf("the family browser for b: new %v, first %v; want new only", isNew, first)
	}
	if isNew, _ := seeBrowser(t, st, a.ID, "old-b"); !isNew {
		t.Error("b's browser counted as known for a")
	}
}

// testBrowserConcurrent: two nodes finishing sign-ins from the same new browser at once report
// it new exactly once (one notice, one row).
func testBrowserConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "B")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	seeBrowser(t, st, u.ID, "old")
	const n = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for range n {
		wg.Go(func() {
			isNew, _, err := st.SeeBrowser(ctx, u.ID, "same")
			if err != nil {
				t.Error(err)
				return
			}
			if isNew {
				mu.Lock()
				news++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if bs, _ := st.KnownBrowsers(ctx, u.ID); news != 1 || len(bs) != 2 {
		t.Errorf("%d concurrent sign-ins: new %d times, %d rows; want 1 and 2", n, news, len(bs))
	}
}

// testBrowserFirstConcurrent: of several browsers signing in at once to an account that has
// none, exactly one is the first.
func testBrowserFirstConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "B")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	const n = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for i := range n {
		wg.Go(func() {
			_, first, err := st.SeeBrowser(ctx, u.ID, string(rune('a'+i)))
			if err != nil {
				t.Error(err)
				return
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("%d browsers at once on a new account: %d were first, want 1", n, firsts)
	}
}

func testBrowserPrune(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "B")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	now := time.Unix(1_800_000_000, 0)
	st.SetClock(func() time.Time { return now })
	seeBrowser(t, st, u.ID, "old")
	now = now.Add(300 * 24 * time.Hour)
	seeBrowser(t, st, u.ID, "recent")
	now = now.Add(100 * 24 * time.Hour)
	if err := st.PruneKnownBrowsers(ctx, 366*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	bs, _ := st.KnownBrowsers(ctx, u.ID)
	if len(bs) != 1 || bs[0].TokenHash != "recent" {
		t.Fatalf("after pruning: %+v, want only the recent browser", bs)
	}
	if isNew, first := seeBrowser(t, st, u.ID, "old"); !isNew || first {
		t.Errorf("a pruned browser: new %v, first %v; want new only", isNew, first)
	}
}
