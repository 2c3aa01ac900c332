package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// chromiumAAGUID is the authenticator model Chromium's virtual CTAP2 authenticator reports.
const chromiumAAGUID = "01020304-0506-0708-0102-030405060708"

// accountWithCode signs in to the account console with the password and the app's code and
// waits for the passkey section.
func accountWithCode(t *testing.T, ctx context.Context, e *env, email, code string) {
	t.Helper()
	step(t, ctx, "sign in to the account page",
		chromedp.Navigate(e.issuer+"/account"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		chromedp.SendKeys(`#code`, code+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-name`, chromedp.ByQuery),
	)
}

// addPasskey names and creates a passkey on the account page and returns what the page then
// says: the notice when it was added, or the problem beside the passkey form.
func addPasskey(t *testing.T, ctx context.Context, e *env, name string) (notice, problem string) {
	t.Helper()
	var said string
	step(t, ctx, "add a passkey named "+name,
		chromedp.Navigate(e.issuer+"/account/security"),
		chromedp.WaitVisible(`#passkey-name`, chromedp.ByQuery),
		setValue(`#passkey-name`, ""),
		chromedp.SendKeys(`#passkey-name`, name+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-create`, chromedp.ByQuery),
		chromedp.Click(`#passkey-create`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice, #passkey-problem`, chromedp.ByQuery),
		chromedp.Evaluate(`(document.querySelector('#passkey-problem') ? 'problem:' + document.querySelector('#passkey-problem').innerText : 'notice:' + document.querySelector('.notice').innerText)`, &said),
	)
	if p, ok := strings.CutPrefix(said, "problem:"); ok {
		return "", p
	}
	return strings.TrimPrefix(said, "notice:"), ""
}

// virtualAuthenticatorID is virtualAuthenticator that also returns the authenticator's id.
func virtualAuthenticatorID(t *testing.T, ctx context.Context) cdpwebauthn.AuthenticatorID {
	t.Helper()
	var id cdpwebauthn.AuthenticatorID
	step(t, ctx, "add a virtual authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := cdpwebauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		var err error
		id, err = cdpwebauthn.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	}))
	return id
}

// forgetRefused empties the virtual authenticator: a refused registration leaves on it a
// credential the server never stored, which the passkey autofill could otherwise offer.
func forgetRefused(t *testing.T, ctx context.Context, id cdpwebauthn.AuthenticatorID) {
	t.Helper()
	step(t, ctx, "clear the authenticator", cdpwebauthn.ClearCredentials(id))
}

// TestBrowserPasskeyAttestation: a tenant that requires attestation for providers and allows
// only listed authenticator models refuses a provider's passkey from an unlisted model with a
// plain message (audited, nothing stored); with Chromium's model listed its attested passkey is
// accepted; with attestation not required the same authenticator is accepted without any. The
// stored passkey keeps the model (AAGUID) and the attestation type, and what the authenticator
// proved decides the acr of a sign-in with it (phrh only for verified, non-self attestation of a
// device-bound authenticator).
func TestBrowserPasskeyAttestation(t *testing.T) {
	ctx := newChrome(t, 800, 900)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, onLocalhost)
	authenticator := virtualAuthenticatorID(t, ctx)
	u := e.user("doc@example.org", "correct horse battery")
	if err := e.st.ExecRaw(e.ctx, "UPDATE users SET role = 'provider' WHERE id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	secret := enrollDirect(t, e, u)
	// The code enrolment accepted is spent; the sign-in below uses the same step's code.
	if err := e.st.ExecRaw(e.ctx, "UPDATE factors SET last_step = 0 WHERE user_id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	policy := func(attestation, aaguids string) {
		t.Helper()
		e.tenant.ProviderPasskeyAttestation, e.tenant.ProviderPasskeyAAGUIDs = attestation, aaguids
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
	}
	refusals := func() int {
		evs, err := e.st.AuditEvents(e.ctx, e.tenant.ID, u.ID, 200)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Event == "passkey.registered" && ev.Result == "refused" {
				n++
			}
		}
		return n
	}
	stored := func() []store.Passkey {
		pks, err := e.st.Passkeys(e.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return pks
	}

	// Required, and only a model that is not Chromium's: refused, in plain words.
	policy(store.AttestationRequired, "cb69481e-8ff7-4039-93ec-0a2729a154a8")
	accountWithCode(t, ctx, e, "doc@example.org", codeFor(t, secret, time.Now()))
	notice, problem := addPasskey(t, ctx, e, "Desk key")
	if notice != "" || !strings.Contains(problem, "does not accept this kind of security key or device") {
		t.Fatalf("an unlisted model: notice %q, problem %q", notice, problem)
	}
	if strings.Contains(problem, "Error") || strings.Contains(problem, "attestation") || strings.Contains(problem, "AAGUID") {
		t.Errorf("the message is not in plain words: %q", problem)
	}
	if len(stored()) != 0 || refusals() != 1 {
		t.Fatalf("after the refusal: %d stored, %d refusals audited", len(stored()), refusals())
	}
	t.Logf("refused with: %s", problem)
	forgetRefused(t, ctx, authenticator)

	// Required, with Chromium's model listed: accepted, because Chromium's virtual authenticator
	// answers "direct" with a packed attestation signed by an attestation certificate (not self
	// attestation), which go-webauthn verifies.
	policy(store.AttestationRequired, chromiumAAGUID)
	notice, problem = addPasskey(t, ctx, e, "Desk key")
	if notice == "" || problem != "" {
		t.Fatalf("Chromium's model listed: notice %q, problem %q", notice, problem)
	}
	if pk := stored()[0]; pk.AAGUID != chromiumAAGUID || pk.AttestationType != "basic_full" || !pk.Hardware {
		t.Errorf("the attested passkey is stored as aaguid %s, attestation %q, hardware %v", pk.AAGUID, pk.AttestationType, pk.Hardware)
	}

	// What a sign-in with it is worth: attested, device-bound hardware — hwk and phrh.
	id, sec := e.client(store.ClientWeb, nil)
	r := e.rp(id, sec)
	signIn := func(what, wantAMR, wantACR string) {
		t.Helper()
		step(t, ctx, "clear cookies", network.ClearBrowserCookies())
		authURL, f := r.authURL()
		arrived := watchRedirect(ctx)
		// Chromium's virtual authenticator answers the email field's passkey autofill at once.
		step(t, ctx, what, chromedp.Navigate(authURL))
		landed := awaitRedirect(t, ctx, arrived, what)
		_, idt := r.exchange(landed.Query().Get("code"), f)
		c := claims(t, idt)
		if amr := toStrings(c["amr"]); !slices.Equal(amr, []string{wantAMR, "user"}) || c["acr"] != wantACR {
			t.Errorf("%s: amr %v acr %v, want [%s user] %s", what, amr, c["acr"], wantAMR, wantACR)
		}
	}
	signIn("passwordless with the attested key", "hwk", "phrh")

	// Not required: an authenticator is accepted without any attestation asked, and a sign-in
	// with that passkey is worth phr (swk), never more.
	policy(store.AttestationNone, "")
	forgetRefused(t, ctx, authenticator) // a new credential (this one holds the Desk key already)
	// Still signed in with the Desk key: the account page opens at once.
	notice, problem = addPasskey(t, ctx, e, "Laptop")
	if notice == "" || problem != "" {
		t.Fatalf("attestation not required: notice %q, problem %q", notice, problem)
	}
	// Both keys may be added within the same second (created_at's resolution), so the new one is
	// found by its name, not by its place in the list.
	pks := stored()
	i := slices.IndexFunc(pks, func(pk store.Passkey) bool { return pk.Name == "Laptop" })
	if i < 0 || len(pks) != 2 {
		t.Fatalf("without attestation: %d passkeys stored, Laptop at %d", len(pks), i)
	}
	if last := pks[i]; last.AttestationType != "none" || last.Hardware {
		t.Errorf("without attestation: name %q attestation %q hardware %v", last.Name, last.AttestationType, last.Hardware)
	}
	signIn("passwordless with the unattested passkey", "swk", "phr")
}

// nextCode is the app's code now, with the last accepted step forgotten (each code is accepted
// once, and these tests sign in several times within one 30-second step).
func nextCode(t *testing.T, e *env, u *store.User, secret string) string {
	t.Helper()
	if err := e.st.ExecRaw(e.ctx, "UPDATE factors SET last_step = 0 WHERE user_id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	return codeFor(t, secret, time.Now())
}

// usedPasskey is the person's passkey used last.
func usedPasskey(t *testing.T, e *env, userID string) store.Passkey {
	t.Helper()
	pks, err := e.st.Passkeys(e.ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	var last store.Passkey
	for _, pk := range pks {
		if pk.LastUsedAt != nil && (last.LastUsedAt == nil || *pk.LastUsedAt >= *last.LastUsedAt) {
			last = pk
		}
	}
	if last.ID == "" {
		t.Fatal("no passkey was used")
	}
	return last
}

// TestBrowserPasskeyConfirm: on the account console's "Confirm it's you" a person with a passkey
// may use it instead of the app's code ("Use another method" → "Use a passkey"); the change then
// goes through, the confirmation is audited as a passkey, and it does not restart the 90-day
// passkey window (only a code or the app does).
func TestBrowserPasskeyConfirm(t *testing.T) {
	ctx := newChrome(t, 800, 900)
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, onLocalhost)
	virtualAuthenticatorID(t, ctx)
	u := e.user("pat@example.org", "correct horse battery")
	secret := enrollDirect(t, e, u)
	accountWithCode(t, ctx, e, "pat@example.org", nextCode(t, e, u, secret))
	if notice, problem := addPasskey(t, ctx, e, "My laptop"); notice == "" {
		t.Fatalf("adding the passkey: %q", problem)
	}
	factors, err := e.st.ActiveFactors(e.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var appID string
	for _, f := range factors {
		if f.Kind == "totp" {
			appID = f.ID
		}
	}
	// Eleven minutes later (the session's second factor is no longer fresh), remove the app.
	if err := e.st.ExecRaw(e.ctx, "UPDATE sessions SET mfa_at = mfa_at - 660 WHERE user_id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ExecRaw(e.ctx, "UPDATE users SET last_other_mfa_at = last_other_mfa_at - 660 WHERE id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	before, err := e.st.UserByID(e.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var title, list string
	step(t, ctx, "remove the app: Confirm it's you asks for its code",
		chromedp.Navigate(e.issuer+"/account/security"),
		chromedp.Click(`form[action="/account/remove"] button[aria-describedby="f-`+appID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		chromedp.Text(`h1`, &title, chromedp.ByQuery),
	)
	if title != "Confirm it's you" {
		t.Fatalf("the page after Remove is %q", title)
	}
	step(t, ctx, "use the passkey instead",
		chromedp.Click(`details summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[name="use"][value="passkey"]`, chromedp.ByQuery),
		chromedp.Click(`button[name="use"][value="passkey"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#passkey-use`, chromedp.ByQuery),
		chromedp.Text(`h1`, &title, chromedp.ByQuery),
		chromedp.Click(`#passkey-use`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.factors`, &list, chromedp.ByQuery),
	)
	if title != "Confirm it's you" {
		t.Errorf("the passkey's confirm page is %q", title)
	}
	if strings.Contains(strings.ToLower(list), "authenticator app") || !strings.Contains(list, "My laptop") {
		t.Errorf("after confirming with the passkey the list is %q", list)
	}
	if fs, _ := e.st.ActiveFactors(e.ctx, u.ID); slices.ContainsFunc(fs, func(f store.Factor) bool { return f.ID == appID }) {
		t.Error("the app was not removed")
	}
	evs, err := e.st.AuditEvents(e.ctx, e.tenant.ID, u.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(ev store.AuditEvent) bool {
		return ev.Event == "account.confirm" && ev.Result == "ok" && ev.Detail == "passkey"
	}) || !slices.ContainsFunc(evs, func(ev store.AuditEvent) bool {
		return ev.Event == "passkey.used" && ev.Result == "ok" && strings.HasPrefix(ev.Detail, "confirm ")
	}) {
		t.Error("the confirmation with the passkey is not audited")
	}
	after, err := e.st.UserByID(e.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if before.LastOtherMFAAt == nil || after.LastOtherMFAAt == nil || *after.LastOtherMFAAt != *before.LastOtherMFAAt {
		t.Errorf("a passkey confirmation moved the last other MFA: %v → %v", before.LastOtherMFAAt, after.LastOtherMFAAt)
	}
}
