package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/place"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// The rest of the account console, beside /account/security: Profile, Sessions and devices,
// Activity and Connected applications, with one navigation between them ("accountnav" in
// templates/account_partials.html).
//
// Changes that could lock the person out or hand their account to someone else (the email
// address, the mobile number, ending sessions, removing an application's access) go through
// the same "Confirm it's you" step as the security page (accountGuarded). The name and the
// language only need the signed-in session and the form's CSRF token.

// consoleRoutes registers the console pages added beside the security page.
func (l *Login) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /account/profile", l.accountProfile)
	mux.HandleFunc("POST /account/profile/name", l.accountProfileName)
	mux.HandleFunc("POST /account/profile/language", l.accountProfileLanguage)
	mux.HandleFunc("POST /account/email-change/code", l.accountEmailCode)
	mux.HandleFunc("POST /account/email-change/resend", l.accountEmailResend)
	mux.HandleFunc("GET /account/sessions", l.accountSessions)
	mux.HandleFunc("GET /account/activity", l.accountActivity)
	mux.HandleFunc("GET /account/apps", l.accountApps)
}

// consoleBack is the page "Cancel" on "Confirm it's you" returns to for a change made elsewhere
// than the security page.
var consoleBack = map[string]string{"mobile": "/account/profile", "email-change": "/account/profile",
	"signout": "/account/sessions", "signout-all": "/account/sessions", "app-remove": "/account/apps"}

// consoleActions are the guarded changes of these pages (see runConsoleAction).
var consoleActions = []string{"email-change", "signout", "signout-all", "app-remove"}

func (l *Login) runConsoleAction(w http.ResponseWriter, r *http.Request, ac *accountContext, name string) bool {
	switch name {
	case "email-change":
		l.accountEmailChange(w, r, ac)
	case "signout":
		l.accountSignOutOne(w, r, ac)
	case "signout-all":
		l.accountSignOutAll(w, r, ac)
	case "app-remove":
		l.accountRemoveApp(w, r, ac)
	default:
		return false
	}
	return true
}

// renderConsole renders one console page with what every page needs: the navigation (nav is the
// current page), the CSRF token, the person's language, and a notice or a problem.
func (l *Login) renderConsole(w http.ResponseWriter, r *http.Request, ac *accountContext, status int, page, nav string, data map[string]any, notice *i18n.Msg, problems []Problem) {
	data["TitleID"] = "account." + nav + ".title"
	data["TenantName"], data["UserLocale"], data["Nav"] = ac.tenant.Name, ac.user.Locale, nav
	data["CSRF"] = l.cookies.CSRFToken(w, r)
	if r.Method != http.MethodGet {
		data["SwitchURL"] = ""
	}
	if notice != nil {
		data["Notice"] = notice
	}
	if problems != nil {
		data["Problems"] = problems
	}
	l.pages.Render(w, r, status, page, data)
}

// doneNotice is the confirmation a finished change shows (?done=…, the message prefix+done):
// from a fixed list per page, so a link can never put words of its own on it.
func doneNotice(r *http.Request, prefix string, allowed ...string) *i18n.Msg {
	if d := r.URL.Query().Get("done"); slices.Contains(allowed, d) {
		return &i18n.Msg{ID: prefix + d}
	}
	return nil
}

// ---- words for times, devices and places ----

// plainTime says when something happened in words a person reads at a glance: "Just now",
// "12 minutes ago", "Today at 14:05", "Yesterday at 09:12", "2026-03-04 at 16:30" (UTC).
func (l *Login) plainTime(loc *i18n.Localizer, unix int64) string {
	now := l.now().UTC()
	t := time.Unix(unix, 0).UTC()
	age := now.Sub(t)
	clock := t.Format("15:04") + " UTC"
	y1, m1, d1 := now.Date()
	y2, m2, d2 := t.Date()
	switch {
	case age < time.Minute && age > -time.Minute:
		return loc.T("when.just_now")
	case age > 0 && age < time.Hour:
		return loc.N("when.minutes_ago", int(age/time.Minute))
	case y1 == y2 && m1 == m2 && d1 == d2:
		return loc.T("when.today", "Time", clock)
	case now.AddDate(0, 0, -1).Format(dateLayout) == t.Format(dateLayout):
		return loc.T("when.yesterday", "Time", clock)
	}
	return loc.T("when.date", "Date", t.Format(dateLayout), "Time", clock)
}

// uaWords names a browser from its user agent: "Firefox on Windows", or "Unknown device".
func uaWords(loc *i18n.Localizer, ua string) string {
	browser, os := userAgentDevice(ua)
	if browser == "" && os == "" {
		return loc.T("account.device_unknown")
	}
	return deviceWords(loc, browser, os)
}

// placeWords is the approximate place of an address in words.
func (l *Login) placeWords(loc *i18n.Localizer, ip string) string {
	p := place.Of(l.Places, ip)
	switch p.Kind {
	case place.Here:
		return loc.T("place.here")
	case place.Local:
		return loc.T("place.local")
	case place.Located:
		var parts []string
		for _, s := range []string{p.City, p.Region, p.Country} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, ", ")
		}
	}
	return loc.T("place.unknown")
}

// ---- Profile ----

func (l *Login) accountProfile(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.account(w, r)
	if !ok {
		return
	}
	l.renderProfile(w, r, ac, http.StatusOK, doneNotice(r, "account.profile.done.", "name", "language", "email", "mobile_verified"), nil, "")
}

// renderProfile shows the profile page; a problem sits beside the field of the form on names
// ("name", "email", "mobile", "language").
func (l *Login) renderProfile(w http.ResponseWriter, r *http.Request, ac *accountContext, status int, notice, problem *i18n.Msg, on string) {
	u := ac.user
	data := map[string]any{
		"Name": u.Name, "GivenName": u.GivenName, "FamilyName": u.FamilyName,
		"Email": u.Email, "EmailChange": l.Codes[policy.Email] != nil,
		"MobileOption": l.Codes[policy.SMS] != nil && ac.role().Allows(policy.SMS),
		"Mobile":       maskDestination(u.Phone), "MobileVerified": u.PhoneVerified,
		"Locale": u.Locale, "Languages": i18n.Tags(), "NeedPassword": len(ac.usable) == 0, "ProblemOn": on,
	}
	if on != "" {
		// Give back what the person typed in the form that had the problem.
		if on == "name" {
			data["Name"], data["GivenName"], data["FamilyName"] = r.PostForm.Get("name"), r.PostForm.Get("given_name"), r.PostForm.Get("family_name")
		}
		data["NewEmail"], data["Phone"] = r.PostForm.Get("email"), r.PostForm.Get("phone")
	}
	var problems []Problem
	if problem != nil {
		field := map[string]string{"name": "name", "email": "new-email", "mobile": "mobile", "language": "language"}[on]
		problems = []Problem{{Field: field, Msg: problem}}
	}
	l.renderConsole(w, r, ac, status, "account_profile", "profile", data, notice, problems)
}

const maxNameLen = 100

// accountProfileName saves the person's names. The full name is what applications show; when
// it is left empty it is made from the given and family names.
func (l *Login) accountProfileName(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	clean := func(k string) string { return strings.Join(strings.Fields(r.PostForm.Get(k)), " ") }
	name, given, family := clean("name"), clean("given_name"), clean("family_name")
	if name == "" {
		name = strings.TrimSpace(given + " " + family)
	}
	switch {
	case name == "":
		l.renderProfile(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.profile.name_missing"}, "name")
		return
	case len(name) > maxNameLen || len(given) > maxNameLen || len(family) > maxNameLen:
		l.renderProfile(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.profile.name_long", Data: map[string]any{"Max": maxNameLen}}, "name")
		return
	}
	if err := l.st.UpdateProfileName(r.Context(), ac.user.ID, name, given, family); err != nil {
		slog.ErrorContext(r.Context(), "account: save name", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(r.Context(), l.accountEvent(ac, "profile.name_changed", ""))
	http.Redirect(w, r, "/account/profile?done=name", http.StatusSeeOther)
}

// accountProfileLanguage saves the person's preferred language ("" follows the browser); it
// comes before the browser's own preference everywhere Tessera speaks to them, emails included.
func (l *Login) accountProfileLanguage(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	lang := r.PostForm.Get("language")
	if lang != "" && !slices.Contains(i18n.Tags(), lang) {
		l.renderProfile(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "error.form"}, "language")
		return
	}
	if err := l.st.UpdateLocale(r.Context(), ac.user.ID, lang); err != nil {
		slog.ErrorContext(r.Context(), "account: save language", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(r.Context(), l.accountEvent(ac, "profile.language_changed", lang))
	http.Redirect(w, r, "/account/profile?done=language", http.StatusSeeOther)
}

// ---- the email address ----

// newEmail reads and checks the new address typed on the profile page.
func newEmail(raw string) (string, bool) {
	s := strings.TrimSpace(raw)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") {
		return "", false
	}
	return s, true
}

// accountEmailChange starts an email change after the fresh check: a code goes to the NEW
// address, and the address changes only when the code comes back. An address another person of
// the tenant already has gets no code, but the page says exactly the same — so the form cannot be
// used to find out who has an account — and no code will ever match.
func (l *Login) accountEmailChange(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	ctx := r.Context()
	if l.Codes[policy.Email] == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	addr, ok := newEmail(r.PostForm.Get("email"))
	if !ok {
		l.renderProfile(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.profile.email_invalid"}, "email")
		return
	}
	if strings.EqualFold(addr, ac.user.Email) {
		l.renderProfile(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.profile.email_same"}, "email")
		return
	}
	taken, err := l.st.EmailTaken(ctx, ac.tenant.ID, ac.user.ID, addr)
	if err != nil {
		slog.ErrorContext(ctx, "account: email taken", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	ev := l.accountEvent(ac, "profile.email_change_requested", "")
	if taken {
		ev.Result, ev.Detail = "refused", "address in use"
		l.audit.Record(ctx, ev)
		l.renderEmailCode(w, r, ac, addr, http.StatusOK, nil, nil)
		return
	}
	l.sendEmailChangeCode(w, r, ac, addr, false)
}

// sendEmailChangeCode sends the code to the new address and shows the page that asks for it.
func (l *Login) sendEmailChangeCode(w http.ResponseWriter, r *http.Request, ac *accountContext, addr string, explicit bool) {
	ctx := r.Context()
	ch := l.Codes[policy.Email].For(ac.tenant)
	loc := l.pages.Language(nil, r, nil, ac.user.Locale)
	minutes := int(ch.TTL() / time.Minute)
	err := ch.Send(ctx, ac.user.ID, addr, audit.RequestFrom(ctx).IP, func(code string) delivery.Message {
		return delivery.Message{Locale: loc.Tag.String(), Subject: loc.T("email.change.subject", "Tenant", ac.tenant.Name),
			Body: loc.T("email.change.body", "Code", code, "Minutes", minutes, "Tenant", ac.tenant.Name)}
	})
	ev := l.accountEvent(ac, "profile.email_change_requested", "")
	var limited *store.ErrSendLimited
	switch {
	case err == nil:
		l.audit.Record(ctx, ev)
		l.renderEmailCode(w, r, ac, addr, http.StatusOK, nil, nil)
	case errors.As(err, &limited):
		wait := plainDuration(loc, time.Until(limited.RetryAt))
		var notice *i18n.Msg
		if limited.Reason != "cooldown" {
			ev.Result, ev.Detail = "limited", limited.Reason
			l.audit.Record(ctx, ev)
			notice = &i18n.Msg{ID: "mfa.code_limit", Data: map[string]any{"Wait": wait}}
		} else if explicit {
			notice = &i18n.Msg{ID: "mfa.code_wait", Data: map[string]any{"Wait": wait}}
		}
		l.renderEmailCode(w, r, ac, addr, http.StatusOK, notice, nil)
	default:
		slog.ErrorContext(ctx, "account: send email change code", "err", err)
		ev.Result = "failed"
		l.audit.Record(ctx, ev)
		l.renderEmailCode(w, r, ac, addr, http.StatusServiceUnavailable, nil, &i18n.Msg{ID: "delivery.failed.email"})
	}
}

func (l *Login) renderEmailCode(w http.ResponseWriter, r *http.Request, ac *accountContext, addr string, status int, notice, problem *i18n.Msg) {
	data := map[string]any{"NewEmail": addr, "To": maskDestination(addr), "Minutes": int(l.Codes[policy.Email].For(ac.tenant).TTL() / time.Minute)}
	var problems []Problem
	if problem != nil {
		problems = []Problem{{Field: codeField(problem, "code"), Msg: problem}}
	}
	l.renderConsole(w, r, ac, status, "account_email_code", "profile", data, notice, problems)
}

// accountEmailResend is "Send a new code" on the email change's code page.
func (l *Login) accountEmailResend(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok || !l.setupAllowed(w, r, ac) {
		return
	}
	if l.Codes[policy.Email] == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	addr, ok := newEmail(r.PostForm.Get("email"))
	if !ok {
		l.accountProblem(w, r, http.StatusBadRequest, "account.timeout")
		return
	}
	if taken, err := l.st.EmailTaken(r.Context(), ac.tenant.ID, ac.user.ID, addr); err != nil || taken {
		l.renderEmailCode(w, r, ac, addr, http.StatusOK, nil, nil)
		return
	}
	l.sendEmailChangeCode(w, r, ac, addr, true)
}

// accountEmailCode checks the code sent to the new address (the code is bound to the address
// it went to, so a changed hidden field cannot match) and then changes the address. The old
// address is told, so a person whose account was taken over hears of it.
func (l *Login) accountEmailCode(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok || !l.setupAllowed(w, r, ac) {
		return
	}
	ctx := r.Context()
	if l.Codes[policy.Email] == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	addr, ok := newEmail(r.PostForm.Get("email"))
	if !ok {
		l.accountProblem(w, r, http.StatusBadRequest, "account.timeout")
		return
	}
	if err := l.Codes[policy.Email].For(ac.tenant).VerifyUser(ctx, ac.user.ID, addr, r.PostForm.Get("code")); err != nil {
		if !errors.Is(err, factor.ErrWrong) && !errors.Is(err, factor.ErrReplayed) {
			slog.ErrorContext(ctx, "account: verify email change code", "err", err)
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		ev := l.accountEvent(ac, "profile.email_changed", "wrong code")
		ev.Result = "failed"
		l.audit.Record(ctx, ev)
		l.renderEmailCode(w, r, ac, addr, http.StatusUnauthorized, nil, &i18n.Msg{ID: "enroll.wrong_code"})
		return
	}
	old := *ac.user
	err := l.st.ChangeEmail(ctx, ac.user.ID, addr)
	if errors.Is(err, store.ErrConflict) {
		// Taken between the code and now: the same words as a code that does not match.
		l.renderEmailCode(w, r, ac, addr, http.StatusUnauthorized, nil, &i18n.Msg{ID: "enroll.wrong_code"})
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "account: change email", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "profile.email_changed", ""))
	l.notifyUser(r, &old, ac.tenant, "email_changed", map[string]any{"To": maskDestination(addr)})
	http.Redirect(w, r, "/account/profile?done=email", http.StatusSeeOther)
}

// ---- Sessions and devices ----

// sessionRow is one line of the session list.
type sessionRow struct {
	ID, Started, LastSeen, Device, Place string
	This                                 bool
}

func (l *Login) accountSessions(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.account(w, r)
	if !ok {
		return
	}
	l.renderSessions(w, r, ac, http.StatusOK, doneNotice(r, "account.sessions.done.", "signed_out", "device_forgotten", "devices_forgotten"), nil)
}

func (l *Login) renderSessions(w http.ResponseWriter, r *http.Request, ac *accountContext, status int, notice, problem *i18n.Msg) {
	ctx := r.Context()
	loc := l.pages.Language(nil, r, nil, ac.user.Locale)
	ss, err := l.st.LiveSessions(ctx, ac.user.ID, l.opts.IdleTTL)
	if err != nil {
		slog.ErrorContext(ctx, "account: sessions", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	rows := make([]sessionRow, 0, len(ss))
	for _, se := range ss {
		row := sessionRow{ID: se.ID, Started: l.plainTime(loc, se.CreatedAt), LastSeen: l.plainTime(loc, se.LastSeenAt),
			Device: uaWords(loc, se.UserAgent), Place: l.placeWords(loc, se.IP), This: se.ID == ac.se.ID}
		if row.This {
			rows = append([]sessionRow{row}, rows...) // this browser first
		} else {
			rows = append(rows, row)
		}
	}
	data := map[string]any{"Sessions": rows, "Devices": l.deviceRows(r, ac), "DevicesOffered": rememberDays(ac.tenant) > 0}
	var problems []Problem
	if problem != nil {
		problems = []Problem{{Msg: problem}}
	}
	l.renderConsole(w, r, ac, status, "account_sessions", "sessions", data, notice, problems)
}

// accountSignOutOne ends one session of the person. Ending this browser's own is signing out.
func (l *Login) accountSignOutOne(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	ctx := r.Context()
	id := r.PostForm.Get("sessionID")
	err := l.st.EndUserSession(ctx, ac.user.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		l.renderSessions(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.sessions.no_such_session"})
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "account: end session", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "session.ended", id))
	l.notifySessionsEnded(r, []string{id})
	if id == ac.se.ID {
		l.cookies.Clear(w, sessionCookie)
		l.signedOut(w, r)
		return
	}
	http.Redirect(w, r, "/account/sessions?done=signed_out", http.StatusSeeOther)
}

// accountSignOutAll is "Sign out everywhere": store.SignOutEverywhere ends every session of the
// person (this one too), their applications' refresh tokens and access tokens, and their
// remembered devices; then this browser shows the signed-out page.
func (l *Login) accountSignOutAll(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	ctx := r.Context()
	out, err := l.SignOutEverywhere(r, ac.user)
	if err != nil {
		slog.ErrorContext(ctx, "account: sign out everywhere", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "session.signout_everywhere",
		strconv.Itoa(len(out.Sessions))+" sessions, "+strconv.Itoa(len(out.Clients))+" applications"))
	l.cookies.Clear(w, sessionCookie)
	l.cookies.Clear(w, deviceCookie)
	l.signedOut(w, r)
}

// SignOutEverywhere ends everything the person is signed in with (store.SignOutEverywhere) and
// returns what was ended. It is the one entry point for "sign out everywhere"; back-channel
// logout notifications to relying parties belong here, fed by the sessions and clients returned.
func (l *Login) SignOutEverywhere(r *http.Request, u *store.User) (*store.SignedOut, error) {
	out, err := l.st.SignOutEverywhere(r.Context(), u.ID)
	if err == nil {
		l.notifySessionsEnded(r, out.Sessions)
	}
	return out, err
}

// notifySessionsEnded tries the back-channel logout tokens of sessions the console ended now, so
// the applications hear it while the person is still looking. The store queued them in the
// transaction that ended the sessions; the provider's worker retries whatever fails here.
func (l *Login) notifySessionsEnded(r *http.Request, sessionIDs []string) {
	if l.SessionsEnded == nil || len(sessionIDs) == 0 {
		return
	}
	if err := l.SessionsEnded(r.Context(), sessionIDs); err != nil {
		slog.WarnContext(r.Context(), "account: back-channel logout", "err", err)
	}
}

// ---- Activity ----

// activityRow is one security event in words.
type activityRow struct {
	When, What, App, Device, Place, Result string
	Good                                   bool
}

const activityPage = 20

func (l *Login) accountActivity(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.account(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	loc := l.pages.Language(w, r, nil, ac.user.Locale)
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	es, err := l.st.AccountActivity(ctx, ac.tenant.ID, ac.user.ID, max(before, 0), activityPage+1)
	if err != nil {
		slog.ErrorContext(ctx, "account: activity", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	more := len(es) > activityPage
	if more {
		es = es[:activityPage]
	}
	apps := map[string]string{}
	appName := func(id string) string {
		if id == "" {
			return ""
		}
		if id == store.AccountClientID(ac.tenant.ID) {
			return loc.T("account.activity.console")
		}
		if n, ok := apps[id]; ok {
			return n
		}
		n := ""
		if c, err := l.st.ClientByID(ctx, id); err == nil && c.TenantID == ac.tenant.ID {
			n = c.Name
		}
		apps[id] = n
		return n
	}
	rows := make([]activityRow, 0, len(es))
	for _, e := range es {
		rows = append(rows, activityRow{When: l.plainTime(loc, e.At), What: l.eventWords(loc, &e), App: appName(e.ClientID),
			Device: uaWords(loc, e.UserAgent), Place: l.placeWords(loc, e.IP),
			Result: resultWords(loc, e.Result), Good: e.Result == "ok" || e.Result == "issued"})
	}
	data := map[string]any{"Events": rows}
	if more {
		data["Older"] = "/account/activity?before=" + strconv.FormatInt(es[len(es)-1].Seq, 10)
	}
	if before > 0 {
		data["Newest"] = "/account/activity"
	}
	l.renderConsole(w, r, ac, http.StatusOK, "account_activity", "activity", data, nil, nil)
}

// eventWords says what an event was, in a sentence: "activity.<event>" from the catalogs, or a
// general sentence for a kind the catalog does not know.
func (l *Login) eventWords(loc *i18n.Localizer, e *store.AuditEvent) string {
	id := "activity." + e.Event
	if s := loc.T(id); s != id {
		return s
	}
	return loc.T("activity.other")
}

func resultWords(loc *i18n.Localizer, result string) string {
	id := "activity.result." + result
	if s := loc.T(id); s != id {
		return s
	}
	return result
}

// ---- Connected applications ----

type appRow struct {
	ClientID, Name, Since, LastUsed string
	Scopes                          []string
	Offline                         bool
}

func (l *Login) accountApps(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.account(w, r)
	if !ok {
		return
	}
	l.renderApps(w, r, ac, http.StatusOK, doneNotice(r, "account.apps.done.", "removed"), nil)
}

func (l *Login) renderApps(w http.ResponseWriter, r *http.Request, ac *accountContext, status int, notice, problem *i18n.Msg) {
	ctx := r.Context()
	loc := l.pages.Language(nil, r, nil, ac.user.Locale)
	apps, err := l.st.ConnectedApps(ctx, ac.tenant.ID, ac.user.ID)
	if err != nil {
		slog.ErrorContext(ctx, "account: connected apps", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	rows := make([]appRow, 0, len(apps))
	for _, a := range apps {
		row := appRow{ClientID: a.Client.ID, Name: a.Client.Name, Since: time.Unix(a.Since, 0).UTC().Format(dateLayout), Offline: a.Offline}
		if a.LastUsed > 0 {
			row.LastUsed = l.plainTime(loc, a.LastUsed)
		}
		for _, sc := range a.Scopes {
			if words := scopeText(loc, sc); words != sc { // in words, or left off
				row.Scopes = append(row.Scopes, words)
			}
		}
		rows = append(rows, row)
	}
	var problems []Problem
	if problem != nil {
		problems = []Problem{{Msg: problem}}
	}
	l.renderConsole(w, r, ac, status, "account_apps", "apps", map[string]any{"Apps": rows}, notice, problems)
}

// accountRemoveApp is "Remove access": the consent goes, and with it every refresh token and
// access token the application holds for the person. Only an application on the person's list
// can be named.
func (l *Login) accountRemoveApp(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	ctx := r.Context()
	id := r.PostForm.Get("clientID")
	apps, err := l.st.ConnectedApps(ctx, ac.tenant.ID, ac.user.ID)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if id == "" || !slices.ContainsFunc(apps, func(a store.ConnectedApp) bool { return a.Client.ID == id }) {
		l.renderApps(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.apps.no_such_app"})
		return
	}
	if err := l.st.RemoveAppAccess(ctx, ac.user.ID, id); err != nil {
		slog.ErrorContext(ctx, "account: remove app access", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	ev := l.accountEvent(ac, "app.access_removed", "")
	ev.ClientID = id
	l.audit.Record(ctx, ev)
	http.Redirect(w, r, "/account/apps?done=removed", http.StatusSeeOther)
}
