package proxy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

type plainHasher struct{}

func (plainHasher) Sum(v string) string { return "h:" + v }

type fixture struct {
	svc                   *proxy.Service
	st                    *store.Store
	tenant                *store.Tenant
	patient, carer, other *store.User
	events                []store.AuditEvent
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}.Open(t)
	f := &fixture{st: st}
	f.svc = &proxy.Service{St: st, Tokens: plainHasher{}, Audit: func(_ context.Context, e *store.AuditEvent) error {
		f.events = append(f.events, *e)
		return nil
	}}
	f.tenant = &store.Tenant{Name: "Riverside"}
	if err := st.CreateTenant(ctx, f.tenant); err != nil {
		t.Fatal(err)
	}
	user := func(email string) *store.User {
		u := &store.User{TenantID: f.tenant.ID, Email: email, Role: store.RolePatient}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.patient, f.carer, f.other = user("kid@example.org"), user("mum@example.org"), user("stranger@example.org")
	return f
}

func TestGrantChecks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	otherTenant := &store.Tenant{Name: "Elsewhere"}
	f.st.CreateTenant(ctx, otherTenant)
	base := proxy.GrantInput{TenantID: f.tenant.ID, PatientID: f.patient.ID, CaregiverID: f.carer.ID, Access: store.ProxyFull,
		Reason: "parent of a minor", ActorID: "admin-1"}
	for name, tc := range map[string]struct {
		mod  func(*proxy.GrantInput)
		want error
	}{
		"self":           {func(in *proxy.GrantInput) { in.CaregiverID = in.PatientID }, proxy.ErrSelf},
		"no reason":      {func(in *proxy.GrantInput) { in.Reason = " " }, proxy.ErrReason},
		"bad access":     {func(in *proxy.GrantInput) { in.Access = "most" }, proxy.ErrAccess},
		"unknown set":    {func(in *proxy.GrantInput) { in.Access, in.ScopeSet = store.ProxyLimited, "results" }, proxy.ErrScopeSet},
		"past expiry":    {func(in *proxy.GrantInput) { in.ExpiresAt = &past }, proxy.ErrPast},
		"other tenant":   {func(in *proxy.GrantInput) { in.TenantID = otherTenant.ID }, proxy.ErrOtherTenant},
		"unknown person": {func(in *proxy.GrantInput) { in.CaregiverID = "nobody" }, proxy.ErrOtherTenant},
	} {
		in := base
		tc.mod(&in)
		if _, err := f.svc.Grant(ctx, in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if gs, _ := f.st.ProxyGrants(ctx, f.tenant.ID); len(gs) != 0 || len(f.events) != 0 {
		t.Fatalf("refused grants wrote %d grants and %d audit events", len(gs), len(f.events))
	}
	in := base
	in.Access = store.ProxyLimited
	g, err := f.svc.Grant(ctx, in)
	if err != nil || g.ScopeSet != proxy.DefaultScopeSet {
		t.Fatalf("limited grant: %+v %v", g, err)
	}
	if e := f.events[0]; e.Event != "proxy.granted" || e.ActorID != "admin-1" || e.SubjectID != f.patient.ID {
		t.Errorf("audit = %+v", e)
	}
	// Only the two people of a grant may end it as themselves.
	if err := f.svc.RevokeAs(ctx, g.ID, f.other.ID); !errors.Is(err, proxy.ErrNotPermitted) {
		t.Errorf("a stranger revoked: %v", err)
	}
	if err := f.svc.Revoke(ctx, otherTenant.ID, g.ID, "admin-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's administrator revoked: %v", err)
	}
	if err := f.svc.RevokeAs(ctx, g.ID, f.carer.ID); err != nil {
		t.Errorf("the caregiver gives it up: %v", err)
	}
}

func TestInvitationAccept(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token, inv, err := f.svc.Invite(ctx, proxy.Invitation{TenantID: f.tenant.ID, PatientID: f.patient.ID, Email: "MUM@example.org", Access: store.ProxyLimited})
	if err != nil || inv.TokenHash != "h:"+token || inv.ScopeSet != proxy.DefaultScopeSet {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	if _, err := f.svc.Accept(ctx, token, f.other); !errors.Is(err, proxy.ErrEmail) {
		t.Errorf("accepted by another address: %v", err)
	}
	if _, err := f.svc.Accept(ctx, token, f.patient); !errors.Is(err, proxy.ErrSelf) {
		t.Errorf("accepted by the patient: %v", err)
	}
	g, err := f.svc.Accept(ctx, token, f.carer)
	if err != nil || g.CaregiverID != f.carer.ID || g.PatientID != f.patient.ID || g.Access != store.ProxyLimited {
		t.Fatalf("accept: %+v %v", g, err)
	}
	if _, err := f.svc.Accept(ctx, token, f.carer); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the link worked twice: %v", err)
	}
	scopes, err := f.svc.Scopes(ctx, g, []string{"openid", "patient/Observation.read", "patient/Communication.read"})
	if err != nil || len(scopes) != 2 || scopes[1] != "patient/Communication.read" {
		t.Errorf("scopes of a limited grant: %v %v", scopes, err)
	}
	// A tenant's own definition replaces the built-in set.
	if err := f.svc.DefineScopeSet(ctx, f.tenant.ID, "limited", "patient/Observation.read", "cli"); err != nil {
		t.Fatal(err)
	}
	if scopes, _ := f.svc.Scopes(ctx, g, []string{"openid", "patient/Observation.read", "patient/Communication.read"}); len(scopes) != 2 || scopes[1] != "patient/Observation.read" {
		t.Errorf("scopes after the tenant's own set: %v", scopes)
	}
}
