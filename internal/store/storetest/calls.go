package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunCallTests runs the "press 1 to confirm" part of the suite against one backend.
func RunCallTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t) // skip once, with the message, rather than once per test
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"call approve once":        testCallApproveOnce,
		"call approve concurrent":  testCallApproveConcurrent,
		"call answer concurrent":   testCallAnswerConcurrent,
		"call denied":              testCallDenied,
		"call expiry":              testCallExpiry,
		"call send caps":           testCallSendCaps,
		"call other session":       testCallOtherSession,
		"call unknown answer kept": testCallUnknownResult,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

var noCallLimits = store.SendLimits{}

func mustCall(t *testing.T, st *store.Store, userID, session, request, tokenHash string) *store.CallConfirmation {
	t.Helper()
	c := &store.CallConfirmation{UserID: userID, SessionID: session, AuthRequestID: request, TokenHash: tokenHash, Locale: "es"}
	if err := st.CreateCallConfirmation(ctx, c, "+442079460958", "203.0.113.9", 3*time.Minute, noCallLimits); err != nil {
		t.Fatal(err)
	}
	return c
}

func callState(t *testing.T, st *store.Store, session, request string) string {
	t.Helper()
	s, err := st.CallConfirmationState(ctx, session, request)
	if err != nil {
		t.Fatalf("CallConfirmationState: %v", err)
	}
	return s
}

func testCallApproveOnce(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "C")
	u := mustUser(t, st, tn.ID, "c@example.org")
	if _, err := st.CallConfirmationState(ctx, "s1", "ar1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("state before any call: %v", err)
	}
	c := mustCall(t, st, u.ID, "s1", "ar1", "hash-1")
	if c.ID == "" || c.ExpiresAt-c.CreatedAt != 180 || c.Result != "" || c.AnsweredAt != nil {
		t.Fatalf("created %+v", c)
	}
	if s := callState(t, st, "s1", "ar1"); s != store.CallPending {
		t.Errorf("state = %q, want pending", s)
	}
	if ok, err := st.ConsumeCallApproval(ctx, "s1", "ar1"); ok || err != nil {
		t.Fatalf("consumed before any answer: %v %v", ok, err)
	}
	live, err := st.LiveCallConfirmation(ctx, "hash-1")
	if err != nil || live.ID != c.ID || live.UserID != u.ID || live.Locale != "es" {
		t.Fatalf("LiveCallConfirmation = %+v, %v", live, err)
	}
	got, err := st.AnswerCallConfirmation(ctx, "hash-1", store.CallApproved)
	if err != nil || got.ID != c.ID || got.UserID != u.ID || got.SessionID != "s1" || got.AuthRequestID != "ar1" ||
		got.Result != store.CallApproved || got.AnsweredAt == nil {
		t.Fatalf("AnswerCallConfirmation = %+v, %v", got, err)
	}
	if _, err := st.AnswerCallConfirmation(ctx, "hash-1", store.CallDenied); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a second answer was taken: %v", err)
	}
	if _, err := st.LiveCallConfirmation(ctx, "hash-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an answered confirmation is still live: %v", err)
	}
	if s := callState(t, st, "s1", "ar1"); s != store.CallApproved {
		t.Errorf("state = %q, want approved", s)
	}
	if ok, err := st.ConsumeCallApproval(ctx, "s1", "ar2"); ok || err != nil {
		t.Errorf("consumed for another authorization request: %v %v", ok, err)
	}
	if ok, err := st.ConsumeCallApproval(ctx, "s1", "ar1"); !ok || err != nil {
		t.Fatalf("ConsumeCallApproval = %v, %v", ok, err)
	}
	if ok, _ := st.ConsumeCallApproval(ctx, "s1", "ar1"); ok {
		t.Error("an approval was used twice")
	}
	if s := callState(t, st, "s1", "ar1"); s != store.CallConsumed {
		t.Errorf("state = %q, want consumed", s)
	}
	if _, err := st.AnswerCallConfirmation(ctx, "unknown", store.CallApproved); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown token was answered: %v", err)
	}
}

// testCallApproveConcurrent: one approval, many parallel "continue" requests (two nodes, a
// double click): exactly one wins.
func testCallApproveConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "CC")
	u := mustUser(t, st, tn.ID, "cc@example.org")
	mustCall(t, st, u.ID, "s1", "ar1", "hash-c")
	if _, err := st.AnswerCallConfirmation(ctx, "hash-c", store.CallApproved); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ok, err := st.ConsumeCallApproval(ctx, "s1", "ar1")
			if err != nil {
				t.Errorf("ConsumeCallApproval: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d requests used one approval, want exactly 1", wins.Load())
	}
}

// testCallAnswerConcurrent: the provider retries a callback, or a 1 and a 9 race: exactly one
// answer counts.
func testCallAnswerConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "CA")
	u := mustUser(t, st, tn.ID, "ca@example.org")
	mustCall(t, st, u.ID, "s1", "ar1", "hash-a")
	const n = 12
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		result := store.CallApproved
		if i%2 == 1 {
			result = store.CallDenied
		}
		wg.Go(func() {
			_, err := st.AnswerCallConfirmation(ctx, "hash-a", result)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("AnswerCallConfirmation: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d answers were taken for one call, want exactly 1", wins.Load())
	}
}

func testCallDenied(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "CD")
	u := mustUser(t, st, tn.ID, "cd@example.org")
	mustCall(t, st, u.ID, "s1", "ar1", "hash-d")
	if _, err := st.AnswerCallConfirmation(ctx, "hash-d", store.CallDenied); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.ConsumeCallApproval(ctx, "s1", "ar1"); ok {
		t.Error("a denial was used as an approval")
	}
	if s := callState(t, st, "s1", "ar1"); s != store.CallDenied {
		t.Errorf("state = %q, want denied", s)
	}
	// A new call for the same sign-in replaces the old one: a key pressed on the old call is
	// no longer taken.
	mustCall(t, st, u.ID, "s1", "ar1", "hash-d2")
	mustCall(t, st, u.ID, "s1", "ar1", "hash-d3")
	if s := callState(t, st, "s1", "ar1"); s != store.CallPending {
		t.Errorf("state after a new call = %q, want pending", s)
	}
	if _, err := st.AnswerCallConfirmation(ctx, "hash-d2", store.CallApproved); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a replaced call was answered: %v", err)
	}
	if _, err := st.AnswerCallConfirmation(ctx, "hash-d3", store.CallApproved); err != nil {
		t.Errorf("the newest call: %v", err)
	}
}

func testCallExpiry(t *testing.T, st *store.Store) {
	_, advance := fixedClock(t, st)
	tn := mustTenant(t, st, "CE")
	u := mustUser(t, st, tn.ID, "ce@example.org")
	mustCall(t, st, u.ID, "s1", "ar1", "hash-e")
	advance(3*time.Minute + time.Second)
	if _, err := st.AnswerCallConfirmation(ctx, "hash-e", store.CallApproved); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired call was answered: %v", err)
	}
	if _, err := st.LiveCallConfirmation(ctx, "hash-e"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired call is live: %v", err)
	}
	if s := callState(t, st, "s1", "ar1"); s != store.CallExpired {
		t.Errorf("state = %q, want expired", s)
	}

	// An approval given in time may be used for a while after the answer window, then not.
	mustCall(t, st, u.ID, "s2", "ar2", "hash-e2")
	if _, err := st.AnswerCallConfirmation(ctx, "hash-e2", store.CallApproved); err != nil {
		t.Fatal(err)
	}
	advance(3*time.Minute + store.CallConsumeGrace + time.Second)
	if s := callState(t, st, "s2", "ar2"); s != store.CallExpired {
		t.Errorf("state of a stale approval = %q, want expired", s)
	}
	if ok, _ := st.ConsumeCallApproval(ctx, "s2", "ar2"); ok {
		t.Error("a stale approval was used")
	}
	if err := st.DeleteExpired(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CallConfirmationState(ctx, "s2", "ar2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteExpired left a confirmation: %v", err)
	}
}

// testCallSendCaps: a confirmation call counts toward the same hourly caps as codes, so it is
// no way around them (toll fraud); a refused one writes nothing.
func testCallSendCaps(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "CS")
	u := mustUser(t, st, tn.ID, "cs@example.org")
	lim := store.SendLimits{PerUser: 2, PerDestination: 10, PerIP: 10}
	if err := st.IssueOTP(ctx, &store.OTPCode{UserID: u.ID, Channel: "voice", Destination: "+442079460958", CodeHash: "x"},
		"203.0.113.9", time.Minute, lim); err != nil {
		t.Fatal(err)
	}
	c := &store.CallConfirmation{UserID: u.ID, SessionID: "s1", AuthRequestID: "ar1", TokenHash: "hash-s1"}
	if err := st.CreateCallConfirmation(ctx, c, "+442079460958", "203.0.113.9", time.Minute, lim); err != nil {
		t.Fatal(err)
	}
	c2 := &store.CallConfirmation{UserID: u.ID, SessionID: "s1", AuthRequestID: "ar1", TokenHash: "hash-s2"}
	err := st.CreateCallConfirmation(ctx, c2, "+442079460958", "203.0.113.9", time.Minute, lim)
	var limited *store.ErrSendLimited
	if !errors.As(err, &limited) || limited.Reason != "user" {
		t.Fatalf("a third send in the hour: %v", err)
	}
	if _, err := st.LiveCallConfirmation(ctx, "hash-s2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused call left a confirmation: %v", err)
	}
}

func testCallOtherSession(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "CO")
	u := mustUser(t, st, tn.ID, "co@example.org")
	mustCall(t, st, u.ID, "mine", "ar1", "hash-o")
	if _, err := st.AnswerCallConfirmation(ctx, "hash-o", store.CallApproved); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.ConsumeCallApproval(ctx, "theirs", "ar1"); ok {
		t.Error("another browser session used the approval")
	}
	if _, err := st.CallConfirmationState(ctx, "theirs", "ar1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another session sees the call: %v", err)
	}
	if ok, _ := st.ConsumeCallApproval(ctx, "mine", "ar1"); !ok {
		t.Error("the session that asked could not use its approval")
	}
}

func testCallUnknownResult(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "CU")
	u := mustUser(t, st, tn.ID, "cu@example.org")
	mustCall(t, st, u.ID, "s1", "ar1", "hash-u")
	if _, err := st.AnswerCallConfirmation(ctx, "hash-u", "maybe"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown result was recorded: %v", err)
	}
	if s := callState(t, st, "s1", "ar1"); s != store.CallPending {
		t.Errorf("state = %q, want pending", s)
	}
}
