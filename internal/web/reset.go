package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// "Forgot your password?" is protected by the second factor (seed 000): an emailed single-use
// link valid 30 minutes AND, for anyone who has one, a code from their authenticator app or a
// backup code. The answer never says whether the email has an account; a locked account stays
// locked; a new password ends every session, token and remembered device.

const resetTTL = 30 * time.Minute

func (l *Login) forgotForm(w http.ResponseWriter, r *http.Request) {
	ar, _, ok := l.load(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	l.pages.Render(w, r, http.StatusOK, "forgot", map[string]any{"TitleID": "forgot.title", "AuthRequestID": ar.GetID(),
		"CSRF": l.cookies.CSRFToken(w, r), "UILocales": ar.Params.UILocales})
}

func (l *Login) forgot(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return
	}
	if !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.timeout")
		return
	}
	ctx := r.Context()
	u, err := l.st.UserByEmail(ctx, c.Row().TenantID, r.PostForm.Get("email"))
	if err == nil && u.LockedAt == nil && !u.Disabled && l.Mailer != nil {
		token := randomValue()
		if err := l.st.CreatePasswordReset(ctx, u.ID, l.sessions.Sum("reset:"+token), resetTTL); err != nil {
			slog.ErrorContext(ctx, "reset: store link", "err", err)
		} else {
			link := l.Issuer + "/reset?" + url.Values{"token": {token}, "authRequestID": {ar.GetID()}}.Encode()
			loc := l.pages.Language(nil, r, ar.Params.UILocales, u.Locale)
			m := deliveryMessage(u.Email, loc.T("email.reset.subject"), loc.T("email.reset.body", "Link", link))
			if err := l.Mailer.Send(ctx, m); err != nil {
				slog.ErrorContext(ctx, "reset: send link", "err", err)
			}
		}
		l.audit.Record(ctx, &store.AuditEvent{TenantID: u.TenantID, Event: "password.reset_requested", Result: "ok",
			SubjectID: u.ID, ClientID: c.Row().ID})
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		slog.ErrorContext(ctx, "reset: load user", "err", err)
	}
	// The same answer whether or not the address has an account.
	l.pages.Render(w, r, http.StatusOK, "message", map[string]any{"TitleID": "forgot.sent_title",
		"Message": &i18n.Msg{ID: "forgot.sent"}, "UILocales": ar.Params.UILocales})
}

// resetContext is a valid reset link and its person.
type resetContext struct {
	reset  *store.PasswordReset
	user   *store.User
	tenant *store.Tenant
	ar     *oidcop.AuthRequest
	totp   *store.Factor
	phone  *store.Factor // texts or calls, when the person has them (and no app)
	backup bool
}

func (l *Login) loadReset(w http.ResponseWriter, r *http.Request, token, arID string) (*resetContext, bool) {
	ctx := r.Context()
	pr, err := l.st.PasswordResetByToken(ctx, l.sessions.Sum("reset:"+token))
	if err != nil {
		l.pages.Render(w, r, http.StatusBadRequest, "message", map[string]any{"TitleID": "forgot.title",
			"Message": &i18n.Msg{ID: "reset.invalid_link"}, "Help": helpLine(l.requestTenant(r, arID), "help.contact", "")})
		return nil, false
	}
	u, err := l.st.UserByID(ctx, pr.UserID)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return nil, false
	}
	t, _ := l.st.TenantByID(ctx, u.TenantID)
	rc := &resetContext{reset: pr, user: u, tenant: t}
	rc.ar, _ = l.op.Storage().AuthRequest(ctx, arID)
	if u.LockedAt != nil {
		l.pages.Locked(w, r, t, nil, u.Locale)
		return nil, false
	}
	factors, _ := l.st.ActiveFactors(ctx, u.ID)
	for i := range factors {
		switch k := factors[i].Kind; {
		case k == policy.TOTP:
			rc.totp = &factors[i]
		case (k == policy.SMS || k == policy.Voice) && l.Codes[k] != nil && rc.phone == nil:
			rc.phone = &factors[i]
		}
	}
	if rc.totp != nil {
		rc.phone = nil // the app is asked; a phone could be the very thing that was lost
	}
	if l.Backup != nil {
		n, _ := l.Backup.Left(ctx, u.ID)
		rc.backup = n > 0
	}
	return rc, true
}

func (l *Login) resetForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rc, ok := l.loadReset(w, r, q.Get("token"), q.Get("authRequestID"))
	if !ok {
		return
	}
	var notice *i18n.Msg
	if rc.phone != nil {
		notice = l.sendResetCode(r, rc)
	}
	l.renderReset(w, r, rc, q.Get("token"), http.StatusOK, notice)
}

// sendResetCode texts or calls a code to the person's phone factor for the reset; it returns a
// notice when nothing could be sent now.
func (l *Login) sendResetCode(r *http.Request, rc *resetContext) *i18n.Msg {
	ctx := r.Context()
	ch := l.Codes[rc.phone.Kind].For(rc.tenant)
	loc := l.pages.Language(nil, r, nil, rc.user.Locale)
	name := ""
	if rc.tenant != nil {
		name = rc.tenant.Name
	}
	err := ch.Send(ctx, rc.user.ID, rc.phone.Label, audit.RequestFrom(ctx).IP, func(code string) delivery.Message {
		return l.compose(rc.phone.Kind, name, loc, code, int(ch.TTL()/time.Minute))
	})
	var limited *store.ErrSendLimited
	switch {
	case err == nil:
		l.audit.Record(ctx, &store.AuditEvent{TenantID: rc.user.TenantID, Event: "mfa.code_sent", Result: "ok",
			SubjectID: rc.user.ID, Detail: rc.phone.Kind + " reset"})
		return nil
	case errors.As(err, &limited):
		return &i18n.Msg{ID: "mfa.code_wait", Data: map[string]any{"Wait": plainDuration(loc, time.Until(limited.RetryAt))}}
	default:
		slog.ErrorContext(ctx, "reset: send code", "err", err)
		l.audit.Record(ctx, &store.AuditEvent{TenantID: rc.user.TenantID, Event: "mfa.code_sent", Result: "failed",
			SubjectID: rc.user.ID, Detail: rc.phone.Kind + " reset"})
		return &i18n.Msg{ID: "delivery.failed." + rc.phone.Kind}
	}
}

func (l *Login) renderReset(w http.ResponseWriter, r *http.Request, rc *resetContext, token string, status int, problem *i18n.Msg) {
	data := map[string]any{"TitleID": "reset.title", "Token": token, "CSRF": l.cookies.CSRFToken(w, r),
		"NeedCode": rc.totp != nil || rc.phone != nil || rc.backup, "Email": rc.user.Email, "Min": l.minPassword(), "UserLocale": rc.user.Locale,
		"SwitchURL": ""}
	if rc.ar != nil {
		data["AuthRequestID"] = rc.ar.GetID()
	}
	if rc.phone != nil {
		data["PhoneKind"], data["To"] = rc.phone.Kind, maskDestination(rc.phone.Label)
		data["Minutes"] = int(l.Codes[rc.phone.Kind].For(rc.tenant).TTL() / time.Minute)
		q := url.Values{"token": {token}}
		if rc.ar != nil {
			q.Set("authRequestID", rc.ar.GetID())
		}
		data["ResendURL"] = "/reset?" + q.Encode()
	}
	if problem != nil {
		switch {
		case isWaitNotice(problem):
			data["Notice"] = problem
		case problem.ID == "reset.mismatch":
			data["Error"], data["ErrorField"] = problem, "password2"
		case problem.ID == "mfa.wrong":
			data["Error"], data["ErrorField"] = problem, "code"
		case strings.HasPrefix(problem.ID, "reset."):
			data["Error"], data["ErrorField"] = problem, "password"
		default: // nothing could be sent
			data["Error"] = problem
		}
	}
	l.pages.Render(w, r, status, "reset", data)
}

func (l *Login) minPassword() int {
	if l.MinPasswordLength > 0 {
		return l.MinPasswordLength
	}
	return 8
}

// newPasswordProblem says in plain words why password.CheckNew refused a new password.
func (l *Login) newPasswordProblem(err error) *i18n.Msg {
	switch {
	case errors.Is(err, password.ErrTooLong):
		return &i18n.Msg{ID: "reset.too_long", Data: map[string]any{"Max": password.MaxLen}}
	case errors.Is(err, password.ErrBlank):
		return &i18n.Msg{ID: "reset.blank"}
	case errors.Is(err, password.ErrPersonal):
		return &i18n.Msg{ID: "reset.personal"}
	case errors.Is(err, password.ErrCommon):
		return &i18n.Msg{ID: "reset.common"}
	}
	return &i18n.Msg{ID: "reset.too_short", Data: map[string]any{"Min": l.minPassword()}}
}

func (l *Login) reset(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.timeout")
		return
	}
	token := r.PostForm.Get("token")
	rc, ok := l.loadReset(w, r, token, r.PostForm.Get("authRequestID"))
	if !ok {
		return
	}
	ctx := r.Context()
	// The new password first, so that a refused one does not spend the code (a texted code
	// would have to be sent again).
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		l.renderReset(w, r, rc, token, http.StatusBadRequest, &i18n.Msg{ID: "reset.mismatch"})
		return
	}
	tenantName := ""
	if rc.tenant != nil {
		tenantName = rc.tenant.Name
	}
	if err := password.CheckNew(pw, l.minPassword(), rc.user.Email, rc.user.Name, tenantName); err != nil {
		l.renderReset(w, r, rc, token, http.StatusBadRequest, l.newPasswordProblem(err))
		return
	}
	// Then the second factor: a wrong code counts toward the lock like any other.
	if rc.totp != nil || rc.phone != nil || rc.backup {
		code := r.PostForm.Get("code")
		err := factor.ErrWrong
		if rc.totp != nil && l.TOTP != nil {
			err = l.TOTP.Verify(ctx, rc.totp, code)
		}
		if rc.phone != nil {
			err = l.Codes[rc.phone.Kind].For(rc.tenant).VerifyUser(ctx, rc.user.ID, rc.phone.Label, code)
		}
		if err != nil && rc.backup {
			err = l.Backup.Use(ctx, rc.user.ID, code)
		}
		if err != nil {
			res := l.countWrong(r, rc.user, rc.tenant, nil, &store.AuditEvent{TenantID: rc.user.TenantID,
				Event: "password.reset", SubjectID: rc.user.ID, Detail: "wrong second factor"})
			failures := res.Failures
			if res.Locked {
				l.pages.Locked(w, r, rc.tenant, nil, rc.user.Locale)
				return
			}
			loc := l.pages.Language(nil, r, nil, rc.user.Locale)
			l.renderReset(w, r, rc, token, http.StatusUnauthorized, &i18n.Msg{ID: "mfa.wrong",
				Data: map[string]any{"Left": loc.N("attempts.left", policy.MaxFailedCodes-failures)}})
			return
		}
		_ = l.st.MFASuccess(ctx, rc.user.ID)
	}
	hash, err := l.pw.Hash(ctx, pw)
	if err == nil {
		err = l.st.ResetPassword(ctx, rc.reset.ID, rc.user.ID, hash)
	}
	if errors.Is(err, store.ErrReplayed) {
		l.pages.Render(w, r, http.StatusBadRequest, "message", map[string]any{"TitleID": "forgot.title",
			"Message": &i18n.Msg{ID: "reset.invalid_link"}, "Help": helpLine(rc.tenant, "help.contact", "")})
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "reset: save", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.cookies.Clear(w, sessionCookie)
	l.audit.Record(ctx, &store.AuditEvent{TenantID: rc.user.TenantID, Event: "password.reset", Result: "ok",
		ActorID: rc.user.ID, SubjectID: rc.user.ID, IP: audit.RequestFrom(ctx).IP})
	if rc.tenant != nil {
		l.notify(r, &loginContext{user: rc.user, tenant: rc.tenant}, "password", nil)
	}
	data := map[string]any{"TitleID": "reset.done_title", "Message": &i18n.Msg{ID: "reset.done"}, "UserLocale": rc.user.Locale}
	if rc.ar != nil {
		data["Link"], data["LinkText"] = "/login?authRequestID="+url.QueryEscape(rc.ar.GetID()), "reset.signin"
	}
	l.pages.Render(w, r, http.StatusOK, "message", data)
}

// requestTenant is the tenant of the sign-in arID names (nil when there is none): a reset link
// that no longer works still knows, from the sign-in it came with, whose help contact to show.
func (l *Login) requestTenant(r *http.Request, arID string) *store.Tenant {
	if arID == "" {
		return nil
	}
	ar, err := l.op.Storage().AuthRequest(r.Context(), arID)
	if err != nil {
		return nil
	}
	c, err := l.op.Client(r.Context(), ar.GetClientID())
	if err != nil {
		return nil
	}
	t, err := l.st.TenantByID(r.Context(), c.Row().TenantID)
	if err != nil {
		return nil
	}
	return t
}
