package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestAdminAPIProxyGrants: a service client with admin:write creates a caregiver grant for a
// minor with a recorded reason (refusals named by field), lists and reads it, and revokes it;
// after the revocation the caregiver's refresh for that patient fails and their access token is
// inactive. Both changes are audited with the client as actor and the patient as subject.
func TestAdminAPIProxyGrants(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		s := newProxySetup(t, b, nil)
		e := s.e
		clientID, _, tok := e.adminToken(t, []string{store.ScopeAdminWrite})
		minor := e.user("minor@example.org", proxyPW)
		lastDay := time.Now().AddDate(0, 1, 0).UTC().Format(time.DateOnly)
		spec := map[string]any{"patient_email": "minor@example.org", "caregiver_email": s.carer.Email, "access": "limited",
			"scope_set": "limited", "expires": lastDay, "reason": "parent of a minor"}

		// Refusals, each named by its field.
		for field, change := range map[string]map[string]any{
			"reason":          {"reason": " "},
			"expires":         {"expires": "2001-01-01"},
			"patient_email":   {"patient_email": "nobody@example.org"},
			"caregiver_email": {"caregiver_email": "minor@example.org"},
			"access":          {"access": "everything"},
			"scope_set":       {"scope_set": "no-such-set"},
		} {
			bad := map[string]any{}
			for k, v := range spec {
				bad[k] = v
			}
			for k, v := range change {
				bad[k] = v
			}
			if st, out, _ := e.api(t, tok, "POST", v1+"/proxy-grants", bad); st != 400 || out["field"] != field {
				t.Errorf("bad %s: %d %v", field, st, out)
			}
		}

		st, g, _ := e.api(t, tok, "POST", v1+"/proxy-grants", spec)
		if st != 201 || g["status"] != "active" || g["patient_id"] != minor.ID || g["caregiver_id"] != s.carer.ID ||
			g["reason"] != "parent of a minor" || g["created_by"] != clientID || g["access"] != "limited" || g["expires_at"] == nil {
			t.Fatalf("create: %d %v", st, g)
		}
		id := g["id"].(string)
		if scopes, _ := g["scopes"].([]any); len(scopes) == 0 {
			t.Errorf("the grant does not show its scope set's scopes: %v", g)
		}
		st, list, _ := e.api(t, tok, "GET", v1+"/proxy-grants?q=minor@", nil)
		if gs, _ := list["grants"].([]any); st != 200 || len(gs) != 1 || gs[0].(map[string]any)["id"] != id {
			t.Fatalf("list by patient: %d %v", st, list)
		}
		if _, list, _ := e.api(t, tok, "GET", v1+"/proxy-grants", nil); len(list["grants"].([]any)) != 3 {
			t.Errorf("the list has %d grants, want 3 (the setup's two and the new one)", len(list["grants"].([]any)))
		}
		if st, out, _ := e.api(t, tok, "GET", v1+"/proxy-grants?status=gone", nil); st != 400 || out["field"] != "status" {
			t.Errorf("bad status filter: %d %v", st, out)
		}

		// The caregiver opens the minor's record and holds a refresh token for it.
		at, _, claims := s.signIn(t, newBrowser(t), id)
		if claims["sub"] != minor.ID {
			t.Fatalf("access token sub = %v, want the minor", claims["sub"])
		}
		if _, err := s.refresh(at.RefreshToken); err != nil {
			t.Fatalf("refresh before revocation: %v", err)
		}

		st, g, _ = e.api(t, tok, "DELETE", v1+"/proxy-grants/"+id, nil)
		if st != 200 || g["status"] != "revoked" || g["revoked_by"] != clientID {
			t.Fatalf("revoke: %d %v", st, g)
		}
		if _, err := s.refresh(at.RefreshToken); oauthErr(err) != "invalid_grant" {
			t.Errorf("refresh after the administrator's revocation: %v, want invalid_grant", err)
		}
		if in := s.introspect(at.AccessToken); in["active"] != false {
			t.Errorf("introspection after revocation = %v", in)
		}
		// Revoking again (the POST form) answers the grant as it is.
		if st, g, _ := e.api(t, tok, "POST", v1+"/proxy-grants/"+id+"/revoke", nil); st != 200 || g["status"] != "revoked" {
			t.Errorf("revoke again: %d %v", st, g)
		}
		if st, list, _ := e.api(t, tok, "GET", v1+"/proxy-grants?status=revoked", nil); st != 200 || len(list["grants"].([]any)) != 1 {
			t.Errorf("revoked filter: %d %v", st, list)
		}
		for _, ev := range []string{"proxy.granted", "proxy.revoked"} {
			evs, _ := e.st.SearchAudit(e.ctx, e.tenant.ID, store.AuditFilter{Event: ev, Result: "ok"})
			if len(evs) != 1 || evs[0].ActorID != clientID || evs[0].SubjectID != minor.ID || evs[0].ClientID != clientID ||
				!strings.Contains(evs[0].Detail, id) {
				t.Errorf("%s audit rows: %+v", ev, evs)
			}
		}
		if evs, _ := e.st.SearchAudit(e.ctx, e.tenant.ID, store.AuditFilter{Event: "proxy.granted", Result: "refused"}); len(evs) < 5 {
			t.Errorf("refused grants audited: %d", len(evs))
		}
		// A read-only token reads but cannot grant.
		_, _, ro := e.adminToken(t, []string{store.ScopeAdminRead})
		if st, _, _ := e.api(t, ro, "POST", v1+"/proxy-grants", spec); st != 403 {
			t.Errorf("admin:read created a grant: %d", st)
		}
	})
}

// TestAdminConsoleCaregivers: the console's Caregivers page: creating a grant needs a fresh
// second factor ("Confirm it's you") and a reason, names problems next to their fields, then
// lists the grant with its patient, caregiver, access, expiry, reason and creator; revoking it
// ends it.
func TestAdminConsoleCaregivers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		adm, secret := e.adminUser(t, "admin@example.org")
		kid := e.user("kid@example.org", "correct horse battery")
		e.user("mum@example.org", "correct horse battery")
		br := newBrowser(t)
		e.adminSignIn(t, br, "admin@example.org", secret)
		br.get(e.issuer + "/admin/caregivers")
		if br.status != 200 || !strings.Contains(br.body, "<h1>Caregivers</h1>") || !strings.Contains(br.body, `aria-current="page">Caregivers`) {
			t.Fatalf("caregivers page: %d %.500s", br.status, br.body)
		}
		form := url.Values{"patient_email": {"kid@example.org"}, "caregiver_email": {"mum@example.org"}, "access": {"limited"},
			"scope_set": {"limited"}, "expires": {time.Now().AddDate(1, 0, 0).UTC().Format(time.DateOnly)}}
		e.act(br, "/admin/caregivers", form)
		if br.status != 400 || !strings.Contains(br.body, `id="f-reason-error"`) || !strings.Contains(br.body, `href="#f-reason"`) ||
			!strings.Contains(br.body, `value="kid@example.org"`) {
			t.Fatalf("without a reason: %d %.800s", br.status, br.body)
		}
		// A stale second factor: "Confirm it's you" first, and only then the grant.
		e.staleConfirmation(t)
		form.Set("reason", "parent of a minor")
		e.act(br, "/admin/caregivers", form)
		if !strings.Contains(br.body, `action="/admin/confirm"`) {
			t.Fatalf("no confirm step: %d %.500s", br.status, br.body)
		}
		if gs, _ := e.st.ProxyGrants(e.ctx, e.tenant.ID); len(gs) != 0 {
			t.Fatal("granted before the confirmation")
		}
		f := br.formFields()
		f.Set("code", e.appCode(t, secret))
		br.post(e.issuer+"/admin/confirm", f)
		for _, want := range []string{"The caregiver now has access.", "kid@example.org", "mum@example.org", "parent of a minor", "Limited (limited)",
			"admin@example.org", "Active", "patient/Appointment.read"} {
			if !strings.Contains(br.body, want) {
				t.Errorf("after the grant the page lacks %q", want)
			}
		}
		gs, _ := e.st.ProxyGrants(e.ctx, e.tenant.ID)
		if len(gs) != 1 || gs[0].PatientID != kid.ID || gs[0].CreatedBy != adm.ID || gs[0].ExpiresAt == nil {
			t.Fatalf("grants: %+v", gs)
		}
		evs, _ := e.st.SearchAudit(e.ctx, e.tenant.ID, store.AuditFilter{Event: "proxy.granted", Result: "ok"})
		if len(evs) != 1 || evs[0].ActorID != adm.ID || evs[0].SubjectID != kid.ID || evs[0].ClientID != store.AdminClientID(e.tenant.ID) {
			t.Fatalf("audit: %+v", evs)
		}
		br.get(e.issuer + "/admin/caregivers?status=revoked")
		if strings.Contains(br.body, "mum@example.org") {
			t.Error("the revoked filter shows an active grant")
		}
		br.get(e.issuer + "/admin/caregivers")
		e.act(br, "/admin/caregivers/"+gs[0].ID+"/revoke", nil)
		if !strings.Contains(br.body, "The caregiver&#39;s access was revoked.") || !strings.Contains(br.body, "Revoked") {
			t.Fatalf("revoke: %d %.800s", br.status, br.body)
		}
		if g, _ := e.st.ProxyGrantByID(e.ctx, gs[0].ID); g.RevokedAt == nil || g.RevokedBy != adm.ID {
			t.Fatalf("grant after revoke: %+v", g)
		}
	})
}
