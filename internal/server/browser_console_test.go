package server_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestBrowserAccountConsole: in a real browser at 320 px, a patient who signed in to their
// portal elsewhere (with one wrong code first) opens the account console, sees both on the
// Activity page with the portal's name, changes their email address with the code sent to the
// new one, and signs out everywhere: the portal's refresh token stops working and the other
// browser's session is gone.
func TestBrowserAccountConsole(t *testing.T) {
	ctx := newChrome(t, 320, 800)
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	u, secret := e.appUser(t, "pat@example.org")
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec, oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess)

	// The portal, in another browser: a wrong code, then the right one.
	other := newBrowser(t)
	start, f := r.authURL()
	other.get(start)
	other.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	fl := other.formFields()
	fl.Set("code", e.wrongApp(t, secret))
	other.post(e.issuer+"/mfa/verify", fl)
	fl = other.formFields()
	fl.Set("code", e.appCode(t, secret))
	other.post(e.issuer+"/mfa/verify", fl)
	tok, _ := r.exchange(other.code(f), f)

	step(t, ctx, "sign in to the account console",
		chromedp.Navigate(e.issuer+"/account"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		chromedp.SendKeys(`#code`, e.appCode(t, secret)+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`nav.account-nav`, chromedp.ByQuery),
	)

	var activity string
	var scrollW, innerW int64
	step(t, ctx, "open Activity from the navigation",
		chromedp.Click(`nav.account-nav a[href="/account/activity"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`ol.activity`, chromedp.ByQuery),
		chromedp.Text(`ol.activity`, &activity, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW),
		chromedp.Evaluate(`window.innerWidth`, &innerW),
	)
	for _, want := range []string{"Entered a code from your authenticator app", "Failed", "Application: Riverside Patient Portal",
		"Signed in with your password and a code", "Place: This network"} {
		if !strings.Contains(activity, want) {
			t.Errorf("the Activity page does not say %q:\n%s", want, activity)
		}
	}
	if scrollW > innerW {
		t.Errorf("the Activity page scrolls sideways at 320 px: %d > %d", scrollW, innerW)
	}

	var notice string
	step(t, ctx, "ask to change the email address",
		chromedp.Click(`nav.account-nav a[href="/account/profile"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#new-email`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-email`, "pat.new@example.org"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
	)
	if got, _ := e.st.UserByID(e.ctx, u.ID); got.Email != "pat@example.org" {
		t.Fatalf("the address changed before the code: %q", got.Email)
	}
	step(t, ctx, "enter the code sent to the new address",
		chromedp.SendKeys(`#code`, lastEmailCode(t, e.env, "pat.new@example.org")+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if !strings.Contains(notice, "Your email address is changed") {
		t.Errorf("after the code the page says %q", notice)
	}
	if got, _ := e.st.UserByID(e.ctx, u.ID); got.Email != "pat.new@example.org" || !got.EmailVerified {
		t.Errorf("email %q verified %v", got.Email, got.EmailVerified)
	}
	if !outboxHas(e.env, "pat@example.org", "Your email address was changed") {
		t.Error("the old address was not told")
	}

	var sessions int
	var h1 string
	step(t, ctx, "open Sessions and devices",
		chromedp.Click(`nav.account-nav a[href="/account/sessions"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`ul.sessions`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('ul.sessions > li').length`, &sessions),
	)
	if sessions != 2 {
		t.Errorf("the sessions page lists %d sessions, want 2 (this browser and the portal's)", sessions)
	}
	step(t, ctx, "sign out everywhere",
		chromedp.Click(`form[action="/account/signout-all"] button`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`ul.sessions`, chromedp.ByQuery),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Text(`h1`, &h1, chromedp.ByQuery),
	)
	if h1 != "You are signed out" {
		t.Fatalf("after Sign out everywhere the page says %q", h1)
	}
	if !refreshFails(e, r, tok) {
		t.Error("the portal's refresh token still works after Sign out everywhere")
	}
	other.get(e.issuer + "/account/security")
	if !strings.Contains(other.body, `autocomplete="current-password"`) {
		t.Errorf("the other browser is still signed in: %d %.200s", other.status, other.body)
	}
	step(t, ctx, "this browser is signed out too",
		chromedp.Navigate(e.issuer+"/account/sessions"),
		chromedp.WaitVisible(`#password`, chromedp.ByQuery),
	)
}
