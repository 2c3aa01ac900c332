package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/store"
)

// Caregiver (proxy) grants as administrators manage them: the list of a tenant's grants, a
// grant an administrator creates (for a minor, a guardianship, …) with a recorded reason, and
// revocation. The rules and the audit rows (proxy.granted, proxy.revoked, with the actor and the
// patient as subject) are internal/proxy's; this file adds the tenant wall, the lookup of people
// by email and the shape the console and the API show.

// ProxyGrant is one caregiver grant as the console and the API show it.
type ProxyGrant struct {
	ID             string   `json:"id"`
	PatientID      string   `json:"patient_id"`
	PatientEmail   string   `json:"patient_email"`
	PatientName    string   `json:"patient_name"`
	CaregiverID    string   `json:"caregiver_id"`
	CaregiverEmail string   `json:"caregiver_email"`
	CaregiverName  string   `json:"caregiver_name"`
	Access         string   `json:"access"`               // full or limited
	ScopeSet       string   `json:"scope_set,omitempty"`  // limited only
	Scopes         []string `json:"scopes,omitempty"`     // the set's scopes now (limited only)
	ExpiresAt      string   `json:"expires_at,omitempty"` // RFC 3339; absent: until revoked
	Reason         string   `json:"reason"`
	CreatedBy      string   `json:"created_by"`      // the user id of whoever created it (the patient, an administrator) or a client id or "cli"
	CreatedByName  string   `json:"created_by_name"` // their email when they are a user of the tenant
	CreatedAt      string   `json:"created_at"`
	RevokedAt      string   `json:"revoked_at,omitempty"`
	RevokedBy      string   `json:"revoked_by,omitempty"`
	Status         string   `json:"status"` // active, expired or revoked
}

// GrantStatuses are the statuses a grant list may be filtered by.
var GrantStatuses = []string{"active", "expired", "revoked"}

// ProxyGrantFilter narrows the grant list: Status is one of GrantStatuses or ""; Query is part
// of the patient's or the caregiver's email or name.
type ProxyGrantFilter struct {
	Status string
	Query  string
}

// ProxyGrantSpec is a grant an administrator creates. People are named by email.
type ProxyGrantSpec struct {
	PatientEmail   string `json:"patient_email"`
	CaregiverEmail string `json:"caregiver_email"`
	Access         string `json:"access"`              // full or limited
	ScopeSet       string `json:"scope_set,omitempty"` // limited: the set ("limited" when empty)
	// Expires is the grant's last day, YYYY-MM-DD (UTC): it ends at the following midnight.
	// Empty: until revoked.
	Expires string `json:"expires,omitempty"`
	Reason  string `json:"reason"` // required: "parent of a minor", "court-appointed guardian"
}

func (s *Service) proxySvc(a Actor) *proxy.Service {
	return &proxy.Service{St: s.st, Audit: func(ctx context.Context, e *store.AuditEvent) error {
		e.ClientID = a.ClientID
		s.audit.Record(ctx, e)
		return nil
	}}
}

// ProxyScopeSets lists the scope set names a limited grant of the actor's tenant may name: the
// tenant's own and the built-in ones.
func (s *Service) ProxyScopeSets(ctx context.Context, a Actor) ([]string, error) {
	sets, err := s.st.ProxyScopeSets(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, set := range sets {
		names = append(names, set.Name)
	}
	for name := range proxy.DefaultScopeSets {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// ProxyGrants lists the actor's tenant's caregiver grants, newest first.
func (s *Service) ProxyGrants(ctx context.Context, a Actor, f ProxyGrantFilter) ([]ProxyGrant, error) {
	if f.Status != "" && !slices.Contains(GrantStatuses, f.Status) {
		return nil, bad("status", "status", "use one of %s", strings.Join(GrantStatuses, ", "))
	}
	gs, err := s.st.ProxyGrants(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	vc := newViewCache()
	q := strings.ToLower(strings.TrimSpace(f.Query))
	out := []ProxyGrant{}
	for i := range gs {
		g, err := s.grantView(ctx, a, &gs[i], vc)
		if err != nil {
			return nil, err
		}
		if f.Status != "" && g.Status != f.Status {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(strings.Join([]string{g.PatientEmail, g.PatientName, g.CaregiverEmail, g.CaregiverName}, "\n")), q) {
			continue
		}
		out = append(out, *g)
	}
	return out, nil
}

// ProxyGrant reads one grant of the actor's tenant.
func (s *Service) ProxyGrant(ctx context.Context, a Actor, id string) (*ProxyGrant, error) {
	g, err := s.tenantGrant(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.grantView(ctx, a, g, newViewCache())
}

func (s *Service) tenantGrant(ctx context.Context, a Actor, id string) (*store.ProxyGrant, error) {
	g, err := s.st.ProxyGrantByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (a.TenantID == "" || g.TenantID != a.TenantID)) {
		return nil, ErrNotFound
	}
	return g, err
}

// viewCache holds what the grants of one list share, read once: their people (nil: not of the
// tenant) and the scopes of their scope sets.
type viewCache struct {
	people map[string]*store.User
	sets   map[string][]string
}

func newViewCache() *viewCache {
	return &viewCache{people: map[string]*store.User{}, sets: map[string][]string{}}
}

func (s *Service) grantView(ctx context.Context, a Actor, g *store.ProxyGrant, vc *viewCache) (*ProxyGrant, error) {
	person := func(id string) (*store.User, error) {
		if u, ok := vc.people[id]; ok {
			return u, nil
		}
		u, err := s.st.UserByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.TenantID != a.TenantID) {
			u, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		vc.people[id] = u
		return u, nil
	}
	v := &ProxyGrant{ID: g.ID, PatientID: g.PatientID, CaregiverID: g.CaregiverID, Access: g.Access, ScopeSet: g.ScopeSet,
		Reason: g.Reason, CreatedBy: g.CreatedBy, RevokedBy: g.RevokedBy,
		CreatedAt: time.Unix(g.CreatedAt, 0).UTC().Format(time.RFC3339)}
	for _, p := range []struct {
		id          string
		email, name *string
	}{{g.PatientID, &v.PatientEmail, &v.PatientName}, {g.CaregiverID, &v.CaregiverEmail, &v.CaregiverName}, {g.CreatedBy, &v.CreatedByName, nil}} {
		u, err := person(p.id)
		if err != nil {
			return nil, err
		}
		if u != nil {
			*p.email = u.Email
			if p.name != nil {
				*p.name = u.Name
			}
		}
	}
	if g.Access == store.ProxyLimited {
		scopes, ok := vc.sets[g.ScopeSet]
		if !ok {
			scopes, _ = s.proxySvc(a).SetScopes(ctx, g.TenantID, g.ScopeSet) // none shown when it cannot be read
			vc.sets[g.ScopeSet] = scopes
		}
		v.Scopes = scopes
	}
	if g.ExpiresAt != nil {
		v.ExpiresAt = time.Unix(*g.ExpiresAt, 0).UTC().Format(time.RFC3339)
	}
	switch {
	case g.RevokedAt != nil:
		v.Status, v.RevokedAt = "revoked", time.Unix(*g.RevokedAt, 0).UTC().Format(time.RFC3339)
	case !g.ActiveAt(s.st.Now().Unix()):
		v.Status = "expired"
	default:
		v.Status = "active"
	}
	return v, nil
}

// CreateProxyGrant creates a caregiver grant in the actor's tenant: two different people of the
// tenant named by email, full or limited access (with a scope set the tenant knows), an optional
// last day in the future and a reason. Refusals are audited too.
func (s *Service) CreateProxyGrant(ctx context.Context, a Actor, spec ProxyGrantSpec) (*ProxyGrant, error) {
	g, subject, err := s.createGrant(ctx, a, spec)
	if err != nil {
		return nil, s.outcome(ctx, a, "proxy.granted", subject, "", err)
	}
	return s.grantView(ctx, a, g, newViewCache())
}

func (s *Service) createGrant(ctx context.Context, a Actor, spec ProxyGrantSpec) (*store.ProxyGrant, string, error) {
	if a.TenantID == "" {
		return nil, "", ErrNotFound
	}
	find := func(field, email string) (*store.User, error) {
		email = strings.TrimSpace(email)
		if email == "" {
			return nil, bad(field, "proxy_person", "give the email address of a person of this tenant")
		}
		u, err := s.st.UserByEmail(ctx, a.TenantID, email)
		if errors.Is(err, store.ErrNotFound) {
			return nil, bad(field, "proxy_person", "this tenant has no user with that email address")
		}
		return u, err
	}
	patient, err := find("patient_email", spec.PatientEmail)
	if err != nil {
		return nil, "", err
	}
	caregiver, err := find("caregiver_email", spec.CaregiverEmail)
	if err != nil {
		return nil, patient.ID, err
	}
	in := proxy.GrantInput{TenantID: a.TenantID, PatientID: patient.ID, CaregiverID: caregiver.ID,
		Access: strings.TrimSpace(spec.Access), Reason: spec.Reason, ActorID: a.id()}
	if in.Access == store.ProxyLimited {
		in.ScopeSet = strings.TrimSpace(spec.ScopeSet)
	} else if strings.TrimSpace(spec.ScopeSet) != "" && in.Access == store.ProxyFull {
		return nil, patient.ID, bad("scope_set", "proxy_scope_set_full", "a scope set applies to limited access only")
	}
	if v := strings.TrimSpace(spec.Expires); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, patient.ID, bad("expires", "date", "use a date like 2027-03-31")
		}
		end := d.AddDate(0, 0, 1) // through the whole last day
		in.ExpiresAt = &end
	}
	if len(in.Reason) > 500 {
		return nil, patient.ID, bad("reason", "proxy_reason_long", "keep the reason to at most 500 characters")
	}
	g, err := s.proxySvc(a).Grant(ctx, in)
	switch {
	case errors.Is(err, proxy.ErrReason):
		err = bad("reason", "proxy_reason", "a reason is required (it is recorded with the grant)")
	case errors.Is(err, proxy.ErrSelf):
		err = bad("caregiver_email", "proxy_self", "a person cannot be their own caregiver")
	case errors.Is(err, proxy.ErrAccess):
		err = bad("access", "proxy_access", "use full or limited")
	case errors.Is(err, proxy.ErrScopeSet):
		err = bad("scope_set", "proxy_scope_set", "this tenant has no scope set of that name")
	case errors.Is(err, proxy.ErrPast):
		err = bad("expires", "proxy_past", "the last day has passed")
	case errors.Is(err, proxy.ErrOtherTenant):
		err = ErrNotFound
	}
	return g, patient.ID, err
}

// RevokeProxyGrant ends a grant of the actor's tenant at once: its patient-context tokens stop
// working, and refresh and token exchange for the patient fail. A grant already revoked is
// returned as it is.
func (s *Service) RevokeProxyGrant(ctx context.Context, a Actor, id string) (*ProxyGrant, error) {
	g, err := s.tenantGrant(ctx, a, id)
	if err != nil {
		return nil, s.outcome(ctx, a, "proxy.revoked", "", "grant="+id, err)
	}
	if g.RevokedAt == nil {
		if err := s.proxySvc(a).Revoke(ctx, a.TenantID, id, a.id()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, s.outcome(ctx, a, "proxy.revoked", g.PatientID, "grant="+id, err)
		}
	}
	return s.ProxyGrant(ctx, a, id)
}
