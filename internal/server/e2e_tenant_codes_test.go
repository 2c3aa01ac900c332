package server_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestTenantPatientFactors: a tenant that lets patients choose only an authenticator app and
// email codes: at enrollment a patient is offered neither texts nor calls (and the phone form is
// refused if posted anyway), while a patient of a tenant without the narrowing is offered them.
func TestTenantPatientFactors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, func(o *server.Options) { o.Dev = true })
		e.requiredMFA()
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)

		br := newBrowser(t)
		start, _ := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, `id="kind-sms"`) {
			t.Fatalf("without a narrowing the enrollment page must offer texts: %.400s", br.body)
		}

		e.tenant.PatientFactors = "email totp"
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		br = newBrowser(t)
		start, _ = r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, `action="/mfa/enroll`) {
			t.Fatalf("expected the enrollment page: %d %.400s", br.status, br.body)
		}
		for _, no := range []string{`id="kind-sms"`, `id="kind-voice"`, `action="/mfa/enroll-phone"`} {
			if strings.Contains(br.body, no) {
				t.Errorf("a tenant allowing patients only an app and email offers %s", no)
			}
		}
		if !strings.Contains(br.body, `action="/mfa/enroll-email"`) {
			t.Error("the email option is missing")
		}
		// Posting the phone form anyway sends nothing.
		f := br.formFields()
		f.Set("phone", "+12025550123")
		f.Set("kind", "sms")
		br.post(e.issuer+"/mfa/enroll-phone", f)
		if n := outboxCount(e, "sms", "+12025550123"); n != 0 {
			t.Errorf("a text went out in a tenant that does not allow texts (%d)", n)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, e.userID(t, "pat@example.org")); len(fs) != 0 {
			t.Errorf("factors after the refused phone form: %+v", fs)
		}

		// A factor the tenant stops offering still signs in whoever set it up (a password alone
		// must never be enough to set up its replacement); it is only not offered anew.
		kim := e.user("kim@example.org", "correct horse battery")
		secret := enrollDirect(t, e, kim) // confirmed with this step's code; sign in with the next
		e.tenant.PatientFactors = "email sms"
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		br = newBrowser(t)
		start, fl := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "kim@example.org", "correct horse battery")
		if !strings.Contains(br.body, `action="/mfa/verify"`) || strings.Contains(br.body, `action="/mfa/enroll`) {
			t.Fatalf("a patient whose app the tenant no longer offers is not asked for it: %d %.400s", br.status, br.body)
		}
		fields := br.formFields()
		fields.Set("code", codeFor(t, secret, time.Now().Add(30*time.Second)))
		br.post(e.issuer+"/mfa/verify", fields)
		if _, idt := r.exchange(br.code(fl), fl); !slices.Contains(toStrings(claims(t, idt)["amr"]), "otp") {
			t.Errorf("sign-in with the kept app: amr %v", claims(t, idt)["amr"])
		}
	})
}

// userID is the id of the test tenant's user with email.
func (e *env) userID(t *testing.T, email string) string {
	t.Helper()
	u, err := e.st.UserByEmail(e.ctx, e.tenant.ID, email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestTenantCodeLifetime: a tenant whose text codes work 2 minutes says so on the code page and
// in the text, refuses a code sent 2½ minutes ago, and — when it shortens the lifetime after a
// code went out under the server's 10 minutes — refuses that code once it is older than the new
// lifetime; a fresh code works.
func TestTenantCodeLifetime(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, func(o *server.Options) { o.Dev = true })
		e.requiredMFA()
		two := 2
		e.tenant.SMSCodeMinutes = &two
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)
		br := newBrowser(t)
		start, _ := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		br.enrollPhone(e.issuer, "+44 7400 123456", "sms")
		if !strings.Contains(br.body, "It is valid for 2 minutes.") {
			t.Fatalf("the code page must give the tenant's lifetime: %.600s", br.body)
		}
		msgs := e.node.Outbox.List()
		if !strings.Contains(msgs[0].Body, "expires in 2 minutes") {
			t.Errorf("the text must give the tenant's lifetime: %q", msgs[0].Body)
		}
		code := outboxCode(t, e, "sms", "+447400123456")
		e.st.ExecRaw(e.ctx, "UPDATE otp_codes SET created_at = created_at - 150, expires_at = expires_at - 150")
		f := br.formFields()
		f.Set("code", code)
		br.post(e.issuer+"/mfa/verify", f)
		if fs, _ := e.st.ActiveFactors(e.ctx, e.userID(t, "pat@example.org")); len(fs) != 0 || br.status == 200 && strings.Contains(br.body, "backup") {
			t.Fatalf("a code older than the tenant's 2 minutes was accepted: %d %.300s", br.status, br.body)
		}

		// A code sent under the server's 10 minutes, then the tenant shortens to 2.
		e.tenant.SMSCodeMinutes = nil
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 120")
		br.post(e.issuer+"/mfa/resend", br.formFields())
		if !strings.Contains(br.body, "It is valid for 10 minutes.") {
			t.Fatalf("the server's lifetime applies without the tenant's: %.600s", br.body)
		}
		code = outboxCode(t, e, "sms", "+447400123456")
		e.tenant.SMSCodeMinutes = &two
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		e.st.ExecRaw(e.ctx, "UPDATE otp_codes SET created_at = created_at - 150")
		f = br.formFields()
		f.Set("code", code)
		br.post(e.issuer+"/mfa/verify", f)
		if fs, _ := e.st.ActiveFactors(e.ctx, e.userID(t, "pat@example.org")); len(fs) != 0 {
			t.Fatal("a code older than the tenant's new lifetime was accepted")
		}

		// A fresh code works.
		e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 120")
		br.post(e.issuer+"/mfa/resend", br.formFields())
		f = br.formFields()
		f.Set("code", outboxCode(t, e, "sms", "+447400123456"))
		br.post(e.issuer+"/mfa/verify", f)
		if fs, _ := e.st.ActiveFactors(e.ctx, e.userID(t, "pat@example.org")); len(fs) != 1 || fs[0].Kind != "sms" {
			t.Fatalf("a fresh code did not enroll the phone: %+v (%d %.300s)", fs, br.status, br.body)
		}
	})
}

// TestAdminCodeLifetimesAndFactors: the admin API and console set the tenant's code lifetimes
// and the factors patients may choose, with the bounds enforced (11 minutes for texts refused,
// 16 for email, no factor at all refused), the policy showing what is in force, and the change
// audited.
func TestAdminCodeLifetimesAndFactors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		_, _, tok := e.adminToken(t, []string{store.ScopeAdminWrite})
		for _, bad := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"sms_code_minutes": 11}, "sms_code_minutes"},
			{map[string]any{"email_code_minutes": 16}, "email_code_minutes"},
			{map[string]any{"sms_code_minutes": -1}, "sms_code_minutes"},
			{map[string]any{"patient_factors": []string{}}, "patient_factors"},
			{map[string]any{"patient_factors": []string{"sms", "fax"}}, "patient_factors"},
		} {
			if st, out, _ := e.api(t, tok, "PATCH", v1+"/policy", bad.body); st != 400 || out["field"] != bad.field {
				t.Errorf("%v: %d %v", bad.body, st, out)
			}
		}
		st, p, _ := e.api(t, tok, "PATCH", v1+"/policy", map[string]any{"sms_code_minutes": 5, "email_code_minutes": 15,
			"patient_factors": []string{"passkey", "totp", "email"}})
		if st != 200 || p["sms_code_minutes"] != float64(5) || p["email_code_minutes"] != float64(15) {
			t.Fatalf("policy: %d %v", st, p)
		}
		if got := toStrings(p["patient_factors"]); strings.Join(got, " ") != "email totp passkey" {
			t.Errorf("patient_factors = %v", got)
		}
		if lt := p["code_lifetimes"].(map[string]any); lt["sms"] != float64(5) || lt["voice"] != float64(5) || lt["email"] != float64(15) {
			t.Errorf("code lifetimes in force: %v", lt)
		}
		for _, r := range p["roles"].([]any) {
			role := r.(map[string]any)
			fs := strings.Join(toStrings(role["factors"]), " ")
			switch role["role"] {
			case "patient":
				if strings.Contains(fs, "sms") || !strings.Contains(fs, "totp") || !strings.Contains(fs, "backup_code") {
					t.Errorf("patient factors shown: %s", fs)
				}
			case "provider":
				if strings.Contains(fs, "sms") || strings.Contains(fs, "email") {
					t.Errorf("provider factors shown: %s", fs)
				}
			}
		}
		evs, _ := e.st.SearchAudit(e.ctx, e.tenant.ID, store.AuditFilter{Event: "tenant.updated", Result: "ok"})
		if len(evs) != 1 || !strings.Contains(evs[0].Detail, `sms_code_minutes=5 email_code_minutes=15 patient_factors="email totp passkey"`) {
			t.Errorf("audit: %+v", evs)
		}
		// 0 returns to the server's setting.
		if st, p, _ := e.api(t, tok, "PATCH", v1+"/policy", map[string]any{"sms_code_minutes": 0}); st != 200 || p["sms_code_minutes"] != float64(0) ||
			p["code_lifetimes"].(map[string]any)["sms"] != float64(10) {
			t.Errorf("back to the server's setting: %d %v", st, p)
		}

		// The console: the fields, a refused value next to its field, then a saved one.
		_, secret := e.adminUser(t, "admin@example.org")
		br := newBrowser(t)
		e.adminSignIn(t, br, "admin@example.org", secret)
		br.get(e.issuer + "/admin/policy")
		for _, want := range []string{`id="f-sms-code-minutes"`, `id="f-email-code-minutes"`, `id="pf-sms"`, `id="pf-totp" name="patient_factors" value="totp" checked`,
			"Providers and administrators always use an authenticator app or a passkey"} {
			if !strings.Contains(br.body, want) {
				t.Errorf("the policy page lacks %s", want)
			}
		}
		if strings.Contains(br.body, `id="pf-sms" name="patient_factors" value="sms" checked`) {
			t.Error("texts shown as allowed")
		}
		form := url.Values{"remember_device_days": {"7"}, "passkey_mfa_days": {"90"}, "remember_device_network": {"exact"},
			"remember_device_mfa": {"on"}, "phone_region": {"US"}, "patient_factors_shown": {"1"},
			"patient_factors": {"email", "totp", "passkey"}, "email_code_minutes": {"15"}, "csrf": {br.formFields().Get("csrf")}}
		form.Set("sms_code_minutes", "11")
		br.post(e.issuer+"/admin/policy", form)
		if br.status != 400 || !strings.Contains(br.body, `id="f-sms-code-minutes-error"`) || !strings.Contains(br.body, `href="#f-sms-code-minutes"`) {
			t.Fatalf("11 minutes for texts: %d %.600s", br.status, br.body)
		}
		form.Set("sms_code_minutes", "3")
		form["patient_factors"] = []string{"sms", "totp"}
		br.post(e.issuer+"/admin/policy", form)
		if !strings.Contains(br.body, "The policy was saved.") {
			t.Fatalf("save: %d %.600s", br.status, br.body)
		}
		if tn, _ := e.st.TenantByID(e.ctx, e.tenant.ID); tn.SMSCodeMinutes == nil || *tn.SMSCodeMinutes != 3 || tn.PatientFactors != "sms totp" ||
			tn.EmailCodeMinutes == nil || *tn.EmailCodeMinutes != 15 {
			t.Fatalf("tenant after the console: %+v", tn)
		}
		delete(form, "patient_factors")
		br.post(e.issuer+"/admin/policy", form)
		if br.status != 400 || !strings.Contains(br.body, `id="f-patient-factors-error"`) {
			t.Fatalf("no factor for patients: %d %.600s", br.status, br.body)
		}
	})
}
