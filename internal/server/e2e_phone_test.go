package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// requiredMFA turns MFA on for the test tenant.
func (e *env) requiredMFA() {
	e.t.Helper()
	e.tenant.MFAMode = store.MFARequired
	if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
		e.t.Fatal(err)
	}
}

// enrollPhone posts the phone set-up form of the enrollment page.
func (b *browser) enrollPhone(issuer, number, kind string) {
	b.t.Helper()
	if !strings.Contains(b.body, `action="/mfa/enroll-phone"`) {
		b.t.Fatalf("no phone option on the enrollment page: %d %.300s", b.status, b.body)
	}
	f := b.formFields()
	f.Set("phone", number)
	f.Set("kind", kind)
	b.post(issuer+"/mfa/enroll-phone", f)
}

// TestSMSCodes: a patient without a smartphone sets up texts with a mobile number, gets the
// code from a text message whose last line binds it to the site, and later signs in with a
// texted code; the ID token says sms. On both databases.
func TestSMSCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, func(o *server.Options) { o.Dev = true })
		e.requiredMFA()
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)

		br := newBrowser(t)
		start, fl := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		br.enrollPhone(e.issuer, "07400 123456", "sms") // no country code: read as the tenant's region
		if br.status != 400 || !strings.Contains(br.body, "not a valid phone number") {
			t.Fatalf("a UK number typed nationally in a US tenant must be refused as invalid: %d", br.status)
		}
		br.enrollPhone(e.issuer, "+44 7400 123456", "sms")
		if !strings.Contains(br.body, "Check your text messages") || !strings.Contains(br.body, "•••• 3456") {
			t.Fatalf("expected the text code page naming the number: %d %.400s", br.status, br.body)
		}
		msgs := e.node.Outbox.List()
		body := msgs[0].Body
		host := strings.TrimPrefix(e.issuer, "http://")
		host = host[:strings.LastIndexByte(host, ':')]
		if msgs[0].Channel != "sms" || !strings.Contains(body, "Riverside Health") || strings.Contains(body, "http") ||
			!strings.HasSuffix(body, "@"+host+" #"+sixDigits.FindString(body)) {
			t.Fatalf("the text must name the service, hold no link and end with the origin-bound line: %q", body)
		}
		fields := br.formFields()
		fields.Set("code", outboxCode(t, e, "sms", "+447400123456"))
		br.post(e.issuer+"/mfa/verify", fields)
		br.post(e.issuer+"/mfa/continue", br.formFields()) // past the backup codes
		_, idt := r.exchange(br.code(fl), fl)
		if c := claims(t, idt); c["acr"] != "urn:tessera:acr:mfa" || !slices.Equal(toStrings(c["amr"]), []string{"pwd", "sms", "mfa"}) {
			t.Errorf("after SMS enrollment: %v %v", c["acr"], c["amr"])
		}
		u, _ := e.st.UserByEmail(e.ctx, e.tenant.ID, "pat@example.org")
		if u.Phone != "+447400123456" || !u.PhoneVerified || u.PhoneLineType != "mobile" {
			t.Errorf("the confirmed number must become the verified mobile: %q %v %q", u.Phone, u.PhoneVerified, u.PhoneLineType)
		}

		// Next sign-in: the text goes out on arrival; a wrong code counts; the right one works.
		e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 60")
		br = newBrowser(t)
		start, fl = r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, "Check your text messages") {
			t.Fatalf("expected the text code page: %.300s", br.body)
		}
		code := outboxCode(t, e, "sms", "+447400123456")
		fields = br.formFields()
		fields.Set("code", wrongDigits(code))
		br.post(e.issuer+"/mfa/verify", fields)
		if br.status != 401 || !strings.Contains(br.body, "6 attempts left") {
			t.Fatalf("a wrong texted code: %d %.300s", br.status, br.body)
		}
		fields.Set("code", code)
		br.post(e.issuer+"/mfa/verify", fields)
		_, idt = r.exchange(br.code(fl), fl)
		if c := claims(t, idt); !slices.Equal(toStrings(c["amr"]), []string{"pwd", "sms", "mfa"}) {
			t.Errorf("texted code sign-in: %v", c["amr"])
		}
		if u, _ := e.st.UserByID(e.ctx, u.ID); u.MFAFailures != 0 {
			t.Errorf("a success must reset the wrong-code count, got %d", u.MFAFailures)
		}
	})
}

func wrongDigits(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// TestVoiceCodes: a patient with only a landline sets up phone calls, which a landline can
// take, and signs in with the code the call read out; the ID token says tel. The same landline
// is refused for texts with the plain message.
func TestVoiceCodes(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.requiredMFA()
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, fl := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")

	br.enrollPhone(e.issuer, "+44 20 7946 0958", "sms")
	const landline = "This looks like a landline, which cannot receive texts. Use a mobile number or choose a voice call."
	if br.status != 400 || !strings.Contains(br.body, landline) || !strings.Contains(br.body, `aria-invalid="true"`) {
		t.Fatalf("a landline for texts: %d %.600s", br.status, br.body)
	}
	if n := len(e.node.Outbox.List()); n != 0 {
		t.Fatalf("nothing may be sent to a refused number, %d sent", n)
	}
	br.enrollPhone(e.issuer, "+44 20 7946 0958", "voice")
	if !strings.Contains(br.body, "Answer your phone") {
		t.Fatalf("expected the call code page: %d %.300s", br.status, br.body)
	}
	call := e.node.Outbox.List()[0]
	if call.Channel != "voice" || !strings.Contains(call.Body, "Riverside Health") || call.Locale == "" {
		t.Fatalf("the call must name the service and carry the language: %+v", call)
	}
	fields := br.formFields()
	fields.Set("code", outboxCode(t, e, "voice", "+442079460958"))
	br.post(e.issuer+"/mfa/verify", fields)
	br.post(e.issuer+"/mfa/continue", br.formFields())
	_, idt := r.exchange(br.code(fl), fl)
	if c := claims(t, idt); !slices.Equal(toStrings(c["amr"]), []string{"pwd", "tel", "mfa"}) {
		t.Errorf("after voice enrollment: %v", c["amr"])
	}
	u, _ := e.st.UserByEmail(e.ctx, e.tenant.ID, "pat@example.org")
	if u.Phone != "+12025550123" {
		t.Errorf("a landline for calls must not replace the mobile number: %q", u.Phone)
	}

	// Next time the call goes out on arrival.
	e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 60")
	br = newBrowser(t)
	start, fl = r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	fields = br.formFields()
	fields.Set("code", outboxCode(t, e, "voice", "+442079460958"))
	br.post(e.issuer+"/mfa/verify", fields)
	if _, idt := r.exchange(br.code(fl), fl); !slices.Equal(toStrings(claims(t, idt)["amr"]), []string{"pwd", "tel", "mfa"}) {
		t.Error("voice code sign-in")
	}
}

// TestSavedNumberVerifiedAtSignIn: a number an administrator saved (or the person changed) but
// nobody verified is verified at the next sign-in by a text, which also counts as the second
// factor; a code for another number does not verify it (seed 001 §3).
func TestSavedNumberVerifiedAtSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, func(o *server.Options) { o.Dev = true })
		e.requiredMFA()
		id, sec := e.client(store.ClientWeb, nil)
		u := e.user("pat@example.org", "correct horse battery")
		if err := e.st.SavePhone(e.ctx, u.ID, "+447400123456", "mobile"); err != nil {
			t.Fatal(err)
		}
		r := e.rp(id, sec)
		br := newBrowser(t)
		start, fl := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, "Confirm your mobile number") || outboxCount(e, "sms", "+447400123456") != 1 {
			t.Fatalf("expected the saved number to be verified first: %d %.300s", br.status, br.body)
		}
		fields := br.formFields()
		fields.Set("code", "000000")
		if outboxCode(t, e, "sms", "+447400123456") == "000000" {
			fields.Set("code", "000001")
		}
		br.post(e.issuer+"/mfa/verify", fields)
		if br.status != 401 {
			t.Fatalf("a wrong code: %d", br.status)
		}
		if u, _ := e.st.UserByID(e.ctx, u.ID); u.PhoneVerified || u.MFAFailures != 1 {
			t.Fatalf("a wrong code changes nothing but the count: verified %v, failures %d", u.PhoneVerified, u.MFAFailures)
		}
		fields.Set("code", outboxCode(t, e, "sms", "+447400123456"))
		br.post(e.issuer+"/mfa/verify", fields)
		if br.last == nil {
			br.post(e.issuer+"/mfa/continue", br.formFields())
		}
		_, idt := r.exchange(br.code(fl), fl)
		if c := claims(t, idt); !slices.Equal(toStrings(c["amr"]), []string{"pwd", "sms", "mfa"}) {
			t.Errorf("verifying the number is the second factor: %v", c["amr"])
		}
		u, _ = e.st.UserByID(e.ctx, u.ID)
		fs, _ := e.st.ActiveFactors(e.ctx, u.ID)
		if !u.PhoneVerified || len(fs) != 1 || fs[0].Kind != "sms" || fs[0].Label != "+447400123456" {
			t.Errorf("the verified number must be the SMS factor: verified %v, factors %+v", u.PhoneVerified, fs)
		}
	})
}

// TestCodeBoundToNumber: a code texted to one number cannot confirm another, so whoever holds
// the old phone cannot approve a new one.
func TestCodeBoundToNumber(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.requiredMFA()
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	br.enrollPhone(e.issuer, "+44 7400 123456", "sms")
	first := br.formFields()
	firstCode := outboxCode(t, e, "sms", "+447400123456")
	e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 60")
	br.post(e.issuer+"/mfa/continue", first) // back to the enrollment page
	br.enrollPhone(e.issuer, "+44 7400 654321", "sms")
	second := br.formFields()
	if second.Get("factorID") == first.Get("factorID") {
		t.Fatal("each number must have its own pending factor")
	}
	second.Set("code", firstCode)
	br.post(e.issuer+"/mfa/verify", second)
	if br.status != 401 {
		t.Fatalf("the first number's code confirmed the second number: %d", br.status)
	}
	if fs, _ := e.st.ActiveFactors(e.ctx, e.mustUser("pat@example.org").ID); len(fs) != 0 {
		t.Fatalf("nothing may be turned on: %+v", fs)
	}
}

func (e *env) mustUser(email string) *store.User {
	e.t.Helper()
	u, err := e.st.UserByEmail(e.ctx, e.tenant.ID, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// TestProviderNoPhone: a provider's role allows only the app (and passkeys): the enrollment page
// offers no texts or calls, and posting the phone form anyway is refused without sending.
func TestProviderNoPhone(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("dr@example.org", "correct horse battery")
	e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'provider' WHERE id = ?", u.ID)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "dr@example.org", "correct horse battery")
	if strings.Contains(br.body, "/mfa/enroll-phone") || !strings.Contains(br.body, `action="/mfa/enroll"`) {
		t.Fatalf("a provider must be offered the app only: %.400s", br.body)
	}
	f := br.formFields()
	f.Set("phone", "+44 7400 123456")
	f.Set("kind", "sms")
	br.post(e.issuer+"/mfa/enroll-phone", f)
	if br.status != 400 || len(e.node.Outbox.List()) != 0 {
		t.Errorf("phone set-up for a provider: %d, sent %d", br.status, len(e.node.Outbox.List()))
	}
}

// TestResetWithTexts: someone whose second factor is texts (and who has no backup codes, like a
// person imported from another portal) must answer a texted code to reset the password; the link
// alone is not enough, and a wrong code changes nothing but the count.
func TestResetWithTexts(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	f := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "sms", Label: "+447400123456"}
	e.st.CreateFactor(e.ctx, f)
	e.st.ActivateFactor(e.ctx, u.ID, f.ID)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	arID := br.formFields().Get("authRequestID")
	br.get(e.issuer + "/forgot?authRequestID=" + arID)
	fields := br.formFields()
	fields.Set("email", "pat@example.org")
	br.post(e.issuer+"/forgot", fields)
	var link string
	for _, m := range e.node.Outbox.List() {
		if m.Subject == "Reset your Tessera password" {
			link = resetLinkRe.FindString(m.Body)
		}
	}
	br.get(link)
	if !strings.Contains(seenText(br.body), "we texted to •••• 3456") || !strings.Contains(br.body, `name="code"`) {
		t.Fatalf("the reset must ask for a texted code: %.500s", br.body)
	}
	code := outboxCode(t, e, "sms", "+447400123456")
	post := func(code string) {
		fields := br.formFields()
		fields.Set("code", code)
		fields.Set("password", "a brand new passphrase")
		fields.Set("password2", "a brand new passphrase")
		br.post(e.issuer+"/reset", fields)
	}
	for _, c := range []string{"", wrongDigits(code)} {
		post(c)
		if br.status != 401 {
			t.Fatalf("reset with code %q: %d, want 401", c, br.status)
		}
	}
	if got, _ := e.st.UserByID(e.ctx, u.ID); got.PasswordHash != u.PasswordHash || got.MFAFailures != 2 {
		t.Fatalf("a wrong code changes nothing but the count: failures %d, hash changed %v", got.MFAFailures, got.PasswordHash != u.PasswordHash)
	}
	post(code)
	if br.status != 200 || !strings.Contains(br.body, "password was changed") {
		t.Fatalf("reset with the texted code: %d %.300s", br.status, br.body)
	}
}
