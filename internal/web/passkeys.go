package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/factor/passkey"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// Passkeys: registering one on the account page, using one as the second factor, and signing
// in with one alone. The browser's half is static/passkey.js: each page carries the WebAuthn
// options in a data attribute of a form (or, on the sign-in page, fetches them), the script
// asks the browser and posts the answer with the form, so every outcome is an ordinary page.
//
// A ceremony's challenge stays on the server (webauthn_ceremonies), bound to this browser by a
// random cookie kept there only as a keyed hash, and is used once.

const ceremonyCookie = "tessera_webauthn"

// passkeyRoutes registers the sign-in's passkey forms (the account's are in AccountRoutes).
func (l *Login) passkeyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /mfa/passkey", l.verifyPasskey)
	mux.HandleFunc("POST /login/passkey/begin", l.passwordlessBegin)
	mux.HandleFunc("POST /login/passkey", l.passwordless)
}

// beginCeremony keeps a ceremony's state for this browser and returns nothing else: the options
// go to the page.
func (l *Login) beginCeremony(w http.ResponseWriter, r *http.Request, c *store.WebAuthnCeremony, state []byte) error {
	value := randomValue()
	c.ID, c.Data = l.Ceremonies.Sum(value), string(state)
	if err := l.st.SaveCeremony(r.Context(), c, passkey.Timeout); err != nil {
		return err
	}
	l.cookies.Set(w, ceremonyCookie, value, passkey.Timeout)
	return nil
}

// takeCeremony returns (and spends) this browser's ceremony begun for purpose, or nil.
func (l *Login) takeCeremony(w http.ResponseWriter, r *http.Request, purpose string) *store.WebAuthnCeremony {
	v := l.cookies.Get(r, ceremonyCookie)
	if v == "" {
		return nil
	}
	l.cookies.Clear(w, ceremonyCookie)
	c, err := l.st.TakeCeremony(r.Context(), l.Ceremonies.Sum(v), purpose)
	if err != nil {
		return nil
	}
	return c
}

// passkeyProblem is the message for a failed finish, in plain words.
func passkeyProblem(err error) *i18n.Msg {
	switch {
	case errors.Is(err, passkey.ErrUnknown):
		return &i18n.Msg{ID: "passkey.unknown"}
	case errors.Is(err, passkey.ErrCloned):
		return &i18n.Msg{ID: "passkey.cloned"}
	default:
		return &i18n.Msg{ID: "passkey.failed"}
	}
}

// auditPasskey records a use of a passkey: ok, failed, or a suspected clone (with both counters).
func (l *Login) auditPasskey(r *http.Request, tenantID, userID, clientID, how string, use *passkey.Use, err error) {
	ev := &store.AuditEvent{TenantID: tenantID, Event: "passkey.used", Result: "ok", ActorID: userID, SubjectID: userID,
		ClientID: clientID, Detail: how}
	if use != nil {
		ev.Detail = how + " " + use.Passkey.ID
	}
	switch {
	case errors.Is(err, passkey.ErrCloned):
		ev.Event, ev.Result = "passkey.clone_suspected", "refused"
		ev.Detail = fmt.Sprintf("%s %s stored counter %d, presented %d", how, use.Passkey.ID, use.CounterFrom, use.CounterTo)
	case errors.Is(err, passkey.ErrUnknown):
		ev.Result, ev.Detail = "failed", how+" unknown credential"
	case err != nil:
		ev.Result = "failed"
	}
	l.audit.Record(r.Context(), ev)
}

// ---- the second factor ----

// passkeyChallenge adds the options of a new assertion for the person's passkeys to the
// challenge page's data.
func (l *Login) passkeyChallenge(w http.ResponseWriter, r *http.Request, lc *loginContext, data map[string]any) {
	opts, state, err := l.Passkeys.BeginLogin(r.Context(), lc.user)
	if err == nil {
		err = l.beginCeremony(w, r, &store.WebAuthnCeremony{Purpose: "mfa", UserID: lc.user.ID, AuthRequestID: lc.ar.GetID()}, state)
	}
	if err != nil {
		slog.ErrorContext(r.Context(), "passkey: begin", "err", err)
		data["Error"] = &i18n.Msg{ID: "passkey.failed_plain"}
		return
	}
	data["PasskeyOptions"] = string(opts)
}

// verifyPasskey checks the passkey answer on the challenge page.
func (l *Login) verifyPasskey(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	lc.channel, lc.purpose = policy.Passkey, "challenge"
	if l.Passkeys == nil || !l.mayUse(r, lc, policy.Passkey, "challenge") {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	response := r.PostForm.Get("credential")
	c := l.takeCeremony(w, r, "mfa")
	if response == "" {
		l.renderChallenge(w, r, lc, http.StatusBadRequest, &i18n.Msg{ID: "passkey.no_browser"})
		return
	}
	if c == nil || c.UserID != lc.user.ID || c.AuthRequestID != lc.ar.GetID() {
		l.renderChallenge(w, r, lc, http.StatusBadRequest, &i18n.Msg{ID: "passkey.timeout"})
		return
	}
	use, err := l.Passkeys.FinishLogin(ctx, []byte(c.Data), response, lc.user.ID)
	l.auditPasskey(r, lc.user.TenantID, lc.user.ID, lc.client.Row().ID, "mfa", use, err)
	switch {
	case err == nil:
		if err := l.st.MFASuccess(ctx, lc.user.ID); err != nil {
			slog.WarnContext(ctx, "mfa: reset count", "err", err)
		}
		l.addFactor(w, r, lc, use.AMR)
	case errors.Is(err, passkey.ErrFailed):
		// An answer that does not verify counts like a wrong code.
		l.wrongAnswer(w, r, lc, "mfa.passkey", &i18n.Msg{ID: "passkey.failed"})
	case errors.Is(err, passkey.ErrUnknown) || errors.Is(err, passkey.ErrCloned):
		l.renderChallenge(w, r, lc, http.StatusUnauthorized, passkeyProblem(err))
	default:
		slog.ErrorContext(ctx, "passkey: finish", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
	}
}

// ---- passwordless ----

// passwordlessBegin answers the sign-in page's script with the options of a discoverable
// assertion (JSON), for the sign-in in progress.
func (l *Login) passwordlessBegin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || l.Passkeys == nil || !l.cookies.CheckCSRF(r) {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ar, err := l.op.Storage().AuthRequest(r.Context(), r.PostForm.Get("authRequestID"))
	if err != nil || ar.Done() {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	opts, state, err := l.Passkeys.BeginLogin(r.Context(), nil)
	if err == nil {
		err = l.beginCeremony(w, r, &store.WebAuthnCeremony{Purpose: "login", AuthRequestID: ar.GetID()}, state)
	}
	if err != nil {
		slog.ErrorContext(r.Context(), "passkey: begin passwordless", "err", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(opts)
}

// passwordless signs a person in with a passkey alone. What it is worth — and whether another
// check is owed (the 90-day rule) — is authn.Next's decision, as after a password.
func (l *Login) passwordless(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return
	}
	if !l.cookies.CheckCSRF(r) || l.Passkeys == nil {
		l.renderForm(w, r, http.StatusForbidden, ar, c, "", &i18n.Msg{ID: "login.csrf"})
		return
	}
	ctx := r.Context()
	tenantID := c.Row().TenantID
	response := r.PostForm.Get("credential")
	cer := l.takeCeremony(w, r, "login")
	if cer == nil || cer.AuthRequestID != ar.GetID() || response == "" {
		l.renderForm(w, r, http.StatusBadRequest, ar, c, "", &i18n.Msg{ID: "passkey.timeout"})
		return
	}
	use, err := l.Passkeys.FinishLogin(ctx, []byte(cer.Data), response, "")
	var u *store.User
	if use != nil {
		if u, _ = l.st.UserByID(ctx, use.UserID); u != nil && u.TenantID != tenantID {
			// Another tenant's person: as unknown as a credential never registered.
			use, u, err = nil, nil, passkey.ErrUnknown
		}
	}
	subject := ""
	if u != nil {
		subject = u.ID
	}
	l.auditPasskey(r, tenantID, subject, c.Row().ID, "passwordless", use, err)
	if err != nil {
		if !errors.Is(err, passkey.ErrFailed) && !errors.Is(err, passkey.ErrUnknown) && !errors.Is(err, passkey.ErrCloned) {
			slog.ErrorContext(ctx, "passkey: finish passwordless", "err", err)
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		l.result("failed")
		l.renderForm(w, r, http.StatusUnauthorized, ar, c, "", passkeyProblem(err))
		return
	}
	if u == nil || u.Disabled {
		l.result("failed")
		l.renderForm(w, r, http.StatusUnauthorized, ar, c, "", &i18n.Msg{ID: "passkey.unknown"})
		return
	}
	if u.LockedAt != nil {
		l.result("locked")
		l.pages.Render(w, r, http.StatusForbidden, "error", map[string]any{"TitleID": "locked.title",
			"Message": &i18n.Msg{ID: "locked.body"}, "UILocales": ar.Params.UILocales, "UserLocale": u.Locale})
		return
	}
	se, err := l.startSession(w, r, u, use.AMR)
	if err == nil {
		err = l.st.SessionPassedMFA(ctx, se.ID)
	}
	if err != nil {
		slog.ErrorContext(ctx, "passkey: start session", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.finish(w, r, ar, se, "passkey")
}

// passkeyOffered reports whether the sign-in page offers "Sign in with a passkey".
func (l *Login) passkeyOffered() bool { return l.Passkeys != nil }

// ---- the account page ----

// passkeyName is the name a person gave a new passkey, or "" when it is missing or too long.
func passkeyName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || utf8.RuneCountInString(s) > passkey.MaxNameLength {
		return ""
	}
	return s
}

// accountPasskeyBegin shows the page that asks the browser to create a passkey with the name
// typed on the account page. It runs after the fresh check like every change.
func (l *Login) accountPasskeyBegin(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	if l.Passkeys == nil || !ac.role().Allows(policy.Passkey) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	name := passkeyName(r.PostForm.Get("name"))
	if name == "" {
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "passkey.name_missing",
			Data: map[string]any{"Max": passkey.MaxNameLength}}, "passkey")
		return
	}
	opts, state, err := l.Passkeys.BeginRegistration(r.Context(), ac.user, attestationWanted(ac))
	if err == nil {
		err = l.beginCeremony(w, r, &store.WebAuthnCeremony{Purpose: "register", UserID: ac.user.ID, Name: name}, state)
	}
	if err != nil {
		slog.ErrorContext(r.Context(), "account: begin passkey", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.pages.Render(w, r, http.StatusOK, "account_passkey", map[string]any{"TitleID": "passkey.add_title",
		"TenantName": ac.tenant.Name, "UserLocale": ac.user.Locale, "CSRF": l.cookies.CSRFToken(w, r),
		"Name": name, "PasskeyOptions": string(opts), "SwitchURL": ""})
}

// accountPasskeyFinish stores the passkey the browser created.
func (l *Login) accountPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	// The browser's answer carries the attestation statement (with a certificate chain when the
	// tenant asks for attestation): more than the console's other forms.
	ac, ok := l.accountFormMax(w, r, 64<<10)
	if !ok || !l.setupAllowed(w, r, ac) {
		return
	}
	ctx := r.Context()
	c := l.takeCeremony(w, r, "register")
	response := r.PostForm.Get("credential")
	if c == nil || c.UserID != ac.user.ID || l.Passkeys == nil {
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "passkey.timeout"}, "passkey")
		return
	}
	if response == "" {
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "passkey.no_browser"}, "passkey")
		return
	}
	pk, err := l.Passkeys.FinishRegistration(ctx, ac.user, []byte(c.Data), response, c.Name, attestationWanted(ac))
	if errors.Is(err, passkey.ErrNotAttested) || errors.Is(err, passkey.ErrModel) {
		// The tenant's rule for this role: said plainly, audited with what the device claimed.
		ev := l.accountEvent(ac, "passkey.registered", "refused by the tenant's attestation policy: "+attestationWords(pk))
		ev.Result = "refused"
		l.audit.Record(ctx, ev)
		msg := &i18n.Msg{ID: "passkey.not_attested"}
		if errors.Is(err, passkey.ErrModel) {
			msg = &i18n.Msg{ID: "passkey.model_not_allowed"}
		}
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, msg, "passkey")
		return
	}
	if err != nil {
		ev := l.accountEvent(ac, "passkey.registered", "")
		ev.Result = "failed"
		l.audit.Record(ctx, ev)
		if !errors.Is(err, passkey.ErrFailed) && !errors.Is(err, store.ErrConflict) {
			slog.ErrorContext(ctx, "account: finish passkey", "err", err)
		}
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "passkey.register_failed"}, "passkey")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "passkey.registered", pk.ID+" "+attestationWords(pk)))
	l.notifyUser(r, ac.user, ac.tenant, "factor", map[string]any{"Method": l.factorName(r, ac, policy.Passkey) + " (" + pk.Name + ")"})
	http.Redirect(w, r, "/account/security?done=passkey_added", http.StatusSeeOther)
}

func attestationWords(pk *store.Passkey) string {
	if pk.Hardware {
		return "attested hardware " + pk.AttestationType + " aaguid " + pk.AAGUID
	}
	return "attestation " + pk.AttestationType + " aaguid " + pk.AAGUID
}

// attestationWanted is what the tenant demands of a new passkey of this person (by role).
func attestationWanted(ac *accountContext) passkey.Attestation {
	required, aaguids := ac.tenant.PasskeyAttestation(ac.user.Role)
	return passkey.Attestation{Required: required, AAGUIDs: aaguids}
}

// ---- "Confirm it's you" on the account console ----

// confirmPasskeyOptions begins an assertion for the person's passkeys on the confirm page (the
// options go in data) and returns nil, or the problem to show when it could not be begun.
func (l *Login) confirmPasskeyOptions(w http.ResponseWriter, r *http.Request, ac *accountContext, data map[string]any) *i18n.Msg {
	if l.Passkeys == nil {
		return &i18n.Msg{ID: "passkey.failed_plain"}
	}
	opts, state, err := l.Passkeys.BeginLogin(r.Context(), ac.user)
	if err == nil {
		err = l.beginCeremony(w, r, &store.WebAuthnCeremony{Purpose: "confirm", UserID: ac.user.ID}, state)
	}
	if err != nil {
		slog.ErrorContext(r.Context(), "account: begin passkey confirm", "err", err)
		return &i18n.Msg{ID: "passkey.failed_plain"}
	}
	data["PasskeyOptions"] = string(opts)
	return nil
}

// confirmWithPasskey checks the passkey answer on "Confirm it's you". A passkey that does not
// verify counts like a wrong code; an unknown or cloned one is refused (and audited) without
// counting; a confirmation with a passkey does not restart the passkey window (only another
// factor does).
func (l *Login) confirmWithPasskey(w http.ResponseWriter, r *http.Request, ac *accountContext, then string) {
	ctx := r.Context()
	if l.Passkeys == nil || ac.usableOf(policy.Passkey) == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	response := r.PostForm.Get("credential")
	c := l.takeCeremony(w, r, "confirm")
	if response == "" {
		l.renderConfirm(w, r, ac, then, policy.Passkey, http.StatusBadRequest, nil, &i18n.Msg{ID: "passkey.no_browser"})
		return
	}
	if c == nil || c.UserID != ac.user.ID {
		l.renderConfirm(w, r, ac, then, policy.Passkey, http.StatusBadRequest, nil, &i18n.Msg{ID: "passkey.timeout"})
		return
	}
	use, err := l.Passkeys.FinishLogin(ctx, []byte(c.Data), response, ac.user.ID)
	l.auditPasskey(r, ac.tenant.ID, ac.user.ID, store.AccountClientID(ac.tenant.ID), "confirm", use, err)
	switch {
	case err == nil:
		l.confirmed(w, r, ac, then, policy.Passkey)
	case errors.Is(err, passkey.ErrFailed):
		l.confirmWrong(w, r, ac, then, policy.Passkey, &i18n.Msg{ID: "passkey.failed"})
	case errors.Is(err, passkey.ErrUnknown) || errors.Is(err, passkey.ErrCloned):
		l.renderConfirm(w, r, ac, then, policy.Passkey, http.StatusUnauthorized, nil, passkeyProblem(err))
	default:
		slog.ErrorContext(ctx, "account: finish passkey confirm", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
	}
}

// passedOtherMFA records a second factor other than a passkey (the passkey window restarts).
func (l *Login) passedOtherMFA(r *http.Request, u *store.User, amr []string) {
	if !otherMFA(amr) {
		return
	}
	at, err := l.st.PassedOtherMFAAt(r.Context(), u.ID)
	if err != nil {
		slog.WarnContext(r.Context(), "mfa: record other factor", "err", err)
		return
	}
	u.LastOtherMFAAt = &at // the rest of the request decides from it
}

// otherMFA reports whether amr is a second factor other than a passkey.
func otherMFA(amr []string) bool {
	for _, m := range amr {
		if m == authn.AMRHardware || m == authn.AMRSoftware {
			return false
		}
	}
	return true
}

// lastOtherMFA is when the person last passed a second factor other than a passkey.
func lastOtherMFA(u *store.User) time.Time {
	if u.LastOtherMFAAt == nil {
		return time.Time{}
	}
	return time.Unix(*u.LastOtherMFAAt, 0)
}
