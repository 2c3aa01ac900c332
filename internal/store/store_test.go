package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

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
		t.Run(b.Name+" console", func(t *testing.T) { storetest.RunConsoleTests(t, b) })
		t.Run(b.Name+" proxy", func(t *testing.T) { storetest.RunProxyTests(t, b) })
		t.Run(b.Name+" admin", func(t *testing.T) { storetest.RunAdminTests(t, b) })
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

// TestHotReadsMatchGorm: the hand-written reads of the hot paths (hot.go) return exactly what
// gorm's First returns, every column included, NULLs and set values alike.
func TestHotReadsMatchGorm(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Hot"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			pr := &store.Practice{TenantID: tn.ID, Name: "Clinic"}
			if err := st.CreatePractice(ctx, pr); err != nil {
				t.Fatal(err)
			}
			practice := pr.ID
			locked := int64(1234)
			full := &store.User{TenantID: tn.ID, PracticeID: &practice, Email: "Full@example.org", EmailVerified: true,
				Name: "Pat Smith", GivenName: "Pat", FamilyName: "Smith", Phone: "+12025550123", PhoneVerified: true,
				PhoneLineType: "mobile", Role: store.RoleProvider, PasswordHash: "$argon2id$x", Locale: "es",
				Disabled: true, MFAFailures: 3, LockedAt: &locked, LastOtherMFAAt: &locked, FHIRUser: "Practitioner/123"}
			// Every field set, so a column added to the model and missed in hot.go shows here.
			fv := reflect.ValueOf(full).Elem()
			for i := range fv.NumField() {
				if name := fv.Type().Field(i).Name; fv.Field(i).IsZero() && !slices.Contains([]string{"ID", "EmailLower", "CreatedAt", "UpdatedAt"}, name) {
					t.Errorf("set User.%s in this test: hot.go must read every column", name)
				}
			}
			bare := &store.User{TenantID: tn.ID, Email: "bare@example.org", Role: store.RolePatient}
			for _, u := range []*store.User{full, bare} {
				if err := st.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				got, err := st.UserByID(ctx, u.ID)
				want, werr := st.GormUserByID(ctx, u.ID)
				if err != nil || werr != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("UserByID = %+v, %v\ngorm      %+v, %v", got, err, want, werr)
				}
			}
			if _, err := st.UserByID(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown user: %v", err)
			}
			rt := &store.RefreshToken{TokenHash: "hot-1", ClientID: "c", TenantID: tn.ID, UserID: full.ID, Scopes: "openid",
				Audience: "c", AuthTime: 99, AMR: "pwd otp", ACR: "urn:x", SessionID: "s", AuthRequestID: "a"}
			if err := st.IssueRefreshToken(ctx, rt, time.Hour, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			next := &store.RefreshToken{TokenHash: "hot-2", ClientID: "c", TenantID: tn.ID, UserID: full.ID}
			if err := st.RotateRefreshToken(ctx, rt, next, time.Hour); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"hot-1", "hot-2"} {
				got, err := st.PeekRefreshToken(ctx, h)
				want, werr := st.GormRefreshByHash(ctx, h)
				if err != nil || werr != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("refresh %s = %+v, %v\ngorm        %+v, %v", h, got, err, want, werr)
				}
			}
		})
	}
}

// BenchmarkUserByID compares the hand-written read (hot.go) with gorm's First, on SQLite.
func BenchmarkUserByID(b *testing.B) {
	ctx := context.Background()
	st := storetest.OpenSQLite(b)
	tn := &store.Tenant{Name: "Bench"}
	st.CreateTenant(ctx, tn)
	u := &store.User{TenantID: tn.ID, Email: "pat@example.org", Name: "Pat Smith", Role: store.RolePatient}
	if err := st.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	for name, read := range map[string]func(context.Context, string) (*store.User, error){
		"raw": st.UserByID, "gorm": st.GormUserByID,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := read(ctx, u.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
