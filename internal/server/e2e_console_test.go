package server_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// The account console beside the security page, end to end through real HTTP: profile, sessions
// and "Sign out everywhere", activity, connected applications.

// rpLoginApp signs in to an RP in br with the password and the app's code (or through the SSO
// session when br has one) and returns the tokens.
func (e *devEnv) rpLoginApp(t *testing.T, r *rp, br *browser, email, secret string) *oauth2.Token {
	t.Helper()
	start, f := r.authURL()
	br.get(start)
	if br.last == nil {
		br.submitLogin(e.issuer, email, "correct horse battery")
		fl := br.formFields()
		fl.Set("code", e.appCode(t, secret))
		br.post(e.issuer+"/mfa/verify", fl)
	}
	tok, _ := r.exchange(br.code(f), f)
	return tok
}

// refreshFails reports whether the RP can no longer refresh with tok's refresh token.
func refreshFails(e *devEnv, r *rp, tok *oauth2.Token) bool {
	_, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	return err != nil
}

// userinfoFails reports whether the access token is refused at the userinfo endpoint.
func userinfoFails(e *devEnv, r *rp, tok *oauth2.Token) bool {
	_, err := r.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken, TokenType: "Bearer"}))
	return err != nil
}

var sessionIDRe = regexp.MustCompile(`name="sessionID" value="([a-z0-9]+)"`)

var navCurrent = regexp.MustCompile(`<a href="(/account/[a-z]+)" aria-current="page">`)

// TestAccountProfile: the name and the language are saved; a new email address gets a code and
// changes only after it, the old address is told; an address someone else has gets the same
// page and no code; the mobile number's "Save & Get Code" lives here.
func TestAccountProfile(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u, secret := e.appUser(t, "pat@example.org")
		e.user("sam@example.org", "correct horse battery")
		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)
		br.get(e.issuer + "/account/profile")
		if br.status != 200 || !strings.Contains(br.body, "<h1>Your profile</h1>") || navCurrent.FindStringSubmatch(br.body)[1] != "/account/profile" {
			t.Fatalf("profile page: %d %.400s", br.status, br.body)
		}
		for _, p := range []string{"/account/security", "/account/sessions", "/account/activity", "/account/apps"} {
			if !strings.Contains(br.body, `href="`+p+`"`) {
				t.Errorf("the console's navigation has no link to %s", p)
			}
		}

		e.act(br, "/account/profile/name", url.Values{"name": {""}, "given_name": {"  Patricia "}, "family_name": {"Smith-Jones"}})
		if br.status != 200 || !strings.Contains(br.body, "Your name is saved.") || !strings.Contains(br.body, `value="Patricia Smith-Jones"`) {
			t.Fatalf("save name: %d %.400s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Name != "Patricia Smith-Jones" || got.GivenName != "Patricia" || got.FamilyName != "Smith-Jones" {
			t.Errorf("names saved as %q %q %q", got.Name, got.GivenName, got.FamilyName)
		}
		e.act(br, "/account/profile/name", url.Values{"name": {""}})
		if br.status != 400 || !strings.Contains(br.body, `href="#name"`) || !strings.Contains(br.body, `id="name-error"`) {
			t.Errorf("an empty name: %d", br.status)
		}

		br.get(e.issuer + "/account/profile")
		e.act(br, "/account/profile/language", url.Values{"language": {"es"}})
		if br.status != 200 || !strings.Contains(br.body, "<h1>Su perfil</h1>") {
			t.Fatalf("after choosing Spanish the page speaks it: %d %.300s", br.status, br.body)
		}
		e.act(br, "/account/profile/language", url.Values{"language": {"en"}})
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Locale != "en" {
			t.Errorf("locale %q", got.Locale)
		}

		// An address someone else has: the same words, and nothing is sent to it.
		br.get(e.issuer + "/account/profile")
		e.act(br, "/account/email-change", url.Values{"email": {"sam@example.org"}})
		taken := br.body
		if br.status != 200 || !strings.Contains(taken, "Confirm your new email address") || outboxCount(e.env, "email", "sam@example.org") != 0 {
			t.Fatalf("an address in use: %d, %d emails to it", br.status, outboxCount(e.env, "email", "sam@example.org"))
		}
		f := br.formFields()
		f.Set("code", "123456")
		br.post(e.issuer+"/account/email-change/code", f)
		if br.status != 401 {
			t.Fatalf("no code can take an address in use: %d", br.status)
		}

		br.get(e.issuer + "/account/profile")
		e.act(br, "/account/email-change", url.Values{"email": {"pat.new@example.org"}})
		if br.status != 200 || !strings.Contains(br.body, "Confirm your new email address") {
			t.Fatalf("new address: %d %.300s", br.status, br.body)
		}
		// The page for an address in use reads exactly like this one but for the masked address.
		// (shown dotted, and read aloud as "email address starting with s at example.org").
		same := func(body, masked, first string) string {
			body = strings.ReplaceAll(body, masked, "X")
			return strings.ReplaceAll(body, "starting with "+first+" at", "starting with X at")
		}
		if same(taken, "s•••@example.org", "s") != strings.ReplaceAll(same(br.body, "p•••@example.org", "p"), "pat.new@example.org", "sam@example.org") {
			t.Error("the page for an address in use differs from the page for a free one")
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Email != "pat@example.org" {
			t.Fatalf("the address changed before the code: %q", got.Email)
		}
		f = br.formFields()
		f.Set("code", "000000")
		br.post(e.issuer+"/account/email-change/code", f)
		if br.status != 401 || !strings.Contains(br.body, `id="code-error"`) {
			t.Fatalf("a wrong code: %d", br.status)
		}
		f = br.formFields()
		f.Set("code", lastEmailCode(t, e.env, "pat.new@example.org"))
		br.post(e.issuer+"/account/email-change/code", f)
		if br.status != 200 || !strings.Contains(br.body, "Your email address is changed.") || !strings.Contains(br.body, "pat.new@example.org") {
			t.Fatalf("after the code: %d %.300s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Email != "pat.new@example.org" || !got.EmailVerified {
			t.Errorf("email now %q verified %v", got.Email, got.EmailVerified)
		}
		if !outboxHas(e.env, "pat@example.org", "Your email address was changed") {
			t.Error("the old address was not told")
		}

		// Save & Get Code for the mobile number, from the profile page.
		e.coolDown(t)
		e.act(br, "/account/mobile", url.Values{"phone": {"+44 20 7946 0958"}})
		if br.status != 400 || !strings.Contains(br.body, "<h1>Your profile</h1>") || !strings.Contains(br.body, `id="mobile-error"`) {
			t.Fatalf("a landline as the mobile number: %d", br.status)
		}
		e.act(br, "/account/mobile", url.Values{"phone": {"+49 151 23456789"}})
		if br.status != 200 || !strings.Contains(br.body, "Confirm your mobile number") {
			t.Fatalf("mobile number: %d %.300s", br.status, br.body)
		}
		if got, _ := e.st.UserByID(e.ctx, u.ID); got.Phone != "+4915123456789" || got.PhoneVerified {
			t.Errorf("the number is saved unverified until the code: %q %v", got.Phone, got.PhoneVerified)
		}
		f = br.formFields()
		f.Set("code", e.lastCode(t, "sms", "+4915123456789"))
		br.post(e.issuer+"/account/code", f)
		if br.status != 200 || !strings.Contains(br.body, "<h1>Your profile</h1>") || !strings.Contains(br.body, "Your mobile number is confirmed.") {
			t.Fatalf("after the mobile code: %d %.300s", br.status, br.body)
		}
	})
}

// TestAccountAppsAndSignOutEverywhere: "Remove access" ends an application's refresh and access
// tokens; "Sign out everywhere" ends every session (this browser's and another's) and every
// token, and shows the signed-out page.
func TestAccountAppsAndSignOutEverywhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		u, secret := e.appUser(t, "pat@example.org")
		portal := newLogoutRP(t) // the portal's back-channel logout endpoint
		id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.BackchannelLogoutURI = portal.uri() })
		r := e.rp(id, sec, oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess)
		other := newBrowser(t)
		tok1 := e.rpLoginApp(t, r, other, "pat@example.org", secret)
		if tok1.RefreshToken == "" {
			t.Fatal("no refresh token")
		}

		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)
		br.get(e.issuer + "/account/apps")
		if br.status != 200 || !strings.Contains(br.body, "Riverside Patient Portal") || !strings.Contains(br.body, "Access while you are not using it") {
			t.Fatalf("connected apps: %d %.500s", br.status, br.body)
		}
		e.act(br, "/account/app-remove", url.Values{"clientID": {"not-a-client"}})
		if br.status != 400 {
			t.Errorf("removing an app not on the list: %d", br.status)
		}
		br.get(e.issuer + "/account/apps")
		e.act(br, "/account/app-remove", url.Values{"clientID": {id}})
		if br.status != 200 || !strings.Contains(br.body, "no longer has access") || strings.Contains(br.body, "Riverside Patient Portal") {
			t.Fatalf("after removing access: %d %.500s", br.status, br.body)
		}
		if !refreshFails(e, r, tok1) {
			t.Error("the refresh token still works after Remove access")
		}
		if !userinfoFails(e, r, tok1) {
			t.Error("the access token still works after Remove access")
		}
		es, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, u.ID, 50)
		if !slices.ContainsFunc(es, func(a store.AuditEvent) bool { return a.Event == "app.access_removed" && a.ClientID == id }) {
			t.Error("Remove access is not in the audit trail")
		}

		// Sign out the other browser's session alone: this page lists this browser first.
		br.get(e.issuer + "/account/sessions")
		ids := sessionIDRe.FindAllStringSubmatch(br.body, -1)
		if len(ids) != 2 {
			t.Fatalf("sessions page lists %d sessions, want 2: %.600s", len(ids), br.body)
		}
		e.act(br, "/account/signout", url.Values{"sessionID": {ids[1][1]}})
		if br.status != 200 || !strings.Contains(br.body, "That session is signed out.") || len(sessionIDRe.FindAllString(br.body, -1)) != 1 {
			t.Fatalf("after signing out the other session: %d %.400s", br.status, br.body)
		}
		e.act(br, "/account/signout", url.Values{"sessionID": {ids[1][1]}})
		if br.status != 400 {
			t.Errorf("signing out an ended session again: %d", br.status)
		}
		other.get(e.issuer + "/account/security")
		if !strings.Contains(other.body, `autocomplete="current-password"`) {
			t.Fatalf("the other browser is still signed in: %d", other.status)
		}

		// Signed in again on the other browser.
		tok2 := e.rpLoginApp(t, r, other, "pat@example.org", secret)
		br.get(e.issuer + "/account/sessions")
		if br.status != 200 || strings.Count(br.body, `name="sessionID"`) != 2 || !strings.Contains(br.body, "This browser") ||
			!strings.Contains(br.body, "This network") {
			t.Fatalf("sessions page: %d %.800s", br.status, br.body)
		}
		idt2, err := r.verifier.Verify(e.ctx, tok2.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		e.node.Provider.DeliverLogouts(e.ctx, time.Now().Add(time.Hour)) // the earlier single sign-out's
		before := len(portal.received())
		e.act(br, "/account/signout-all", nil)
		if br.status != 200 || !strings.Contains(br.body, "You are signed out") {
			t.Fatalf("sign out everywhere: %d %.300s", br.status, br.body)
		}
		// The portal hears of it by back-channel logout: one token for the session it signed in
		// with (the queue's next pass sends it if the first try is still under way).
		e.node.Provider.DeliverLogouts(e.ctx, time.Now().Add(time.Hour))
		if got := portal.received()[before:]; len(got) != 1 {
			t.Errorf("the portal got %d logout tokens after Sign out everywhere, want 1", len(got))
		} else {
			checkLogoutToken(t, r, got[0], idt2)
		}
		if !refreshFails(e, r, tok2) || !userinfoFails(e, r, tok2) {
			t.Error("tokens still work after Sign out everywhere")
		}
		if ss, _ := e.st.LiveSessions(e.ctx, u.ID, 24*time.Hour); len(ss) != 0 {
			t.Errorf("%d sessions still live", len(ss))
		}
		for _, x := range []*browser{br, other} {
			x.get(e.issuer + "/account/security")
			if !strings.Contains(x.body, `autocomplete="current-password"`) {
				t.Errorf("a browser is still signed in after Sign out everywhere: %d %.200s", x.status, x.body)
			}
		}
	})
}

// TestAccountActivity: the person's own events, newest first, in sentences with the
// application's name, the device, the place and the result — a wrong code included.
func TestAccountActivity(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		_, secret := e.appUser(t, "pat@example.org")
		id, sec := e.client(store.ClientWeb, nil)
		r := e.rp(id, sec)
		rb := newBrowser(t)
		start, f := r.authURL()
		rb.get(start)
		rb.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		fl := rb.formFields()
		fl.Set("code", e.wrongApp(t, secret))
		rb.post(e.issuer+"/mfa/verify", fl)
		fl = rb.formFields()
		fl.Set("code", e.appCode(t, secret))
		rb.post(e.issuer+"/mfa/verify", fl)
		r.exchange(rb.code(f), f)

		br := newBrowser(t)
		e.accountSignIn(t, br, "pat@example.org", secret)
		br.get(e.issuer + "/account/activity")
		body := br.body
		for _, want := range []string{"<h1>Account activity</h1>", "Entered a code from your authenticator app", "Failed",
			"Application: Riverside Patient Portal", "Signed in with your password", "Place: This network", "Opened your account page"} {
			if !strings.Contains(body, want) {
				t.Errorf("activity page lacks %q", want)
			}
		}
		if i, j := strings.Index(body, "Opened your account page"), strings.Index(body, "Failed"); i < 0 || j < 0 || i > j {
			t.Error("activity is not newest first")
		}
		br.get(e.issuer + "/account/activity?lang=es")
		if !strings.Contains(br.body, "Escribió un código de su aplicación de autenticación") || !strings.Contains(br.body, "Fallido") {
			t.Errorf("Spanish activity: %.300s", br.body)
		}
	})
}

// TestAccountAppsConsent: a third-party application the person allowed is listed with what it can
// get; Remove access (confirmed with the password by someone without a second factor) ends its
// access token at once, and its next sign-in asks for consent again.
func TestAccountAppsConsent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		e.user("pat@example.org", "correct horse battery")
		id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.FirstParty = false; c.Name = "Outside Fitness App" })
		r := e.rp(id, sec)
		br := newBrowser(t)
		start, f := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		fields := br.formFields()
		fields.Set("decision", "allow")
		br.post(e.issuer+"/consent", fields)
		tok, _ := r.exchange(br.code(f), f)
		if userinfoFails(e, r, tok) {
			t.Fatal("the access token does not work to begin with")
		}

		br.get(e.issuer + "/account/apps") // through the console's own sign-in, on the SSO session
		br.get(e.issuer + "/account/apps")
		if br.status != 200 || !strings.Contains(br.body, "Outside Fitness App") || !strings.Contains(br.body, "Your email address") {
			t.Fatalf("connected apps: %d %.500s", br.status, br.body)
		}
		e.act(br, "/account/app-remove", url.Values{"clientID": {id}})
		if br.status != 200 || !strings.Contains(br.body, `autocomplete="current-password"`) {
			t.Fatalf("Remove access must ask for the password first: %d %.300s", br.status, br.body)
		}
		fields = br.formFields()
		fields.Set("password", "correct horse battery")
		br.post(e.issuer+"/account/confirm", fields)
		if br.status != 200 || !strings.Contains(br.body, "no longer has access") || strings.Contains(br.body, "Outside Fitness App") {
			t.Fatalf("after removing access: %d %.400s", br.status, br.body)
		}
		if !userinfoFails(e, r, tok) {
			t.Error("the access token still works after Remove access")
		}
		start, _ = r.authURL()
		br.get(start)
		if br.last != nil || !strings.Contains(br.body, "Allow Outside Fitness App?") {
			t.Errorf("the next sign-in must ask for consent again: %d %.200s", br.status, br.body)
		}
	})
}
