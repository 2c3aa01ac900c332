package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// PasswordReset is one emailed reset link.
type PasswordReset struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	TokenHash string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	ExpiresAt int64
	UsedAt    *int64
}

// CreatePasswordReset stores a reset link valid for ttl.
func (s *Store) CreatePasswordReset(ctx context.Context, userID, tokenHash string, ttl time.Duration) error {
	now := s.unix()
	return s.create(ctx, &PasswordReset{ID: NewID(), UserID: userID, TokenHash: tokenHash, CreatedAt: now, ExpiresAt: now + int64(ttl/time.Second)})
}

// PasswordResetByToken returns a live, unused reset link.
func (s *Store) PasswordResetByToken(ctx context.Context, tokenHash string) (*PasswordReset, error) {
	var pr PasswordReset
	err := s.db.WithContext(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", tokenHash, s.unix()).First(&pr).Error
	return &pr, notFound(err)
}

// ResetPassword spends the link and sets the new password hash, then ends every session of the
// person (with their tokens) and forgets their remembered devices — all in one transaction.
func (s *Store) ResetPassword(ctx context.Context, resetID, userID, hash string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&PasswordReset{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", resetID, now).Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrReplayed
		}
		if err := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"password_hash": hash, "updated_at": now}).Error; err != nil {
			return err
		}
		_, err := s.endUserTx(tx, userID, now)
		return err
	})
}
