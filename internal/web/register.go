package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// Self-service registration (seed 001 §1), for tenants that switch it on. It belongs to the
// sign-in in progress: the tenant is the client's, and when it finishes the sign-in goes on to
// the application. Three steps: the form (name, email, password, mobile number — a landline is
// refused), a code texted to the number, a code emailed to the address. Until both codes are
// answered there is only a pending registration, bound to this browser by a cookie; the
// account, with the number as its SMS factor, is created in one transaction at the end.
//
// No enumeration, no takeover: when the address already has an account the pages are the
// same, but the email that goes out is a notice to the owner, not a code, so nothing can finish
// that registration.

const (
	registerTTL      = 30 * time.Minute
	registerMaxWrong = 5 // wrong codes per registration; the fifth voids it
	registerCookie   = "tessera_registration"
	maxNameLength    = 200
)

// registerRoutes registers the registration pages (server.go mounts /register and /register/).
func (l *Login) registerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /register", l.registerForm)
	mux.HandleFunc("POST /register", l.registerSubmit)
	mux.HandleFunc("POST /register/verify", l.registerVerify)
	mux.HandleFunc("POST /register/resend", l.registerResend)
}

// registrationOffered reports whether the sign-in page offers "Create an account": the
// tenant's switch is on and this node can send both codes.
func (l *Login) registrationOffered(ctx context.Context, tenantID string) bool {
	if l.Codes[policy.SMS] == nil || l.Codes[policy.Email] == nil {
		return false
	}
	t, err := l.st.TenantByID(ctx, tenantID)
	return err == nil && t.SelfRegistration
}

// registrationTenant is the client's tenant when it takes registrations; otherwise it answers
// 404 (or 503) itself.
func (l *Login) registrationTenant(w http.ResponseWriter, r *http.Request, c *oidcop.Client) (*store.Tenant, bool) {
	t, err := l.st.TenantByID(r.Context(), c.Row().TenantID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		slog.ErrorContext(r.Context(), "register: load tenant", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return nil, false
	}
	if err != nil || !t.SelfRegistration || l.Codes[policy.SMS] == nil || l.Codes[policy.Email] == nil {
		if err != nil {
			t = nil
		}
		l.pages.Render(w, r, http.StatusNotFound, "error", map[string]any{"TitleID": "error.title",
			"Message": &i18n.Msg{ID: "register.off"}, "Help": helpLine(t, "help.contact", "")})
		return nil, false
	}
	return t, true
}

// registerInput is what the person typed (never the password), to show the form again.
type registerInput struct {
	Name, Email, Phone string
}

func (l *Login) registerForm(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := l.load(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	if _, ok := l.registrationTenant(w, r, c); !ok {
		return
	}
	l.renderRegister(w, r, http.StatusOK, ar, c, registerInput{}, nil, nil)
}

func (l *Login) renderRegister(w http.ResponseWriter, r *http.Request, status int, ar *oidcop.AuthRequest, c *oidcop.Client,
	in registerInput, fieldErrs map[string]*i18n.Msg, problem *i18n.Msg) {
	data := map[string]any{
		"TitleID": "register.title", "AppName": c.Row().Name, "AuthRequestID": ar.GetID(),
		"CSRF": l.cookies.CSRFToken(w, r), "UILocales": ar.Params.UILocales, "Min": l.minPassword(),
		"SwitchURL": "/register?authRequestID=" + url.QueryEscape(ar.GetID()),
		"Name":      in.Name, "Email": in.Email, "Phone": in.Phone, "Errors": fieldErrs,
		"LoginURL": "/login?authRequestID=" + url.QueryEscape(ar.GetID()),
	}
	var problems []Problem
	if problem != nil {
		problems = append(problems, Problem{Msg: problem})
	}
	for _, f := range []string{"name", "email", "password", "phone"} { // in the order of the form
		if m := fieldErrs[f]; m != nil {
			problems = append(problems, Problem{Field: f, Msg: m})
		}
	}
	data["Problems"] = problems
	l.pages.Render(w, r, status, "register", data)
}

// registerSubmit checks the form, keeps a pending registration and texts the first code.
func (l *Login) registerSubmit(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return
	}
	t, ok := l.registrationTenant(w, r, c)
	if !ok {
		return
	}
	ctx := r.Context()
	in := registerInput{Name: strings.TrimSpace(r.PostForm.Get("name")), Email: strings.TrimSpace(r.PostForm.Get("email")),
		Phone: strings.TrimSpace(r.PostForm.Get("phone"))}
	if !l.cookies.CheckCSRF(r) {
		l.registrationRefused(r, t.ID, c, "csrf")
		l.renderRegister(w, r, http.StatusForbidden, ar, c, in, nil, &i18n.Msg{ID: "register.csrf"})
		return
	}
	pw := r.PostForm.Get("password")
	errs := map[string]*i18n.Msg{}
	switch {
	case in.Name == "":
		errs["name"] = &i18n.Msg{ID: "register.name_missing"}
	case utf8.RuneCountInString(in.Name) > maxNameLength:
		errs["name"] = &i18n.Msg{ID: "register.name_long", Data: map[string]any{"Max": maxNameLength}}
	}
	if !plausibleEmail(in.Email) {
		errs["email"] = &i18n.Msg{ID: "register.email_invalid"}
	}
	if err := password.CheckNew(pw, l.minPassword(), in.Email, in.Name, t.Name); err != nil {
		errs["password"] = l.newPasswordProblem(err)
		if errors.Is(err, password.ErrTooLong) {
			errs["password"] = &i18n.Msg{ID: "register.password_long", Data: map[string]any{"Max": password.MaxLen}}
		}
	}
	num, lineType, err := l.judgeNumber(r, t, in.Phone, policy.SMS)
	if err != nil {
		var pe *phone.Error
		if !errors.As(err, &pe) {
			slog.ErrorContext(ctx, "register: line type", "err", err)
			pe = phone.ErrInvalid
		}
		errs["phone"] = &i18n.Msg{ID: registerPhoneMessage(pe)}
		if in.Phone == "" {
			errs["phone"] = &i18n.Msg{ID: "register.phone_missing"}
		}
		if pe != phone.ErrInvalid {
			l.registrationRefused(r, t.ID, c, "phone "+strings.TrimPrefix(pe.ID, "phone."))
		}
	}
	if len(errs) > 0 {
		l.renderRegister(w, r, http.StatusBadRequest, ar, c, in, errs, nil)
		return
	}
	hash, err := l.pw.Hash(ctx, pw)
	if err != nil {
		slog.ErrorContext(ctx, "register: hash password", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	value := randomValue()
	var replaces string
	if old := l.cookies.Get(r, registerCookie); old != "" {
		replaces = l.registrationHash(old) // this browser starts again: its earlier attempt goes
	}
	reg := &store.Registration{TenantID: t.ID, BrowserHash: l.registrationHash(value), Email: in.Email, Name: in.Name,
		PasswordHash: hash, Phone: num, PhoneLineType: string(lineType)}
	if err := l.st.CreateRegistration(ctx, reg, replaces, registerTTL); err != nil {
		slog.ErrorContext(ctx, "register: save", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.cookies.Set(w, registerCookie, value, registerTTL)
	l.audit.Record(ctx, &store.AuditEvent{TenantID: t.ID, Event: "registration.started", Result: "ok", ClientID: c.Row().ID,
		Detail: "registration " + reg.ID + " line " + string(lineType)})
	l.sendRegistrationCode(w, r, &regContext{ar: ar, client: c, tenant: t, reg: reg}, false)
}

// registerPhoneMessage words a refused number for registration, where only texts are offered
// (the sign-in's messages suggest a voice call or a landline, which registration does not take).
func registerPhoneMessage(pe *phone.Error) string {
	switch pe {
	case phone.ErrLandline:
		return "register.phone_landline"
	case phone.ErrVoIP:
		return "register.phone_voip"
	}
	return pe.ID
}

// plausibleEmail accepts one plain address (no display name), as a person types it; the code
// sent to it is the real check.
func plausibleEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

func (l *Login) registrationHash(cookie string) string {
	return l.sessions.Sum("registration:" + cookie)
}

// registrationOwner keys a registration's codes in the one-time-code tables. A registration is
// not a user yet; each channel gets its own key, so the resend cooldown of the texted code does
// not hold back the emailed one that follows it.
func registrationOwner(reg *store.Registration, kind string) string {
	return "registration:" + reg.ID + ":" + kind
}

// regContext is a registration in progress and the sign-in it belongs to.
type regContext struct {
	ar     *oidcop.AuthRequest
	client *oidcop.Client
	tenant *store.Tenant
	reg    *store.Registration
}

// step is the channel of the code the registration waits for: the number first, then the
// address. It comes from the stored registration, never from the form.
func (rc *regContext) step() string {
	if rc.reg.PhoneVerifiedAt == nil {
		return policy.SMS
	}
	return policy.Email
}

func (rc *regContext) destination() string {
	if rc.step() == policy.SMS {
		return rc.reg.Phone
	}
	return rc.reg.Email
}

// regForm loads what every code step needs: the sign-in, the tenant (still taking
// registrations), a valid CSRF token and this browser's live registration.
func (l *Login) regForm(w http.ResponseWriter, r *http.Request) (*regContext, bool) {
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return nil, false
	}
	t, ok := l.registrationTenant(w, r, c)
	if !ok {
		return nil, false
	}
	if !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.timeout")
		return nil, false
	}
	cookie := l.cookies.Get(r, registerCookie)
	if cookie == "" {
		l.registrationGone(w, r, ar, t)
		return nil, false
	}
	reg, err := l.st.RegistrationByBrowser(r.Context(), l.registrationHash(cookie))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		slog.ErrorContext(r.Context(), "register: load", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return nil, false
	}
	if err != nil || reg.TenantID != t.ID {
		l.registrationGone(w, r, ar, t)
		return nil, false
	}
	return &regContext{ar: ar, client: c, tenant: t, reg: reg}, true
}

// registrationGone answers a step whose registration no longer exists: finished (a doubled
// click), voided, expired, or from another browser.
func (l *Login) registrationGone(w http.ResponseWriter, r *http.Request, ar *oidcop.AuthRequest, t *store.Tenant) {
	l.pages.Render(w, r, http.StatusBadRequest, "message", map[string]any{"TitleID": "register.gone_title",
		"Message": &i18n.Msg{ID: "register.gone"}, "UILocales": ar.Params.UILocales, "Help": helpLine(t, "help.contact", ""),
		"Link": "/login?authRequestID=" + url.QueryEscape(ar.GetID()), "LinkText": "reset.signin"})
}

// sendRegistrationCode sends the code of the current step (unless the cooldown says one just
// went) and shows its page. For an address that already has an account, the owner gets a
// notice instead, under the same limits, and the page is the same.
func (l *Login) sendRegistrationCode(w http.ResponseWriter, r *http.Request, rc *regContext, explicit bool) {
	ctx := r.Context()
	kind := rc.step()
	ch := l.Codes[kind].For(rc.tenant)
	loc := l.pages.Language(nil, r, rc.ar.Params.UILocales, "")
	minutes := int(ch.TTL() / time.Minute)
	ip := audit.RequestFrom(ctx).IP
	owner := registrationOwner(rc.reg, kind)
	event := &store.AuditEvent{TenantID: rc.tenant.ID, Event: "registration.code_sent", Result: "ok", ClientID: rc.client.Row().ID,
		Detail: "registration " + rc.reg.ID + " " + kind}
	var err error
	if kind == policy.SMS {
		err = ch.Send(ctx, owner, rc.reg.Phone, ip, func(code string) delivery.Message {
			text := loc.T("register.sms.body", "Code", code, "Minutes", minutes)
			body, berr := delivery.SMSBody(rc.tenant.Name, text, l.Issuer, code)
			if berr != nil { // a tenant name with a link in it: never send the link
				body = text
			}
			return delivery.Message{Locale: loc.Tag.String(), Body: body}
		})
	} else {
		existing, uerr := l.st.UserByEmail(ctx, rc.tenant.ID, rc.reg.Email)
		switch {
		case uerr == nil:
			oloc := l.pages.Language(nil, r, nil, existing.Locale)
			err = ch.SendNotice(ctx, owner, existing.Email, ip, delivery.Message{Locale: oloc.Tag.String(),
				Subject: oloc.T("register.notice.subject"),
				Body: oloc.T("register.notice.body", "Tenant", rc.tenant.Name,
					"When", l.now().UTC().Format("2006-01-02 15:04 UTC"))})
			event.Event, event.Result, event.SubjectID = "registration.refused", "refused", existing.ID
			event.Detail = "registration " + rc.reg.ID + " email already has an account; notice sent to the owner"
		case errors.Is(uerr, store.ErrNotFound):
			err = ch.Send(ctx, owner, rc.reg.Email, ip, func(code string) delivery.Message {
				return delivery.Message{Locale: loc.Tag.String(), Subject: loc.T("register.email.subject"),
					Body: loc.T("register.email.body", "Code", code, "Minutes", minutes, "Tenant", rc.tenant.Name)}
			})
		default:
			err = uerr
		}
	}
	var limited *store.ErrSendLimited
	switch {
	case err == nil:
		l.audit.Record(ctx, event)
		l.renderRegisterCode(w, r, rc, http.StatusOK, nil)
	case errors.As(err, &limited):
		var notice *i18n.Msg
		wait := plainDuration(loc, time.Until(limited.RetryAt))
		switch {
		case limited.Reason != "cooldown":
			event.Event, event.Result, event.Detail = "registration.code_sent", "limited", "registration "+rc.reg.ID+" "+kind+" "+limited.Reason
			l.audit.Record(ctx, event)
			notice = &i18n.Msg{ID: "mfa.code_limit", Data: map[string]any{"Wait": wait}}
		case explicit:
			notice = &i18n.Msg{ID: "mfa.code_wait", Data: map[string]any{"Wait": wait}}
		}
		l.renderRegisterCode(w, r, rc, http.StatusOK, notice)
	default:
		slog.ErrorContext(ctx, "register: send code", "channel", kind, "err", err)
		event.Event, event.Result = "registration.code_sent", "failed"
		l.audit.Record(ctx, event)
		l.renderRegisterCode(w, r, rc, http.StatusServiceUnavailable, &i18n.Msg{ID: "register.delivery_failed." + kind})
	}
}

func (l *Login) renderRegisterCode(w http.ResponseWriter, r *http.Request, rc *regContext, status int, problem *i18n.Msg) {
	kind := rc.step()
	step := 2
	if kind == policy.Email {
		step = 3
	}
	data := map[string]any{"TitleID": "mfa." + kind + "_title", "Channel": kind, "Step": step,
		"To": maskDestination(rc.destination()), "Minutes": int(l.Codes[kind].For(rc.tenant).TTL() / time.Minute),
		"AuthRequestID": rc.ar.GetID(), "CSRF": l.cookies.CSRFToken(w, r), "UILocales": rc.ar.Params.UILocales, "SwitchURL": "",
		"RestartURL": "/register?authRequestID=" + url.QueryEscape(rc.ar.GetID())}
	if problem != nil {
		if isWaitNotice(problem) {
			data["Notice"] = problem
		} else {
			data["Error"], data["ErrorField"] = problem, codeField(problem, "code")
		}
	}
	l.pages.Render(w, r, status, "register_code", data)
}

// registerVerify checks the code of the current step. A wrong one counts against the
// registration's five; the fifth voids it.
func (l *Login) registerVerify(w http.ResponseWriter, r *http.Request) {
	rc, ok := l.regForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	kind := rc.step()
	if r.PostForm.Get("step") != kind {
		// The page of a step already done (a doubled click, the back button): show where the
		// registration is now, and count nothing.
		l.renderRegisterCode(w, r, rc, http.StatusOK, nil)
		return
	}
	err := l.Codes[kind].For(rc.tenant).VerifyUser(ctx, registrationOwner(rc.reg, kind), rc.destination(), r.PostForm.Get("code"))
	if errors.Is(err, factor.ErrWrong) {
		l.registrationWrongCode(w, r, rc)
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "register: verify code", "channel", kind, "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if kind == policy.SMS {
		if err := l.st.RegistrationPhoneVerified(ctx, rc.reg.ID); err != nil {
			l.registrationStoreError(w, r, rc, err)
			return
		}
		now := l.now().Unix()
		rc.reg.PhoneVerifiedAt = &now
		l.audit.Record(ctx, &store.AuditEvent{TenantID: rc.tenant.ID, Event: "registration.phone_verified", Result: "ok",
			ClientID: rc.client.Row().ID, Detail: "registration " + rc.reg.ID})
		l.sendRegistrationCode(w, r, rc, false)
		return
	}
	if err := l.st.RegistrationEmailVerified(ctx, rc.reg.ID); err != nil {
		l.registrationStoreError(w, r, rc, err)
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: rc.tenant.ID, Event: "registration.email_verified", Result: "ok",
		ClientID: rc.client.Row().ID, Detail: "registration " + rc.reg.ID})
	l.completeRegistration(w, r, rc)
}

func (l *Login) registrationStoreError(w http.ResponseWriter, r *http.Request, rc *regContext, err error) {
	if errors.Is(err, store.ErrNotFound) {
		l.registrationGone(w, r, rc.ar, rc.tenant)
		return
	}
	slog.ErrorContext(r.Context(), "register: save", "err", err)
	l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
}

// registrationWrongCode counts a wrong code; at the fifth the registration is void and the
// person is asked to start again.
func (l *Login) registrationWrongCode(w http.ResponseWriter, r *http.Request, rc *regContext) {
	ctx := r.Context()
	failures, void, err := l.st.RegistrationFailure(ctx, rc.reg.ID, registerMaxWrong)
	if errors.Is(err, store.ErrNotFound) {
		// Gone since this request loaded it: voided or expired, or finished by a doubled click
		// whose other half spent the code. The page says both, plainly.
		l.registrationGone(w, r, rc.ar, rc.tenant)
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "register: count failure", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: rc.tenant.ID, Event: "registration.code", Result: "failed",
		ClientID: rc.client.Row().ID, Detail: "registration " + rc.reg.ID + " " + rc.step()})
	if void {
		l.cookies.Clear(w, registerCookie)
		l.registrationRefused(r, rc.tenant.ID, rc.client, "registration "+rc.reg.ID+" voided after too many wrong codes")
		l.pages.Render(w, r, http.StatusUnauthorized, "message", map[string]any{"TitleID": "register.void_title",
			"Message": &i18n.Msg{ID: "register.void"}, "UILocales": rc.ar.Params.UILocales, "Help": helpLine(rc.tenant, "help.contact", ""),
			"Link": "/register?authRequestID=" + url.QueryEscape(rc.ar.GetID()), "LinkText": "register.restart"})
		return
	}
	loc := l.pages.Language(nil, r, rc.ar.Params.UILocales, "")
	l.renderRegisterCode(w, r, rc, http.StatusUnauthorized, &i18n.Msg{ID: "mfa.wrong",
		Data: map[string]any{"Left": loc.N("attempts.left", registerMaxWrong-failures)}})
}

// completeRegistration creates the account (one transaction with deleting the registration),
// starts the browser session — the person just proved the password and the phone — and goes
// on with the sign-in, through consent and policy like any other.
func (l *Login) completeRegistration(w http.ResponseWriter, r *http.Request, rc *regContext) {
	ctx := r.Context()
	loc := l.pages.Language(nil, r, rc.ar.Params.UILocales, "")
	u, err := l.st.CompleteRegistration(ctx, rc.reg.ID, store.RolePatient, loc.Tag.String())
	if errors.Is(err, store.ErrConflict) {
		// The address got an account meanwhile: this registration can never finish.
		_ = l.st.DeleteRegistration(ctx, rc.reg.ID)
		l.cookies.Clear(w, registerCookie)
		l.registrationRefused(r, rc.tenant.ID, rc.client, "registration "+rc.reg.ID+" email already has an account")
		l.registrationGone(w, r, rc.ar, rc.tenant)
		return
	}
	if err != nil {
		l.registrationStoreError(w, r, rc, err)
		return
	}
	l.cookies.Clear(w, registerCookie)
	l.audit.Record(ctx, &store.AuditEvent{TenantID: u.TenantID, Event: "registration.completed", Result: "ok",
		ActorID: u.ID, SubjectID: u.ID, ClientID: rc.client.Row().ID, Detail: "registration " + rc.reg.ID})
	se, err := l.startSession(w, r, u, []string{authn.AMRPassword, authn.AMRSMS})
	if err != nil {
		slog.ErrorContext(ctx, "register: start session", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if err := l.st.SessionPassedMFA(ctx, se.ID); err != nil {
		slog.WarnContext(ctx, "register: record second factor on session", "err", err)
	}
	l.finish(w, r, rc.ar, se, "registration")
}

// registerResend is "Send a new code" on either code page.
func (l *Login) registerResend(w http.ResponseWriter, r *http.Request) {
	rc, ok := l.regForm(w, r)
	if !ok {
		return
	}
	if r.PostForm.Get("step") != rc.step() {
		l.renderRegisterCode(w, r, rc, http.StatusOK, nil)
		return
	}
	l.sendRegistrationCode(w, r, rc, true)
}

// registrationRefused audits a refused step with its reason.
func (l *Login) registrationRefused(r *http.Request, tenantID string, c *oidcop.Client, reason string) {
	l.audit.Record(r.Context(), &store.AuditEvent{TenantID: tenantID, Event: "registration.refused", Result: "refused",
		ClientID: c.Row().ID, Detail: reason})
}
