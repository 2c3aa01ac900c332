package server_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

var resetLinkRe = regexp.MustCompile(`http://\S+/reset\?\S+`)

// TestPasswordReset: "Forgot your password?" answers the same for any address, emails a
// single-use link, asks for the second factor, refuses a wrong code, and a new password ends the
// old sessions and tokens; the person is told by email.
func TestPasswordReset(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	secret := enrollDirect(t, e, u)
	r := e.rp(id, sec, "openid", "offline_access")

	// An earlier sign-in whose refresh token must die with the old password.
	old := newBrowser(t)
	start, f := r.authURL()
	old.get(start)
	old.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	fl := old.formFields()
	fl.Set("code", codeFor(t, secret, time.Now().Add(30*time.Second)))
	old.post(e.issuer+"/mfa/verify", fl)
	oldTok, _ := r.exchange(old.code(f), f)

	br := newBrowser(t)
	start, _ = r.authURL()
	br.get(start)
	m := regexp.MustCompile(`href="(/forgot\?authRequestID=[^"]+)"`).FindStringSubmatch(br.body)
	if m == nil {
		t.Fatal("no 'Forgot your password?' link on the sign-in page")
	}
	br.get(e.issuer + strings.ReplaceAll(m[1], "&amp;", "&"))
	for _, email := range []string{"nobody@example.org", "pat@example.org"} {
		fields := br.formFields()
		fields.Set("email", email)
		br.post(e.issuer+"/forgot", fields)
		if br.status != 200 || !strings.Contains(br.body, "If an account uses that address") {
			t.Fatalf("forgot (%s): %d", email, br.status)
		}
		br.get(e.issuer + strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	var link string
	for _, msg := range e.node.Outbox.List() {
		if msg.To == "nobody@example.org" {
			t.Error("an email went to an address with no account")
		}
		if msg.To == "pat@example.org" && msg.Subject == "Reset your Tessera password" {
			link = resetLinkRe.FindString(msg.Body)
		}
	}
	if link == "" {
		t.Fatal("no reset link was emailed")
	}
	br.get(link)
	if !strings.Contains(br.body, `autocomplete="new-password"`) || !strings.Contains(br.body, `name="code"`) {
		t.Fatalf("reset page must ask for the second factor and a new password: %.300s", br.body)
	}
	post := func(code, pw, pw2 string) {
		fields := br.formFields()
		fields.Set("code", code)
		fields.Set("password", pw)
		fields.Set("password2", pw2)
		br.post(e.issuer+"/reset", fields)
	}
	post(wrongCode(t, secret), "a brand new passphrase", "a brand new passphrase")
	if br.status != 401 || !strings.Contains(br.body, "attempts left") {
		t.Fatalf("wrong code on reset: %d", br.status)
	}
	// The app's codes for this minute are spent; a backup code answers instead.
	backups, err := e.node.Login.Backup.Generate(e.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	post(backups[0], "a brand new passphrase", "a brand new passphrase")
	if br.status != 200 || !strings.Contains(br.body, "Your password was changed") {
		t.Fatalf("reset: %d %.300s", br.status, br.body)
	}
	// The link works once.
	br.get(link)
	if br.status != 400 || !strings.Contains(br.body, "expired or was already used") {
		t.Errorf("the link worked twice: %d", br.status)
	}
	// Old refresh token: revoked. Old password: refused. New password: accepted.
	if _, err := r.cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: oldTok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Errorf("the old refresh token survived the reset: %v", err)
	}
	nb := newBrowser(t)
	start, _ = r.authURL()
	nb.get(start)
	nb.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if nb.status != 401 {
		t.Errorf("the old password still works: %d", nb.status)
	}
	nb.get(start)
	nb.submitLogin(e.issuer, "pat@example.org", "a brand new passphrase")
	if !strings.Contains(nb.body, `action="/mfa/verify"`) {
		t.Errorf("the new password did not lead to the code step: %d", nb.status)
	}
	if !outboxHas(e, "pat@example.org", "Your password was changed") {
		t.Error("no notice of the password change")
	}
}

// TestPasswordResetCommon: a common password, or one made from the person's own address, is
// refused on the reset page with a plain message; the password, the link and the code the
// person typed all stay as they were, so a better password goes through with the same code.
func TestPasswordResetCommon(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	enrollDirect(t, e, u)
	r := e.rp(id, sec)
	backups, err := e.node.Login.Backup.Generate(e.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	m := regexp.MustCompile(`href="(/forgot\?authRequestID=[^"]+)"`).FindStringSubmatch(br.body)
	if m == nil {
		t.Fatal("no 'Forgot your password?' link on the sign-in page")
	}
	br.get(e.issuer + strings.ReplaceAll(m[1], "&amp;", "&"))
	fields := br.formFields()
	fields.Set("email", "pat@example.org")
	br.post(e.issuer+"/forgot", fields)
	var link string
	for _, msg := range e.node.Outbox.List() {
		if msg.To == "pat@example.org" && msg.Subject == "Reset your Tessera password" {
			link = resetLinkRe.FindString(msg.Body)
		}
	}
	if link == "" {
		t.Fatal("no reset link was emailed")
	}
	br.get(link)
	post := func(pw string) {
		fields := br.formFields()
		fields.Set("code", backups[0])
		fields.Set("password", pw)
		fields.Set("password2", pw)
		br.post(e.issuer+"/reset", fields)
	}
	for pw, want := range map[string]string{
		"password123":     "That password is too common. Choose something harder to guess, like three or four unrelated words.",
		"ＰＡＳＳＷＯＲＤ123":     "That password is too common.",
		"pat@example.org": "That password is too easy to guess from your email address or name.",
		"Pat Smith 1980!": "That password is too easy to guess from your email address or name.",
	} {
		post(pw)
		if br.status != 400 || !strings.Contains(br.body, want) || !strings.Contains(br.body, `autocomplete="new-password"`) {
			t.Fatalf("reset to %q: %d, want 400 with %q: %.300s", pw, br.status, want, br.body)
		}
		if regexp.MustCompile(`name="password2?"[^>]*value="[^"]`).MatchString(br.body) {
			t.Errorf("the form echoed the refused password %q", pw)
		}
	}
	after, err := e.st.UserByID(e.ctx, u.ID)
	if err != nil || after.PasswordHash != u.PasswordHash {
		t.Fatalf("a refused reset changed the password: %v", err)
	}
	if !outboxHas(e, "pat@example.org", "Reset your Tessera password") || outboxHas(e, "pat@example.org", "Your password was changed") {
		t.Error("a refused reset sent a change notice")
	}
	// The same link and the same backup code take a good password.
	post("plum tree harbour lantern")
	if br.status != 200 || !strings.Contains(br.body, "Your password was changed") {
		t.Fatalf("reset after a refusal: %d %.300s", br.status, br.body)
	}
	nb := newBrowser(t)
	start, _ = r.authURL()
	nb.get(start)
	nb.submitLogin(e.issuer, "pat@example.org", "plum tree harbour lantern")
	if !strings.Contains(nb.body, `action="/mfa/verify"`) {
		t.Errorf("the new password did not lead to the code step: %d", nb.status)
	}
}
