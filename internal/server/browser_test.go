package server_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// Browser tests drive Debian's Chromium through the DevTools protocol. Without a browser they
// skip with a message, so `go test ./...` passes on a fresh machine; .ci/run installs one.

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

// newChrome starts a headless browser with its own profile; the context is bounded.
func newChrome(t *testing.T, width, height int64) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("browser tests skipped: no Chromium found (apt-get install chromium, or set TESSERA_CHROMIUM)")
	}
	// Not t.TempDir: Chromium may still be writing its profile for a moment after it is told to
	// stop, which would fail the test's own cleanup.
	profile, err := os.MkdirTemp("", "tessera-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(int(width), int(height)),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Run(ctx, network.Enable(), chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// TestBrowserKeyboardSignIn: on a 320 px wide screen, with the keyboard only, a person signs in
// and the browser arrives back at the application with a code. The page names the application,
// labels every input, fits the width, and shows where the focus is.
func TestBrowserKeyboardSignIn(t *testing.T) {
	ctx := newChrome(t, 320, 640)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	authURL, f := r.authURL()

	var lang, heading, labelsOK, emailAC, pwAC string
	var scrollW, innerW int64
	err := chromedp.Run(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.lang`, &lang),
		chromedp.Text(`.app`, &heading, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('input:not([type=hidden])')].every(i => i.labels && i.labels.length === 1 && i.labels[0].textContent.trim() !== '') ? 'yes' : 'no'`, &labelsOK),
		chromedp.AttributeValue(`#email`, "autocomplete", &emailAC, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#password`, "autocomplete", &pwAC, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW),
		chromedp.Evaluate(`window.innerWidth`, &innerW),
	)
	if err != nil {
		t.Fatal(err)
	}
	if lang == "" || !strings.Contains(heading, "Riverside Patient Portal") || labelsOK != "yes" || emailAC != "username" || pwAC != "current-password" {
		t.Errorf("page: lang=%q app=%q labels=%s autocomplete=%q/%q", lang, heading, labelsOK, emailAC, pwAC)
	}
	if scrollW > innerW {
		t.Errorf("the page scrolls sideways at 320 px: scrollWidth %d > %d", scrollW, innerW)
	}

	// Keyboard only: from the top of the page (a click on its corner sets where Tab starts), Tab
	// reaches the skip link, then the email field, before anything else.
	var order []string
	var outline string
	if err := chromedp.Run(ctx, chromedp.MouseClickXY(2, 2)); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		var id string
		if err := chromedp.Run(ctx, chromedp.KeyEvent(kb.Tab), chromedp.Evaluate(`document.activeElement.id || document.activeElement.className || document.activeElement.tagName`, &id)); err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
		if id == "email" {
			if err := chromedp.Run(ctx, chromedp.Evaluate(`getComputedStyle(document.activeElement).outlineStyle`, &outline)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if order[len(order)-1] != "email" || strings.Contains(strings.Join(order, " "), "password") {
		t.Fatalf("Tab order from the top: %v; the email field must come before the password and the button", order)
	}
	if outline == "none" || outline == "" {
		t.Errorf("the focused field shows no focus outline")
	}
	// The RP's redirect URI is not served: catch the browser's request for it.
	arrived := make(chan string, 1)
	chromedp.ListenTarget(ctx, func(ev any) {
		if req, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasPrefix(req.Request.URL, rpRedirect) {
			select {
			case arrived <- req.Request.URL:
			default:
			}
		}
	})
	var landed string
	err = chromedp.Run(ctx,
		chromedp.KeyEvent("pat@example.org"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("correct horse battery"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.ActionFunc(func(ctx context.Context) error {
			select {
			case landed = <-arrived:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
	)
	if err != nil {
		t.Fatalf("keyboard sign-in did not return to the application: %v", err)
	}
	u, _ := url.Parse(landed)
	if u.Query().Get("code") == "" || u.Query().Get("state") != f.state {
		t.Fatalf("returned to %s", landed)
	}
	r.exchange(u.Query().Get("code"), f)
}

// TestBrowserWrongPassword: the error is announced (role=alert), the fields are marked invalid
// and the email is kept, so the person only retypes the password.
func TestBrowserWrongPassword(t *testing.T) {
	ctx := newChrome(t, 1280, 800)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	authURL, _ := e.rp(id, sec).authURL()
	var alert, invalid, kept string
	err := chromedp.Run(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "not my password", chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`[role=alert]`, chromedp.ByQuery),
		chromedp.Text(`[role=alert]`, &alert, chromedp.ByQuery),
		chromedp.AttributeValue(`#password`, "aria-invalid", &invalid, nil, chromedp.ByQuery),
		chromedp.Value(`#email`, &kept, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(alert, "email address or password is not right") || invalid != "true" || kept != "pat@example.org" {
		t.Errorf("alert=%q aria-invalid=%q email kept=%q", alert, invalid, kept)
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
	arrived := make(chan string, 1)
	chromedp.ListenTarget(ctx, func(ev any) {
		if req, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasPrefix(req.Request.URL, rpRedirect) {
			select {
			case arrived <- req.Request.URL:
			default:
			}
		}
	})
	var ac, mode, focused string
	var scrollW, innerW int64
	err := chromedp.Run(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "pat@example.org", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery\n", chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		chromedp.AttributeValue(`#code`, "autocomplete", &ac, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#code`, "inputmode", &mode, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW),
		chromedp.Evaluate(`window.innerWidth`, &innerW),
		chromedp.KeyEvent(codeFor(t, secret, time.Now().Add(30*time.Second))+"\r"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if ac != "one-time-code" || mode != "numeric" || focused != "code" {
		t.Errorf("code field: autocomplete=%q inputmode=%q focused=%q", ac, mode, focused)
	}
	if scrollW > innerW {
		t.Errorf("the code page scrolls sideways at 320 px")
	}
	select {
	case landed := <-arrived:
		u, _ := url.Parse(landed)
		_, idt := r.exchange(u.Query().Get("code"), f)
		if claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
			t.Errorf("acr = %v", claims(t, idt)["acr"])
		}
	case <-ctx.Done():
		t.Fatal("the code step did not return to the application")
	}
}
