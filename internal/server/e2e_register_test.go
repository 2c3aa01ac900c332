package server_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// Self-service registration (seed 001 §1): name, email, password and a mobile number; the
// number is verified by a texted code and the address by an emailed code before the account
// exists; a landline is refused; the sign-in then goes on to the application.

const (
	regMobile   = "+44 7400 123456" // libphonenumber: MOBILE
	regMobileE  = "+447400123456"
	regLandline = "+44 20 7946 0000" // libphonenumber: FIXED_LINE
	regPassword = "plum tree harbour lantern"
)

var registerLinkRe = regexp.MustCompile(`href="(/register\?authRequestID=[^"]+)"`)

// regSetup starts a dev-mode node whose tenant takes registrations (or not), with a web client.
func regSetup(t *testing.T, b storetest.Backend, open bool) (*env, *rp) {
	t.Helper()
	e := newEnv(t, b, func(o *server.Options) { o.Dev = true })
	e.tenant.SelfRegistration = open
	if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
		t.Fatal(err)
	}
	id, sec := e.client(store.ClientWeb, nil)
	return e, e.rp(id, sec)
}

// openRegistration starts a sign-in at the RP and follows "Create an account".
func (b *browser) openRegistration(e *env, r *rp) flow {
	b.t.Helper()
	start, f := r.authURL()
	b.get(start)
	m := registerLinkRe.FindStringSubmatch(b.body)
	if m == nil {
		b.t.Fatalf("no “Create an account” link on the sign-in page: %d %.400s", b.status, b.body)
	}
	b.get(e.issuer + strings.ReplaceAll(m[1], "&amp;", "&"))
	if b.status != http.StatusOK || !strings.Contains(b.body, `autocomplete="new-password"`) {
		b.t.Fatalf("registration form: %d %.400s", b.status, b.body)
	}
	return f
}

// fillRegistration posts the registration form on the current page.
func (b *browser) fillRegistration(issuer, name, email, pw, phone string) {
	b.t.Helper()
	f := b.formFields()
	f.Set("name", name)
	f.Set("email", email)
	f.Set("password", pw)
	f.Set("phone", phone)
	b.post(issuer+"/register", f)
}

// enterRegistrationCode posts a code on the current code page.
func (b *browser) enterRegistrationCode(issuer, code string) {
	b.t.Helper()
	f := b.formFields()
	f.Set("code", code)
	b.post(issuer+"/register/verify", f)
}

// otherCode is a 6-digit code that is not code.
func otherCode(code string) string {
	if code == "123456" {
		return "654321"
	}
	return "123456"
}

func (e *env) noUser(email string) {
	e.t.Helper()
	if u, err := e.st.UserByEmail(e.ctx, e.tenant.ID, email); !errors.Is(err, store.ErrNotFound) {
		e.t.Fatalf("an account for %s exists already: %+v %v", email, u, err)
	}
}

func hasRegistrationCookie(t *testing.T, b *browser, issuer string) bool {
	u, _ := url.Parse(issuer)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "tessera_registration" && c.Value != "" {
			return true
		}
	}
	return false
}

// TestRegisterSwitchedOff: a tenant that does not take registrations shows no link, and
// /register answers 404 with the normal error page — for the form and its posts.
func TestRegisterSwitchedOff(t *testing.T) {
	e, r := regSetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, false)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	if !strings.Contains(br.body, `autocomplete="current-password"`) {
		t.Fatalf("expected the sign-in page: %d", br.status)
	}
	if strings.Contains(br.body, "/register") || strings.Contains(br.body, "Create an account") {
		t.Error("the sign-in page offers registration while the tenant's switch is off")
	}
	arID := br.formFields().Get("authRequestID")
	br.get(e.issuer + "/register?authRequestID=" + url.QueryEscape(arID))
	if br.status != http.StatusNotFound || !strings.Contains(br.body, "You cannot create an account here") ||
		!strings.Contains(br.body, `role="alert"`) {
		t.Errorf("GET /register with the switch off: %d %.300s", br.status, br.body)
	}
	for _, path := range []string{"/register", "/register/verify", "/register/resend"} {
		br.post(e.issuer+path, url.Values{"authRequestID": {arID}, "name": {"Rosa"}, "email": {"rosa@example.org"},
			"password": {regPassword}, "phone": {regMobile}})
		if br.status != http.StatusNotFound {
			t.Errorf("POST %s with the switch off: %d", path, br.status)
		}
	}
	if len(e.node.Outbox.List()) != 0 {
		t.Errorf("something was sent: %+v", e.node.Outbox.List())
	}

	// Switched on, the same sign-in offers it.
	e.tenant.SelfRegistration = true
	e.st.UpdateTenant(e.ctx, e.tenant)
	br.get(start)
	if !strings.Contains(br.body, "Create an account") {
		t.Error("no link once the switch is on")
	}
}

// TestRegister: the whole registration through an outside RP, on both databases. The account
// exists only after both codes; the ID token says password and SMS; the next sign-in texts a
// code to the verified number.
func TestRegister(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e, r := regSetup(t, b, true)
		br := newBrowser(t)
		f := br.openRegistration(e, r)
		for _, want := range []string{`autocomplete="name"`, `autocomplete="email"`, `autocomplete="tel"`, `type="tel"`,
			`<label for="name">`, `<label for="email">`, `<label for="password">`, `<label for="phone">`, "At least 8 characters"} {
			if !strings.Contains(br.body, want) {
				t.Errorf("registration form lacks %s", want)
			}
		}

		// Step 1 with mistakes: each field says what is wrong, linked to it; nothing is kept.
		br.fillRegistration(e.issuer, "", "rosa@", "zq1x", "")
		if br.status != http.StatusBadRequest {
			t.Fatalf("invalid form: %d", br.status)
		}
		for _, want := range []string{`id="name-error"`, `aria-describedby="email-hint email-error"`, `id="password-error"`,
			`id="phone-error"`, "Enter your full name.", "Use at least 8 characters", "Enter your mobile phone number."} {
			if !strings.Contains(br.body, want) {
				t.Errorf("invalid form page lacks %s", want)
			}
		}
		if strings.Contains(br.body, "zq1x") || hasRegistrationCookie(t, br, e.issuer) || len(e.node.Outbox.List()) != 0 {
			t.Fatal("an invalid form echoed the password, kept a registration or sent something")
		}

		// Step 1 → 2: a code is texted to the mobile number.
		br.fillRegistration(e.issuer, "Rosa Díaz", "Rosa@Example.org", regPassword, regMobile)
		if br.status != http.StatusOK || !strings.Contains(br.body, "Check your text messages") ||
			!strings.Contains(br.body, "•••• 3456") || !strings.Contains(br.body, "Step 2 of 3") {
			t.Fatalf("expected the texted-code page: %d %.400s", br.status, br.body)
		}
		e.noUser("rosa@example.org")
		sms := outboxCode(t, e, "sms", regMobileE)

		// Step 2 → 3: the number is verified; a code is emailed.
		br.enterRegistrationCode(e.issuer, sms)
		if br.status != http.StatusOK || !strings.Contains(br.body, "Check your email") || !strings.Contains(br.body, "R•••@Example.org") ||
			!strings.Contains(br.body, "Step 3 of 3") {
			t.Fatalf("expected the emailed-code page: %d %.400s", br.status, br.body)
		}
		e.noUser("rosa@example.org")
		code := outboxCode(t, e, "email", "Rosa@Example.org")

		// Step 3: the account is created and the sign-in goes on to the application.
		br.enterRegistrationCode(e.issuer, code)
		_, idt := r.exchange(br.code(f), f)
		c := claims(t, idt)
		amr := toStrings(c["amr"])
		if !slices.Contains(amr, "pwd") || !slices.Contains(amr, "sms") || !slices.Contains(amr, "mfa") || c["acr"] != "urn:tessera:acr:mfa" {
			t.Errorf("ID token after registration: acr %v amr %v", c["acr"], amr)
		}
		u, err := e.st.UserByEmail(e.ctx, e.tenant.ID, "rosa@example.org")
		if err != nil {
			t.Fatalf("no account after both codes: %v", err)
		}
		if idt.Subject != u.ID || u.Name != "Rosa Díaz" || !u.EmailVerified || !u.PhoneVerified || u.Phone != regMobileE ||
			u.Role != store.RolePatient || u.PhoneLineType != "mobile" {
			t.Errorf("account: sub %s, %+v", idt.Subject, u)
		}
		fs, _ := e.st.ActiveFactors(e.ctx, u.ID)
		if len(fs) != 1 || fs[0].Kind != "sms" || fs[0].Label != regMobileE {
			t.Errorf("factors: %+v", fs)
		}
		if hasRegistrationCookie(t, br, e.issuer) {
			t.Error("the registration cookie outlived the registration")
		}
		events, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, "", 50)
		var seen []string
		for _, ev := range events {
			seen = append(seen, ev.Event)
			if strings.HasPrefix(ev.Event, "registration.") && (ev.IP == "" || ev.UserAgent == "") {
				t.Errorf("%s audited without address or user agent", ev.Event)
			}
			if ev.Event == "registration.completed" && ev.SubjectID != u.ID {
				t.Errorf("registration.completed subject %q", ev.SubjectID)
			}
		}
		for _, want := range []string{"registration.started", "registration.phone_verified", "registration.email_verified", "registration.completed"} {
			if !slices.Contains(seen, want) {
				t.Errorf("no %s in the audit log: %v", want, seen)
			}
		}

		// The next sign-in, on another browser: password, then a text to the verified number.
		next := newBrowser(t)
		start, f2 := r.authURL()
		next.get(start)
		next.submitLogin(e.issuer, "rosa@example.org", regPassword)
		if !strings.Contains(next.body, "Check your text messages") {
			t.Fatalf("the next sign-in did not text a code: %d %.300s", next.status, next.body)
		}
		fields := next.formFields()
		fields.Set("code", outboxCode(t, e, "sms", regMobileE))
		next.post(e.issuer+"/mfa/verify", fields)
		if _, idt := r.exchange(next.code(f2), f2); !slices.Contains(toStrings(claims(t, idt)["amr"]), "sms") {
			t.Error("the next sign-in did not use the texted code")
		}
	})
}

// TestRegisterLandline: a landline is refused on the form with a plain message tied to the
// field; nothing is stored and nothing is texted.
func TestRegisterLandline(t *testing.T) {
	e, r := regSetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, true)
	br := newBrowser(t)
	br.openRegistration(e, r)
	br.fillRegistration(e.issuer, "Rosa Díaz", "rosa@example.org", regPassword, regLandline)
	if br.status != http.StatusBadRequest {
		t.Fatalf("landline: %d", br.status)
	}
	const msg = "This looks like a landline, which cannot receive texts. Use a mobile number."
	if !strings.Contains(br.body, `<a href="#phone">`+msg+`</a>`) || !strings.Contains(br.body, `id="phone-error"><span class="visually-hidden">Error: </span>`+msg+`</p>`) {
		t.Errorf("the landline message is missing or not an alert: %.1500s", br.body)
	}
	if !strings.Contains(br.body, `aria-describedby="phone-hint phone-error" aria-invalid="true"`) {
		t.Error("the phone field is not tied to its error")
	}
	if !strings.Contains(br.body, `value="Rosa Díaz"`) || !strings.Contains(br.body, `value="&#43;44 20 7946 0000"`) {
		t.Error("what the person typed was lost")
	}
	if len(e.node.Outbox.List()) != 0 || hasRegistrationCookie(t, br, e.issuer) {
		t.Errorf("a refused number sent something or kept a registration: %+v", e.node.Outbox.List())
	}
	e.noUser("rosa@example.org")
	// No registration exists for this browser: a code step has nothing to continue.
	br.enterRegistrationCode(e.issuer, "123456")
	if br.status != http.StatusBadRequest || !strings.Contains(br.body, "This registration has ended") {
		t.Errorf("code step without a registration: %d", br.status)
	}
	events, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, "", 10)
	if len(events) == 0 || events[len(events)-1].Event != "registration.refused" || !strings.Contains(events[len(events)-1].Detail, "landline") {
		t.Errorf("the refusal was not audited: %+v", events)
	}
}

// TestRegisterWrongCodes: wrong codes count, the fifth voids the registration, and the right
// code after that (the sixth answer) finishes nothing.
func TestRegisterWrongCodes(t *testing.T) {
	e, r := regSetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, true)
	br := newBrowser(t)
	br.openRegistration(e, r)
	br.fillRegistration(e.issuer, "Rosa Díaz", "rosa@example.org", regPassword, regMobile)
	sms := outboxCode(t, e, "sms", regMobileE)
	form := br.formFields()
	for i, left := range []string{"4 attempts left", "3 attempts left", "2 attempts left", "1 attempt left"} {
		br.enterRegistrationCode(e.issuer, otherCode(sms))
		if br.status != http.StatusUnauthorized || !strings.Contains(br.body, "That code is not right. "+left) ||
			!strings.Contains(br.body, `aria-describedby="code-error"`) || !strings.Contains(br.body, `<a href="#code">`) {
			t.Fatalf("wrong code %d: %d %.400s", i+1, br.status, br.body)
		}
	}
	br.enterRegistrationCode(e.issuer, otherCode(sms))
	if br.status != http.StatusUnauthorized || !strings.Contains(br.body, "registration was stopped") || !strings.Contains(br.body, "Start again") {
		t.Fatalf("fifth wrong code: %d %.400s", br.status, br.body)
	}
	// The sixth answer, with the right code, from the page the person still has open.
	form.Set("code", sms)
	br.post(e.issuer+"/register/verify", form)
	if br.status != http.StatusBadRequest || strings.Contains(br.body, "Check your email") {
		t.Errorf("the right code after the registration was void: %d %.300s", br.status, br.body)
	}
	if outboxCount(e, "email", "rosa@example.org") != 0 {
		t.Error("a void registration went on to the email step")
	}
	e.noUser("rosa@example.org")

	// Starting again works.
	br.openRegistration(e, r)
	br.fillRegistration(e.issuer, "Rosa Díaz", "rosa@example.org", regPassword, "+44 7400 123457")
	br.enterRegistrationCode(e.issuer, outboxCode(t, e, "sms", "+447400123457"))
	if !strings.Contains(br.body, "Check your email") {
		t.Fatalf("a fresh start after a void registration: %d", br.status)
	}
}

// TestRegisterEmailTaken: an address that already has an account looks the same to the
// registrant, but the owner gets a notice and never a code, and the registration cannot finish.
func TestRegisterEmailTaken(t *testing.T) {
	e, r := regSetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, true)
	owner := e.user("pat@example.org", "correct horse battery")
	br := newBrowser(t)
	br.openRegistration(e, r)
	br.fillRegistration(e.issuer, "Mallory", "PAT@example.org", regPassword, regMobile)
	if br.status != http.StatusOK || !strings.Contains(br.body, "Check your text messages") {
		t.Fatalf("step 1 for a taken address must look the same: %d", br.status)
	}
	br.enterRegistrationCode(e.issuer, outboxCode(t, e, "sms", regMobileE))
	if br.status != http.StatusOK || !strings.Contains(br.body, "Check your email") || !strings.Contains(br.body, "Step 3 of 3") ||
		!strings.Contains(seenText(br.body), "We sent a 6-digit code to P•••@example.org") {
		t.Fatalf("step 3 for a taken address must look the same: %d %.400s", br.status, br.body)
	}
	var notices int
	for _, m := range e.node.Outbox.List() {
		if m.Channel != "email" {
			continue
		}
		if m.Subject == "Confirm your email address" || sixDigits.MatchString(m.Body) {
			t.Errorf("a code was emailed for an address that has an account: %+v", m)
		}
		if m.To == "pat@example.org" && m.Subject == "Someone tried to create an account with your email address" &&
			strings.Contains(m.Body, "Forgot your password?") {
			notices++
		}
	}
	if notices != 1 {
		t.Fatalf("%d notices to the owner, want 1: %+v", notices, e.node.Outbox.List())
	}
	// Asking again is under the same cooldown as a code.
	br.post(e.issuer+"/register/resend", br.formFields())
	if !strings.Contains(br.body, "You can ask for a new one in") {
		t.Error("an immediate resend must say when to try again, as for a code")
	}
	// No answer finishes it.
	for _, c := range []string{"000000", "111111", "123456", "999999", "424242"} {
		br.enterRegistrationCode(e.issuer, c)
		if br.last != nil {
			t.Fatalf("code %s finished a registration for a taken address", c)
		}
	}
	if !strings.Contains(br.body, "registration was stopped") {
		t.Errorf("five wrong answers must void it: %d", br.status)
	}
	u, err := e.st.UserByEmail(e.ctx, e.tenant.ID, "pat@example.org")
	if err != nil || u.ID != owner.ID || u.PasswordHash != owner.PasswordHash || u.Phone != owner.Phone || u.Name != owner.Name {
		t.Errorf("the owner's account changed: %+v %v", u, err)
	}
	if us, _ := e.st.UsersByPhone(e.ctx, e.tenant.ID, regMobileE); len(us) != 0 {
		t.Errorf("an account was made with the registrant's number: %+v", us)
	}
	events, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, owner.ID, 10)
	if len(events) == 0 || events[0].Event != "registration.refused" {
		t.Errorf("the refusal was not audited against the owner: %+v", events)
	}
}

// TestRegisterReplay: the final form posted twice, or twice at once, makes one account.
func TestRegisterReplay(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e, r := regSetup(t, b, true)

		// Replayed after it finished.
		br := newBrowser(t)
		f := br.openRegistration(e, r)
		br.fillRegistration(e.issuer, "Rosa Díaz", "rosa@example.org", regPassword, regMobile)
		br.enterRegistrationCode(e.issuer, outboxCode(t, e, "sms", regMobileE))
		final := br.formFields()
		final.Set("code", outboxCode(t, e, "email", "rosa@example.org"))
		br.post(e.issuer+"/register/verify", final)
		r.exchange(br.code(f), f)
		br.post(e.issuer+"/register/verify", final)
		if br.last != nil || br.status != http.StatusBadRequest {
			t.Errorf("replayed final post: %d %v", br.status, br.last)
		}
		if us, _ := e.st.UsersByPhone(e.ctx, e.tenant.ID, regMobileE); len(us) != 1 {
			t.Errorf("%d accounts after a replay, want 1", len(us))
		}

		// Doubled: the same final form sent twice at once (a double click).
		br2 := newBrowser(t)
		br2.openRegistration(e, r)
		br2.fillRegistration(e.issuer, "Sam Lee", "sam@example.org", regPassword, "+44 7400 123458")
		br2.enterRegistrationCode(e.issuer, outboxCode(t, e, "sms", "+447400123458"))
		final = br2.formFields()
		final.Set("code", outboxCode(t, e, "email", "sam@example.org"))
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := br2.c.PostForm(e.issuer+"/register/verify", final)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		if us, _ := e.st.UsersByPhone(e.ctx, e.tenant.ID, "+447400123458"); len(us) != 1 {
			t.Errorf("%d accounts after a double submit, want 1 (statuses %v)", len(us), statuses)
		}
		// One goes on to the application (302 to it, after the callback); the other is refused.
		if n := len(slices.DeleteFunc(slices.Clone(statuses), func(s int) bool { return s != http.StatusFound })); n != 1 {
			t.Errorf("double submit: statuses %v, want exactly one sent back to the application", statuses)
		}
	})
}

// TestRegisterCSRF: a form without its CSRF token changes nothing and sends nothing.
func TestRegisterCSRF(t *testing.T) {
	e, r := regSetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, true)
	br := newBrowser(t)
	br.openRegistration(e, r)
	f := br.formFields()
	f.Del("csrf")
	f.Set("name", "Rosa Díaz")
	f.Set("email", "rosa@example.org")
	f.Set("password", regPassword)
	f.Set("phone", regMobile)
	br.post(e.issuer+"/register", f)
	if br.status != http.StatusForbidden || !strings.Contains(br.body, "For your safety this page timed out") {
		t.Errorf("no CSRF token: %d", br.status)
	}
	if len(e.node.Outbox.List()) != 0 || hasRegistrationCookie(t, br, e.issuer) {
		t.Error("a form without its CSRF token sent a code or kept a registration")
	}
	// A code step without the token is refused too.
	br.fillRegistration(e.issuer, "Rosa Díaz", "rosa@example.org", regPassword, regMobile)
	f = br.formFields()
	f.Del("csrf")
	f.Set("code", outboxCode(t, e, "sms", regMobileE))
	br.post(e.issuer+"/register/verify", f)
	if br.status != http.StatusForbidden {
		t.Errorf("code step without CSRF: %d", br.status)
	}
	if outboxCount(e, "email", "rosa@example.org") != 0 {
		t.Error("a code step without CSRF went on")
	}
	e.noUser("rosa@example.org")
}

// TestRegisterCommonPassword: a common password, or one made from the person's own address or
// name, is refused on the form with a plain message tied to the field; nothing is kept or sent.
func TestRegisterCommonPassword(t *testing.T) {
	e, r := regSetup(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, true)
	br := newBrowser(t)
	br.openRegistration(e, r)
	for pw, want := range map[string]string{
		"password123":    "That password is too common. Choose something harder to guess, like three or four unrelated words.",
		"iloveyou":       "That password is too common.",
		"rosa.diaz":      "That password is too easy to guess from your email address or name.",
		"Rosa Diaz 1990": "That password is too easy to guess from your email address or name.",
	} {
		br.fillRegistration(e.issuer, "Rosa Díaz", "rosa.diaz@example.org", pw, regMobile)
		if br.status != http.StatusBadRequest || !strings.Contains(br.body, want) || !strings.Contains(br.body, `id="password-error"`) {
			t.Fatalf("registration with %q: %d, want 400 with %q: %.400s", pw, br.status, want, br.body)
		}
		if strings.Contains(br.body, `value="`+pw+`"`) {
			t.Errorf("the form echoed the refused password %q", pw)
		}
	}
	e.noUser("rosa.diaz@example.org")
	if hasRegistrationCookie(t, br, e.issuer) || len(e.node.Outbox.List()) != 0 {
		t.Fatal("a refused password kept a registration or sent something")
	}
}
