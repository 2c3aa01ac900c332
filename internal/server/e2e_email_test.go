package server_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// outboxCode is the newest code sent on channel to a number or address, from the dev outbox
// (messages without a code, such as notices, are passed over).
func outboxCode(t *testing.T, e *env, channel, to string) string {
	t.Helper()
	for _, m := range e.node.Outbox.List() {
		if m.Channel == channel && m.To == to {
			if c := sixDigits.FindString(m.Body); c != "" {
				return c
			}
		}
	}
	t.Fatalf("no %s code to %s in the outbox: %+v", channel, to, e.node.Outbox.List())
	return ""
}

// outboxCount is how many messages went on channel to a number or address.
func outboxCount(e *env, channel, to string) int {
	n := 0
	for _, m := range e.node.Outbox.List() {
		if m.Channel == channel && m.To == to {
			n++
		}
	}
	return n
}

// lastEmailCode reads the newest code emailed to an address.
func lastEmailCode(t *testing.T, e *env, to string) string {
	t.Helper()
	return outboxCode(t, e, "email", to)
}

// TestEmailCodes: someone without a smartphone sets up codes by email, and is later asked for an
// emailed code; the code page shows where it went, the resend waits for the cooldown, and a
// sign-in with it is multi-factor.
func TestEmailCodes(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.tenant.MFAMode = store.MFARequired
	e.st.UpdateTenant(e.ctx, e.tenant)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)

	br := newBrowser(t)
	start, f := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, `action="/mfa/enroll-email"`) {
		t.Fatalf("no email option on the enrollment page")
	}
	br.post(e.issuer+"/mfa/enroll-email", br.formFields())
	if !strings.Contains(br.body, "p•••@example.org") {
		t.Fatalf("the code page must say where the code went: %.300s", br.body)
	}
	if m := e.node.Outbox.List()[0]; !strings.Contains(m.HTML, sixDigits.FindString(m.Body)) || !strings.Contains(m.HTML, `lang="en`) {
		t.Errorf("the email must carry an HTML part with the code: %q", m.HTML)
	}
	fields := br.formFields()
	fields.Set("code", lastEmailCode(t, e, "pat@example.org"))
	br.post(e.issuer+"/mfa/verify", fields)
	if !strings.Contains(br.body, "backup codes") && !strings.Contains(br.body, "Save your backup codes") {
		t.Fatalf("expected the backup codes after the first factor: %d", br.status)
	}
	br.post(e.issuer+"/mfa/continue", br.formFields())
	_, idt := r.exchange(br.code(f), f)
	if c := claims(t, idt); c["acr"] != "urn:tessera:acr:mfa" || !slices.Equal(toStrings(c["amr"]), []string{"pwd", "otp", "mfa"}) {
		t.Errorf("after email enrollment: %v %v", c["acr"], c["amr"])
	}
	if !outboxHas(e, "pat@example.org", "A sign-in method was added to your account") {
		t.Error("no security notice for the new factor")
	}

	// Later: the code is sent on arrival; an immediate resend waits for the cooldown.
	e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 60")
	br = newBrowser(t)
	start, f = r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, "Check your email") {
		t.Fatalf("expected the email code page: %.300s", br.body)
	}
	code := lastEmailCode(t, e, "pat@example.org")
	br.post(e.issuer+"/mfa/resend", br.formFields())
	if !strings.Contains(br.body, "You can ask for a new one in") {
		t.Errorf("an immediate resend must say when to try again")
	}
	fields = br.formFields()
	fields.Set("code", code)
	br.post(e.issuer+"/mfa/verify", fields)
	if _, idt := r.exchange(br.code(f), f); claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
		t.Error("email code sign-in is not mfa")
	}
}

func outboxHas(e *env, to, subject string) bool {
	for _, m := range e.node.Outbox.List() {
		if m.To == to && m.Subject == subject {
			return true
		}
	}
	return false
}

// TestLockNotice: the person is told by email when their account locks.
func TestLockNotice(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	secret := enrollDirect(t, e, u)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	for range 7 {
		fields := br.formFields()
		fields.Set("code", wrongCode(t, secret))
		br.post(e.issuer+"/mfa/verify", fields)
	}
	if br.status != 403 || !outboxHas(e, "pat@example.org", "Your account was locked") {
		t.Errorf("lock: status %d, notice sent: %v", br.status, outboxHas(e, "pat@example.org", "Your account was locked"))
	}
}

// TestAnotherMethod: someone with an app and email codes is asked for their default (the app)
// and can switch to an emailed code.
func TestAnotherMethod(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	enrollDirect(t, e, u)
	f := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "email", Label: u.Email}
	e.st.CreateFactor(e.ctx, f)
	e.st.ActivateFactor(e.ctx, u.ID, f.ID)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, fl := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, "authenticator app") || !strings.Contains(br.body, `value="email"`) {
		t.Fatalf("expected the app's code page offering email: %.400s", br.body)
	}
	fields := br.formFields()
	fields.Set("kind", "email")
	br.post(e.issuer+"/mfa/method", fields)
	if !strings.Contains(br.body, "Check your email") {
		t.Fatalf("switching to email: %d", br.status)
	}
	fields = br.formFields()
	fields.Set("code", lastEmailCode(t, e, "pat@example.org"))
	br.post(e.issuer+"/mfa/verify", fields)
	if _, idt := r.exchange(br.code(fl), fl); claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
		t.Error("the emailed code did not finish the sign-in")
	}
}

// TestNoFactorSwap: someone holding only the password (and perhaps the mailbox) of a person who
// uses an authenticator app cannot get an emailed code accepted, nor set up email as a new factor
// in place of answering the app.
func TestNoFactorSwap(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	enrollDirect(t, e, u)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	base := br.formFields()
	for _, tc := range []struct {
		path    string
		purpose string
	}{{"/mfa/enroll-email", "enroll"}, {"/mfa/resend", "challenge"}, {"/mfa/resend", "enroll"}} {
		f := br.formFields()
		f.Set("purpose", tc.purpose)
		br.post(e.issuer+tc.path, f)
		if br.status != 400 {
			t.Errorf("%s (%s): %d, want 400", tc.path, tc.purpose, br.status)
		}
	}
	if len(e.node.Outbox.List()) != 0 {
		t.Errorf("a code was emailed to a person who does not use email codes: %+v", e.node.Outbox.List())
	}
	for _, purpose := range []string{"enroll", "challenge"} {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		f.Set("method", "email")
		f.Set("purpose", purpose)
		f.Set("code", "123456")
		br.post(e.issuer+"/mfa/verify", f)
		if br.status != 400 || br.last != nil {
			t.Errorf("email code with purpose %s: %d %v", purpose, br.status, br.last)
		}
	}
}
