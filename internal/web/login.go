package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor/backupcode"
	"github.com/tessera-health/tessera/internal/factor/otp"
	"github.com/tessera-health/tessera/internal/factor/passkey"
	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/place"
	"github.com/tessera-health/tessera/internal/store"
)

// PasswordHasher is internal/password.Hasher as the login needs it.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(ctx context.Context, password string)
}

// LoginOptions configure the sign-in pages.
type LoginOptions struct {
	SSOTTL  time.Duration // absolute lifetime of a browser session
	IdleTTL time.Duration // a session unused this long ends
}

// Login serves the sign-in pages between /authorize and the callback.
type Login struct {
	st       *store.Store
	op       *oidcop.Provider
	pw       PasswordHasher
	sessions oidcop.Hasher
	audit    *audit.Log
	pages    *Pages
	cookies  Cookies
	opts     LoginOptions
	now      func() time.Time
	// OnResult counts logins by result (metrics); may be nil.
	OnResult func(result string)
	// TOTP is the authenticator-app factor; nil leaves sign-in at the password.
	TOTP *totp.TOTP
	// Backup is the backup-code factor (a lost phone).
	Backup *backupcode.Codes
	// Passkeys is the WebAuthn factor; nil (an issuer on an IP address) offers no passkeys.
	// Ceremonies is the keyed hash of the cookie that binds a WebAuthn ceremony to a browser.
	Passkeys   *passkey.Passkeys
	Ceremonies oidcop.Hasher
	// Codes are the one-time-code channels by kind (email, sms, voice); a kind without a sender
	// is missing and never offered.
	Codes map[string]*otp.Channel
	// LineTypes, when set, asks a carrier whether a number is a landline before texting it.
	LineTypes phone.LineTypeLookup
	// Twilio, when it is the phone provider, verifies the signed key presses of "press 1 to
	// confirm" calls, which are offered only then; Phones places those calls (the voice codes'
	// sender, with its retries) and CallTokens is the keyed hash of their callback tokens.
	Twilio     *delivery.Twilio
	Phones     delivery.Sender
	CallTokens oidcop.Hasher
	// Mailer sends security notices by email; nil where no email sender is configured.
	Mailer delivery.Sender
	// Issuer builds links in emails; MinPasswordLength is the password policy's minimum.
	Issuer            string
	MinPasswordLength int
	// Devices is the keyed hash of remembered-device cookies. How long a device is remembered
	// and how closely it is tied to the network are the tenant's settings (store.Tenant).
	Devices oidcop.Hasher
	// Browsers is the keyed hash of the tessera_browser cookie that tells a browser the person
	// has signed in from before; nil turns the "sign-in from a new browser" notice off.
	Browsers oidcop.Hasher
	// Places tells the approximate place of an address on the account console; nil answers
	// only the built-in ranges (loopback and private networks).
	Places place.Locator
	// SessionsEnded, when set, sends the back-channel logout tokens for sessions the console
	// ended (the OIDC provider's; web does not import it).
	SessionsEnded func(ctx context.Context, sessionIDs []string) error
}

// NewLogin wires the sign-in pages.
func NewLogin(st *store.Store, op *oidcop.Provider, pw PasswordHasher, sessions oidcop.Hasher, al *audit.Log,
	pages *Pages, cookies Cookies, opts LoginOptions) *Login {
	return &Login{st: st, op: op, pw: pw, sessions: sessions, audit: al, pages: pages, cookies: cookies, opts: opts, now: time.Now}
}

// batched runs h with its audit events appended together before its response (audit.Batch).
func (l *Login) batched(h http.HandlerFunc) http.Handler {
	if l.audit == nil {
		return h
	}
	return l.audit.Batch(h)
}

// SetClock replaces the clock (tests).
func (l *Login) SetClock(now func() time.Time) { l.now = now }

const sessionCookie = "tessera_session"

// Routes registers the pages on mux.
func (l *Login) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", l.show)
	// The sign-in's steps append their audit events in one transaction per request (see
	// audit.Batch): the second step alone records three.
	mux.Handle("POST /login", l.batched(l.submit))
	mux.Handle("POST /consent", l.batched(l.consent))
	mux.Handle("POST /mfa/verify", l.batched(l.verifyCode))
	mux.Handle("POST /mfa/enroll", l.batched(l.enroll))
	mux.Handle("POST /mfa/defer", l.batched(l.deferEnrollment))
	mux.Handle("POST /mfa/backup", l.batched(l.verifyBackup))
	mux.Handle("POST /mfa/continue", l.batched(l.continueSignIn))
	mux.HandleFunc("POST /mfa/enroll-email", l.enrollEmail)
	mux.HandleFunc("POST /mfa/enroll-phone", l.enrollPhone)
	mux.HandleFunc("POST /mfa/resend", l.resendCode)
	mux.Handle("POST /mfa/method", l.batched(l.switchMethod))
	mux.HandleFunc("GET /forgot", l.forgotForm)
	mux.HandleFunc("POST /forgot", l.forgot)
	mux.HandleFunc("GET /reset", l.resetForm)
	mux.HandleFunc("POST /reset", l.reset)
	mux.HandleFunc("GET /logged-out", l.signedOut)
	if l.Twilio != nil {
		l.callRoutes(mux)
	}
	l.registerRoutes(mux)
	l.passkeyRoutes(mux)
	l.proxyRoutes(mux)
}

// load finds the auth request and its client, or renders the error page. The request is read as a
// pending one (oidcop.PendingAuthRequest): these pages use only what never changes in it.
func (l *Login) load(w http.ResponseWriter, r *http.Request, id string) (*oidcop.AuthRequest, *oidcop.Client, bool) {
	ar, err := l.op.Storage().PendingAuthRequest(r.Context(), id)
	if err != nil {
		l.pages.Error(w, r, http.StatusBadRequest,
			"error.expired")
		return nil, nil, false
	}
	if ar.Done() {
		l.pages.Error(w, r, http.StatusBadRequest,
			"error.completed")
		return nil, nil, false
	}
	c, err := l.op.Client(r.Context(), ar.GetClientID())
	if err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.client_gone")
		return nil, nil, false
	}
	return ar, c, true
}

// loadForm reads a posted page form (bounded in size) and the auth request it belongs to.
func (l *Login) loadForm(w http.ResponseWriter, r *http.Request) (*oidcop.AuthRequest, *oidcop.Client, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return nil, nil, false
	}
	return l.load(w, r, r.PostForm.Get("authRequestID"))
}

func (l *Login) show(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := l.load(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	// Single sign-on: a live session that satisfies the request answers it without a page.
	if se := l.currentSession(r, c.Row().TenantID); se != nil {
		reuse := authn.Reuse{
			Now: l.now(), AuthTime: time.Unix(se.AuthTime, 0), SessionACR: se.ACR, SessionUserID: se.UserID,
			PromptLogin: ar.HasPrompt(oidc.PromptLogin), MaxAge: ar.Params.MaxAge, HintSubject: ar.Params.HintSubject,
			// No RequiredACR yet: asking the password again cannot raise the acr. Step-up arrives
			// with the second factors; until then finish answers an unmeetable floor.
		}
		if reuse.Allowed() {
			l.finish(w, r, ar, se, "sso")
			return
		}
	}
	if ar.HasPrompt(oidc.PromptNone) {
		l.result("login_required")
		l.op.RedirectError(w, r, ar, "login_required", "the user is not signed in")
		return
	}
	l.renderForm(w, r, http.StatusOK, ar, c, ar.Params.LoginHint, nil)
}

func (l *Login) renderForm(w http.ResponseWriter, r *http.Request, status int, ar *oidcop.AuthRequest, c *oidcop.Client, email string, problem *i18n.Msg) {
	data := map[string]any{
		"TitleID": "login.title", "AppName": c.Row().Name, "AuthRequestID": ar.GetID(),
		"CSRF": l.cookies.CSRFToken(w, r), "Email": email, "UILocales": ar.Params.UILocales,
		"SwitchURL": "/login?authRequestID=" + url.QueryEscape(ar.GetID()),
		"Register":  l.registrationOffered(r.Context(), c.Row().TenantID),
		"Passkey":   l.passkeyOffered(),
	}
	if problem != nil {
		// The summary links to the field to fix: the empty one, else the email (the one message
		// covers both fields, so the page never tells which was wrong).
		data["Error"], data["ErrorField"] = problem, "email"
		if problem.ID == "login.missing" && email != "" {
			data["ErrorField"] = "password"
		}
	}
	l.pages.Render(w, r, status, "login", data)
}

// errWrongCredentials is the one message for an unknown email, a wrong password and a disabled
// account, so the page never tells who has an account.
var errWrongCredentials = &i18n.Msg{ID: "login.wrong"}

func (l *Login) submit(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return
	}
	if !l.cookies.CheckCSRF(r) {
		l.renderForm(w, r, http.StatusForbidden, ar, c, "", &i18n.Msg{ID: "login.csrf"})
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	if email == "" || password == "" {
		l.renderForm(w, r, http.StatusBadRequest, ar, c, email, &i18n.Msg{ID: "login.missing"})
		return
	}
	tenantID := c.Row().TenantID
	acctKey, ipKey := authn.ThrottleKeys(tenantID, email, audit.RequestFrom(r.Context()).IP)
	// The throttle and the person in one read, which costs the same whether or not they exist.
	u, until, hadFailures, err := l.st.PasswordStep(r.Context(), tenantID, email, acctKey, ipKey)
	if err != nil {
		slog.ErrorContext(r.Context(), "login: load user", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if wait := time.Unix(until, 0).Sub(l.now()); wait > 0 {
		// Refused before the password is even checked, so waiting out the delay is the only way on.
		l.result("throttled")
		loc := l.pages.Language(nil, r, ar.Params.UILocales, "")
		l.renderForm(w, r, http.StatusTooManyRequests, ar, c, email,
			&i18n.Msg{ID: "login.throttled", Data: map[string]any{"Wait": plainDuration(loc, wait)}})
		return
	}
	if u == nil || u.PasswordHash == "" {
		l.pw.VerifyDummy(r.Context(), password) // same cost as a real check: no enumeration by timing
		l.fail(w, r, ar, c, tenantID, "", email, acctKey, ipKey)
		return
	}
	okPw, rehash, err := l.pw.Verify(r.Context(), password, u.PasswordHash)
	if err != nil && !errors.Is(err, context.Canceled) {
		slog.ErrorContext(r.Context(), "login: verify password", "user", u.ID, "err", err)
	}
	if !okPw || u.Disabled {
		l.fail(w, r, ar, c, tenantID, u.ID, email, acctKey, ipKey)
		return
	}
	if u.LockedAt != nil {
		// Only after the right password, so the page never tells a stranger the account exists.
		l.result("locked")
		l.audit.Record(r.Context(), &store.AuditEvent{TenantID: tenantID, Event: "login.password", Result: "locked",
			SubjectID: u.ID, ClientID: c.Row().ID})
		t, _ := l.st.TenantByID(r.Context(), tenantID) // for its help contact; without it the generic words
		l.pages.Locked(w, r, t, ar.Params.UILocales, u.Locale)
		return
	}
	if hadFailures {
		if err := l.st.ThrottleReset(r.Context(), acctKey); err != nil {
			slog.WarnContext(r.Context(), "login: reset throttle", "err", err)
		}
	}
	if rehash {
		if h, err := l.pw.Hash(r.Context(), password); err == nil {
			if err := l.st.SetPasswordHash(r.Context(), u.ID, h); err != nil {
				slog.WarnContext(r.Context(), "login: rehash password", "user", u.ID, "err", err)
			}
		}
	}
	se, err := l.startSession(w, r, u, []string{authn.AMRPassword})
	if err != nil {
		slog.ErrorContext(r.Context(), "login: start session", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	// Go on with the person just read (finish would read them again).
	lc, err := l.contextFor(r, ar, c, se, u)
	if err != nil {
		slog.ErrorContext(r.Context(), "login: load", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.proceedWith(w, r, lc, "password", stepFlags{})
}

func (l *Login) fail(w http.ResponseWriter, r *http.Request, ar *oidcop.AuthRequest, c *oidcop.Client, tenantID, userID, email, acctKey, ipKey string) {
	l.result("failed")
	if _, err := l.st.ThrottleFail(r.Context(), acctKey, authn.ThrottleWindow, authn.AccountDelay); err != nil {
		slog.ErrorContext(r.Context(), "login: count failure", "err", err)
	}
	if _, err := l.st.ThrottleFail(r.Context(), ipKey, authn.ThrottleWindow, authn.AddressDelay); err != nil {
		slog.ErrorContext(r.Context(), "login: count failure", "err", err)
	}
	l.audit.Record(r.Context(), &store.AuditEvent{TenantID: tenantID, Event: "login.password", Result: "failed",
		SubjectID: userID, ClientID: c.Row().ID})
	l.renderForm(w, r, http.StatusUnauthorized, ar, c, email, errWrongCredentials)
}

// throttled returns how long this account (from this address) or this address must wait, and
// whether any failures are on record (so a success only writes when there is something to reset).
func (l *Login) throttled(r *http.Request, keys ...string) (time.Duration, bool) {
	until, any, err := l.st.ThrottleBlockedUntil(r.Context(), keys...)
	if err != nil {
		slog.ErrorContext(r.Context(), "login: read throttle", "err", err)
		return 0, false
	}
	return time.Unix(until, 0).Sub(l.now()), any
}

// plainDuration says a wait the way a person would, in their language.
func plainDuration(loc *i18n.Localizer, d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 60 {
		return loc.N("wait.second", max(s, 1))
	}
	return loc.N("wait.minute", (s+59)/60)
}

// startSession replaces any session this browser had with a new one (a new id and cookie on
// every sign-in, so a planted cookie can never be promoted).
func (l *Login) startSession(w http.ResponseWriter, r *http.Request, u *store.User, amr []string) (*store.Session, error) {
	if se := l.browserSession(r); se != nil && se.UserID != u.ID {
		_ = l.st.RevokeSession(r.Context(), se.ID) // someone else signs in on this browser
	}
	value := randomValue()
	req := audit.RequestFrom(r.Context())
	se := &store.Session{CookieHash: l.sessions.Sum(value), UserID: u.ID, TenantID: u.TenantID,
		AuthTime: l.now().Unix(), AMR: strings.Join(amr, " "), ACR: authn.ACRFor(amr), IP: req.IP, UserAgent: truncate(req.UserAgent, 300)}
	if err := l.st.CreateSession(r.Context(), se, l.opts.SSOTTL); err != nil {
		return nil, err
	}
	l.cookies.Set(w, sessionCookie, value, 0)
	return se, nil
}

// browserSession returns this browser's live SSO session, or nil.
func (l *Login) browserSession(r *http.Request) *store.Session {
	v := l.cookies.Get(r, sessionCookie)
	if v == "" {
		return nil
	}
	se, err := l.st.SessionByCookie(r.Context(), l.sessions.Sum(v), l.opts.IdleTTL)
	if err != nil {
		return nil
	}
	return se
}

// currentSession returns this browser's live session in the tenant, or nil.
func (l *Login) currentSession(r *http.Request, tenantID string) *store.Session {
	if se := l.browserSession(r); se != nil && se.TenantID == tenantID {
		return se
	}
	return nil
}

// needsConsent: the tenant's own applications never ask; a third-party application asks until
// the person has allowed every scope it requests, and whenever it sends prompt=consent.
func (l *Login) needsConsent(r *http.Request, ar *oidcop.AuthRequest, c *oidcop.Client, userID string) bool {
	if ar.HasPrompt(oidc.PromptConsent) {
		return true
	}
	if c.Row().FirstParty {
		return false
	}
	ok, err := l.st.ConsentCovers(r.Context(), userID, c.Row().ID, ar.GetScopes())
	return err != nil || !ok
}

// consent takes the person's answer on the consent page.
func (l *Login) consent(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := l.loadForm(w, r)
	if !ok {
		return
	}
	se := l.currentSession(r, c.Row().TenantID)
	if se == nil || !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.timeout")
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		l.audit.Record(r.Context(), &store.AuditEvent{TenantID: se.TenantID, Event: "consent.denied", Result: "ok",
			ActorID: se.UserID, SubjectID: se.UserID, ClientID: c.Row().ID})
		l.op.RedirectError(w, r, ar, "access_denied", "the user did not allow access")
		return
	}
	if err := l.st.GrantConsent(r.Context(), se.UserID, c.Row().ID, ar.GetScopes()); err != nil {
		slog.ErrorContext(r.Context(), "consent: save", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(r.Context(), &store.AuditEvent{TenantID: se.TenantID, Event: "consent.granted", Result: "ok",
		ActorID: se.UserID, SubjectID: se.UserID, ClientID: c.Row().ID, Detail: strings.Join(ar.GetScopes(), " ")})
	// On through the state machine, not straight to the code: consent is no way around a second
	// factor still owed.
	// A deferral travels through the consent form; Next honours it only where policy allows one.
	l.proceed(w, r, ar, se, "consent", stepFlags{consented: true, deferred: r.PostForm.Get("deferred") == "1"})
}

// complete marks the auth request done and sends the browser to the protocol callback.
func (l *Login) complete(w http.ResponseWriter, r *http.Request, ar *oidcop.AuthRequest, se *store.Session, amr []string, how string) {
	ctx := r.Context()
	if err := l.op.Complete(ctx, ar, se.UserID, se.ID, time.Unix(se.AuthTime, 0), amr); err != nil {
		l.pages.Error(w, r, http.StatusBadRequest,
			"error.expired")
		return
	}
	if how == "sso" {
		_ = l.st.TouchSession(ctx, se.ID, time.Time{}, nil, "")
	} else {
		l.seeBrowser(w, r, se, ar.GetClientID())
	}
	l.result("ok")
	l.audit.Record(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "login." + how, Result: "ok",
		ActorID: se.UserID, SubjectID: se.UserID, ClientID: ar.GetClientID()})
	if l.chooserNeeded(r, ar, se.UserID) {
		http.Redirect(w, r, chooserURL(ar.GetID()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, l.op.CallbackURL(ar.GetID()), http.StatusSeeOther)
}

func (l *Login) result(res string) {
	if l.OnResult != nil {
		l.OnResult(res)
	}
}

// Logout ends this browser's SSO session (RP-initiated logout calls it) and clears the cookie.
func (l *Login) Logout(w http.ResponseWriter, r *http.Request) {
	if se := l.browserSession(r); se != nil {
		if err := l.st.RevokeSession(r.Context(), se.ID); err != nil {
			slog.ErrorContext(r.Context(), "logout: revoke session", "err", err)
		}
		l.audit.Record(r.Context(), &store.AuditEvent{TenantID: se.TenantID, Event: "session.logout", Result: "ok",
			ActorID: se.UserID, SubjectID: se.UserID})
	}
	l.cookies.Clear(w, sessionCookie)
}

func (l *Login) signedOut(w http.ResponseWriter, r *http.Request) {
	l.pages.Render(w, r, http.StatusOK, "signedout", map[string]any{"TitleID": "signedout.title"})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SetProvider completes the wiring: the provider needs Logout and the login needs the provider.
func (l *Login) SetProvider(op *oidcop.Provider) { l.op = op }

// BrowserAuthRequest returns the auth request id when it is bound to this browser's live SSO
// session (the callback's check, in one statement).
func (l *Login) BrowserAuthRequest(r *http.Request, id string) (*store.AuthRequest, error) {
	v := l.cookies.Get(r, sessionCookie)
	if v == "" {
		return nil, store.ErrNotFound
	}
	return l.st.AuthRequestForBrowser(r.Context(), id, l.sessions.Sum(v), l.opts.IdleTTL)
}

// BrowserSession returns the id of this browser's live SSO session, or "" (the protocol layer
// uses it to release a code only to the browser that signed in).
func (l *Login) BrowserSession(r *http.Request) string {
	if se := l.browserSession(r); se != nil {
		return se.ID
	}
	return ""
}
