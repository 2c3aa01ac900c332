package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunFactorTests runs the second-factor part of the suite (factors, TOTP steps, backup codes,
// one-time codes and their send limits) against one backend.
func RunFactorTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t) // skip once, with the message, rather than once per test
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"factor lifecycle":          testFactorLifecycle,
		"factor default concurrent": testFactorDefaultConcurrent,
		"totp step":                 testTOTPStep,
		"totp step concurrent":      testTOTPStepConcurrent,
		"backup codes":              testBackupCodes,
		"backup code concurrent":    testBackupCodeConcurrent,
		"otp several outstanding":   testOTPOutstanding,
		"otp spend concurrent":      testOTPSpendConcurrent,
		"otp limits retry-at":       testOTPRetryAt,
		"otp caps concurrent":       testOTPCapsConcurrent,
		"otp cooldown concurrent":   testOTPCooldownConcurrent,
		"prune factor data":         testPruneFactorData,
		"phone factors":             testPhoneFactors,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

// fixedClock pins the store's clock and returns a function that moves it.
func fixedClock(t *testing.T, st *store.Store) (now func() time.Time, advance func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	at := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
	st.SetClock(now)
	t.Cleanup(func() { st.SetClock(time.Now) })
	return now, func(d time.Duration) {
		mu.Lock()
		at = at.Add(d)
		mu.Unlock()
	}
}

// parallel runs fn n times at once and counts the calls that returned true. Errors fail the
// test: a lost race must be an answer ("no"), never a failure.
func parallel(t *testing.T, n int, fn func(i int) (bool, error)) int {
	t.Helper()
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			won, err := fn(i)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
			if won {
				ok.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}

func testFactorLifecycle(t *testing.T, st *store.Store) {
	_, advance := fixedClock(t, st)
	tn := mustTenant(t, st, "F")
	u := mustUser(t, st, tn.ID, "f@example.org")
	other := mustUser(t, st, tn.ID, "g@example.org")

	app := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "totp", Label: "Authenticator app", SecretSealed: []byte{1, 2, 3}}
	if err := st.CreateFactor(ctx, app); err != nil || app.ID == "" {
		t.Fatalf("create: %v", err)
	}
	if act, _ := st.ActiveFactors(ctx, u.ID); len(act) != 0 {
		t.Fatalf("a pending factor is listed as active: %+v", act)
	}
	if _, err := st.FactorByID(ctx, other.ID, app.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another person's factor: %v", err)
	}
	if p, err := st.PendingFactor(ctx, u.ID, "totp", time.Hour); err != nil || p.ID != app.ID {
		t.Errorf("pending within the window: %+v %v", p, err)
	}
	advance(2 * time.Hour)
	if _, err := st.PendingFactor(ctx, u.ID, "totp", time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending after the window: %v", err)
	}

	if err := st.ActivateFactor(ctx, u.ID, app.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateFactor(ctx, u.ID, app.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("activating twice: %v", err)
	}
	if err := st.ActivateFactor(ctx, other.ID, app.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("activating another person's factor: %v", err)
	}
	advance(time.Minute)
	mail := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "email", Label: "f@example.org"}
	if err := st.CreateFactor(ctx, mail); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateFactor(ctx, u.ID, mail.ID); err != nil {
		t.Fatal(err)
	}
	defaults := func() []string {
		act, err := st.ActiveFactors(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range act {
			out = append(out, fmt.Sprintf("%s:%v", f.Kind, f.IsDefault))
		}
		return out
	}
	if got := fmt.Sprint(defaults()); got != "[totp:true email:false]" {
		t.Errorf("the first active factor must be the default, listed first: %s", got)
	}
	if err := st.SetDefaultFactor(ctx, u.ID, mail.ID); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(defaults()); got != "[email:true totp:false]" {
		t.Errorf("after choosing email as default: %s", got)
	}
	pending := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "totp"}
	st.CreateFactor(ctx, pending)
	if err := st.SetDefaultFactor(ctx, u.ID, pending.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a pending factor made default: %v", err)
	}
	if err := st.SetDefaultFactor(ctx, other.ID, app.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another person's factor made default: %v", err)
	}

	if err := st.MarkFactorUsed(ctx, mail.ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := st.FactorByID(ctx, u.ID, mail.ID); f.LastUsedAt == nil {
		t.Error("last_used_at not recorded")
	}

	if err := st.DeleteFactor(ctx, other.ID, mail.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting another person's factor: %v", err)
	}
	if err := st.DeleteFactor(ctx, u.ID, mail.ID); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(defaults()); got != "[totp:true]" {
		t.Errorf("deleting the default must promote the remaining factor: %s", got)
	}
	if err := st.DeleteFactor(ctx, u.ID, mail.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}

// testFactorDefaultConcurrent: factors confirmed at the same moment (two tabs, two nodes) leave
// exactly one default.
func testFactorDefaultConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "FD")
	u := mustUser(t, st, tn.ID, "fd@example.org")
	const n = 6
	ids := make([]string, n)
	for i := range ids {
		f := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "totp"}
		if err := st.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		ids[i] = f.ID
	}
	parallel(t, n, func(i int) (bool, error) { return true, st.ActivateFactor(ctx, u.ID, ids[i]) })
	act, err := st.ActiveFactors(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	defaults := 0
	for _, f := range act {
		if f.IsDefault {
			defaults++
		}
	}
	if len(act) != n || defaults != 1 {
		t.Errorf("%d active, %d defaults; want %d active and exactly one default", len(act), defaults, n)
	}
}

func newTOTPFactor(t *testing.T, st *store.Store, name string) *store.Factor {
	t.Helper()
	tn := mustTenant(t, st, name)
	u := mustUser(t, st, tn.ID, name+"@example.org")
	f := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "totp", SecretSealed: []byte("sealed")}
	if err := st.CreateFactor(ctx, f); err != nil {
		t.Fatal(err)
	}
	return f
}

func testTOTPStep(t *testing.T, st *store.Store) {
	f := newTOTPFactor(t, st, "ts")
	steps := []struct {
		step int64
		want bool
	}{
		{100, true},  // first code
		{100, false}, // the same code again
		{99, false},  // an older code after a newer one
		{101, true},  // the next step
		{103, true},  // a later step, skipping one
		{102, false}, // a step between, once a later one was accepted
	}
	for _, s := range steps {
		got, err := st.AdvanceTOTPStep(ctx, f.ID, s.step)
		if err != nil || got != s.want {
			t.Errorf("step %d: %v %v, want %v", s.step, got, err, s.want)
		}
	}
	row, _ := st.FactorByID(ctx, f.UserID, f.ID)
	if row.LastStep != 103 || row.LastUsedAt == nil {
		t.Errorf("after the steps: last step %d, last used %v", row.LastStep, row.LastUsedAt)
	}
}

// testTOTPStepConcurrent: one authenticator code sent to several nodes at once is accepted once.
func testTOTPStepConcurrent(t *testing.T, st *store.Store) {
	f := newTOTPFactor(t, st, "tc")
	if won := parallel(t, 16, func(int) (bool, error) { return st.AdvanceTOTPStep(ctx, f.ID, 5000) }); won != 1 {
		t.Errorf("the same step was accepted %d times, want once", won)
	}
}

func testBackupCodes(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "B")
	u := mustUser(t, st, tn.ID, "b@example.org")
	other := mustUser(t, st, tn.ID, "c@example.org")
	first := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	if err := st.ReplaceBackupCodes(ctx, u.ID, first); err != nil {
		t.Fatal(err)
	}
	if err := st.ReplaceBackupCodes(ctx, other.ID, []string{"z0"}); err != nil {
		t.Fatal(err)
	}
	left := func(id string) int64 {
		n, err := st.BackupCodesLeft(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := left(u.ID); n != 10 {
		t.Errorf("left = %d, want 10", n)
	}
	uses := []struct {
		user, hash string
		want       bool
	}{
		{u.ID, "a3", true},
		{u.ID, "a3", false},     // each code works once
		{u.ID, "z0", false},     // another person's code
		{u.ID, "nope", false},   // no such code
		{other.ID, "a4", false}, // this person's code presented for another
		{u.ID, "a4", true},
	}
	for _, c := range uses {
		if got, err := st.UseBackupCode(ctx, c.user, c.hash); err != nil || got != c.want {
			t.Errorf("use %s: %v %v, want %v", c.hash, got, err, c.want)
		}
	}
	if n := left(u.ID); n != 8 {
		t.Errorf("left = %d, want 8", n)
	}
	// Regenerating replaces the whole set, used codes included.
	if err := st.ReplaceBackupCodes(ctx, u.ID, []string{"b0", "b1", "b2"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.UseBackupCode(ctx, u.ID, "a5"); ok {
		t.Error("a code of the old set still works")
	}
	if n := left(u.ID); n != 3 {
		t.Errorf("left after regenerating = %d, want 3", n)
	}
	if n := left(other.ID); n != 1 {
		t.Errorf("regenerating touched another person's codes: %d left", n)
	}
}

// testBackupCodeConcurrent: one backup code presented on several nodes at once works once.
func testBackupCodeConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "BC")
	u := mustUser(t, st, tn.ID, "bc@example.org")
	if err := st.ReplaceBackupCodes(ctx, u.ID, []string{"h0", "h1"}); err != nil {
		t.Fatal(err)
	}
	if won := parallel(t, 16, func(int) (bool, error) { return st.UseBackupCode(ctx, u.ID, "h1") }); won != 1 {
		t.Errorf("one backup code was accepted %d times, want once", won)
	}
	if n, _ := st.BackupCodesLeft(ctx, u.ID); n != 1 {
		t.Errorf("left = %d, want 1", n)
	}
}

// noLimits lets tests issue codes back to back.
var noLimits = store.SendLimits{}

func issueCode(st *store.Store, userID, channel, dest, ip, hash string, ttl time.Duration, lim store.SendLimits) error {
	return st.IssueOTP(ctx, &store.OTPCode{UserID: userID, Channel: channel, Destination: dest, CodeHash: hash}, ip, ttl, lim)
}

func testOTPOutstanding(t *testing.T, st *store.Store) {
	_, advance := fixedClock(t, st)
	tn := mustTenant(t, st, "OO")
	u := mustUser(t, st, tn.ID, "oo@example.org")
	other := mustUser(t, st, tn.ID, "op@example.org")
	for i, h := range []string{"s1", "s2", "s3"} {
		if err := issueCode(st, u.ID, "sms", "+15555550100", "203.0.113.9", h, 10*time.Minute, noLimits); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			advance(4 * time.Minute)
		}
	}
	issueCode(st, u.ID, "email", u.Email, "203.0.113.9", "e1", 15*time.Minute, noLimits)
	issueCode(st, other.ID, "sms", "+15555550100", "203.0.113.9", "o1", 10*time.Minute, noLimits)

	// s1 was sent 4 minutes before the others; 7 minutes on, it is still valid (10-minute TTL)
	// but every code stops once one of them succeeds.
	advance(6 * time.Minute)
	spends := []struct {
		user, channel, hash string
		want                bool
	}{
		{u.ID, "sms", "e1", false},     // an email code is not an SMS code
		{u.ID, "sms", "o1", false},     // another person's code to the same number
		{u.ID, "sms", "s2", true},      // any outstanding code works …
		{u.ID, "sms", "s1", false},     // … and spends all of them
		{u.ID, "sms", "s3", false},     //
		{u.ID, "email", "e1", true},    // other channels are untouched
		{other.ID, "sms", "o1", true},  // and so are other people
		{other.ID, "sms", "o1", false}, // once
	}
	for _, s := range spends {
		if got, err := st.SpendOTP(ctx, s.user, s.channel, s.hash); err != nil || got != s.want {
			t.Errorf("spend %s/%s: %v %v, want %v", s.channel, s.hash, got, err, s.want)
		}
	}

	// Expiry: valid until the TTL has passed, not at it.
	issueCode(st, u.ID, "voice", "+15555550100", "203.0.113.9", "v1", 10*time.Minute, noLimits)
	issueCode(st, u.ID, "voice", "+15555550100", "203.0.113.9", "v2", 10*time.Minute, noLimits)
	advance(10*time.Minute - time.Second)
	if ok, _ := st.SpendOTP(ctx, u.ID, "voice", "v1"); !ok {
		t.Error("a code one second before its expiry was refused")
	}
	issueCode(st, u.ID, "voice", "+15555550100", "203.0.113.9", "v3", 10*time.Minute, noLimits)
	advance(10 * time.Minute)
	if ok, _ := st.SpendOTP(ctx, u.ID, "voice", "v3"); ok {
		t.Error("a code at its expiry was accepted")
	}
}

// testOTPSpendConcurrent: one sent code typed on several nodes at once succeeds once.
func testOTPSpendConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "OS")
	u := mustUser(t, st, tn.ID, "os@example.org")
	for _, h := range []string{"c1", "c2", "c3"} {
		if err := issueCode(st, u.ID, "email", u.Email, "203.0.113.9", h, 15*time.Minute, noLimits); err != nil {
			t.Fatal(err)
		}
	}
	if won := parallel(t, 16, func(int) (bool, error) { return st.SpendOTP(ctx, u.ID, "email", "c2") }); won != 1 {
		t.Errorf("one code was accepted %d times, want once", won)
	}
	for _, h := range []string{"c1", "c2", "c3"} {
		if ok, _ := st.SpendOTP(ctx, u.ID, "email", h); ok {
			t.Errorf("%s still valid after a success", h)
		}
	}
}

func testOTPRetryAt(t *testing.T, st *store.Store) {
	now, advance := fixedClock(t, st)
	tn := mustTenant(t, st, "OR")
	u := mustUser(t, st, tn.ID, "or@example.org")
	v := mustUser(t, st, tn.ID, "os@example.org")
	w := mustUser(t, st, tn.ID, "ot@example.org")
	const phone = "+15555550111"
	lim := store.SendLimits{Cooldown: 30 * time.Second, PerUser: 3, PerDestination: 4, PerIP: 5}
	send := func(userID, dest, ip string) error {
		return issueCode(st, userID, "sms", dest, ip, store.NewID(), 10*time.Minute, lim)
	}
	limited := func(err error) *store.ErrSendLimited {
		var l *store.ErrSendLimited
		if !errors.As(err, &l) {
			t.Fatalf("want *store.ErrSendLimited, got %v", err)
		}
		return l
	}
	start := now()
	if err := send(u.ID, phone, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	advance(10 * time.Second)
	l := limited(send(u.ID, phone, "198.51.100.1"))
	if l.Reason != "cooldown" || !l.RetryAt.Equal(start.Add(30*time.Second)) {
		t.Errorf("cooldown: %s until %v, want until %v", l.Reason, l.RetryAt, start.Add(30*time.Second))
	}
	advance(20 * time.Second) // exactly at the end of the cooldown
	if err := send(u.ID, phone, "198.51.100.1"); err != nil {
		t.Fatalf("at the end of the cooldown: %v", err)
	}
	advance(time.Minute)
	if err := send(u.ID, phone, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	// Three sends to u in the hour: the fourth waits until the first is an hour old.
	l = limited(send(u.ID, phone, "198.51.100.1"))
	if l.Reason != "user" || !l.RetryAt.Equal(start.Add(time.Hour)) {
		t.Errorf("per user: %s until %v, want until %v", l.Reason, l.RetryAt, start.Add(time.Hour))
	}
	// The shared number: one more send (by another person) reaches its cap of four.
	if err := send(v.ID, phone, "198.51.100.2"); err != nil {
		t.Fatal(err)
	}
	l = limited(send(w.ID, phone, "198.51.100.3"))
	if l.Reason != "destination" || !l.RetryAt.Equal(start.Add(time.Hour)) {
		t.Errorf("per destination: %s until %v, want until %v", l.Reason, l.RetryAt, start.Add(time.Hour))
	}
	// A refused send records nothing: no code to use, no send to count.
	limited(issueCode(st, w.ID, "sms", phone, "198.51.100.3", "refused", 10*time.Minute, lim))
	if ok, _ := st.SpendOTP(ctx, w.ID, "sms", "refused"); ok {
		t.Error("a refused send left a usable code")
	}
	// The address: five sends from it (three by u, then others to other numbers).
	if err := send(w.ID, "+15555550112", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	if err := send(v.ID, "+15555550113", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	l = limited(send(mustUser(t, st, tn.ID, "ou@example.org").ID, "+15555550114", "198.51.100.1"))
	if l.Reason != "ip" || !l.RetryAt.Equal(start.Add(time.Hour)) {
		t.Errorf("per address: %s until %v, want until %v", l.Reason, l.RetryAt, start.Add(time.Hour))
	}
	// An hour after the first send the caps have room again.
	advance(start.Add(time.Hour).Sub(now()))
	if err := send(u.ID, phone, "198.51.100.1"); err != nil {
		t.Errorf("an hour after the first send: %v", err)
	}
}

// testOTPCapsConcurrent: with sends racing on several nodes the hourly caps hold exactly, per
// person and per destination shared by several people.
func testOTPCapsConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "OC")
	u := mustUser(t, st, tn.ID, "oc@example.org")
	perUser := store.SendLimits{PerUser: 5, PerDestination: 1000, PerIP: 1000}
	sent := parallel(t, 20, func(int) (bool, error) {
		err := issueCode(st, u.ID, "sms", "+15555550120", "198.51.100.20", store.NewID(), 10*time.Minute, perUser)
		var l *store.ErrSendLimited
		if errors.As(err, &l) {
			return false, nil
		}
		return err == nil, err
	})
	if sent != 5 {
		t.Errorf("%d sends to one person went out, want exactly the cap of 5", sent)
	}

	users := make([]string, 8)
	for i := range users {
		users[i] = mustUser(t, st, tn.ID, fmt.Sprintf("od%d@example.org", i)).ID
	}
	perDest := store.SendLimits{PerUser: 1000, PerDestination: 3, PerIP: 1000}
	sent = parallel(t, 24, func(i int) (bool, error) {
		err := issueCode(st, users[i%len(users)], "sms", "+15555550121", fmt.Sprintf("198.51.100.%d", 30+i), store.NewID(), 10*time.Minute, perDest)
		var l *store.ErrSendLimited
		if errors.As(err, &l) {
			return false, nil
		}
		return err == nil, err
	})
	if sent != 3 {
		t.Errorf("%d sends to one shared number went out, want exactly the cap of 3", sent)
	}
}

// testOTPCooldownConcurrent: "Send a new code" clicked on several nodes at once sends one code.
func testOTPCooldownConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "OK")
	u := mustUser(t, st, tn.ID, "ok@example.org")
	lim := store.SendLimits{Cooldown: 30 * time.Second, PerUser: 1000, PerDestination: 1000, PerIP: 1000}
	sent := parallel(t, 12, func(int) (bool, error) {
		err := issueCode(st, u.ID, "email", u.Email, "198.51.100.40", store.NewID(), 15*time.Minute, lim)
		var l *store.ErrSendLimited
		if errors.As(err, &l) {
			return false, nil
		}
		return err == nil, err
	})
	if sent != 1 {
		t.Errorf("%d codes went out within one cooldown, want 1", sent)
	}
}

func testPruneFactorData(t *testing.T, st *store.Store) {
	_, advance := fixedClock(t, st)
	tn := mustTenant(t, st, "P")
	u := mustUser(t, st, tn.ID, "p@example.org")
	lim := store.SendLimits{PerUser: 2}
	old := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "totp"}
	st.CreateFactor(ctx, old)
	active := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: "email"}
	st.CreateFactor(ctx, active)
	st.ActivateFactor(ctx, u.ID, active.ID)
	if err := issueCode(st, u.ID, "email", u.Email, "198.51.100.50", "old", 15*time.Minute, lim); err != nil {
		t.Fatal(err)
	}
	advance(26 * time.Hour)
	if err := issueCode(st, u.ID, "email", u.Email, "198.51.100.50", "new", 15*time.Minute, lim); err != nil {
		t.Fatal(err)
	}
	if err := st.PruneFactorData(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FactorByID(ctx, u.ID, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an enrollment never confirmed for a day survived: %v", err)
	}
	if _, err := st.FactorByID(ctx, u.ID, active.ID); err != nil {
		t.Errorf("an active factor was pruned: %v", err)
	}
	if ok, _ := st.SpendOTP(ctx, u.ID, "email", "new"); !ok {
		t.Error("a live code was pruned")
	}
	// The recent send still counts toward the cap after pruning; the old one does not.
	if err := issueCode(st, u.ID, "email", u.Email, "198.51.100.50", "n2", 15*time.Minute, lim); err != nil {
		t.Fatal(err)
	}
	var l *store.ErrSendLimited
	if err := issueCode(st, u.ID, "email", u.Email, "198.51.100.50", "n3", 15*time.Minute, lim); !errors.As(err, &l) {
		t.Errorf("pruning forgot a send within the hour: %v", err)
	}
}

// testPhoneFactors: confirming a new number replaces the old factor of the kind and keeps its
// place as the default; an SMS number becomes the verified mobile, a voice number does not; a
// saved number is unverified until a code for that very number is answered.
func testPhoneFactors(t *testing.T, st *store.Store) {
	ctx := context.Background()
	tn := &store.Tenant{Name: "Phones"}
	if err := st.CreateTenant(ctx, tn); err != nil || tn.PhoneRegion != "US" {
		t.Fatalf("tenant: %v, region %q (want the US default)", err, tn.PhoneRegion)
	}
	u := &store.User{TenantID: tn.ID, Email: "p@example.org", Role: "patient"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	pending := func(kind, number string) *store.Factor {
		f := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: kind, Label: number}
		if err := st.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	first, err := st.ConfirmPhoneFactor(ctx, u.ID, pending("sms", "+447400123456").ID, "mobile")
	if err != nil || !first.Active || !first.IsDefault {
		t.Fatalf("first phone factor: %+v %v", first, err)
	}
	if _, err := st.ConfirmPhoneFactor(ctx, u.ID, pending("voice", "+442079460958").ID, "fixed_line"); err != nil {
		t.Fatal(err)
	}
	second, err := st.ConfirmPhoneFactor(ctx, u.ID, pending("sms", "+447400654321").ID, "mobile")
	if err != nil || !second.IsDefault {
		t.Fatalf("a changed number keeps the default: %+v %v", second, err)
	}
	fs, _ := st.ActiveFactors(ctx, u.ID)
	if len(fs) != 2 || fs[0].ID != second.ID || fs[1].Kind != "voice" {
		t.Fatalf("the old SMS number must be gone, the call kept: %+v", fs)
	}
	got, _ := st.UserByID(ctx, u.ID)
	if got.Phone != "+447400654321" || !got.PhoneVerified || got.PhoneLineType != "mobile" {
		t.Fatalf("the SMS number is the verified mobile: %+v", got)
	}
	if _, err := st.ConfirmPhoneFactor(ctx, u.ID, second.ID, "mobile"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("confirming an active factor again: %v", err)
	}

	if err := st.SavePhone(ctx, u.ID, "+447400111111", "mobile"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.PhoneVerified {
		t.Fatal("a saved number is unverified")
	}
	if _, err := st.PhoneVerified(ctx, u.ID, "+447400654321"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("verifying a number that is no longer saved: %v", err)
	}
	f, err := st.PhoneVerified(ctx, u.ID, "+447400111111")
	if err != nil || f.ID != second.ID || f.Label != "+447400111111" {
		t.Fatalf("the SMS factor follows the verified number: %+v %v", f, err)
	}
	if got, _ := st.UserByID(ctx, u.ID); !got.PhoneVerified {
		t.Error("verified")
	}

	// Someone with no SMS factor yet gets one, the default when it is their first.
	v := &store.User{TenantID: tn.ID, Email: "v@example.org", Role: "patient"}
	st.CreateUser(ctx, v)
	st.SavePhone(ctx, v.ID, "+447400222222", "mobile")
	f, err = st.PhoneVerified(ctx, v.ID, "+447400222222")
	if err != nil || !f.Active || !f.IsDefault || f.TenantID != tn.ID || f.Kind != "sms" {
		t.Fatalf("new SMS factor from a verified number: %+v %v", f, err)
	}
}
