// Package storetest is the one conformance suite every storage backend must pass. The same tests
// run on SQLite (always) and on PostgreSQL (when TESSERA_TEST_POSTGRES_URL is set), so the two
// can never drift apart.
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver used to create scratch databases

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/store"
)

// Backend opens a fresh, migrated store for one test.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.Store
}

// Backends returns SQLite always and PostgreSQL when TESSERA_TEST_POSTGRES_URL is set; without
// it the PostgreSQL entry skips the test with a message saying so.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: OpenSQLite},
		{Name: "postgres", Open: OpenPostgres},
	}
}

// OpenSQLite returns a migrated store on a new SQLite file in the test's temp dir.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open("sqlite", filepath.Join(t.TempDir(), "tessera.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background(), tessera.Migrations()); err != nil {
		t.Fatal(err)
	}
	return st
}

// PostgresURL returns TESSERA_TEST_POSTGRES_URL, skipping the test when it is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TESSERA_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("PostgreSQL tests skipped: set TESSERA_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them")
	}
	return u
}

var scratchSeq struct {
	sync.Mutex
	n int
}

// OpenPostgres creates a scratch database on the server named by TESSERA_TEST_POSTGRES_URL,
// migrates it, and drops it when the test ends, so tests never see each other's rows.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	dsn := ScratchPostgres(t)
	st, err := store.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background(), tessera.Migrations()); err != nil {
		t.Fatal(err)
	}
	return st
}

// ScratchPostgres creates an empty database and returns its URL.
func ScratchPostgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	scratchSeq.Lock()
	scratchSeq.n++
	name := fmt.Sprintf("tessera_t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, scratchSeq.n)
	scratchSeq.Unlock()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create scratch database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Run runs the whole suite against one backend.
func Run(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t) // skip once, with the message, rather than once per test
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"tenants":                 testTenants,
		"users":                   testUsers,
		"clients":                 testClients,
		"auth code once":          testAuthCodeOnce,
		"auth code concurrent":    testAuthCodeConcurrent,
		"auth code expiry":        testAuthCodeExpiry,
		"refresh rotation":        testRefreshRotation,
		"refresh concurrent":      testRefreshConcurrent,
		"sessions":                testSessions,
		"signing keys":            testSigningKeys,
		"audit":                   testAudit,
		"migrate twice":           testMigrateTwice,
		"delete expired":          testDeleteExpired,
		"access token revocation": testAccessTokenRevocation,
		"consents":                testConsents,
		"login throttle":          testThrottle,
		"lockout":                 testLockout,
		"lockout concurrent":      testLockoutConcurrent,
		"one-time codes":          testOTP,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

var ctx = context.Background()

func mustTenant(t *testing.T, st *store.Store, name string) *store.Tenant {
	t.Helper()
	tn := &store.Tenant{Name: name}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	return tn
}

func mustUser(t *testing.T, st *store.Store, tenantID, email string) *store.User {
	t.Helper()
	u := &store.User{TenantID: tenantID, Email: email, Role: store.RolePatient}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func testTenants(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside Health")
	if tn.MFAMode != store.MFAOptional {
		t.Errorf("default mfa mode = %q", tn.MFAMode)
	}
	if err := st.CreateTenant(ctx, &store.Tenant{Name: "riverside HEALTH"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate tenant name (other case): err = %v, want ErrConflict", err)
	}
	for _, ref := range []string{tn.ID, "Riverside Health", "riverside health"} {
		got, err := st.TenantByRef(ctx, ref)
		if err != nil || got.ID != tn.ID {
			t.Errorf("TenantByRef(%q) = %v, %v", ref, got, err)
		}
	}
	if _, err := st.TenantByRef(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown tenant: err = %v", err)
	}
	p := &store.Practice{TenantID: tn.ID, Name: "Main Street Clinic"}
	if err := st.CreatePractice(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := st.PracticeByRef(ctx, tn.ID, "Main Street Clinic"); err != nil || got.ID != p.ID {
		t.Errorf("PracticeByRef = %v, %v", got, err)
	}
	other := mustTenant(t, st, "Other")
	if _, err := st.PracticeByRef(ctx, other.ID, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("practice visible from another tenant: %v", err)
	}
	enforce := time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC).Unix()
	tn.MFAMode, tn.EnforceFrom = store.MFARequired, &enforce
	if err := st.UpdateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	got, _ := st.TenantByID(ctx, tn.ID)
	if got.MFAMode != store.MFARequired || got.EnforceFrom == nil || *got.EnforceFrom != enforce {
		t.Errorf("tenant update not saved: %+v", got)
	}
}

func testUsers(t *testing.T, st *store.Store) {
	a := mustTenant(t, st, "A")
	b := mustTenant(t, st, "B")
	u := mustUser(t, st, a.ID, "Pat.Smith@Example.org")
	if err := st.CreateUser(ctx, &store.User{TenantID: a.ID, Email: "pat.smith@example.ORG", Role: store.RolePatient}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same email, other case, same tenant: err = %v, want ErrConflict", err)
	}
	if err := st.CreateUser(ctx, &store.User{TenantID: b.ID, Email: "pat.smith@example.org", Role: store.RolePatient}); err != nil {
		t.Errorf("same email in another tenant must be allowed: %v", err)
	}
	got, err := st.UserByEmail(ctx, a.ID, "  PAT.SMITH@example.org ")
	if err != nil || got.ID != u.ID || got.Email != "Pat.Smith@Example.org" {
		t.Errorf("UserByEmail = %+v, %v", got, err)
	}
	// A phone number may be shared by several people (a family, a care home).
	for _, e := range []string{"mum@example.org", "dad@example.org"} {
		if err := st.CreateUser(ctx, &store.User{TenantID: a.ID, Email: e, Phone: "+12025550123", Role: store.RolePatient}); err != nil {
			t.Fatal(err)
		}
	}
	if us, err := st.UsersByPhone(ctx, a.ID, "+12025550123"); err != nil || len(us) != 2 {
		t.Errorf("UsersByPhone = %d users, %v", len(us), err)
	}
	if err := st.SetPasswordHash(ctx, u.ID, "$argon2id$new"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.PasswordHash != "$argon2id$new" {
		t.Errorf("password hash not saved")
	}
	if _, err := st.UserByID(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: %v", err)
	}
}

func testClients(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "T")
	c := &store.Client{TenantID: tn.ID, Name: "Portal", Type: store.ClientWeb, SecretHash: "h1",
		RedirectURIs: []string{"https://portal.example.org/cb", "http://localhost:3000/cb"}}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := st.ClientByID(ctx, c.ID)
	if err != nil || len(got.RedirectURIs) != 2 || got.RedirectURIs[1] != "http://localhost:3000/cb" || len(got.PostLogoutRedirectURIs) != 0 {
		t.Fatalf("ClientByID = %+v, %v", got, err)
	}
	if err := st.SetClientSecretHash(ctx, c.ID, "h2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClientByID(ctx, c.ID); got.SecretHash != "h2" {
		t.Error("secret not rotated")
	}
	if got, err := st.ClientByName(ctx, tn.ID, "Portal"); err != nil || got.ID != c.ID {
		t.Errorf("ClientByName = %v, %v", got, err)
	}
}

func newCompletedRequest(t *testing.T, st *store.Store, code string) (*store.AuthRequest, *store.User) {
	t.Helper()
	tn := mustTenant(t, st, "T-"+code)
	u := mustUser(t, st, tn.ID, code+"@example.org")
	ar := &store.AuthRequest{ClientID: "c1", TenantID: tn.ID, Params: "{}"}
	if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, "sess1", time.Now(), []string{"pwd"}, "urn:tessera:acr:1fa"); err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, "sess1", time.Now(), []string{"pwd"}, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completing twice: err = %v", err)
	}
	if err := st.SaveAuthCode(ctx, ar.ID, "hash-"+code, time.Minute); err != nil {
		t.Fatal(err)
	}
	return ar, u
}

func testAuthCodeOnce(t *testing.T, st *store.Store) {
	ar, u := newCompletedRequest(t, st, "once")
	got, _, err := st.RedeemAuthCode(ctx, "hash-once")
	if err != nil || got.ID != ar.ID || got.UserID != u.ID || got.AMR != "pwd" || !got.Done {
		t.Fatalf("first redemption = %+v, %v", got, err)
	}
	// Tokens issued from the code, then a replay: they must all be revoked.
	jti := store.NewID()
	rt := &store.RefreshToken{TokenHash: "rt-once", ClientID: "c1", TenantID: ar.TenantID, UserID: u.ID, AuthRequestID: ar.ID}
	if err := st.IssueRefreshToken(ctx, rt, time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.RedeemAuthCode(ctx, "hash-once"); !errors.Is(err, store.ErrReplayed) {
		t.Fatalf("second redemption: err = %v, want ErrReplayed", err)
	}
	if revoked, err := st.TokenRevoked(ctx, jti, "", ar.ID); err != nil || !revoked {
		t.Errorf("access token from a replayed code still live (%v)", err)
	}
	if _, err := st.RefreshTokenByHash(ctx, "rt-once"); !errors.Is(err, store.ErrNotFound) {
		t.Error("refresh token from a replayed code still usable")
	}
	if _, _, err := st.RedeemAuthCode(ctx, "no-such-code"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown code: err = %v", err)
	}
}

// testAuthCodeConcurrent: many parallel redemptions of one code, exactly one wins.
func testAuthCodeConcurrent(t *testing.T, st *store.Store) {
	newCompletedRequest(t, st, "race")
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := st.RedeemAuthCode(ctx, "hash-race"); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrReplayed) && !isBusy(err) {
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d redemptions succeeded, want exactly 1", wins)
	}
}

// isBusy tolerates SQLite's lock contention under heavy parallel writes in the test itself.
func isBusy(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "database is locked") || strings.Contains(err.Error(), "SQLITE_BUSY"))
}

func testAuthCodeExpiry(t *testing.T, st *store.Store) {
	newCompletedRequest(t, st, "exp")
	st.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	if _, _, err := st.RedeemAuthCode(ctx, "hash-exp"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired code: err = %v, want ErrNotFound", err)
	}
}

func testRefreshRotation(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "R")
	u := mustUser(t, st, tn.ID, "r@example.org")
	first := &store.RefreshToken{TokenHash: "h1", ClientID: "c1", TenantID: tn.ID, UserID: u.ID, Scopes: "openid offline_access",
		AMR: "pwd otp mfa", ACR: "urn:tessera:acr:mfa", AuthTime: 1234}
	if err := st.IssueRefreshToken(ctx, first, time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := st.RefreshTokenByHash(ctx, "h1")
	if err != nil || got.ACR != "urn:tessera:acr:mfa" || got.AuthTime != 1234 {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	second := &store.RefreshToken{TokenHash: "h2", ClientID: "c1", TenantID: tn.ID, UserID: u.ID, AMR: got.AMR, ACR: got.ACR, AuthTime: got.AuthTime}
	if revoked, err := st.TokenRevoked(ctx, store.NewID(), "", first.FamilyID); err != nil || revoked {
		t.Fatalf("live family listed as revoked (%v)", err)
	}
	if err := st.RotateRefreshToken(ctx, got, second, time.Hour); err != nil {
		t.Fatal(err)
	}
	if second.FamilyID != first.FamilyID {
		t.Error("rotation left the family")
	}
	if _, err := st.RefreshTokenByHash(ctx, "h2"); err != nil {
		t.Fatalf("new link unusable: %v", err)
	}
	// Reuse of the rotated link revokes the whole family and its access tokens.
	if _, err := st.RefreshTokenByHash(ctx, "h1"); !errors.Is(err, store.ErrReplayed) {
		t.Fatalf("reuse: err = %v, want ErrReplayed", err)
	}
	if _, err := st.RefreshTokenByHash(ctx, "h2"); !errors.Is(err, store.ErrNotFound) {
		t.Error("family member still usable after reuse")
	}
	if revoked, err := st.TokenRevoked(ctx, store.NewID(), "", first.FamilyID); err != nil || !revoked {
		t.Errorf("access tokens of a revoked family still live (%v)", err)
	}
}

// testRefreshConcurrent: two requests rotating the same link; at most one succeeds, and when
// both saw the link the family ends revoked.
func testRefreshConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "RC")
	u := mustUser(t, st, tn.ID, "rc@example.org")
	first := &store.RefreshToken{TokenHash: "c1", ClientID: "c1", TenantID: tn.ID, UserID: u.ID}
	if err := st.IssueRefreshToken(ctx, first, time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := &store.RefreshToken{TokenHash: fmt.Sprintf("c-next-%d", i), ClientID: "c1", TenantID: tn.ID, UserID: u.ID}
			for {
				errs[i] = st.RotateRefreshToken(ctx, first, next, time.Hour)
				if !isBusy(errs[i]) {
					return
				}
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, store.ErrReplayed) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent rotations succeeded, want 1", ok)
	}
	for i := range 2 {
		if _, err := st.RefreshTokenByHash(ctx, fmt.Sprintf("c-next-%d", i)); err == nil {
			t.Error("a link survived a concurrent double rotation; the family must be revoked")
		}
	}
}

func testSessions(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "S")
	u := mustUser(t, st, tn.ID, "s@example.org")
	se := &store.Session{CookieHash: "ck", UserID: u.ID, TenantID: tn.ID, AuthTime: time.Now().Unix(), AMR: "pwd"}
	if err := st.CreateSession(ctx, se, time.Hour); err != nil {
		t.Fatal(err)
	}
	rt := &store.RefreshToken{TokenHash: "srt", ClientID: "c1", TenantID: tn.ID, UserID: u.ID, SessionID: se.ID}
	if err := st.IssueRefreshToken(ctx, rt, time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := st.SessionByCookie(ctx, "ck", time.Hour); err != nil || got.ID != se.ID {
		t.Fatalf("SessionByCookie = %v, %v", got, err)
	}
	// Idle timeout.
	st.SetClock(func() time.Time { return time.Now().Add(30 * time.Minute) })
	if _, err := st.SessionByCookie(ctx, "ck", 10*time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Error("idle session still live")
	}
	st.SetClock(time.Now)
	if err := st.RevokeSession(ctx, se.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByCookie(ctx, "ck", time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Error("revoked session still live")
	}
	if revoked, err := st.TokenRevoked(ctx, store.NewID(), se.ID, ""); err != nil || !revoked {
		t.Errorf("access tokens of a revoked session still live (%v)", err)
	}
	if _, err := st.RefreshTokenByHash(ctx, "srt"); !errors.Is(err, store.ErrNotFound) {
		t.Error("refresh token of a revoked session still usable")
	}
}

func testSigningKeys(t *testing.T, st *store.Store) {
	now := time.Now().Unix()
	for _, k := range []*store.SigningKey{
		{ID: "old", Alg: "ES256", PrivateSealed: []byte{1, 2}, PublicJWK: "{}", ActiveFrom: now - 100},
		{ID: "new", Alg: "ES256", PrivateSealed: []byte{3, 4}, PublicJWK: "{}", ActiveFrom: now + 10},
	} {
		if err := st.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RetireSigningKeys(ctx, "ES256", "new", now+10); err != nil {
		t.Fatal(err)
	}
	ks, err := st.SigningKeys(ctx, now)
	if err != nil || len(ks) != 2 || ks[0].ID != "new" || ks[1].RetiredAt == nil || string(ks[1].PrivateSealed) != "\x01\x02" {
		t.Fatalf("SigningKeys = %+v, %v", ks, err)
	}
	// Past the grace period the retired key is no longer listed.
	if ks, _ := st.SigningKeys(ctx, now+20); len(ks) != 1 || ks[0].ID != "new" {
		t.Errorf("after grace: %+v", ks)
	}
	if n, _ := st.CountSigningKeys(ctx); n != 2 {
		t.Errorf("CountSigningKeys = %d", n)
	}
}

func testAudit(t *testing.T, st *store.Store) {
	for i, ev := range []string{"login.password", "login.password", "session.logout"} {
		chain := func(e *store.AuditEvent) string { return fmt.Sprint(e.PrevHash, "+", e.Seq) }
		if err := st.AppendAudit(ctx, &store.AuditEvent{TenantID: "t1", Event: ev, Result: "ok", SubjectID: fmt.Sprint("u", i%2)}, chain); err != nil {
			t.Fatal(err)
		}
	}
	es, err := st.AuditEvents(ctx, "t1", "u0", 10)
	if err != nil || len(es) != 2 || es[0].Event != "session.logout" {
		t.Errorf("AuditEvents = %+v, %v", es, err)
	}
}

func testMigrateTwice(t *testing.T, st *store.Store) {
	if err := st.Migrate(ctx, tessera.Migrations()); err != nil {
		t.Errorf("second migrate must be a no-op: %v", err)
	}
}

func testDeleteExpired(t *testing.T, st *store.Store) {
	ar := &store.AuthRequest{ClientID: "c", TenantID: "t", Params: "{}"}
	if err := st.CreateAuthRequest(ctx, ar, time.Minute); err != nil {
		t.Fatal(err)
	}
	st.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	if err := st.DeleteExpired(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	st.SetClock(time.Now)
	if _, err := st.AuthRequestByID(ctx, ar.ID); !errors.Is(err, store.ErrNotFound) {
		t.Error("expired auth request not deleted")
	}
}

func testConsents(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "C")
	u := mustUser(t, st, tn.ID, "c@example.org")
	if ok, err := st.ConsentCovers(ctx, u.ID, "app", []string{"openid"}); ok || err != nil {
		t.Fatalf("no consent yet: %v %v", ok, err)
	}
	if err := st.GrantConsent(ctx, u.ID, "app", []string{"openid", "email"}); err != nil {
		t.Fatal(err)
	}
	if err := st.GrantConsent(ctx, u.ID, "app", []string{"profile"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.ConsentCovers(ctx, u.ID, "app", []string{"openid", "email", "profile"}); !ok {
		t.Error("widened consent does not cover all scopes")
	}
	if ok, _ := st.ConsentCovers(ctx, u.ID, "app", []string{"phone"}); ok {
		t.Error("consent covers a scope never granted")
	}
	if err := st.RevokeConsent(ctx, u.ID, "app"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.ConsentCovers(ctx, u.ID, "app", []string{"openid"}); ok {
		t.Error("revoked consent still covers")
	}
}

func testThrottle(t *testing.T, st *store.Store) {
	delay := func(n int) time.Duration {
		if n < 3 {
			return 0
		}
		return time.Duration(n) * time.Minute
	}
	for i := 1; i <= 2; i++ {
		s, err := st.ThrottleFail(ctx, "acct:a|ip:1", time.Hour, delay)
		if err != nil || s.Failures != i || s.BlockedUntil != 0 {
			t.Fatalf("failure %d: %+v %v", i, s, err)
		}
	}
	s, _ := st.ThrottleFail(ctx, "acct:a|ip:1", time.Hour, delay)
	if s.Failures != 3 || s.BlockedUntil < time.Now().Add(170*time.Second).Unix() {
		t.Fatalf("third failure must block ~3 min: %+v", s)
	}
	if until, any, _ := st.ThrottleBlockedUntil(ctx, "ip:1", "acct:a|ip:1"); until != s.BlockedUntil || !any {
		t.Errorf("blocked until %d, want %d", until, s.BlockedUntil)
	}
	// Parallel failures are all counted (one atomic statement each).
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := st.ThrottleFail(ctx, "ip:2", time.Hour, delay); !isBusy(err) {
					return
				}
			}
		}()
	}
	wg.Wait()
	if s, _ := st.ThrottleFail(ctx, "ip:2", time.Hour, delay); s.Failures != 11 {
		t.Errorf("parallel failures counted %d, want 11", s.Failures)
	}
	// Old failures start again from one.
	st.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	if s, _ := st.ThrottleFail(ctx, "acct:a|ip:1", time.Hour, delay); s.Failures != 1 {
		t.Errorf("after the window: %d failures", s.Failures)
	}
	st.SetClock(time.Now)
	if err := st.ThrottleReset(ctx, "acct:a|ip:1"); err != nil {
		t.Fatal(err)
	}
	if until, any, _ := st.ThrottleBlockedUntil(ctx, "acct:a|ip:1"); until != 0 || any {
		t.Errorf("reset key still blocked until %d", until)
	}
}

func testLockout(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "L")
	u := mustUser(t, st, tn.ID, "l@example.org")
	for i := 1; i <= 3; i++ {
		if n, locked, err := st.MFAFailure(ctx, u.ID, 7); n != i || locked || err != nil {
			t.Fatalf("failure %d: %d %v %v", i, n, locked, err)
		}
	}
	if err := st.MFASuccess(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 7; i++ {
		n, locked, _ := st.MFAFailure(ctx, u.ID, 7)
		if n != i || locked != (i == 7) {
			t.Fatalf("after a success, failure %d: count %d locked %v", i, n, locked)
		}
	}
	// Locked: more failures change nothing, a success does not unlock.
	if n, locked, _ := st.MFAFailure(ctx, u.ID, 7); n != 7 || !locked {
		t.Errorf("an 8th failure: %d %v", n, locked)
	}
	st.MFASuccess(ctx, u.ID)
	if got, _ := st.UserByID(ctx, u.ID); got.LockedAt == nil || got.MFAFailures != 7 {
		t.Errorf("a success unlocked the account: %+v", got)
	}
	if was, err := st.Unlock(ctx, u.ID); !was || err != nil {
		t.Fatalf("unlock: %v %v", was, err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.LockedAt != nil || got.MFAFailures != 0 {
		t.Errorf("after unlock: %+v", got)
	}
	if was, _ := st.Unlock(ctx, u.ID); was {
		t.Error("unlocking an unlocked account reports it was locked")
	}
}

// testLockoutConcurrent: 50 parallel wrong answers count exactly to the limit, never past it.
func testLockoutConcurrent(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "LC")
	u := mustUser(t, st, tn.ID, "lc@example.org")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := st.MFAFailure(ctx, u.ID, 7); !isBusy(err) {
					if err != nil {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := st.UserByID(ctx, u.ID)
	if got.MFAFailures != 7 || got.LockedAt == nil {
		t.Errorf("after 50 parallel failures: count %d, locked %v; want exactly 7 and locked", got.MFAFailures, got.LockedAt != nil)
	}
}

func testOTP(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "O")
	u := mustUser(t, st, tn.ID, "o@example.org")
	lim := store.SendLimits{Cooldown: 30 * time.Second, PerUser: 3, PerDestination: 5, PerIP: 20}
	clock := time.Now()
	st.SetClock(func() time.Time { return clock })
	defer st.SetClock(time.Now)
	issue := func(hash string) error {
		return st.IssueOTP(ctx, &store.OTPCode{UserID: u.ID, Channel: "email", Destination: u.Email, CodeHash: hash}, "203.0.113.1", 15*time.Minute, lim)
	}
	if err := issue("h1"); err != nil {
		t.Fatal(err)
	}
	var lim1 *store.ErrSendLimited
	if err := issue("h2"); !errors.As(err, &lim1) || lim1.Reason != "cooldown" || lim1.RetryAt.Unix() != clock.Unix()+30 {
		t.Fatalf("resend within the cooldown: %v", err)
	}
	clock = clock.Add(31 * time.Second)
	if err := issue("h2"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(31 * time.Second)
	if err := issue("h3"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(31 * time.Second)
	if err := issue("h4"); !errors.As(err, &lim1) || lim1.Reason != "user" {
		t.Fatalf("fourth send in an hour: %v", err)
	}
	// Several outstanding codes are all valid; the first right one spends them all.
	if ok, _ := st.SpendOTP(ctx, u.ID, "email", "nope"); ok {
		t.Error("a wrong code was accepted")
	}
	if ok, err := st.SpendOTP(ctx, u.ID, "email", "h1"); !ok || err != nil {
		t.Fatalf("an older outstanding code: %v %v", ok, err)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if ok, _ := st.SpendOTP(ctx, u.ID, "email", h); ok {
			t.Errorf("%s still valid after a success", h)
		}
	}
	// Expiry.
	clock = clock.Add(2 * time.Hour)
	if err := issue("h5"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(16 * time.Minute)
	if ok, _ := st.SpendOTP(ctx, u.ID, "email", "h5"); ok {
		t.Error("an expired code was accepted")
	}
}

// testAccessTokenRevocation: a revoked jti is listed until the token's own expiry, others are not,
// and the janitor forgets it afterwards.
func testAccessTokenRevocation(t *testing.T, st *store.Store) {
	jti, other := store.NewID(), store.NewID()
	if revoked, err := st.TokenRevoked(ctx, jti, "", ""); err != nil || revoked {
		t.Fatalf("fresh jti: revoked=%v err=%v", revoked, err)
	}
	exp := time.Now().Add(time.Minute).Unix()
	if err := st.RevokeAccessToken(ctx, jti, exp); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAccessToken(ctx, jti, exp); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if revoked, err := st.TokenRevoked(ctx, jti, "", ""); err != nil || !revoked {
		t.Errorf("revoked jti: revoked=%v err=%v", revoked, err)
	}
	if revoked, err := st.TokenRevoked(ctx, other, "", ""); err != nil || revoked {
		t.Errorf("another jti: revoked=%v err=%v", revoked, err)
	}
	st.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	defer st.SetClock(time.Now)
	if err := st.DeleteExpired(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if revoked, err := st.TokenRevoked(ctx, jti, "", ""); err != nil || revoked {
		t.Errorf("expired revocation kept: revoked=%v err=%v", revoked, err)
	}
}
