package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestAccountPasskeyAnswerSize: the browser's answer when a passkey is created carries its
// attestation statement, which with a certificate chain runs past the console's usual 16 KiB
// forms. An answer of 20 KiB is read (here it finds no ceremony, and says the attempt timed
// out) instead of being refused as a form that could not be read; one past 64 KiB is.
func TestAccountPasskeyAnswerSize(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	_, secret := e.appUser(t, "pat@example.org")
	br := newBrowser(t)
	e.accountSignIn(t, br, "pat@example.org", secret)
	csrf := br.formFields().Get("csrf")

	e.act(br, "/account/passkey/finish", url.Values{"csrf": {csrf}, "credential": {strings.Repeat("A", 20<<10)}})
	if br.status != 400 || !strings.Contains(br.body, "That took too long") || strings.Contains(br.body, "The form could not be read") {
		t.Fatalf("a 20 KiB passkey answer: %d %.600s", br.status, br.body)
	}
	e.act(br, "/account/passkey/finish", url.Values{"csrf": {csrf}, "credential": {strings.Repeat("A", 65<<10)}})
	if br.status != 400 || !strings.Contains(br.body, "The form could not be read") {
		t.Fatalf("a 65 KiB passkey answer: %d %.600s", br.status, br.body)
	}
}

// TestAccountEmailChangeWithoutMail: on a node with no email sender the profile page offers no
// email change, and a posted "Send a new code" anyway is answered with the form error page (it
// was an empty page).
func TestAccountEmailChangeWithoutMail(t *testing.T) {
	e := &devEnv{env: newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)}
	if e.node.Login.Codes["email"] != nil {
		t.Skip("this node has an email sender")
	}
	e.clock.Store(time.Now().Unix())
	e.node.Login.TOTP.SetClock(func() time.Time { return time.Unix(e.clock.Load(), 0) })
	_, secret := e.appUser(t, "pat@example.org")
	br := newBrowser(t)
	e.accountSignIn(t, br, "pat@example.org", secret)
	br.get(e.issuer + "/account/profile")
	if strings.Contains(br.body, `action="/account/email-change"`) {
		t.Fatalf("the profile page offers an email change without an email sender")
	}
	e.act(br, "/account/email-change/resend", url.Values{"email": {"pat.new@example.org"}})
	if br.status != 400 || !strings.Contains(br.body, "The form could not be read") {
		t.Fatalf("resend without an email sender: %d %.400s", br.status, br.body)
	}
}
