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

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// The admin console: /admin, for the tenant's administrators (role admin) only.
//
// Like the account console it is a relying party of Tessera: a browser without a fitting
// session signs in through /admin/login, which sends it through /authorize as the tenant's
// built-in "Admin" client. That client's minimum acr is multi-factor, so the sign-in always ends
// with a second factor — an administrator who has none is made to enroll one, with no "Remind me
// later". The console itself lets a session in only when it is an administrator's and its acr is
// at least multi-factor.
//
// Sensitive actions (the policy with its MFA switch, unlock, reset MFA, disable or enable a user,
// every client change) need a second factor passed in the session within the last ten minutes:
// the account console's "Confirm it's you" page (same template, same checks, same seven-wrong-
// codes count) asks for it and then runs the action with the fields it carried.
//
// Everything the console changes goes through internal/admin with the administrator's tenant as
// the actor's; an id of another tenant is "not found".

const adminLoginCookie = "tessera_admin_login"

// AdminConsole is the admin console and the admin REST API.
type AdminConsole struct {
	l      *Login
	svc    *admin.Service
	mux    *http.ServeMux // the console's routes, to run an action after "Confirm it's you"
	routes []consoleRoute
}

// consoleRoute is one route of the console; Sensitive ones need a fresh second factor.
type consoleRoute struct {
	Method, Path string
	Sensitive    bool
	h            func(w http.ResponseWriter, r *http.Request, c *adminCtx)
}

// adminCtx is the signed-in administrator of a console request.
type adminCtx struct {
	ac    *accountContext
	actor admin.Actor
	csrf  string
}

// NewAdminConsole builds the console and API over the login pages and the admin service. It
// makes the login pages the service's Notifier (invitations and notices go out by the same mail).
func NewAdminConsole(l *Login, svc *admin.Service) *AdminConsole {
	x := &AdminConsole{l: l, svc: svc, mux: http.NewServeMux()}
	svc.Notifier = l
	x.routes = []consoleRoute{
		{Method: "GET", Path: "/admin/members", h: x.members},
		{Method: "GET", Path: "/admin/members/new", h: x.inviteForm},
		{Method: "POST", Path: "/admin/members", h: x.invite},
		{Method: "GET", Path: "/admin/members/{id}", h: x.member},
		{Method: "POST", Path: "/admin/members/{id}", h: x.memberEdit},
		{Method: "POST", Path: "/admin/members/{id}/unlock", Sensitive: true, h: x.memberUnlock},
		{Method: "POST", Path: "/admin/members/{id}/reset-mfa", Sensitive: true, h: x.memberResetMFA},
		{Method: "POST", Path: "/admin/members/{id}/revoke", h: x.memberRevoke},
		{Method: "POST", Path: "/admin/members/{id}/disable", Sensitive: true, h: x.memberDisable(true)},
		{Method: "POST", Path: "/admin/members/{id}/enable", Sensitive: true, h: x.memberDisable(false)},
		{Method: "GET", Path: "/admin/policy", h: x.policy},
		{Method: "POST", Path: "/admin/policy", Sensitive: true, h: x.policyUpdate},
		{Method: "GET", Path: "/admin/practices", h: x.practices},
		{Method: "POST", Path: "/admin/practices", h: x.practiceCreate},
		{Method: "POST", Path: "/admin/practices/{id}", h: x.practiceRename},
		{Method: "GET", Path: "/admin/clients", h: x.clients},
		{Method: "POST", Path: "/admin/clients", Sensitive: true, h: x.clientCreate},
		{Method: "GET", Path: "/admin/clients/{id}", h: x.client},
		{Method: "POST", Path: "/admin/clients/{id}", Sensitive: true, h: x.clientUpdate},
		{Method: "POST", Path: "/admin/clients/{id}/rotate", Sensitive: true, h: x.clientRotate},
		{Method: "GET", Path: "/admin/audit", h: x.auditPage},
	}
	x.routes = append(x.routes, x.caregiverRoutes()...)
	for _, rt := range x.routes {
		x.mux.HandleFunc(rt.Method+" "+rt.Path, x.guard(rt))
	}
	return x
}

// ConsoleRoutes lists the console's pages and actions as "METHOD /path" (tests walk them all).
func (x *AdminConsole) ConsoleRoutes() []string {
	var out []string
	for _, rt := range x.routes {
		out = append(out, rt.Method+" "+rt.Path)
	}
	return out
}

// Routes registers the console on mux (the page mux, behind the same-origin check).
func (x *AdminConsole) Routes(mux *http.ServeMux) {
	toMembers := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/members", http.StatusSeeOther)
	}
	mux.HandleFunc("GET /admin", toMembers)
	mux.HandleFunc("GET /admin/{$}", toMembers)
	mux.HandleFunc("GET /admin/login", x.login)
	mux.HandleFunc("GET /admin/callback", x.callback)
	mux.HandleFunc("POST /admin/confirm", x.confirm)
	mux.HandleFunc("POST /admin/confirm/method", x.confirmMethod)
	for _, rt := range x.routes {
		mux.Handle(rt.Method+" "+rt.Path, x.mux)
	}
}

// APIRoutes registers the admin REST API and its OpenAPI document on mux (no cookies, no CSRF:
// a bearer token is the only credential).
func (x *AdminConsole) RegisterAPI(mux *http.ServeMux) { x.registerAPI(mux) }

// ---- signing in ----

// rp is the admin console's side of its sign-in (console_signin.go): always multi-factor.
func (x *AdminConsole) rp() consoleRP {
	return consoleRP{name: "admin", cookie: adminLoginCookie, callback: "/admin/callback", acr: authn.ACRMultiFactor,
		client: func(ctx context.Context, tenantID, redirectURI string) (*store.Client, error) {
			return x.l.st.EnsureAdminClient(ctx, tenantID, redirectURI, authn.ACRMultiFactor)
		},
		clientID: store.AdminClientID, problem: x.problem}
}

func (x *AdminConsole) login(w http.ResponseWriter, r *http.Request) {
	var extra url.Values
	if r.URL.Query().Get("fresh") == "1" {
		// A sensitive action for someone whose only factor "Confirm it's you" cannot ask (a
		// passkey): sign in again, second factor included.
		extra = url.Values{"prompt": {"login"}}
	}
	x.l.consoleStart(w, r, x.rp(), extra)
}

func (x *AdminConsole) callback(w http.ResponseWriter, r *http.Request) {
	l := x.l
	ctx := r.Context()
	_, clientID, ok := l.consoleFinish(w, r, x.rp())
	if !ok {
		return
	}
	c, ok := x.gate(w, r)
	if !ok {
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: c.actor.TenantID, Event: "admin.signin", Result: "ok",
		ActorID: c.actor.UserID, SubjectID: c.actor.UserID, ClientID: clientID})
	http.Redirect(w, r, "/admin/members", http.StatusSeeOther)
}

func (x *AdminConsole) problem(w http.ResponseWriter, r *http.Request, status int, id string) {
	x.l.pages.Render(w, r, status, "message", map[string]any{"TitleID": "admin.title",
		"Message": &i18n.Msg{ID: id}, "Link": "/admin/login", "LinkText": "admin.signin_again"})
}

// gate lets in an administrator's session whose sign-in was multi-factor, or answers the request
// itself: no session (or a single-factor one) signs in; someone who is not an administrator of
// the tenant gets 403.
func (x *AdminConsole) gate(w http.ResponseWriter, r *http.Request) (*adminCtx, bool) {
	l := x.l
	se := l.browserSession(r)
	var (
		ac *accountContext
		g  = gateSignIn
	)
	if se != nil {
		ac, g = l.loadAccount(r, se)
	}
	switch {
	case g == gateFailure:
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return nil, false
	case g == gateLocked:
		l.pages.Locked(w, r, ac.tenant, nil, ac.user.Locale)
		return nil, false
	case ac != nil && ac.user.Role != store.RoleAdmin:
		l.audit.Record(r.Context(), &store.AuditEvent{TenantID: ac.tenant.ID, Event: "admin.denied", Result: "forbidden",
			ActorID: ac.user.ID, SubjectID: ac.user.ID, Detail: r.Method + " " + r.URL.Path})
		l.pages.Render(w, r, http.StatusForbidden, "message", map[string]any{"TitleID": "admin.title",
			"Message": &i18n.Msg{ID: "admin.forbidden"}, "UserLocale": ac.user.Locale})
		return nil, false
	case g != gateOpen || authn.ACRRank(se.ACR) < authn.ACRRank(authn.ACRMultiFactor):
		if r.Method != http.MethodGet {
			x.problem(w, r, http.StatusForbidden, "admin.timeout")
			return nil, false
		}
		target := "/admin/login"
		if ac != nil {
			target += "?tenant=" + url.QueryEscape(ac.tenant.Name)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil, false
	}
	return &adminCtx{ac: ac, actor: admin.Actor{TenantID: ac.tenant.ID, UserID: ac.user.ID, ClientID: store.AdminClientID(ac.tenant.ID)}}, true
}

// guard wraps a console route: forms are bounded, parsed and CSRF-checked; then the gate; then,
// for a sensitive action, the fresh second factor.
func (x *AdminConsole) guard(rt consoleRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !x.postForm(w, r) {
			return
		}
		c, ok := x.gate(w, r)
		if !ok {
			return
		}
		if rt.Sensitive && !x.fresh(w, r, c) {
			return
		}
		c.csrf = x.l.cookies.CSRFToken(w, r)
		rt.h(w, r, c)
	}
}

// postForm bounds and parses a console form and checks its CSRF token, or answers the request
// itself and reports false.
func (x *AdminConsole) postForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 32<<10)
	if err := r.ParseForm(); err != nil {
		x.l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return false
	}
	if !x.l.cookies.CheckCSRF(r) {
		x.problem(w, r, http.StatusForbidden, "admin.timeout")
		return false
	}
	return true
}

// ---- "Confirm it's you" ----

// fresh reports whether the session passed a second factor within the confirm window; if not it
// shows "Confirm it's you" (carrying the action's fields) and reports false.
func (x *AdminConsole) fresh(w http.ResponseWriter, r *http.Request, c *adminCtx) bool {
	if x.l.recentlyConfirmed(c.ac, confirmWindow) {
		return true
	}
	if len(c.ac.usable) == 0 {
		x.l.pages.Render(w, r, http.StatusForbidden, "message", map[string]any{"TitleID": "confirm.title",
			"Message": &i18n.Msg{ID: "admin.reauth"}, "UserLocale": c.ac.user.Locale,
			"Link": "/admin/login?fresh=1&tenant=" + url.QueryEscape(c.ac.tenant.Name), "LinkText": "admin.signin_again"})
		return false
	}
	x.startConfirm(w, r, c, r.URL.Path, c.ac.usable[0].Kind, false)
	return false
}

// reserved are the confirm page's own fields, never carried for the action.
var reserved = []string{"csrf", "then", "method", "code", "use", "resend"}

func (x *AdminConsole) startConfirm(w http.ResponseWriter, r *http.Request, c *adminCtx, then, kind string, explicit bool) {
	l := x.l
	if l.Codes[kind] == nil {
		x.renderConfirm(w, r, c, then, kind, http.StatusOK, nil, nil)
		return
	}
	f := c.ac.usableOf(kind)
	if f == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	notice, problem, status := l.sendAccountCode(r, c.ac, kind, factorDestination(c.ac.user, f), "confirm", explicit)
	x.renderConfirm(w, r, c, then, kind, status, notice, problem)
}

func (x *AdminConsole) renderConfirm(w http.ResponseWriter, r *http.Request, c *adminCtx, then, method string, status int, notice, problem *i18n.Msg) {
	l := x.l
	var carry []hiddenField
	keys := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(reserved, k) {
			continue
		}
		for _, v := range r.PostForm[k] {
			carry = append(carry, hiddenField{k, v})
		}
	}
	data := map[string]any{"TitleID": "confirm.title", "TenantName": c.ac.tenant.Name, "UserLocale": c.ac.user.Locale,
		"CSRF": l.cookies.CSRFToken(w, r), "Then": then, "Method": method, "Carry": carry, "SwitchURL": "",
		"ConfirmBase": "/admin", "CancelURL": "/admin/members"}
	if ch := l.Codes[method].For(c.ac.tenant); ch != nil {
		if f := c.ac.usableOf(method); f != nil {
			data["To"], data["Minutes"] = maskDestination(factorDestination(c.ac.user, f)), int(ch.TTL()/time.Minute)
		}
	}
	var others []string
	for _, f := range c.ac.usable {
		if f.Kind != method && !slices.Contains(others, f.Kind) {
			others = append(others, f.Kind)
		}
	}
	data["Others"] = others
	if l.Backup != nil && method != policy.BackupCode {
		left, _ := l.Backup.Left(r.Context(), c.ac.user.ID)
		data["BackupLeft"] = left > 0
	}
	if notice != nil {
		data["Notice"] = notice
	}
	if problem != nil {
		data["Error"], data["ErrorField"] = problem, codeField(problem, "code")
	}
	l.pages.Render(w, r, status, "account_confirm", data)
}

// sensitiveTarget reports whether then names a sensitive console action.
func (x *AdminConsole) sensitiveTarget(then string) bool {
	if !strings.HasPrefix(then, "/admin/") {
		return false
	}
	req, err := http.NewRequest(http.MethodPost, then, nil)
	if err != nil || req.URL.Path != then {
		return false
	}
	_, pattern := x.mux.Handler(req)
	for _, rt := range x.routes {
		if rt.Sensitive && pattern == rt.Method+" "+rt.Path {
			return true
		}
	}
	return false
}

// confirmForm parses and checks the confirm page's forms.
func (x *AdminConsole) confirmForm(w http.ResponseWriter, r *http.Request) (*adminCtx, string, bool) {
	if !x.postForm(w, r) {
		return nil, "", false
	}
	c, ok := x.gate(w, r)
	if !ok {
		return nil, "", false
	}
	then := r.PostForm.Get("then")
	if !x.sensitiveTarget(then) || len(c.ac.usable) == 0 {
		x.l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return nil, "", false
	}
	return c, then, true
}

func (x *AdminConsole) confirmMethod(w http.ResponseWriter, r *http.Request) {
	c, then, ok := x.confirmForm(w, r)
	if !ok {
		return
	}
	use := r.PostForm.Get("use")
	switch {
	case use == policy.BackupCode && x.l.Backup != nil:
		x.renderConfirm(w, r, c, then, use, http.StatusOK, nil, nil)
	case c.ac.usableOf(use) != nil:
		x.startConfirm(w, r, c, then, use, r.PostForm.Get("resend") == "1")
	default:
		x.l.pages.Error(w, r, http.StatusBadRequest, "error.form")
	}
}

// confirm checks the answer and, when right, runs the action it carried.
func (x *AdminConsole) confirm(w http.ResponseWriter, r *http.Request) {
	c, then, ok := x.confirmForm(w, r)
	if !ok {
		return
	}
	l := x.l
	ctx := r.Context()
	ac := c.ac
	method := r.PostForm.Get("method")
	known, err := l.verifyConfirmation(ctx, ac, method, r.PostForm.Get("code"))
	if !known {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	event := &store.AuditEvent{TenantID: ac.tenant.ID, Event: "admin.confirm", Result: "ok", ActorID: ac.user.ID,
		SubjectID: ac.user.ID, ClientID: store.AdminClientID(ac.tenant.ID), Detail: method}
	if err == nil {
		if err := l.st.MFASuccess(ctx, ac.user.ID); err != nil {
			slog.WarnContext(ctx, "admin: reset count", "err", err)
		}
		if err := l.st.SessionPassedMFA(ctx, ac.se.ID); err != nil {
			slog.ErrorContext(ctx, "admin: record confirmation", "err", err)
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		l.passedOtherMFA(r, ac.user, nil)
		l.audit.Record(ctx, event)
		// Run the action the confirmation was for, with the fields it carried.
		r2 := r.Clone(ctx)
		r2.URL.Path, r2.URL.RawPath, r2.RequestURI = then, "", then
		x.mux.ServeHTTP(w, r2)
		return
	}
	if !errors.Is(err, factor.ErrWrong) && !errors.Is(err, factor.ErrReplayed) {
		slog.ErrorContext(ctx, "admin: confirm", "method", method, "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	res := l.countWrong(r, ac.user, ac.tenant, nil, event)
	if res.Locked {
		l.pages.Locked(w, r, ac.tenant, nil, ac.user.Locale)
		return
	}
	msg := &i18n.Msg{ID: "mfa.wrong"}
	switch {
	case errors.Is(err, factor.ErrReplayed):
		msg = &i18n.Msg{ID: "mfa.replayed"}
	case method == policy.BackupCode:
		msg = &i18n.Msg{ID: "backup.wrong"}
	}
	if msg.ID != "mfa.replayed" {
		loc := l.pages.Language(nil, r, nil, ac.user.Locale)
		msg.Data = map[string]any{"Left": loc.N("attempts.left", policy.MaxFailedCodes-res.Failures)}
	}
	x.renderConfirm(w, r, c, then, method, http.StatusUnauthorized, nil, msg)
}
