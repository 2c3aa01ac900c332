package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// CreateAccessToken records an issued access token.
func (s *Store) CreateAccessToken(ctx context.Context, at *AccessToken) error {
	at.CreatedAt = s.unix()
	return s.create(ctx, at)
}

// LiveAccessToken returns an access token that is neither revoked nor expired.
func (s *Store) LiveAccessToken(ctx context.Context, id string) (*AccessToken, error) {
	var at AccessToken
	err := s.db.WithContext(ctx).Where("id = ? AND revoked_at IS NULL AND expires_at > ?", id, s.unix()).First(&at).Error
	return &at, notFound(err)
}

// RevokeAccessToken revokes one access token issued to clientID.
func (s *Store) RevokeAccessToken(ctx context.Context, id, clientID string) error {
	return s.db.WithContext(ctx).Model(&AccessToken{}).
		Where("id = ? AND client_id = ? AND revoked_at IS NULL", id, clientID).Update("revoked_at", s.unix()).Error
}

// IssueRefreshToken starts a new family with its first link, together with the access token it
// accompanies, in one transaction.
func (s *Store) IssueRefreshToken(ctx context.Context, rt *RefreshToken, at *AccessToken, idle, absolute time.Duration) error {
	now := s.unix()
	rt.ID, rt.FamilyID = NewID(), NewID()
	rt.CreatedAt = now
	rt.ExpiresAt = now + int64(idle/time.Second)
	rt.FamilyExpiresAt = now + int64(absolute/time.Second)
	at.RefreshFamily = rt.FamilyID
	at.CreatedAt = now
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(rt).Error; err != nil {
			return err
		}
		return tx.Create(at).Error
	})
}

// RefreshTokenByHash returns the usable refresh token with that hash. A link that was already
// rotated is a replay: the whole family is revoked and ErrReplayed returned. A revoked or
// expired token is ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (*RefreshToken, error) {
	var rt RefreshToken
	if err := s.db.WithContext(ctx).Where("token_hash = ?", hash).First(&rt).Error; err != nil {
		return nil, notFound(err)
	}
	now := s.unix()
	switch {
	case rt.RevokedAt != nil:
		return &rt, ErrNotFound
	case rt.RotatedAt != nil:
		if err := s.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		return &rt, ErrReplayed
	case rt.ExpiresAt <= now || rt.FamilyExpiresAt <= now:
		return &rt, ErrNotFound
	}
	return &rt, nil
}

// PeekRefreshToken reads a refresh token by hash without any side effect (introspection must not
// trigger reuse detection).
func (s *Store) PeekRefreshToken(ctx context.Context, hash string) (*RefreshToken, error) {
	var rt RefreshToken
	err := s.db.WithContext(ctx).Where("token_hash = ?", hash).First(&rt).Error
	return &rt, notFound(err)
}

// RotateRefreshToken spends the link old (as read by RefreshTokenByHash) and adds next to its
// family, with the access token issued alongside, in one transaction. If old was spent
// concurrently by another request, the family is revoked (the token was copied) and ErrReplayed
// returned.
func (s *Store) RotateRefreshToken(ctx context.Context, old *RefreshToken, next *RefreshToken, at *AccessToken, idle time.Duration) error {
	now := s.unix()
	var replay bool
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&RefreshToken{}).Where("id = ? AND rotated_at IS NULL AND revoked_at IS NULL", old.ID).
			Update("rotated_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			replay = true
			return nil
		}
		next.ID = NewID()
		next.FamilyID = old.FamilyID
		next.FamilyExpiresAt = old.FamilyExpiresAt
		next.CreatedAt = now
		next.ExpiresAt = min(now+int64(idle/time.Second), old.FamilyExpiresAt)
		if err := tx.Create(next).Error; err != nil {
			return err
		}
		at.RefreshFamily = old.FamilyID
		at.CreatedAt = now
		return tx.Create(at).Error
	})
	if err != nil {
		return err
	}
	if replay {
		if err := s.RevokeFamily(ctx, old.FamilyID); err != nil {
			return err
		}
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
	return s.tx(ctx, func(tx *gorm.DB) error { return revokeFamilies(tx, []string{familyID}, s.unix()) })
}

func revokeFamilies(tx *gorm.DB, families []string, now int64) error {
	if len(families) == 0 {
		return nil
	}
	if err := tx.Model(&RefreshToken{}).Where("family_id IN ? AND revoked_at IS NULL", families).
		Update("revoked_at", now).Error; err != nil {
		return err
	}
	return tx.Model(&AccessToken{}).Where("refresh_family IN ? AND revoked_at IS NULL", families).
		Update("revoked_at", now).Error
}
