package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// Browser tests of the admin console: an administrator with an authenticator app signs in
// through the Admin client in Chromium, filters the Security Status list, unlocks a provider
// after "Confirm it's you", and resets another's two-step sign-in — keyboard and forms only.

// adminInBrowser creates an administrator with an app on e's tenant, whose app clock the caller
// moves (clock), and signs them in to /admin in the tab.
func adminInBrowser(t *testing.T, ctx context.Context, e *env, email string, clock *atomic.Int64) string {
	t.Helper()
	e.node.Login.TOTP.SetClock(func() time.Time { return time.Unix(clock.Load(), 0) })
	u := e.user(email, "correct horse battery")
	if err := e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'admin' WHERE id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	en, err := e.node.Login.TOTP.Begin(e.ctx, u, e.tenant.Name)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := otp.NewKeyFromURL(en.URL)
	f, _ := e.st.FactorByID(e.ctx, u.ID, en.FactorID)
	if err := e.node.Login.TOTP.Confirm(e.ctx, f, codeFor(t, k.Secret(), time.Unix(clock.Load(), 0))); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "open the admin console", chromedp.Navigate(e.issuer+"/admin/members"), chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		setValue(`#email`, email), setValue(`#password`, ""),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery))
	step(t, ctx, "the app's code", setValue(`#code`, codeFor(t, k.Secret(), time.Unix(clock.Add(30), 0))),
		chromedp.Submit(`#code`, chromedp.ByQuery), chromedp.WaitVisible(`#f-status`, chromedp.ByQuery))
	return k.Secret()
}

func TestBrowserAdminConsole(t *testing.T) {
	ctx := newChrome(t, 1024, 900)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	doc := e.user("dr.lee@example.org", "correct horse battery")
	nurse := e.user("nurse@example.org", "correct horse battery")
	enrollDirect(t, e, nurse)
	e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'provider', locked_at = 100, mfa_failures = 7 WHERE id = ?", doc.ID)
	e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'staff' WHERE id = ?", nurse.ID)
	secret := adminInBrowser(t, ctx, e, "admin@example.org", &clock)

	// Security Status: the whole list, then only the locked.
	var table string
	step(t, ctx, "read the list", chromedp.Text(`table`, &table, chromedp.ByQuery))
	for _, want := range []string{"dr.lee@example.org", "nurse@example.org", "Locked", "authenticator app", "Not enrolled"} {
		if !strings.Contains(table, want) {
			t.Errorf("the Security Status list lacks %q: %s", want, table)
		}
	}
	step(t, ctx, "filter: locked", chromedp.SetValue(`#f-status`, "locked", chromedp.ByQuery),
		chromedp.Submit(`#f-status`, chromedp.ByQuery), chromedp.WaitVisible(`table`, chromedp.ByQuery),
		chromedp.Text(`table tbody`, &table, chromedp.ByQuery))
	if !strings.Contains(table, "dr.lee@example.org") || strings.Contains(table, "nurse@example.org") {
		t.Fatalf("locked filter shows: %s", table)
	}

	// Unlock, with "Confirm it's you" because the last second factor is an hour old.
	e.st.ExecRaw(e.ctx, "UPDATE sessions SET mfa_at = mfa_at - 3600 WHERE mfa_at IS NOT NULL")
	step(t, ctx, "open the provider", chromedp.Click(`table tbody a`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action$="/unlock"] button`, chromedp.ByQuery))
	step(t, ctx, "unlock", chromedp.Click(`form[action$="/unlock"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/admin/confirm"] #code`, chromedp.ByQuery))
	step(t, ctx, "confirm it's you", setValue(`#code`, codeFor(t, secret, time.Unix(clock.Add(30), 0))),
		chromedp.Submit(`#code`, chromedp.ByQuery), chromedp.WaitVisible(`.notice`, chromedp.ByQuery))
	var notice string
	step(t, ctx, "read the notice", chromedp.Text(`.notice`, &notice, chromedp.ByQuery))
	if !strings.Contains(notice, "unlocked") {
		t.Fatalf("after unlocking: %q", notice)
	}
	if u, _ := e.st.UserByID(e.ctx, doc.ID); u.LockedAt != nil {
		t.Fatal("the provider is still locked")
	}

	// Reset the nurse's MFA (the confirmation is fresh now).
	step(t, ctx, "open the nurse", chromedp.Navigate(e.issuer+"/admin/members?role=staff"),
		chromedp.WaitVisible(`table tbody a`, chromedp.ByQuery), chromedp.Click(`table tbody a`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action$="/reset-mfa"] button`, chromedp.ByQuery))
	step(t, ctx, "reset MFA", chromedp.Click(`form[action$="/reset-mfa"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery), chromedp.Text(`.notice`, &notice, chromedp.ByQuery))
	if !strings.Contains(notice, "reset") {
		t.Fatalf("after the reset: %q", notice)
	}
	if fs, _ := e.st.ActiveFactors(e.ctx, nurse.ID); len(fs) != 0 {
		t.Fatalf("the nurse keeps factors: %v", fs)
	}
	var facts string
	step(t, ctx, "the nurse's status", chromedp.Text(`dl.facts`, &facts, chromedp.ByQuery))
	if !strings.Contains(facts, "Not enrolled") {
		t.Fatalf("status after the reset: %s", facts)
	}
	if outboxCount(e, "email", "nurse@example.org") != 1 {
		t.Fatal("the nurse was not told")
	}
}

// adminAxePages walks the admin console's pages for axe (called from axeWalk): the Security
// Status list, a member with every action, the invite form with its error, the policy, the
// practices, the applications and one application, a new secret, the caregiver grants with the
// create form's error, the audit trail, and "Confirm
// it's you" for an administrator.
func adminAxePages(t *testing.T, ctx context.Context, e *env, lang string, check func(string)) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	step(t, ctx, "a fresh browser state", network.ClearBrowserCookies(),
		chromedp.Navigate(e.issuer+"/logged-out?lang="+lang), chromedp.WaitVisible("h1", chromedp.ByQuery))
	adminInBrowser(t, ctx, e, "admin."+lang+"@example.org", &clock)
	locked, _ := e.st.UserByEmail(e.ctx, e.tenant.ID, "locked@example.org")
	e.st.CreatePractice(e.ctx, &store.Practice{TenantID: e.tenant.ID, Name: "Riverside North " + lang})
	svc, _ := e.client(store.ClientService, func(c *store.Client) { c.Name = "HR sync"; c.Scopes = store.StringList{store.ScopeAdminRead} })
	nav := func(what, path, wait string) {
		t.Helper()
		step(t, ctx, what, chromedp.Navigate(e.issuer+path), chromedp.WaitVisible(wait, chromedp.ByQuery))
	}
	nav("members", "/admin/members", "table")
	check("admin: team members")
	nav("a member", "/admin/members/"+locked.ID, `form[action$="/unlock"]`)
	check("admin: member")
	nav("invite", "/admin/members/new", "#f-email")
	step(t, ctx, "invite without an email", chromedp.Submit(`#f-email`, chromedp.ByQuery), chromedp.WaitVisible(`#f-email-error`, chromedp.ByQuery))
	check("admin: invite, error")
	nav("policy", "/admin/policy", "#f-mfa")
	check("admin: policy")
	nav("practices", "/admin/practices", "#f-new-name")
	check("admin: practices")
	nav("clients", "/admin/clients", "#f-name")
	check("admin: applications")
	nav("a client", "/admin/clients/"+svc, `form[action$="/rotate"]`)
	check("admin: application")
	step(t, ctx, "rotate its secret", chromedp.Click(`form[action$="/rotate"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#client-secret`, chromedp.ByQuery))
	check("admin: new secret")
	kid, carer := e.user("kid."+lang+"@example.org", "correct horse battery"), e.user("carer."+lang+"@example.org", "correct horse battery")
	exp := time.Now().Add(30 * 24 * time.Hour).Unix()
	e.st.CreateProxyGrant(e.ctx, &store.ProxyGrant{TenantID: e.tenant.ID, PatientID: kid.ID, CaregiverID: carer.ID, Access: store.ProxyLimited,
		ScopeSet: "limited", ExpiresAt: &exp, Reason: "parent of a minor", CreatedBy: "cli"})
	nav("caregivers", "/admin/caregivers", "table")
	check("admin: caregivers")
	step(t, ctx, "give access without a patient", chromedp.Submit(`#f-patient-email`, chromedp.ByQuery),
		chromedp.WaitVisible(`#f-patient-email-error`, chromedp.ByQuery))
	check("admin: caregivers, error")
	nav("audit", "/admin/audit?event=client.", "table")
	check("admin: audit trail")
	e.st.ExecRaw(e.ctx, "UPDATE sessions SET mfa_at = mfa_at - 3600 WHERE mfa_at IS NOT NULL")
	nav("a member again", "/admin/members/"+locked.ID, `form[action$="/unlock"]`)
	step(t, ctx, "unlock, stale", chromedp.Click(`form[action$="/unlock"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`form[action="/admin/confirm"] #code`, chromedp.ByQuery))
	check("admin: confirm it's you")
}
