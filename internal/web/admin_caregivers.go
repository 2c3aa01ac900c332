package web

import (
	"net/http"
	"strings"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/store"
)

// The console's Caregivers page: the tenant's caregiver (proxy) grants with filters, a form to
// create one for a minor or a guardianship (a sensitive action: a fresh second factor), and a
// revoke button per grant in force. Everything goes through the admin service (internal/admin
// proxy.go), which calls internal/proxy and audits with the administrator as actor and the
// patient as subject.

func (x *AdminConsole) caregiverRoutes() []consoleRoute {
	return []consoleRoute{
		{Method: "GET", Path: "/admin/caregivers", h: x.caregivers},
		{Method: "POST", Path: "/admin/caregivers", Sensitive: true, h: x.caregiverCreate},
		{Method: "POST", Path: "/admin/caregivers/{id}/revoke", h: x.caregiverRevoke},
	}
}

func (x *AdminConsole) caregivers(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	x.renderCaregivers(w, r, c, http.StatusOK, nil)
}

func (x *AdminConsole) renderCaregivers(w http.ResponseWriter, r *http.Request, c *adminCtx, status int, problems []Problem) {
	ctx := r.Context()
	q := r.URL.Query()
	f := admin.ProxyGrantFilter{Status: q.Get("status"), Query: q.Get("q")}
	data := map[string]any{"Problems": problems, "Statuses": admin.GrantStatuses, "Accesses": []string{store.ProxyFull, store.ProxyLimited}}
	gs, err := x.svc.ProxyGrants(ctx, c.actor, f)
	if _, bad := err.(*admin.InputError); bad {
		f = admin.ProxyGrantFilter{}
		gs, err = x.svc.ProxyGrants(ctx, c.actor, f)
		data["Problems"] = append(problems, Problem{Msg: &i18n.Msg{ID: "admin.members.bad_filter"}})
	}
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	sets, err := x.svc.ProxyScopeSets(ctx, c.actor)
	if err != nil {
		x.fail(w, r, err, nil)
		return
	}
	pf := r.PostForm
	access := pf.Get("access")
	if access == "" {
		access = store.ProxyLimited
	}
	data["F"], data["Grants"], data["ScopeSets"] = f, gs, sets
	data["Form"] = map[string]string{"Patient": pf.Get("patient_email"), "Caregiver": pf.Get("caregiver_email"), "Access": access,
		"ScopeSet": pf.Get("scope_set"), "Expires": pf.Get("expires"), "Reason": pf.Get("reason")}
	x.render(w, r, c, status, "admin_caregivers", "caregivers", data)
}

func (x *AdminConsole) caregiverCreate(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	f := r.PostForm
	spec := admin.ProxyGrantSpec{PatientEmail: f.Get("patient_email"), CaregiverEmail: f.Get("caregiver_email"),
		Access: f.Get("access"), Expires: f.Get("expires"), Reason: f.Get("reason")}
	if spec.Access == store.ProxyLimited {
		spec.ScopeSet = strings.TrimSpace(f.Get("scope_set"))
	}
	if _, err := x.svc.CreateProxyGrant(r.Context(), c.actor, spec); err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderCaregivers(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/caregivers", "grant_created")
}

func (x *AdminConsole) caregiverRevoke(w http.ResponseWriter, r *http.Request, c *adminCtx) {
	if _, err := x.svc.RevokeProxyGrant(r.Context(), c.actor, r.PathValue("id")); err != nil {
		x.fail(w, r, err, func(status int, p []Problem) { x.renderCaregivers(w, r, c, status, p) })
		return
	}
	done(w, r, "/admin/caregivers", "grant_revoked")
}

// ---- the API ----

type grantList struct {
	Grants []admin.ProxyGrant `json:"grants"`
}

func (x *AdminConsole) caregiverAPIRoutes() []apiRoute {
	r, w := store.ScopeAdminRead, store.ScopeAdminWrite
	return []apiRoute{
		{Method: "GET", Path: "/proxy-grants", Scope: r, Summary: "List caregiver (proxy) grants, newest first", Query: []string{"status", "q"}, Response: grantList{}, h: x.apiGrants},
		{Method: "POST", Path: "/proxy-grants", Scope: w, Summary: "Create a caregiver grant (a minor, a guardianship) with a recorded reason", Request: admin.ProxyGrantSpec{}, Response: admin.ProxyGrant{}, Status: http.StatusCreated, h: x.apiGrantCreate},
		{Method: "GET", Path: "/proxy-grants/{id}", Scope: r, Summary: "Read one caregiver grant", Response: admin.ProxyGrant{}, h: x.apiGrant},
		{Method: "DELETE", Path: "/proxy-grants/{id}", Scope: w, Summary: "Revoke a caregiver grant (its tokens stop at once)", Response: admin.ProxyGrant{}, h: x.apiGrantRevoke},
		{Method: "POST", Path: "/proxy-grants/{id}/revoke", Scope: w, Summary: "Revoke a caregiver grant (the same as DELETE)", Response: admin.ProxyGrant{}, h: x.apiGrantRevoke},
	}
}

func (x *AdminConsole) apiGrants(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	q := r.URL.Query()
	gs, err := x.svc.ProxyGrants(r.Context(), a, admin.ProxyGrantFilter{Status: q.Get("status"), Query: q.Get("q")})
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, grantList{Grants: gs})
}

func (x *AdminConsole) apiGrantCreate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var spec admin.ProxyGrantSpec
	if !decode(w, r, &spec) {
		return
	}
	g, err := x.svc.CreateProxyGrant(r.Context(), a, spec)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusCreated, g)
}

func (x *AdminConsole) apiGrant(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	g, err := x.svc.ProxyGrant(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, g)
}

func (x *AdminConsole) apiGrantRevoke(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	g, err := x.svc.RevokeProxyGrant(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, g)
}
