package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
)

// axeOptions are the walk's node options beyond dev mode: named by host name (browsers offer
// passkeys only there), and with Twilio as the phone provider so the voice code page offers
// "press 1"; the calls and texts themselves still land in the dev outbox (through out, set once
// the node exists), and the send limits do not get in the way of a walk that calls the same
// number several times within a minute.
func axeOptions(out *outboxForward) func(*server.Options) {
	return func(o *server.Options) {
		o.Dev = true
		onLocalhost(o)
		o.Twilio = &delivery.Twilio{BaseURL: "http://127.0.0.1:1", AccountSID: "AC00000000000000000000000000000000",
			AuthToken: "axe-walk-token", From: "+15005550006"}
		o.PhoneSender = out
		o.Codes.Limits = store.SendLimits{Cooldown: 1, PerUser: 100, PerDestination: 100, PerIP: 100}
	}
}

// outboxForward hands texts and calls to the node's dev outbox.
type outboxForward struct{ to *delivery.Outbox }

func (f *outboxForward) Send(ctx context.Context, m delivery.Message) error { return f.to.Send(ctx, m) }

// axePasskeysAndCalls continues the walk of a person signed in to the account page, whose
// second factor is a call to +442079460958: the passkey section with its error, the page that
// creates a passkey, "Confirm it's you" by call and by passkey, and in a new sign-in the
// passkey challenge (and its error), the call's code page with "press 1", and the press-1
// waiting page — where the masked number must read as words ("ending in") to a screen reader.
func axePasskeysAndCalls(t *testing.T, ctx context.Context, e *env, start func() string, lang string, check func(string)) {
	t.Helper()
	var authenticator cdpwebauthn.AuthenticatorID
	step(t, ctx, "a virtual authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := cdpwebauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		var err error
		authenticator, err = cdpwebauthn.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	}))
	step(t, ctx, "a passkey without a name",
		chromedp.Navigate(e.issuer+"/account/security"),
		chromedp.WaitVisible(`#passkey-name`, chromedp.ByQuery),
		chromedp.Submit(`#passkey-name`, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-problem`, chromedp.ByQuery))
	check("account security, passkey without a name")
	step(t, ctx, "name the passkey",
		chromedp.SendKeys(`#passkey-name`, "My phone"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-create`, chromedp.ByQuery))
	check("add a passkey")
	step(t, ctx, "create it",
		chromedp.Click(`#passkey-create`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery))
	check("account security, passkey added")
	// The passkey is stored; the pages below only need the options, and without an authenticator
	// the sign-in page's passkey autofill cannot sign in by itself.
	step(t, ctx, "remove the virtual authenticator", cdpwebauthn.RemoveVirtualAuthenticator(authenticator))

	// "Confirm it's you" eleven minutes later: the call first (the default), then the passkey.
	u, err := e.st.UserByEmail(e.ctx, e.tenant.ID, "pat@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.ExecRaw(e.ctx, "UPDATE sessions SET mfa_at = mfa_at - 660 WHERE user_id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "add another passkey: Confirm it's you",
		chromedp.Navigate(e.issuer+"/account/security"),
		chromedp.WaitVisible(`#passkey-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#passkey-name`, "Laptop"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/account/confirm"] #code`, chromedp.ByQuery))
	check("confirm it's you (call)")
	spokenNumber(t, ctx, lang, "confirm it's you (call)")
	step(t, ctx, "confirm with the passkey instead",
		chromedp.Click(`details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[name="use"][value="passkey"]`, chromedp.ByQuery),
		chromedp.Click(`button[name="use"][value="passkey"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-use`, chromedp.ByQuery))
	check("confirm it's you (passkey)")

	// A new sign-in: the call's code page offers press 1 and other methods.
	step(t, ctx, "a new browser state", network.ClearBrowserCookies())
	fresh := start()
	step(t, ctx, "sign in with the password",
		chromedp.Navigate(fresh),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		setValue(`#email`, "pat@example.org"),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/mfa/call-confirm"]`, chromedp.ByQuery))
	check("code page (call), sign-in with press 1")
	spokenNumber(t, ctx, lang, "code page (call)")
	step(t, ctx, "use a passkey instead",
		chromedp.Click(`details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[name="kind"][value="passkey"]`, chromedp.ByQuery),
		chromedp.Click(`button[name="kind"][value="passkey"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-use`, chromedp.ByQuery))
	check("passkey challenge")
	step(t, ctx, "the form posted without the browser's answer",
		chromedp.Evaluate(`document.getElementById('passkey-form').submit(); true`, nil),
		chromedp.WaitVisible(`#error-summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-use`, chromedp.ByQuery))
	check("passkey challenge, no answer from the browser")
	step(t, ctx, "back to the call, then press 1",
		chromedp.Click(`details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[name="kind"][value="voice"]`, chromedp.ByQuery),
		chromedp.Click(`button[name="kind"][value="voice"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/mfa/call-confirm"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/mfa/call-confirm"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#call-check`, chromedp.ByQuery))
	check("press 1: waiting for the answer")
	spokenNumber(t, ctx, lang, "press 1")
}

// spokenNumber checks that the page's status message, as a screen reader reads it (without
// what is aria-hidden), names the masked number in words and not as dots.
func spokenNumber(t *testing.T, ctx context.Context, lang, page string) {
	t.Helper()
	var said string
	step(t, ctx, page+": the number as read aloud", chromedp.Evaluate(`(() => {
	  const s = document.querySelector('[role=status]').cloneNode(true);
	  s.querySelectorAll('[aria-hidden=true]').forEach(e => e.remove());
	  return s.textContent.replace(/\s+/g, ' ') })()`, &said))
	want := map[string]string{"en": "phone number ending in 0 9 5 8", "es": "número de teléfono que termina en 0 9 5 8"}[lang]
	if !strings.Contains(said, want) || strings.Contains(said, "•") {
		t.Errorf("%s [%s]: a screen reader reads %q, want %q and no dots", page, lang, said, want)
	}
}
