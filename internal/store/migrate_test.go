package store_test

import (
	"context"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// migrationsUpTo is the embedded migrations numbered at most version.
func migrationsUpTo(t *testing.T, version int) fs.FS {
	t.Helper()
	full, out := tessera.Migrations(), fstest.MapFS{}
	err := fs.WalkDir(full, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n, err := strconv.Atoi(strings.SplitN(path.Base(p), "_", 2)[0])
		if err != nil || n > version {
			return nil
		}
		data, err := fs.ReadFile(full, p)
		out[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFirstBrowserBackfill: migration 00100 marks everyone who already had a known browser, so
// their next new browser still gets the "new browser" notice (it is not taken for the account's
// first), while a person with none still gets their first browser recorded quietly.
func TestFirstBrowserBackfill(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var st *store.Store
			var err error
			if name == "sqlite" {
				st, err = store.Open("sqlite", t.TempDir()+"/backfill.db")
			} else {
				st, err = store.Open("postgres", storetest.ScratchPostgres(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(ctx, migrationsUpTo(t, 95)); err != nil {
				t.Fatal(err)
			}
			tn := &store.Tenant{Name: "Backfill"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			seen := &store.User{TenantID: tn.ID, Email: "seen@example.org", Role: store.RolePatient}
			fresh := &store.User{TenantID: tn.ID, Email: "fresh@example.org", Role: store.RolePatient}
			for _, u := range []*store.User{seen, fresh} {
				if err := st.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.ExecRaw(ctx, `INSERT INTO known_browsers (id, user_id, token_hash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)`,
				"kb1", seen.ID, "old-browser", 1_700_000_000, 1_700_000_000); err != nil {
				t.Fatal(err)
			}
			if err := st.Migrate(ctx, tessera.Migrations()); err != nil {
				t.Fatal(err)
			}
			if isNew, first, err := st.SeeBrowser(ctx, seen.ID, "new-browser"); err != nil || !isNew || first {
				t.Errorf("a new browser of someone with one before the migration: new %v, first %v, %v; want new, not first", isNew, first, err)
			}
			if isNew, first, err := st.SeeBrowser(ctx, fresh.ID, "their-first"); err != nil || !isNew || !first {
				t.Errorf("the first browser of someone with none: new %v, first %v, %v; want both", isNew, first, err)
			}
		})
	}
}
