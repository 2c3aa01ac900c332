package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// An administrator's caregiver grants from the command line: a grant prints {"id": …} and is
// in force for the right people with a recorded reason; refusals change nothing; revoke ends
// it; list shows it; every change is in the audit trail, whose chain holds.
func TestCLIProxyGrant(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	patient, _ := c.ok("a long passphrase", "user", "create", "--tenant", tenantID, "--email", "kid@example.org", "--password-stdin")["id"].(string)
	carer, _ := c.ok("a long passphrase", "user", "create", "--tenant", tenantID, "--email", "mum@example.org", "--password-stdin")["id"].(string)
	client := c.ok("", "client", "create", "--tenant", tenantID, "--name", "Family App", "--redirect-uri", "https://app.example.org/cb", "--proxy")

	out := c.ok("", "proxy", "grant", "--tenant", "Riverside Health", "--patient", "KID@example.org", "--caregiver", "mum@example.org",
		"--access", "limited", "--expires", "2099-12-31", "--reason", "parent of a minor")
	if keys := keysOf(out); len(keys) != 1 || keys[0] != "id" {
		t.Fatalf("proxy grant printed %v, want {\"id\": …}", out)
	}
	id, _ := out["id"].(string)
	st := c.store()
	g, err := st.ProxyGrantByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantExp := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	if g.PatientID != patient || g.CaregiverID != carer || g.Access != store.ProxyLimited || g.ScopeSet != "limited" ||
		g.Reason != "parent of a minor" || g.CreatedBy != "cli" || g.ExpiresAt == nil || *g.ExpiresAt != wantExp || !g.ActiveAt(time.Now().Unix()) {
		t.Errorf("grant = %+v", g)
	}
	if cl, err := st.ClientByID(ctx, client["client_id"].(string)); err != nil || !cl.Proxy {
		t.Errorf("client create --proxy: %+v %v", cl, err)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--patient", "kid@example.org", "--caregiver", "mum@example.org", "--access", "some", "--reason", "x"}, 2, "--access"},
		{[]string{"--patient", "kid@example.org", "--caregiver", "mum@example.org", "--access", "full"}, 2, "--reason"},
		{[]string{"--patient", "kid@example.org", "--caregiver", "kid@example.org", "--access", "full", "--reason", "x"}, 2, "same person"},
		{[]string{"--patient", "kid@example.org", "--caregiver", "nobody@example.org", "--access", "full", "--reason", "x"}, 1, "no user"},
		{[]string{"--patient", "kid@example.org", "--caregiver", "mum@example.org", "--access", "full", "--expires", "2001-01-01", "--reason", "x"}, 2, "passed"},
		{[]string{"--patient", "kid@example.org", "--caregiver", "mum@example.org", "--access", "full", "--expires", "soon", "--reason", "x"}, 2, "YYYY-MM-DD"},
		{[]string{"--patient", "kid@example.org", "--caregiver", "mum@example.org", "--access", "limited", "--scope-set", "results", "--reason", "x"}, 1, "scope set"},
	} {
		code, _, errs := c.run("", append([]string{"proxy", "grant", "--tenant", tenantID}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("proxy grant %v: exit %d %q, want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	if gs, _ := st.ProxyGrants(ctx, tenantID); len(gs) != 1 {
		t.Errorf("refused grants wrote rows: %d grants", len(gs))
	}

	code, list, _ := c.run("", "proxy", "list", "--tenant", tenantID)
	if code != 0 || !strings.Contains(list, `"caregiver":"mum@example.org"`) || !strings.Contains(list, `"active":true`) {
		t.Errorf("proxy list: %d %s", code, list)
	}
	if out := c.ok("", "proxy", "revoke", "--tenant", tenantID, "--id", id); out["revoked"] != true {
		t.Errorf("revoke: %v", out)
	}
	if g, _ := st.ProxyGrantByID(ctx, id); g.RevokedAt == nil || g.RevokedBy != "cli" {
		t.Errorf("revoked grant = %+v", g)
	}
	if code, _, errs := c.run("", "proxy", "revoke", "--tenant", tenantID, "--id", id); code != 1 || !strings.Contains(errs, "in force") {
		t.Errorf("second revoke: %d %q", code, errs)
	}
	if out := c.ok("", "proxy", "scopes", "--tenant", tenantID, "--scopes", "patient/Appointment.read  patient/Communication.read"); out["scopes"] != "patient/Appointment.read patient/Communication.read" {
		t.Errorf("proxy scopes: %v", out)
	}
	if code, _, _ := c.run("", "proxy", "scopes", "--tenant", tenantID, "--scopes", "openid"); code != 2 {
		t.Errorf("a scope set of non-resource scopes: exit %d, want 2", code)
	}
	evs, err := st.AuditEvents(ctx, tenantID, patient, 50)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if (e.Event == "proxy.granted" || e.Event == "proxy.revoked") && e.ActorID == "cli" && strings.Contains(e.Detail, carer) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("audit rows for grant and revoke with actor and subject: %d, want 2", n)
	}
	c.ok("", "audit", "verify")
}
