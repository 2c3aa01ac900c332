package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunAdminTests runs the administration part of the suite (the admin console's and API's reads
// and changes) against one backend: each is bound to its tenant, and the multi-row changes are
// whole.
func RunAdminTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t)
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"tenant bound":       testAdminTenantBound,
		"reset MFA":          testAdminResetMFA,
		"list users":         testAdminListUsers,
		"search audit":       testAdminSearchAudit,
		"admin client":       testAdminClient,
		"disable ends all":   testAdminDisable,
		"rename practice":    testAdminRenamePractice,
		"client scopes kept": testAdminClientScopes,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

// testAdminTenantBound: every tenant-scoped read and change of another tenant's row is
// ErrNotFound and changes nothing.
func testAdminTenantBound(t *testing.T, st *store.Store) {
	a, b := mustTenant(t, st, "A"), mustTenant(t, st, "B")
	u := mustUser(t, st, a.ID, "pat@a.example")
	st.ExecRaw(ctx, "UPDATE users SET locked_at = 1 WHERE id = ?", u.ID)
	p := &store.Practice{TenantID: a.ID, Name: "A Clinic"}
	st.CreatePractice(ctx, p)
	c := &store.Client{TenantID: a.ID, Name: "A Portal", Type: store.ClientWeb, RedirectURIs: store.StringList{"https://a.example/cb"}}
	st.CreateClient(ctx, c)
	name := "Hacked"
	checks := map[string]error{}
	_, checks["TenantUser"] = st.TenantUser(ctx, b.ID, u.ID)
	checks["UpdateUser"] = st.UpdateUser(ctx, b.ID, u.ID, store.UserChanges{Name: &name})
	checks["SetUserDisabled"] = st.SetUserDisabled(ctx, b.ID, u.ID, true)
	_, _, checks["RevokeUserSessions"] = st.RevokeUserSessions(ctx, b.ID, u.ID)
	_, checks["ResetMFA"] = st.ResetMFA(ctx, b.ID, u.ID)
	_, checks["UnlockUser"] = st.UnlockUser(ctx, b.ID, u.ID)
	_, checks["TenantPractice"] = st.TenantPractice(ctx, b.ID, p.ID)
	checks["RenamePractice"] = st.RenamePractice(ctx, b.ID, p.ID, name)
	_, checks["TenantClient"] = st.TenantClient(ctx, b.ID, c.ID)
	checks["UpdateClient"] = st.UpdateClient(ctx, b.ID, c.ID, store.ClientChanges{Name: &name})
	for op, err := range checks {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s on another tenant's row: %v, want ErrNotFound", op, err)
		}
	}
	got, _ := st.UserByID(ctx, u.ID)
	if got.Name == name || got.Disabled || got.LockedAt == nil {
		t.Errorf("tenant B changed tenant A's user: %+v", got)
	}
	if ps, _ := st.Practices(ctx, a.ID); len(ps) != 1 || ps[0].Name != "A Clinic" {
		t.Errorf("practices: %+v", ps)
	}
	if cl, _ := st.ClientByID(ctx, c.ID); cl.Name != "A Portal" {
		t.Errorf("client renamed: %+v", cl)
	}
	if us, _ := st.ListUsers(ctx, b.ID, store.UserFilter{}); len(us) != 0 {
		t.Errorf("tenant B lists tenant A's users: %+v", us)
	}
	if cs, _ := st.Clients(ctx, b.ID); len(cs) != 0 {
		t.Errorf("tenant B lists tenant A's clients: %+v", cs)
	}
	// The consoles' own clients are never an administrator's to edit.
	if _, err := st.TenantClient(ctx, a.ID, store.AccountClientID(a.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("built-in client: %v", err)
	}
}

// testAdminResetMFA: one transaction removes every factor, backup code, passkey and remembered
// device and ends the sessions; it reports the kinds removed.
func testAdminResetMFA(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "R")
	u := mustUser(t, st, tn.ID, "doc@r.example")
	for _, k := range []string{"totp", "sms"} {
		f := &store.Factor{UserID: u.ID, TenantID: tn.ID, Kind: k, Label: "+12025550123"}
		if err := st.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		st.ActivateFactor(ctx, u.ID, f.ID)
	}
	st.ReplaceBackupCodes(ctx, u.ID, []string{"h1", "h2"})
	st.RememberDevice(ctx, &store.RememberedDevice{UserID: u.ID, TenantID: tn.ID, TokenHash: "d1"}, time.Hour)
	se := &store.Session{CookieHash: "c1", UserID: u.ID, TenantID: tn.ID}
	st.CreateSession(ctx, se, time.Hour)
	kinds, err := st.ResetMFA(ctx, tn.ID, u.ID)
	if err != nil || !slices.Equal(kinds, []string{"sms", "totp"}) {
		t.Fatalf("reset: %v %v", kinds, err)
	}
	if fs, _ := st.ActiveFactors(ctx, u.ID); len(fs) != 0 {
		t.Errorf("factors left: %v", fs)
	}
	if n, _ := st.BackupCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("backup codes left: %d", n)
	}
	if ds, _ := st.RememberedDevices(ctx, u.ID); len(ds) != 0 {
		t.Errorf("devices left: %v", ds)
	}
	if _, err := st.SessionByCookie(ctx, "c1", time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the session survived: %v", err)
	}
	if revoked, _ := st.TokenRevoked(ctx, "", se.ID, ""); !revoked {
		t.Error("the session's tokens are not revoked")
	}
	facts, _ := st.SecurityFactsFor(ctx, tn.ID, []string{u.ID})
	if f := facts[u.ID]; len(f.Factors) != 0 || f.RememberedDevices != 0 {
		t.Errorf("facts after the reset: %+v", f)
	}
}

func testAdminListUsers(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "L")
	p := &store.Practice{TenantID: tn.ID, Name: "North"}
	st.CreatePractice(ctx, p)
	doc := &store.User{TenantID: tn.ID, Email: "doc@l.example", Name: "Dana Lee", Role: store.RoleProvider, PracticeID: &p.ID}
	st.CreateUser(ctx, doc)
	pat := &store.User{TenantID: tn.ID, Email: "pat@l.example", Name: "Pat 100%_Smith", Role: store.RolePatient}
	st.CreateUser(ctx, pat)
	off := &store.User{TenantID: tn.ID, Email: "gone@l.example", Role: store.RoleStaff, Disabled: true}
	st.CreateUser(ctx, off)
	st.ExecRaw(ctx, "UPDATE users SET locked_at = 5 WHERE id = ?", doc.ID)
	f := &store.Factor{UserID: doc.ID, TenantID: tn.ID, Kind: "totp"}
	st.CreateFactor(ctx, f)
	st.ActivateFactor(ctx, doc.ID, f.ID)
	ids := func(us []store.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Email)
		}
		return out
	}
	for name, c := range map[string]struct {
		f    store.UserFilter
		want []string
	}{
		"all":         {store.UserFilter{}, []string{"doc@l.example", "gone@l.example", "pat@l.example"}},
		"practice":    {store.UserFilter{PracticeID: p.ID}, []string{"doc@l.example"}},
		"no practice": {store.UserFilter{PracticeID: "-"}, []string{"gone@l.example", "pat@l.example"}},
		"role":        {store.UserFilter{Role: store.RolePatient}, []string{"pat@l.example"}},
		"locked":      {store.UserFilter{Status: "locked"}, []string{"doc@l.example"}},
		"disabled":    {store.UserFilter{Status: "disabled"}, []string{"gone@l.example"}},
		"active":      {store.UserFilter{Status: "active"}, []string{"pat@l.example"}},
		"mfa":         {store.UserFilter{Status: "mfa"}, []string{"doc@l.example"}},
		"no mfa":      {store.UserFilter{Status: "no_mfa"}, []string{"gone@l.example", "pat@l.example"}},
		"query name":  {store.UserFilter{Query: "dana"}, []string{"doc@l.example"}},
		"query wild":  {store.UserFilter{Query: "100%_"}, []string{"pat@l.example"}},
		"query %":     {store.UserFilter{Query: "%"}, []string{"pat@l.example"}},
		"paging":      {store.UserFilter{Limit: 1, Offset: 1}, []string{"gone@l.example"}},
	} {
		us, err := st.ListUsers(ctx, tn.ID, c.f)
		if err != nil || !slices.Equal(ids(us), c.want) {
			t.Errorf("%s: %v %v, want %v", name, ids(us), err, c.want)
		}
	}
}

func testAdminSearchAudit(t *testing.T, st *store.Store) {
	tn, other := mustTenant(t, st, "S"), mustTenant(t, st, "T")
	chain := func(e *store.AuditEvent) string { return "h" }
	add := func(tenant, event, result, actor, subject string, at int64) {
		if err := st.AppendAudit(ctx, &store.AuditEvent{TenantID: tenant, Event: event, Result: result, ActorID: actor, SubjectID: subject, At: at}, chain); err != nil {
			t.Fatal(err)
		}
	}
	add(tn.ID, "user.unlock", "ok", "adm", "u1", 1000)
	add(tn.ID, "user.mfa_reset", "ok", "adm", "u2", 2000)
	add(tn.ID, "tenant.updated", "refused", "adm", "", 3000)
	add(tn.ID, "login", "failed", "u1", "u1", 4000)
	add(other.ID, "user.unlock", "ok", "x", "u1", 1500)
	events := func(f store.AuditFilter) []string {
		es, err := st.SearchAudit(ctx, tn.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Event)
		}
		return out
	}
	for name, c := range map[string]struct {
		f    store.AuditFilter
		want []string
	}{
		"newest first": {store.AuditFilter{}, []string{"login", "tenant.updated", "user.mfa_reset", "user.unlock"}},
		"event":        {store.AuditFilter{Event: "user.unlock"}, []string{"user.unlock"}},
		"group":        {store.AuditFilter{Event: "user."}, []string{"user.mfa_reset", "user.unlock"}},
		"user":         {store.AuditFilter{UserID: "u1"}, []string{"login", "user.unlock"}},
		"result":       {store.AuditFilter{Result: "refused"}, []string{"tenant.updated"}},
		"range":        {store.AuditFilter{From: 2000, To: 4000}, []string{"tenant.updated", "user.mfa_reset"}},
		"limit":        {store.AuditFilter{Limit: 2}, []string{"login", "tenant.updated"}},
	} {
		if got := events(c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	es, _ := st.SearchAudit(ctx, tn.ID, store.AuditFilter{Limit: 2})
	if got := events(store.AuditFilter{BeforeID: es[1].ID}); !slices.Equal(got, []string{"user.mfa_reset", "user.unlock"}) {
		t.Errorf("the next page: %v", got)
	}
}

func testAdminClient(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "C")
	c, err := st.EnsureAdminClient(ctx, tn.ID, "https://id.example/admin/callback", "urn:tessera:acr:mfa")
	if err != nil || c.ID != store.AdminClientID(tn.ID) || c.MinACR != "urn:tessera:acr:mfa" || c.Type != store.ClientPublic {
		t.Fatalf("admin client: %+v %v", c, err)
	}
	// Someone lowered its minimum or disabled it in the database: the next sign-in restores it.
	st.ExecRaw(ctx, "UPDATE clients SET min_acr = '', disabled = ? WHERE id = ?", true, c.ID)
	c, err = st.EnsureAdminClient(ctx, tn.ID, "https://id.example/admin/callback", "urn:tessera:acr:mfa")
	if err != nil || c.MinACR != "urn:tessera:acr:mfa" || c.Disabled {
		t.Fatalf("not restored: %+v %v", c, err)
	}
	if got, _ := st.ClientByID(ctx, c.ID); got.MinACR != "urn:tessera:acr:mfa" || got.Disabled {
		t.Fatalf("not restored in the row: %+v", got)
	}
	if cs, _ := st.Clients(ctx, tn.ID); len(cs) != 0 {
		t.Errorf("the built-in client is listed: %+v", cs)
	}
	if err := st.UpdateClient(ctx, tn.ID, c.ID, store.ClientChanges{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the built-in client was editable: %v", err)
	}
}

func testAdminDisable(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "D")
	u := mustUser(t, st, tn.ID, "x@d.example")
	se := &store.Session{CookieHash: "c2", UserID: u.ID, TenantID: tn.ID}
	st.CreateSession(ctx, se, time.Hour)
	st.RememberDevice(ctx, &store.RememberedDevice{UserID: u.ID, TenantID: tn.ID, TokenHash: "d2"}, time.Hour)
	if err := st.SetUserDisabled(ctx, tn.ID, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionByCookie(ctx, "c2", time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Error("a disabled user's session lives on")
	}
	if ds, _ := st.RememberedDevices(ctx, u.ID); len(ds) != 0 {
		t.Error("a disabled user's devices are remembered")
	}
	if err := st.SetUserDisabled(ctx, tn.ID, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.Disabled {
		t.Error("still disabled")
	}
}

func testAdminRenamePractice(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "P")
	a, b := &store.Practice{TenantID: tn.ID, Name: "North"}, &store.Practice{TenantID: tn.ID, Name: "South"}
	st.CreatePractice(ctx, a)
	st.CreatePractice(ctx, b)
	if err := st.RenamePractice(ctx, tn.ID, a.ID, "South"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rename onto a taken name: %v", err)
	}
	if err := st.RenamePractice(ctx, tn.ID, a.ID, "East"); err != nil {
		t.Fatal(err)
	}
	if taken, _ := st.PracticeNameTaken(ctx, tn.ID, "East"); !taken {
		t.Error("renamed practice not found by name")
	}
}

func testAdminClientScopes(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "K")
	c := &store.Client{TenantID: tn.ID, Name: "Sync", Type: store.ClientService, Scopes: store.StringList{store.ScopeAdminRead}}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, _ := st.ClientByID(ctx, c.ID)
	if !slices.Equal(got.Scopes, store.StringList{store.ScopeAdminRead}) {
		t.Fatalf("scopes: %v", got.Scopes)
	}
	none := store.StringList{}
	st.UpdateClient(ctx, tn.ID, c.ID, store.ClientChanges{Scopes: &none})
	if got, _ := st.ClientByID(ctx, c.ID); len(got.Scopes) != 0 {
		t.Fatalf("scopes after removal: %v", got.Scopes)
	}
}
