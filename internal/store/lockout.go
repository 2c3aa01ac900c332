package store

import (
	"context"
)

// MFAFailure counts one wrong second-factor answer with a single atomic statement and locks the
// account when the count reaches limit. With parallel guesses on several nodes the count can
// never pass the limit: once locked, the WHERE clause matches nothing. It returns the count and
// whether the account is now locked.
func (s *Store) MFAFailure(ctx context.Context, userID string, limit int) (failures int, locked bool, err error) {
	f, err := s.CountMFAFailure(ctx, userID, limit)
	return f.Failures, f.Locked, err
}

// MFAFailureResult is what one wrong answer did.
type MFAFailureResult struct {
	Failures int  // the count now
	Locked   bool // the account is locked now
	// Counted: this answer was counted (false when the account was already locked, so a guess
	// racing the lock on another node changes nothing and is not a failure on the record).
	Counted bool
	// LockedNow: this answer was the one that locked the account (exactly one answer is).
	LockedNow bool
}

// CountMFAFailure is MFAFailure telling also whether this answer was counted and whether it
// locked the account, so the caller audits each failure and the lock exactly once.
func (s *Store) CountMFAFailure(ctx context.Context, userID string, limit int) (MFAFailureResult, error) {
	now := s.unix()
	var row struct {
		MFAFailures int
		LockedAt    *int64
	}
	res := s.db.WithContext(ctx).Raw(`UPDATE users SET mfa_failures = mfa_failures + 1,
			locked_at = CASE WHEN mfa_failures + 1 >= ? THEN ? ELSE locked_at END, updated_at = ?
		WHERE id = ? AND locked_at IS NULL
		RETURNING mfa_failures, locked_at`, limit, now, now, userID).Scan(&row)
	if res.Error != nil {
		return MFAFailureResult{}, res.Error
	}
	if res.RowsAffected == 0 {
		// Already locked (or no such user): nothing changes, and the answer is "locked".
		u, err := s.UserByID(ctx, userID)
		if err != nil {
			return MFAFailureResult{}, err
		}
		return MFAFailureResult{Failures: u.MFAFailures, Locked: u.LockedAt != nil}, nil
	}
	return MFAFailureResult{Failures: row.MFAFailures, Locked: row.LockedAt != nil, Counted: true, LockedNow: row.LockedAt != nil}, nil
}

// MFASuccess resets the count after a right answer (a locked account stays locked).
func (s *Store) MFASuccess(ctx context.Context, userID string) error {
	return s.db.WithContext(ctx).Exec(`UPDATE users SET mfa_failures = 0 WHERE id = ? AND locked_at IS NULL AND mfa_failures <> 0`, userID).Error
}

// Unlock clears a lock and the count; it reports whether the account was locked.
func (s *Store) Unlock(ctx context.Context, userID string) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE users SET mfa_failures = 0, locked_at = NULL, updated_at = ? WHERE id = ? AND locked_at IS NOT NULL`,
		s.unix(), userID)
	return res.RowsAffected > 0, res.Error
}
