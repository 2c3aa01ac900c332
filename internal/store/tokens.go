package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TokenRevoked reports whether any of ids (an access token's jti, session and grant; empty ids
// are skipped) is listed as revoked. It is the one statement userinfo and introspection spend on
// revocation, so it is a prepared statement with a fixed shape rather than a gorm query.
func (s *Store) TokenRevoked(ctx context.Context, jti, sessionID, grantID string) (bool, error) {
	var n int
	err := s.queryRow(ctx, &qTokenRevoked, jti, sessionID, grantID).Scan(&n)
	return n > 0, err
}

var qTokenRevoked = query{sql: "SELECT COUNT(*) FROM token_revocations WHERE id IN (?, ?, ?)"}

// RevokeAccessToken lists the access token jti as revoked until it expires on its own.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return s.revokeIDs(tx, RevokedToken, []string{jti}, s.unix(), expiresAt) })
}

// revokeIDs lists ids as revoked. A row must outlive every access token it covers: expiresAt,
// or for sessions and grants (0) the longest access-token lifetime from now.
func (s *Store) revokeIDs(tx *gorm.DB, kind string, ids []string, now, expiresAt int64) error {
	if expiresAt == 0 {
		expiresAt = now + int64(s.tokenTTL()/time.Second)
	}
	rows := make([]TokenRevocation, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			rows = append(rows, TokenRevocation{ID: id, Kind: kind, RevokedAt: now, ExpiresAt: expiresAt})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
}

// SetAccessTokenTTL tells the store the longest access-token lifetime, so revocations of
// sessions and grants are kept that long (24 hours when never set).
func (s *Store) SetAccessTokenTTL(d time.Duration) { s.accessTTL.Store(int64(d)) }

func (s *Store) tokenTTL() time.Duration {
	if d := time.Duration(s.accessTTL.Load()); d > 0 {
		return d + time.Minute // and a margin for clock skew between nodes
	}
	return 24 * time.Hour
}

// IssueRefreshToken starts a new family with its first link (one INSERT; the access token that
// accompanies it is not stored).
func (s *Store) IssueRefreshToken(ctx context.Context, rt *RefreshToken, idle, absolute time.Duration) error {
	now := s.unix()
	rt.ID, rt.FamilyID = NewID(), NewID()
	rt.CreatedAt = now
	rt.ExpiresAt = now + int64(idle/time.Second)
	rt.FamilyExpiresAt = now + int64(absolute/time.Second)
	return s.create(ctx, rt)
}

// RefreshTokenByHash returns the usable refresh token with that hash. A link that was already
// rotated is a replay: the whole family is revoked and ErrReplayed returned. A revoked or
// expired token is ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (*RefreshToken, error) {
	rt, err := s.refreshByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	return s.usableRefresh(ctx, rt)
}

// RefreshTokenAndUser is RefreshTokenByHash that also returns the token's person, read in the
// same statement (the refresh grant's ID token needs their claims); the person is nil when the
// join found no row and the token was read alone.
func (s *Store) RefreshTokenAndUser(ctx context.Context, hash string) (*RefreshToken, *User, error) {
	rt, u, err := s.refreshAndUserByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		rt, err := s.RefreshTokenByHash(ctx, hash) // no such token, or no such person
		return rt, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	rt, err = s.usableRefresh(ctx, rt)
	return rt, u, err
}

// usableRefresh answers for a refresh token read by hash: revoked, spent (the family is revoked:
// reuse), expired, or usable.
func (s *Store) usableRefresh(ctx context.Context, rt *RefreshToken) (*RefreshToken, error) {
	now := s.unix()
	switch {
	case rt.RevokedAt != nil:
		return rt, ErrNotFound
	case rt.RotatedAt != nil:
		if err := s.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		return rt, ErrReplayed
	case rt.ExpiresAt <= now || rt.FamilyExpiresAt <= now:
		return rt, ErrNotFound
	}
	return rt, nil
}

// PeekRefreshToken reads a refresh token by hash without any side effect (introspection must not
// trigger reuse detection).
func (s *Store) PeekRefreshToken(ctx context.Context, hash string) (*RefreshToken, error) {
	rt, err := s.refreshByHash(ctx, hash)
	if err != nil {
		return &RefreshToken{}, err
	}
	return rt, nil
}

// RotateRefreshToken spends the link old (as read by RefreshTokenByHash) and adds next to its
// family, in one transaction: a conditional UPDATE (the reuse check: it touches no row when old
// was already spent) and an INSERT. If old was spent concurrently by another request, the family
// is revoked (the token was copied) in that same transaction and ErrReplayed returned.
func (s *Store) RotateRefreshToken(ctx context.Context, old *RefreshToken, next *RefreshToken, idle time.Duration) error {
	now := s.unix()
	var replay bool
	err := s.tx(ctx, func(tx *gorm.DB) error {
		conn := tx.Statement.ConnPool
		res, err := s.exec(ctx, conn, &qRefreshSpend, now, old.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			replay = true
			return s.revokeFamilies(tx, []string{old.FamilyID}, now)
		}
		next.ID = NewID()
		next.FamilyID = old.FamilyID
		next.FamilyExpiresAt = old.FamilyExpiresAt
		next.CreatedAt = now
		next.ExpiresAt = min(now+int64(idle/time.Second), old.FamilyExpiresAt)
		_, err = s.exec(ctx, conn, &qRefreshInsert, refreshValues(next)...)
		return err
	})
	if err != nil {
		return err
	}
	if replay {
		return ErrReplayed
	}
	return nil
}

// RevokeRefreshFamilyOf revokes the family of refresh token id when it belongs to clientID.
func (s *Store) RevokeRefreshFamilyOf(ctx context.Context, id, clientID string) error {
	var rt RefreshToken
	err := s.db.WithContext(ctx).Where("id = ? AND client_id = ?", id, clientID).First(&rt).Error
	if err != nil {
		return ignoreNotFound(notFound(err))
	}
	return s.RevokeFamily(ctx, rt.FamilyID)
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// RevokeFamily revokes every refresh token of a family and the access tokens issued with them.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return s.revokeFamilies(tx, []string{familyID}, s.unix()) })
}

// revokeFamilies revokes the refresh tokens of families and lists the families and the
// authorization requests they came from as revoked grants, which ends their access tokens.
func (s *Store) revokeFamilies(tx *gorm.DB, families []string, now int64) error {
	if len(families) == 0 {
		return nil
	}
	if err := tx.Model(&RefreshToken{}).Where("family_id IN ? AND revoked_at IS NULL", families).
		Update("revoked_at", now).Error; err != nil {
		return err
	}
	var grants []string
	if err := tx.Model(&RefreshToken{}).Where("family_id IN ? AND auth_request_id <> ''", families).
		Distinct().Pluck("auth_request_id", &grants).Error; err != nil {
		return err
	}
	return s.revokeIDs(tx, RevokedGrant, append(grants, families...), now, 0)
}
