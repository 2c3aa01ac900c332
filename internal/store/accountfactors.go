package store

import (
	"context"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Factor changes made from the account console, each check and change in one transaction.

// ErrLastFactor refuses to remove a person's last second factor where policy requires one.
var ErrLastFactor = errors.New("store: the last required second factor cannot be removed")

// RemoveFactor deletes one of a person's factors like DeleteFactor, but when keep is not empty
// it refuses (ErrLastFactor) unless another active factor of a kind in keep remains. The check and
// the delete are one transaction under the person's factor lock, so two removals racing on two
// nodes cannot leave the person with none.
func (s *Store) RemoveFactor(ctx context.Context, userID, id string, keep []string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		var f Factor
		if err := tx.Where("id = ? AND user_id = ?", id, userID).First(&f).Error; err != nil {
			return notFound(err)
		}
		if len(keep) > 0 {
			var others int64
			if err := tx.Model(&Factor{}).Where("user_id = ? AND active = ? AND id <> ? AND kind IN ?", userID, true, id, keep).
				Count(&others).Error; err != nil {
				return err
			}
			if others == 0 {
				return ErrLastFactor
			}
		}
		return deleteFactorTx(tx, userID, &f)
	})
}

// ActivateReplacing turns a pending factor on and removes the person's other active factors of
// its kind, in one transaction (a changed authenticator app replaces the old one only once the
// new one is proved, and takes over its place as the default).
func (s *Store) ActivateReplacing(ctx context.Context, userID, id string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		var f Factor
		if err := tx.Where("id = ? AND user_id = ? AND active = ?", id, userID, false).First(&f).Error; err != nil {
			return notFound(err)
		}
		isDefault, err := displaceKind(tx, userID, f.Kind)
		if err != nil {
			return err
		}
		return tx.Model(&Factor{}).Where("id = ?", id).
			Updates(map[string]any{"active": true, "is_default": isDefault}).Error
	})
}

// deleteFactorTx deletes f and, when it was the default, makes the oldest remaining active
// factor the default.
func deleteFactorTx(tx *gorm.DB, userID string, f *Factor) error {
	if err := tx.Where("id = ?", f.ID).Delete(&Factor{}).Error; err != nil {
		return err
	}
	if !f.IsDefault {
		return nil
	}
	var next Factor
	err := tx.Where("user_id = ? AND active = ?", userID, true).Order("created_at, id").First(&next).Error
	if err != nil {
		return ignoreNotFound(notFound(err))
	}
	return tx.Model(&Factor{}).Where("id = ?", next.ID).Update("is_default", true).Error
}

// ErrMFADisableRefused refuses to turn MFA off for someone policy does not let: only a patient,
// only while their tenant allows it and its MFA is optional.
var ErrMFADisableRefused = errors.New("store: MFA cannot be turned off for this person")

// DisableMFA turns a patient's two-step sign-in off: every factor (active or pending), every
// backup code and every remembered device of the person goes, and codes still outstanding are
// spent — all in one transaction that first checks, on the rows as they are now, that the person
// is a patient and that the tenant allows it with MFA optional (ErrMFADisableRefused otherwise).
// On PostgreSQL the tenant row is read FOR SHARE, so a concurrent switch to required waits for
// this transaction or makes it refuse.
func (s *Store) DisableMFA(ctx context.Context, userID string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		var u User
		if err := tx.Where("id = ?", userID).First(&u).Error; err != nil {
			return notFound(err)
		}
		q := tx.Where("id = ?", u.TenantID)
		if s.dialect == "postgres" {
			q = q.Clauses(clause.Locking{Strength: "SHARE"})
		}
		var t Tenant
		if err := q.First(&t).Error; err != nil {
			return notFound(err)
		}
		if u.Role != RolePatient || !t.PatientsMayDisableMFA || t.MFAMode != MFAOptional {
			return ErrMFADisableRefused
		}
		if err := tx.Where("user_id = ?", userID).Delete(&Factor{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", userID).Delete(&BackupCode{}).Error; err != nil {
			return err
		}
		if err := tx.Model(&OTPCode{}).Where("user_id = ? AND spent_at IS NULL", userID).Update("spent_at", now).Error; err != nil {
			return err
		}
		return tx.Model(&RememberedDevice{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now).Error
	})
}
