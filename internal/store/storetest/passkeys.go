package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunPasskeyTests runs the passkey part of the suite against one backend.
func RunPasskeyTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t)
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"passkey create, find, use, remove": testPasskeyLifecycle,
		"passkey counter regression":        testPasskeyCounter,
		"passkey ceremony used once":        testPasskeyCeremony,
		"passkey other MFA time":            testPasskeyOtherMFA,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

func testPasskeyLifecycle(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "P")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	other := mustUser(t, st, tn.ID, "sam@example.org")
	pk := &store.Passkey{UserID: u.ID, TenantID: tn.ID, CredentialID: "cred-1", PublicKey: []byte{1, 2, 3}, Name: "My phone", SignCount: 3}
	if err := st.CreatePasskey(ctx, pk); err != nil {
		t.Fatal(err)
	}
	f, err := st.FactorByID(ctx, u.ID, pk.FactorID)
	if err != nil || f.Kind != "passkey" || f.Label != "My phone" || !f.Active || !f.IsDefault {
		t.Fatalf("factor row %+v, %v: want an active default passkey named My phone", f, err)
	}
	dup := &store.Passkey{UserID: other.ID, TenantID: tn.ID, CredentialID: "cred-1", PublicKey: []byte{9}, Name: "x"}
	if err := st.CreatePasskey(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a credential id registered twice: %v, want ErrConflict", err)
	}
	if fs, _ := st.ActiveFactors(ctx, other.ID); len(fs) != 0 {
		t.Errorf("the refused duplicate left a factor row: %+v", fs)
	}
	got, err := st.PasskeyByCredential(ctx, "cred-1")
	if err != nil || got.ID != pk.ID || got.SignCount != 3 || string(got.PublicKey) != "\x01\x02\x03" {
		t.Fatalf("PasskeyByCredential = %+v, %v", got, err)
	}
	if err := st.UsePasskey(ctx, got, 3, 4, true); err != nil {
		t.Fatal(err)
	}
	got, _ = st.PasskeyByCredential(ctx, "cred-1")
	f, _ = st.FactorByID(ctx, u.ID, pk.FactorID)
	if got.SignCount != 4 || !got.BackupState || got.LastUsedAt == nil || f.LastUsedAt == nil {
		t.Errorf("after a use: %+v, factor last used %v", got, f.LastUsedAt)
	}
	if err := st.RemoveFactor(ctx, u.ID, pk.FactorID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PasskeyByCredential(ctx, "cred-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a removed passkey is still found: %v", err)
	}
	if ps, _ := st.Passkeys(ctx, u.ID); len(ps) != 0 {
		t.Errorf("a removed passkey is still listed: %+v", ps)
	}
}

func testPasskeyCounter(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "C")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	pk := &store.Passkey{UserID: u.ID, TenantID: tn.ID, CredentialID: "cred-c", PublicKey: []byte{1}, Name: "Key", SignCount: 10}
	if err := st.CreatePasskey(ctx, pk); err != nil {
		t.Fatal(err)
	}
	if err := st.UsePasskey(ctx, pk, 10, 11, false); err != nil {
		t.Fatal(err)
	}
	// A second node that read the counter before the first use moved it.
	if err := st.UsePasskey(ctx, pk, 10, 11, false); !errors.Is(err, store.ErrCounterRegressed) {
		t.Errorf("the same counter accepted twice: %v", err)
	}
}

func testPasskeyCeremony(t *testing.T, st *store.Store) {
	now := time.Unix(1_800_000_000, 0)
	st.SetClock(func() time.Time { return now })
	c := &store.WebAuthnCeremony{ID: "h1", Purpose: "login", AuthRequestID: "ar", Data: "{}"}
	if err := st.SaveCeremony(ctx, c, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TakeCeremony(ctx, "h1", "mfa"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("taken for another purpose: %v", err)
	}
	// Taking it for the wrong purpose spent it too: nothing is ever tried twice.
	if _, err := st.TakeCeremony(ctx, "h1", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a ceremony used twice: %v", err)
	}
	if err := st.SaveCeremony(ctx, &store.WebAuthnCeremony{ID: "h2", Purpose: "login", Data: "{}"}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := st.TakeCeremony(ctx, "h2", "login")
	if err != nil || got.Data != "{}" {
		t.Fatalf("TakeCeremony = %+v, %v", got, err)
	}
	if err := st.SaveCeremony(ctx, &store.WebAuthnCeremony{ID: "h3", Purpose: "login", Data: "{}"}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(6 * time.Minute)
	if _, err := st.TakeCeremony(ctx, "h3", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired ceremony was taken: %v", err)
	}
}

func testPasskeyOtherMFA(t *testing.T, st *store.Store) {
	now := time.Unix(1_800_000_000, 0)
	st.SetClock(func() time.Time { return now })
	tn := mustTenant(t, st, "M")
	u := mustUser(t, st, tn.ID, "pat@example.org")
	if err := st.PassedOtherMFA(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	got, err := st.UserByID(ctx, u.ID)
	if err != nil || got.LastOtherMFAAt == nil || *got.LastOtherMFAAt != now.Unix() {
		t.Errorf("last other MFA = %v, %v; want %d", got.LastOtherMFAAt, err, now.Unix())
	}
}
