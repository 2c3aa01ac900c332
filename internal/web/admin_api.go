package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/store"
)

// The admin REST API: /admin/api/v1/..., JSON in and out, for a tenant's own tooling (an HR
// system that invites staff, a SIEM that reads the audit trail). A caller is a service client of
// the tenant holding a client_credentials access token with an admin scope the tenant's
// administrator granted it (admin:read for reads, admin:write for changes); the token is checked
// like userinfo checks one (signature, expiry, enabled client, revocation list), and the client
// must still hold the scope now. Everything goes through internal/admin with the token's
// client's tenant as the actor's, so no request reaches another tenant.

// apiRoute is one endpoint of the admin API; the OpenAPI document is generated from this table,
// so an endpoint cannot be served without being described.
type apiRoute struct {
	Method, Path string
	Scope        string
	Summary      string
	Request      any // the JSON body's type (nil: none)
	Response     any // the success body's type
	Status       int // success status (200 when 0)
	Query        []string
	h            func(w http.ResponseWriter, r *http.Request, a admin.Actor)
}

// APIPrefix is where the admin API lives.
const APIPrefix = "/admin/api/v1"

type memberList struct {
	Members []admin.Member `json:"members"`
}
type practiceList struct {
	Practices []admin.Practice `json:"practices"`
}
type clientList struct {
	Clients []admin.Client `json:"clients"`
}
type auditPage struct {
	Events []admin.Event `json:"events"`
	// Next is the "before" value of the next (older) page; absent on the last page.
	Next int64 `json:"next,omitempty"`
}
type unlockResult struct {
	ID        string `json:"id"`
	WasLocked bool   `json:"was_locked"`
}
type resetResult struct {
	ID      string   `json:"id"`
	Removed []string `json:"removed"`
}
type revokeResult struct {
	ID       string `json:"id"`
	Sessions int64  `json:"sessions"`
	Devices  int64  `json:"devices"`
}
type practiceName struct {
	Name string `json:"name"`
}
type clientCreated struct {
	admin.Client
	// ClientSecret is shown once; absent for a public client.
	ClientSecret string `json:"client_secret,omitempty"`
}
type secretResult struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (x *AdminConsole) apiRoutes() []apiRoute {
	r, w := store.ScopeAdminRead, store.ScopeAdminWrite
	return append([]apiRoute{
		{Method: "GET", Path: "/policy", Scope: r, Summary: "Read the tenant policy", Response: admin.Policy{}, h: x.apiPolicy},
		{Method: "PATCH", Path: "/policy", Scope: w, Summary: "Change the tenant policy (MFA can go up to required, never back)", Request: admin.PolicyChanges{}, Response: admin.Policy{}, h: x.apiPolicyUpdate},
		{Method: "GET", Path: "/members", Scope: r, Summary: "List team members with their Security Status", Query: []string{"practice", "role", "status", "q", "limit", "offset"}, Response: memberList{}, h: x.apiMembers},
		{Method: "POST", Path: "/members", Scope: w, Summary: "Invite a user (emailed a link to set a password)", Request: admin.Invitation{}, Response: admin.Member{}, Status: http.StatusCreated, h: x.apiInvite},
		{Method: "GET", Path: "/members/{id}", Scope: r, Summary: "Read one member", Response: admin.Member{}, h: x.apiMember},
		{Method: "PATCH", Path: "/members/{id}", Scope: w, Summary: "Edit name, role, practice or phone", Request: admin.MemberChanges{}, Response: admin.Member{}, h: x.apiMemberUpdate},
		{Method: "POST", Path: "/members/{id}/unlock", Scope: w, Summary: "Unlock a user locked by wrong codes", Response: unlockResult{}, h: x.apiUnlock},
		{Method: "POST", Path: "/members/{id}/reset-mfa", Scope: w, Summary: "Remove every second factor; the user enrolls again and is notified", Response: resetResult{}, h: x.apiResetMFA},
		{Method: "POST", Path: "/members/{id}/revoke-sessions", Scope: w, Summary: "End every session and remembered device", Response: revokeResult{}, h: x.apiRevoke},
		{Method: "POST", Path: "/members/{id}/disable", Scope: w, Summary: "Disable a user (and end their sessions)", Response: admin.Member{}, h: x.apiDisable(true)},
		{Method: "POST", Path: "/members/{id}/enable", Scope: w, Summary: "Enable a disabled user", Response: admin.Member{}, h: x.apiDisable(false)},
		{Method: "GET", Path: "/practices", Scope: r, Summary: "List practices", Response: practiceList{}, h: x.apiPractices},
		{Method: "POST", Path: "/practices", Scope: w, Summary: "Create a practice", Request: practiceName{}, Response: admin.Practice{}, Status: http.StatusCreated, h: x.apiPracticeCreate},
		{Method: "PATCH", Path: "/practices/{id}", Scope: w, Summary: "Rename a practice", Request: practiceName{}, Response: admin.Practice{}, h: x.apiPracticeRename},
		{Method: "GET", Path: "/clients", Scope: r, Summary: "List relying-party clients", Response: clientList{}, h: x.apiClients},
		{Method: "POST", Path: "/clients", Scope: w, Summary: "Register a client (its secret is in this answer only)", Request: admin.ClientSpec{}, Response: clientCreated{}, Status: http.StatusCreated, h: x.apiClientCreate},
		{Method: "GET", Path: "/clients/{id}", Scope: r, Summary: "Read one client", Response: admin.Client{}, h: x.apiClient},
		{Method: "PATCH", Path: "/clients/{id}", Scope: w, Summary: "Edit redirect URIs, logout URIs, minimum acr, admin scopes, or disable", Request: admin.ClientChanges{}, Response: admin.Client{}, h: x.apiClientUpdate},
		{Method: "POST", Path: "/clients/{id}/rotate-secret", Scope: w, Summary: "Replace the secret (shown once; the old one stops working)", Response: secretResult{}, h: x.apiRotate},
		{Method: "GET", Path: "/audit", Scope: r, Summary: "Search the audit trail, newest first", Query: []string{"event", "user", "result", "from", "to", "before", "limit"}, Response: auditPage{}, h: x.apiAudit},
	}, x.caregiverAPIRoutes()...)
}

// APIRoutes lists the admin API's endpoints as "METHOD /path" (tests walk them).
func (x *AdminConsole) APIRoutes() []string {
	var out []string
	for _, rt := range x.apiRoutes() {
		out = append(out, rt.Method+" "+APIPrefix+rt.Path)
	}
	return out
}

func (x *AdminConsole) registerAPI(mux *http.ServeMux) {
	for _, rt := range x.apiRoutes() {
		mux.Handle(rt.Method+" "+APIPrefix+rt.Path, x.apiAuth(rt))
	}
	mux.HandleFunc("GET /admin/api/openapi.json", x.openAPI)
	// Anything else under the API is a JSON 404 or 405, not an HTML page.
	mux.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
}

// apiError writes the JSON error body every failure of the API has.
func apiError(w http.ResponseWriter, status int, code, desc string, field ...string) {
	body := map[string]string{"error": code, "error_description": desc}
	if len(field) > 0 && field[0] != "" {
		body["field"] = field[0]
	}
	apiJSON(w, status, body)
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// apiAuth authenticates the bearer token and checks the route's scope (RFC 6750 §3).
func (x *AdminConsole) apiAuth(rt apiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		challenge := `Bearer realm="tessera-admin"`
		h := r.Header.Get("Authorization")
		if h == "" {
			w.Header().Set("WWW-Authenticate", challenge)
			apiError(w, http.StatusUnauthorized, "invalid_request", "an admin access token is required (Authorization: Bearer …)")
			return
		}
		raw := ""
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			raw = strings.TrimSpace(h[7:])
		}
		tok, err := x.l.op.VerifyAccessToken(r.Context(), raw)
		if err != nil && !errors.Is(err, oidcop.ErrInvalidToken) {
			slog.ErrorContext(r.Context(), "admin api: check token", "err", err)
			apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be checked")
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token", error_description="the access token is invalid, expired or revoked"`)
			apiError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
			return
		}
		// The scope must be in the token and still granted to its (service) client now: taking
		// a grant away works at once, not when the token expires. admin:write includes reading.
		holds := func(scopes []string) bool {
			return slices.Contains(scopes, rt.Scope) || rt.Scope == store.ScopeAdminRead && slices.Contains(scopes, store.ScopeAdminWrite)
		}
		ok := !tok.Person && holds(tok.Scopes)
		var c *store.Client
		if ok {
			c, err = x.l.st.ClientByID(r.Context(), tok.ClientID)
			ok = err == nil && c.TenantID == tok.TenantID && c.Type == store.ClientService && !c.Disabled && holds(c.Scopes)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+rt.Scope+`"`)
			apiError(w, http.StatusForbidden, "insufficient_scope", "this endpoint needs the scope "+rt.Scope)
			return
		}
		rt.h(w, r, admin.Actor{TenantID: c.TenantID, ClientID: c.ID})
	})
}

// decode reads a JSON body strictly (unknown fields are a 400, not silently ignored).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request", "the body is not the JSON this endpoint takes: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		apiError(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object")
		return false
	}
	return true
}

// apiFail maps the admin service's errors to statuses.
func apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var in *admin.InputError
	switch {
	case errors.As(err, &in):
		apiError(w, http.StatusBadRequest, "invalid_request", in.Detail, in.Field)
	case errors.Is(err, admin.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", "no such resource in this tenant")
	case errors.Is(err, admin.ErrMFALocked):
		apiError(w, http.StatusConflict, "mfa_locked", "MFA is required for this tenant and cannot be turned off, nor its enforcement date moved back into the future")
	case errors.Is(err, admin.ErrConflict):
		apiError(w, http.StatusConflict, "conflict", "that name or email is already used in this tenant")
	case errors.Is(err, admin.ErrSelf):
		apiError(w, http.StatusConflict, "self", "administrators cannot do this to their own account")
	default:
		slog.ErrorContext(r.Context(), "admin api", "err", err)
		apiError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the request could not be completed; try again")
	}
}

func (x *AdminConsole) apiPolicy(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	p, err := x.svc.Policy(r.Context(), a)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, p)
}

func (x *AdminConsole) apiPolicyUpdate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var c admin.PolicyChanges
	if !decode(w, r, &c) {
		return
	}
	p, err := x.svc.UpdatePolicy(r.Context(), a, c)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, p)
}

func intParam(q string, def int) int {
	if n, err := strconv.Atoi(q); err == nil && n >= 0 {
		return n
	}
	return def
}

func (x *AdminConsole) apiMembers(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	q := r.URL.Query()
	ms, err := x.svc.Members(r.Context(), a, store.UserFilter{PracticeID: q.Get("practice"), Role: q.Get("role"),
		Status: q.Get("status"), Query: q.Get("q"), Limit: intParam(q.Get("limit"), 100), Offset: intParam(q.Get("offset"), 0)})
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, memberList{Members: ms})
}

func (x *AdminConsole) apiInvite(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var in admin.Invitation
	if !decode(w, r, &in) {
		return
	}
	m, err := x.svc.Invite(r.Context(), a, in)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusCreated, m)
}

func (x *AdminConsole) apiMember(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	m, err := x.svc.Member(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, m)
}

func (x *AdminConsole) apiMemberUpdate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var c admin.MemberChanges
	if !decode(w, r, &c) {
		return
	}
	m, err := x.svc.UpdateMember(r.Context(), a, r.PathValue("id"), c)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, m)
}

func (x *AdminConsole) apiUnlock(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	was, err := x.svc.Unlock(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, unlockResult{ID: r.PathValue("id"), WasLocked: was})
}

func (x *AdminConsole) apiResetMFA(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	kinds, err := x.svc.ResetMFA(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	if kinds == nil {
		kinds = []string{}
	}
	apiJSON(w, http.StatusOK, resetResult{ID: r.PathValue("id"), Removed: kinds})
}

func (x *AdminConsole) apiRevoke(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	s, d, err := x.svc.RevokeSessions(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, revokeResult{ID: r.PathValue("id"), Sessions: s, Devices: d})
}

func (x *AdminConsole) apiDisable(disabled bool) func(http.ResponseWriter, *http.Request, admin.Actor) {
	return func(w http.ResponseWriter, r *http.Request, a admin.Actor) {
		m, err := x.svc.SetDisabled(r.Context(), a, r.PathValue("id"), disabled)
		if err != nil {
			apiFail(w, r, err)
			return
		}
		apiJSON(w, http.StatusOK, m)
	}
}

func (x *AdminConsole) apiPractices(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	ps, err := x.svc.Practices(r.Context(), a)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, practiceList{Practices: ps})
}

func (x *AdminConsole) apiPracticeCreate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var in practiceName
	if !decode(w, r, &in) {
		return
	}
	p, err := x.svc.CreatePractice(r.Context(), a, in.Name)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusCreated, p)
}

func (x *AdminConsole) apiPracticeRename(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var in practiceName
	if !decode(w, r, &in) {
		return
	}
	p, err := x.svc.RenamePractice(r.Context(), a, r.PathValue("id"), in.Name)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, p)
}

func (x *AdminConsole) apiClients(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	cs, err := x.svc.Clients(r.Context(), a)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, clientList{Clients: cs})
}

func (x *AdminConsole) apiClientCreate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var spec admin.ClientSpec
	if !decode(w, r, &spec) {
		return
	}
	c, sec, err := x.svc.CreateClient(r.Context(), a, spec)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusCreated, clientCreated{Client: *c, ClientSecret: sec})
}

func (x *AdminConsole) apiClient(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	c, err := x.svc.Client(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, c)
}

func (x *AdminConsole) apiClientUpdate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	var ch admin.ClientChanges
	if !decode(w, r, &ch) {
		return
	}
	c, err := x.svc.UpdateClient(r.Context(), a, r.PathValue("id"), ch)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, c)
}

func (x *AdminConsole) apiRotate(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	sec, err := x.svc.RotateSecret(r.Context(), a, r.PathValue("id"))
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, secretResult{ClientID: r.PathValue("id"), ClientSecret: sec})
}

// auditFilter reads the audit search's parameters (the console's form and the API's query):
// dates as YYYY-MM-DD (to is inclusive) or RFC 3339.
func auditFilter(q interface{ Get(string) string }) (store.AuditFilter, error) {
	f := store.AuditFilter{Event: strings.TrimSpace(q.Get("event")), UserID: strings.TrimSpace(q.Get("user")),
		Result: strings.TrimSpace(q.Get("result")), BeforeID: int64(intParam(q.Get("before"), 0)), Limit: intParam(q.Get("limit"), 0)}
	parse := func(field, v string, end bool) (int64, error) {
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.Unix(), nil
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return 0, &admin.InputError{Field: field, Code: "date", Detail: "use a date like 2027-03-31"}
		}
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d.Unix(), nil
	}
	var err error
	if f.From, err = parse("from", q.Get("from"), false); err != nil {
		return f, err
	}
	if f.To, err = parse("to", q.Get("to"), true); err != nil {
		return f, err
	}
	return f, nil
}

func (x *AdminConsole) apiAudit(w http.ResponseWriter, r *http.Request, a admin.Actor) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		apiFail(w, r, err)
		return
	}
	es, next, err := x.svc.Audit(r.Context(), a, f)
	if err != nil {
		apiFail(w, r, err)
		return
	}
	apiJSON(w, http.StatusOK, auditPage{Events: es, Next: next})
}
