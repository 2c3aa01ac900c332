package server_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// codeFor makes the authenticator app's code for a time (the app's job, done by the library).
func codeFor(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var setupKeyRe = regexp.MustCompile(`id="setup-key">([A-Z2-7 ]+)<`)

// enrollInBrowser completes the enrollment page as a person with an authenticator app would.
func enrollInBrowser(t *testing.T, e *env, br *browser) string {
	t.Helper()
	m := setupKeyRe.FindStringSubmatch(br.body)
	if m == nil || !strings.Contains(br.body, `autocomplete="one-time-code"`) || !strings.Contains(br.body, "data:image/png;base64,") {
		t.Fatalf("expected the enrollment page with a QR code and a setup key, got %d: %.400s", br.status, br.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	f := br.formFields()
	f.Set("code", "000000")
	if codeFor(t, secret, time.Now()) == "000000" {
		f.Set("code", "111111")
	}
	br.post(e.issuer+"/mfa/enroll", f)
	if br.status != 401 || !strings.Contains(br.body, setupKeyRe.FindString(br.body)) {
		t.Fatalf("a wrong code must keep the same setup key on the page: %d", br.status)
	}
	f = br.formFields()
	f.Set("code", codeFor(t, secret, time.Now()))
	br.post(e.issuer+"/mfa/enroll", f)
	// The first factor comes with ten backup codes, shown once.
	codes := backupCodeRe.FindAllStringSubmatch(br.body, -1)
	if len(codes) != 10 || !strings.Contains(br.body, `download="tessera-backup-codes.txt"`) {
		t.Fatalf("expected the backup codes page with ten codes, got %d codes: %.300s", len(codes), br.body)
	}
	lastBackupCodes = nil
	for _, c := range codes {
		lastBackupCodes = append(lastBackupCodes, c[1])
	}
	br.post(e.issuer+"/mfa/continue", br.formFields())
	return secret
}

var (
	backupCodeRe    = regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`)
	lastBackupCodes []string
)

// TestAuthenticatorApp: forced enrollment when the tenant requires MFA, then sign-in with the
// app's code: wrong codes count down, the right one gives acr mfa and amr [pwd otp mfa], the same
// code is never accepted twice, and a second application gets single sign-on at that level.
func TestAuthenticatorApp(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		e.tenant.MFAMode = store.MFARequired
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		id, sec := e.client(store.ClientWeb, nil)
		id2, sec2 := e.client(store.ClientWeb, func(c *store.Client) { c.Name = "Scheduling" })
		u := e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)

		// First sign-in: the tenant requires MFA and Pat has none: enroll (no "Remind me later").
		br := newBrowser(t)
		start, f := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if strings.Contains(br.body, "Remind me later") {
			t.Error("deferral offered after the enforcement date")
		}
		secret := enrollInBrowser(t, e, br)
		_, idt := r.exchange(br.code(f), f)
		c := claims(t, idt)
		if c["acr"] != "urn:tessera:acr:mfa" || !slices.Equal(toStrings(c["amr"]), []string{"pwd", "otp", "mfa"}) {
			t.Errorf("after enrollment: acr %v amr %v", c["acr"], c["amr"])
		}

		// Next sign-in (new browser): challenged; two wrong codes, then the right one.
		br = newBrowser(t)
		start, f = r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, `action="/mfa/verify"`) || !strings.Contains(br.body, `inputmode="numeric"`) {
			t.Fatalf("expected the code page: %d %.300s", br.status, br.body)
		}
		for i, left := range []string{"6 attempts left", "5 attempts left"} {
			fields := br.formFields()
			fields.Set("code", wrongCode(t, secret))
			br.post(e.issuer+"/mfa/verify", fields)
			if br.status != 401 || !strings.Contains(br.body, left) {
				t.Fatalf("wrong code %d: %d, want %q", i+1, br.status, left)
			}
		}
		// The enrollment used this step's code; the app's next code is accepted (one step of skew).
		next := codeFor(t, secret, time.Now().Add(30*time.Second))
		fields := br.formFields()
		fields.Set("code", next)
		br.post(e.issuer+"/mfa/verify", fields)
		_, idt = r.exchange(br.code(f), f)
		if claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
			t.Errorf("acr = %v", claims(t, idt)["acr"])
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.MFAFailures != 0 {
			t.Errorf("a success must reset the count, have %d", got.MFAFailures)
		}

		// Single sign-on to a second application keeps the second factor: no page at all.
		r2 := e.rp(id2, sec2)
		u2, f2 := r2.authURL()
		br.get(u2)
		if br.last == nil {
			t.Fatalf("SSO asked again: %.200s", br.body)
		}
		if _, idt := r2.exchange(br.code(f2), f2); claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
			t.Error("SSO lost the second factor")
		}

		// A lost phone: a backup code works once.
		backup := lastBackupCodes[0]
		for i, want := range []int{200, 401} {
			br := newBrowser(t)
			start, f := r.authURL()
			br.get(start)
			br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
			if !strings.Contains(br.body, `action="/mfa/backup"`) {
				t.Fatalf("no backup code option on the code page")
			}
			fields := br.formFields()
			fields.Set("code", strings.ToUpper(backup))
			br.post(e.issuer+"/mfa/backup", fields)
			if i == 0 {
				if _, idt := r.exchange(br.code(f), f); claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
					t.Error("backup code sign-in is not mfa")
				}
			} else if br.status != want || !strings.Contains(br.body, "already used") {
				t.Errorf("a backup code used twice: %d", br.status)
			}
		}

		// The same code again, in another browser: refused as already used.
		br = newBrowser(t)
		start, _ = r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		fields = br.formFields()
		fields.Set("code", next)
		br.post(e.issuer+"/mfa/verify", fields)
		if br.status != 401 || !strings.Contains(br.body, "already used") {
			t.Errorf("replayed code: %d", br.status)
		}
	})
}

// TestLockoutThroughCodes: seven wrong codes lock the account; the right code is then refused;
// after an unlock the person signs in again.
func TestLockoutThroughCodes(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	secret := enrollDirect(t, e, u)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	for i := 1; i <= 7; i++ {
		fields := br.formFields()
		fields.Set("code", wrongCode(t, secret))
		br.post(e.issuer+"/mfa/verify", fields)
	}
	if br.status != 403 || !strings.Contains(br.body, "practice administrator") {
		t.Fatalf("after 7 wrong codes: %d", br.status)
	}
	// Neither this browser (its session gave the password) nor a new one gets in.
	br.get(start)
	if br.status != 403 || br.last != nil {
		t.Fatalf("a locked account got past the lock: %d %v", br.status, br.last)
	}
	fresh := newBrowser(t)
	fresh.get(start)
	fresh.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if fresh.status != 403 || fresh.last != nil {
		t.Fatalf("a locked account signed in: %d %v", fresh.status, fresh.last)
	}
	e.st.Unlock(e.ctx, u.ID)
	br = newBrowser(t)
	start, f := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	ff := br.formFields()
	ff.Set("code", codeFor(t, secret, time.Now().Add(30*time.Second)))
	br.post(e.issuer+"/mfa/verify", ff)
	r.exchange(br.code(f), f)
}

// TestDeferral: before the enforcement date a patient may choose "Remind me later" and gets a
// one-factor sign-in; the choice is audited.
func TestDeferral(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	later := time.Now().AddDate(0, 1, 0).Unix()
	e.tenant.MFAMode, e.tenant.EnforceFrom = store.MFARequired, &later
	e.st.UpdateTenant(e.ctx, e.tenant)
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, f := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, "Remind me later") {
		t.Fatalf("no deferral before the enforcement date: %.300s", br.body)
	}
	br.post(e.issuer+"/mfa/defer", br.formFields())
	if _, idt := r.exchange(br.code(f), f); claims(t, idt)["acr"] != "urn:tessera:acr:1fa" {
		t.Error("a deferred sign-in must say one factor")
	}
	es, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, u.ID, 20)
	found := false
	for _, ev := range es {
		found = found || ev.Event == "mfa.deferred"
	}
	if !found {
		t.Error("the deferral is not in the audit trail")
	}
}

func enrollDirect(t *testing.T, e *env, u *store.User) string {
	t.Helper()
	en, err := e.node.Login.TOTP.Begin(e.ctx, u, e.tenant.Name)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := otp.NewKeyFromURL(en.URL)
	f, _ := e.st.FactorByID(e.ctx, u.ID, en.FactorID)
	if err := e.node.Login.TOTP.Confirm(e.ctx, f, codeFor(t, k.Secret(), time.Now())); err != nil {
		t.Fatal(err)
	}
	return k.Secret()
}

// wrongCode returns a code that is not valid for the previous, current or next step.
func wrongCode(t *testing.T, secret string) string {
	now := time.Now()
	valid := []string{codeFor(t, secret, now.Add(-30*time.Second)), codeFor(t, secret, now), codeFor(t, secret, now.Add(30*time.Second))}
	for _, c := range []string{"000000", "123456", "999999", "424242"} {
		if !slices.Contains(valid, c) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}
