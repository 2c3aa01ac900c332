package storetest

import (
	"errors"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

// RunImportTests runs the part of the suite that `tessera user import` relies on: a person and
// their authenticator are written together or not at all, and an existing person is never
// overwritten.
func RunImportTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t) // skip once, with the message, rather than once per test
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"import user and factor":     testImportUserAndFactor,
		"import without factor":      testImportWithoutFactor,
		"import existing email":      testImportExistingEmail,
		"import rolls back the line": testImportRollsBack,
		"import same email at once":  testImportConcurrent,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

func importedTOTP() *store.Factor {
	return &store.Factor{ID: store.NewID(), Kind: "totp", Label: "Old portal app", SecretSealed: []byte("sealed"),
		Active: true, IsDefault: true}
}

func testImportUserAndFactor(t *testing.T, st *store.Store) {
	now, _ := fixedClock(t, st)
	tn := mustTenant(t, st, "I")
	u := &store.User{TenantID: tn.ID, Email: " Pat@Example.org ", Name: "Pat Smith", Role: store.RolePatient,
		Phone: "+12025550123", PhoneVerified: true, PasswordHash: "$2b$04$legacy", Locale: "es"}
	f := importedTOTP()
	sealedTo := f.ID
	if err := st.ImportUser(ctx, u, f); err != nil {
		t.Fatal(err)
	}
	got, err := st.UserByEmail(ctx, tn.ID, "pat@example.org")
	if err != nil || got.ID != u.ID || got.Email != "Pat@Example.org" || !got.PhoneVerified || got.Phone != "+12025550123" ||
		got.PasswordHash != "$2b$04$legacy" || got.Locale != "es" || got.CreatedAt != now().Unix() {
		t.Fatalf("imported user = %+v, %v", got, err)
	}
	act, err := st.ActiveFactors(ctx, u.ID)
	if err != nil || len(act) != 1 {
		t.Fatalf("active factors = %+v, %v; want the imported one", act, err)
	}
	a := act[0]
	if a.ID != sealedTo || a.UserID != u.ID || a.TenantID != tn.ID || !a.IsDefault || a.Label != "Old portal app" ||
		string(a.SecretSealed) != "sealed" || a.LastStep != 0 {
		t.Errorf("imported factor = %+v; want it active, default, under the id its secret was sealed to", a)
	}
}

func testImportWithoutFactor(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "I")
	u := &store.User{TenantID: tn.ID, Email: "lee@example.org", Role: store.RoleProvider} // no password: "Forgot password"
	if err := st.ImportUser(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := st.UserByID(ctx, u.ID); err != nil || got.PasswordHash != "" || got.Role != store.RoleProvider {
		t.Errorf("imported user = %+v, %v", got, err)
	}
	if act, _ := st.ActiveFactors(ctx, u.ID); len(act) != 0 {
		t.Errorf("a factor appeared: %+v", act)
	}
}

func testImportExistingEmail(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "I")
	old := &store.User{TenantID: tn.ID, Email: "pat@example.org", Name: "Pat Original", Role: store.RolePatient, PasswordHash: "$argon2id$old"}
	if err := st.CreateUser(ctx, old); err != nil {
		t.Fatal(err)
	}
	u := &store.User{TenantID: tn.ID, Email: "PAT@example.org", Name: "Pat Imported", Role: store.RoleAdmin, PasswordHash: "$2b$04$new"}
	f := importedTOTP()
	if err := st.ImportUser(ctx, u, f); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("import over an existing email: err = %v, want ErrConflict", err)
	}
	got, _ := st.UserByEmail(ctx, tn.ID, "pat@example.org")
	if got.ID != old.ID || got.Name != "Pat Original" || got.Role != store.RolePatient || got.PasswordHash != "$argon2id$old" {
		t.Errorf("the existing person changed: %+v", got)
	}
	if act, _ := st.ActiveFactors(ctx, old.ID); len(act) != 0 {
		t.Errorf("the existing person got the imported factor: %+v", act)
	}
	if _, err := st.FactorByID(ctx, u.ID, f.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused line's factor was written: %v", err)
	}
	// The same email in another tenant is another person.
	other := mustTenant(t, st, "J")
	if err := st.ImportUser(ctx, &store.User{TenantID: other.ID, Email: "pat@example.org", Role: store.RolePatient}, nil); err != nil {
		t.Errorf("same email, other tenant: %v", err)
	}
}

// testImportRollsBack: when the factor cannot be written the person is not written either.
func testImportRollsBack(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "I")
	first := importedTOTP()
	if err := st.ImportUser(ctx, &store.User{TenantID: tn.ID, Email: "a@example.org", Role: store.RolePatient}, first); err != nil {
		t.Fatal(err)
	}
	clash := importedTOTP()
	clash.ID = first.ID // the user row goes in, then the factor row fails
	u := &store.User{TenantID: tn.ID, Email: "b@example.org", Role: store.RolePatient}
	if err := st.ImportUser(ctx, u, clash); err == nil {
		t.Fatal("a factor with a taken id was written")
	}
	if _, err := st.UserByEmail(ctx, tn.ID, "b@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user of a line whose factor failed was kept: %v", err)
	}
	if _, err := st.UserByID(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user of a line whose factor failed was kept: %v", err)
	}
	if err := st.ImportUser(ctx, &store.User{TenantID: tn.ID, Email: "c@example.org", Role: store.RolePatient},
		&store.Factor{}); err == nil {
		t.Error("a factor without a kind was accepted")
	}
	if _, err := st.UserByEmail(ctx, tn.ID, "c@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user of a refused factor was kept: %v", err)
	}
}

// testImportConcurrent: two imports of one email at once (two operators, two nodes) write one
// person; the other gets ErrConflict, never a half-written line.
func testImportConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "I")
	const n = 4
	factors := make([]*store.Factor, n)
	won := parallel(t, n, func(i int) (bool, error) {
		factors[i] = importedTOTP()
		err := st.ImportUser(ctx, &store.User{TenantID: tn.ID, Email: "pat@example.org", Role: store.RolePatient}, factors[i])
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return err == nil, err
	})
	if won != 1 {
		t.Fatalf("%d imports of one email succeeded, want exactly 1", won)
	}
	u, err := st.UserByEmail(ctx, tn.ID, "pat@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if act, _ := st.ActiveFactors(ctx, u.ID); len(act) != 1 {
		t.Errorf("the winner has %d factors, want 1", len(act))
	}
	for _, f := range factors {
		if _, err := st.FactorByID(ctx, u.ID, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Error(err)
		}
	}
}
