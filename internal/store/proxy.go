package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Caregiver (proxy) access: the rows internal/proxy owns. See migrations 00060.

// Access levels of a proxy grant.
const (
	ProxyFull    = "full"    // everything the application asks for
	ProxyLimited = "limited" // only the scopes of the grant's scope set
)

// ProxyGrant lets a caregiver act for a patient in proxy-capable applications. It is never
// edited: it is revoked, or it expires.
type ProxyGrant struct {
	ID          string `gorm:"primaryKey"`
	TenantID    string
	PatientID   string
	CaregiverID string
	Access      string
	ScopeSet    string // the scope set of a limited grant
	ExpiresAt   *int64
	Reason      string
	CreatedBy   string // a user id, or "cli"
	CreatedAt   int64  `gorm:"autoCreateTime:false"`
	RevokedAt   *int64
	RevokedBy   string
}

// ActiveAt reports whether the grant is in force at unix time now.
func (g *ProxyGrant) ActiveAt(now int64) bool {
	return g.RevokedAt == nil && (g.ExpiresAt == nil || *g.ExpiresAt > now)
}

// ProxyInvitation is a patient's invitation of a caregiver by email; the link's token is stored
// only as its keyed hash, and is spent once.
type ProxyInvitation struct {
	ID             string `gorm:"primaryKey"`
	TenantID       string
	PatientID      string
	Email          string
	Access         string
	ScopeSet       string
	GrantExpiresAt *int64
	TokenHash      string
	CreatedAt      int64 `gorm:"autoCreateTime:false"`
	ExpiresAt      int64
	AcceptedAt     *int64
	AcceptedBy     string
	GrantID        string
	RevokedAt      *int64
}

// ProxyScopeSet is a tenant's named set of scopes for limited grants.
type ProxyScopeSet struct {
	TenantID string `gorm:"primaryKey"`
	Name     string `gorm:"primaryKey"`
	Scopes   string
}

// Now is the store's clock (tests move it).
func (s *Store) Now() time.Time { return s.now() }

// CreateProxyGrant stores a new grant.
func (s *Store) CreateProxyGrant(ctx context.Context, g *ProxyGrant) error {
	if g.ID == "" {
		g.ID = NewID()
	}
	g.CreatedAt = s.unix()
	return s.create(ctx, g)
}

// ProxyGrantByID returns a grant, active or not.
func (s *Store) ProxyGrantByID(ctx context.Context, id string) (*ProxyGrant, error) {
	var g ProxyGrant
	err := s.db.WithContext(ctx).Where("id = ?", id).First(&g).Error
	return &g, notFound(err)
}

// ActiveProxyGrant returns the grant when it is in force now; otherwise ErrNotFound.
func (s *Store) ActiveProxyGrant(ctx context.Context, id string) (*ProxyGrant, error) {
	g, err := s.ProxyGrantByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !g.ActiveAt(s.unix()) {
		return nil, ErrNotFound
	}
	return g, nil
}

// ProxyGrants lists a tenant's grants, newest first.
func (s *Store) ProxyGrants(ctx context.Context, tenantID string) ([]ProxyGrant, error) {
	var out []ProxyGrant
	err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("created_at DESC, id").Find(&out).Error
	return out, err
}

// ProxyGrantsOfPatient lists the grants a patient has given that are in force now.
func (s *Store) ProxyGrantsOfPatient(ctx context.Context, patientID string) ([]ProxyGrant, error) {
	return s.activeGrants(ctx, "patient_id = ?", patientID)
}

// ProxyGrantsOfCaregiver lists the grants in force now that let caregiverID act for someone.
func (s *Store) ProxyGrantsOfCaregiver(ctx context.Context, caregiverID string) ([]ProxyGrant, error) {
	return s.activeGrants(ctx, "caregiver_id = ?", caregiverID)
}

func (s *Store) activeGrants(ctx context.Context, where, id string) ([]ProxyGrant, error) {
	var out []ProxyGrant
	err := s.db.WithContext(ctx).Where(where+" AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", id, s.unix()).
		Order("created_at, id").Find(&out).Error
	return out, err
}

// RevokeProxyGrant revokes a grant in force and, in the same transaction, lists it in
// token_revocations, so its patient-context access tokens stop at once. Its refresh families
// are left to the grant check every refresh makes: the same sign-in may hold tokens for other
// patients (by token exchange), which must go on working. ErrNotFound when there is no such
// grant in force.
func (s *Store) RevokeProxyGrant(ctx context.Context, id, by string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&ProxyGrant{}).Where("id = ? AND revoked_at IS NULL", id).
			Updates(map[string]any{"revoked_at": now, "revoked_by": by})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.revokeIDs(tx, RevokedProxy, []string{id}, now, 0)
	})
}

// ProxyTokenRevoked is TokenRevoked for a patient-context access token: it also asks whether
// its caregiver grant was revoked, in the same single indexed statement.
func (s *Store) ProxyTokenRevoked(ctx context.Context, jti, sessionID, grantID, proxyGrantID string) (bool, error) {
	var n int
	err := s.queryRow(ctx, &qProxyTokenRevoked, jti, sessionID, grantID, proxyGrantID).Scan(&n)
	return n > 0, err
}

var qProxyTokenRevoked = query{sql: "SELECT COUNT(*) FROM token_revocations WHERE id IN (?, ?, ?, ?)"}

// SetAuthRequestProxy records whose record the person chose to open on a completed request
// whose code has not been issued yet ("" for themselves).
func (s *Store) SetAuthRequestProxy(ctx context.Context, id, grantID string) error {
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND done = ? AND code_hash IS NULL AND expires_at > ?", id, true, s.unix()).
		Update("proxy_grant_id", grantID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ---- invitations ----

// CreateProxyInvitation stores an invitation valid for ttl.
func (s *Store) CreateProxyInvitation(ctx context.Context, inv *ProxyInvitation, ttl time.Duration) error {
	if inv.ID == "" {
		inv.ID = NewID()
	}
	inv.CreatedAt = s.unix()
	inv.ExpiresAt = inv.CreatedAt + int64(ttl/time.Second)
	return s.create(ctx, inv)
}

// ProxyInvitationByHash returns an invitation that can still be accepted; ErrNotFound otherwise.
func (s *Store) ProxyInvitationByHash(ctx context.Context, hash string) (*ProxyInvitation, error) {
	var inv ProxyInvitation
	err := s.db.WithContext(ctx).Where("token_hash = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
		hash, s.unix()).First(&inv).Error
	return &inv, notFound(err)
}

// PendingProxyInvitations lists a patient's invitations not yet accepted, revoked or expired.
func (s *Store) PendingProxyInvitations(ctx context.Context, patientID string) ([]ProxyInvitation, error) {
	var out []ProxyInvitation
	err := s.db.WithContext(ctx).Where("patient_id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
		patientID, s.unix()).Order("created_at").Find(&out).Error
	return out, err
}

// RevokeProxyInvitation withdraws a patient's pending invitation.
func (s *Store) RevokeProxyInvitation(ctx context.Context, id, patientID string) error {
	res := s.db.WithContext(ctx).Model(&ProxyInvitation{}).
		Where("id = ? AND patient_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", id, patientID).
		Update("revoked_at", s.unix())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// AcceptProxyInvitation spends the invitation (once, atomically across nodes) and creates the
// grant it describes, in one transaction. ErrNotFound when it was spent, withdrawn or expired.
func (s *Store) AcceptProxyInvitation(ctx context.Context, inv *ProxyInvitation, caregiverID string, g *ProxyGrant) error {
	now := s.unix()
	g.ID, g.CreatedAt = NewID(), now
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&ProxyInvitation{}).
			Where("id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", inv.ID, now).
			Updates(map[string]any{"accepted_at": now, "accepted_by": caregiverID, "grant_id": g.ID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Create(g).Error
	})
}

// ---- scope sets ----

// ProxyScopeSetScopes returns the scopes of a tenant's named set; ErrNotFound when the tenant has
// not defined it.
func (s *Store) ProxyScopeSetScopes(ctx context.Context, tenantID, name string) (string, error) {
	var set ProxyScopeSet
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND name = ?", tenantID, name).First(&set).Error
	return set.Scopes, notFound(err)
}

// SetProxyScopeSet defines or replaces a tenant's named scope set.
func (s *Store) SetProxyScopeSet(ctx context.Context, tenantID, name, scopes string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("tenant_id = ? AND name = ?", tenantID, name).Delete(&ProxyScopeSet{}).Error; err != nil {
			return err
		}
		return tx.Create(&ProxyScopeSet{TenantID: tenantID, Name: name, Scopes: scopes}).Error
	})
}
