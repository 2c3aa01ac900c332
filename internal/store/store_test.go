package store_test

import (
	"context"
	"path/filepath"
	"testing"

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestConformance runs the one storage suite on every backend.
func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { storetest.Run(t, b) })
		t.Run(b.Name+" factors", func(t *testing.T) { storetest.RunFactorTests(t, b) })
		t.Run(b.Name+" import", func(t *testing.T) { storetest.RunImportTests(t, b) })
		t.Run(b.Name+" account", func(t *testing.T) { storetest.RunAccountTests(t, b) })
		t.Run(b.Name+" registrations", func(t *testing.T) { storetest.RunRegistrationTests(t, b) })
		t.Run(b.Name+" call confirmations", func(t *testing.T) { storetest.RunCallTests(t, b) })
		t.Run(b.Name+" browsers", func(t *testing.T) { storetest.RunBrowserTests(t, b) })
		t.Run(b.Name+" passkeys", func(t *testing.T) { storetest.RunPasskeyTests(t, b) })
		t.Run(b.Name+" policy", func(t *testing.T) { storetest.RunPolicyTests(t, b) })
	}
}

// TestConcurrentMigrate: several nodes starting at once against one empty database must all
// come up, with the schema applied once.
func TestConcurrentMigrate(t *testing.T) {
	cases := map[string]func(t *testing.T) (driver, dsn string){
		"sqlite":   func(t *testing.T) (string, string) { return "sqlite", filepath.Join(t.TempDir(), "shared.db") },
		"postgres": func(t *testing.T) (string, string) { return "postgres", storetest.ScratchPostgres(t) },
	}
	for name, target := range cases {
		t.Run(name, func(t *testing.T) {
			driver, dsn := target(t)
			const nodes = 4
			errs := make(chan error, nodes)
			for range nodes {
				go func() {
					st, err := store.Open(driver, dsn)
					if err != nil {
						errs <- err
						return
					}
					defer st.Close()
					errs <- st.Migrate(context.Background(), tessera.Migrations())
				}()
			}
			for range nodes {
				if err := <-errs; err != nil {
					t.Errorf("node failed to start: %v", err)
				}
			}
		})
	}
}
