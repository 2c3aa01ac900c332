package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunPolicyTests runs the tenant-policy part of the suite (remember-device settings, the MFA
// switch that cannot be turned off, remembered devices, patients turning MFA off) against one
// backend.
func RunPolicyTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t)
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"tenant policy defaults":      testTenantPolicyDefaults,
		"mfa cannot be turned off":    testMFALocked,
		"mfa switch concurrent":       testMFALockedConcurrent,
		"remembered devices":          testRememberedDevices,
		"reset forgets devices":       testResetForgetsDevices,
		"disable mfa":                 testDisableMFA,
		"disable mfa refused by rule": testDisableMFARefused,
		"lock counted once":           testLockCountedOnce,
		"help contact":                testHelpContact,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

// testTenantPolicyDefaults: a tenant created without policy gets the seeds' defaults; explicit
// zero values (0 days, not MFA) are kept, not replaced by the defaults; an update writes them.
func testTenantPolicyDefaults(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside")
	got, err := st.TenantByID(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RememberDays() != 7 || got.RememberNetwork() != store.NetworkExact || !got.RememberedDeviceIsMFA() || got.PatientsMayDisableMFA {
		t.Fatalf("defaults: days %d network %s mfa %t patients %t", got.RememberDays(), got.RememberNetwork(),
			got.RememberedDeviceIsMFA(), got.PatientsMayDisableMFA)
	}
	off := &store.Tenant{Name: "Lakeside", RememberDeviceDays: intp(0), RememberDeviceMFA: boolp(false),
		RememberDeviceNetwork: store.NetworkPrefix, PatientsMayDisableMFA: true}
	if err := st.CreateTenant(ctx, off); err != nil {
		t.Fatal(err)
	}
	got, _ = st.TenantByID(ctx, off.ID)
	if got.RememberDays() != 0 || got.RememberNetwork() != store.NetworkPrefix || got.RememberedDeviceIsMFA() || !got.PatientsMayDisableMFA {
		t.Fatalf("explicit values lost: %+v", got)
	}
	got.RememberDeviceDays, got.RememberDeviceMFA, got.RememberDeviceNetwork, got.PatientsMayDisableMFA = intp(30), boolp(true), store.NetworkOff, false
	if err := st.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, _ = st.TenantByID(ctx, off.ID)
	if got.RememberDays() != 30 || got.RememberNetwork() != store.NetworkOff || !got.RememberedDeviceIsMFA() || got.PatientsMayDisableMFA {
		t.Fatalf("update not written: %+v", got)
	}
	for _, bad := range []*store.Tenant{
		{ID: off.ID, MFAMode: store.MFAOptional, RememberDeviceDays: intp(-1)},
		{ID: off.ID, MFAMode: store.MFAOptional, RememberDeviceNetwork: "city"},
		{ID: off.ID, MFAMode: "sometimes"},
	} {
		if err := st.UpdateTenant(ctx, bad); err == nil {
			t.Errorf("invalid policy accepted: %+v", bad)
		}
	}
}

// testHelpContact: a tenant's help contact is empty by default, written by UpdateTenant (and
// cleared by it), and one line of at most store.MaxHelpContact characters.
func testHelpContact(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside")
	if tn.HelpContact != "" {
		t.Fatalf("default help contact %q", tn.HelpContact)
	}
	const words = "Call Riverside Health at 555-0100, Monday to Friday 8–6"
	tn.HelpContact = words
	if err := st.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	got, _ := st.TenantByID(ctx, tn.ID)
	if got.HelpContact != words {
		t.Fatalf("help contact %q, want %q", got.HelpContact, words)
	}
	for _, bad := range []string{strings.Repeat("é", store.MaxHelpContact+1), "Call us\nor write", "bell\a"} {
		got.HelpContact = bad
		if err := st.UpdateTenant(ctx, got); err == nil {
			t.Errorf("help contact %q accepted", bad)
		}
	}
	got.HelpContact = strings.Repeat("é", store.MaxHelpContact)
	if err := st.UpdateTenant(ctx, got); err != nil {
		t.Errorf("a help contact of exactly %d characters: %v", store.MaxHelpContact, err)
	}
	got.HelpContact = ""
	if err := st.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.TenantByID(ctx, tn.ID); got.HelpContact != "" {
		t.Errorf("help contact not cleared: %q", got.HelpContact)
	}
}

// testMFALocked: once required, MFA cannot be moved to optional or off by UpdateTenant — also
// not by a caller holding a copy read before the switch; other settings still change.
func testMFALocked(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside")
	stale, _ := st.TenantByID(ctx, tn.ID) // read while optional
	tn.MFAMode = store.MFARequired
	if err := st.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{store.MFAOptional, store.MFAOff} {
		tn.MFAMode = mode
		if err := st.UpdateTenant(ctx, tn); !errors.Is(err, store.ErrMFALocked) {
			t.Errorf("required -> %s: err = %v, want ErrMFALocked", mode, err)
		}
	}
	stale.SelfRegistration = true
	if err := st.UpdateTenant(ctx, stale); !errors.Is(err, store.ErrMFALocked) {
		t.Errorf("a stale copy (optional) overwrote required: %v", err)
	}
	got, _ := st.TenantByID(ctx, tn.ID)
	if got.MFAMode != store.MFARequired || got.SelfRegistration {
		t.Fatalf("a refused update changed the row: %+v", got)
	}
	tn.MFAMode, tn.RememberDeviceDays = store.MFARequired, intp(3)
	if err := st.UpdateTenant(ctx, tn); err != nil {
		t.Fatalf("other settings of a required tenant: %v", err)
	}
	if got, _ := st.TenantByID(ctx, tn.ID); got.RememberDays() != 3 {
		t.Errorf("days = %d", got.RememberDays())
	}
	// An enforcement date that has passed cannot be moved back into the future (that would
	// reopen "Remind me later"); a future one may still be moved, and clearing it enforces now.
	past, future, later := time.Now().Add(-time.Hour).Unix(), time.Now().Add(24*time.Hour).Unix(), time.Now().Add(48*time.Hour).Unix()
	tn.EnforceFrom = &past
	if err := st.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	tn.EnforceFrom = &future
	if err := st.UpdateTenant(ctx, tn); !errors.Is(err, store.ErrMFALocked) {
		t.Errorf("enforcement moved back into the future: %v", err)
	}
	e := mustTenant(t, st, "Eastside")
	e.MFAMode, e.EnforceFrom = store.MFARequired, &future
	if err := st.UpdateTenant(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.EnforceFrom = &later
	if err := st.UpdateTenant(ctx, e); err != nil {
		t.Errorf("a future enforcement date may still move: %v", err)
	}
	e.EnforceFrom = nil
	if err := st.UpdateTenant(ctx, e); err != nil {
		t.Errorf("clearing the date enforces at once: %v", err)
	}
	if err := st.UpdateTenant(ctx, &store.Tenant{ID: "nobody", MFAMode: store.MFAOff}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
}

// testMFALockedConcurrent: callers racing to set required and to set optional or off: once a
// switch to required succeeded, the tenant ends required.
func testMFALockedConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside")
	const n = 12
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		required bool
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := []string{store.MFARequired, store.MFAOptional, store.MFAOff}[i%3]
			err := st.UpdateTenant(ctx, &store.Tenant{ID: tn.ID, MFAMode: mode, PhoneRegion: "US"})
			switch {
			case err == nil && mode == store.MFARequired:
				mu.Lock()
				required = true
				mu.Unlock()
			case err != nil && !errors.Is(err, store.ErrMFALocked):
				t.Errorf("%s: %v", mode, err)
			}
		}()
	}
	wg.Wait()
	got, _ := st.TenantByID(ctx, tn.ID)
	if required && got.MFAMode != store.MFARequired {
		t.Fatalf("MFA was required and ended %q", got.MFAMode)
	}
}

func remember(t *testing.T, st *store.Store, u *store.User, token string, ttl time.Duration) *store.RememberedDevice {
	t.Helper()
	d := &store.RememberedDevice{UserID: u.ID, TenantID: u.TenantID, TokenHash: token, Method: "pwd", Network: "198.51.100.7", Label: "Firefox"}
	if err := st.RememberDevice(ctx, d, ttl); err != nil {
		t.Fatal(err)
	}
	return d
}

// testRememberedDevices: the list holds live devices only; one device is forgotten by its owner
// only, and its token stops working at once; "forget all" forgets the rest.
func testRememberedDevices(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	other := mustUser(t, st, u.TenantID, "sam@example.org")
	a := remember(t, st, u, "hash-a", 7*24*time.Hour)
	b := remember(t, st, u, "hash-b", 7*24*time.Hour)
	remember(t, st, u, "hash-expired", -time.Minute)
	remember(t, st, other, "hash-other", 7*24*time.Hour)
	list, err := st.RememberedDevices(ctx, u.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	if err := st.RevokeDevice(ctx, other.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("someone else forgot the device: %v", err)
	}
	if err := st.RevokeDevice(ctx, u.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeDevice(ctx, u.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("forgotten twice: %v", err)
	}
	if _, err := st.RememberedDeviceByToken(ctx, "hash-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a forgotten device still answers: %v", err)
	}
	if d, err := st.RememberedDeviceByToken(ctx, "hash-b"); err != nil || d.ID != b.ID {
		t.Errorf("the other device: %v %v", d, err)
	}
	if err := st.RevokeDevices(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.RememberedDevices(ctx, u.ID); len(list) != 0 {
		t.Errorf("after forget all: %d left", len(list))
	}
	if list, _ := st.RememberedDevices(ctx, other.ID); len(list) != 1 {
		t.Errorf("forget all reached another person: %d left", len(list))
	}
}

// testResetForgetsDevices: a password reset forgets every remembered device of the person.
func testResetForgetsDevices(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	remember(t, st, u, "hash-a", 7*24*time.Hour)
	if err := st.CreatePasswordReset(ctx, u.ID, "reset-hash", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	pr, err := st.PasswordResetByToken(ctx, "reset-hash")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ResetPassword(ctx, pr.ID, u.ID, "new-hash"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RememberedDeviceByToken(ctx, "hash-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a remembered device survived the reset: %v", err)
	}
}

// testDisableMFA: a patient of a tenant that allows it, with MFA optional, loses every factor,
// backup code and remembered device at once.
func testDisableMFA(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	tn, _ := st.TenantByID(ctx, u.TenantID)
	tn.PatientsMayDisableMFA = true
	if err := st.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	activeFactor(t, st, u, "totp")
	activeFactor(t, st, u, "email")
	pending := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "sms", Label: "+12025550123"}
	if err := st.CreateFactor(ctx, pending); err != nil {
		t.Fatal(err)
	}
	if err := st.ReplaceBackupCodes(ctx, u.ID, []string{"b1", "b2"}); err != nil {
		t.Fatal(err)
	}
	remember(t, st, u, "hash-a", 7*24*time.Hour)
	if err := st.DisableMFA(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if fs, _ := st.ActiveFactors(ctx, u.ID); len(fs) != 0 {
		t.Errorf("%d factors left", len(fs))
	}
	if _, err := st.FactorByID(ctx, u.ID, pending.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a pending factor survived: %v", err)
	}
	if n, _ := st.BackupCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("%d backup codes left", n)
	}
	if ds, _ := st.RememberedDevices(ctx, u.ID); len(ds) != 0 {
		t.Errorf("%d remembered devices left", len(ds))
	}
}

// testDisableMFARefused: never for a provider, staff or admin, never where the tenant does not
// allow it, never while MFA is required or off; a refusal changes nothing.
func testDisableMFARefused(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	tn, _ := st.TenantByID(ctx, u.TenantID)
	f := activeFactor(t, st, u, "totp")
	check := func(what string) {
		t.Helper()
		if err := st.DisableMFA(ctx, u.ID); !errors.Is(err, store.ErrMFADisableRefused) {
			t.Errorf("%s: err = %v, want ErrMFADisableRefused", what, err)
		}
		if _, err := st.FactorByID(ctx, u.ID, f.ID); err != nil {
			t.Errorf("%s: the factor went: %v", what, err)
		}
	}
	check("tenant does not allow it")
	tn.PatientsMayDisableMFA = true
	for _, mode := range []string{store.MFAOff, store.MFARequired} {
		tn.MFAMode = mode
		if err := st.UpdateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		check("mfa " + mode)
	}
	// A separate tenant for the roles (required cannot be undone).
	tn2 := &store.Tenant{Name: "Lakeside", PatientsMayDisableMFA: true}
	if err := st.CreateTenant(ctx, tn2); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{store.RoleProvider, store.RoleStaff, store.RoleAdmin} {
		p := &store.User{TenantID: tn2.ID, Email: role + "@example.org", Role: role}
		if err := st.CreateUser(ctx, p); err != nil {
			t.Fatal(err)
		}
		pf := activeFactor(t, st, p, "totp")
		if err := st.DisableMFA(ctx, p.ID); !errors.Is(err, store.ErrMFADisableRefused) {
			t.Errorf("%s: err = %v", role, err)
		}
		if _, err := st.FactorByID(ctx, p.ID, pf.ID); err != nil {
			t.Errorf("%s: the factor went", role)
		}
	}
}

// testLockCountedOnce: of 50 parallel wrong answers exactly 7 are counted and exactly one locks
// the account, so each failure and the lock are audited once.
func testLockCountedOnce(t *testing.T, st *store.Store) {
	u := accountUser(t, st)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		counted, lockedBy int
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := st.CountMFAFailure(ctx, u.ID, 7)
				if isBusy(err) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if !res.Locked && res.Failures >= 7 {
					t.Errorf("count %d without the lock", res.Failures)
				}
				mu.Lock()
				if res.Counted {
					counted++
				}
				if res.LockedNow {
					lockedBy++
				}
				mu.Unlock()
				return
			}
		}()
	}
	wg.Wait()
	if counted != 7 || lockedBy != 1 {
		t.Errorf("counted %d, locked by %d; want 7 and 1", counted, lockedBy)
	}
}
