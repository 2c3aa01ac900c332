package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

func ptr[T any](v T) *T { return &v }

// TestPolicyChanges: each field's bounds, and the one-way MFA switch.
func TestPolicyChanges(t *testing.T) {
	for name, c := range map[string]struct {
		from  string
		ch    admin.PolicyChanges
		field string // "" when accepted
		err   error
	}{
		"optional to required":   {from: "optional", ch: admin.PolicyChanges{MFA: ptr("required")}},
		"off to optional":        {from: "off", ch: admin.PolicyChanges{MFA: ptr("optional")}},
		"required stays":         {from: "required", ch: admin.PolicyChanges{MFA: ptr("required")}},
		"required to optional":   {from: "required", ch: admin.PolicyChanges{MFA: ptr("optional")}, err: admin.ErrMFALocked},
		"required to off":        {from: "required", ch: admin.PolicyChanges{MFA: ptr("off")}, err: admin.ErrMFALocked},
		"unknown mode":           {from: "off", ch: admin.PolicyChanges{MFA: ptr("sometimes")}, field: "mfa"},
		"bad date":               {from: "off", ch: admin.PolicyChanges{EnforceFrom: ptr("31/03/2027")}, field: "enforce_from"},
		"date cleared":           {from: "off", ch: admin.PolicyChanges{EnforceFrom: ptr("")}},
		"remember days negative": {from: "off", ch: admin.PolicyChanges{RememberDeviceDays: ptr(-1)}, field: "remember_device_days"},
		"remember days too many": {from: "off", ch: admin.PolicyChanges{RememberDeviceDays: ptr(366)}, field: "remember_device_days"},
		"passkey days":           {from: "off", ch: admin.PolicyChanges{PasskeyMFADays: ptr(400)}, field: "passkey_mfa_days"},
		"network":                {from: "off", ch: admin.PolicyChanges{RememberDeviceNetwork: ptr("planet")}, field: "remember_device_network"},
		"region":                 {from: "off", ch: admin.PolicyChanges{PhoneRegion: ptr("ZZ")}, field: "phone_region"},
		"help with a line break": {from: "off", ch: admin.PolicyChanges{HelpContact: ptr("Call\nus")}, field: "help_contact"},
		"help fine":              {from: "off", ch: admin.PolicyChanges{HelpContact: ptr(" Call 555-0100 ")}},
	} {
		t.Run(name, func(t *testing.T) {
			tn := &store.Tenant{MFAMode: c.from}
			err := c.ch.Apply(tn)
			var in *admin.InputError
			switch {
			case c.err != nil:
				if !errors.Is(err, c.err) {
					t.Fatalf("got %v, want %v", err, c.err)
				}
			case c.field != "":
				if !errors.As(err, &in) || in.Field != c.field {
					t.Fatalf("got %v, want a problem with %s", err, c.field)
				}
			case err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

// TestValidateClient: the rules a client must meet, from the console, the API and the CLI.
func TestValidateClient(t *testing.T) {
	for name, c := range map[string]struct {
		typ, name  string
		redirects  []string
		minACR     string
		scopes     []string
		wantField  string
		wantAccept bool
	}{
		"web":                     {typ: "web", name: "Portal", redirects: []string{"https://p.example/cb"}, wantAccept: true},
		"service with scopes":     {typ: "service", name: "Sync", scopes: []string{"admin:read", "admin:write"}, wantAccept: true},
		"web with an admin scope": {typ: "web", name: "P", redirects: []string{"https://p.example/cb"}, scopes: []string{"admin:read"}, wantField: "scopes"},
		"unknown scope":           {typ: "service", name: "S", scopes: []string{"openid"}, wantField: "scopes"},
		"service with redirect":   {typ: "service", name: "S", redirects: []string{"https://p.example/cb"}, wantField: "redirect_uris"},
		"web without redirect":    {typ: "web", name: "P", wantField: "redirect_uris"},
		"bad redirect":            {typ: "public", name: "P", redirects: []string{"http://evil.example/cb"}, wantField: "redirect_uris"},
		"bad acr":                 {typ: "web", name: "P", redirects: []string{"https://p.example/cb"}, minACR: "strong", wantField: "min_acr"},
		"no name":                 {typ: "web", name: " ", redirects: []string{"https://p.example/cb"}, wantField: "name"},
		"bad type":                {typ: "spa", name: "P", redirects: []string{"https://p.example/cb"}, wantField: "type"},
	} {
		t.Run(name, func(t *testing.T) {
			err := admin.ValidateClient(c.typ, c.name, c.redirects, nil, c.minACR, "", c.scopes)
			var in *admin.InputError
			if c.wantAccept {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.As(err, &in) || in.Field != c.wantField {
				t.Fatalf("got %v, want a problem with %s", err, c.wantField)
			}
		})
	}
}

// TestServiceIsolationAndAudit: the service refuses another tenant's ids with ErrNotFound, and
// records each change and each refusal with the actor.
func TestServiceIsolationAndAudit(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Name == "postgres" {
				storetest.PostgresURL(t)
			}
			st := b.Open(t)
			ctx := context.Background()
			box, _ := secret.NewBox(make([]byte, 32))
			svc := admin.New(st, audit.New(st, box.Hasher("audit-chain")), box.Hasher("client-secret"))
			a, other := &store.Tenant{Name: "A"}, &store.Tenant{Name: "B"}
			st.CreateTenant(ctx, a)
			st.CreateTenant(ctx, other)
			u := &store.User{TenantID: a.ID, Email: "pat@a.example", Role: store.RolePatient}
			st.CreateUser(ctx, u)
			intruder := admin.Actor{TenantID: other.ID, UserID: "adm-b"}
			if _, err := svc.Member(ctx, intruder, u.ID); !errors.Is(err, admin.ErrNotFound) {
				t.Errorf("member of another tenant: %v", err)
			}
			if _, err := svc.ResetMFA(ctx, intruder, u.ID); !errors.Is(err, admin.ErrNotFound) {
				t.Errorf("reset of another tenant's user: %v", err)
			}
			owner := admin.Actor{TenantID: a.ID, ClientID: "hr-sync"}
			if _, err := svc.SetDisabled(ctx, owner, u.ID, true); err != nil {
				t.Fatal(err)
			}
			evs, _ := st.SearchAudit(ctx, a.ID, store.AuditFilter{Event: "user.disabled"})
			if len(evs) != 1 || evs[0].ActorID != "hr-sync" || evs[0].ClientID != "hr-sync" || evs[0].SubjectID != u.ID || evs[0].Result != "ok" {
				t.Errorf("audit of the change: %+v", evs)
			}
			refused, _ := st.SearchAudit(ctx, other.ID, store.AuditFilter{Event: "user.mfa_reset"})
			if len(refused) != 1 || refused[0].Result != "not_found" || refused[0].ActorID != "adm-b" {
				t.Errorf("audit of the refusal: %+v", refused)
			}
			if n, _ := st.SearchAudit(ctx, a.ID, store.AuditFilter{Event: "user.mfa_reset"}); len(n) != 0 {
				t.Errorf("the refusal was written into the victim tenant's trail: %+v", n)
			}
		})
	}
}

// TestProxyGrantList: every limited grant of a list shows its scope set's scopes (the tenant's
// own set, and the built-in one), and a full grant none.
func TestProxyGrantList(t *testing.T) {
	st := storetest.Backends()[0].Open(t)
	ctx := context.Background()
	box, _ := secret.NewBox(make([]byte, 32))
	svc := admin.New(st, audit.New(st, box.Hasher("audit-chain")), box.Hasher("client-secret"))
	tn := &store.Tenant{Name: "A"}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"kid1@a.example", "kid2@a.example", "kid3@a.example", "kid4@a.example", "mum@a.example"} {
		if err := st.CreateUser(ctx, &store.User{TenantID: tn.ID, Email: email, Role: store.RolePatient}); err != nil {
			t.Fatal(err)
		}
	}
	a := admin.Actor{TenantID: tn.ID, UserID: "adm"}
	if err := (&proxy.Service{St: st, Audit: func(context.Context, *store.AuditEvent) error { return nil }}).
		DefineScopeSet(ctx, tn.ID, "school", "patient/Immunization.read patient/Appointment.read", "adm"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []admin.ProxyGrantSpec{
		{PatientEmail: "kid1@a.example", Access: "limited", ScopeSet: "school"},
		{PatientEmail: "kid2@a.example", Access: "limited", ScopeSet: "school"},
		{PatientEmail: "kid3@a.example", Access: "limited"},
		{PatientEmail: "kid4@a.example", Access: "full"},
	} {
		g.CaregiverEmail, g.Reason = "mum@a.example", "parent of a minor"
		if _, err := svc.CreateProxyGrant(ctx, a, g); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := svc.ProxyGrants(ctx, a, admin.ProxyGrantFilter{})
	if err != nil || len(gs) != 4 {
		t.Fatalf("list: %d grants, %v", len(gs), err)
	}
	builtin := strings.Join(strings.Fields(proxy.DefaultScopeSets[proxy.DefaultScopeSet]), " ")
	want := map[string]string{"kid1@a.example": "patient/Immunization.read patient/Appointment.read",
		"kid2@a.example": "patient/Immunization.read patient/Appointment.read", "kid3@a.example": builtin, "kid4@a.example": ""}
	for _, g := range gs {
		if got := strings.Join(g.Scopes, " "); got != want[g.PatientEmail] {
			t.Errorf("%s (%s %s): scopes %q, want %q", g.PatientEmail, g.Access, g.ScopeSet, got, want[g.PatientEmail])
		}
	}
}
