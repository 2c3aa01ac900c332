package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunRegistrationTests runs the self-service registration part of the suite against one
// backend.
func RunRegistrationTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t) // skip once, with the message, rather than once per test
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"registration lifecycle":           testRegistrationLifecycle,
		"registration replaced by browser": testRegistrationReplaced,
		"registration expiry":              testRegistrationExpiry,
		"registration failures void":       testRegistrationFailures,
		"registration failures concurrent": testRegistrationFailuresConcurrent,
		"registration complete concurrent": testRegistrationCompleteConcurrent,
		"registration email taken":         testRegistrationEmailTaken,
		"registration codes without user":  testRegistrationCodes,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

func mustRegistration(t *testing.T, st *store.Store, tenantID, browser, email string) *store.Registration {
	t.Helper()
	reg := &store.Registration{TenantID: tenantID, BrowserHash: browser, Email: email, Name: "Rosa Díaz",
		PasswordHash: "$argon2id$fake", Phone: "+447400123456", PhoneLineType: "mobile"}
	if err := st.CreateRegistration(ctx, reg, "", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	return reg
}

func testRegistrationLifecycle(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "R")
	reg := mustRegistration(t, st, tn.ID, "b1", "  Rosa@Example.org ")
	if reg.ID == "" || reg.EmailLower != "rosa@example.org" || reg.Email != "Rosa@Example.org" {
		t.Fatalf("created %+v", reg)
	}
	got, err := st.RegistrationByBrowser(ctx, "b1")
	if err != nil || got.ID != reg.ID || got.Phone != "+447400123456" || got.PhoneVerifiedAt != nil {
		t.Fatalf("RegistrationByBrowser = %+v, %v", got, err)
	}
	if _, err := st.RegistrationByBrowser(ctx, "b2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another browser found the registration: %v", err)
	}
	// Nothing completes before both verifications, and the email step comes second.
	if _, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "en"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completed unverified: %v", err)
	}
	if err := st.RegistrationEmailVerified(ctx, reg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("email verified before the number: %v", err)
	}
	if err := st.RegistrationPhoneVerified(ctx, reg.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "en"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completed with the number only: %v", err)
	}
	if _, err := st.UserByEmail(ctx, tn.ID, "rosa@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a user exists before both verifications: %v", err)
	}
	if err := st.RegistrationEmailVerified(ctx, reg.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = st.RegistrationByBrowser(ctx, "b1")
	if got.PhoneVerifiedAt == nil || got.EmailVerifiedAt == nil {
		t.Fatalf("verification times not kept: %+v", got)
	}
	u, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "es")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.UserByEmail(ctx, tn.ID, "ROSA@example.org")
	if err != nil || stored.ID != u.ID {
		t.Fatalf("UserByEmail = %+v, %v", stored, err)
	}
	if !stored.EmailVerified || !stored.PhoneVerified || stored.Phone != "+447400123456" || stored.PhoneLineType != "mobile" ||
		stored.Name != "Rosa Díaz" || stored.PasswordHash != "$argon2id$fake" || stored.Role != store.RolePatient ||
		stored.Locale != "es" || stored.TenantID != tn.ID || stored.LockedAt != nil {
		t.Errorf("user = %+v", stored)
	}
	fs, err := st.ActiveFactors(ctx, u.ID)
	if err != nil || len(fs) != 1 || fs[0].Kind != "sms" || fs[0].Label != "+447400123456" || !fs[0].IsDefault || fs[0].TenantID != tn.ID {
		t.Errorf("factors = %+v, %v", fs, err)
	}
	if _, err := st.RegistrationByBrowser(ctx, "b1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the registration outlived its user: %v", err)
	}
	if _, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "en"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completed twice: %v", err)
	}
}

func testRegistrationReplaced(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RR")
	first := mustRegistration(t, st, tn.ID, "old", "a@example.org")
	other := mustRegistration(t, st, tn.ID, "someone-else", "b@example.org")
	second := &store.Registration{TenantID: tn.ID, BrowserHash: "new", Email: "a@example.org", Name: "A",
		PasswordHash: "h", Phone: "+447400123457"}
	if err := st.CreateRegistration(ctx, second, "old", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Error("a new attempt reused the old id")
	}
	if _, err := st.RegistrationByBrowser(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the replaced attempt survived: %v", err)
	}
	if got, err := st.RegistrationByBrowser(ctx, "new"); err != nil || got.ID != second.ID {
		t.Errorf("new attempt = %+v, %v", got, err)
	}
	if got, err := st.RegistrationByBrowser(ctx, "someone-else"); err != nil || got.ID != other.ID {
		t.Errorf("another browser's attempt was touched: %v", err)
	}
	dup := &store.Registration{TenantID: tn.ID, BrowserHash: "new", Email: "c@example.org", Name: "C", PasswordHash: "h", Phone: "+447400123458"}
	if err := st.CreateRegistration(ctx, dup, "", 30*time.Minute); !errors.Is(err, store.ErrConflict) {
		t.Errorf("two registrations with one browser hash: %v", err)
	}
}

func testRegistrationExpiry(t *testing.T, st *store.Store) {
	_, advance := fixedClock(t, st)
	tn := mustTenant(t, st, "RE")
	reg := mustRegistration(t, st, tn.ID, "b", "e@example.org")
	if err := st.RegistrationPhoneVerified(ctx, reg.ID); err != nil {
		t.Fatal(err)
	}
	advance(31 * time.Minute)
	if _, err := st.RegistrationByBrowser(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired registration was found: %v", err)
	}
	if err := st.RegistrationEmailVerified(ctx, reg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired registration was verified: %v", err)
	}
	if _, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "en"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired registration completed: %v", err)
	}
	if _, _, err := st.RegistrationFailure(ctx, reg.ID, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a wrong code on an expired registration: %v", err)
	}
	// The janitor removes it once the margin has passed, and leaves a live one alone.
	advance(2 * time.Hour)
	live := mustRegistration(t, st, tn.ID, "live", "l@example.org")
	if err := st.DeleteExpired(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := st.RegistrationByBrowser(ctx, "live"); err != nil || got.ID != live.ID {
		t.Errorf("DeleteExpired removed a live registration: %v", err)
	}
	advance(-(2*time.Hour + 21*time.Minute)) // back to when the first was live: it must be gone all the same
	if _, err := st.RegistrationByBrowser(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteExpired kept an expired registration: %v", err)
	}
}

func testRegistrationFailures(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RF")
	reg := mustRegistration(t, st, tn.ID, "b", "f@example.org")
	for i := 1; i <= 4; i++ {
		n, void, err := st.RegistrationFailure(ctx, reg.ID, 5)
		if err != nil || n != i || void {
			t.Fatalf("failure %d: %d %v %v", i, n, void, err)
		}
	}
	if got, err := st.RegistrationByBrowser(ctx, "b"); err != nil || got.Failures != 4 {
		t.Fatalf("after four: %+v %v", got, err)
	}
	if n, void, err := st.RegistrationFailure(ctx, reg.ID, 5); err != nil || n != 5 || !void {
		t.Fatalf("fifth failure: %d %v %v", n, void, err)
	}
	if _, err := st.RegistrationByBrowser(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a void registration was kept: %v", err)
	}
	if _, _, err := st.RegistrationFailure(ctx, reg.ID, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("sixth answer: %v", err)
	}
	if err := st.RegistrationPhoneVerified(ctx, reg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a void registration was verified: %v", err)
	}
}

func testRegistrationFailuresConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RFC")
	reg := mustRegistration(t, st, tn.ID, "b", "fc@example.org")
	const guesses, limit = 16, 5
	var (
		mu             sync.Mutex
		counts         []int
		voids, missing int
		wg             sync.WaitGroup
	)
	for range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, void, err := st.RegistrationFailure(ctx, reg.ID, limit)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, store.ErrNotFound):
				missing++
			case err != nil:
				t.Error(err)
			default:
				counts = append(counts, n)
				if void {
					voids++
				}
			}
		}()
	}
	wg.Wait()
	if voids != 1 || len(counts) != limit || missing != guesses-limit {
		t.Errorf("%d answers counted (%v), %d voided, %d found nothing; want %d, 1, %d", len(counts), counts, voids, missing, limit, guesses-limit)
	}
	for _, n := range counts {
		if n > limit {
			t.Errorf("a count passed the limit: %v", counts)
		}
	}
	if _, err := st.RegistrationByBrowser(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the registration survived %d wrong codes: %v", guesses, err)
	}
}

func testRegistrationCompleteConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RCC")
	reg := mustRegistration(t, st, tn.ID, "b", "cc@example.org")
	st.RegistrationPhoneVerified(ctx, reg.ID)
	st.RegistrationEmailVerified(ctx, reg.ID)
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "en")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("loser: %v, want ErrNotFound", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d requests completed one registration, want 1", wins)
	}
	u, err := st.UserByEmail(ctx, tn.ID, "cc@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if fs, _ := st.ActiveFactors(ctx, u.ID); len(fs) != 1 {
		t.Errorf("%d factors, want 1", len(fs))
	}
}

func testRegistrationEmailTaken(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RT")
	owner := mustUser(t, st, tn.ID, "taken@example.org")
	reg := mustRegistration(t, st, tn.ID, "b", "Taken@Example.org")
	st.RegistrationPhoneVerified(ctx, reg.ID)
	st.RegistrationEmailVerified(ctx, reg.ID)
	if _, err := st.CompleteRegistration(ctx, reg.ID, store.RolePatient, "en"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an address with an account was registered again: %v", err)
	}
	if u, err := st.UserByEmail(ctx, tn.ID, "taken@example.org"); err != nil || u.ID != owner.ID || u.PasswordHash != "" {
		t.Errorf("the owner's account changed: %+v %v", u, err)
	}
	// Nothing was half-written: the registration is still there for the caller to void.
	if _, err := st.RegistrationByBrowser(ctx, "b"); err != nil {
		t.Errorf("the failed completion lost the registration: %v", err)
	}
	// Another tenant may use the same address.
	other := mustTenant(t, st, "RT2")
	reg2 := mustRegistration(t, st, other.ID, "b2", "taken@example.org")
	st.RegistrationPhoneVerified(ctx, reg2.ID)
	st.RegistrationEmailVerified(ctx, reg2.ID)
	if _, err := st.CompleteRegistration(ctx, reg2.ID, store.RolePatient, "en"); err != nil {
		t.Errorf("the address in another tenant: %v", err)
	}
}

// testRegistrationCodes: codes are keyed by the registration, which has no user row yet.
func testRegistrationCodes(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RC")
	reg := mustRegistration(t, st, tn.ID, "b", "rc@example.org")
	owner := "registration:" + reg.ID + ":sms"
	if err := issueCode(st, owner, "sms", reg.Phone, "203.0.113.7", "h1", 10*time.Minute, noLimits); err != nil {
		t.Fatalf("a code for a registration: %v", err)
	}
	if ok, err := st.SpendOTP(ctx, owner, "sms", "h1"); !ok || err != nil {
		t.Errorf("SpendOTP = %v, %v", ok, err)
	}
}
