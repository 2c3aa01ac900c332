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

	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/store"
)

// /account/caregivers: a patient invites a caregiver by email, sees who may act for them and
// takes access back; a caregiver sees whom they may act for, and accepts an invitation.
//
// Every change (invite, withdraw, revoke, accept) is a guarded console action: it runs after
// "Confirm it's you" like the security page's changes. Accepting also needs the caregiver's own
// second factor: the acceptance is a multi-factor sign-in of the caregiver's own account, and
// it is bound to the address the invitation was sent to.

const inviteCookie = "tessera_proxy_invite"

// caregiverActions are the guarded changes of the page (see runCaregiverAction).
var caregiverActions = []string{"caregiver-invite", "caregiver-withdraw", "caregiver-revoke", "caregiver-accept"}

// caregiverNotices are the ?done= confirmations of the page.
var caregiverNotices = []string{"invited", "withdrawn", "revoked", "accepted"}

func (l *Login) caregiverRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /account/caregivers", l.accountCaregivers)
	mux.HandleFunc("GET /account/caregivers/accept", l.caregiverInviteLink)
}

// proxyService is the caregiver service as the console uses it.
func (l *Login) proxyService() *proxy.Service {
	return &proxy.Service{St: l.st, Tokens: prefixHasher{l.sessions, "proxy-invite:"},
		Audit: func(ctx context.Context, e *store.AuditEvent) error {
			e.ClientID = store.AccountClientID(e.TenantID)
			l.audit.Record(ctx, e)
			return nil
		}}
}

type prefixHasher struct {
	h      interface{ Sum(string) string }
	prefix string
}

func (p prefixHasher) Sum(v string) string { return p.h.Sum(p.prefix + v) }

// accountLanding is where the console's sign-in lands: the caregivers page when an invitation
// link brought the person here, else the security page.
func (l *Login) accountLanding(r *http.Request) string {
	if l.cookies.Get(r, inviteCookie) != "" {
		return "/account/caregivers"
	}
	return "/account/security"
}

// caregiverInviteLink is the link in the invitation email: it keeps the token in a short-lived
// cookie (so it never sits in the address bar of later pages) and sends the person to sign in to
// their own account, or to register one, then to the caregivers page to accept.
func (l *Login) caregiverInviteLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.URL.Query().Get("token")
	inv, err := l.proxyService().Invitation(ctx, token)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			slog.ErrorContext(ctx, "caregivers: invitation", "err", err)
		}
		l.accountProblem(w, r, http.StatusBadRequest, "caregivers.link_gone")
		return
	}
	l.cookies.Set(w, inviteCookie, token, time.Hour)
	if se := l.browserSession(r); se != nil && se.TenantID == inv.TenantID {
		if _, g := l.loadAccount(r, se); g == gateOpen {
			http.Redirect(w, r, "/account/caregivers", http.StatusSeeOther)
			return
		}
	}
	target := "/account/login"
	if t, err := l.st.TenantByID(ctx, inv.TenantID); err == nil {
		target += "?tenant=" + url.QueryEscape(t.Name)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (l *Login) accountCaregivers(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.account(w, r)
	if !ok {
		return
	}
	l.renderCaregivers(w, r, ac, http.StatusOK, doneNotice(r, "caregivers.done.", caregiverNotices...), nil, "")
}

// grantRow is one line of a grant list.
type grantRow struct {
	ID, Name, Access, Until string
}

type inviteRow struct {
	ID, Email, Access, Until string
}

// renderCaregivers shows the page; a problem sits at field (its id), or at the top when "".
func (l *Login) renderCaregivers(w http.ResponseWriter, r *http.Request, ac *accountContext, status int, notice, problem *i18n.Msg, field string) {
	ctx := r.Context()
	given, err1 := l.st.ProxyGrantsOfPatient(ctx, ac.user.ID)
	held, err2 := l.st.ProxyGrantsOfCaregiver(ctx, ac.user.ID)
	pending, err3 := l.st.PendingProxyInvitations(ctx, ac.user.ID)
	if err := errors.Join(err1, err2, err3); err != nil {
		slog.ErrorContext(ctx, "caregivers: load", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	rows := func(gs []store.ProxyGrant, other func(g store.ProxyGrant) string) []grantRow {
		var out []grantRow
		for _, g := range gs {
			row := grantRow{ID: g.ID, Access: "proxy.access_" + g.Access}
			if u, err := l.st.UserByID(ctx, other(g)); err == nil {
				row.Name = displayName(u)
			}
			if g.ExpiresAt != nil {
				row.Until = time.Unix(*g.ExpiresAt, 0).UTC().AddDate(0, 0, -1).Format(dateLayout)
			}
			out = append(out, row)
		}
		return out
	}
	var invites []inviteRow
	for _, inv := range pending {
		invites = append(invites, inviteRow{ID: inv.ID, Email: inv.Email, Access: "proxy.access_" + inv.Access,
			Until: time.Unix(inv.ExpiresAt, 0).UTC().Format(dateLayout)})
	}
	data := map[string]any{"TitleID": "caregivers.title", "TenantName": ac.tenant.Name, "UserLocale": ac.user.Locale,
		"CSRF": l.cookies.CSRFToken(w, r), "NeedPassword": len(ac.usable) == 0,
		"Given":   rows(given, func(g store.ProxyGrant) string { return g.CaregiverID }),
		"Held":    rows(held, func(g store.ProxyGrant) string { return g.PatientID }),
		"Pending": invites, "Email": r.PostForm.Get("email"), "Access": r.PostForm.Get("access"), "Expires": r.PostForm.Get("expires"),
		"Today": l.now().UTC().Format(dateLayout),
	}
	if inv := l.pendingAcceptance(r, ac); inv != nil {
		data["Invite"] = inv
		data["InviteAccess"] = "proxy.access_" + inv.Access
		if u, err := l.st.UserByID(ctx, inv.PatientID); err == nil {
			data["InviteFrom"] = displayName(u)
		}
		data["CanAccept"] = len(ac.usable) > 0
	}
	if notice != nil {
		data["Notice"] = notice
	}
	if problem != nil {
		data["Problems"] = []Problem{{Field: field, Msg: problem}}
		data["ProblemOn"] = field
	}
	l.pages.Render(w, r, status, "account_caregivers", data)
}

// pendingAcceptance is the invitation the browser's link cookie names, when this person may
// accept it.
func (l *Login) pendingAcceptance(r *http.Request, ac *accountContext) *store.ProxyInvitation {
	token := l.cookies.Get(r, inviteCookie)
	if token == "" {
		return nil
	}
	inv, err := l.proxyService().Invitation(r.Context(), token)
	if err != nil || inv.TenantID != ac.tenant.ID || inv.PatientID == ac.user.ID {
		return nil
	}
	return inv
}

// runCaregiverAction runs a guarded caregiver change; false when name is not one of them.
func (l *Login) runCaregiverAction(w http.ResponseWriter, r *http.Request, ac *accountContext, name string) bool {
	switch name {
	case "caregiver-invite":
		l.caregiverInvite(w, r, ac)
	case "caregiver-withdraw":
		if err := l.st.RevokeProxyInvitation(r.Context(), r.PostForm.Get("invitationID"), ac.user.ID); err != nil {
			l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.gone"}, "")
			return true
		}
		l.audit.Record(r.Context(), l.accountEvent(ac, "proxy.invitation_withdrawn", ""))
		http.Redirect(w, r, "/account/caregivers?done=withdrawn", http.StatusSeeOther)
	case "caregiver-revoke":
		err := l.proxyService().RevokeAs(r.Context(), r.PostForm.Get("grantID"), ac.user.ID)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, proxy.ErrNotPermitted) {
				slog.ErrorContext(r.Context(), "caregivers: revoke", "err", err)
			}
			l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.gone"}, "")
			return true
		}
		http.Redirect(w, r, "/account/caregivers?done=revoked", http.StatusSeeOther)
	case "caregiver-accept":
		l.caregiverAccept(w, r, ac)
	default:
		return false
	}
	return true
}

func (l *Login) caregiverInvite(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	ctx := r.Context()
	f := r.PostForm
	email := strings.TrimSpace(f.Get("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !strings.Contains(email, "@") {
		l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.bad_email"}, "cg-email")
		return
	}
	if strings.EqualFold(email, ac.user.Email) {
		l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.self"}, "cg-email")
		return
	}
	access := f.Get("access")
	if access != store.ProxyFull && access != store.ProxyLimited {
		l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.bad_access"}, "access-limited")
		return
	}
	var until *time.Time
	if v := strings.TrimSpace(f.Get("expires")); v != "" {
		d, err := time.Parse(dateLayout, v)
		if err != nil || !d.AddDate(0, 0, 1).After(l.st.Now()) {
			l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.bad_date"}, "cg-expires")
			return
		}
		end := d.AddDate(0, 0, 1)
		until = &end
	}
	token, _, err := l.proxyService().Invite(ctx, proxy.Invitation{TenantID: ac.tenant.ID, PatientID: ac.user.ID,
		Email: email, Access: access, ExpiresAt: until})
	if err != nil {
		slog.ErrorContext(ctx, "caregivers: invite", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if l.Mailer != nil {
		link := l.Issuer + "/account/caregivers/accept?" + url.Values{"token": {token}}.Encode()
		loc := l.pages.Language(nil, r, nil, ac.user.Locale)
		m := deliveryMessage(email, loc.T("email.caregiver.subject", "Name", displayName(ac.user)),
			loc.T("email.caregiver.body", "Name", displayName(ac.user), "Tenant", ac.tenant.Name, "Link", link, "Days", 7))
		if err := l.Mailer.Send(ctx, m); err != nil {
			slog.ErrorContext(ctx, "caregivers: send invitation", "err", err)
		}
	}
	http.Redirect(w, r, "/account/caregivers?done=invited", http.StatusSeeOther)
}

func (l *Login) caregiverAccept(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	if len(ac.usable) == 0 {
		l.renderCaregivers(w, r, ac, http.StatusForbidden, nil, &i18n.Msg{ID: "caregivers.need_mfa"}, "")
		return
	}
	_, err := l.proxyService().Accept(r.Context(), l.cookies.Get(r, inviteCookie), ac.user)
	switch {
	case errors.Is(err, proxy.ErrEmail):
		l.renderCaregivers(w, r, ac, http.StatusForbidden, nil, &i18n.Msg{ID: "caregivers.other_email"}, "")
		return
	case err != nil:
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, proxy.ErrSelf) {
			slog.ErrorContext(r.Context(), "caregivers: accept", "err", err)
		}
		l.cookies.Clear(w, inviteCookie)
		l.renderCaregivers(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "caregivers.link_gone"}, "")
		return
	}
	l.cookies.Clear(w, inviteCookie)
	http.Redirect(w, r, "/account/caregivers?done=accepted", http.StatusSeeOther)
}
