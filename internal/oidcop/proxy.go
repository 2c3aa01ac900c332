package oidcop

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/store"
)

// Caregiver (proxy) tokens. When a person chose to open a patient's record (the chooser page
// stored the grant on the auth request), the tokens of that grant say so:
//
//   - the ID token is about the person who signed in: its sub is the caregiver, always;
//   - the access token is about the patient: sub is the patient, act.sub the caregiver
//     (RFC 8693 §4.1), patient the patient's id, and scope only what the grant allows;
//   - the token response carries patient (as SMART App Launch does);
//   - the refresh family carries the grant id: every refresh checks the grant is still in force.
//
// The protocol library builds the access token and the ID token from the same request object
// and takes both subjects from its GetSubject. So a grant with a delegation answers the patient
// only while its access token is being built: from CreateAccessToken/CreateAccessAndRefreshTokens
// (beginAccessToken) until the library asks for the token's private claims
// (GetPrivateClaimsFromRequest, which it does right after reading the subject). The end-to-end
// tests check both subjects, so a library change of that order fails them loudly.

// delegation is a patient-context grant attached to an auth request or a refresh token.
type delegation struct {
	*proxy.Delegation
	scopes  []string // what the grant allows of what was asked
	minting bool     // the access token is being built: GetSubject answers the patient
}

// subjectOr returns the patient while the access token is built, else person.
func (d *delegation) subjectOr(person string) string {
	if d != nil && d.minting {
		return d.PatientID
	}
	return person
}

// scopesOr returns what the grant allows of the request, or requested without a delegation.
func (d *delegation) scopesOr(requested []string) []string {
	if d != nil {
		return d.scopes
	}
	return requested
}

// minter is implemented by grants that may carry a delegation.
type minter interface{ delegated() *delegation }

func (a *AuthRequest) delegated() *delegation    { return a.proxy }
func (r *refreshRequest) delegated() *delegation { return r.proxy }

// beginAccessToken marks the start of an access token's assembly (see above).
func beginAccessToken(req op.TokenRequest) {
	if m, ok := req.(minter); ok && m.delegated() != nil {
		m.delegated().minting = true
	}
}

// errGrantEnded is the answer to a refresh or exchange under a grant no longer in force.
var errGrantEnded = oidc.ErrInvalidGrant().WithDescription("the caregiver grant was revoked or has expired")

// delegate loads the grant a person acts under and what it allows of requested; a grant that is
// revoked, expired or not the person's is refused.
func (s *Storage) delegate(ctx context.Context, grantID, userID string, requested []string) (*delegation, error) {
	g, err := s.st.ActiveProxyGrant(ctx, grantID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.CaregiverID != userID) {
		return nil, errGrantEnded
	}
	if err != nil {
		return nil, err
	}
	pu, err := s.openPatient(ctx, g)
	if err != nil {
		return nil, err
	} else if pu == nil {
		return nil, errGrantEnded
	}
	scopes, err := s.proxySvc().Scopes(ctx, g, requested)
	if err != nil {
		return nil, err
	}
	return &delegation{Delegation: delegationOf(g, pu), scopes: scopes}, nil
}

func (s *Storage) proxySvc() *proxy.Service { return &proxy.Service{St: s.st} }

// attachToCode gives a redeemed auth request its delegation, if the person chose a patient.
func (s *Storage) attachToCode(ctx context.Context, ar *AuthRequest) error {
	if ar.Row.ProxyGrantID == "" {
		return nil
	}
	d, err := s.delegate(ctx, ar.Row.ProxyGrantID, ar.Row.UserID, ar.Params.Scopes)
	if err != nil {
		s.audit(ctx, &store.AuditEvent{TenantID: ar.Row.TenantID, Event: "proxy.token_refused", Result: "refused",
			ActorID: ar.Row.UserID, ClientID: ar.Row.ClientID, Detail: "grant=" + ar.Row.ProxyGrantID + " code"})
		return err
	}
	ar.proxy = d
	return nil
}

// attachToRefresh gives a refresh grant its delegation; a grant no longer in force ends it.
func (s *Storage) attachToRefresh(ctx context.Context, r *refreshRequest) error {
	if r.row.ProxyGrantID == "" {
		return nil
	}
	d, err := s.delegate(ctx, r.row.ProxyGrantID, r.row.UserID, r.scopes)
	if err != nil {
		s.audit(ctx, &store.AuditEvent{TenantID: r.row.TenantID, Event: "proxy.token_refused", Result: "refused",
			ActorID: r.row.UserID, ClientID: r.row.ClientID, Detail: "grant=" + r.row.ProxyGrantID + " refresh"})
		return err
	}
	r.proxy, r.scopes = d, d.scopes
	return nil
}

// delegationClaims adds a delegation's claims to an access token being built and ends the
// assembly (the subject was read already). It also tells the token endpoint wrapper which
// patient to name in the response.
func delegationClaims(ctx context.Context, req op.TokenRequest, claims map[string]any) {
	var d *proxy.Delegation
	switch r := req.(type) {
	case minter:
		if dl := r.delegated(); dl != nil {
			dl.minting = false
			d = dl.Delegation
		}
	case *exchangeRequest:
		claims["sid"], claims["grant_id"] = r.sid, r.grant
		d = r.delegation
	}
	if d == nil {
		return
	}
	for k, v := range d.Claims() {
		claims[k] = v
	}
	noteLaunchPatient(ctx, d.PatientID) // `patient` in the token response (smart.go)
}

// ---- token checks ----

type actClaim struct {
	Sub string `json:"sub"`
}

// person is who the token's holder signed in as: the actor of a patient-context token, else sub.
func (c *accessClaims) person() string {
	if c.Act != nil && c.Act.Sub != "" {
		return c.Act.Sub
	}
	return c.Subject
}

// revoked asks the revocation list about a token's ids, and for a patient-context token also
// about its grant (same statement) and the grant's expiry (carried in the token).
func (s *Storage) revoked(ctx context.Context, c *accessClaims) (bool, error) {
	if c.ProxyGrant == "" {
		return s.st.TokenRevoked(ctx, c.JTI, c.SID, c.Grant)
	}
	if c.ProxyExp != 0 && s.st.Now().Unix() >= c.ProxyExp {
		return true, nil
	}
	return s.st.ProxyTokenRevoked(ctx, c.JTI, c.SID, c.Grant, c.ProxyGrant)
}

// describeDelegation adds act and patient to an introspection answer: act for a caregiver's
// patient-context token, patient for it and for a person's own SMART launch/patient token (the
// resource server reads the launch context from the same answer either way).
func describeDelegation(resp *oidc.IntrospectionResponse, c *accessClaims) {
	if c.Act != nil {
		resp.Actor = &oidc.ActorClaims{Subject: c.Act.Sub}
	}
	if c.Patient == "" {
		return
	}
	if resp.Claims == nil {
		resp.Claims = map[string]any{}
	}
	resp.Claims["patient"] = c.Patient
}

// ---- the token endpoint: token exchange ----

// GrantTypeTokenExchange is RFC 8693's grant type.
const GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

const tokenTypeAccess = "urn:ietf:params:oauth:token-type:access_token"

// proxyToken serves the token-exchange grant itself; every other grant goes on to the library.
// guardToken has authenticated the client; tokenContext (smart.go) puts `patient` in the
// response of a patient-context token.
func (p *Provider) proxyToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm.Get("grant_type") == GrantTypeTokenExchange {
			p.tokenExchange(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// exchangeRequest is a token-exchange grant: a new access token for another patient (or for the
// caregiver themselves), in the same session and sign-in as the token presented.
type exchangeRequest struct {
	clientID   string
	subject    string
	scopes     []string
	sid, grant string
	delegation *proxy.Delegation
}

func (e *exchangeRequest) GetSubject() string    { return e.subject }
func (e *exchangeRequest) GetAudience() []string { return []string{e.clientID} }
func (e *exchangeRequest) GetScopes() []string   { return e.scopes }

// tokenExchange answers RFC 8693 for one use: switching patients without signing in again.
// The subject_token is an access token this client holds (the caregiver's own, or a
// patient-context one, whose act.sub is the caregiver); the `patient` parameter names whose
// record to open. The new token has the subject token's session, sign-in grant and scopes,
// narrowed by the caregiver grant for that patient; without a grant in force the answer is
// invalid_grant.
func (p *Provider) tokenExchange(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client, _ := ctx.Value(clientCtxKey{}).(*Client)
	f := r.PostForm
	switch {
	case client == nil || !client.row.Proxy:
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "this client may not exchange tokens for a patient context")
		return
	case f.Get("subject_token") == "" || f.Get("subject_token_type") == "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "subject_token and subject_token_type are required")
		return
	case f.Get("subject_token_type") != tokenTypeAccess:
		tokenError(w, http.StatusBadRequest, "invalid_request", "subject_token_type must be "+tokenTypeAccess)
		return
	case f.Get("requested_token_type") != "" && f.Get("requested_token_type") != tokenTypeAccess:
		tokenError(w, http.StatusBadRequest, "invalid_request", "only access tokens are issued by exchange")
		return
	case f.Get("actor_token") != "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "actor_token is not supported: the subject token names the caregiver")
		return
	case exchangeTarget(f) == "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "patient (the id of the patient whose record to open), or resource naming a FHIR Patient, is required")
		return
	}
	s := p.storage
	c, _, err := s.liveAccessToken(ctx, f.Get("subject_token"))
	if err != nil && !errors.Is(err, errInvalidToken) {
		tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be checked")
		return
	}
	if err != nil || !c.user() || c.ClientID != client.row.ID {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the subject token is invalid, expired, revoked or not this client's")
		return
	}
	person, target := c.person(), exchangeTarget(f)
	scopes := store.SplitList(c.Scope)
	if want := store.SplitList(f.Get("scope")); len(want) > 0 {
		for _, sc := range want {
			if !slices.Contains(scopes, sc) {
				tokenError(w, http.StatusBadRequest, "invalid_scope", "a scope beyond the subject token's was asked")
				return
			}
		}
		scopes = want
	}
	req := &exchangeRequest{clientID: client.row.ID, subject: person, scopes: scopes, sid: c.SID, grant: c.Grant}
	if target != person {
		g, pu, err := s.grantFor(ctx, client.row.TenantID, person, target)
		if err != nil {
			tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the grant could not be checked")
			return
		}
		if g == nil {
			s.audit(ctx, &store.AuditEvent{TenantID: client.row.TenantID, Event: "proxy.token_refused", Result: "refused",
				ActorID: person, SubjectID: target, ClientID: client.row.ID, Detail: "exchange: no caregiver grant in force"})
			tokenError(w, http.StatusBadRequest, "invalid_grant", "no caregiver grant in force for that patient")
			return
		}
		if req.scopes, err = s.proxySvc().Scopes(ctx, g, scopes); err != nil {
			tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the grant could not be checked")
			return
		}
		req.subject, req.delegation = g.PatientID, delegationOf(g, pu)
	}
	exp := time.Now().Add(s.opts.AccessTokenTTL).UTC()
	token, err := op.CreateJWT(ctx, p.opts.Issuer, req, exp, store.NewID(), client, s)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the token could not be issued")
		return
	}
	s.audit(ctx, &store.AuditEvent{TenantID: client.row.TenantID, Event: "proxy.token_exchange", Result: "ok",
		ActorID: person, SubjectID: req.subject, ClientID: client.row.ID})
	out := map[string]any{"access_token": token, "issued_token_type": tokenTypeAccess, "token_type": oidc.BearerToken,
		"expires_in": int64(s.opts.AccessTokenTTL / time.Second), "scope": strings.Join(req.scopes, " ")}
	if req.delegation != nil {
		out["patient"] = req.delegation.Claims()["patient"]
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, out)
}

// exchangeTarget is the patient a token exchange asks for: the `patient` parameter, or else an
// RFC 8693 `resource` that names a FHIR Patient (`Patient/123` or `https://fhir.example/r4/Patient/123`).
func exchangeTarget(f url.Values) string {
	if p := f.Get("patient"); p != "" {
		return p
	}
	res := f.Get("resource")
	i := strings.LastIndex(res, "Patient/")
	if i < 0 || (i > 0 && res[i-1] != '/') {
		return ""
	}
	id := res[i+len("Patient/"):]
	if id == "" || strings.ContainsAny(id, "/?#") {
		return ""
	}
	return id
}

// grantFor finds the grant in force that lets caregiver act for patient in tenant, with the
// patient's account, or nil. patient is the patient's Tessera id or the `patient` claim the
// caregiver's tokens carry (their FHIR Patient id), so an RP can pass back what it was given.
func (s *Storage) grantFor(ctx context.Context, tenantID, caregiver, patient string) (*store.ProxyGrant, *store.User, error) {
	gs, err := s.st.ProxyGrantsOfCaregiver(ctx, caregiver)
	if err != nil {
		return nil, nil, err
	}
	for i := range gs {
		if gs[i].TenantID != tenantID {
			continue
		}
		pu, err := s.openPatient(ctx, &gs[i])
		if err != nil {
			return nil, nil, err
		}
		if pu != nil && (pu.ID == patient || patientContext(pu) == patient) {
			return &gs[i], pu, nil
		}
	}
	return nil, nil, nil
}

// delegationOf is the grant's delegation, naming the patient as SMART apps know them.
func delegationOf(g *store.ProxyGrant, patient *store.User) *proxy.Delegation {
	d := proxy.DelegationOf(g)
	if p := patientContext(patient); p != "" {
		d.Patient = p
	}
	return d
}

// openPatient is the grant's patient account, or nil when it may no longer be opened (gone or
// disabled).
func (s *Storage) openPatient(ctx context.Context, g *store.ProxyGrant) (*store.User, error) {
	u, err := s.st.UserByID(ctx, g.PatientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, nil
	}
	return u, nil
}
