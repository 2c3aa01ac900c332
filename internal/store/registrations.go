package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Registration is a self-service sign-up in progress (seed 001 §1). It becomes a User only when
// both the mobile number and the email address are verified; until then nobody can sign in with
// it, and it expires.
type Registration struct {
	ID       string `gorm:"primaryKey"`
	TenantID string
	// BrowserHash is the keyed hash of the registration cookie: only the browser that started a
	// registration can continue it.
	BrowserHash     string
	Email           string
	EmailLower      string
	Name            string
	PasswordHash    string
	Phone           string // E.164
	PhoneLineType   string // internal/phone.LineType the number was judged by
	Failures        int    // wrong codes so far
	PhoneVerifiedAt *int64
	EmailVerifiedAt *int64
	CreatedAt       int64 `gorm:"autoCreateTime:false"`
	ExpiresAt       int64
}

// CreateRegistration stores a registration valid for ttl. The same browser's earlier attempt
// (replaces, its BrowserHash; "" for none) is deleted in the same transaction, so a browser has
// at most one.
func (s *Store) CreateRegistration(ctx context.Context, reg *Registration, replaces string, ttl time.Duration) error {
	now := s.unix()
	reg.ID = NewID()
	reg.Email = strings.TrimSpace(reg.Email)
	reg.EmailLower = strings.ToLower(reg.Email)
	reg.Failures, reg.PhoneVerifiedAt, reg.EmailVerifiedAt = 0, nil, nil
	reg.CreatedAt, reg.ExpiresAt = now, now+int64(ttl/time.Second)
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if replaces != "" {
			if err := tx.Where("browser_hash = ?", replaces).Delete(&Registration{}).Error; err != nil {
				return err
			}
		}
		return tx.Create(reg).Error
	})
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// RegistrationByBrowser returns the live registration of a browser.
func (s *Store) RegistrationByBrowser(ctx context.Context, browserHash string) (*Registration, error) {
	var reg Registration
	err := s.db.WithContext(ctx).Where("browser_hash = ? AND expires_at > ?", browserHash, s.unix()).First(&reg).Error
	return &reg, notFound(err)
}

// RegistrationPhoneVerified records that the code texted to the registration's number was
// answered. ErrNotFound means the registration expired or was voided meanwhile.
func (s *Store) RegistrationPhoneVerified(ctx context.Context, id string) error {
	now := s.unix()
	res := s.db.WithContext(ctx).Model(&Registration{}).Where("id = ? AND expires_at > ?", id, now).
		Update("phone_verified_at", gorm.Expr("COALESCE(phone_verified_at, ?)", now))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RegistrationEmailVerified records that the code emailed to the registration's address was
// answered; only after the number was verified (the email step comes second).
func (s *Store) RegistrationEmailVerified(ctx context.Context, id string) error {
	now := s.unix()
	res := s.db.WithContext(ctx).Model(&Registration{}).
		Where("id = ? AND expires_at > ? AND phone_verified_at IS NOT NULL", id, now).
		Update("email_verified_at", gorm.Expr("COALESCE(email_verified_at, ?)", now))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RegistrationFailure counts one wrong code with a single atomic statement. When the count
// reaches limit the registration is void: it is deleted, and the person starts again. With
// parallel guesses the count can never pass the limit: every answer past it finds no row.
// ErrNotFound means there is no live registration to count against (voided, expired, or just
// finished by a doubled request).
func (s *Store) RegistrationFailure(ctx context.Context, id string, limit int) (failures int, void bool, err error) {
	now := s.unix()
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var row struct{ Failures int }
		res := tx.Raw(`UPDATE registrations SET failures = failures + 1
			WHERE id = ? AND expires_at > ? RETURNING failures`, id, now).Scan(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		failures, void = row.Failures, row.Failures >= limit
		if !void {
			return nil
		}
		return tx.Where("id = ?", id).Delete(&Registration{}).Error
	})
	return failures, void, err
}

// DeleteRegistration removes a registration (void, or replaced).
func (s *Store) DeleteRegistration(ctx context.Context, id string) error {
	return s.db.WithContext(ctx).Where("id = ?", id).Delete(&Registration{}).Error
}

// CompleteRegistration turns a registration whose number and email are both verified into a
// user, in one transaction: the registration is deleted (exactly one caller can do that, so a
// replayed or doubled request never makes two users), the user is created with the verified
// number and address, and the number becomes the person's active, default SMS factor.
// ErrNotFound means no such live, fully verified registration (already finished, voided or
// expired); ErrConflict means the address has an account in the tenant.
func (s *Store) CompleteRegistration(ctx context.Context, id, role, locale string) (*User, error) {
	now := s.unix()
	var u User
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var reg Registration
		err := tx.Where("id = ? AND expires_at > ? AND phone_verified_at IS NOT NULL AND email_verified_at IS NOT NULL", id, now).
			First(&reg).Error
		if err != nil {
			return notFound(err)
		}
		res := tx.Where("id = ? AND expires_at > ?", id, now).Delete(&Registration{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound // another request finished it first
		}
		u = User{ID: NewID(), TenantID: reg.TenantID, Email: reg.Email, EmailLower: reg.EmailLower, EmailVerified: true,
			Name: reg.Name, Phone: reg.Phone, PhoneVerified: true, PhoneLineType: reg.PhoneLineType, Role: role,
			PasswordHash: reg.PasswordHash, Locale: locale, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&u).Error; err != nil {
			if isUnique(err) {
				return ErrConflict
			}
			return err
		}
		return tx.Create(&Factor{ID: NewID(), UserID: u.ID, TenantID: u.TenantID, Kind: "sms", Label: reg.Phone,
			Active: true, IsDefault: true, CreatedAt: now, LastUsedAt: &now}).Error
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}
