package server_test

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// The tenant's login policy end to end: remember-device settings read per tenant, forgetting
// devices on the account page, and patients turning MFA off.

const firefoxUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"

// policyEnv is a dev-mode node behind a trusted proxy (browsers can come from any address) whose
// authenticator clock the test moves.
func policyEnv(t *testing.T, b storetest.Backend) *devEnv {
	t.Helper()
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	e := &devEnv{env: newEnv(t, b, func(o *server.Options) {
		o.Dev = true
		o.TrustedProxies = []*net.IPNet{loopback}
	})}
	e.clock.Store(time.Now().Unix())
	e.node.Login.TOTP.SetClock(func() time.Time { return time.Unix(e.clock.Load(), 0) })
	return e
}

// setTenant changes the tenant's policy the way `tessera tenant update` does.
func (e *env) setTenant(t *testing.T, mod func(*store.Tenant)) {
	t.Helper()
	tn, err := e.st.TenantByID(e.ctx, e.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	mod(tn)
	if err := e.st.UpdateTenant(e.ctx, tn); err != nil {
		t.Fatal(err)
	}
	e.tenant = tn
}

// as makes the browser come from ip (through the trusted proxy) with a user agent.
func (b *browser) as(ip, ua string) *browser {
	b.c.Transport = ipUATransport{ip: ip, ua: ua}
	return b
}

type ipUATransport struct{ ip, ua string }

func (x ipUATransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.ip)
	if x.ua != "" {
		r.Header.Set("User-Agent", x.ua)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// sharing gives b the cookie jar of another browser: the same device seen from elsewhere.
func (b *browser) sharing(other *browser) *browser {
	b.c.Jar = other.c.Jar
	return b
}

// freshSignIn ends every browser session (so the device cookie is all that is left of earlier
// sign-ins), starts a sign-in at the RP and gives the password. It reports whether the code was
// asked; when it was not, the browser is back at the RP with a code for f.
func (e *devEnv) freshSignIn(t *testing.T, r *rp, b *browser, email string) (asked bool, f flow) {
	t.Helper()
	if err := e.st.ExecRaw(e.ctx, "UPDATE sessions SET revoked_at = 1 WHERE revoked_at IS NULL"); err != nil {
		t.Fatal(err)
	}
	start, f := r.authURL()
	b.get(start)
	b.submitLogin(e.issuer, email, "correct horse battery")
	if b.last != nil {
		return false, f
	}
	if !strings.Contains(b.body, `action="/mfa/verify"`) {
		t.Fatalf("neither the code page nor the application: %d %.400s", b.status, b.body)
	}
	return true, f
}

// answer enters the app's code on the code page, ticking "Don't ask …" when remember is set.
func (e *devEnv) answer(t *testing.T, b *browser, secret string, remember bool) {
	t.Helper()
	fields := b.formFields()
	fields.Set("code", e.appCode(t, secret))
	if remember {
		fields.Set("remember", "1")
	}
	b.post(e.issuer+"/mfa/verify", fields)
}

// skipped signs in again and checks that the remembered device answered for the code: acr mfa,
// amr with rmd and without otp.
func (e *devEnv) skipped(t *testing.T, r *rp, b *browser, email, why string) {
	t.Helper()
	asked, f := e.freshSignIn(t, r, b, email)
	if asked {
		t.Fatalf("%s: the code was asked", why)
	}
	_, idt := r.exchange(b.code(f), f)
	c := claims(t, idt)
	amr := toStrings(c["amr"])
	if c["acr"] != "urn:tessera:acr:mfa" || !slices.Contains(amr, "rmd") || slices.Contains(amr, "otp") {
		t.Fatalf("%s: acr %v amr %v; want mfa with rmd and no otp", why, c["acr"], amr)
	}
}

func (e *devEnv) mustAsk(t *testing.T, r *rp, b *browser, email, why string) {
	t.Helper()
	if asked, _ := e.freshSignIn(t, r, b, email); !asked {
		t.Fatalf("%s: the code was not asked", why)
	}
}

func (e *devEnv) setClock(at time.Time) {
	now := func() time.Time { return at }
	e.st.SetClock(now)
	e.node.Login.SetClock(now)
}

func (e *devEnv) realClock() {
	e.st.SetClock(time.Now)
	e.node.Login.SetClock(time.Now)
}

// auditCount counts a person's audit events by event, result and (when not "") detail.
func (e *env) auditCount(t *testing.T, userID, event, result, detail string) int {
	t.Helper()
	es, err := e.st.AuditEvents(e.ctx, e.tenant.ID, userID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range es {
		if ev.Event == event && ev.Result == result && (detail == "" || ev.Detail == detail) {
			n++
		}
	}
	return n
}

// TestRememberDeviceTenantPolicy: the tenant's network granularity (prefix: the same /24 skips
// the code, another asks), whether a remembered device counts (off: the code is asked, and the
// checkbox is gone), and its length (day 7 minus a minute skips, day 7 plus a minute asks).
func TestRememberDeviceTenantPolicy(t *testing.T) {
	e := policyEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	e.setTenant(t, func(tn *store.Tenant) { tn.RememberDeviceNetwork = store.NetworkPrefix })
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec)
	_, secret := e.appUser(t, "pat@example.org")

	jar, _ := cookiejar.New(nil)
	home := newBrowser(t).from("198.51.100.7")
	home.c.Jar = jar
	if asked, _ := e.freshSignIn(t, r, home, "pat@example.org"); !asked || !strings.Contains(home.body, "on this device for 7 days") {
		t.Fatalf("no remember-device checkbox: %.300s", home.body)
	}
	remembered := time.Now()
	e.answer(t, home, secret, true)
	if home.last == nil {
		t.Fatalf("not back at the application: %d", home.status)
	}

	e.skipped(t, r, home, "pat@example.org", "same address")
	e.skipped(t, r, newBrowser(t).from("198.51.100.200").sharing(home), "pat@example.org", "same /24 with network=prefix")
	e.mustAsk(t, r, newBrowser(t).from("198.51.101.7").sharing(home), "pat@example.org", "another /24")
	e.mustAsk(t, r, newBrowser(t).from("198.51.100.7"), "pat@example.org", "the same address without the device cookie")

	// The tenant says a remembered device does not count: the code is asked, with no checkbox.
	e.setTenant(t, func(tn *store.Tenant) { off := false; tn.RememberDeviceMFA = &off })
	e.mustAsk(t, r, home, "pat@example.org", "remember_device_mfa off")
	if strings.Contains(home.body, `id="remember"`) {
		t.Error("the checkbox is offered although a remembered device would not count")
	}
	e.setTenant(t, func(tn *store.Tenant) { on := true; tn.RememberDeviceMFA = &on })
	e.skipped(t, r, home, "pat@example.org", "remember_device_mfa on again")

	// Seven days: a minute before, the device still answers; a minute after, it does not.
	defer e.realClock()
	e.setClock(remembered.Add(7*24*time.Hour - time.Minute))
	if asked, _ := e.freshSignIn(t, r, home, "pat@example.org"); asked {
		t.Error("the device stopped working before 7 days")
	}
	e.setClock(remembered.Add(7*24*time.Hour + time.Minute))
	e.mustAsk(t, r, home, "pat@example.org", "7 days and a minute later")
}

// TestRememberDeviceDays: the checkbox shows the tenant's number of days; at 0 it is gone, and
// posting remember=1 anyway stores nothing.
func TestRememberDeviceDays(t *testing.T) {
	e := policyEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec)
	u, secret := e.appUser(t, "pat@example.org")
	br := newBrowser(t).from("198.51.100.7")

	e.setTenant(t, func(tn *store.Tenant) { d := 30; tn.RememberDeviceDays = &d })
	e.freshSignIn(t, r, br, "pat@example.org")
	if !strings.Contains(br.body, "on this device for 30 days") {
		t.Fatalf("the checkbox does not say the tenant's 30 days: %.300s", br.body)
	}
	e.setTenant(t, func(tn *store.Tenant) { d := 0; tn.RememberDeviceDays = &d })
	e.freshSignIn(t, r, br, "pat@example.org")
	if strings.Contains(br.body, `id="remember"`) || strings.Contains(br.body, "on this device for") {
		t.Fatal("the checkbox is shown with remember_device_days=0")
	}
	e.answer(t, br, secret, true)
	if br.last == nil {
		t.Fatalf("sign-in did not finish: %d", br.status)
	}
	if ds, err := e.st.RememberedDevices(e.ctx, u.ID); err != nil || len(ds) != 0 {
		t.Fatalf("remember=1 with days=0 stored %d devices (%v)", len(ds), err)
	}
	if e.auditCount(t, u.ID, "device.remembered", "ok", "") != 0 {
		t.Error("a device was remembered")
	}
	e.mustAsk(t, r, br, "pat@example.org", "days=0")
}

// TestForgetDevices: the account page lists remembered devices; "Forget this device" (with the
// page's CSRF token only) ends that device's skip at once, "Forget all devices" every one; both
// are audited.
func TestForgetDevices(t *testing.T) {
	e := policyEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec)
	u, secret := e.appUser(t, "pat@example.org")
	remember := func(ip string) *browser {
		t.Helper()
		b := newBrowser(t).as(ip, firefoxUA)
		if asked, _ := e.freshSignIn(t, r, b, "pat@example.org"); !asked {
			t.Fatal("a new browser was not asked for the code")
		}
		e.answer(t, b, secret, true)
		return b
	}
	home, work := remember("198.51.100.7"), remember("203.0.113.9")

	// The account page, opened on the remembered home browser (its session ended by the sign-in
	// at work): the password, and no code.
	home.get(e.issuer + "/account/security")
	home.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if home.status != 200 || !strings.Contains(home.body, "<h1>Account security</h1>") {
		t.Fatalf("account page: %d %.300s", home.status, home.body)
	}
	today := time.Now().UTC().Format("2006-01-02")
	for _, want := range []string{"Devices that skip the code", "Firefox on Windows", "This device", "Network: 198.51.100.7",
		"Network: 203.0.113.9", "Remembered on " + today, "Asks for a code again after " + time.Now().Add(7*24*time.Hour).UTC().Format("2006-01-02"),
		"Forget this device", "Forget all devices"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("the device list does not say %q", want)
		}
	}
	ds, _ := e.st.RememberedDevices(e.ctx, u.ID)
	var workID string
	for _, d := range ds {
		if d.Network == "203.0.113.9" {
			workID = d.ID
		}
	}

	// Without the CSRF token: refused, nothing forgotten.
	home.post(e.issuer+"/account/devices/forget", url.Values{"deviceID": {workID}})
	if home.status != 403 {
		t.Errorf("forget without CSRF: %d", home.status)
	}
	if ds, _ := e.st.RememberedDevices(e.ctx, u.ID); len(ds) != 2 {
		t.Fatalf("a refused form forgot a device: %d left", len(ds))
	}
	// Another person's id (or a made-up one) is not found.
	home.get(e.issuer + "/account/security")
	e.act(home, "/account/devices/forget", url.Values{"deviceID": {"made-up"}})
	if home.status != 400 || !strings.Contains(home.body, "That device was not found") {
		t.Errorf("forget a made-up device: %d", home.status)
	}

	// Forget the work browser from home: its cookie stops skipping the code at once.
	e.act(home, "/account/devices/forget", url.Values{"deviceID": {workID}})
	if home.status != 200 || !strings.Contains(home.body, "The device was forgotten") {
		t.Fatalf("forget: %d %.300s", home.status, home.body)
	}
	if e.auditCount(t, u.ID, "device.forgotten", "ok", workID) != 1 {
		t.Error("forgetting a device is not audited")
	}
	e.mustAsk(t, r, work, "pat@example.org", "a forgotten device")
	e.skipped(t, r, home, "pat@example.org", "the device that was not forgotten")

	// Forget all, from the home browser itself: the home device asks again too.
	home.get(e.issuer + "/account/security")
	e.act(home, "/account/devices/forget-all", nil)
	if e.auditCount(t, u.ID, "device.forgotten", "ok", "all") != 1 {
		t.Error("forget all is not audited")
	}
	// The console's own session rested on the device, so the page now asks for the code.
	if !strings.Contains(home.body, `action="/mfa/verify"`) {
		t.Errorf("after forget all, the account page did not ask for the code: %d %.300s", home.status, home.body)
	}
	if ds, _ := e.st.RememberedDevices(e.ctx, u.ID); len(ds) != 0 {
		t.Errorf("%d devices left after forget all", len(ds))
	}
	e.mustAsk(t, r, home, "pat@example.org", "after forget all")
}

// TestPatientDisablesMFA: "Turn off two-step sign-in" is offered only to a patient of a tenant
// that allows it with MFA optional; it asks for the password (throttled like the sign-in), then
// removes every factor, backup code and remembered device, audits and emails, and the next
// sign-in is the password alone: amr [pwd], acr 1fa. Never for a provider, never when required.
func TestPatientDisablesMFA(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := policyEnv(t, b)
		id, sec := e.client(store.ClientWeb, nil)
		r := e.rp(id, sec)
		// Everyone enrolls first: enrollDirect uses the current step of the app's clock.
		u, secret := e.appUser(t, "pat@example.org")
		p, pSecret := e.appUser(t, "dr@example.org")
		e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'provider' WHERE id = ?", p.ID)
		q, qSecret := e.appUser(t, "quinn@example.org")
		const offButton = "Turn off two-step sign-in"

		br := newBrowser(t).as("198.51.100.7", firefoxUA)
		// A remembered device that must go with the factors.
		e.freshSignIn(t, r, br, "pat@example.org")
		e.answer(t, br, secret, true)
		if _, err := e.node.Login.Backup.Generate(e.ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		br.get(e.issuer + "/account/security")
		if br.status != 200 || strings.Contains(br.body, offButton) {
			t.Fatalf("offered although the tenant does not allow it: %d", br.status)
		}
		e.act(br, "/account/mfa-off", url.Values{"password": {"correct horse battery"}})
		if br.status != 403 || e.auditCount(t, u.ID, "mfa.disabled", "refused", "") != 1 {
			t.Fatalf("turned off although the tenant does not allow it: %d", br.status)
		}

		e.setTenant(t, func(tn *store.Tenant) { tn.PatientsMayDisableMFA = true })
		br.get(e.issuer + "/account/security")
		if !strings.Contains(br.body, offButton) || !strings.Contains(br.body, `id="pw-mfaoff"`) {
			t.Fatalf("not offered to a patient where the tenant allows it: %.300s", br.body)
		}
		// Wrong passwords change nothing and are slowed like the sign-in's.
		for i := range 6 {
			e.act(br, "/account/mfa-off", url.Values{"password": {"wrong horse"}})
			if br.status != 401 || !strings.Contains(br.body, "That password is not right") {
				t.Fatalf("wrong password %d: %d", i+1, br.status)
			}
		}
		e.act(br, "/account/mfa-off", url.Values{"password": {"correct horse battery"}})
		if br.status != 429 || !strings.Contains(br.body, "Too many tries") {
			t.Fatalf("password guessing is not slowed: %d", br.status)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); len(fs) != 1 {
			t.Fatalf("a refused attempt changed the factors: %d", len(fs))
		}
		e.st.ExecRaw(e.ctx, "DELETE FROM login_throttle")

		e.act(br, "/account/mfa-off", url.Values{"password": {"correct horse battery"}})
		if br.status != 200 || !strings.Contains(br.body, "Two-step sign-in is off") {
			t.Fatalf("turn off: %d %.300s", br.status, br.body)
		}
		fs, _ := e.st.ActiveFactors(e.ctx, u.ID)
		left, _ := e.st.BackupCodesLeft(e.ctx, u.ID)
		ds, _ := e.st.RememberedDevices(e.ctx, u.ID)
		if len(fs) != 0 || left != 0 || len(ds) != 0 {
			t.Fatalf("left behind: %d factors, %d backup codes, %d devices", len(fs), left, len(ds))
		}
		if e.auditCount(t, u.ID, "mfa.disabled", "ok", "") != 1 {
			t.Error("turning MFA off is not audited")
		}
		if !outboxHas(e.env, "pat@example.org", "Two-step sign-in was turned off") {
			t.Error("no email notice")
		}

		// The next sign-in (new browser) is the password alone.
		nb := newBrowser(t)
		if asked, f := e.freshSignIn(t, r, nb, "pat@example.org"); asked {
			t.Fatal("the code was asked after MFA was turned off")
		} else {
			_, idt := r.exchange(nb.code(f), f)
			c := claims(t, idt)
			if c["acr"] != "urn:tessera:acr:1fa" || !slices.Equal(toStrings(c["amr"]), []string{"pwd"}) {
				t.Errorf("after turning MFA off: acr %v amr %v; want 1fa [pwd]", c["acr"], c["amr"])
			}
		}

		// Never for a provider.
		pb := newBrowser(t)
		e.accountSignIn(t, pb, "dr@example.org", pSecret)
		if strings.Contains(pb.body, offButton) {
			t.Error("offered to a provider")
		}
		e.act(pb, "/account/mfa-off", url.Values{"password": {"correct horse battery"}})
		if pb.status != 403 {
			t.Errorf("a provider turned MFA off: %d", pb.status)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, p.ID); len(fs) != 1 {
			t.Error("a provider's factor went")
		}

		// Never once the tenant requires MFA (a patient with an app, signed in before the switch).
		qb := newBrowser(t)
		e.accountSignIn(t, qb, "quinn@example.org", qSecret)
		if !strings.Contains(qb.body, offButton) {
			t.Fatal("not offered before the switch")
		}
		e.setTenant(t, func(tn *store.Tenant) { tn.MFAMode = store.MFARequired })
		qb.get(e.issuer + "/account/security")
		if strings.Contains(qb.body, offButton) {
			t.Error("offered while the tenant requires MFA")
		}
		e.act(qb, "/account/mfa-off", url.Values{"password": {"correct horse battery"}})
		if qb.status != 403 {
			t.Errorf("turned off under required: %d", qb.status)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, q.ID); len(fs) != 1 {
			t.Error("the factor went under required")
		}
	})
}
