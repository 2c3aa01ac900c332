package proxy

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// InviteTTL is how long an invitation link can be accepted.
const InviteTTL = 7 * 24 * time.Hour

// Errors the callers turn into messages.
var (
	ErrSelf         = errors.New("proxy: a person cannot be their own caregiver")
	ErrAccess       = errors.New("proxy: access must be full or limited")
	ErrScopeSet     = errors.New("proxy: unknown scope set")
	ErrOtherTenant  = errors.New("proxy: patient and caregiver must belong to the tenant")
	ErrPast         = errors.New("proxy: the expiry date has passed")
	ErrReason       = errors.New("proxy: a reason is required")
	ErrNotPermitted = errors.New("proxy: not yours to revoke")
	ErrEmail        = errors.New("proxy: the invitation was sent to another email address")
)

// Hasher is a keyed hash (internal/secret.Hasher): invitation tokens are stored only as its output.
type Hasher interface{ Sum(value string) string }

// Service is what the account console, the admin console and the CLI call. Every change is
// audited through Audit with the actor and the patient as subject.
type Service struct {
	St     *store.Store
	Tokens Hasher
	Audit  func(ctx context.Context, e *store.AuditEvent) error
}

// GrantInput describes a grant an administrator creates (for a minor, a guardianship, …).
type GrantInput struct {
	TenantID    string
	PatientID   string
	CaregiverID string
	Access      string     // store.ProxyFull or store.ProxyLimited
	ScopeSet    string     // for limited; "" is DefaultScopeSet
	ExpiresAt   *time.Time // nil: until revoked
	Reason      string
	ActorID     string // the administrator's user id, or "cli"
}

// Grant creates a grant after checking it: two different people of the tenant, a known
// access level and scope set, an expiry in the future, and a reason.
func (s *Service) Grant(ctx context.Context, in GrantInput) (*store.ProxyGrant, error) {
	if strings.TrimSpace(in.Reason) == "" {
		return nil, ErrReason
	}
	g, err := s.newGrant(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.St.CreateProxyGrant(ctx, g); err != nil {
		return nil, err
	}
	return g, s.audit(ctx, g, "proxy.granted", in.ActorID)
}

func (s *Service) newGrant(ctx context.Context, in GrantInput) (*store.ProxyGrant, error) {
	if in.PatientID == in.CaregiverID {
		return nil, ErrSelf
	}
	for _, id := range []string{in.PatientID, in.CaregiverID} {
		u, err := s.St.UserByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.TenantID != in.TenantID) {
			return nil, ErrOtherTenant
		}
		if err != nil {
			return nil, err
		}
	}
	g := &store.ProxyGrant{TenantID: in.TenantID, PatientID: in.PatientID, CaregiverID: in.CaregiverID,
		Access: in.Access, Reason: strings.TrimSpace(in.Reason), CreatedBy: in.ActorID}
	if err := s.checkAccess(ctx, in.TenantID, in.Access, &in.ScopeSet); err != nil {
		return nil, err
	}
	g.ScopeSet = in.ScopeSet
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(s.St.Now()) {
			return nil, ErrPast
		}
		exp := in.ExpiresAt.Unix()
		g.ExpiresAt = &exp
	}
	return g, nil
}

func (s *Service) checkAccess(ctx context.Context, tenantID, access string, set *string) error {
	switch access {
	case store.ProxyFull:
		*set = ""
	case store.ProxyLimited:
		if *set == "" {
			*set = DefaultScopeSet
		}
		if _, err := s.SetScopes(ctx, tenantID, *set); err != nil {
			return err
		}
	default:
		return ErrAccess
	}
	return nil
}

// SetScopes returns the scopes of a tenant's named set: the tenant's own definition, else the
// built-in one; ErrScopeSet when neither exists.
func (s *Service) SetScopes(ctx context.Context, tenantID, name string) ([]string, error) {
	v, err := s.St.ProxyScopeSetScopes(ctx, tenantID, name)
	if errors.Is(err, store.ErrNotFound) {
		d, ok := DefaultScopeSets[name]
		if !ok {
			return nil, ErrScopeSet
		}
		return strings.Fields(d), nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(v), nil
}

// ErrScopes is a scope set that is not a list of resource scopes.
var ErrScopes = errors.New("proxy: a scope set is resource scopes (patient/Appointment.read …), space-separated")

// DefineScopeSet defines or replaces a tenant's named scope set (the built-in one of the same
// name stops applying). Grants name their set, so a change applies to their next token.
func (s *Service) DefineScopeSet(ctx context.Context, tenantID, name, scopes, actorID string) error {
	name = strings.TrimSpace(name)
	if name == "" || !ValidScopeSet(scopes) {
		return ErrScopes
	}
	scopes = strings.Join(strings.Fields(scopes), " ")
	if err := s.St.SetProxyScopeSet(ctx, tenantID, name, scopes); err != nil {
		return err
	}
	return s.Audit(ctx, &store.AuditEvent{TenantID: tenantID, Event: "proxy.scope_set", Result: "ok", ActorID: actorID,
		Detail: name + ": " + scopes})
}

// Scopes returns what a grant allows of requested (see Effective).
func (s *Service) Scopes(ctx context.Context, g *store.ProxyGrant, requested []string) ([]string, error) {
	if g.Access == store.ProxyFull {
		return Effective(g.Access, requested, nil), nil
	}
	set, err := s.SetScopes(ctx, g.TenantID, g.ScopeSet)
	if err != nil {
		return nil, err
	}
	return Effective(g.Access, requested, set), nil
}

// Revoke ends a grant of the tenant. actorID may be an administrator's id or "cli"; people
// revoking their own grants go through RevokeAs.
func (s *Service) Revoke(ctx context.Context, tenantID, grantID, actorID string) error {
	g, err := s.St.ProxyGrantByID(ctx, grantID)
	if err != nil || g.TenantID != tenantID {
		return store.ErrNotFound
	}
	return s.revoke(ctx, g, actorID)
}

// RevokeAs ends a grant that userID gave (the patient) or holds (the caregiver, giving it up).
func (s *Service) RevokeAs(ctx context.Context, grantID, userID string) error {
	g, err := s.St.ProxyGrantByID(ctx, grantID)
	if err != nil {
		return store.ErrNotFound
	}
	if g.PatientID != userID && g.CaregiverID != userID {
		return ErrNotPermitted
	}
	return s.revoke(ctx, g, userID)
}

func (s *Service) revoke(ctx context.Context, g *store.ProxyGrant, actorID string) error {
	if err := s.St.RevokeProxyGrant(ctx, g.ID, actorID); err != nil {
		return err
	}
	return s.audit(ctx, g, "proxy.revoked", actorID)
}

// List returns a tenant's grants (in force or not), newest first.
func (s *Service) List(ctx context.Context, tenantID string) ([]store.ProxyGrant, error) {
	return s.St.ProxyGrants(ctx, tenantID)
}

// Invitation is what a patient asks for: the caregiver's email and the access to give.
type Invitation struct {
	TenantID  string
	PatientID string
	Email     string
	Access    string
	ExpiresAt *time.Time // of the grant, not of the link
}

// Invite stores an invitation and returns the single-use token for the link (only its keyed
// hash is kept). The caller sends the email.
func (s *Service) Invite(ctx context.Context, in Invitation) (string, *store.ProxyInvitation, error) {
	set := ""
	if err := s.checkAccess(ctx, in.TenantID, in.Access, &set); err != nil {
		return "", nil, err
	}
	inv := &store.ProxyInvitation{TenantID: in.TenantID, PatientID: in.PatientID, Email: strings.TrimSpace(in.Email),
		Access: in.Access, ScopeSet: set}
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(s.St.Now()) {
			return "", nil, ErrPast
		}
		exp := in.ExpiresAt.Unix()
		inv.GrantExpiresAt = &exp
	}
	token := randomToken()
	inv.TokenHash = s.Tokens.Sum(token)
	if err := s.St.CreateProxyInvitation(ctx, inv, InviteTTL); err != nil {
		return "", nil, err
	}
	err := s.Audit(ctx, &store.AuditEvent{TenantID: in.TenantID, Event: "proxy.invited", Result: "ok",
		ActorID: in.PatientID, SubjectID: in.PatientID, Detail: "access=" + in.Access})
	return token, inv, err
}

// Invitation returns the invitation a link's token names, while it can still be accepted.
func (s *Service) Invitation(ctx context.Context, token string) (*store.ProxyInvitation, error) {
	if token == "" {
		return nil, store.ErrNotFound
	}
	return s.St.ProxyInvitationByHash(ctx, s.Tokens.Sum(token))
}

// Accept makes the invitation a grant for caregiver, who has signed in as themselves. The
// invitation is spent in the same transaction; a patient cannot accept their own invitation.
func (s *Service) Accept(ctx context.Context, token string, caregiver *store.User) (*store.ProxyGrant, error) {
	inv, err := s.Invitation(ctx, token)
	if err != nil {
		return nil, err
	}
	if inv.TenantID != caregiver.TenantID {
		return nil, store.ErrNotFound
	}
	if inv.PatientID == caregiver.ID {
		return nil, ErrSelf
	}
	// The link alone is not enough: it must be opened by the account of the address it was sent
	// to, so a forwarded or intercepted email gives nobody access.
	if !strings.EqualFold(strings.TrimSpace(inv.Email), strings.TrimSpace(caregiver.Email)) {
		return nil, ErrEmail
	}
	g := &store.ProxyGrant{TenantID: inv.TenantID, PatientID: inv.PatientID, CaregiverID: caregiver.ID,
		Access: inv.Access, ScopeSet: inv.ScopeSet, ExpiresAt: inv.GrantExpiresAt,
		Reason: "invited by the patient", CreatedBy: inv.PatientID}
	if err := s.St.AcceptProxyInvitation(ctx, inv, caregiver.ID, g); err != nil {
		return nil, err
	}
	return g, s.audit(ctx, g, "proxy.accepted", caregiver.ID)
}

func (s *Service) audit(ctx context.Context, g *store.ProxyGrant, event, actorID string) error {
	detail := fmt.Sprintf("grant=%s caregiver=%s access=%s", g.ID, g.CaregiverID, g.Access)
	if g.ScopeSet != "" {
		detail += " set=" + g.ScopeSet
	}
	if g.ExpiresAt != nil {
		detail += " expires=" + time.Unix(*g.ExpiresAt, 0).UTC().Format(time.RFC3339)
	}
	return s.Audit(ctx, &store.AuditEvent{TenantID: g.TenantID, Event: event, Result: "ok",
		ActorID: actorID, SubjectID: g.PatientID, Detail: detail})
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Delegation is what a patient-context access token says about who acts for whom.
type Delegation struct {
	GrantID   string
	PatientID string // the patient's Tessera id: the token's sub
	// Patient is the `patient` claim: the id of the patient's FHIR Patient resource when their
	// fhirUser names one (what a SMART app reads the record with), else PatientID.
	Patient   string
	ActorID   string // the caregiver who signed in
	ExpiresAt int64  // the grant's expiry (unix), 0 for none
}

// Claims are the access token's delegation claims: act (RFC 8693 §4.1) with the caregiver, the
// patient (SMART's `patient`), and for the token checks the grant and its expiry. The token's
// sub is the patient, set by the caller.
func (d *Delegation) Claims() map[string]any {
	patient := d.Patient
	if patient == "" {
		patient = d.PatientID
	}
	c := map[string]any{"act": map[string]any{"sub": d.ActorID}, "patient": patient, "proxy_grant": d.GrantID}
	if d.ExpiresAt != 0 {
		c["proxy_exp"] = d.ExpiresAt
	}
	return c
}

// DelegationOf builds the delegation of a grant in force.
func DelegationOf(g *store.ProxyGrant) *Delegation {
	d := &Delegation{GrantID: g.ID, PatientID: g.PatientID, ActorID: g.CaregiverID}
	if g.ExpiresAt != nil {
		d.ExpiresAt = *g.ExpiresAt
	}
	return d
}
