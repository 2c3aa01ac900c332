package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// uaTransport sends a browser's User-Agent and keeps the Set-Cookie headers it is sent.
type uaTransport struct {
	ua  string
	mu  sync.Mutex
	set []string
}

func (u *uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		u.mu.Lock()
		u.set = append(u.set, resp.Header.Values("Set-Cookie")...)
		u.mu.Unlock()
	}
	return resp, err
}

func (u *uaTransport) cookie(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.set {
		if strings.HasPrefix(c, name+"=") {
			return c
		}
	}
	return ""
}

const (
	uaChromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaFirefoxAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
)

// TestNewBrowserNotice: the account's first sign-in records its browser without a notice; a
// sign-in from another browser emails the person exactly one notice (device in plain words,
// address, what to do); the same browsers again, and a silent single sign-on, send none.
func TestNewBrowserNotice(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	subject := "New sign-in to your " + e.tenant.Name + " account"
	notices := func() []string {
		var out []string
		for _, m := range e.node.Outbox.List() {
			if m.Subject == subject {
				if m.To != "pat@example.org" || m.Channel != "email" {
					t.Errorf("notice sent to %s by %s", m.To, m.Channel)
				}
				out = append(out, m.Body)
			}
		}
		return out
	}
	signIn := func(br *browser, extra ...oauth2.AuthCodeOption) {
		t.Helper()
		start, f := r.authURL(extra...)
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		r.exchange(br.code(f), f)
	}
	again := oauth2.SetAuthURLParam("prompt", "login")

	// The first sign-in ever: recorded, no notice.
	home := newBrowser(t)
	homeUA := &uaTransport{ua: uaChromeWindows}
	home.c.Transport = homeUA
	signIn(home)
	if n := notices(); len(n) != 0 {
		t.Fatalf("the account's first sign-in sent %d notices", len(n))
	}
	set := homeUA.cookie("tessera_browser")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Max-Age=31536000", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("tessera_browser cookie %q lacks %s", set, want)
		}
	}
	// The same browser, signing in again: no notice.
	signIn(home, again)
	if n := notices(); len(n) != 0 {
		t.Fatalf("a known browser sent %d notices", len(n))
	}

	// Another browser: one notice, in plain words.
	phone := newBrowser(t)
	phone.c.Transport = &uaTransport{ua: uaFirefoxAndroid}
	signIn(phone)
	n := notices()
	if len(n) != 1 {
		t.Fatalf("a new browser sent %d notices, want 1", len(n))
	}
	for _, want := range []string{"Firefox on Android", "127.0.0.1", " UTC", e.tenant.Name,
		"If this wasn't you, reset your password", "contact your practice"} {
		if !strings.Contains(n[0], want) {
			t.Errorf("the notice lacks %q:\n%s", want, n[0])
		}
	}
	// That browser again, and single sign-on on it: nothing more.
	signIn(phone, again)
	start, f := r.authURL()
	phone.get(start)
	r.exchange(phone.code(f), f)
	if n := notices(); len(n) != 1 {
		t.Errorf("known browsers sent more notices: %d in all", len(n))
	}

	bs, err := e.st.KnownBrowsers(e.ctx, u.ID)
	if err != nil || len(bs) != 2 {
		t.Errorf("known browsers: %+v, %v", bs, err)
	}
	events, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, "", 100)
	var details []string
	for _, ev := range events {
		if ev.Event == "login.new_device" {
			details = append(details, ev.Detail)
			if ev.SubjectID != u.ID || ev.IP == "" || ev.UserAgent == "" {
				t.Errorf("login.new_device audited without subject, address or user agent: %+v", ev)
			}
		}
	}
	if len(details) != 2 || !strings.Contains(strings.Join(details, "|"), "Chrome on Windows; the account's first browser") ||
		!strings.Contains(strings.Join(details, "|"), "Firefox on Android; notice emailed") {
		t.Errorf("login.new_device events: %q", details)
	}
}
