package store

import (
	"context"

	"gorm.io/gorm"
)

// Phone factors (kind "sms" or "voice") keep their number, in E.164, in Factor.Label. A person
// has at most one of each kind: confirming a new number replaces the old one. The SMS factor's
// number is also the person's mobile number (User.Phone), the one the account page shows.

// ConfirmPhoneFactor turns a pending phone factor on after the person entered the code sent to
// its number, in one transaction: the factor becomes active, any other factor of the same kind is
// removed (a changed number replaces the old one, and keeps its place as the default), and for
// SMS the number becomes the person's verified mobile number.
func (s *Store) ConfirmPhoneFactor(ctx context.Context, userID, factorID, lineType string) (*Factor, error) {
	var f Factor
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		if err := tx.Where("id = ? AND user_id = ? AND active = ?", factorID, userID, false).First(&f).Error; err != nil {
			return notFound(err)
		}
		if f.Kind != "sms" && f.Kind != "voice" {
			return ErrNotFound
		}
		isDefault, err := displaceKind(tx, userID, f.Kind)
		if err != nil {
			return err
		}
		f.Active, f.IsDefault = true, isDefault
		if err := tx.Model(&Factor{}).Where("id = ?", f.ID).
			Updates(map[string]any{"active": true, "is_default": f.IsDefault, "last_used_at": s.unix()}).Error; err != nil {
			return err
		}
		if f.Kind != "sms" {
			return nil
		}
		return tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
			"phone": f.Label, "phone_verified": true, "phone_line_type": lineType, "updated_at": s.unix()}).Error
	})
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// SavePhone stores a new mobile number that has not been verified yet ("Save & Get Code"): the
// next sign-in asks for a code sent to it before anything else (seed 001 §3).
func (s *Store) SavePhone(ctx context.Context, userID, e164, lineType string) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
		"phone": e164, "phone_verified": false, "phone_line_type": lineType, "updated_at": s.unix()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// PhoneVerified records that the person answered a code sent to their saved mobile number, and
// makes that number their SMS factor (replacing an older one), in one transaction — but only if
// the number is still the one the code went to.
func (s *Store) PhoneVerified(ctx context.Context, userID, e164 string) (*Factor, error) {
	var f Factor
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		res := tx.Model(&User{}).Where("id = ? AND phone = ?", userID, e164).
			Updates(map[string]any{"phone_verified": true, "updated_at": s.unix()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound // the number changed meanwhile
		}
		err := tx.Where("user_id = ? AND kind = ? AND active = ?", userID, "sms", true).First(&f).Error
		if err == nil {
			now := s.unix()
			f.Label, f.LastUsedAt = e164, &now
			return tx.Model(&Factor{}).Where("id = ?", f.ID).
				Updates(map[string]any{"label": e164, "last_used_at": now}).Error
		}
		if err = notFound(err); err != ErrNotFound {
			return err
		}
		var n int64
		if err := tx.Model(&Factor{}).Where("user_id = ? AND active = ?", userID, true).Count(&n).Error; err != nil {
			return err
		}
		now := s.unix()
		f = Factor{ID: NewID(), UserID: userID, Kind: "sms", Label: e164, Active: true, IsDefault: n == 0,
			CreatedAt: now, LastUsedAt: &now}
		var u User
		if err := tx.Select("tenant_id").Where("id = ?", userID).First(&u).Error; err != nil {
			return err
		}
		f.TenantID = u.TenantID
		return tx.Create(&f).Error
	})
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// displaceKind removes a person's active factors of kind, inside tx, before a new one of that
// kind is turned on, and says whether the new one becomes the default: when a removed one was,
// or when no other active factor is left.
func displaceKind(tx *gorm.DB, userID, kind string) (isDefault bool, err error) {
	var old []Factor
	if err := tx.Where("user_id = ? AND kind = ? AND active = ?", userID, kind, true).Find(&old).Error; err != nil {
		return false, err
	}
	for _, o := range old {
		isDefault = isDefault || o.IsDefault
	}
	if len(old) > 0 {
		if err := tx.Where("user_id = ? AND kind = ? AND active = ?", userID, kind, true).Delete(&Factor{}).Error; err != nil {
			return false, err
		}
	}
	var others int64
	if err := tx.Model(&Factor{}).Where("user_id = ? AND active = ?", userID, true).Count(&others).Error; err != nil {
		return false, err
	}
	return isDefault || others == 0, nil
}
