package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// KnownBrowser is a browser a person has signed in from: the keyed hash of the random token in
// its tessera_browser cookie. One browser shared by two people has a row for each.
type KnownBrowser struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	TokenHash string
	FirstSeen int64
	LastSeen  int64
}

// SeeBrowser records a sign-in of userID from the browser whose cookie hashes to tokenHash.
// isNew says the person had never signed in from it; firstEver says it is the first browser ever
// recorded for the person (the account's first sign-in, where a "new browser" notice would only
// be noise).
//
// Both answers hold across nodes without a lock. The upsert tells a new row from a known one by
// the id it returns (ours only when it inserted), so two sign-ins at once from the same new
// browser report it new exactly once. The person's first_browser_at is set by a conditional
// UPDATE, which PostgreSQL re-checks on the row's newest version after waiting for its lock, so
// of two new browsers at once exactly one is the first. PostgreSQL does both in one statement (a
// CTE); SQLite, with one writer, in two inside one transaction.
func (s *Store) SeeBrowser(ctx context.Context, userID, tokenHash string) (isNew, firstEver bool, err error) {
	now := s.unix()
	id := NewID()
	const upsert = `INSERT INTO known_browsers (id, user_id, token_hash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (user_id, token_hash) DO UPDATE SET last_seen = excluded.last_seen RETURNING id`
	const first = `UPDATE users SET first_browser_at = ? WHERE id = ? AND first_browser_at IS NULL`
	if s.dialect == "postgres" {
		var got struct {
			ID    string
			First bool
		}
		err := s.db.WithContext(ctx).Raw(`WITH up AS (`+upsert+`),
fb AS (`+first+` AND EXISTS (SELECT 1 FROM up WHERE up.id = ?) RETURNING 1)
SELECT (SELECT id FROM up) AS id, EXISTS (SELECT 1 FROM fb) AS first`,
			id, userID, tokenHash, now, now, now, userID, id).Scan(&got).Error
		if err != nil {
			return false, false, err
		}
		return got.ID == id, got.First, nil
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var got string
		if err := tx.Raw(upsert, id, userID, tokenHash, now, now).Scan(&got).Error; err != nil {
			return err
		}
		isNew, firstEver = got == id, false
		if !isNew {
			return nil
		}
		res := tx.Exec(first, now, userID)
		firstEver = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, false, err
	}
	return isNew, firstEver, nil
}

// KnownBrowsers lists a person's browsers, most recently seen first.
func (s *Store) KnownBrowsers(ctx context.Context, userID string) ([]KnownBrowser, error) {
	var out []KnownBrowser
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("last_seen DESC, id").Find(&out).Error
	return out, err
}

// PruneKnownBrowsers forgets browsers not seen for longer than age (their cookie has expired by
// then, so they would be new again anyway). The janitor calls it.
func (s *Store) PruneKnownBrowsers(ctx context.Context, age time.Duration) error {
	return s.db.WithContext(ctx).Where("last_seen < ?", s.unix()-int64(age/time.Second)).Delete(&KnownBrowser{}).Error
}
