package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// The admin console and the admin REST API end to end: an administrator signs in to /admin
// through the tenant's Admin client (with a second factor, always), a service client calls the
// API with a client_credentials token, and another tenant's administrator or token reaches
// nothing of this tenant through any route.

// makeAdmin turns a person into an administrator of their tenant.
func (e *devEnv) makeAdmin(t *testing.T, u *store.User) {
	t.Helper()
	if err := e.st.ExecRaw(e.ctx, "UPDATE users SET role = ? WHERE id = ?", store.RoleAdmin, u.ID); err != nil {
		t.Fatal(err)
	}
}

// adminUser is an administrator with an authenticator app.
func (e *devEnv) adminUser(t *testing.T, email string) (*store.User, string) {
	t.Helper()
	u, secret := e.appUser(t, email)
	e.makeAdmin(t, u)
	return u, secret
}

// adminSignIn opens /admin/members without a session and signs in through the Admin client:
// password, then the app's code.
func (e *devEnv) adminSignIn(t *testing.T, br *browser, email, secret string) {
	t.Helper()
	br.get(e.issuer + "/admin/members")
	br.submitLogin(e.issuer, email, "correct horse battery")
	if !strings.Contains(br.body, `action="/mfa/verify"`) {
		t.Fatalf("expected the app's code page after the password: %d %.300s", br.status, br.body)
	}
	f := br.formFields()
	f.Set("code", e.appCode(t, secret))
	br.post(e.issuer+"/mfa/verify", f)
	if br.status != 200 || !strings.Contains(br.body, "<h1>Team members</h1>") {
		t.Fatalf("expected the team members page, got %d: %.500s", br.status, br.body)
	}
}

// adminToken registers a service client granted scopes and returns a client_credentials access
// token asking for ask (default: the granted scopes).
func (e *env) adminToken(t *testing.T, granted []string, ask ...string) (clientID, secret, token string) {
	t.Helper()
	clientID, secret = e.client(store.ClientService, func(c *store.Client) { c.Name = "HR sync"; c.Scopes = granted })
	if ask == nil {
		ask = granted
	}
	status, out, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(ask, " ")}}, clientID, secret)
	if status != 200 {
		t.Fatalf("client_credentials: %d %v", status, out)
	}
	return clientID, secret, out["access_token"].(string)
}

// api calls the admin API.
func (e *env) api(t *testing.T, token, method, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.issuer+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %.300s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, resp.Header
}

const v1 = "/admin/api/v1"

// TestAdminAPI walks every endpoint of the admin API with a token of a service client granted
// admin:write: the policy and its one-way MFA switch, members with their Security Status and
// every action on them, practices, clients with a rotated secret that works at once (and the old
// one that stops), and the audit search that finds each action with the client as actor.
func TestAdminAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		clientID, _, tok := e.adminToken(t, []string{store.ScopeAdminWrite})

		// Policy.
		st, p, _ := e.api(t, tok, "GET", v1+"/policy", nil)
		if st != 200 || p["mfa"] != "optional" || p["remember_device_days"] != float64(7) || len(p["roles"].([]any)) != 4 {
			t.Fatalf("policy: %d %v", st, p)
		}
		st, p, _ = e.api(t, tok, "PATCH", v1+"/policy", map[string]any{"mfa": "required", "remember_device_days": 3, "help_contact": "Call 555-0100"})
		if st != 200 || p["mfa"] != "required" || p["remember_device_days"] != float64(3) || p["help_contact"] != "Call 555-0100" {
			t.Fatalf("policy update: %d %v", st, p)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/policy", map[string]any{"mfa": "optional"}); st != 409 || out["error"] != "mfa_locked" {
			t.Fatalf("MFA turned back off: %d %v", st, out)
		}
		if tn, _ := e.st.TenantByID(e.ctx, e.tenant.ID); tn.MFAMode != store.MFARequired {
			t.Fatalf("MFA is %s after the refused change", tn.MFAMode)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/policy", map[string]any{"remember_device_days": 9000}); st != 400 || out["field"] != "remember_device_days" {
			t.Fatalf("bad days: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/policy", `{"mfa": "required", "colour": "red"}`); st != 400 || out["error"] != "invalid_request" {
			t.Fatalf("unknown field: %d %v", st, out)
		}

		// Practices.
		st, pr, _ := e.api(t, tok, "POST", v1+"/practices", map[string]any{"name": "Riverside North"})
		if st != 201 || pr["id"] == "" {
			t.Fatalf("create practice: %d %v", st, pr)
		}
		practiceID := pr["id"].(string)
		if st, out, _ := e.api(t, tok, "POST", v1+"/practices", map[string]any{"name": "Riverside North"}); st != 409 {
			t.Fatalf("duplicate practice: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/practices/"+practiceID, map[string]any{"name": "Riverside Uptown"}); st != 200 || out["name"] != "Riverside Uptown" {
			t.Fatalf("rename practice: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "GET", v1+"/practices", nil); st != 200 || len(out["practices"].([]any)) != 1 {
			t.Fatalf("practices: %d %v", st, out)
		}

		// Members: an invitation, a person with an app who is locked, and the filters.
		st, m, _ := e.api(t, tok, "POST", v1+"/members", map[string]any{"email": "new.nurse@example.org", "name": "Nora Nurse",
			"role": "staff", "practice_id": practiceID, "phone": "+1 202 555 0199"})
		if st != 201 || m["mfa_enrolled"] != false || m["password_set"] != false || m["practice_name"] != "Riverside Uptown" || m["phone"] != "+12025550199" {
			t.Fatalf("invite: %d %v", st, m)
		}
		invited := m["id"].(string)
		if n := outboxCount(e.env, "email", "new.nurse@example.org"); n != 1 {
			t.Fatalf("invitation emails: %d", n)
		}
		// The invitation's link sets the password, and the person can sign in with it.
		var link string
		for _, msg := range e.node.Outbox.List() {
			if msg.To == "new.nurse@example.org" {
				link = resetLinkRe.FindString(msg.Body)
			}
		}
		nb := newBrowser(t)
		nb.get(link)
		pf := nb.formFields()
		pf.Set("password", "a long passphrase here")
		pf.Set("password2", "a long passphrase here")
		nb.post(e.issuer+"/reset", pf)
		if nb.status != 200 {
			t.Fatalf("setting the password from the invitation: %d %.300s", nb.status, nb.body)
		}
		if _, out, _ := e.api(t, tok, "GET", v1+"/members/"+invited, nil); out["password_set"] != true {
			t.Fatalf("password not set: %v", out)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members", map[string]any{"email": "NEW.nurse@example.org"}); st != 409 {
			t.Fatalf("duplicate email: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members", map[string]any{"email": "x@example.org", "role": "wizard"}); st != 400 || out["field"] != "role" {
			t.Fatalf("bad role: %d %v", st, out)
		}
		doc, _ := e.appUser(t, "dr.lee@example.org")
		e.st.ExecRaw(e.ctx, "UPDATE users SET locked_at = 100, mfa_failures = 7, role = 'provider' WHERE id = ?", doc.ID)
		st, list, _ := e.api(t, tok, "GET", v1+"/members?status=locked", nil)
		if ms := list["members"].([]any); st != 200 || len(ms) != 1 || ms[0].(map[string]any)["id"] != doc.ID ||
			ms[0].(map[string]any)["mfa_enrolled"] != true || ms[0].(map[string]any)["factors"].([]any)[0] != "totp" {
			t.Fatalf("locked members: %d %v", st, list)
		}
		if _, list, _ := e.api(t, tok, "GET", v1+"/members?practice="+practiceID, nil); len(list["members"].([]any)) != 1 {
			t.Fatalf("members of the practice: %v", list)
		}
		if _, list, _ := e.api(t, tok, "GET", v1+"/members?status=no_mfa&role=staff", nil); len(list["members"].([]any)) != 1 {
			t.Fatalf("staff without MFA: %v", list)
		}
		if st, out, _ := e.api(t, tok, "GET", v1+"/members?status=sleepy", nil); st != 400 || out["field"] != "status" {
			t.Fatalf("bad status filter: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "GET", v1+"/members/"+doc.ID, nil); st != 200 || out["locked"] != true {
			t.Fatalf("member: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/members/"+invited, map[string]any{"name": "Nora N. Nurse", "role": "provider", "practice_id": ""}); st != 200 ||
			out["role"] != "provider" || out["practice_id"] != "" || out["name"] != "Nora N. Nurse" {
			t.Fatalf("edit member: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members/"+doc.ID+"/unlock", nil); st != 200 || out["was_locked"] != true {
			t.Fatalf("unlock: %d %v", st, out)
		}
		if u, _ := e.st.UserByID(e.ctx, doc.ID); u.LockedAt != nil || u.MFAFailures != 0 {
			t.Fatal("still locked after unlock")
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members/"+doc.ID+"/reset-mfa", nil); st != 200 || out["removed"].([]any)[0] != "totp" {
			t.Fatalf("reset MFA: %d %v", st, out)
		}
		if fs, _ := e.st.ActiveFactors(e.ctx, doc.ID); len(fs) != 0 {
			t.Fatalf("factors left after the reset: %v", fs)
		}
		if n := outboxCount(e.env, "email", "dr.lee@example.org"); n != 1 {
			t.Fatalf("reset notices to the person: %d", n)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members/"+doc.ID+"/revoke-sessions", nil); st != 200 || out["sessions"] != float64(0) {
			t.Fatalf("revoke: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members/"+doc.ID+"/disable", nil); st != 200 || out["disabled"] != true {
			t.Fatalf("disable: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members/"+doc.ID+"/enable", nil); st != 200 || out["disabled"] != false {
			t.Fatalf("enable: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "POST", v1+"/members/nosuchperson/unlock", nil); st != 404 || out["error"] != "not_found" {
			t.Fatalf("unknown member: %d %v", st, out)
		}

		// Clients: create, edit, rotate; the new secret works at once and the old one stops.
		st, c, _ := e.api(t, tok, "POST", v1+"/clients", map[string]any{"name": "Lab portal", "type": "web",
			"redirect_uris": []string{"https://lab.example.org/cb"}, "min_acr": "urn:tessera:acr:mfa"})
		if st != 201 || c["client_secret"] == nil || c["min_acr"] != "urn:tessera:acr:mfa" {
			t.Fatalf("create client: %d %v", st, c)
		}
		labID := c["client_id"].(string)
		if st, out, _ := e.api(t, tok, "POST", v1+"/clients", map[string]any{"name": "Sneaky", "type": "web",
			"redirect_uris": []string{"https://x.example.org/cb"}, "scopes": []string{"admin:write"}}); st != 400 || out["field"] != "scopes" {
			t.Fatalf("admin scope on a web client: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/clients/"+labID, map[string]any{"redirect_uris": []string{"https://lab.example.org/cb2"},
			"post_logout_redirect_uris": []string{"https://lab.example.org/bye"}}); st != 200 || out["redirect_uris"].([]any)[0] != "https://lab.example.org/cb2" {
			t.Fatalf("edit client: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/clients/"+labID, map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}); st != 400 || out["field"] != "redirect_uris" {
			t.Fatalf("bad redirect: %d %v", st, out)
		}
		// Back-channel logout: set through the API, kept by the store (the logout queue reads it).
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/clients/"+labID, map[string]any{"backchannel_logout_uri": "https://lab.example.org/logout"}); st != 200 ||
			out["backchannel_logout_uri"] != "https://lab.example.org/logout" {
			t.Fatalf("back-channel logout URI: %d %v", st, out)
		}
		if cl, err := e.st.ClientByID(e.ctx, labID); err != nil || cl.BackchannelLogoutURI != "https://lab.example.org/logout" {
			t.Fatalf("stored back-channel logout URI: %v %+v", err, cl)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/clients/"+labID, map[string]any{"backchannel_logout_uri": "http://lab.example.org/logout"}); st != 400 || out["field"] != "backchannel_logout_uri" {
			t.Fatalf("plain-http back-channel logout URI: %d %v", st, out)
		}
		svcID, oldSecret := e.client(store.ClientService, nil)
		st, rot, _ := e.api(t, tok, "POST", v1+"/clients/"+svcID+"/rotate-secret", nil)
		if st != 200 || rot["client_secret"] == "" {
			t.Fatalf("rotate: %d %v", st, rot)
		}
		if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, svcID, rot["client_secret"].(string)); st != 200 {
			t.Fatalf("the new secret does not work: %d", st)
		}
		if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, svcID, oldSecret); st != 401 {
			t.Fatalf("the old secret still works: %d", st)
		}
		if st, out, _ := e.api(t, tok, "GET", v1+"/clients/"+labID, nil); st != 200 || out["client_secret"] != nil || out["has_secret"] != true {
			t.Fatalf("client read: %d %v", st, out)
		}
		if st, out, _ := e.api(t, tok, "PATCH", v1+"/clients/"+labID, map[string]any{"disabled": true}); st != 200 || out["disabled"] != true {
			t.Fatalf("disable client: %d %v", st, out)
		}
		if _, out, _ := e.api(t, tok, "GET", v1+"/clients", nil); len(out["clients"].([]any)) != 3 {
			t.Fatalf("clients (lab, service, HR sync): %v", out)
		}
		if st, _, _ := e.api(t, tok, "GET", v1+"/clients/"+store.AccountClientID(e.tenant.ID), nil); st != 404 {
			t.Fatalf("the built-in account client is editable: %d", st)
		}

		// The audit trail: each action with the client as actor, newest first, with paging.
		st, au, _ := e.api(t, tok, "GET", v1+"/audit?event=user.unlock&user="+doc.ID, nil)
		evs := au["events"].([]any)
		if st != 200 || len(evs) != 1 || evs[0].(map[string]any)["actor_id"] != clientID || evs[0].(map[string]any)["result"] != "ok" {
			t.Fatalf("audit search: %d %v", st, au)
		}
		_, au, _ = e.api(t, tok, "GET", v1+"/audit?event=user.&limit=2", nil)
		if len(au["events"].([]any)) != 2 || au["next"] == nil {
			t.Fatalf("audit page: %v", au)
		}
		first := au["events"].([]any)[0].(map[string]any)["id"].(float64)
		_, older, _ := e.api(t, tok, "GET", v1+"/audit?event=user.&limit=2&before="+jsonNum(au["next"]), nil)
		if o := older["events"].([]any); len(o) == 0 || o[0].(map[string]any)["id"].(float64) >= first {
			t.Fatalf("older page: %v", older)
		}
		if st, out, _ := e.api(t, tok, "GET", v1+"/audit?from=yesterday", nil); st != 400 || out["field"] != "from" {
			t.Fatalf("bad date: %d %v", st, out)
		}
		_, refused, _ := e.api(t, tok, "GET", v1+"/audit?event=tenant.updated&result=refused", nil)
		if len(refused["events"].([]any)) == 0 {
			t.Fatal("the refused MFA change is not in the audit trail")
		}
	})
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAdminAPIAuthorization: no token is 401 with a challenge; a bad token 401 invalid_token; a
// service client never granted an admin scope cannot even get a token carrying one
// (invalid_scope), and its token without one is 403 insufficient_scope; a read-only token cannot
// write; a grant taken away stops working at once; a person's token is refused.
func TestAdminAPIAuthorization(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	st, out, h := e.api(t, "", "GET", v1+"/members", nil)
	if st != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || out["error"] != "invalid_request" {
		t.Fatalf("no token: %d %v %v", st, out, h)
	}
	st, out, h = e.api(t, "not-a-token", "GET", v1+"/members", nil)
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("bad token: %d %v %v", st, out, h)
	}
	plainID, plainSecret := e.client(store.ClientService, nil)
	if st, out, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin:read"}}, plainID, plainSecret); st != 400 || out["error"] != "invalid_scope" {
		t.Fatalf("an ungranted admin scope was issued: %d %v", st, out)
	}
	_, out, _ = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, plainID, plainSecret)
	st, body, h := e.api(t, out["access_token"].(string), "GET", v1+"/members", nil)
	if st != 403 || body["error"] != "insufficient_scope" || !strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("a token without admin scope: %d %v %v", st, body, h)
	}
	readerID, _, reader := e.adminToken(t, []string{store.ScopeAdminRead})
	if st, _, _ := e.api(t, reader, "GET", v1+"/members", nil); st != 200 {
		t.Fatalf("read with admin:read: %d", st)
	}
	if st, body, _ := e.api(t, reader, "POST", v1+"/practices", map[string]any{"name": "X"}); st != 403 || body["error"] != "insufficient_scope" {
		t.Fatalf("write with admin:read: %d %v", st, body)
	}
	if ps, _ := e.st.Practices(e.ctx, e.tenant.ID); len(ps) != 0 {
		t.Fatal("a read-only token created a practice")
	}
	e.st.ExecRaw(e.ctx, "UPDATE clients SET scopes = '[]' WHERE id = ?", readerID)
	if st, _, _ := e.api(t, reader, "GET", v1+"/members", nil); st != 403 {
		t.Fatalf("a withdrawn grant still works: %d", st)
	}
	// A person's access token (code flow) is never an admin token.
	e.user("boss@example.org", "correct horse battery")
	id, sec := e.client(store.ClientWeb, nil)
	tokn, _ := e.rp(id, sec).login(newBrowser(t), "boss@example.org", "correct horse battery")
	if st, _, _ := e.api(t, tokn.AccessToken, "GET", v1+"/members", nil); st != 403 {
		t.Fatalf("a person's token: %d", st)
	}
	if st, body, _ := e.api(t, reader, "GET", v1+"/nothing-here", nil); st != 404 || body["error"] != "not_found" {
		t.Fatalf("unknown endpoint: %d %v", st, body)
	}
}

// TestAdminOpenAPI: the document is OpenAPI 3.1 and lists every endpoint the API serves, each
// with its scope.
func TestAdminOpenAPI(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	resp, err := http.Get(e.issuer + "/admin/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
			Responses   map[string]any        `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Components.Schemas) < 5 {
		t.Fatalf("document: %+v", doc)
	}
	routes := e.node.AdminConsole.APIRoutes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	n := 0
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s is served but not in the OpenAPI document", rt)
			continue
		}
		if len(op.Security) != 1 || len(op.Security[0]["adminToken"]) != 1 || op.Responses["401"] == nil {
			t.Errorf("%s: security or responses missing: %+v", rt, op)
		}
		n++
	}
	total := 0
	for _, ops := range doc.Paths {
		total += len(ops)
	}
	if total != n {
		t.Errorf("the document lists %d operations, the API serves %d", total, n)
	}
}

// tenantSnapshot is everything of a tenant an administrator could read or change.
type tenantSnapshot struct {
	Tenant    store.Tenant
	Users     []store.User
	Practices []store.Practice
	Clients   []store.Client
	Factors   int
	Audit     int
	Grants    []store.ProxyGrant
}

func (e *devEnv) snapshot(t *testing.T, tenantID string) tenantSnapshot {
	t.Helper()
	var s tenantSnapshot
	tn, err := e.st.TenantByID(e.ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	s.Tenant = *tn
	s.Users, _ = e.st.ListUsers(e.ctx, tenantID, store.UserFilter{})
	s.Practices, _ = e.st.Practices(e.ctx, tenantID)
	s.Clients, _ = e.st.Clients(e.ctx, tenantID)
	for _, u := range s.Users {
		fs, _ := e.st.ActiveFactors(e.ctx, u.ID)
		s.Factors += len(fs)
	}
	evs, _ := e.st.SearchAudit(e.ctx, tenantID, store.AuditFilter{Limit: 200})
	s.Audit = len(evs)
	s.Grants, _ = e.st.ProxyGrants(e.ctx, tenantID)
	return s
}

// TestAdminTenantIsolation: an administrator of tenant B, signed in to the console with a fresh
// second factor, and a service client of tenant B with admin:write walk EVERY console route and
// EVERY API endpoint (from the route tables, so a new route is covered without editing this
// test) aimed at tenant A's people, practice and client. Nothing of A is shown — every id of A
// is "not found", every list shows only B — and afterwards tenant A is exactly as it was.
func TestAdminTenantIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		// Tenant A: the env's tenant, with a locked provider with an app, a practice and a client.
		victim, _ := e.appUser(t, "victim@a.example.org")
		e.st.ExecRaw(e.ctx, "UPDATE users SET locked_at = 100, role = 'provider' WHERE id = ?", victim.ID)
		pa := &store.Practice{TenantID: e.tenant.ID, Name: "A Clinic"}
		e.st.CreatePractice(e.ctx, pa)
		clientA, _ := e.client(store.ClientWeb, func(c *store.Client) { c.Name = "A Portal" })
		ward, kin := e.user("ward@a.example.org", "correct horse battery"), e.user("kin@a.example.org", "correct horse battery")
		grantA := &store.ProxyGrant{TenantID: e.tenant.ID, PatientID: ward.ID, CaregiverID: victim.ID, Access: store.ProxyFull,
			Reason: "A guardianship", CreatedBy: "cli"}
		if err := e.st.CreateProxyGrant(e.ctx, grantA); err != nil {
			t.Fatal(err)
		}
		tenantA := e.tenant.ID
		before := e.snapshot(t, tenantA)

		// Tenant B, with its own administrator and admin token.
		tb := &store.Tenant{Name: "Other Org " + t.Name()}
		if err := e.st.CreateTenant(e.ctx, tb); err != nil {
			t.Fatal(err)
		}
		e.tenant = tb
		_, secretB := e.adminUser(t, "admin@b.example.org")
		_, _, tokB := e.adminToken(t, []string{store.ScopeAdminWrite})
		br := newBrowser(t)
		br.get(e.issuer + "/admin/members?tenant=" + url.QueryEscape(tb.Name))
		br.get(e.issuer + "/admin/login?tenant=" + url.QueryEscape(tb.Name))
		br.submitLogin(e.issuer, "admin@b.example.org", "correct horse battery")
		f := br.formFields()
		f.Set("code", e.appCode(t, secretB))
		br.post(e.issuer+"/mfa/verify", f)
		if !strings.Contains(br.body, "<h1>Team members</h1>") {
			t.Fatalf("tenant B's admin is not signed in: %d %.300s", br.status, br.body)
		}
		br.get(e.issuer + "/admin/members/new")
		csrf := br.formFields().Get("csrf")
		if csrf == "" {
			t.Fatal("no CSRF token on the invite page")
		}

		idFor := func(route string) string {
			switch {
			case strings.Contains(route, "/members/{id}"):
				return victim.ID
			case strings.Contains(route, "/practices/{id}"):
				return pa.ID
			case strings.Contains(route, "/clients/{id}"):
				return clientA
			case strings.Contains(route, "/caregivers/{id}"), strings.Contains(route, "/proxy-grants/{id}"):
				return grantA.ID
			case strings.Contains(route, "{"):
				t.Fatalf("route %s has a placeholder this test does not know: teach it which of tenant A's ids to aim at", route)
			}
			return ""
		}
		// What tenant B's requests never name: A's ids are sent (and may be echoed back, or
		// recorded in B's own audit trail as attempts), but A's data must not come back.
		tnA, _ := e.st.TenantByID(e.ctx, tenantA)
		// (ward's and kin's emails are typed into tenant B's grant form and may be echoed back.)
		secrets := []string{victim.Email, "A Clinic", "A Portal", tenantA, tnA.Name, "A guardianship"}
		leaks := func(route, body string) {
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("%s shows tenant A's %q", route, s)
				}
			}
		}
		// Plausible fields for every form, so that a route that forgot the tenant would act.
		form := url.Values{"csrf": {csrf}, "name": {"Hacked"}, "new_name": {"B Clinic"}, "email": {"x@b.example.org"}, "role": {"admin"},
			"phone": {"+12025550100"}, "redirect_uris": {"https://evil.example.org/cb"}, "type": {"web"}, "disabled": {"on"},
			"mfa": {"required"}, "remember_device_days": {"1"}, "passkey_mfa_days": {"1"}, "remember_device_network": {"off"},
			"patient_email": {ward.Email}, "caregiver_email": {kin.Email}, "access": {"full"}, "reason": {"Hacked"}}
		console := e.node.AdminConsole.ConsoleRoutes()
		if len(console) < 15 {
			t.Fatalf("only %d console routes", len(console))
		}
		for _, rt := range console {
			method, path, _ := strings.Cut(rt, " ")
			path = strings.ReplaceAll(path, "{id}", idFor(rt))
			switch method {
			case "GET":
				br.get(e.issuer + path + "?practice=" + pa.ID + "&user=" + victim.ID)
			case "POST":
				br.post(e.issuer+path, form)
			}
			if strings.Contains(rt, "{id}") && br.status != 404 {
				t.Errorf("console %s on tenant A's id: %d, want 404: %.600s", rt, br.status, br.body)
			}
			leaks("console "+rt, br.body)
		}
		for _, rt := range e.node.AdminConsole.APIRoutes() {
			method, path, _ := strings.Cut(rt, " ")
			path = strings.ReplaceAll(path, "{id}", idFor(rt))
			var body any
			if method != "GET" {
				body = map[string]any{"name": "Hacked"}
				if strings.HasSuffix(path, "/proxy-grants") {
					body = map[string]any{"patient_email": ward.Email, "caregiver_email": kin.Email, "access": "full", "reason": "Hacked"}
				}
			}
			st, out, _ := e.api(t, tokB, method, path+"?practice="+pa.ID+"&user="+victim.ID, body)
			if strings.Contains(rt, "{id}") && st != 404 {
				t.Errorf("API %s on tenant A's id: %d %v, want 404", rt, st, out)
			}
			raw, _ := json.Marshal(out)
			leaks("API "+rt, string(raw))
		}
		after := e.snapshot(t, tenantA)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("tenant A changed:\nbefore %+v\nafter  %+v", before, after)
		}
		if u, _ := e.st.UserByID(e.ctx, victim.ID); u.LockedAt == nil {
			t.Error("tenant B unlocked tenant A's user")
		}
	})
}

// TestAdminConsoleAccess: someone who is not an administrator gets 403 at /admin; an
// administrator without a second factor cannot reach the console before enrolling one (even
// with the tenant's MFA optional, and with no "Remind me later"); a password-only session from
// the account console is sent to sign in again.
func TestAdminConsoleAccess(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	_, secret := e.appUser(t, "patient@example.org")
	br := newBrowser(t)
	br.get(e.issuer + "/admin/members")
	br.submitLogin(e.issuer, "patient@example.org", "correct horse battery")
	f := br.formFields()
	f.Set("code", e.appCode(t, secret))
	br.post(e.issuer+"/mfa/verify", f)
	if br.status != 403 || strings.Contains(br.body, "Team members") {
		t.Fatalf("a patient at /admin: %d %.300s", br.status, br.body)
	}
	for _, rt := range e.node.AdminConsole.ConsoleRoutes() {
		method, path, _ := strings.Cut(rt, " ")
		path = strings.ReplaceAll(path, "{id}", "x")
		if method == "GET" {
			br.get(e.issuer + path)
		} else {
			br.post(e.issuer+path, url.Values{"csrf": {br.formFields().Get("csrf")}})
		}
		if br.status != 403 {
			t.Errorf("a patient at %s: %d", rt, br.status)
		}
	}

	// An administrator with only a password.
	adm := e.user("new.admin@example.org", "correct horse battery")
	e.makeAdmin(t, adm)
	br = newBrowser(t)
	br.get(e.issuer + "/admin/members")
	br.submitLogin(e.issuer, "new.admin@example.org", "correct horse battery")
	if strings.Contains(br.body, "Team members") || !strings.Contains(br.body, `action="/mfa/enroll`) {
		t.Fatalf("an administrator without MFA reached past the sign-in: %d %.500s", br.status, br.body)
	}
	if strings.Contains(br.body, `name="defer"`) || strings.Contains(br.body, "Remind me later") {
		t.Fatal("the administrator may put off enrolling")
	}
	// The password-only session itself does not open the console.
	br.get(e.issuer + "/admin/members")
	if strings.Contains(br.body, "Team members") {
		t.Fatal("a password-only session opened the console")
	}
	if st, _, _ := e.api(t, "", "GET", v1+"/policy", nil); st != 401 {
		t.Fatalf("API without token: %d", st)
	}
}

// TestAdminConsoleActions: the console's main flows over HTTP: the Security Status list and its
// filters, unlock and reset MFA with "Confirm it's you" when the last second factor is older than
// ten minutes, and the MFA switch that, once required, is no longer offered.
func TestAdminConsoleActions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		_, secret := e.adminUser(t, "admin@example.org")
		doc, _ := e.appUser(t, "dr.lee@example.org")
		e.st.ExecRaw(e.ctx, "UPDATE users SET locked_at = 100, role = 'provider' WHERE id = ?", doc.ID)
		e.user("pat@example.org", "correct horse battery")
		br := newBrowser(t)
		e.adminSignIn(t, br, "admin@example.org", secret)
		for _, want := range []string{"dr.lee@example.org", "pat@example.org", "Locked", "Not enrolled", "authenticator app"} {
			if !strings.Contains(br.body, want) {
				t.Errorf("the list lacks %q", want)
			}
		}
		br.get(e.issuer + "/admin/members?status=locked")
		if !strings.Contains(br.body, "dr.lee@example.org") || strings.Contains(br.body, "pat@example.org") {
			t.Fatalf("locked filter: %.1000s", br.body)
		}
		br.get(e.issuer + "/admin/members?role=patient&status=no_mfa")
		if strings.Contains(br.body, "dr.lee@example.org") || !strings.Contains(br.body, "pat@example.org") {
			t.Fatal("role/status filter")
		}

		// A form without the page's CSRF token does nothing (a cross-site form cannot act).
		br.post(e.issuer+"/admin/members/"+doc.ID+"/unlock", url.Values{"csrf": {"forged"}})
		if u, _ := e.st.UserByID(e.ctx, doc.ID); br.status != 403 || u.LockedAt == nil {
			t.Fatalf("unlock with a forged CSRF token: %d, locked %v", br.status, u.LockedAt != nil)
		}
		// Unlock with a stale confirmation: "Confirm it's you" first, then the unlock itself.
		br.get(e.issuer + "/admin/members/" + doc.ID)
		e.staleConfirmation(t)
		e.act(br, "/admin/members/"+doc.ID+"/unlock", nil)
		if !strings.Contains(br.body, `action="/admin/confirm"`) {
			t.Fatalf("no confirm step: %d %.500s", br.status, br.body)
		}
		if u, _ := e.st.UserByID(e.ctx, doc.ID); u.LockedAt == nil {
			t.Fatal("unlocked before the confirmation")
		}
		f := br.formFields()
		f.Set("code", e.appCode(t, secret))
		forged := maps.Clone(f)
		forged.Set("csrf", "forged")
		br.post(e.issuer+"/admin/confirm", forged)
		if u, _ := e.st.UserByID(e.ctx, doc.ID); br.status != 403 || u.LockedAt == nil {
			t.Fatalf("confirm with a forged CSRF token: %d, locked %v", br.status, u.LockedAt != nil)
		}
		br.post(e.issuer+"/admin/confirm", f)
		if !strings.Contains(br.body, "The account is unlocked.") {
			t.Fatalf("after the confirmation: %d %.500s", br.status, br.body)
		}
		if u, _ := e.st.UserByID(e.ctx, doc.ID); u.LockedAt != nil {
			t.Fatal("still locked")
		}
		adm, _ := e.st.UserByEmail(e.ctx, e.tenant.ID, "admin@example.org")
		evs, _ := e.st.SearchAudit(e.ctx, e.tenant.ID, store.AuditFilter{Event: "user.unlock"})
		if len(evs) != 1 || evs[0].ActorID != adm.ID || evs[0].SubjectID != doc.ID || evs[0].ClientID != store.AdminClientID(e.tenant.ID) || evs[0].IP == "" {
			t.Fatalf("the unlock's audit row: %+v", evs)
		}
		// Reset MFA (the confirmation is fresh now).
		e.act(br, "/admin/members/"+doc.ID+"/reset-mfa", nil)
		if !strings.Contains(br.body, "Two-step sign-in was reset") || !strings.Contains(br.body, "Not enrolled") {
			t.Fatalf("reset: %d %.800s", br.status, br.body)
		}
		if n := outboxCount(e.env, "email", "dr.lee@example.org"); n != 1 {
			t.Fatalf("notices: %d", n)
		}
		// The administrator's own account cannot be reset or disabled here.
		e.act(br, "/admin/members/"+adm.ID+"/disable", nil)
		if br.status != 409 {
			t.Fatalf("self-disable: %d", br.status)
		}

		// The MFA switch: optional → required; then "off" is not offered and is refused.
		br.get(e.issuer + "/admin/policy")
		if !strings.Contains(br.body, "covers every practice") || !strings.Contains(br.body, "cannot be turned off again") {
			t.Fatal("the policy page does not say the switch covers every practice and cannot be undone")
		}
		form := url.Values{"mfa": {"required"}, "remember_device_days": {"9000"}, "passkey_mfa_days": {"90"}, "remember_device_network": {"exact"},
			"remember_device_mfa": {"on"}, "phone_region": {"GB"}}
		e.act(br, "/admin/policy", form)
		if br.status != 400 || !strings.Contains(br.body, `id="f-remember-device-days-error"`) || !strings.Contains(br.body, `href="#f-remember-device-days"`) {
			t.Fatalf("bad days: %d %.800s", br.status, br.body)
		}
		if tn, _ := e.st.TenantByID(e.ctx, e.tenant.ID); tn.MFAMode != store.MFAOptional {
			t.Fatal("a refused form changed the policy")
		}
		form.Set("remember_device_days", "7")
		e.act(br, "/admin/policy", form)
		if !strings.Contains(br.body, "The policy was saved.") || strings.Contains(br.body, `name="mfa"`) {
			t.Fatalf("policy: %d %.800s", br.status, br.body)
		}
		form.Set("mfa", "off")
		e.act(br, "/admin/policy", form)
		if br.status != 409 {
			t.Fatalf("MFA turned off: %d", br.status)
		}
		if tn, _ := e.st.TenantByID(e.ctx, e.tenant.ID); tn.MFAMode != store.MFARequired || tn.PhoneRegion != "GB" {
			t.Fatalf("policy after the switch: %s %s", tn.MFAMode, tn.PhoneRegion)
		}

		// Invite through the console, with a refused email first.
		br.get(e.issuer + "/admin/members/new")
		e.act(br, "/admin/members", url.Values{"email": {"not an email"}, "name": {"Nora Nurse"}, "role": {"provider"}})
		if br.status != 400 || !strings.Contains(br.body, `id="f-email-error"`) {
			t.Fatalf("bad invite: %d %.600s", br.status, br.body)
		}
		// The form comes back with what was typed, for the administrator to correct.
		for _, want := range []string{`value="not an email"`, `value="Nora Nurse"`, `<option value="provider" selected>`} {
			if !strings.Contains(br.body, want) {
				t.Errorf("the refused invitation lost %s", want)
			}
		}
		e.act(br, "/admin/members", url.Values{"email": {"new.nurse@example.org"}, "name": {"Nora Nurse"}, "role": {"staff"}})
		if !strings.Contains(br.body, "The invitation was sent.") || !strings.Contains(br.body, "Not set yet") {
			t.Fatalf("invite: %d %.600s", br.status, br.body)
		}

		// Audit page with filters.
		br.get(e.issuer + "/admin/audit?event=user.unlock")
		if !strings.Contains(br.body, "user.unlock") || strings.Contains(br.body, "user.mfa_reset") {
			t.Fatalf("audit filter: %.800s", br.body)
		}
		// Practices and clients through the console.
		br.get(e.issuer + "/admin/practices")
		e.act(br, "/admin/practices", url.Values{"new_name": {"Riverside North"}})
		if !strings.Contains(br.body, "The practice was added.") {
			t.Fatalf("practice: %d %.500s", br.status, br.body)
		}
		// A refused name is shown next to the field it was typed in: the new one, or the renamed one.
		e.act(br, "/admin/practices", url.Values{"new_name": {" "}})
		if br.status != 400 || !strings.Contains(br.body, `id="f-new-name-error"`) {
			t.Errorf("blank new practice: %d %.500s", br.status, br.body)
		}
		ps, _ := e.st.Practices(e.ctx, e.tenant.ID)
		if i := slices.IndexFunc(ps, func(p store.Practice) bool { return p.Name == "Riverside North" }); i < 0 {
			t.Errorf("practices: %+v", ps)
		} else if e.act(br, "/admin/practices/"+ps[i].ID, url.Values{"name": {""}}); br.status != 400 || !strings.Contains(br.body, `id="f-name-`+ps[i].ID+`-error"`) {
			t.Errorf("blank rename: %d %.500s", br.status, br.body)
		}
		br.get(e.issuer + "/admin/clients")
		e.act(br, "/admin/clients", url.Values{"name": {"Sync"}, "type": {"service"}, "scopes": {"admin:read"}})
		if !strings.Contains(br.body, `id="client-secret"`) {
			t.Fatalf("client: %d %.800s", br.status, br.body)
		}
		// "Sign in again" (for an administrator whose only factor the confirm page cannot ask)
		// really asks again: the password page, not a silent pass through the live session.
		br.get(e.issuer + "/admin/login?fresh=1")
		if !strings.Contains(br.body, `autocomplete="current-password"`) {
			t.Fatalf("a fresh sign-in did not ask for the password: %d %.300s", br.status, br.body)
		}
		cs, _ := e.st.Clients(e.ctx, e.tenant.ID)
		if i := slices.IndexFunc(cs, func(c store.Client) bool { return c.Name == "Sync" }); i < 0 || !slices.Equal(cs[i].Scopes, store.StringList{"admin:read"}) {
			t.Fatalf("clients: %+v", cs)
		}
	})
}

// TestAdminConfirmOtherMethod: "Confirm it's you" in the console offers the administrator's other
// methods (for an administrator, whose role allows an app, passkeys and backup codes: a backup
// code); one confirms too, and the action it carried runs with its fields.
func TestAdminConfirmOtherMethod(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	adm, secret := e.adminUser(t, "admin@example.org")
	codes, err := e.node.Login.Backup.Generate(e.ctx, adm.ID)
	if err != nil {
		t.Fatal(err)
	}
	br := newBrowser(t)
	e.adminSignIn(t, br, "admin@example.org", secret)
	br.get(e.issuer + "/admin/clients")
	e.staleConfirmation(t)
	e.act(br, "/admin/clients", url.Values{"name": {"Lab portal"}, "type": {"web"}, "redirect_uris": {"https://lab.example.org/cb"}})
	if !strings.Contains(br.body, `action="/admin/confirm/method"`) || !strings.Contains(br.body, `value="backup_code"`) {
		t.Fatalf("no other method offered: %d %.800s", br.status, br.body)
	}
	f := br.formFields()
	f.Set("use", "backup_code")
	br.post(e.issuer+"/admin/confirm/method", f)
	if !strings.Contains(br.body, `action="/admin/confirm"`) || !strings.Contains(br.body, `name="method" value="backup_code"`) {
		t.Fatalf("the backup-code page: %d %.800s", br.status, br.body)
	}
	f = br.formFields()
	f.Set("code", codes[0])
	br.post(e.issuer+"/admin/confirm", f)
	if !strings.Contains(br.body, `id="client-secret"`) {
		t.Fatalf("the client was not created after the backup code: %d %.800s", br.status, br.body)
	}
	cs, _ := e.st.Clients(e.ctx, e.tenant.ID)
	if len(cs) != 1 || cs[0].Name != "Lab portal" || cs[0].RedirectURIs[0] != "https://lab.example.org/cb" {
		t.Fatalf("clients: %+v", cs)
	}
}

// TestAccountConfirmStillAccount: the confirm page the admin console shares keeps the account
// console's own form actions, the other-methods forms included.
func TestAccountConfirmStillAccount(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	u, secret := e.appUser(t, "pat@example.org")
	sms := &store.Factor{UserID: u.ID, TenantID: e.tenant.ID, Kind: "sms", Label: "+12025550123"}
	if err := e.st.CreateFactor(e.ctx, sms); err != nil {
		t.Fatal(err)
	}
	e.st.ActivateFactor(e.ctx, u.ID, sms.ID)
	br := newBrowser(t)
	e.accountSignIn(t, br, "pat@example.org", secret)
	e.staleConfirmation(t)
	e.act(br, "/account/default", url.Values{"factorID": {sms.ID}})
	if br.status != 200 || !strings.Contains(br.body, `action="/account/confirm"`) ||
		!strings.Contains(br.body, `action="/account/confirm/method"`) || !strings.Contains(br.body, `href="/account/security"`) {
		t.Fatalf("account confirm page: %d %.1500s", br.status, br.body)
	}
}
