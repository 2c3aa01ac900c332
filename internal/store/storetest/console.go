package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunConsoleTests checks what the account console's pages rely on: email changes keep addresses
// unique per tenant, "Sign out everywhere" ends exactly one person's sessions, tokens and
// devices, "Remove access" exactly one application's, and the activity list is the person's own.
func RunConsoleTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t)
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"change email":        testChangeEmail,
		"sign out everywhere": testSignOutEverywhere,
		"remove app access":   testRemoveAppAccess,
		"account activity":    testAccountActivity,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

func testChangeEmail(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside Health")
	other := mustTenant(t, st, "Lakeside Clinic")
	pat := mustUser(t, st, tn.ID, "pat@example.org")
	mustUser(t, st, tn.ID, "sam@example.org")
	mustUser(t, st, other.ID, "free.here@example.org")
	if taken, err := st.EmailTaken(ctx, tn.ID, pat.ID, "SAM@example.org"); err != nil || !taken {
		t.Errorf("EmailTaken(sam) = %v, %v", taken, err)
	}
	if taken, _ := st.EmailTaken(ctx, tn.ID, pat.ID, "pat@example.org"); taken {
		t.Error("the person's own address counts as taken")
	}
	if err := st.ChangeEmail(ctx, pat.ID, "Sam@Example.org"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("an address of the same tenant: %v, want ErrConflict", err)
	}
	if err := st.ChangeEmail(ctx, pat.ID, "free.here@example.org"); err != nil {
		t.Fatalf("an address used only in another tenant: %v", err)
	}
	u, _ := st.UserByID(ctx, pat.ID)
	if u.Email != "free.here@example.org" || u.EmailLower != "free.here@example.org" || !u.EmailVerified {
		t.Errorf("after the change: %q %q %v", u.Email, u.EmailLower, u.EmailVerified)
	}
	if got, err := st.UserByEmail(ctx, tn.ID, "FREE.HERE@example.org"); err != nil || got.ID != pat.ID {
		t.Errorf("the new address does not find the person: %v", err)
	}
}

// consoleFixture is a person with two sessions, refresh tokens with two clients, a consent and
// a remembered device; and a bystander with a session and a token of their own.
type consoleFixture struct {
	tenant                *store.Tenant
	pat, sam              *store.User
	clientA, clientB      *store.Client
	patSessions           []string
	samSession            string
	tokA, tokB, tokSam    *store.RefreshToken
	hashA, hashB, hashSam string
}

func newConsoleFixture(t *testing.T, st *store.Store) *consoleFixture {
	t.Helper()
	f := &consoleFixture{tenant: mustTenant(t, st, "Riverside Health")}
	f.pat = mustUser(t, st, f.tenant.ID, "pat@example.org")
	f.sam = mustUser(t, st, f.tenant.ID, "sam@example.org")
	for _, c := range []**store.Client{&f.clientA, &f.clientB} {
		*c = &store.Client{TenantID: f.tenant.ID, Name: "App " + store.NewID()[:4], Type: store.ClientWeb}
		if err := st.CreateClient(ctx, *c); err != nil {
			t.Fatal(err)
		}
	}
	session := func(u *store.User) string {
		se := &store.Session{UserID: u.ID, TenantID: f.tenant.ID, CookieHash: store.NewID()}
		if err := st.CreateSession(ctx, se, time.Hour); err != nil {
			t.Fatal(err)
		}
		return se.ID
	}
	f.patSessions = []string{session(f.pat), session(f.pat)}
	f.samSession = session(f.sam)
	token := func(u *store.User, c *store.Client, sid string) (*store.RefreshToken, string) {
		h := store.NewID()
		rt := &store.RefreshToken{TokenHash: h, ClientID: c.ID, TenantID: f.tenant.ID, UserID: u.ID, Scopes: "openid offline_access", SessionID: sid}
		if err := st.IssueRefreshToken(ctx, rt, time.Hour, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		return rt, h
	}
	f.tokA, f.hashA = token(f.pat, f.clientA, f.patSessions[0])
	f.tokB, f.hashB = token(f.pat, f.clientB, "")
	f.tokSam, f.hashSam = token(f.sam, f.clientA, f.samSession)
	if err := st.GrantConsent(ctx, f.pat.ID, f.clientA.ID, []string{"openid", "email"}); err != nil {
		t.Fatal(err)
	}
	if err := st.RememberDevice(ctx, &store.RememberedDevice{UserID: f.pat.ID, TenantID: f.tenant.ID, TokenHash: store.NewID(), Method: "pwd", Network: "*"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	return f
}

func testSignOutEverywhere(t *testing.T, st *store.Store) {
	f := newConsoleFixture(t, st)
	if ss, _ := st.LiveSessions(ctx, f.pat.ID, time.Hour); len(ss) != 2 {
		t.Fatalf("live sessions before: %d", len(ss))
	}
	out, err := st.SignOutEverywhere(ctx, f.pat.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Sessions) != 2 || len(out.Clients) != 2 {
		t.Errorf("signed out %v", out)
	}
	if ss, _ := st.LiveSessions(ctx, f.pat.ID, time.Hour); len(ss) != 0 {
		t.Errorf("%d sessions still live", len(ss))
	}
	for _, sid := range f.patSessions {
		if revoked, _ := st.TokenRevoked(ctx, "", sid, ""); !revoked {
			t.Errorf("session %s is not on the revocation list", sid)
		}
	}
	for _, h := range []string{f.hashA, f.hashB} {
		if _, err := st.RefreshTokenByHash(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refresh token still works: %v", err)
		}
	}
	if revoked, _ := st.TokenRevoked(ctx, "", "", f.tokB.FamilyID); !revoked {
		t.Error("the family's access tokens are not revoked")
	}
	if ds, _ := st.RememberedDevices(ctx, f.pat.ID); len(ds) != 0 {
		t.Errorf("%d remembered devices left", len(ds))
	}
	// The bystander keeps everything.
	if ss, _ := st.LiveSessions(ctx, f.sam.ID, time.Hour); len(ss) != 1 {
		t.Errorf("the other person's sessions: %d", len(ss))
	}
	if _, err := st.RefreshTokenByHash(ctx, f.hashSam); err != nil {
		t.Errorf("the other person's refresh token: %v", err)
	}
	// Ending one session of someone else is not found.
	if err := st.EndUserSession(ctx, f.pat.ID, f.samSession); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EndUserSession of another person's session: %v", err)
	}
}

func testRemoveAppAccess(t *testing.T, st *store.Store) {
	f := newConsoleFixture(t, st)
	apps, err := st.ConnectedApps(ctx, f.tenant.ID, f.pat.ID)
	if err != nil || len(apps) != 2 {
		t.Fatalf("connected apps: %d, %v", len(apps), err)
	}
	for _, a := range apps {
		if a.Client.ID == f.clientA.ID && (!a.Consented || !a.Offline || len(a.Scopes) != 3) {
			t.Errorf("app A: %+v", a)
		}
	}
	if err := st.RemoveAppAccess(ctx, f.pat.ID, f.clientA.ID); err != nil {
		t.Fatal(err)
	}
	apps, _ = st.ConnectedApps(ctx, f.tenant.ID, f.pat.ID)
	if len(apps) != 1 || apps[0].Client.ID != f.clientB.ID {
		t.Errorf("after removing A: %+v", apps)
	}
	if ok, _ := st.ConsentCovers(ctx, f.pat.ID, f.clientA.ID, []string{"openid"}); ok {
		t.Error("the consent for A is still there")
	}
	if _, err := st.RefreshTokenByHash(ctx, f.hashA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("A's refresh token: %v", err)
	}
	for _, h := range []string{f.hashB, f.hashSam} {
		if _, err := st.RefreshTokenByHash(ctx, h); err != nil {
			t.Errorf("another application's or person's token was revoked: %v", err)
		}
	}
	if ss, _ := st.LiveSessions(ctx, f.pat.ID, time.Hour); len(ss) != 2 {
		t.Errorf("removing an application must not sign the person out: %d sessions", len(ss))
	}
}

func testAccountActivity(t *testing.T, st *store.Store) {
	chain := func(e *store.AuditEvent) string { return e.PrevHash + "x" }
	for i, e := range []store.AuditEvent{
		{Event: "login.password", SubjectID: "pat"},
		{Event: "user.unlocked", ActorID: "admin", SubjectID: "pat"},
		{Event: "login.password", SubjectID: "sam"},
		{Event: "account.confirm", ActorID: "pat", SubjectID: "pat"},
		{Event: "mfa.totp", ActorID: "pat"},
	} {
		e.TenantID, e.Result, e.At = "t1", "ok", int64(1000+i)
		if err := st.AppendAudit(ctx, &e, chain); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AppendAudit(ctx, &store.AuditEvent{TenantID: "t2", Event: "login.password", SubjectID: "pat"}, chain); err != nil {
		t.Fatal(err)
	}
	page, err := st.AccountActivity(ctx, "t1", "pat", 0, 2)
	if err != nil || len(page) != 2 || page[0].Event != "mfa.totp" || page[1].Event != "account.confirm" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, _ = st.AccountActivity(ctx, "t1", "pat", page[1].Seq, 10)
	if len(page) != 2 || page[0].Event != "user.unlocked" || page[1].Event != "login.password" {
		t.Errorf("second page: %+v", page)
	}
}
