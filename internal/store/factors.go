package store

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"
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
		Order("is_default DESC, created_at, id").Find(&fs).Error
	return fs, err
}

// ActiveFactorsBackupLeft is ActiveFactors with the count of the person's unused backup codes
// (BackupCodesLeft) read in the same statement, for the code page, which shows both; known is
// false when there are no active factors (no row to carry the count).
func (s *Store) ActiveFactorsBackupLeft(ctx context.Context, userID string) (fs []Factor, left int64, known bool, err error) {
	var rows []struct {
		Factor     `gorm:"embedded"`
		BackupLeft int64
	}
	err = s.db.WithContext(ctx).Table("factors").
		Select("factors.*, (SELECT count(*) FROM backup_codes WHERE backup_codes.user_id = factors.user_id AND backup_codes.used_at IS NULL) AS backup_left").
		Where("user_id = ? AND active = ?", userID, true).Order("is_default DESC, created_at, id").Find(&rows).Error
	if err != nil {
		return nil, 0, false, err
	}
	for _, r := range rows {
		fs = append(fs, r.Factor)
	}
	if len(rows) > 0 {
		left, known = rows[0].BackupLeft, true
	}
	return fs, left, known, nil
}

// ActivateFactor makes a pending factor active once the person proved it works; the first
// active factor becomes the default. Activations of one person's factors are serialised, so two
// factors confirmed at once on two nodes cannot both become the default.
func (s *Store) ActivateFactor(ctx context.Context, userID, id string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&Factor{}).Where("user_id = ? AND active = ?", userID, true).Count(&n).Error; err != nil {
			return err
		}
		res := tx.Model(&Factor{}).Where("id = ? AND user_id = ? AND active = ?", id, userID, false).
			Updates(map[string]any{"active": true, "is_default": n == 0})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// SetDefaultFactor makes one of a person's active factors the one asked first; every other
// factor of theirs stops being the default, in the same transaction.
func (s *Store) SetDefaultFactor(ctx context.Context, userID, id string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		res := tx.Model(&Factor{}).Where("id = ? AND user_id = ? AND active = ?", id, userID, true).Update("is_default", true)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Model(&Factor{}).Where("user_id = ? AND id <> ? AND is_default = ?", userID, id, true).
			Update("is_default", false).Error
	})
}

// DeleteFactor removes one of a person's factors (active or pending). When it was the default,
// the oldest remaining active factor becomes the default, in the same transaction.
func (s *Store) DeleteFactor(ctx context.Context, userID, id string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+userID); err != nil {
			return err
		}
		var f Factor
		if err := tx.Where("id = ? AND user_id = ?", id, userID).First(&f).Error; err != nil {
			return notFound(err)
		}
		return deleteFactorTx(tx, userID, &f)
	})
}

// MarkFactorUsed records when a factor last answered a challenge (the account console shows it).
// TOTP factors get this from AdvanceTOTPStep.
func (s *Store) MarkFactorUsed(ctx context.Context, id string) error {
	return s.db.WithContext(ctx).Model(&Factor{}).Where("id = ?", id).Update("last_used_at", s.unix()).Error
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

// PruneFactorData deletes what second factors leave behind once it can no longer matter:
// one-time codes spent or expired more than margin ago, sends older than the hour the caps look
// at (plus margin), and enrollments never confirmed within a day (plus margin). The janitor that
// calls DeleteExpired should call this too.
func (s *Store) PruneFactorData(ctx context.Context, margin time.Duration) error {
	now := s.unix()
	m := int64(margin / time.Second)
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ? OR spent_at < ?", now-m, now-m).Delete(&OTPCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("at < ?", now-3600-m).Delete(&OTPSend{}).Error; err != nil {
			return err
		}
		if err := tx.Where("expires_at < ?", now-m).Delete(&WebAuthnCeremony{}).Error; err != nil {
			return err
		}
		return tx.Where("active = ? AND created_at < ?", false, now-86400-m).Delete(&Factor{}).Error
	})
}

// lockKeys serialises transactions that touch the same keys until tx ends. On PostgreSQL it
// takes transaction-scoped advisory locks (in sorted order, so two callers never deadlock); on
// SQLite every write transaction already begins IMMEDIATE and holds the only write lock, so
// there is nothing to add. It turns a read-then-write (count, then insert) into one that cannot
// interleave across nodes.
func (s *Store) lockKeys(tx *gorm.DB, keys ...string) error {
	if s.dialect != "postgres" {
		return nil
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", k).Error; err != nil {
			return err
		}
	}
	return nil
}
