package store

import (
	"context"

	"gorm.io/gorm"
)

// BackupCode is one single-use code, as a keyed hash.
type BackupCode struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	CodeHash  string
	UsedAt    *int64
	CreatedAt int64 `gorm:"autoCreateTime:false"`
}

// ReplaceBackupCodes swaps a person's whole set for a new one, in one transaction.
func (s *Store) ReplaceBackupCodes(ctx context.Context, userID string, hashes []string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&BackupCode{}).Error; err != nil {
			return err
		}
		rows := make([]BackupCode, len(hashes))
		for i, h := range hashes {
			rows[i] = BackupCode{ID: NewID(), UserID: userID, CodeHash: h, CreatedAt: now}
		}
		return tx.Create(&rows).Error
	})
}

// UseBackupCode spends the code with that hash, once (a conditional UPDATE: two nodes cannot
// both accept it). It reports whether the code was valid and unused.
func (s *Store) UseBackupCode(ctx context.Context, userID, hash string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&BackupCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).Update("used_at", s.unix())
	return res.RowsAffected == 1, res.Error
}

// BackupCodesLeft counts a person's unused codes.
func (s *Store) BackupCodesLeft(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&BackupCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	return n, err
}
