package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// RunProxyTests runs the caregiver (proxy) part of the suite against one backend: grants in
// force and their end, revocation listed for the token checks, an invitation accepted exactly
// once under concurrency, and the choice on an auth request.
func RunProxyTests(t *testing.T, b Backend) {
	if b.Name == "postgres" {
		PostgresURL(t)
	}
	tests := map[string]func(t *testing.T, st *store.Store){
		"grant lifecycle":          testProxyGrantLifecycle,
		"invitation accept once":   testProxyInvitationConcurrent,
		"auth request choice":      testProxyAuthRequestChoice,
		"scope sets":               testProxyScopeSets,
		"refresh token carries it": testProxyRefreshColumn,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Open(t))
		})
	}
}

type proxyPeople struct {
	tenant         *store.Tenant
	patient, carer *store.User
}

func proxyFixture(t *testing.T, st *store.Store) proxyPeople {
	t.Helper()
	tn := mustTenant(t, st, "Riverside")
	return proxyPeople{tenant: tn, patient: mustUser(t, st, tn.ID, "kid@example.org"), carer: mustUser(t, st, tn.ID, "mum@example.org")}
}

func testProxyGrantLifecycle(t *testing.T, st *store.Store) {
	_, advance := fixedClock(t, st)
	p := proxyFixture(t, st)
	exp := st.Now().Add(time.Hour).Unix()
	g := &store.ProxyGrant{TenantID: p.tenant.ID, PatientID: p.patient.ID, CaregiverID: p.carer.ID, Access: store.ProxyFull,
		ExpiresAt: &exp, Reason: "parent", CreatedBy: "cli"}
	if err := st.CreateProxyGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	open := &store.ProxyGrant{TenantID: p.tenant.ID, PatientID: p.carer.ID, CaregiverID: p.patient.ID, Access: store.ProxyLimited,
		ScopeSet: "limited", Reason: "other way round", CreatedBy: "cli"}
	if err := st.CreateProxyGrant(ctx, open); err != nil {
		t.Fatal(err)
	}
	if gs, err := st.ProxyGrantsOfCaregiver(ctx, p.carer.ID); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("caregiver's grants: %+v %v", gs, err)
	}
	if gs, err := st.ProxyGrantsOfPatient(ctx, p.patient.ID); err != nil || len(gs) != 1 {
		t.Fatalf("patient's grants: %+v %v", gs, err)
	}
	advance(time.Hour) // the grant ends exactly at its expiry
	if gs, _ := st.ProxyGrantsOfCaregiver(ctx, p.carer.ID); len(gs) != 0 {
		t.Fatalf("an expired grant is still listed: %+v", gs)
	}
	if _, err := st.ActiveProxyGrant(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired grant: %v", err)
	}
	if revoked, err := st.ProxyTokenRevoked(ctx, "jti", "", "", open.ID); err != nil || revoked {
		t.Fatalf("before revocation: %v %v", revoked, err)
	}
	if err := st.RevokeProxyGrant(ctx, open.ID, p.carer.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeProxyGrant(ctx, open.ID, p.carer.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second revocation: %v", err)
	}
	if revoked, err := st.ProxyTokenRevoked(ctx, "jti", "", "", open.ID); err != nil || !revoked {
		t.Fatalf("after revocation: %v %v", revoked, err)
	}
	got, err := st.ProxyGrantByID(ctx, open.ID)
	if err != nil || got.RevokedAt == nil || got.RevokedBy != p.carer.ID || got.ActiveAt(st.Now().Unix()) {
		t.Fatalf("revoked grant: %+v %v", got, err)
	}
	if all, _ := st.ProxyGrants(ctx, p.tenant.ID); len(all) != 2 {
		t.Fatalf("the tenant's list keeps ended grants: %d", len(all))
	}
}

func testProxyInvitationConcurrent(t *testing.T, st *store.Store) {
	p := proxyFixture(t, st)
	inv := &store.ProxyInvitation{TenantID: p.tenant.ID, PatientID: p.patient.ID, Email: p.carer.Email,
		Access: store.ProxyFull, TokenHash: "hash-1"}
	if err := st.CreateProxyInvitation(ctx, inv, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ProxyInvitationByHash(ctx, "hash-1"); err != nil || got.ID != inv.ID {
		t.Fatalf("by hash: %v %v", got, err)
	}
	won := parallel(t, 8, func(int) (bool, error) {
		g := &store.ProxyGrant{TenantID: p.tenant.ID, PatientID: p.patient.ID, CaregiverID: p.carer.ID, Access: store.ProxyFull, CreatedBy: p.patient.ID}
		err := st.AcceptProxyInvitation(ctx, inv, p.carer.ID, g)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if won != 1 {
		t.Fatalf("%d acceptances of one invitation, want 1", won)
	}
	if gs, _ := st.ProxyGrants(ctx, p.tenant.ID); len(gs) != 1 {
		t.Fatalf("%d grants from one invitation, want 1", len(gs))
	}
	if _, err := st.ProxyInvitationByHash(ctx, "hash-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a spent invitation is still found: %v", err)
	}
	other := &store.ProxyInvitation{TenantID: p.tenant.ID, PatientID: p.patient.ID, Email: "x@example.org", Access: store.ProxyFull, TokenHash: "hash-2"}
	st.CreateProxyInvitation(ctx, other, time.Hour)
	if pend, _ := st.PendingProxyInvitations(ctx, p.patient.ID); len(pend) != 1 || pend[0].ID != other.ID {
		t.Fatalf("pending: %+v", pend)
	}
	if err := st.RevokeProxyInvitation(ctx, other.ID, p.carer.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("someone else withdrew the invitation: %v", err)
	}
	if err := st.RevokeProxyInvitation(ctx, other.ID, p.patient.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ProxyInvitationByHash(ctx, "hash-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a withdrawn invitation is still found: %v", err)
	}
}

func testProxyAuthRequestChoice(t *testing.T, st *store.Store) {
	p := proxyFixture(t, st)
	ar := &store.AuthRequest{ClientID: "c", TenantID: p.tenant.ID, Params: "{}"}
	if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAuthRequestProxy(ctx, ar.ID, "g1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a choice before the sign-in completed: %v", err)
	}
	if err := st.CompleteAuthRequest(ctx, ar.ID, p.carer.ID, "s", time.Now(), []string{"pwd"}, "1fa"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAuthRequestProxy(ctx, ar.ID, "g1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.AuthRequestByID(ctx, ar.ID); got.ProxyGrantID != "g1" {
		t.Fatalf("choice not stored: %q", got.ProxyGrantID)
	}
	if err := st.SaveAuthCode(ctx, ar.ID, "code-hash", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAuthRequestProxy(ctx, ar.ID, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the choice changed after the code was issued: %v", err)
	}
}

func testProxyScopeSets(t *testing.T, st *store.Store) {
	tn := mustTenant(t, st, "Riverside")
	if _, err := st.ProxyScopeSetScopes(ctx, tn.ID, "limited"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("undefined set: %v", err)
	}
	for _, v := range []string{"patient/Appointment.read", "patient/Appointment.read patient/Communication.read"} {
		if err := st.SetProxyScopeSet(ctx, tn.ID, "limited", v); err != nil {
			t.Fatal(err)
		}
		if got, err := st.ProxyScopeSetScopes(ctx, tn.ID, "limited"); err != nil || got != v {
			t.Fatalf("set = %q %v, want %q", got, err, v)
		}
	}
}

func testProxyRefreshColumn(t *testing.T, st *store.Store) {
	p := proxyFixture(t, st)
	rt := &store.RefreshToken{TokenHash: "rt-hash", ClientID: "c", TenantID: p.tenant.ID, UserID: p.carer.ID, ProxyGrantID: "g1"}
	if err := st.IssueRefreshToken(ctx, rt, time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := st.RefreshTokenByHash(ctx, "rt-hash")
	if err != nil || got.ProxyGrantID != "g1" {
		t.Fatalf("refresh token: %+v %v", got, err)
	}
	next := &store.RefreshToken{TokenHash: "rt-hash-2", ClientID: "c", TenantID: p.tenant.ID, UserID: p.carer.ID, ProxyGrantID: got.ProxyGrantID}
	if err := st.RotateRefreshToken(ctx, got, next, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := st.RefreshTokenByHash(ctx, "rt-hash-2"); err != nil || got.ProxyGrantID != "g1" {
		t.Fatalf("rotated: %+v %v", got, err)
	}
}
