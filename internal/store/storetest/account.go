package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

// RunAccountTests runs the account-console part of the suite (its built-in client, factor
// removal and replacement) against one backend.
func RunAccountTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t)
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"account client concurrent": testAccountClientConcurrent,
		"sole tenant":               testSoleTenant,
		"remove last factor":        testRemoveLastFactor,
		"remove factor concurrent":  testRemoveFactorConcurrent,
		"activate replacing":        testActivateReplacing,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

// testAccountClientConcurrent: many callers at once end with one client, all seeing it; a
// changed issuer corrects its redirect URI.
func testAccountClientConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := st.EnsureAccountClient(ctx, tn.ID, "https://id.example/account/callback")
			if err == nil && (c.ID != store.AccountClientID(tn.ID) || c.Type != store.ClientPublic || !c.FirstParty) {
				err = errors.New("wrong client " + c.ID + " " + c.Type)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.EnsureAccountClient(ctx, tn.ID, "https://login.example/account/callback")
	if err != nil || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != "https://login.example/account/callback" {
		t.Fatalf("redirect not corrected: %v %v", c, err)
	}
	if got, _ := st.ClientByID(ctx, c.ID); got.RedirectURIs[0] != "https://login.example/account/callback" || got.Name != store.AccountClientName {
		t.Fatalf("stored: %+v", got)
	}
}

func testSoleTenant(t *testing.T, st *store.Store) {
	if _, err := st.SoleTenant(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no tenant: %v", err)
	}
	a := mustTenant(t, st, "A")
	if got, err := st.SoleTenant(ctx); err != nil || got.ID != a.ID {
		t.Fatalf("one tenant: %v %v", got, err)
	}
	mustTenant(t, st, "B")
	if _, err := st.SoleTenant(ctx); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("two tenants: %v", err)
	}
}

func activeFactor(t *testing.T, st *store.Store, u *store.User, kind string) *store.Factor {
	t.Helper()
	f := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: kind, Label: kind}
	if err := st.CreateFactor(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateFactor(ctx, u.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func accountUser(t *testing.T, st *store.Store) *store.User {
	t.Helper()
	tn := mustTenant(t, st, "Riverside")
	u := &store.User{TenantID: tn.ID, Email: "pat@example.org", Role: store.RolePatient}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func testRemoveLastFactor(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	app := activeFactor(t, st, u, "totp")
	email := activeFactor(t, st, u, "email")
	keep := []string{"totp", "passkey"}
	if err := st.RemoveFactor(ctx, u.ID, app.ID, keep); !errors.Is(err, store.ErrLastFactor) {
		t.Fatalf("removing the only allowed factor: %v", err)
	}
	if err := st.RemoveFactor(ctx, u.ID, email.ID, keep); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveFactor(ctx, "someone-else", app.ID, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another person's factor: %v", err)
	}
	if err := st.RemoveFactor(ctx, u.ID, app.ID, nil); err != nil {
		t.Fatalf("no policy: %v", err)
	}
	if fs, _ := st.ActiveFactors(ctx, u.ID); len(fs) != 0 {
		t.Fatalf("left: %+v", fs)
	}
}

// testRemoveFactorConcurrent: two removals of a person's two factors at once leave one.
func testRemoveFactorConcurrent(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	a := activeFactor(t, st, u, "totp")
	b := activeFactor(t, st, u, "sms")
	keep := []string{"totp", "sms"}
	var wg sync.WaitGroup
	for _, id := range []string{a.ID, b.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.RemoveFactor(ctx, u.ID, id, keep); err != nil && !errors.Is(err, store.ErrLastFactor) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	fs, _ := st.ActiveFactors(ctx, u.ID)
	if len(fs) != 1 || !fs[0].IsDefault {
		t.Fatalf("after two racing removals: %+v", fs)
	}
}

func testActivateReplacing(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	old := activeFactor(t, st, u, "totp")
	activeFactor(t, st, u, "email")
	next := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "totp", Label: "new"}
	if err := st.CreateFactor(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateReplacing(ctx, "someone-else", next.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another person's factor: %v", err)
	}
	if err := st.ActivateReplacing(ctx, u.ID, next.ID); err != nil {
		t.Fatal(err)
	}
	fs, _ := st.ActiveFactors(ctx, u.ID)
	if len(fs) != 2 || fs[0].ID != next.ID || !fs[0].IsDefault || fs[1].IsDefault {
		t.Fatalf("the new app must replace the old one as the default: %+v", fs)
	}
	if _, err := st.FactorByID(ctx, u.ID, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old app still there: %v", err)
	}
	if err := st.ActivateReplacing(ctx, u.ID, next.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("activating twice: %v", err)
	}
}
