package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// The account console end to end: a browser signs in to /account through the tenant's built-in
// Account client (a real /authorize round trip with PKCE), then changes its second factors the
// way a person would, posting the page's own forms.

// devEnv is a node in dev mode (codes go to the outbox) whose authenticator clock the test moves,
// so several app codes can be used one after another without waiting for real time.
type devEnv struct {
	*env
	clock atomic.Int64 // Unix seconds of the TOTP clock
}

func newDevEnv(t *testing.T, b storetest.Backend) *devEnv {
	e := &devEnv{env: newEnv(t, b, func(o *server.Options) { o.Dev = true })}
	e.clock.Store(time.Now().Unix())
	e.node.Login.TOTP.SetClock(func() time.Time { return time.Unix(e.clock.Load(), 0) })
	return e
}

// appCode moves the app's clock to the next step and returns the code for it (each code is
// accepted once, so every use needs a later step).
func (e *devEnv) appCode(t *testing.T, secret string) string {
	t.Helper()
	at := e.clock.Add(30)
	return codeFor(t, secret, time.Unix(at, 0))
}

// wrongApp is a code the app's current step and its neighbours do not accept.
func (e *devEnv) wrongApp(t *testing.T, secret string) string {
	t.Helper()
	now := time.Unix(e.clock.Load(), 0)
	for _, c := range []string{"000000", "123456", "999999", "424242"} {
		ok := false
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
			ok = ok || codeFor(t, secret, now.Add(d)) == c
		}
		if !ok {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// appUser is a patient with an authenticator app enrolled directly (its code for the current
// step is spent).
func (e *devEnv) appUser(t *testing.T, email string) (*store.User, string) {
	t.Helper()
	u := e.user(email, "correct horse battery")
	// Enrolled at this test's own clock (enrollDirect uses the wall clock, which may already be
	// a step ahead and would make the first appCode a replay).
	en, err := e.node.Login.TOTP.Begin(e.ctx, u, e.tenant.Name)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := otp.NewKeyFromURL(en.URL)
	f, _ := e.st.FactorByID(e.ctx, u.ID, en.FactorID)
	if err := e.node.Login.TOTP.Confirm(e.ctx, f, codeFor(t, k.Secret(), time.Unix(e.clock.Load(), 0))); err != nil {
		t.Fatal(err)
	}
	return u, k.Secret()
}

// accountSignIn opens /account/security in a browser without a session and signs in through the
// Account client: password, then the app's code when the person has one.
func (e *devEnv) accountSignIn(t *testing.T, br *browser, email, secret string) {
	t.Helper()
	br.get(e.issuer + "/account/security")
	br.submitLogin(e.issuer, email, "correct horse battery")
	if secret != "" {
		if !strings.Contains(br.body, `action="/mfa/verify"`) {
			t.Fatalf("expected the app's code page after the password: %d %.300s", br.status, br.body)
		}
		f := br.formFields()
		f.Set("code", e.appCode(t, secret))
		br.post(e.issuer+"/mfa/verify", f)
	}
	if br.status != 200 || !strings.Contains(br.body, "<h1>Account security</h1>") {
		t.Fatalf("expected the account security page, got %d: %.500s", br.status, br.body)
	}
}

// act posts one of the security page's forms with the page's CSRF token.
func (e *devEnv) act(br *browser, path string, fields url.Values) {
	if fields == nil {
		fields = url.Values{}
	}
	if fields.Get("csrf") == "" {
		fields.Set("csrf", br.formFields().Get("csrf"))
	}
	br.post(e.issuer+path, fields)
}

// staleConfirmation makes the session's last second factor an hour old.
func (e *devEnv) staleConfirmation(t *testing.T) {
	t.Helper()
	if err := e.st.ExecRaw(e.ctx, "UPDATE sessions SET mfa_at = mfa_at - 3600 WHERE mfa_at IS NOT NULL"); err != nil {
		t.Fatal(err)
	}
}

// coolDown lets the next code be sent at once (the per-person cooldown between sends).
func (e *devEnv) coolDown(t *testing.T) {
	t.Helper()
	if err := e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 120"); err != nil {
		t.Fatal(err)
	}
}

// lastCode is the newest code sent on channel to a number or address.
func (e *devEnv) lastCode(t *testing.T, channel, to string) string {
	t.Helper()
	return outboxCode(t, e.env, channel, to)
}

// TestAccountSignIn: without a session /account goes through /authorize as the Account client
// and comes back to the page, which lists the factor with when it was last used. A forged
// callback is refused, and with two tenants the organisation must be named.
func TestAccountSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u, secret := e.appUser(t, "pat@example.org")
		br := newBrowser(t)
		br.get(e.issuer + "/account")
		if !strings.Contains(br.body, `autocomplete="current-password"`) || !strings.Contains(br.body, "Account") {
			t.Fatalf("expected the sign-in page for the Account client: %d %.300s", br.status, br.body)
		}
		c, err := e.st.ClientByID(e.ctx, store.AccountClientID(e.tenant.ID))
		if err != nil || c.Type != store.ClientPublic || c.RedirectURIs[0] != e.issuer+"/account/callback" {
			t.Fatalf("account client: %+v %v", c, err)
		}
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		f := br.formFields()
		f.Set("code", e.appCode(t, secret))
		br.post(e.issuer+"/mfa/verify", f)
		if br.status != 200 || !strings.Contains(br.body, "Account security") {
			t.Fatalf("not back on the account page: %d %.400s", br.status, br.body)
		}
		today := time.Now().UTC().Format("2006-01-02")
		for _, want := range []string{"<strong>authenticator app</strong>", "Last used on " + today, "Added on " + today, "Asked first"} {
			if !strings.Contains(br.body, want) {
				t.Errorf("the page does not say %q", want)
			}
		}
		// The code went through the token endpoint: the auth request's code is spent.
		es, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, u.ID, 50)
		signin := false
		for _, ev := range es {
			signin = signin || ev.Event == "account.signin" && ev.ClientID == c.ID
		}
		if !signin {
			t.Error("the sign-in to the account page is not audited")
		}

		// A callback whose state is not the one this browser's sign-in started with is refused,
		// even with a real code (someone else's sign-in planted in this browser).
		caught := newBrowser(t)
		var callback *url.URL
		caught.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/account/callback" {
				callback = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		}
		caught.get(e.issuer + "/account/login")
		caught.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		f = caught.formFields()
		f.Set("code", e.appCode(t, secret))
		caught.post(e.issuer+"/mfa/verify", f)
		if callback == nil {
			t.Fatalf("the sign-in did not come back to /account/callback: %d", caught.status)
		}
		q := callback.Query()
		q.Set("state", "not-"+q.Get("state"))
		caught.c.CheckRedirect = nil
		caught.get(e.issuer + "/account/callback?" + q.Encode())
		if caught.status != 400 || !strings.Contains(caught.body, "has expired or is not valid") {
			t.Errorf("callback with another state: %d", caught.status)
		}

		// A callback this browser did not start (no state cookie, made-up values) is refused.
		br.get(e.issuer + "/account/callback?code=made-up&state=made-up")
		if br.status != 400 {
			t.Errorf("forged callback: %d", br.status)
		}
		// The session still opens the page directly.
		br.get(e.issuer + "/account/security")
		if br.status != 200 || !strings.Contains(br.body, "authenticator app") {
			t.Errorf("the page after sign-in: %d", br.status)
		}

		// A password alone is not a complete sign-in for someone with an app: /account sends the
		// browser to answer the app, not to the page.
		half := newBrowser(t)
		r := e.rp(e.client(store.ClientWeb, nil))
		start, _ := r.authURL()
		half.get(start)
		half.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		half.get(e.issuer + "/account/security")
		if strings.Contains(half.body, "Account security") || !strings.Contains(half.body, `action="/mfa/verify"`) {
			t.Errorf("a password-only session reached the account page: %d %.300s", half.status, half.body)
		}

		// Two organisations: which one must be said.
		other := &store.Tenant{Name: "Lakeside Clinic " + t.Name()}
		e.st.CreateTenant(e.ctx, other)
		fresh := newBrowser(t)
		fresh.get(e.issuer + "/account/login")
		if fresh.status != 400 || !strings.Contains(fresh.body, "which organisation") {
			t.Errorf("two tenants, none named: %d %.200s", fresh.status, fresh.body)
		}
		fresh.get(e.issuer + "/account/login?tenant=" + url.QueryEscape(e.tenant.Name))
		if !strings.Contains(fresh.body, `autocomplete="current-password"`) {
			t.Errorf("named tenant: %d", fresh.status)
		}
	})
}

// TestAccountStepUp: with a stale confirmation, changing the authenticator app first asks
// "Confirm it's you"; a wrong answer counts toward the lock; the right one goes on to the new
// app, which replaces the old one only once its own code is entered. Seven wrong answers lock.
func TestAccountStepUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u, secret := e.appUser(t, "pat@example.org")
		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)
		page := br.body
		e.staleConfirmation(t)

		e.act(br, "/account/totp", nil)
		if br.status != 200 || !strings.Contains(br.body, "Confirm it") || strings.Contains(br.body, "setup-key") {
			t.Fatalf("a stale session must confirm first: %d %.300s", br.status, br.body)
		}
		f := br.formFields()
		f.Set("code", e.wrongApp(t, secret))
		br.post(e.issuer+"/account/confirm", f)
		if br.status != 401 || !strings.Contains(br.body, "6 attempts left") {
			t.Fatalf("wrong confirmation code: %d %.300s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.MFAFailures != 1 {
			t.Fatalf("the wrong code was not counted: %d", got.MFAFailures)
		}
		f = br.formFields()
		f.Set("code", e.appCode(t, secret))
		br.post(e.issuer+"/account/confirm", f)
		m := setupKeyRe.FindStringSubmatch(br.body)
		if br.status != 200 || m == nil || !strings.Contains(br.body, "Change authenticator app") {
			t.Fatalf("after confirming, the new app's QR code: %d %.300s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.MFAFailures != 0 {
			t.Errorf("a right answer must reset the count: %d", got.MFAFailures)
		}
		newSecret := strings.ReplaceAll(m[1], " ", "")
		// The old app still works until the new one is proved.
		if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); len(fs) != 1 {
			t.Fatalf("factors before the new code: %d", len(fs))
		}
		f = br.formFields()
		f.Set("code", e.wrongApp(t, newSecret))
		br.post(e.issuer+"/account/totp/confirm", f)
		if br.status != 401 || !strings.Contains(br.body, m[0]) {
			t.Fatalf("a wrong code from the new app must keep the same key: %d", br.status)
		}
		f = br.formFields()
		f.Set("code", codeFor(t, newSecret, time.Unix(e.clock.Load(), 0)))
		br.post(e.issuer+"/account/totp/confirm", f)
		if br.status != 200 || !strings.Contains(br.body, "new authenticator app is set up") {
			t.Fatalf("after the new app's code: %d %.300s", br.status, br.body)
		}
		fs, _ := e.st.ActiveFactors(e.ctx, u.ID)
		if len(fs) != 1 || fs[0].Kind != "totp" || !fs[0].IsDefault || strings.Contains(page, fs[0].ID) {
			t.Fatalf("the new app must replace the old one: %+v", fs)
		}
		if !outboxHas(e.env, "pat@example.org", "A sign-in method was changed on your account") {
			t.Error("no notice of the changed app")
		}

		// Fresh now: the next change needs no confirmation.
		e.act(br, "/account/backup", nil)
		if len(backupCodeRe.FindAllString(br.body, -1)) != 10 {
			t.Fatalf("fresh session, new backup codes: %d %.300s", br.status, br.body)
		}

		// Seven wrong answers on the confirm page lock the account, like at sign-in.
		e.staleConfirmation(t)
		br.get(e.issuer + "/account/security")
		e.act(br, "/account/remove", url.Values{"factorID": {fs[0].ID}})
		for i := 0; i < 7; i++ {
			f := br.formFields()
			f.Set("code", e.wrongApp(t, newSecret))
			br.post(e.issuer+"/account/confirm", f)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); br.status != 403 || got.LockedAt == nil {
			t.Fatalf("seven wrong confirmations: %d, locked %v", br.status, got.LockedAt)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); len(fs) != 1 {
			t.Error("the factor was removed without a confirmation")
		}
		br.get(e.issuer + "/account/security")
		if br.status != 403 {
			t.Errorf("a locked account's page: %d", br.status)
		}
	})
}

// TestAccountPhone: texts to a landline are refused; a mobile number is set up with the texted
// code. "Save & Get Code" saves a new number unverified; a person who leaves without the code is
// asked for one sent to it at the next sign-in, and that code finishes the sign-in.
func TestAccountPhone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u, secret := e.appUser(t, "pat@example.org")
		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)

		e.act(br, "/account/phone", url.Values{"phone": {"+44 20 7946 0958"}, "kind": {"sms"}})
		if br.status != 400 || !strings.Contains(br.body, "This looks like a landline, which cannot receive texts. Use a mobile number or choose a voice call.") ||
			!strings.Contains(br.body, `aria-describedby="phone-hint phone-error"`) {
			t.Fatalf("landline for texts: %d %.500s", br.status, br.body)
		}
		if len(e.node.Outbox.List()) != 0 {
			t.Fatal("a code went to a landline")
		}
		e.act(br, "/account/phone", url.Values{"phone": {"+44 7400 123456"}, "kind": {"sms"}})
		if br.status != 200 || !strings.Contains(br.body, "•••• 3456") {
			t.Fatalf("mobile number: %d %.300s", br.status, br.body)
		}
		f := br.formFields()
		f.Set("code", "000000")
		if e.lastCode(t, "sms", "+447400123456") == "000000" {
			f.Set("code", "111111")
		}
		br.post(e.issuer+"/account/code", f)
		if br.status != 401 {
			t.Fatalf("wrong texted code: %d", br.status)
		}
		f = br.formFields()
		f.Set("code", e.lastCode(t, "sms", "+447400123456"))
		br.post(e.issuer+"/account/code", f)
		if br.status != 200 || !strings.Contains(br.body, "phone number is set up") || !strings.Contains(br.body, "Codes by text message") {
			t.Fatalf("after the texted code: %d %.400s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Phone != "+447400123456" || !got.PhoneVerified {
			t.Errorf("the texts number is the mobile number: %q %v", got.Phone, got.PhoneVerified)
		}

		// Save & Get Code, then leave.
		e.coolDown(t)
		e.act(br, "/account/mobile", url.Values{"phone": {"+44 20 7946 0958"}})
		if br.status != 400 || !strings.Contains(br.body, "This looks like a landline") || !strings.Contains(br.body, `id="mobile-error"`) {
			t.Fatalf("landline as the mobile number: %d", br.status)
		}
		e.act(br, "/account/mobile", url.Values{"phone": {"+49 151 23456789"}})
		if br.status != 200 || !strings.Contains(br.body, "Confirm your mobile number") {
			t.Fatalf("Save & Get Code: %d %.300s", br.status, br.body)
		}
		e.lastCode(t, "sms", "+4915123456789")
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Phone != "+4915123456789" || got.PhoneVerified {
			t.Fatalf("the number must be saved, unverified: %q %v", got.Phone, got.PhoneVerified)
		}
		br.get(e.issuer + "/account/profile") // the mobile number lives on the profile page
		if !strings.Contains(br.body, "is not confirmed yet") {
			t.Error("the page does not say the number is unconfirmed")
		}

		// The next sign-in to an application asks for a code sent to the new number first.
		e.coolDown(t)
		r := e.rp(e.client(store.ClientWeb, nil))
		next := newBrowser(t)
		start, fl := r.authURL()
		next.get(start)
		next.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(next.body, "Confirm your mobile number") || !strings.Contains(next.body, "•••• 6789") {
			t.Fatalf("the next sign-in must verify the saved number: %d %.400s", next.status, next.body)
		}
		f = next.formFields()
		f.Set("code", e.lastCode(t, "sms", "+4915123456789"))
		next.post(e.issuer+"/mfa/verify", f)
		if _, idt := r.exchange(next.code(fl), fl); claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
			t.Errorf("verifying the number is the second factor: %v", claims(t, idt)["acr"])
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); !got.PhoneVerified {
			t.Error("the number is still unverified")
		}
		fs, _ := e.st.ActiveFactors(e.ctx, u.ID)
		for _, f := range fs {
			if f.Kind == "sms" && f.Label != "+4915123456789" {
				t.Errorf("texts still go to the old number: %s", f.Label)
			}
		}
	})
}

// TestAccountDefaultAndRemove: the last factor cannot be removed where the tenant requires MFA;
// "Ask for this first" changes what the next sign-in asks; with another factor the app can go.
func TestAccountDefaultAndRemove(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		e.tenant.MFAMode = store.MFARequired
		e.st.UpdateTenant(e.ctx, e.tenant)
		u, secret := e.appUser(t, "pat@example.org")
		app, _ := e.st.ActiveFactors(e.ctx, u.ID)
		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)

		e.act(br, "/account/remove", url.Values{"factorID": {app[0].ID}})
		if br.status != 409 || !strings.Contains(br.body, "You cannot remove your only sign-in method") {
			t.Fatalf("removing the last factor under required MFA: %d %.300s", br.status, br.body)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); len(fs) != 1 {
			t.Fatal("the last factor was removed")
		}

		email := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "email", Label: u.Email}
		e.st.CreateFactor(e.ctx, email)
		e.st.ActivateFactor(e.ctx, u.ID, email.ID)
		br.get(e.issuer + "/account/security")
		e.act(br, "/account/default", url.Values{"factorID": {email.ID}})
		if br.status != 200 || !strings.Contains(br.body, "ask for that method first") {
			t.Fatalf("set default: %d %.300s", br.status, br.body)
		}
		if !outboxHas(e.env, "pat@example.org", "Your first sign-in method was changed") {
			t.Error("no notice of the new default")
		}
		r := e.rp(e.client(store.ClientWeb, nil))
		next := newBrowser(t)
		start, _ := r.authURL()
		next.get(start)
		next.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(next.body, "Check your email") {
			t.Fatalf("the next sign-in must ask for the new default first: %.300s", next.body)
		}

		e.act(br, "/account/remove", url.Values{"factorID": {app[0].ID}})
		if br.status != 200 || !strings.Contains(br.body, "was removed") {
			t.Fatalf("remove with another factor left: %d %.300s", br.status, br.body)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); len(fs) != 1 || fs[0].Kind != "email" || !fs[0].IsDefault {
			t.Fatalf("left: %+v", fs)
		}
		if !outboxHas(e.env, "pat@example.org", "A sign-in method was removed from your account") {
			t.Error("no notice of the removal")
		}
	})
}

// TestAccountBackupCodes: the page counts the codes left and warns at three; new codes replace
// the whole set (an old code fails at sign-in, a new one works) and come with a download and a
// print button.
func TestAccountBackupCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u, secret := e.appUser(t, "pat@example.org")
		old, err := e.node.Login.Backup.Generate(e.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)
		if !strings.Contains(br.body, "You have 10 backup codes left.") || strings.Contains(br.body, "running low") {
			t.Fatalf("ten codes: %.600s", br.body)
		}
		for _, c := range old[:7] {
			if err := e.node.Login.Backup.Use(e.ctx, u.ID, c); err != nil {
				t.Fatal(err)
			}
		}
		br.get(e.issuer + "/account/security")
		if !strings.Contains(br.body, "You have 3 backup codes left.") || !strings.Contains(br.body, "running low on backup codes") {
			t.Fatalf("three left must warn: %.600s", br.body)
		}

		e.act(br, "/account/backup", nil)
		codes := backupCodeRe.FindAllStringSubmatch(br.body, -1)
		if br.status != 200 || len(codes) != 10 || !strings.Contains(br.body, `download="tessera-backup-codes.txt"`) ||
			!strings.Contains(br.body, "data-print") || !strings.Contains(br.body, `src="/static/print.js"`) {
			t.Fatalf("new codes page: %d, %d codes %.400s", br.status, len(codes), br.body)
		}
		if !outboxHas(e.env, "pat@example.org", "You have new backup codes") {
			t.Error("no notice of the new codes")
		}
		br.get(e.issuer + "/account/security")
		if !strings.Contains(br.body, "You have 10 backup codes left.") || strings.Contains(br.body, "running low") {
			t.Errorf("after new codes: %.300s", br.body)
		}
		if resp, err := http.Get(e.issuer + "/static/print.js"); err != nil || resp.StatusCode != 200 {
			t.Errorf("print script: %v %v", resp, err)
		}

		r := e.rp(e.client(store.ClientWeb, nil))
		for i, tc := range []struct {
			code string
			ok   bool
		}{{old[8], false}, {codes[0][1], true}} {
			next := newBrowser(t)
			start, fl := r.authURL()
			next.get(start)
			next.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
			f := next.formFields()
			f.Set("code", tc.code)
			next.post(e.issuer+"/mfa/backup", f)
			if tc.ok {
				r.exchange(next.code(fl), fl)
			} else if next.status != 401 || next.last != nil {
				t.Errorf("code %d of the replaced set: %d", i, next.status)
			}
		}
	})
}

// TestAccountOwnershipAndCSRF: a factor id of another person is refused, and so is a form without
// its CSRF token or from another site.
func TestAccountOwnershipAndCSRF(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		a, _ := e.appUser(t, "alex@example.org")
		_, secretB := e.appUser(t, "pat@example.org")
		email := &store.Factor{UserID: a.ID, TenantID: a.TenantID, Kind: "email", Label: a.Email}
		e.st.CreateFactor(e.ctx, email)
		e.st.ActivateFactor(e.ctx, a.ID, email.ID)
		alex, _ := e.st.ActiveFactors(e.ctx, a.ID)

		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secretB)
		for _, path := range []string{"/account/remove", "/account/default"} {
			for _, f := range alex {
				br.get(e.issuer + "/account/security")
				e.act(br, path, url.Values{"factorID": {f.ID}})
				if br.status != 400 || !strings.Contains(br.body, "was not found") {
					t.Errorf("%s with another person's factor: %d", path, br.status)
				}
			}
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, a.ID); len(fs) != 2 || fs[0].ID != alex[0].ID {
			t.Fatalf("another person's factors changed: %+v", fs)
		}

		pat, _ := e.st.UserByEmail(e.ctx, e.tenant.ID, "pat@example.org")
		own, _ := e.st.ActiveFactors(e.ctx, pat.ID)
		br.post(e.issuer+"/account/remove", url.Values{"factorID": {own[0].ID}})
		if br.status != 403 {
			t.Errorf("no CSRF token: %d", br.status)
		}
		br.get(e.issuer + "/account/security")
		csrf := br.formFields().Get("csrf")
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/account/backup", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := br.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("cross-site post: %d", resp.StatusCode)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, pat.ID); len(fs) != 1 {
			t.Error("a forged form changed a factor")
		}
		if left, _ := e.node.Login.Backup.Left(e.ctx, pat.ID); left != 0 {
			t.Error("a cross-site form made backup codes")
		}
	})
}

// TestAccountFirstFactor: someone with no second factor confirms with their password, typed in
// the set-up form itself (a wrong one is refused and slows further tries, it never locks), sets up
// codes by email and gets their backup codes with it.
func TestAccountFirstFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u := e.user("pat@example.org", "correct horse battery")
		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", "")
		if !strings.Contains(br.body, `id="pw-email"`) || !strings.Contains(br.body, "no second sign-in method yet") {
			t.Fatalf("the set-up forms must ask for the password: %.600s", br.body)
		}
		e.act(br, "/account/email", url.Values{"password": {"wrong password"}})
		if br.status != 401 || !strings.Contains(br.body, "That password is not right") || !strings.Contains(br.body, `autocomplete="current-password"`) {
			t.Fatalf("wrong password: %d %.300s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.MFAFailures != 0 || got.LockedAt != nil {
			t.Error("a wrong password counted as a wrong code")
		}
		e.st.ExecRaw(e.ctx, "DELETE FROM login_throttle")
		f := br.formFields()
		f.Set("password", "correct horse battery")
		br.post(e.issuer+"/account/confirm", f)
		if br.status != 200 || !strings.Contains(br.body, "Check your email") {
			t.Fatalf("after the password: %d %.300s", br.status, br.body)
		}
		f = br.formFields()
		f.Set("code", lastEmailCode(t, e.env, "pat@example.org"))
		br.post(e.issuer+"/account/code", f)
		if len(backupCodeRe.FindAllString(br.body, -1)) != 10 {
			t.Fatalf("the first factor comes with backup codes: %d %.300s", br.status, br.body)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); len(fs) != 1 || fs[0].Kind != "email" {
			t.Fatalf("factors: %+v", fs)
		}
		if !outboxHas(e.env, "pat@example.org", "A sign-in method was added to your account") {
			t.Error("no notice of the new factor")
		}
	})
}
