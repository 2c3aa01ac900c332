package server_test

import (
	"net"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestRememberDevice: after "Don't ask for a code on this device", the next sign-in on that
// browser from the same address skips the code — and says so in amr (rmd) rather than pretending
// a code was entered; another address, another person or day 8 asks again.
func TestRememberDevice(t *testing.T) {
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) {
		o.TrustedProxies = []*net.IPNet{loopback}
	})
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	secret := enrollDirect(t, e, u)

	// Sign in with the code and tick the box.
	jar, _ := cookiejar.New(nil)
	home := newBrowser(t).from("198.51.100.7")
	home.c.Jar = jar
	start, f := r.authURL()
	home.get(start)
	home.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(home.body, `id="remember"`) || !strings.Contains(home.body, "on this device for 7 days") {
		t.Fatalf("no remember-device checkbox: %d %s", home.status, home.body[strings.Index(home.body, "<main"):])
	}
	fields := home.formFields()
	fields.Set("code", codeFor(t, secret, time.Now().Add(30*time.Second)))
	fields.Set("remember", "1")
	home.post(e.issuer+"/mfa/verify", fields)
	r.exchange(home.code(f), f)

	// A later sign-in on the same browser (its SSO session gone) from the same address: no code.
	again := func(b *browser) (string, []string) {
		t.Helper()
		e.st.ExecRaw(e.ctx, "UPDATE sessions SET revoked_at = 1")
		start, f := r.authURL()
		b.get(start)
		b.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if b.last == nil {
			return "asked", nil
		}
		_, idt := r.exchange(b.code(f), f)
		c := claims(t, idt)
		return c["acr"].(string), toStrings(c["amr"])
	}
	acr, amr := again(home)
	if acr != "urn:tessera:acr:mfa" || !slices.Contains(amr, "rmd") || slices.Contains(amr, "otp") {
		t.Fatalf("remembered device: acr %s amr %v; want mfa with rmd and no otp", acr, amr)
	}
	// Another address asks again.
	away := newBrowser(t).from("203.0.113.99")
	away.c.Jar = jar
	if got, _ := again(away); got != "asked" {
		t.Error("a new network skipped the code")
	}
	// Eight days later it asks again.
	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	e.st.SetClock(later)
	e.node.Login.SetClock(later)
	defer e.st.SetClock(time.Now)
	if got, _ := again(home); got != "asked" {
		t.Error("the remembered device outlived 7 days")
	}
}
