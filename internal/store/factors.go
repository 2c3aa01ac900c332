package store

import (
	"context"
	"time"
)

// Factor is an enrolled (or pending) second factor.
type Factor struct {
	ID           string `gorm:"primaryKey"`
	UserID       string
	TenantID     string
	Kind         string
	Label        string
	SecretSealed []byte
	Active       bool
	IsDefault    bool
	LastStep     int64 // TOTP: the last accepted time step; a code is accepted only for a later one
	LastUsedAt   *int64
	CreatedAt    int64 `gorm:"autoCreateTime:false"`
}

// CreateFactor stores a factor (pending until ActivateFactor). ID must be set by the caller when
// the secret is sealed to it.
func (s *Store) CreateFactor(ctx context.Context, f *Factor) error {
	if f.ID == "" {
		f.ID = NewID()
	}
	f.CreatedAt = s.unix()
	return s.create(ctx, f)
}

// FactorByID returns one factor of a user.
func (s *Store) FactorByID(ctx context.Context, userID, id string) (*Factor, error) {
	var f Factor
	err := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).First(&f).Error
	return &f, notFound(err)
}

// ActiveFactors lists a user's active factors, the default first.
func (s *Store) ActiveFactors(ctx context.Context, userID string) ([]Factor, error) {
	var fs []Factor
	err := s.db.WithContext(ctx).Where("user_id = ? AND active = ?", userID, true).
		Order("is_default DESC, created_at").Find(&fs).Error
	return fs, err
}

// ActivateFactor makes a pending factor active once the person proved it works; the first
// active factor becomes the default.
func (s *Store) ActivateFactor(ctx context.Context, userID, id string) error {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Factor{}).Where("user_id = ? AND active = ?", userID, true).Count(&n).Error; err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Model(&Factor{}).Where("id = ? AND user_id = ? AND active = ?", id, userID, false).
		Updates(map[string]any{"active": true, "is_default": n == 0})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// AdvanceTOTPStep records that a code for step was accepted — only if no code for this or a
// later step was accepted before (one conditional UPDATE, so two nodes cannot both accept the
// same code). It returns false for a replay.
func (s *Store) AdvanceTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Factor{}).Where("id = ? AND last_step < ?", id, step).
		Updates(map[string]any{"last_step": step, "last_used_at": s.unix()})
	return res.RowsAffected == 1, res.Error
}

// PendingFactor returns the newest not-yet-active factor of a kind, if one was started recently
// (so reloading the enrollment page shows the same QR code instead of piling up new ones).
func (s *Store) PendingFactor(ctx context.Context, userID, kind string, within time.Duration) (*Factor, error) {
	var f Factor
	since := s.unix() - int64(within/time.Second)
	err := s.db.WithContext(ctx).Where("user_id = ? AND kind = ? AND active = ? AND created_at >= ?", userID, kind, false, since).
		Order("created_at DESC").First(&f).Error
	return &f, notFound(err)
}
