package store

import (
	"context"
	"time"
)

// RememberedDevice is a browser where a person chose not to be asked for a code for a while.
type RememberedDevice struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	TenantID   string
	TokenHash  string
	Method     string // how the person signed in there ("pwd"): another method asks again
	Network    string // the address (or prefix) it was given from: another network asks again
	Label      string // a short user-agent description for the account page
	CreatedAt  int64  `gorm:"autoCreateTime:false"`
	ExpiresAt  int64
	LastUsedAt *int64
	RevokedAt  *int64
}

// RememberDevice stores a remembered device for ttl.
func (s *Store) RememberDevice(ctx context.Context, d *RememberedDevice, ttl time.Duration) error {
	d.ID = NewID()
	d.CreatedAt = s.unix()
	d.ExpiresAt = d.CreatedAt + int64(ttl/time.Second)
	return s.create(ctx, d)
}

// RememberedDeviceByToken returns the live device whose cookie hashes to hash.
func (s *Store) RememberedDeviceByToken(ctx context.Context, hash string) (*RememberedDevice, error) {
	var d RememberedDevice
	err := s.db.WithContext(ctx).Where("token_hash = ? AND revoked_at IS NULL AND expires_at > ?", hash, s.unix()).First(&d).Error
	return &d, notFound(err)
}

// TouchDevice records a use.
func (s *Store) TouchDevice(ctx context.Context, id string) error {
	return s.db.WithContext(ctx).Model(&RememberedDevice{}).Where("id = ?", id).Update("last_used_at", s.unix()).Error
}

// RevokeDevices forgets every remembered device of a person (password change, MFA reset,
// "sign out everywhere").
func (s *Store) RevokeDevices(ctx context.Context, userID string) error {
	return s.db.WithContext(ctx).Model(&RememberedDevice{}).Where("user_id = ? AND revoked_at IS NULL", userID).
		Update("revoked_at", s.unix()).Error
}

// RememberedDevices lists a person's live remembered devices (not forgotten, not expired), the
// most recently remembered first.
func (s *Store) RememberedDevices(ctx context.Context, userID string) ([]RememberedDevice, error) {
	var ds []RememberedDevice
	err := s.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, s.unix()).
		Order("created_at DESC, id").Find(&ds).Error
	return ds, err
}

// RevokeDevice forgets one remembered device of a person ("Forget this device"); its cookie
// stops working at once. A device of someone else, or one already forgotten, is ErrNotFound.
func (s *Store) RevokeDevice(ctx context.Context, userID, id string) error {
	res := s.db.WithContext(ctx).Model(&RememberedDevice{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL", id, userID).
		Update("revoked_at", s.unix())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
