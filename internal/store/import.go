package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"
)

// ImportUser inserts a person brought over from another system, with their second factor when
// f is not nil, in one transaction: either both rows are written or neither is. u.ID is set
// when empty; f gets u's id and tenant, keeps the id it was sealed to (set one when it has
// none) and is stored as given (an imported authenticator is Active and IsDefault: the person
// proved it long ago, elsewhere). An email already used in the tenant (case-insensitively) is
// ErrConflict, and the existing person is left exactly as they were.
func (s *Store) ImportUser(ctx context.Context, u *User, f *Factor) error {
	if f != nil && f.ID == "" {
		f.ID = NewID()
	}
	if u.ID == "" {
		u.ID = NewID()
	}
	u.Email = strings.TrimSpace(u.Email)
	u.EmailLower = strings.ToLower(u.Email)
	now := s.unix()
	u.CreatedAt, u.UpdatedAt = now, now
	if f != nil {
		if f.Kind == "" {
			return errors.New("store: import: the factor has no kind")
		}
		f.UserID, f.TenantID, f.CreatedAt = u.ID, u.TenantID, now
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		if f == nil {
			return nil
		}
		return tx.Create(f).Error
	})
	if isUnique(err) {
		return ErrConflict
	}
	return err
}
