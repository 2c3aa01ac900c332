package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// The console's pages. Each renders an admin_*.html template with the common data (render);
// every change goes through the admin service and comes back to its page with a notice
// (?done=…, from a fixed list) or with the problem next to its field.

// adminNotices are the confirmations a page may show (?done=…).
var adminNotices = []string{"invited", "saved", "unlocked", "not_locked", "mfa_reset", "revoked", "disabled", "enabled",
	"policy_saved", "practice_created", "practice_renamed", "client_saved", "grant_created", "grant_revoked"}

func (x *AdminConsole) render(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, name, section string, data map[string]any) {
	data["TitleID"] = "admin." + section + ".title"
	data["Section"], data["TenantName"], data["UserLocale"], data["CSRF"], data["Wide"] = section, c.ac.tenant.Name, c.ac.user.Locale, c.csrf, true
	if d := r.URL.Query().Get("done"); slices.Contains(adminNotices, d) {
		data["Notice"] = &i18n.Msg{ID: "admin.done." + d}
	}
	x.l.pages.Render(w, r, status, name, data)
}

// fail answers a service error on a console page: not found is a 404 page; a refused input is
// shown on the page again by redo, next to its field.
func (x *AdminConsole) fail(w http.ResponseWriter, r *http.Request, err error, redo func(status int, problems []Problem)) {
	if redo == nil {
		// A page read, not a form: there is nowhere to show a problem but the error page.
		redo = func(status int, _ []Problem) { x.l.pages.Error(w, r, status, "error.form") }
	}
	var in *admin.InputError
	switch {
	case errors.As(err, &in):
		redo(http.StatusBadRequest, []Problem{{Field: "f-" + strings.ReplaceAll(in.Field, "_", "-"), Msg: &i18n.Msg{ID: "admin.err." + in.Code}}})
	case errors.Is(err, admin.ErrNotFound):
		x.l.pages.Error(w, r, http.StatusNotFound, "admin.not_found")
	case errors.Is(err, admin.ErrConflict):
		redo(http.StatusConflict, []Problem{{Msg: &i18n.Msg{ID: "admin.err.conflict"}}})
	case errors.Is(err, admin.ErrMFALocked):
		redo(http.StatusConflict, []Problem{{Field: "f-mfa", Msg: &i18n.Msg{ID: "admin.err.mfa_locked"}}})
	case errors.Is(err, admin.ErrSelf):
		redo(http.StatusConflict, []Problem{{Msg: &i18n.Msg{ID: "admin.err.self"}}})
	default:
		slog.ErrorContext(r.Context(), "admin console", "err", err)
		x.l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
	}
}

func done(w http.ResponseWriter, r *http.Request, path, notice string) {
	http.Redirect(w, r, path+"?done="+notice, http.StatusSeeOther)
}

// ---- team members ----

// statusRow is a member as the list shows it.
type memberRow struct {
	admin.Member
	LastMFA string
}

func rows(ms []admin.Member) []memberRow {
	out := make([]memberRow, 0, len(ms))
	for _, m := range ms {
		row := memberRow{Member: m}
		if t, err := time.Parse(time.RFC3339, m.LastMFAAt); err == nil {
			row.LastMFA = t.UTC().Format("2006-01-02 15:04")
		}
		out = append(out, row)
	}
	return out
}

func (x *AdminConsole) members(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	q := r.URL.Query()
	page := max(intParam(q.Get("page"), 1), 1)
	// One more than a page tells whether there is a next one.
	f := store.UserFilter{PracticeID: q.Get("practice"), Role: q.Get("role"), Status: q.Get("status"), Query: q.Get("q"),
		Limit: admin.MembersPageSize + 1, Offset: (page - 1) * admin.MembersPageSize}
	ps, err := x.svc.Practices(r.Context(), c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	data := map[string]any{"Practices": ps, "Roles": store.Roles, "Statuses": admin.Statuses, "F": f}
	ms, err := x.svc.Members(r.Context(), c.actor, f)
	var in *admin.InputError
	if errors.As(err, &in) || errors.Is(err, admin.ErrNotFound) {
		// A filter value that is not one of the choices: show everyone, say so.
		data["F"], page = store.UserFilter{}, 1
		ms, err = x.svc.Members(r.Context(), c.actor, store.UserFilter{Limit: admin.MembersPageSize + 1})
		data["Problems"] = []Problem{{Msg: &i18n.Msg{ID: "admin.members.bad_filter"}}}
	}
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	more := len(ms) > admin.MembersPageSize
	if more {
		ms = ms[:admin.MembersPageSize]
	}
	data["Members"] = rows(ms)
	// Paging links keep the filters; a page past the end shows "nobody" with a link back.
	link := func(p int) string {
		nq := url.Values{}
		if f, ok := data["F"].(store.UserFilter); ok {
			for k, v := range map[string]string{"practice": f.PracticeID, "role": f.Role, "status": f.Status, "q": f.Query} {
				if v != "" {
					nq.Set(k, v)
				}
			}
		}
		if p > 1 {
			nq.Set("page", strconv.Itoa(p))
		}
		if len(nq) == 0 {
			return "/admin/members"
		}
		return "/admin/members?" + nq.Encode()
	}
	if more {
		data["Next"] = link(page + 1)
	}
	if page > 1 {
		data["Previous"] = link(page - 1)
	}
	data["Page"] = page
	x.render(w, r, c, http.StatusOK, "admin_members", "members", data)
}

func (x *AdminConsole) inviteForm(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderInvite(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderInvite(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	ps, err := x.svc.Practices(r.Context(), c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	role := r.PostForm.Get("role")
	if role == "" {
		role = store.RoleStaff
	}
	x.render(w, r, c, status, "admin_invite", "invite", map[string]any{"Practices": ps, "Roles": store.Roles, "Problems": problems,
		"Form": map[string]string{"Email": r.PostForm.Get("email"), "Name": r.PostForm.Get("name"), "Phone": r.PostForm.Get("phone"),
			"Role": role, "PracticeID": r.PostForm.Get("practice_id")}})
}

func (x *AdminConsole) invite(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	f := r.PostForm
	m, err := x.svc.Invite(r.Context(), c.actor, admin.Invitation{Email: f.Get("email"), Name: f.Get("name"), Phone: f.Get("phone"),
		Role: f.Get("role"), PracticeID: f.Get("practice_id")})
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderInvite(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/members/"+url.PathEscape(m.ID), "invited")
}

func (x *AdminConsole) member(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderMember(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderMember(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	ctx := r.Context()
	m, err := x.svc.Member(ctx, c.actor, r.PathValue("id"))
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	ps, err := x.svc.Practices(ctx, c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	form := map[string]string{"Name": m.Name, "Phone": m.Phone, "Role": m.Role, "PracticeID": m.PracticeID}
	if problems != nil {
		form = map[string]string{"Name": r.PostForm.Get("name"), "Phone": r.PostForm.Get("phone"), "Role": r.PostForm.Get("role"),
			"PracticeID": r.PostForm.Get("practice_id")}
	}
	x.render(w, r, c, status, "admin_member", "member", map[string]any{"M": rows([]admin.Member{*m})[0], "Practices": ps,
		"Roles": store.Roles, "Form": form, "Problems": problems, "Self": m.ID == c.actor.UserID})
}

func (x *AdminConsole) memberEdit(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	f := r.PostForm
	name, phone, role, practice := f.Get("name"), f.Get("phone"), f.Get("role"), f.Get("practice_id")
	_, err := x.svc.UpdateMember(r.Context(), c.actor, r.PathValue("id"), admin.MemberChanges{Name: &name, Phone: &phone, Role: &role, PracticeID: &practice})
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderMember(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/members/"+url.PathEscape(r.PathValue("id")), "saved")
}

// memberAction runs one of the member page's buttons and comes back to the page.
func (x *AdminConsole) memberAction(w http.ResponseWriter, r *http.Request, c *adminCtx, run func(ctx context.Context, id string) (string, error)) {
	id := r.PathValue("id")
	notice, err := run(r.Context(), id)
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderMember(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/members/"+url.PathEscape(id), notice)
}

func (x *AdminConsole) memberUnlock(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.memberAction(w, r, c, func(ctx context.Context, id string) (string, error) {
		was, err := x.svc.Unlock(ctx, c.actor, id)
		if !was {
			return "not_locked", err
		}
		return "unlocked", err
	})
}

func (x *AdminConsole) memberResetMFA(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.memberAction(w, r, c, func(ctx context.Context, id string) (string, error) {
		_, err := x.svc.ResetMFA(ctx, c.actor, id)
		return "mfa_reset", err
	})
}

func (x *AdminConsole) memberRevoke(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.memberAction(w, r, c, func(ctx context.Context, id string) (string, error) {
		_, _, err := x.svc.RevokeSessions(ctx, c.actor, id)
		return "revoked", err
	})
}

func (x *AdminConsole) memberDisable(disabled bool) func(http.ResponseWriter, *http.Request, *adminCtx) {
	return func(w http.ResponseWriter, r *http.Request, c *adminCtx) {
		x.memberAction(w, r, c, func(ctx context.Context, id string) (string, error) {
			_, err := x.svc.SetDisabled(ctx, c.actor, id, disabled)
			if disabled {
				return "disabled", err
			}
			return "enabled", err
		})
	}
}

// ---- policy ----

func (x *AdminConsole) policy(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderPolicy(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderPolicy(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	p, err := x.svc.Policy(r.Context(), c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	var channels []map[string]any
	for _, k := range []string{"sms", "voice", "email"} {
		if m, ok := p.CodeLifetimes[k]; ok {
			channels = append(channels, map[string]any{"Kind": k, "Minutes": m})
		}
	}
	x.render(w, r, c, status, "admin_policy", "policy", map[string]any{"P": p, "Problems": problems, "Networks": store.NetworkModes,
		"Channels": channels, "MFAModes": []string{store.MFAOff, store.MFAOptional, store.MFARequired},
		"MaxPhone": store.MaxPhoneCodeMinutes, "MaxEmail": store.MaxEmailCodeMinutes, "FactorChoices": store.PatientFactorChoices,
		"DefaultPhone": int(x.svc.CodeTTLs[policy.SMS] / time.Minute), "DefaultEmail": int(x.svc.CodeTTLs[policy.Email] / time.Minute)})
}

func (x *AdminConsole) policyUpdate(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	f := r.PostForm
	on := func(k string) *bool { v := f.Get(k) == "on"; return &v }
	num := func(k, field, code string) (*int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(f.Get(k)))
		if err != nil {
			return nil, &admin.InputError{Field: field, Code: code, Detail: "a whole number"}
		}
		return &n, nil
	}
	str := func(k string) *string { v := f.Get(k); return &v }
	ch := admin.PolicyChanges{EnforceFrom: str("enforce_from"), SelfRegistration: on("self_registration"),
		RememberDeviceNetwork: str("remember_device_network"), RememberDeviceMFA: on("remember_device_mfa"),
		PatientsMayDisableMFA: on("patients_may_disable_mfa"), HelpContact: str("help_contact")}
	if f.Has("phone_region") {
		ch.PhoneRegion = str("phone_region")
	}
	if f.Has("mfa") {
		ch.MFA = str("mfa")
	}
	var err error
	if ch.RememberDeviceDays, err = num("remember_device_days", "remember_device_days", "remember_days"); err == nil {
		ch.PasskeyMFADays, err = num("passkey_mfa_days", "passkey_mfa_days", "passkey_days")
	}
	if err == nil {
		err = policyCodeFields(f, &ch)
	}
	if err == nil {
		_, err = x.svc.UpdatePolicy(r.Context(), c.actor, ch)
	}
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderPolicy(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/policy", "policy_saved")
}

// ---- practices ----

func (x *AdminConsole) practices(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderPractices(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderPractices(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	ps, err := x.svc.Practices(r.Context(), c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	x.render(w, r, c, status, "admin_practices", "practices", map[string]any{"Practices": ps, "Problems": problems,
		"NewName": r.PostForm.Get("new_name")})
}

// nameField points a problem with a practice's name at the field it was typed in: the page has
// one name field per practice and one for a new practice.
func nameField(p []Problem, field string) []Problem {
	for i := range p {
		if p[i].Field == "f-name" {
			p[i].Field = field
		}
	}
	return p
}

func (x *AdminConsole) practiceCreate(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	_, err := x.svc.CreatePractice(r.Context(), c.actor, r.PostForm.Get("new_name"))
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderPractices(w, r, c, status, nameField(p, "f-new-name")) })
		return
	}
	done(w, r, "/admin/practices", "practice_created")
}

func (x *AdminConsole) practiceRename(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	id := r.PathValue("id")
	_, err := x.svc.RenamePractice(r.Context(), c.actor, id, r.PostForm.Get("name"))
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderPractices(w, r, c, status, nameField(p, "f-name-"+id)) })
		return
	}
	done(w, r, "/admin/practices", "practice_renamed")
}

// ---- clients ----

func lines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (x *AdminConsole) clients(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderClients(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderClients(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	cs, err := x.svc.Clients(r.Context(), c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	typ := r.PostForm.Get("type")
	if typ == "" {
		typ = store.ClientWeb
	}
	x.render(w, r, c, status, "admin_clients", "clients", map[string]any{"Clients": cs, "Problems": problems, "ACRs": authn.ACRValues,
		"AdminScopes": store.AdminScopes, "Types": []string{store.ClientWeb, store.ClientPublic, store.ClientService},
		"Form": map[string]any{"Name": r.PostForm.Get("name"), "Type": typ,
			"Redirects": r.PostForm.Get("redirect_uris"), "PostLogout": r.PostForm.Get("post_logout_redirect_uris"),
			"MinACR": r.PostForm.Get("min_acr"), "Scopes": r.PostForm["scopes"], "ThirdParty": r.PostForm.Get("third_party") == "on",
			"Backchannel": r.PostForm.Get("backchannel_logout_uri")}})
}

func (x *AdminConsole) clientCreate(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	f := r.PostForm
	cl, sec, err := x.svc.CreateClient(r.Context(), c.actor, admin.ClientSpec{Name: f.Get("name"), Type: f.Get("type"),
		RedirectURIs: lines(f.Get("redirect_uris")), PostLogoutRedirectURIs: lines(f.Get("post_logout_redirect_uris")),
		MinACR: f.Get("min_acr"), Scopes: f["scopes"], ThirdParty: f.Get("third_party") == "on",
		BackchannelLogoutURI: f.Get("backchannel_logout_uri")})
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderClients(w, r, c, status, p) })
		return
	}
	x.render(w, r, c, http.StatusOK, "admin_secret", "secret", map[string]any{"C": cl, "Secret": sec, "New": true})
}

func (x *AdminConsole) client(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderClient(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderClient(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	cl, err := x.svc.Client(r.Context(), c.actor, r.PathValue("id"))
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	form := map[string]any{"Name": cl.Name, "Redirects": strings.Join(cl.RedirectURIs, "\n"),
		"PostLogout": strings.Join(cl.PostLogoutRedirectURIs, "\n"), "MinACR": cl.MinACR, "Scopes": cl.Scopes, "Disabled": cl.Disabled,
		"Backchannel": cl.BackchannelLogoutURI}
	if problems != nil {
		f := r.PostForm
		form = map[string]any{"Name": f.Get("name"), "Redirects": f.Get("redirect_uris"), "PostLogout": f.Get("post_logout_redirect_uris"),
			"MinACR": f.Get("min_acr"), "Scopes": f["scopes"], "Disabled": f.Get("disabled") == "on",
			"Backchannel": f.Get("backchannel_logout_uri")}
	}
	x.render(w, r, c, status, "admin_client", "client", map[string]any{"C": cl, "Form": form, "Problems": problems,
		"ACRs": authn.ACRValues, "AdminScopes": store.AdminScopes})
}

func (x *AdminConsole) clientUpdate(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	f := r.PostForm
	name, minACR := f.Get("name"), f.Get("min_acr")
	redirects, postLogout, scopes := lines(f.Get("redirect_uris")), lines(f.Get("post_logout_redirect_uris")), f["scopes"]
	disabled := f.Get("disabled") == "on"
	ch := admin.ClientChanges{Name: &name, RedirectURIs: &redirects, PostLogoutRedirectURIs: &postLogout, MinACR: &minACR,
		Disabled: &disabled}
	if f.Has("backchannel_logout_uri") {
		bc := f.Get("backchannel_logout_uri")
		ch.BackchannelLogoutURI = &bc
	}
	if scopes != nil || f.Has("scopes_shown") {
		ch.Scopes = &scopes
	}
	_, err := x.svc.UpdateClient(r.Context(), c.actor, r.PathValue("id"), ch)
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderClient(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/clients/"+url.PathEscape(r.PathValue("id")), "client_saved")
}

func (x *AdminConsole) clientRotate(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	id := r.PathValue("id")
	sec, err := x.svc.RotateSecret(r.Context(), c.actor, id)
	if err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderClient(w, r, c, status, p) })
		return
	}
	cl, err := x.svc.Client(r.Context(), c.actor, id)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	x.render(w, r, c, http.StatusOK, "admin_secret", "secret", map[string]any{"C": cl, "Secret": sec})
}

// ---- audit ----

func (x *AdminConsole) auditPage(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	q := r.URL.Query()
	data := map[string]any{"Q": map[string]string{"Event": q.Get("event"), "User": q.Get("user"), "Result": q.Get("result"),
		"From": q.Get("from"), "To": q.Get("to")}}
	f, err := auditFilter(q)
	if err != nil {
		data["Problems"] = []Problem{{Field: "f-" + err.(*admin.InputError).Field, Msg: &i18n.Msg{ID: "admin.err.date"}}}
		f = store.AuditFilter{}
	}
	f.Limit = admin.AuditPageSize
	es, next, err := x.svc.Audit(r.Context(), c.actor, f)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	data["Events"] = es
	if next > 0 {
		nq := url.Values{}
		for _, k := range []string{"event", "user", "result", "from", "to"} {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("before", strconv.FormatInt(next, 10))
		data["Older"] = "/admin/audit?" + nq.Encode()
	}
	if q.Get("before") != "" {
		nq := r.URL.Query()
		nq.Del("before")
		nq.Del("lang")
		data["Newest"] = "/admin/audit?" + nq.Encode()
	}
	x.render(w, r, c, http.StatusOK, "admin_audit", "audit", data)
}

// policyCodeFields reads the code lifetimes (blank: the server's setting) and the factors
// patients may choose (when the form showed them) into ch.
func policyCodeFields(f url.Values, ch *admin.PolicyChanges) error {
	for _, m := range []struct {
		name string
		dst  **int
	}{{"sms_code_minutes", &ch.SMSCodeMinutes}, {"email_code_minutes", &ch.EmailCodeMinutes}} {
		if !f.Has(m.name) {
			continue
		}
		n := 0
		if v := strings.TrimSpace(f.Get(m.name)); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				return &admin.InputError{Field: m.name, Code: m.name, Detail: "a whole number of minutes"}
			}
		}
		*m.dst = &n
	}
	if f.Has("patient_factors_shown") {
		list := f["patient_factors"]
		if list == nil {
			list = []string{}
		}
		ch.PatientFactors = &list
	}
	return nil
}
