package server_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// Browser tests drive Debian's Chromium through the DevTools protocol, the way a person with a
// keyboard, a small phone screen or a screen reader meets the sign-in pages. Without a browser
// they skip with a message, so `go test ./...` passes on a fresh machine; .ci/run installs one.

const (
	browserStart = 30 * time.Second // launching Chromium on a loaded machine
	browserStep  = 15 * time.Second // any one step: a page load, a few keys, a query
)

func chromiumPath() string {
	for _, p := range []string{os.Getenv("TESSERA_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// newChrome starts a headless Chromium with a fresh profile in t.TempDir and a width×height
// viewport. The returned context is the browser tab; bound each step with step.
func newChrome(t *testing.T, width, height int64) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("browser tests skipped: no Chromium found (apt-get install chromium, or set TESSERA_CHROMIUM)")
	}
	profile := filepath.Join(t.TempDir(), "chromium-profile")
	// Chromium runs in its own process group, so that at the end the whole browser (its zygote,
	// renderer and utility processes too, which outlive the main process for a moment and keep
	// writing to the profile) is stopped before the profile is removed.
	var mu sync.Mutex
	var cmd *exec.Cmd
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(int(width), int(height)),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			mu.Lock()
			cmd = c
			mu.Unlock()
		}),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() {
		mu.Lock()
		c := cmd
		mu.Unlock()
		if c != nil && c.Process != nil {
			// The group's leader is the browser we started; its id is its process group's id.
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		cancelC()
		cancelA() // waits for the browser process
		if c != nil && c.Process != nil {
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if err := syscall.Kill(-c.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
					break
				}
			}
		}
		var err error
		for range 50 {
			if err = os.RemoveAll(profile); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Logf("removing the Chromium profile: %v", err)
		}
	})
	// The first Run starts the browser and ties its life to ctx itself (a context with a deadline
	// here would close the browser when it ends), so the start is bounded by a timer instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Run(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium (%s): %v", path, err)
		}
	case <-time.After(browserStart):
		cancelC()
		t.Fatalf("start Chromium (%s): no answer after %s", path, browserStart)
	}
	step(t, ctx, "set up the tab", network.Enable(), chromedp.EmulateViewport(width, height))
	return ctx
}

// step runs browser actions under their own deadline and names the step when it fails.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// watchRedirect reports the first request the tab makes for the RP's redirect URI. Nothing
// serves that address, so the request itself is the browser's arrival back at the application.
func watchRedirect(ctx context.Context) <-chan string {
	arrived := make(chan string, 1)
	chromedp.ListenTarget(ctx, func(ev any) {
		if req, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasPrefix(req.Request.URL, rpRedirect) {
			select {
			case arrived <- req.Request.URL:
			default:
			}
		}
	})
	return arrived
}

// awaitRedirect waits (bounded) for the browser to be sent back to the RP.
func awaitRedirect(t *testing.T, ctx context.Context, arrived <-chan string, what string) *url.URL {
	t.Helper()
	select {
	case landed := <-arrived:
		u, err := url.Parse(landed)
		if err != nil {
			t.Fatalf("%s: redirect %q: %v", what, landed, err)
		}
		return u
	case <-time.After(browserStep):
		var href string
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		chromedp.Run(sctx, chromedp.Location(&href))
		t.Fatalf("%s: the browser was not sent back to the application (it is at %s)", what, href)
	case <-ctx.Done():
		t.Fatalf("%s: %v", what, ctx.Err())
	}
	return nil
}

// signInPage is what the sign-in page tells a person and their browser.
type signInPage struct {
	Lang        string   `json:"lang"`
	Main        string   `json:"main"`
	Unlabelled  []string `json:"unlabelled"` // inputs without a <label for> naming them
	EmailAC     string   `json:"emailAC"`
	PasswordAC  string   `json:"passwordAC"`
	ScrollWidth int64    `json:"scrollWidth"`
	InnerWidth  int64    `json:"innerWidth"`
}

const signInPageJS = `(() => {
  const ac = id => { const e = document.getElementById(id); return e ? e.getAttribute('autocomplete') || '' : '(missing)'; };
  const unlabelled = [...document.querySelectorAll('input, select, textarea')]
    .filter(i => i.type !== 'hidden')
    .filter(i => {
      if (!i.id) return true;
      const l = document.querySelector('label[for="' + CSS.escape(i.id) + '"]');
      return !l || l.control !== i || l.textContent.trim() === '';
    })
    .map(i => i.outerHTML.slice(0, 120));
  return {
    lang: document.documentElement.getAttribute('lang') || '',
    main: (document.querySelector('main') || document.body).innerText,
    unlabelled,
    emailAC: ac('email'),
    passwordAC: ac('password'),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
})()`

// tabStop is the element the keyboard focus is on, and how it shows.
type tabStop struct {
	Name         string  `json:"name"`
	InPage       bool    `json:"inPage"`
	FocusVisible bool    `json:"focusVisible"`
	OutlineStyle string  `json:"outlineStyle"`
	OutlineWidth string  `json:"outlineWidth"`
	Left         float64 `json:"left"`
	Right        float64 `json:"right"`
}

const tabStopJS = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body || !document.hasFocus()) return { name: '(outside the page)', inPage: false };
  const s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {
    name: e.id ? '#' + e.id : (e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')),
    inPage: true,
    focusVisible: e.matches(':focus-visible'),
    outlineStyle: s.outlineStyle,
    outlineWidth: s.outlineWidth,
    left: r.left,
    right: r.right,
  };
})()`

func pressTab(shift bool) chromedp.KeyAction {
	if shift {
		return chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(input.ModifierShift))
	}
	return chromedp.KeyEvent(kb.Tab)
}

// TestBrowserKeyboardSignIn: on a 320 px wide screen, with the keyboard only, a person signs in
// and the browser arrives back at the application with a code and its state. The page names the
// application, has a language, labels every input with <label for>, carries the autocomplete
// tokens password managers need, fits the width, and shows where the keyboard focus is.
func TestBrowserKeyboardSignIn(t *testing.T) {
	ctx := newChrome(t, 320, 640)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	authURL, f := r.authURL()
	arrived := watchRedirect(ctx)

	var p signInPage
	step(t, ctx, "open the sign-in page",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Evaluate(signInPageJS, &p),
	)
	if !strings.Contains(p.Main, "Riverside Patient Portal") {
		t.Errorf("the sign-in page does not name the application; it says: %q", p.Main)
	}
	if p.Lang == "" {
		t.Error(`<html> has no lang attribute`)
	}
	if len(p.Unlabelled) > 0 {
		t.Errorf("inputs without a matching <label for>: %v", p.Unlabelled)
	}
	if p.EmailAC != "username" || p.PasswordAC != "current-password" {
		t.Errorf(`autocomplete: email %q (want "username"), password %q (want "current-password")`, p.EmailAC, p.PasswordAC)
	}
	if p.ScrollWidth > p.InnerWidth {
		t.Errorf("the page scrolls sideways at 320 px: scrollWidth %d > innerWidth %d", p.ScrollWidth, p.InnerWidth)
	}

	// To the top of the page with the keyboard alone: Shift+Tab until the focus leaves the page
	// (the browser's own controls come before it), then Tab forward as a person would.
	for i := 0; ; i++ {
		var s tabStop
		step(t, ctx, "Shift+Tab", pressTab(true), chromedp.Evaluate(tabStopJS, &s))
		if !s.InPage {
			break
		}
		if i == 20 {
			t.Fatal("Shift+Tab never leaves the page: the focus is trapped")
		}
	}
	var order []string
	for i := 0; ; i++ {
		var s tabStop
		step(t, ctx, "Tab", pressTab(false), chromedp.Evaluate(tabStopJS, &s))
		order = append(order, s.Name)
		if !s.InPage {
			t.Fatalf("Tab from the top left the page before reaching the password field: %v", order)
		}
		// Every stop shows the focus (WCAG 2.4.7) where it can be seen.
		if !s.FocusVisible || s.OutlineStyle == "none" || s.OutlineWidth == "0px" {
			t.Errorf("%s has no visible focus indicator when reached by Tab (:focus-visible %v, outline %s %s)",
				s.Name, s.FocusVisible, s.OutlineStyle, s.OutlineWidth)
		}
		if s.Left < 0 || s.Right > float64(p.InnerWidth) {
			t.Errorf("%s is focused outside the 320 px viewport (left %.0f, right %.0f)", s.Name, s.Left, s.Right)
		}
		if s.Name == "#email" {
			break
		}
		if s.Name == "#password" || i == 10 {
			t.Fatalf("Tab from the top must reach the email field before the password field: %v", order)
		}
	}
	t.Logf("Tab order from the top: %v", order)

	// Type the credentials, Tab to the password, Enter.
	var email, focused string
	step(t, ctx, "type the email address",
		chromedp.KeyEvent("pat@example.org"),
		chromedp.Value(`#email`, &email, chromedp.ByQuery),
		pressTab(false),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
	)
	if email != "pat@example.org" {
		t.Fatalf("the email field holds %q after typing", email)
	}
	if focused != "password" {
		t.Fatalf("Tab from the email field went to %q, want the password field", focused)
	}
	step(t, ctx, "type the password and press Enter",
		chromedp.KeyEvent("correct horse battery"),
		chromedp.KeyEvent(kb.Enter),
	)
	u := awaitRedirect(t, ctx, arrived, "keyboard sign-in")
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("returned to the application with an error: %s", u)
	}
	if q.Get("code") == "" || q.Get("state") != f.state {
		t.Fatalf("returned to %s; want a code and state %q", u, f.state)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != rpRedirect {
		t.Fatalf("returned to %s, want %s", got, rpRedirect)
	}
	r.exchange(q.Get("code"), f)
}

// TestBrowserWrongPassword: the error summary at the top is announced (role=alert), says "There
// is a problem" and links to the field to fix, and the keyboard focus is on it when the page
// loads (GOV.UK's pattern, without JavaScript); both fields are marked invalid and point at the
// message beside them; the email is kept, the password is not sent back.
func TestBrowserWrongPassword(t *testing.T) {
	ctx := newChrome(t, 320, 640)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	authURL, _ := e.rp(id, sec).authURL()
	step(t, ctx, "open the sign-in page",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
	)
	step(t, ctx, "sign in with a wrong password",
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "not my password"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`[role=alert]`, chromedp.ByQuery),
	)
	var got struct {
		Alert       string   `json:"alert"`
		AlertID     string   `json:"alertID"`
		Links       []string `json:"links"`
		Invalid     []string `json:"invalid"`
		DescribedBy []string `json:"describedBy"`
		Described   []string `json:"described"`
		Email       string   `json:"email"`
		Password    string   `json:"password"`
		Focused     string   `json:"focused"`
	}
	step(t, ctx, "read the error page", chromedp.Evaluate(`(() => {
  const a = document.querySelector('[role=alert]');
  const f = ['email', 'password'].map(id => document.getElementById(id));
  const said = i => (i.getAttribute('aria-describedby') || '').split(' ').filter(Boolean)
    .map(id => { const d = document.getElementById(id); return d ? d.innerText.trim() : '(missing #' + id + ')'; }).join(' | ');
  return {
    alert: a.innerText.trim(),
    alertID: a.id,
    links: [...a.querySelectorAll('a')].map(l => l.getAttribute('href')),
    invalid: f.map(i => i.getAttribute('aria-invalid') || ''),
    describedBy: f.map(i => i.getAttribute('aria-describedby') || ''),
    described: f.map(said),
    email: f[0].value,
    password: f[1].value,
    focused: document.activeElement.id,
  };
})()`, &got))
	if !strings.HasPrefix(got.Alert, "There is a problem") || !strings.Contains(got.Alert, "email address or password is not right") {
		t.Errorf("role=alert says %q", got.Alert)
	}
	if !slices.Equal(got.Links, []string{"#email"}) {
		t.Errorf("the error summary links to %v, want the email field", got.Links)
	}
	for i, name := range []string{"email", "password"} {
		if got.Invalid[i] != "true" {
			t.Errorf(`%s: aria-invalid=%q, want "true"`, name, got.Invalid[i])
		}
		if !strings.Contains(got.Described[i], "email address or password is not right") {
			t.Errorf("%s: aria-describedby=%q does not point at the message (it says %q)", name, got.DescribedBy[i], got.Described[i])
		}
	}
	if got.Email != "pat@example.org" {
		t.Errorf("the email was not kept: %q", got.Email)
	}
	if got.Password != "" {
		t.Errorf("the wrong password was sent back into the page")
	}
	if got.Focused != got.AlertID || got.AlertID == "" {
		t.Errorf("the focus is on %q after the error, want the error summary (%q)", got.Focused, got.AlertID)
	}
}

// TestBrowserSignInScreenshots: full-page screenshots of the sign-in page on a 320 px phone and a
// 1280 px desktop, kept for a person to look at (/tmp/tessera-login-{320,1280}.png). The image
// is exactly as wide as the viewport, so nothing sticks out to the side.
func TestBrowserSignInScreenshots(t *testing.T) {
	ctx := newChrome(t, 320, 640)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec)
	dir := t.TempDir()
	for _, size := range []struct{ w, h int64 }{{320, 640}, {1280, 800}} {
		authURL, _ := r.authURL()
		var shot []byte
		step(t, ctx, "screenshot",
			chromedp.EmulateViewport(size.w, size.h),
			chromedp.Navigate(authURL),
			chromedp.WaitVisible(`#email`, chromedp.ByQuery),
			chromedp.FullScreenshot(&shot, 100), // 100: PNG
		)
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("screenshot at %d px is not a PNG: %v", size.w, err)
		}
		if w := int64(img.Bounds().Dx()); w != size.w {
			t.Errorf("the page at %d px renders %d px wide", size.w, w)
		}
		name := "tessera-login-" + map[int64]string{320: "320", 1280: "1280"}[size.w] + ".png"
		for _, p := range []string{filepath.Join(dir, name), filepath.Join(os.TempDir(), name)} {
			if err := os.WriteFile(p, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("sign-in page at %d px (%dx%d): %s", size.w, img.Bounds().Dx(), img.Bounds().Dy(), p)
		}
	}
}

// TestBrowserCodeStep: the second step in a real browser — the code field is announced as a
// one-time code with a numeric keyboard, and typing the app's code and Enter finishes the sign-in.
func TestBrowserCodeStep(t *testing.T) {
	ctx := newChrome(t, 320, 700)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	secret := enrollDirect(t, e, u)
	r := e.rp(id, sec)
	authURL, f := r.authURL()
	arrived := watchRedirect(ctx)
	var ac, mode, focused string
	var scrollW, innerW int64
	step(t, ctx, "sign in with the password",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
	)
	step(t, ctx, "enter the app's code",
		chromedp.AttributeValue(`#code`, "autocomplete", &ac, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#code`, "inputmode", &mode, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW),
		chromedp.Evaluate(`window.innerWidth`, &innerW),
		chromedp.KeyEvent(codeFor(t, secret, time.Now().Add(30*time.Second))+kb.Enter),
	)
	if ac != "one-time-code" || mode != "numeric" || focused != "code" {
		t.Errorf("code field: autocomplete=%q inputmode=%q focused=%q", ac, mode, focused)
	}
	if scrollW > innerW {
		t.Errorf("the code page scrolls sideways at 320 px: scrollWidth %d > %d", scrollW, innerW)
	}
	landed := awaitRedirect(t, ctx, arrived, "code step")
	if landed.Query().Get("state") != f.state {
		t.Fatalf("returned to %s; want state %q", landed, f.state)
	}
	_, idt := r.exchange(landed.Query().Get("code"), f)
	if claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
		t.Errorf("acr = %v", claims(t, idt)["acr"])
	}
}

// TestBrowserPhoneEnrollment: at 320 px, someone without a smartphone opens "No smartphone?",
// types their landline, is told plainly that texts cannot reach it (the message is announced
// and tied to the field), chooses a phone call instead and signs in with the code it read out.
// Every input on the enrollment page has a label and nothing scrolls sideways.
func TestBrowserPhoneEnrollment(t *testing.T) {
	ctx := newChrome(t, 320, 800)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.requiredMFA()
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	authURL, f := r.authURL()
	arrived := watchRedirect(ctx)
	var page signInPage
	step(t, ctx, "sign in and open the phone option",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`details summary`, chromedp.ByQuery),
		chromedp.Click(`details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#phone`, chromedp.ByQuery),
		chromedp.Evaluate(signInPageJS, &page),
	)
	if len(page.Unlabelled) > 0 || page.ScrollWidth > page.InnerWidth {
		t.Errorf("enrollment page: unlabelled %v, scrollWidth %d > %d", page.Unlabelled, page.ScrollWidth, page.InnerWidth)
	}
	var alert, describedBy, fieldMsg, link string
	step(t, ctx, "a landline for texts",
		chromedp.Evaluate(`document.getElementById('phone').value = ''`, nil), // it holds the number on file
		chromedp.SendKeys(`#phone`, "+44 20 7946 0958"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#phone-error`, chromedp.ByQuery),
		chromedp.Text(`[role=alert]`, &alert, chromedp.ByQuery),
		chromedp.Text(`#phone-error`, &fieldMsg, chromedp.ByQuery),
		chromedp.AttributeValue(`#phone`, "aria-describedby", &describedBy, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('[role=alert] a').getAttribute('href')`, &link),
	)
	if !strings.Contains(alert, "landline, which cannot receive texts") || link != "#phone" ||
		!strings.Contains(fieldMsg, "landline, which cannot receive texts") || !strings.Contains(describedBy, "phone-error") {
		t.Errorf("landline message %q (link %q), beside the field %q, tied to it by %q", alert, link, fieldMsg, describedBy)
	}
	step(t, ctx, "choose a call with the keyboard",
		chromedp.Focus(`#kind-voice`, chromedp.ByQuery),
		chromedp.KeyEvent(" "),
		chromedp.Focus(`#phone`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		// #code is on the enrollment page too: wait for the call's code page itself.
		chromedp.WaitReady(`input[name="method"][value="voice"]`, chromedp.ByQuery),
	)
	code := outboxCode(t, e, "voice", "+442079460958")
	step(t, ctx, "enter the code the call read out",
		chromedp.SendKeys(`#code`, code+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/mfa/continue"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/mfa/continue"] button`, chromedp.ByQuery),
	)
	landed := awaitRedirect(t, ctx, arrived, "phone enrollment")
	_, idt := r.exchange(landed.Query().Get("code"), f)
	if amr := toStrings(claims(t, idt)["amr"]); !slices.Contains(amr, "tel") {
		t.Errorf("amr %v, want tel", amr)
	}
}

// TestBrowserAccountAndRegisterPages: the registration form and the account security page work
// at 320 px: every input labelled, nothing scrolls sideways, the page has a language and a
// heading, and the keyboard reaches the first field.
func TestBrowserAccountAndRegisterPages(t *testing.T) {
	ctx := newChrome(t, 320, 800)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.tenant.SelfRegistration = true
	if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
		t.Fatal(err)
	}
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	authURL, _ := r.authURL()
	check := func(what string) {
		t.Helper()
		var page signInPage
		var h1 string
		step(t, ctx, what, chromedp.Evaluate(signInPageJS, &page), chromedp.Text(`h1`, &h1, chromedp.ByQuery))
		if page.Lang == "" || h1 == "" || len(page.Unlabelled) > 0 || page.ScrollWidth > page.InnerWidth {
			t.Errorf("%s: lang %q, h1 %q, unlabelled %v, scrollWidth %d > %d", what, page.Lang, h1, page.Unlabelled, page.ScrollWidth, page.InnerWidth)
		}
	}
	step(t, ctx, "open the registration form",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`a[href^="/register"]`, chromedp.ByQuery),
		chromedp.Click(`a[href^="/register"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`input[autocomplete="new-password"]`, chromedp.ByQuery),
	)
	check("registration form")
	step(t, ctx, "sign in to the account pages",
		chromedp.Navigate(e.issuer+"/account"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitReady(`form[action^="/account/"]`, chromedp.ByQuery),
	)
	var path string
	step(t, ctx, "where the browser is", chromedp.Evaluate(`location.pathname`, &path))
	if path != "/account/security" {
		t.Fatalf("after signing in to the account pages the browser is at %s", path)
	}
	check("account security page")
}

// TestBrowserReadmeScreenshots makes the README's pictures: the sign-in page and the texted-code
// page on a 320 px phone, in English and in Spanish (docs/screenshots/*.png). It runs when
// TESSERA_SCREENSHOTS names the directory to write them to:
//
//	TESSERA_SCREENSHOTS=$PWD/docs/screenshots go test ./internal/server -run ReadmeScreenshots
//
// Each picture is exactly 320 px wide (nothing sticks out to the side) and kept under 60 KB.
func TestBrowserReadmeScreenshots(t *testing.T) {
	dir := os.Getenv("TESSERA_SCREENSHOTS")
	if dir == "" {
		t.Skip("screenshots skipped: set TESSERA_SCREENSHOTS to the directory to write them to (docs/screenshots)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.tenant.Name = "Riverside Health"
	e.tenant.HelpContact = "Call Riverside Health at 555-0100, Monday to Friday 8–6"
	if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
		t.Fatal(err)
	}
	e.st.ExecRaw(e.ctx, "UPDATE tenants SET name = ?, name_lower = ? WHERE id = ?", "Riverside Health", "riverside health", e.tenant.ID)
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec)
	u := e.user("pat@example.org", "correct horse battery")
	f := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "sms", Label: "+12025550123"}
	if err := e.st.CreateFactor(e.ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ActivateFactor(e.ctx, u.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	shoot := func(ctx context.Context, name string) {
		t.Helper()
		var shot []byte
		step(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&shot, 100))
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if img.Bounds().Dx() != 320 {
			t.Errorf("%s renders %d px wide at 320 px", name, img.Bounds().Dx())
		}
		small := smallPNG(t, img)
		if len(small) > 60<<10 {
			t.Errorf("%s: %d bytes, more than 60 KB", name, len(small))
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, small, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %dx%d, %d bytes", p, img.Bounds().Dx(), img.Bounds().Dy(), len(small))
	}
	for _, lang := range []string{"en", "es"} {
		ctx := newChrome(t, 320, 640)
		authURL, _ := r.authURL(oauth2.SetAuthURLParam("ui_locales", lang))
		e.st.ExecRaw(e.ctx, "DELETE FROM otp_sends") // no resend cooldown between the languages
		step(t, ctx, "open the sign-in page", chromedp.Navigate(authURL), chromedp.WaitVisible(`#email`, chromedp.ByQuery))
		shoot(ctx, "sign-in-320-"+lang+".png")
		step(t, ctx, "sign in",
			chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
			chromedp.WaitReady(`input[name="method"][value="sms"]`, chromedp.ByQuery),
			chromedp.Evaluate(`document.activeElement.blur()`, nil))
		shoot(ctx, "code-320-"+lang+".png")
	}
}

// smallPNG re-encodes a screenshot with a palette of its 64 most used colours and the best compression: a page
// of text loses nothing a reader would notice, and the file shrinks several times.
func smallPNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	// The page's 64 most used colours, so text and buttons keep their exact shade.
	seen := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}]++
		}
	}
	type kv struct {
		c color.RGBA
		n int
	}
	var common []kv
	for c, n := range seen {
		common = append(common, kv{c, n})
	}
	slices.SortFunc(common, func(a, b kv) int { return b.n - a.n })
	pal := make(color.Palette, 0, 64)
	for _, x := range common {
		if len(pal) == 64 {
			break
		}
		pal = append(pal, x.c)
	}
	out := image.NewPaletted(b, pal)
	draw.Draw(out, b, img, b.Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
