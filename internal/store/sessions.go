package store

import (
	"context"
	"gorm.io/gorm"
	"time"
)

// CreateSession stores a new SSO session.
func (s *Store) CreateSession(ctx context.Context, se *Session, ttl time.Duration) error {
	if se.ID == "" {
		se.ID = NewID()
	}
	se.CreatedAt = s.unix()
	se.LastSeenAt = se.CreatedAt
	se.ExpiresAt = se.CreatedAt + int64(ttl/time.Second)
	return s.create(ctx, se)
}

// SessionByCookie returns the live session whose cookie hashes to cookieHash and that was used
// within idle.
func (s *Store) SessionByCookie(ctx context.Context, cookieHash string, idle time.Duration) (*Session, error) {
	now := s.unix()
	var se Session
	err := s.db.WithContext(ctx).
		Where("cookie_hash = ? AND revoked_at IS NULL AND expires_at > ? AND last_seen_at > ?",
			cookieHash, now, now-int64(idle/time.Second)).
		First(&se).Error
	return &se, notFound(err)
}

// SessionByID returns a session by its public id, live or not.
func (s *Store) SessionByID(ctx context.Context, id string) (*Session, error) {
	var se Session
	err := s.db.WithContext(ctx).Where("id = ?", id).First(&se).Error
	return &se, notFound(err)
}

// TouchSession moves a session's idle clock, and records a fresh authentication when authTime is
// not zero.
func (s *Store) TouchSession(ctx context.Context, id string, authTime time.Time, amr []string, acr string) error {
	upd := map[string]any{"last_seen_at": s.unix()}
	if !authTime.IsZero() {
		upd["auth_time"] = authTime.Unix()
		upd["amr"] = joinList(amr)
		upd["acr"] = acr
	}
	return s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).Updates(upd).Error
}

// SessionMFA records, in one UPDATE, what TouchSession and SessionPassedMFA record after a
// second factor: the fresh authentication (auth time, amr, acr) and the moment of the factor.
func (s *Store) SessionMFA(ctx context.Context, id string, authTime time.Time, amr []string, acr string) error {
	now := s.unix()
	return s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).Updates(map[string]any{
		"last_seen_at": now, "auth_time": authTime.Unix(), "amr": joinList(amr), "acr": acr, "mfa_at": now}).Error
}

// SessionPassedMFA records that the session's person just answered a second factor: the account
// pages ask for a fresh one (see MFAAt) before a factor is added, changed or removed.
func (s *Store) SessionPassedMFA(ctx context.Context, id string) error {
	return s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).Update("mfa_at", s.unix()).Error
}

// RevokeSession ends one SSO session and every token issued under it, and queues a logout token
// for every relying party of the session that asked for back-channel logout.
func (s *Store) RevokeSession(ctx context.Context, id string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&Session{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error; err != nil {
			return err
		}
		if err := s.revokeIDs(tx, RevokedSession, []string{id}, now, 0); err != nil {
			return err
		}
		if err := s.queueLogouts(tx, []string{id}, now); err != nil { // back-channel logout (logout.go)
			return err
		}
		var families []string
		if err := tx.Model(&RefreshToken{}).Where("session_id = ?", id).Distinct().Pluck("family_id", &families).Error; err != nil {
			return err
		}
		return s.revokeFamilies(tx, families, now)
	})
}

// SessionMFAOther is SessionMFA and, when other is set, PassedOtherMFA for userID: on PostgreSQL
// in one statement (a CTE), elsewhere in two. It returns the time it recorded.
func (s *Store) SessionMFAOther(ctx context.Context, id, userID string, authTime time.Time, amr []string, acr string, other bool) (int64, error) {
	now := s.unix()
	if !other {
		return now, s.SessionMFA(ctx, id, authTime, amr, acr)
	}
	if s.dialect != "postgres" {
		if err := s.SessionMFA(ctx, id, authTime, amr, acr); err != nil {
			return now, err
		}
		return s.PassedOtherMFAAt(ctx, userID)
	}
	return now, s.db.WithContext(ctx).Exec(`WITH se AS (UPDATE sessions SET last_seen_at = ?, auth_time = ?, amr = ?, acr = ?, mfa_at = ? WHERE id = ?)
UPDATE users SET last_other_mfa_at = ? WHERE id = ?`, now, authTime.Unix(), joinList(amr), acr, now, id, now, userID).Error
}
