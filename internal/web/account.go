package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// The account console: /account/security, where a signed-in person sees their second factors
// and adds, changes or removes them.
//
// Who is signed in is the browser's SSO session and nothing else (no query string ever names a
// person). A browser without a live, complete session signs in through /account/login, which
// sends it through /authorize as the tenant's built-in "Account" client — the console is a
// relying party of Tessera like any other, so every rule of the sign-in applies to it.
//
// Every change asks for a fresh second factor first ("Confirm it's you": one passed in this
// session within the last ten minutes; the password for someone who has none yet), so a
// stolen session cookie cannot swap the phone. Wrong answers count against the same seven as the
// sign-in's.

const (
	accountLoginCookie = "tessera_account_login"
	// confirmWindow is how long a second factor passed in the session allows changes.
	confirmWindow = 10 * time.Minute
	// setupWindow is how long after that a change already under way (a code sent to a new number,
	// a new app's QR code) may still be finished.
	setupWindow = 30 * time.Minute
)

// accountContext is the signed-in person, loaded once per request.
type accountContext struct {
	se     *store.Session
	user   *store.User
	tenant *store.Tenant
	// factors are the person's active factors, the default first; usable are those this node
	// can check and their role allows (what "Confirm it's you" may ask).
	factors, usable []store.Factor
}

func (ac *accountContext) role() policy.Role {
	return policy.RoleFor(ac.user.Role, tenantPolicy(ac.tenant))
}

func (ac *accountContext) has(kind string) bool {
	return slices.ContainsFunc(ac.factors, func(f store.Factor) bool { return f.Kind == kind })
}

// AccountRoutes registers the account console on mux.
func (l *Login) AccountRoutes(mux *http.ServeMux) {
	toSecurity := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/account/security", http.StatusSeeOther)
	}
	mux.HandleFunc("GET /account", toSecurity)
	mux.HandleFunc("GET /account/{$}", toSecurity)
	mux.HandleFunc("GET /account/login", l.accountLogin)
	mux.HandleFunc("GET /account/callback", l.accountCallback)
	mux.HandleFunc("GET /account/security", l.accountSecurity)
	mux.HandleFunc("POST /account/confirm", l.accountConfirm)
	mux.HandleFunc("POST /account/confirm/method", l.accountConfirmMethod)
	for _, name := range accountActionNames {
		mux.HandleFunc("POST /account/"+name, l.accountGuarded(name))
	}
	mux.HandleFunc("POST /account/totp/confirm", l.accountTOTPConfirm)
	mux.HandleFunc("POST /account/passkey/finish", l.accountPasskeyFinish)
	mux.HandleFunc("POST /account/devices/forget", l.accountForgetDevice)
	mux.HandleFunc("POST /account/devices/forget-all", l.accountForgetDevices)
	mux.HandleFunc("POST /account/mfa-off", l.accountMFAOff)
	mux.HandleFunc("POST /account/code", l.accountCode)
	mux.HandleFunc("POST /account/code/resend", l.accountCodeResend)
	l.consoleRoutes(mux)
	l.caregiverRoutes(mux)
}

// ---- signing in to the console ----

// accountRP is the account console's side of its sign-in (console_signin.go).
func (l *Login) accountRP() consoleRP {
	return consoleRP{name: "account", cookie: accountLoginCookie, callback: "/account/callback",
		client: l.st.EnsureAccountClient, clientID: store.AccountClientID, problem: l.accountProblem}
}

// accountLogin sends a browser without a console session to sign in.
func (l *Login) accountLogin(w http.ResponseWriter, r *http.Request) {
	l.consoleStart(w, r, l.accountRP(), nil)
}

// accountCallback finishes the console's sign-in: the state must match the cookie (constant
// time), the code is redeemed (and so spent) through the token endpoint's own logic, and what it
// says must be this browser's session in the client's tenant.
func (l *Login) accountCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	se, clientID, ok := l.consoleFinish(w, r, l.accountRP())
	if !ok {
		return
	}
	ac, gate := l.loadAccount(r, se)
	if gate != gateOpen {
		// The sign-in just finished, so the gate should be open; never loop back to it.
		l.accountProblem(w, r, http.StatusForbidden, "account.login_failed")
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: ac.tenant.ID, Event: "account.signin", Result: "ok",
		ActorID: ac.user.ID, SubjectID: ac.user.ID, ClientID: clientID})
	http.Redirect(w, r, l.accountLanding(r), http.StatusSeeOther)
}

// accountProblem is an error page with a way to start signing in to the console again.
func (l *Login) accountProblem(w http.ResponseWriter, r *http.Request, status int, id string) {
	l.pages.Render(w, r, status, "message", map[string]any{"TitleID": "account.title",
		"Message": &i18n.Msg{ID: id}, "Link": "/account/login", "LinkText": "account.signin_again"})
}

// gate says whether a session may see the console.
type gate int

const (
	gateOpen    gate = iota
	gateSignIn       // the sign-in is not complete (a second factor or a number still owed)
	gateLocked       // seven wrong codes
	gateFailure      // the database did not answer
)

// loadAccount loads the session's person and decides whether the session is a complete sign-in
// by the same rule as the sign-in itself (authn.Next, no application's wishes): a session that
// gave only the password of someone who has a second factor is not.
func (l *Login) loadAccount(r *http.Request, se *store.Session) (*accountContext, gate) {
	ctx := r.Context()
	u, err := l.st.UserByID(ctx, se.UserID)
	if err != nil {
		return nil, gateFailure
	}
	t, err := l.st.TenantByID(ctx, u.TenantID)
	if err != nil || t.ID != se.TenantID {
		return nil, gateFailure
	}
	ac := &accountContext{se: se, user: u, tenant: t}
	if u.Disabled {
		return ac, gateSignIn
	}
	if u.LockedAt != nil {
		return ac, gateLocked
	}
	if ac.factors, err = l.st.ActiveFactors(ctx, u.ID); err != nil {
		return nil, gateFailure
	}
	for _, f := range ac.factors {
		if l.wired(f.Kind) && ac.role().Uses(f.Kind) {
			ac.usable = append(ac.usable, f)
		}
	}
	s, err := l.facts(r, u, t, se, l.rememberedDevice(r, &loginContext{user: u, se: se, tenant: t}) != nil)
	if err != nil {
		return nil, gateFailure
	}
	step := authn.Next(s)
	if step.Kind == authn.StepDone || step.Kind == authn.StepEnroll && step.CanDefer {
		return ac, gateOpen
	}
	return ac, gateSignIn
}

// account loads the signed-in person for a console page, or answers the request itself: a page
// without a complete session goes to sign in; a form gets the timed-out page.
func (l *Login) account(w http.ResponseWriter, r *http.Request) (*accountContext, bool) {
	se := l.browserSession(r)
	var (
		ac *accountContext
		g  = gateSignIn
	)
	if se != nil {
		ac, g = l.loadAccount(r, se)
	}
	switch g {
	case gateOpen:
		return ac, true
	case gateLocked:
		l.pages.Locked(w, r, ac.tenant, nil, ac.user.Locale)
	case gateFailure:
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
	default:
		if r.Method != http.MethodGet {
			l.accountProblem(w, r, http.StatusForbidden, "account.timeout")
			return nil, false
		}
		target := "/account/login"
		if ac != nil {
			target += "?tenant=" + url.QueryEscape(ac.tenant.Name)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
	return nil, false
}

// accountForm is account for a posted form: bounded (16 KiB), parsed, with a valid CSRF token.
func (l *Login) accountForm(w http.ResponseWriter, r *http.Request) (*accountContext, bool) {
	return l.accountFormMax(w, r, 16<<10)
}

// accountFormMax is accountForm for a form that may be larger: up to limit bytes.
func (l *Login) accountFormMax(w http.ResponseWriter, r *http.Request, limit int64) (*accountContext, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return nil, false
	}
	if !l.cookies.CheckCSRF(r) {
		l.accountProblem(w, r, http.StatusForbidden, "account.timeout")
		return nil, false
	}
	return l.account(w, r)
}

// ---- the security page ----

// accountNotices are the confirmations a finished change may show on the page (?done=…).
var accountNotices = []string{"totp_added", "totp_changed", "phone_added", "email_added", "mobile_verified",
	"default", "removed", "device_forgotten", "devices_forgotten", "mfa_disabled", "passkey_added"}

func (l *Login) accountSecurity(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.account(w, r)
	if !ok {
		return
	}
	l.renderSecurity(w, r, ac, http.StatusOK, doneNotice(r, "account.done.", accountNotices...), nil)
}

// factorRow is one line of the factor list.
type factorRow struct {
	ID, Kind, LastUsed, Added string
	To                        any // a passkey's name, or a masked number or address (*Masked)
	IsDefault                 bool
}

const dateLayout = "2006-01-02"

// problemOn says which form of the page a problem belongs to ("phone", "mobile"), so the message
// sits next to the field; "" puts it at the top.
func (l *Login) renderSecurity(w http.ResponseWriter, r *http.Request, ac *accountContext, status int, notice, problem *i18n.Msg, problemOn ...string) {
	ctx := r.Context()
	role := ac.role()
	var rows []factorRow
	for _, f := range ac.factors {
		row := factorRow{ID: f.ID, Kind: f.Kind, IsDefault: f.IsDefault, Added: time.Unix(f.CreatedAt, 0).UTC().Format(dateLayout)}
		switch f.Kind {
		case policy.TOTP:
		case policy.Passkey:
			row.To = f.Label // the name the person gave it
		default:
			row.To = maskDestination(factorDestination(ac.user, &f))
		}
		if f.LastUsedAt != nil {
			row.LastUsed = time.Unix(*f.LastUsedAt, 0).UTC().Format(dateLayout)
		}
		rows = append(rows, row)
	}
	data := map[string]any{"TitleID": "account.title", "TenantName": ac.tenant.Name, "UserLocale": ac.user.Locale,
		"CSRF": l.cookies.CSRFToken(w, r), "Factors": rows, "Many": len(rows) > 1, "Nav": "security",
		"NeedPassword": len(ac.usable) == 0,
		"TOTPOption":   l.TOTP != nil && role.Allows(policy.TOTP), "HasTOTP": ac.has(policy.TOTP),
		"SMSOption":   l.Codes[policy.SMS] != nil && role.Allows(policy.SMS),
		"VoiceOption": l.Codes[policy.Voice] != nil && role.Allows(policy.Voice),
		"EmailOption": l.Codes[policy.Email] != nil && role.Allows(policy.Email) && ac.user.Email != "" && !ac.has(policy.Email),
		"Mobile":      maskDestination(ac.user.Phone), "MobileVerified": ac.user.PhoneVerified,
		"Phone": r.PostForm.Get("phone"), "PhoneKind": r.PostForm.Get("kind"),
		"PasskeyOption": l.Passkeys != nil && role.Allows(policy.Passkey), "PasskeyName": r.PostForm.Get("name"),
		"Devices": l.deviceRows(r, ac), "DevicesOffered": rememberDays(ac.tenant) > 0, "MFAOffOption": mayDisableMFA(ac),
	}
	if l.Backup != nil && len(ac.factors) > 0 {
		left, err := l.Backup.Left(ctx, ac.user.ID)
		if err != nil {
			slog.ErrorContext(ctx, "account: backup codes left", "err", err)
		}
		data["Backup"], data["BackupLeft"], data["BackupLow"] = true, int(left), left <= 3
	}
	if notice != nil {
		data["Notice"] = notice
	}
	if problem != nil {
		on := ""
		if len(problemOn) > 0 {
			on = problemOn[0]
		}
		data["Problem"], data["ProblemOn"] = problem, on
		field := map[string]string{"phone": "phone", "mobile": "mobile", "mfaoff": "pw-mfaoff"}[on]
		data["Problems"] = []Problem{{Field: field, Msg: problem}}
	}
	l.pages.Render(w, r, status, "account", data)
}

// ---- "Confirm it's you" ----

// recentlyConfirmed reports whether a second factor was passed in this session within d.
func (l *Login) recentlyConfirmed(ac *accountContext, d time.Duration) bool {
	if ac.se.MFAAt == nil {
		return false
	}
	age := l.now().Unix() - *ac.se.MFAAt
	return age >= -60 && age < int64(d/time.Second)
}

// setupAllowed: a change already under way may be finished within the setup window of the
// check that started it (for a first factor, started with the password, the pending factor
// itself is the proof: only that check could create it).
func (l *Login) setupAllowed(w http.ResponseWriter, r *http.Request, ac *accountContext) bool {
	if len(ac.usable) == 0 || l.recentlyConfirmed(ac, setupWindow) {
		return true
	}
	l.accountProblem(w, r, http.StatusForbidden, "account.timeout")
	return false
}

// accountGuarded runs a change after the fresh check: at once when the session passed a second
// factor within ten minutes, else after "Confirm it's you", which carries the change's fields.
func (l *Login) accountGuarded(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ac, ok := l.accountForm(w, r)
		if !ok {
			return
		}
		if len(ac.usable) == 0 {
			// No second factor yet: the password is the check, typed in the change's own form
			// (or, when it was not, on the confirm page).
			if r.PostForm.Get("password") == "" {
				l.renderConfirm(w, r, ac, name, "password", http.StatusOK, nil, nil)
				return
			}
			if l.checkPassword(w, r, ac, name) {
				l.runAccountAction(w, r, ac, name)
			}
			return
		}
		if l.recentlyConfirmed(ac, confirmWindow) {
			l.runAccountAction(w, r, ac, name)
			return
		}
		l.startConfirm(w, r, ac, name, ac.usable[0].Kind, false)
	}
}

// carried are the fields of a change that travel through the confirm page.
var carried = []string{"factorID", "phone", "kind", "name", "sessionID", "clientID", "email",
	"access", "expires", "grantID", "invitationID"}

type hiddenField struct{ Name, Value string }

// startConfirm shows the confirm page for kind, sending a code first for the code channels.
func (l *Login) startConfirm(w http.ResponseWriter, r *http.Request, ac *accountContext, then, kind string, explicit bool) {
	if l.Codes[kind] == nil {
		l.renderConfirm(w, r, ac, then, kind, http.StatusOK, nil, nil)
		return
	}
	f := ac.usableOf(kind)
	if f == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	notice, problem, status := l.sendAccountCode(r, ac, kind, factorDestination(ac.user, f), "confirm", explicit)
	l.renderConfirm(w, r, ac, then, kind, status, notice, problem)
}

func (ac *accountContext) usableOf(kind string) *store.Factor {
	for i := range ac.usable {
		if ac.usable[i].Kind == kind {
			return &ac.usable[i]
		}
	}
	return nil
}

// renderConfirm shows "Confirm it's you" for one method: "password", "backup_code", or a
// usable factor's kind.
func (l *Login) renderConfirm(w http.ResponseWriter, r *http.Request, ac *accountContext, then, method string, status int, notice, problem *i18n.Msg) {
	var carry []hiddenField
	for _, k := range carried {
		if v := r.PostForm.Get(k); v != "" {
			carry = append(carry, hiddenField{k, v})
		}
	}
	data := map[string]any{"TitleID": "confirm.title", "TenantName": ac.tenant.Name, "UserLocale": ac.user.Locale,
		"CSRF": l.cookies.CSRFToken(w, r), "Then": then, "Method": method, "Carry": carry, "SwitchURL": "", "Back": consoleBack[then]}
	if ch := l.Codes[method].For(ac.tenant); ch != nil {
		if f := ac.usableOf(method); f != nil {
			data["To"], data["Minutes"] = maskDestination(factorDestination(ac.user, f)), int(ch.TTL()/time.Minute)
		}
	}
	if method == policy.Passkey {
		if p := l.confirmPasskeyOptions(w, r, ac, data); p != nil && problem == nil {
			problem = p
		}
	}
	if method != "password" {
		var others []string
		for _, f := range ac.usable {
			if f.Kind != method && !slices.Contains(others, f.Kind) {
				others = append(others, f.Kind)
			}
		}
		data["Others"] = others
		if l.Backup != nil && method != policy.BackupCode {
			left, _ := l.Backup.Left(r.Context(), ac.user.ID)
			data["BackupLeft"] = left > 0
		}
	}
	if notice != nil {
		data["Notice"] = notice
	}
	if problem != nil {
		field := "code"
		switch method {
		case "password":
			field = "password"
		case policy.Passkey:
			field = "" // no field: the page has only the button
		}
		data["Error"], data["ErrorField"] = problem, codeField(problem, field)
	}
	l.pages.Render(w, r, status, "account_confirm", data)
}

// accountConfirmMethod is "Use another method" and "Send a new code" on the confirm page.
func (l *Login) accountConfirmMethod(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	then, use := r.PostForm.Get("then"), r.PostForm.Get("use")
	if !slices.Contains(accountActionNames, then) || len(ac.usable) == 0 {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	switch {
	case use == policy.BackupCode && l.Backup != nil:
		l.renderConfirm(w, r, ac, then, use, http.StatusOK, nil, nil)
	case ac.usableOf(use) != nil:
		l.startConfirm(w, r, ac, then, use, r.PostForm.Get("resend") == "1")
	default:
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
	}
}

// accountConfirm checks the answer on the confirm page and, when right, makes the change.
func (l *Login) accountConfirm(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	then, method := r.PostForm.Get("then"), r.PostForm.Get("method")
	if !slices.Contains(accountActionNames, then) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	if method == "password" || len(ac.usable) == 0 {
		if method != "password" || len(ac.usable) != 0 {
			// Someone with a second factor never gets away with only the password.
			l.pages.Error(w, r, http.StatusBadRequest, "error.form")
			return
		}
		if l.checkPassword(w, r, ac, then) {
			l.runAccountAction(w, r, ac, then)
		}
		return
	}
	if method == policy.Passkey {
		l.confirmWithPasskey(w, r, ac, then)
		return
	}
	known, err := l.verifyConfirmation(ctx, ac, method, r.PostForm.Get("code"))
	if !known {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	if err == nil {
		l.confirmed(w, r, ac, then, method)
		return
	}
	if !errors.Is(err, factor.ErrWrong) && !errors.Is(err, factor.ErrReplayed) {
		slog.ErrorContext(ctx, "account: confirm", "method", method, "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	msg := &i18n.Msg{ID: "mfa.wrong"}
	switch {
	case errors.Is(err, factor.ErrReplayed):
		msg = &i18n.Msg{ID: "mfa.replayed"}
	case method == policy.BackupCode:
		msg = &i18n.Msg{ID: "backup.wrong"}
	}
	l.confirmWrong(w, r, ac, then, method, msg)
}

// confirmed records a passed "Confirm it's you" (the session's fresh second factor) and makes
// the change.
func (l *Login) confirmed(w http.ResponseWriter, r *http.Request, ac *accountContext, then, method string) {
	ctx := r.Context()
	if err := l.st.MFASuccess(ctx, ac.user.ID); err != nil {
		slog.WarnContext(ctx, "account: reset count", "err", err)
	}
	if err := l.st.SessionPassedMFA(ctx, ac.se.ID); err != nil {
		slog.ErrorContext(ctx, "account: record confirmation", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	now := l.now().Unix()
	ac.se.MFAAt = &now
	if method != "password" && method != policy.Passkey {
		l.passedOtherMFA(r, ac.user, nil)
	}
	l.audit.Record(ctx, l.accountEvent(ac, "account.confirm", method))
	l.runAccountAction(w, r, ac, then)
}

// confirmWrong answers a wrong answer on "Confirm it's you": counted against the same seven as
// the sign-in's, the lock page on the last, else the page again with msg (and the tries left,
// unless msg is about a code used twice).
func (l *Login) confirmWrong(w http.ResponseWriter, r *http.Request, ac *accountContext, then, method string, msg *i18n.Msg) {
	res := l.countWrong(r, ac.user, ac.tenant, nil, l.accountEvent(ac, "account.confirm", method))
	if res.Locked {
		l.pages.Locked(w, r, ac.tenant, nil, ac.user.Locale)
		return
	}
	if msg.ID != "mfa.replayed" {
		loc := l.pages.Language(nil, r, nil, ac.user.Locale)
		msg.Data = map[string]any{"Left": loc.N("attempts.left", policy.MaxFailedCodes-res.Failures)}
	}
	l.renderConfirm(w, r, ac, then, method, http.StatusUnauthorized, nil, msg)
}

// checkPassword is the check for someone without a second factor: their password, slowed like
// the sign-in's (per account and address), never locking. It answers the request itself when the
// password is wrong or must wait.
func (l *Login) checkPassword(w http.ResponseWriter, r *http.Request, ac *accountContext, then string) bool {
	if problem, status := l.passwordProblem(r, ac, "password"); problem != nil {
		l.renderConfirm(w, r, ac, then, "password", status, nil, problem)
		return false
	}
	return true
}

// passwordProblem checks the password posted in the form, slowed like the sign-in's (per account
// and address), never locking, and audits the answer (account.confirm with detail). It returns
// nil when the password is right, else what to tell the person and the status.
func (l *Login) passwordProblem(r *http.Request, ac *accountContext, detail string) (*i18n.Msg, int) {
	ctx := r.Context()
	acctKey, ipKey := authn.ThrottleKeys(ac.tenant.ID, ac.user.Email, audit.RequestFrom(ctx).IP)
	wait, hadFailures := l.throttled(r, acctKey, ipKey)
	if wait > 0 {
		loc := l.pages.Language(nil, r, nil, ac.user.Locale)
		return &i18n.Msg{ID: "confirm.throttled", Data: map[string]any{"Wait": plainDuration(loc, wait)}}, http.StatusTooManyRequests
	}
	ok, _, err := l.pw.Verify(ctx, r.PostForm.Get("password"), ac.user.PasswordHash)
	if err != nil {
		slog.WarnContext(ctx, "account: verify password", "err", err)
	}
	event := l.accountEvent(ac, "account.confirm", detail)
	if !ok || ac.user.PasswordHash == "" {
		for _, k := range []struct {
			key   string
			delay func(int) time.Duration
		}{{acctKey, authn.AccountDelay}, {ipKey, authn.AddressDelay}} {
			if _, err := l.st.ThrottleFail(ctx, k.key, authn.ThrottleWindow, k.delay); err != nil {
				slog.ErrorContext(ctx, "account: count failure", "err", err)
			}
		}
		event.Result = "failed"
		l.audit.Record(ctx, event)
		return &i18n.Msg{ID: "confirm.wrong_password"}, http.StatusUnauthorized
	}
	if hadFailures {
		if err := l.st.ThrottleReset(ctx, acctKey); err != nil {
			slog.WarnContext(ctx, "account: reset throttle", "err", err)
		}
	}
	l.audit.Record(ctx, event)
	return nil, 0
}

// sendAccountCode sends a code on kind to dest for the console (purpose: "confirm", "enroll",
// "verify_phone") and returns what the page should say: a notice (a cooldown), or a problem with
// its status.
func (l *Login) sendAccountCode(r *http.Request, ac *accountContext, kind, dest, purpose string, explicit bool) (notice, problem *i18n.Msg, status int) {
	ctx := r.Context()
	ch := l.Codes[kind].For(ac.tenant)
	loc := l.pages.Language(nil, r, nil, ac.user.Locale)
	minutes := int(ch.TTL() / time.Minute)
	err := ch.Send(ctx, ac.user.ID, dest, audit.RequestFrom(ctx).IP, func(code string) delivery.Message {
		return l.compose(kind, ac.tenant.Name, loc, code, minutes)
	})
	event := l.accountEvent(ac, "mfa.code_sent", kind+" account "+purpose)
	var limited *store.ErrSendLimited
	switch {
	case err == nil:
		l.audit.Record(ctx, event)
		return nil, nil, http.StatusOK
	case errors.As(err, &limited):
		wait := plainDuration(loc, time.Until(limited.RetryAt))
		if limited.Reason != "cooldown" {
			event.Result, event.Detail = "limited", kind+" "+limited.Reason
			l.audit.Record(ctx, event)
			return &i18n.Msg{ID: "mfa.code_limit", Data: map[string]any{"Wait": wait}}, nil, http.StatusOK
		}
		if explicit {
			return &i18n.Msg{ID: "mfa.code_wait", Data: map[string]any{"Wait": wait}}, nil, http.StatusOK
		}
		return nil, nil, http.StatusOK
	default:
		slog.ErrorContext(ctx, "account: send code", "channel", kind, "err", err)
		event.Result = "failed"
		l.audit.Record(ctx, event)
		id, _ := delivery.ForPerson(err)
		if !strings.HasPrefix(id, "delivery.failed."+kind) {
			id = "delivery.failed." + kind
		}
		return nil, &i18n.Msg{ID: id}, http.StatusServiceUnavailable
	}
}

// verifyConfirmation checks a "Confirm it's you" answer given as a code: the authenticator
// app's, a code sent by text, call or email, or a backup code. known is false for a method the
// person cannot use here (the form was tampered with).
func (l *Login) verifyConfirmation(ctx context.Context, ac *accountContext, method, code string) (known bool, err error) {
	switch {
	case method == policy.BackupCode && l.Backup != nil:
		return true, l.Backup.Use(ctx, ac.user.ID, code)
	case method == policy.TOTP && ac.usableOf(method) != nil:
		return true, l.TOTP.Verify(ctx, ac.usableOf(method), code)
	case l.Codes[method] != nil && ac.usableOf(method) != nil:
		f := ac.usableOf(method)
		if err = l.Codes[method].For(ac.tenant).VerifyUser(ctx, ac.user.ID, factorDestination(ac.user, f), code); err == nil {
			_ = l.st.MarkFactorUsed(ctx, f.ID)
		}
		return true, err
	}
	return false, nil
}
