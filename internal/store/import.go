package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"
)

// ImportUser inserts a person brought over from another system, with their second factors (nil
// entries are skipped), in one transaction: either every row is written or none is. u.ID is set
// when empty; f gets u's id and tenant, keeps the id it was sealed to (set one when it has
// none) and is stored as given (an imported authenticator is Active and IsDefault: the person
// proved it long ago, elsewhere). An email already used in the tenant (case-insensitively) is
// ErrConflict, and the existing person is left exactly as they were.
func (s *Store) ImportUser(ctx context.Context, u *User, fs ...*Factor) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	u.Email = strings.TrimSpace(u.Email)
	u.EmailLower = strings.ToLower(u.Email)
	now := s.unix()
	u.CreatedAt, u.UpdatedAt = now, now
	for _, f := range fs {
		if f == nil {
			continue
		}
		if f.Kind == "" {
			return errors.New("store: import: the factor has no kind")
		}
		if f.ID == "" {
			f.ID = NewID()
		}
		f.UserID, f.TenantID, f.CreatedAt = u.ID, u.TenantID, now
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		for _, f := range fs {
			if f == nil {
				continue
			}
			if err := tx.Create(f).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if isUnique(err) {
		return ErrConflict
	}
	return err
}
