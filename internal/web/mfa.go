package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
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
	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// The second step of a sign-in. After every action the page asks authn.Next what comes next;
// nothing here decides policy. Only the authenticator app is wired so far; the other factors
// (SMS, voice, email, backup codes, passkeys) plug into the same steps.

// loginContext is what every step needs, loaded once per request.
type loginContext struct {
	ar     *oidcop.AuthRequest
	client *oidcop.Client
	se     *store.Session
	user   *store.User
	tenant *store.Tenant
	req    authn.Requirement
	// The code page being shown: channel "totp", "email", "sms" or "voice"; purpose
	// "challenge", "enroll" or "verify_phone".
	channel, purpose string
	// For a code channel: where the code goes, and the factor it answers for (a pending one
	// while enrolling a phone; nil for email enrollment and a saved number).
	dest   string
	factor *store.Factor
	// facts caches what state reads about the person for this request; recordFactor, which
	// changes them, clears it.
	facts *authn.State
	// factors caches the person's active factors for this request (factorsRead says they were
	// read): the code check and Next both need them.
	factors     []store.Factor
	factorsRead bool
	// backupLeft is the count of unused backup codes read with the factors (when backupRead).
	backupLeft int64
	backupRead bool
	// noCode: the code page is shown after a press-1 call, with no code on its way.
	noCode bool
}

func (l *Login) context(r *http.Request, ar *oidcop.AuthRequest, c *oidcop.Client, se *store.Session) (*loginContext, error) {
	u, err := l.st.UserByID(r.Context(), se.UserID)
	if err != nil {
		return nil, err
	}
	return l.contextFor(r, ar, c, se, u)
}

// contextFor is context for a person this request already read.
func (l *Login) contextFor(r *http.Request, ar *oidcop.AuthRequest, c *oidcop.Client, se *store.Session, u *store.User) (*loginContext, error) {
	t, err := l.st.TenantByID(r.Context(), u.TenantID)
	if err != nil {
		return nil, err
	}
	return &loginContext{ar: ar, client: c, se: se, user: u, tenant: t,
		req: authn.Require(ar.Params.ACRValues, ar.Params.ClaimsACR, ar.Params.ACREssential, c.Row().MinACR)}, nil
}

// state gathers the facts Next decides from. The person's facts are read once per request and
// kept on lc: a code page asks Next up to three times (may this factor be used, which others to
// offer, what comes next), and each read was two queries (factors, remembered device).
func (l *Login) state(r *http.Request, lc *loginContext, deferred bool) (authn.State, error) {
	if lc.facts == nil {
		factors, err := l.activeFactors(r, lc)
		if err != nil {
			return authn.State{}, err
		}
		s := l.factsOf(factors, lc.user, lc.tenant, lc.se, l.rememberedDevice(r, lc) != nil)
		lc.facts = &s
	}
	s := *lc.facts
	s.Deferred = deferred
	s.RequiredACR, s.ACREssential = lc.req.Target, lc.req.Floor != "" && lc.req.Floor == lc.req.Target
	return s, nil
}

// facts gathers what Next decides from that belongs to the person and their session, whatever
// application asked (the sign-in adds the request's wishes; the account console asks none).
func (l *Login) facts(r *http.Request, u *store.User, t *store.Tenant, se *store.Session, remembered bool) (authn.State, error) {
	factors, err := l.st.ActiveFactors(r.Context(), u.ID)
	if err != nil {
		return authn.State{}, err
	}
	return l.factsOf(factors, u, t, se, remembered), nil
}

// activeFactors returns the person's active factors, read once per request.
func (l *Login) activeFactors(r *http.Request, lc *loginContext) ([]store.Factor, error) {
	if !lc.factorsRead {
		factors, left, known, err := l.st.ActiveFactorsBackupLeft(r.Context(), lc.user.ID)
		if err != nil {
			return nil, err
		}
		lc.factors, lc.factorsRead = factors, true
		lc.backupLeft, lc.backupRead = left, known
	}
	return lc.factors, nil
}

// factsOf is facts over factors already read.
func (l *Login) factsOf(factors []store.Factor, u *store.User, t *store.Tenant, se *store.Session, remembered bool) authn.State {
	var enrolled []authn.Factor
	for _, f := range factors {
		if l.wired(f.Kind) {
			enrolled = append(enrolled, authn.Factor{Kind: f.Kind, IsDefault: f.IsDefault})
		}
	}
	tp := tenantPolicy(t)
	return authn.State{
		Now: l.now(), Tenant: tp, Role: policy.RoleFor(u.Role, tp), Locked: u.LockedAt != nil,
		Enrolled: enrolled, PhoneUnverified: u.Phone != "" && !u.PhoneVerified && l.Codes[policy.SMS] != nil,
		AMR: store.SplitList(se.AMR), RememberedDevice: remembered, LastOtherMFA: lastOtherMFA(u),
	}
}

// tenantPolicy is a tenant's stored settings over the seeds' defaults.
func tenantPolicy(t *store.Tenant) policy.Tenant {
	tp := policy.Defaults()
	tp.MFAMode = t.MFAMode
	if t.EnforceFrom != nil {
		tp.EnforceFrom = time.Unix(*t.EnforceFrom, 0)
	}
	tp.RememberDevice = time.Duration(t.RememberDays()) * 24 * time.Hour
	tp.RememberNetwork = t.RememberNetwork()
	tp.RememberedDeviceIsMFA = t.RememberedDeviceIsMFA()
	tp.PatientsMayDisableMFA = t.PatientsMayDisableMFA
	tp.PasskeyMFAWindow = time.Duration(t.PasskeyWindowDays()) * 24 * time.Hour
	tp.PatientFactors = t.PatientFactorList()
	return tp
}

// finish takes a signed-in browser session to wherever the sign-in goes next.
func (l *Login) finish(w http.ResponseWriter, r *http.Request, ar *oidcop.AuthRequest, se *store.Session, how string) {
	l.proceed(w, r, ar, se, how, stepFlags{})
}

// stepFlags are the person's answers on pages that are not factors.
type stepFlags struct {
	deferred  bool // "Remind me later"
	consented bool // "Allow" on the consent page, just now
}

func (l *Login) proceed(w http.ResponseWriter, r *http.Request, ar *oidcop.AuthRequest, se *store.Session, how string, fl stepFlags) {
	ctx := r.Context()
	c, err := l.op.Client(ctx, ar.GetClientID())
	if err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.client_gone")
		return
	}
	lc, err := l.context(r, ar, c, se)
	if err != nil {
		slog.ErrorContext(ctx, "login: load", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.proceedWith(w, r, lc, how, fl)
}

// proceedWith is proceed over a loginContext this request already loaded (and kept current:
// whatever the request changed about the person or the session is changed on lc too).
func (l *Login) proceedWith(w http.ResponseWriter, r *http.Request, lc *loginContext, how string, fl stepFlags) {
	deferred := fl.deferred
	ctx := r.Context()
	ar, se, c := lc.ar, lc.se, lc.client
	s, err := l.state(r, lc, deferred)
	if err != nil {
		slog.ErrorContext(ctx, "login: state", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	step := authn.Next(s)
	switch {
	case step.Kind == authn.StepLocked:
		l.renderLocked(w, r, lc)
	case step.Kind == authn.StepVerifyPhone:
		if ar.HasPrompt("none") {
			l.op.RedirectError(w, r, ar, "interaction_required", "the user must verify a phone number")
			return
		}
		lc.channel, lc.purpose, lc.dest = policy.SMS, "verify_phone", lc.user.Phone
		l.sendCode(w, r, lc, false)
	case step.Kind == authn.StepChallenge && l.firstWired(step.Factors) != "":
		if ar.HasPrompt("none") {
			l.op.RedirectError(w, r, ar, "interaction_required", "a second factor is needed")
			return
		}
		l.challengeWith(w, r, lc, l.firstWired(step.Factors))
	case step.Kind == authn.StepEnroll && slices.Contains(step.Factors, policy.TOTP) && l.TOTP != nil:
		if ar.HasPrompt("none") {
			l.op.RedirectError(w, r, ar, "interaction_required", "the user must set up a second factor")
			return
		}
		e, err := l.TOTP.Begin(ctx, lc.user, lc.tenant.Name)
		if err != nil {
			slog.ErrorContext(ctx, "login: begin enrollment", "err", err)
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		l.renderEnroll(w, r, lc, e, step.CanDefer, http.StatusOK, nil)
	case step.Kind == authn.StepDone && !lc.req.Unmet(step.ACR):
		if slices.Contains(step.AMR, authn.AMRRememberedDevice) {
			if d := l.rememberedDevice(r, lc); d != nil {
				_ = l.st.TouchDevice(ctx, d.ID)
			}
			l.audit.Record(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "mfa.remembered_device", Result: "ok",
				ActorID: se.UserID, SubjectID: se.UserID, ClientID: c.Row().ID})
		}
		if deferred {
			l.audit.Record(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "mfa.deferred", Result: "ok",
				ActorID: se.UserID, SubjectID: se.UserID, ClientID: c.Row().ID})
		}
		if !fl.consented && l.needsConsent(r, ar, c, se.UserID) {
			if ar.HasPrompt("none") {
				l.op.RedirectError(w, r, ar, "consent_required", "the user has not allowed this application")
				return
			}
			l.pages.Render(w, r, http.StatusOK, "consent", map[string]any{
				"Title": c.Row().Name, "AppName": c.Row().Name, "AuthRequestID": ar.GetID(),
				"CSRF": l.cookies.CSRFToken(w, r), "Scopes": ar.GetScopes(), "UILocales": ar.Params.UILocales,
				"SwitchURL": "", "Deferred": fl.deferred,
			})
			return
		}
		l.complete(w, r, ar, se, step.AMR, how)
	default:
		// Unmet, or a step whose factor is not wired yet: never hand out less than was insisted on.
		if lc.req.Floor != "" || step.Kind == authn.StepUnmet {
			l.audit.Record(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "login.acr", Result: "unmet",
				ActorID: se.UserID, SubjectID: se.UserID, ClientID: c.Row().ID, Detail: "required " + lc.req.Floor + ", have " + se.ACR})
			l.op.RedirectError(w, r, ar, "unmet_authentication_requirements", "this sign-in cannot reach the requested level")
			return
		}
		l.complete(w, r, ar, se, store.SplitList(se.AMR), how)
	}
}

func (l *Login) renderLocked(w http.ResponseWriter, r *http.Request, lc *loginContext) {
	l.pages.Locked(w, r, lc.tenant, lc.ar.Params.UILocales, lc.user.Locale)
}

func (l *Login) renderChallenge(w http.ResponseWriter, r *http.Request, lc *loginContext, status int, problem *i18n.Msg) {
	var left int64
	if l.Backup != nil {
		if lc.backupRead {
			left = lc.backupLeft // read with the factors
		} else {
			left, _ = l.Backup.Left(r.Context(), lc.user.ID)
		}
	}
	data := map[string]any{"TitleID": "mfa.title", "TenantName": lc.tenant.Name, "AuthRequestID": lc.ar.GetID(),
		"CSRF": l.cookies.CSRFToken(w, r), "UILocales": lc.ar.Params.UILocales, "UserLocale": lc.user.Locale, "SwitchURL": "",
		"BackupLeft": left > 0 && lc.purpose != "enroll", "BackupOpen": problem != nil && problem.ID == "backup.wrong",
		"RememberDays": rememberDays(lc.tenant), "Channel": policy.TOTP, "Purpose": lc.purpose,
		"Help": helpLine(lc.tenant, "mfa.cant_contact", "mfa.cant")}
	if ch := l.Codes[lc.channel]; ch != nil {
		data["Channel"], data["To"], data["Minutes"] = lc.channel, maskDestination(lc.dest), int(ch.For(lc.tenant).TTL()/time.Minute)
		if lc.factor != nil && lc.purpose == "enroll" {
			data["FactorID"] = lc.factor.ID
		}
		data["PressOne"], data["NoCode"] = l.pressOneOffered(lc), lc.noCode
	}
	if lc.channel == policy.Passkey && l.Passkeys != nil {
		data["Channel"], data["RememberDays"] = policy.Passkey, 0
		l.passkeyChallenge(w, r, lc, data)
	}
	if lc.purpose != "enroll" {
		data["Others"] = l.otherMethods(r, lc, data["Channel"].(string))
	}
	if problem != nil {
		switch {
		case isWaitNotice(problem):
			data["Notice"] = problem
		case problem.ID == "backup.wrong":
			data["Error"], data["ErrorField"] = problem, "backup-code"
		case data["Channel"] == policy.Passkey:
			data["Error"] = problem // the passkey page has no field to point at
		default:
			data["Error"], data["ErrorField"] = problem, codeField(problem, "code")
		}
	}
	l.pages.Render(w, r, status, "mfa", data)
}

func (l *Login) renderEnroll(w http.ResponseWriter, r *http.Request, lc *loginContext, e *totp.Enrollment, canDefer bool, status int, problem *i18n.Msg) {
	role := policy.RoleFor(lc.user.Role, tenantPolicy(lc.tenant))
	data := map[string]any{"TitleID": "enroll.title", "TenantName": lc.tenant.Name, "AuthRequestID": lc.ar.GetID(),
		"CSRF": l.cookies.CSRFToken(w, r), "UILocales": lc.ar.Params.UILocales, "UserLocale": lc.user.Locale, "SwitchURL": "",
		"QR": urlSafe(e.QRPNG), "Key": e.Key, "FactorID": e.FactorID, "CanDefer": canDefer,
		"EmailOption": l.Codes[policy.Email] != nil && role.Allows(policy.Email) && lc.user.Email != "",
		"SMSOption":   l.Codes[policy.SMS] != nil && role.Allows(policy.SMS),
		"VoiceOption": l.Codes[policy.Voice] != nil && role.Allows(policy.Voice),
		"Phone":       r.PostForm.Get("phone"), "PhoneKind": r.PostForm.Get("kind")}
	if data["Phone"] == "" && lc.user.Phone != "" {
		data["Phone"] = lc.user.Phone
	}
	if problem != nil {
		data["Error"], data["ErrorField"] = problem, "code"
		if strings.HasPrefix(problem.ID, "phone.") {
			data["ErrorField"] = "phone"
		}
	}
	l.pages.Render(w, r, status, "enroll", data)
}

// stepForm loads what every second-step form needs: the auth request, the browser's session
// (it must be the one that gave the password) and a valid CSRF token.
func (l *Login) stepForm(w http.ResponseWriter, r *http.Request) (*loginContext, bool) {
	if lc, answered := l.stepFormJoined(w, r); lc != nil || answered {
		return lc, lc != nil
	}
	// The joined read found nothing to go on: read the request from the database, not as a
	// pending one, so that one completed on another node is answered as completed.
	l.op.Storage().ForgetPending(r.PostForm.Get("authRequestID"))
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return nil, false
	}
	se := l.currentSession(r, c.Row().TenantID)
	if se == nil || !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.timeout")
		return nil, false
	}
	lc, err := l.context(r, ar, c, se)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return nil, false
	}
	if lc.user.LockedAt != nil {
		l.renderLocked(w, r, lc)
		return nil, false
	}
	return lc, true
}

// stepFormJoined is stepForm's usual case in one statement: the auth request, the browser's
// session and its person read together (store.SignInStep). Whenever something is missing or
// wrong it returns nil and answered false, and stepForm reads them one by one to answer as it
// always did; answered is true when it already answered the request.
func (l *Login) stepFormJoined(w http.ResponseWriter, r *http.Request) (lc *loginContext, answered bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return nil, true
	}
	v := l.cookies.Get(r, sessionCookie)
	if v == "" {
		return nil, false
	}
	ctx := r.Context()
	rows, err := l.st.SignInStep(ctx, r.PostForm.Get("authRequestID"), l.sessions.Sum(v), l.opts.IdleTTL)
	if err != nil {
		return nil, false
	}
	se, u := rows.Session, rows.User
	ar, err := oidcop.LoadAuthRequest(rows.AuthRequest)
	if err != nil || ar.Done() {
		return nil, false
	}
	c, err := l.op.Client(ctx, ar.GetClientID())
	if err != nil || se.TenantID != c.Row().TenantID {
		return nil, false
	}
	if !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.timeout")
		return nil, true
	}
	lc, err = l.contextFor(r, ar, c, se, u)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return nil, true
	}
	if lc.user.LockedAt != nil {
		l.renderLocked(w, r, lc)
		return nil, true
	}
	// The person's factors came with the same read (activeFactors).
	lc.factors, lc.factorsRead = rows.Factors, true
	lc.backupLeft, lc.backupRead = rows.BackupLeft, true
	return lc, false
}

// verifyCode checks an authenticator code. A wrong one counts against the person's seven
// attempts (one counter for every application and node); the seventh locks the account.
func (l *Login) verifyCode(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if method := r.PostForm.Get("method"); l.Codes[method] != nil {
		l.verifyChannelCode(w, r, lc, method)
		return
	}
	factors, err := l.activeFactors(r, lc)
	if err != nil || l.TOTP == nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	var f *store.Factor
	for i := range factors {
		if factors[i].Kind == policy.TOTP {
			f = &factors[i]
			break
		}
	}
	if f == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	err = l.TOTP.Verify(ctx, f, r.PostForm.Get("code"))
	if err == nil {
		l.mfaSuccess(r, lc)
		l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "mfa.totp", Result: "ok",
			ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID})
		if r.PostForm.Get("remember") == "1" {
			l.rememberDevice(w, r, lc)
		}
		l.passFactor(w, r, lc, l.TOTP.AMR())
		return
	}
	if !errors.Is(err, factor.ErrWrong) && !errors.Is(err, factor.ErrReplayed) {
		slog.ErrorContext(ctx, "mfa: verify", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	msg := &i18n.Msg{ID: "mfa.wrong"}
	event := "mfa.totp"
	if errors.Is(err, factor.ErrReplayed) {
		msg = &i18n.Msg{ID: "mfa.replayed"}
	}
	l.wrongAnswer(w, r, lc, event, msg)
}

// wrongAnswer counts a wrong second-factor answer against the person's seven (one counter for
// every application and node) and shows how many are left — or the lock.
func (l *Login) wrongAnswer(w http.ResponseWriter, r *http.Request, lc *loginContext, event string, msg *i18n.Msg) {
	res := l.countWrong(r, lc.user, lc.tenant, lc.ar.Params.UILocales, &store.AuditEvent{TenantID: lc.user.TenantID,
		Event: event, ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID})
	if res.Locked {
		l.renderLocked(w, r, lc)
		return
	}
	if msg.ID != "mfa.replayed" {
		loc := l.pages.Language(nil, r, lc.ar.Params.UILocales, lc.user.Locale)
		msg.Data = map[string]any{"Left": loc.N("attempts.left", policy.MaxFailedCodes-res.Failures)}
	}
	l.renderChallenge(w, r, lc, http.StatusUnauthorized, msg)
}

// countWrong counts a wrong second-factor answer against the person's seven (one counter for
// every application and node), audits ev with the result, and — when this very answer locked the
// account — audits the lock once and tells the person by email (in uiLocales when a sign-in asked
// for one). Every page that takes a second factor (sign-in, account, reset, press-1 calls) counts
// through here.
func (l *Login) countWrong(r *http.Request, u *store.User, t *store.Tenant, uiLocales []string, ev *store.AuditEvent) store.MFAFailureResult {
	ctx := r.Context()
	res, err := l.st.CountMFAFailure(ctx, u.ID, policy.MaxFailedCodes)
	if err != nil {
		slog.ErrorContext(ctx, "mfa: count failure", "event", ev.Event, "err", err)
	}
	ev.Result = failureResult(res)
	l.audit.Record(ctx, ev)
	if res.LockedNow {
		l.audit.Record(ctx, &store.AuditEvent{TenantID: u.TenantID, Event: "user.locked", Result: "ok",
			SubjectID: u.ID, ClientID: ev.ClientID, Detail: "too many wrong codes"})
		if t != nil {
			l.notifyIn(r, u, t, uiLocales, "locked", nil)
		}
	}
	return res
}

// failureResult is the audit result of a wrong answer: "failed" when it counted toward the
// seven, "locked" when the account was already locked (a guess racing the lock on another node).
func failureResult(res store.MFAFailureResult) string {
	if !res.Counted && res.Locked {
		return "locked"
	}
	return "failed"
}

// enroll confirms a new authenticator with a code from it; that code is also this sign-in's
// second factor.
func (l *Login) enroll(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok || l.TOTP == nil {
		return
	}
	ctx := r.Context()
	f, err := l.st.FactorByID(ctx, lc.user.ID, r.PostForm.Get("factorID"))
	if err != nil || f.Active || f.Kind != policy.TOTP || !l.mayUse(r, lc, policy.TOTP, "enroll") {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	if err := l.TOTP.Confirm(ctx, f, r.PostForm.Get("code")); err != nil {
		e, serr := l.TOTP.Show(f, lc.user, lc.tenant.Name)
		if serr != nil {
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		s, _ := l.state(r, lc, false)
		l.renderEnroll(w, r, lc, e, authn.Next(s).CanDefer, http.StatusUnauthorized, &i18n.Msg{ID: "enroll.wrong"})
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "factor.enrolled", Result: "ok",
		ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID, Detail: "totp"})
	l.notify(r, lc, "factor", map[string]any{"MethodKind": policy.TOTP})
	if l.recordFactor(w, r, lc, l.TOTP.AMR()) {
		l.afterEnrollment(w, r, lc)
	}
}

// afterEnrollment hands out backup codes with the first factor, once, then goes on.
func (l *Login) afterEnrollment(w http.ResponseWriter, r *http.Request, lc *loginContext) {
	ctx := r.Context()
	if l.Backup != nil {
		if left, err := l.Backup.Left(ctx, lc.user.ID); err == nil && left == 0 {
			codes, err := l.Backup.Generate(ctx, lc.user.ID)
			if err == nil {
				l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "factor.backup_codes", Result: "issued",
					ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID})
				l.pages.Render(w, r, http.StatusOK, "backupcodes", map[string]any{"TitleID": "backup.title",
					"Codes": codes, "Download": downloadURL(codes), "AuthRequestID": lc.ar.GetID(),
					"CSRF": l.cookies.CSRFToken(w, r), "UILocales": lc.ar.Params.UILocales, "UserLocale": lc.user.Locale, "SwitchURL": ""})
				return
			}
			slog.ErrorContext(ctx, "mfa: backup codes", "err", err)
		}
	}
	l.proceed(w, r, lc.ar, lc.se, "mfa", stepFlags{})
}

// continueSignIn goes on after the backup codes page.
func (l *Login) continueSignIn(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	l.proceed(w, r, lc.ar, lc.se, "mfa", stepFlags{})
}

// verifyBackup accepts a backup code in place of the app's code; wrong ones count like any
// wrong code.
func (l *Login) verifyBackup(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok || l.Backup == nil {
		return
	}
	ctx := r.Context()
	err := l.Backup.Use(ctx, lc.user.ID, r.PostForm.Get("code"))
	lc.backupRead = false // one fewer now
	if err == nil {
		l.mfaSuccess(r, lc)
		l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "mfa.backup_code", Result: "ok",
			ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID})
		l.passFactor(w, r, lc, l.Backup.AMR())
		return
	}
	if !errors.Is(err, factor.ErrWrong) {
		slog.ErrorContext(ctx, "mfa: backup code", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.wrongAnswer(w, r, lc, "mfa.backup_code", &i18n.Msg{ID: "backup.wrong"})
}

// downloadURL makes the codes a plain-text file the browser can save.
func downloadURL(codes []string) template.URL {
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(strings.Join(codes, "\r\n")+"\r\n"))
}

// deferEnrollment is "Remind me later": allowed only while Next says so (before the tenant's
// enforcement date, never for roles that always need MFA).
func (l *Login) deferEnrollment(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	l.proceed(w, r, lc.ar, lc.se, "password", stepFlags{deferred: true})
}

// addFactor records a second factor on the browser's session and continues the sign-in.
func (l *Login) addFactor(w http.ResponseWriter, r *http.Request, lc *loginContext, amr []string) {
	if l.recordFactor(w, r, lc, amr) {
		l.proceed(w, r, lc.ar, lc.se, "mfa", stepFlags{})
	}
}

// passFactor is addFactor after answering a factor the person already had (an authenticator
// code, a backup code): their factors did not change, so the request goes on with what it read.
func (l *Login) passFactor(w http.ResponseWriter, r *http.Request, lc *loginContext, amr []string) {
	if l.recordFactor(w, r, lc, amr) {
		l.proceedWith(w, r, lc, "mfa", stepFlags{})
	}
}

// mfaSuccess resets the person's count of wrong answers. It writes only when the count this
// request read was not zero: a wrong answer counted since, on another node, raced this right
// one and may as well have come after it.
func (l *Login) mfaSuccess(r *http.Request, lc *loginContext) {
	if lc.user.MFAFailures == 0 {
		return
	}
	if err := l.st.MFASuccess(r.Context(), lc.user.ID); err != nil {
		slog.WarnContext(r.Context(), "mfa: reset count", "err", err)
		return
	}
	lc.user.MFAFailures = 0
}

// recordFactor adds a factor's amr to the browser's session, so single sign-on and step-up know
// it. It answers the request itself when it fails.
func (l *Login) recordFactor(w http.ResponseWriter, r *http.Request, lc *loginContext, amr []string) bool {
	have := store.SplitList(lc.se.AMR)
	for _, m := range amr {
		if !slices.Contains(have, m) {
			have = append(have, m)
		}
	}
	if !slices.Contains(have, authn.AMRMFA) {
		have = append(have, authn.AMRMFA)
	}
	acr := authn.ACRFor(have)
	// With the fresh authentication, the moment of the factor: the account pages ask for a
	// second factor passed within minutes before a factor changes.
	// A factor other than a passkey is also recorded on the person (passedOtherMFA), in the
	// same statement where the database allows.
	other := otherMFA(amr)
	at, err := l.st.SessionMFAOther(r.Context(), lc.se.ID, lc.user.ID, time.Unix(lc.se.AuthTime, 0), have, acr, other)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return false
	}
	lc.se.AMR, lc.se.ACR = joinSpace(have), acr
	lc.facts = nil
	if other {
		lc.user.LastOtherMFAAt = &at // the rest of the request decides from it
	}
	return true
}

func joinSpace(v []string) string { return strings.Join(v, " ") }

// urlSafe lets html/template put our own QR image (a data: URL made on the server) in an img src;
// anything else stays filtered.
func urlSafe(s string) template.URL {
	if strings.HasPrefix(s, "data:image/png;base64,") {
		return template.URL(s)
	}
	return ""
}

const deviceCookie = "tessera_device"

// rememberDays is the N of "Don't ask for a code on this device for N days" for the tenant; 0
// hides the checkbox (the tenant turned it off, or a remembered device would not count).
func rememberDays(t *store.Tenant) int {
	if !tenantPolicy(t).RemembersDevices() {
		return 0
	}
	return t.RememberDays()
}

// rememberedDevice returns this browser's remembered device when it is still valid for this
// person, this sign-in method and this network under the tenant's current policy (a shorter
// period or a stricter network set since also applies to devices remembered before); nil
// otherwise.
func (l *Login) rememberedDevice(r *http.Request, lc *loginContext) *store.RememberedDevice {
	tp := tenantPolicy(lc.tenant)
	if tp.RememberDevice <= 0 || l.Devices == nil {
		return nil
	}
	v := l.cookies.Get(r, deviceCookie)
	if v == "" {
		return nil
	}
	d, err := l.st.RememberedDeviceByToken(r.Context(), l.Devices.Sum(v))
	if err != nil || d.UserID != lc.user.ID || d.TenantID != lc.tenant.ID || !slices.Contains(store.SplitList(lc.se.AMR), d.Method) ||
		d.Network != authn.Network(audit.RequestFrom(r.Context()).IP, tp.RememberNetwork) ||
		l.now().Unix() >= d.CreatedAt+int64(tp.RememberDevice/time.Second) {
		return nil
	}
	return d
}

// rememberDevice gives this browser a device cookie after a successful code, for as long as the
// tenant says (nothing at all where it turned remembering off, whatever the form posted).
func (l *Login) rememberDevice(w http.ResponseWriter, r *http.Request, lc *loginContext) {
	tp := tenantPolicy(lc.tenant)
	if !tp.RemembersDevices() || l.Devices == nil {
		return
	}
	value := randomValue()
	req := audit.RequestFrom(r.Context())
	d := &store.RememberedDevice{UserID: lc.user.ID, TenantID: lc.user.TenantID, TokenHash: l.Devices.Sum(value),
		Method: authn.AMRPassword, Network: authn.Network(req.IP, tp.RememberNetwork), Label: truncate(req.UserAgent, 120)}
	if err := l.st.RememberDevice(r.Context(), d, tp.RememberDevice); err != nil {
		slog.ErrorContext(r.Context(), "mfa: remember device", "err", err)
		return
	}
	l.cookies.Set(w, deviceCookie, value, tp.RememberDevice)
	l.audit.Record(r.Context(), &store.AuditEvent{TenantID: lc.user.TenantID, Event: "device.remembered", Result: "ok",
		ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID, Detail: d.Network})
}

// maskEmail shows enough of an address to recognise it: p•••@example.org.
func maskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return e
	}
	return e[:1] + "•••" + e[at:]
}

// notify emails the person a security notice (a factor added, the account locked), in their
// language. Delivery failures are logged, never shown: the notice must not block the sign-in.
func (l *Login) notify(r *http.Request, lc *loginContext, kind string, data map[string]any) {
	var ui []string
	if lc.ar != nil {
		ui = lc.ar.Params.UILocales // the language the sign-in is shown in
	}
	l.notifyIn(r, lc.user, lc.tenant, ui, kind, data)
}

// notifyUser is notify for pages outside a sign-in (the account console).
func (l *Login) notifyUser(r *http.Request, u *store.User, t *store.Tenant, kind string, data map[string]any) {
	l.notifyIn(r, u, t, nil, kind, data)
}

func (l *Login) notifyIn(r *http.Request, u *store.User, t *store.Tenant, uiLocales []string, kind string, data map[string]any) {
	if l.Mailer == nil || u.Email == "" {
		return
	}
	loc := l.pages.Language(nil, r, uiLocales, u.Locale)
	kv := []any{"Tenant", t.Name, "When", l.now().UTC().Format("2006-01-02 15:04 UTC")}
	for k, v := range data {
		if k == "MethodKind" { // a factor's kind, named in the notice's language
			k, v = "Method", loc.T(fmt.Sprint("factor.name.", v))
		}
		kv = append(kv, k, v)
	}
	m := delivery.Message{Channel: "email", To: u.Email, Subject: loc.T("notice."+kind+".subject", kv...),
		Body: loc.T("notice."+kind+".body", kv...)}
	if err := l.Mailer.Send(context.WithoutCancel(r.Context()), m); err != nil {
		slog.ErrorContext(r.Context(), "notice: send", "kind", kind, "err", err)
	}
}

// otherMethods lists the person's other usable factors for "Use another method".
func (l *Login) otherMethods(r *http.Request, lc *loginContext, current string) []string {
	s, err := l.state(r, lc, false)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range s.Enrolled {
		if f.Kind != current && s.Role.Uses(f.Kind) && !slices.Contains(out, f.Kind) {
			out = append(out, f.Kind)
		}
	}
	return out
}

// switchMethod shows the code page for another enrolled factor.
func (l *Login) switchMethod(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	kind := r.PostForm.Get("kind")
	if !slices.Contains(l.otherMethods(r, lc, ""), kind) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	l.challengeWith(w, r, lc, kind)
}

// mayUse reports whether the person may answer with kind now: an enrolled, allowed factor when
// challenged; and setting one up only while Next says this sign-in must enroll. Without this
// check, someone holding only the password (and, say, the person's mailbox) could set up a new
// factor instead of answering the one the person already has.
func (l *Login) mayUse(r *http.Request, lc *loginContext, kind, purpose string) bool {
	s, err := l.state(r, lc, false)
	if err != nil {
		return false
	}
	step := authn.Next(s)
	if purpose == "enroll" {
		return step.Kind == authn.StepEnroll && slices.Contains(step.Factors, kind)
	}
	return step.Kind == authn.StepChallenge && slices.Contains(step.Factors, kind) ||
		slices.Contains(l.otherMethods(r, lc, ""), kind)
}

func deliveryMessage(to, subject, body string) delivery.Message {
	return delivery.Message{Channel: "email", To: to, Subject: subject, Body: body}
}
