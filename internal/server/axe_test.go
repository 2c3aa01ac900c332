package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// axe-core (the npm package) checks each page against WCAG 2.0/2.1 A and AA in the real
// browser. .ci/run installs it and sets TESSERA_AXE_JS; without it these tests skip and say so.

func axeSource(t *testing.T) string {
	t.Helper()
	paths := []string{os.Getenv("TESSERA_AXE_JS")}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".cache", "tessera", "axe", "node_modules", "axe-core", "axe.min.js"))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	t.Skip("axe checks skipped: axe-core not found (npm install --prefix ~/.cache/tessera/axe axe-core, or set TESSERA_AXE_JS)")
	return ""
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeCheck runs axe on the current page and fails the test for every A/AA violation. It also
// checks the page is in the expected language, has exactly one <h1>, and does not scroll sideways.
func axeCheck(t *testing.T, ctx context.Context, src, page, lang string, checked *int) {
	t.Helper()
	var loaded bool
	step(t, ctx, page+": page ready", chromedp.WaitReady("body", chromedp.ByQuery))
	step(t, ctx, page+": load axe", chromedp.Evaluate(`typeof axe !== 'undefined'`, &loaded))
	if !loaded {
		step(t, ctx, page+": inject axe", chromedp.Evaluate(src, nil))
	}
	var v []axeViolation
	step(t, ctx, page+": run axe", chromedp.Evaluate(`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
	  .then(r => r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help, nodes: v.nodes.map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').slice(0, 160))})))`,
		&v, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	for _, x := range v {
		t.Errorf("%s [%s]: %s (%s) %s: %v", page, lang, x.ID, x.Impact, x.Help, x.Nodes)
	}
	var facts struct {
		Lang        string `json:"lang"`
		H1          int    `json:"h1"`
		ScrollWidth int64  `json:"sw"`
		InnerWidth  int64  `json:"iw"`
	}
	step(t, ctx, page+": page facts", chromedp.Evaluate(`({lang: document.documentElement.lang, h1: document.querySelectorAll('h1').length,
	  sw: document.documentElement.scrollWidth, iw: window.innerWidth})`, &facts))
	if !strings.HasPrefix(facts.Lang, lang) || facts.H1 != 1 || facts.ScrollWidth > facts.InnerWidth {
		t.Errorf("%s [%s]: lang %q, %d <h1>, scrollWidth %d > %d", page, lang, facts.Lang, facts.H1, facts.ScrollWidth, facts.InnerWidth)
	}
	*checked++
}

// TestAxeEveryPage walks every page a person meets — sign-in and its error summary, forgot
// password, enrollment and its phone error, the code page and its error, backup codes, consent,
// the locked page with the practice's help contact, registration and its errors, the account
// page, the caregivers page and its error, the patient chooser, password reset and its error, signed out and the error page, every passkey page and
// state (the account's passkey section and its error, creating one, the passkey challenge and
// its error, "Confirm it's you" by call and by passkey), the call's code page with "press 1" and
// the press-1 waiting page — at 320 px in English and in Spanish, and fails on any WCAG A/AA
// violation.
func TestAxeEveryPage(t *testing.T) {
	src := axeSource(t)
	for _, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			checked := 0
			axeWalk(t, src, lang, &checked)
			t.Logf("%s: %d pages checked", lang, checked)
		})
	}
}

func axeWalk(t *testing.T, src, lang string, checked *int) {
	ctx := newChrome(t, 320, 800)
	phones := &outboxForward{}
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, axeOptions(phones))
	phones.to = e.node.Outbox
	e.requiredMFA()
	e.tenant.SelfRegistration = true
	e.tenant.HelpContact = "Call Riverside Health at 555-0100, Monday to Friday 8–6"
	e.st.UpdateTenant(e.ctx, e.tenant)
	id, sec := e.client(store.ClientWeb, nil)
	tpID, tpSec := e.client(store.ClientWeb, func(c *store.Client) { c.FirstParty = false; c.Name = "Health Diary App" })
	e.user("pat@example.org", "correct horse battery")
	locked := e.user("locked@example.org", "correct horse battery")
	e.st.ExecRaw(e.ctx, "UPDATE users SET locked_at = 1 WHERE id = ?", locked.ID)
	r := e.rp(id, sec)
	ui := oauth2.SetAuthURLParam("ui_locales", lang)
	check := func(page string) { t.Helper(); axeCheck(t, ctx, src, page, lang, checked) }
	nav := func(what, u, wait string) {
		t.Helper()
		step(t, ctx, what, chromedp.Navigate(u), chromedp.WaitVisible(wait, chromedp.ByQuery))
	}
	signIn := func(email, pw, wait string) {
		t.Helper()
		step(t, ctx, "sign in as "+email,
			setValue(`#email`, email),
			setValue(`#password`, ""),
			chromedp.SendKeys(`#password`, pw+kb.Enter, chromedp.ByQuery),
			chromedp.WaitVisible(wait, chromedp.ByQuery))
	}

	// A new browser state: no session, and the language switch's cookie for pages outside a
	// sign-in.
	fresh := func() {
		t.Helper()
		step(t, ctx, "fresh browser state", network.ClearBrowserCookies(),
			chromedp.Navigate(e.issuer+"/logged-out?lang="+lang), chromedp.WaitVisible("h1", chromedp.ByQuery))
	}
	fresh()
	check("signed out")
	nav("error page", e.issuer+"/login?authRequestID=nonsense", "h1")
	check("error")

	start, _ := r.authURL(ui)
	nav("sign-in page", start, "#email")
	check("sign-in")
	signIn("pat@example.org", "wrong password here", "[role=alert]")
	check("sign-in, wrong password")
	step(t, ctx, "forgot password", chromedp.Click(`a[href^="/forgot"]`, chromedp.ByQuery), chromedp.WaitVisible(`#email`, chromedp.ByQuery))
	check("forgot password")

	fresh()
	start, _ = r.authURL(ui)
	nav("registration", start, `a[href^="/register"]`)
	step(t, ctx, "open registration", chromedp.Click(`a[href^="/register"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`input[autocomplete="new-password"]`, chromedp.ByQuery))
	check("registration")
	step(t, ctx, "register with a landline",
		setValue(`input[autocomplete="name"]`, "Rosa Díaz"),
		setValue(`input[autocomplete="email"]`, "rosa@example.org"),
		setValue(`input[autocomplete="new-password"]`, "a long passphrase here"),
		setValue(`input[autocomplete="tel"]`, "+44 20 7946 0958"),
		chromedp.Submit(`input[autocomplete="tel"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[role=alert]`, chromedp.ByQuery))
	check("registration, phone refused")

	// Password reset from the emailed link.
	fresh()
	start, _ = r.authURL(ui)
	nav("forgot", start, "#email")
	step(t, ctx, "ask for a reset", chromedp.Click(`a[href^="/forgot"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery))
	check("reset link sent")
	var link string
	for _, m := range e.node.Outbox.List() {
		if m.To == "pat@example.org" && strings.Contains(m.Body, "/reset?") {
			link = resetLinkRe.FindString(m.Body)
			break
		}
	}
	if link == "" {
		t.Fatal("no reset link")
	}
	nav("reset page", link, `#password`)
	check("password reset")
	step(t, ctx, "two different new passwords",
		setValue(`#password`, "a long passphrase here"),
		setValue(`#password2`, "another long passphrase"),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#password2-error`, chromedp.ByQuery))
	check("password reset, passwords differ")

	// The locked page, in a fresh browser state.
	fresh()
	start, _ = r.authURL(ui)
	nav("sign-in for the locked person", start, "#email")
	if !strings.Contains(start, "ui_locales="+lang) {
		t.Fatalf("ui_locales missing from %s", start)
	}
	signIn("locked@example.org", "correct horse battery", ".help-contact")
	var help string
	step(t, ctx, "the help contact", chromedp.Text(`.help-contact`, &help, chromedp.ByQuery))
	if !strings.Contains(help, "555-0100") {
		t.Errorf("the locked page does not show the help contact: %q", help)
	}
	check("locked, with the help contact")
	fresh()
	start, _ = r.authURL(ui)
	nav("sign-in page again", start, "#email")
	signIn("pat@example.org", "correct horse battery", `img[src^="data:image/png"]`)
	check("enrollment")
	step(t, ctx, "a landline for texts",
		chromedp.Click(`details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#phone`, chromedp.ByQuery),
		setValue(`#phone`, "+44 20 7946 0958"),
		chromedp.Submit(`#phone`, chromedp.ByQuery),
		chromedp.WaitVisible(`#phone-error`, chromedp.ByQuery))
	check("enrollment, phone refused")
	step(t, ctx, "a call instead",
		chromedp.Click(`#kind-voice`, chromedp.ByQuery),
		chromedp.Submit(`#phone`, chromedp.ByQuery),
		// #code is on the enrollment page too: wait for the call's code page itself.
		chromedp.WaitReady(`input[name="method"][value="voice"]`, chromedp.ByQuery))
	check("code page (call)")
	code := outboxCode(t, e, "voice", "+442079460958")
	step(t, ctx, "a wrong code",
		chromedp.SendKeys(`#code`, wrongDigits(code)+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`[role=alert]`, chromedp.ByQuery))
	check("code page, wrong code")
	arrived := watchRedirect(ctx)
	step(t, ctx, "the right code",
		setValue(`#code`, code),
		chromedp.Submit(`#code`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/mfa/continue"]`, chromedp.ByQuery))
	check("backup codes")
	step(t, ctx, "continue", chromedp.Click(`form[action="/mfa/continue"] button`, chromedp.ByQuery))
	awaitRedirect(t, ctx, arrived, "after enrollment")

	tp := e.rp(tpID, tpSec)
	start, _ = tp.authURL(ui)
	nav("consent page", start, `button[value="allow"]`)
	check("consent")

	nav("account page", e.issuer+"/account/security", "h1")
	check("account security")

	for _, p := range []string{"profile", "sessions", "activity", "apps"} {
		nav("account "+p, e.issuer+"/account/"+p, "nav.account-nav")
		check("account " + p)
	}
	nav("account profile", e.issuer+"/account/profile", "#new-email")
	step(t, ctx, "a new email address that is not one",
		setValue(`#new-email`, "not an address"),
		chromedp.Submit(`#new-email`, chromedp.ByQuery),
		chromedp.WaitVisible(`#new-email-error`, chromedp.ByQuery))
	check("account profile, email refused")
	step(t, ctx, "a new email address",
		setValue(`#new-email`, "pat.new@example.org"),
		chromedp.Submit(`#new-email`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/account/email-change/code"]`, chromedp.ByQuery))
	check("account email change code")
	// Caregivers: the console page and its error, and the patient chooser of a proxy-capable
	// application (the signed-in person may act for a child).
	kid := e.user("kid@example.org", "correct horse battery")
	pat, _ := e.st.UserByEmail(e.ctx, e.tenant.ID, "pat@example.org")
	if err := e.st.CreateProxyGrant(e.ctx, &store.ProxyGrant{TenantID: e.tenant.ID, PatientID: kid.ID, CaregiverID: pat.ID,
		Access: store.ProxyLimited, ScopeSet: "limited", Reason: "parent", CreatedBy: "cli"}); err != nil {
		t.Fatal(err)
	}
	nav("caregivers page", e.issuer+"/account/caregivers", "#cg-email")
	check("account caregivers")
	step(t, ctx, "invite with a bad address",
		setValue(`#cg-email`, "not an address"),
		chromedp.Submit(`#cg-email`, chromedp.ByQuery),
		chromedp.WaitVisible(`#cg-email-error`, chromedp.ByQuery))
	check("account caregivers, bad address")
	pxID, pxSec := e.client(store.ClientWeb, func(c *store.Client) { c.Proxy = true; c.Name = "Family Health App" })
	start, _ = e.rp(pxID, pxSec).authURL(ui)
	nav("patient chooser", start, `input[name="choice"]`)
	check("patient chooser")

	// Last: the passkey walk ends in the middle of a new sign-in (the press-1 waiting page).
	axePasskeysAndCalls(t, ctx, e, func() string { u, _ := r.authURL(ui); return u }, lang, check)
	// The admin console (a fresh browser state, an administrator signed in).
	adminAxePages(t, ctx, e, lang, check)
}

// setValue fills a field as if typed (chromedp.SetValue fails on inputs with this Chromium).
func setValue(sel, v string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, sel, v), nil)
}
