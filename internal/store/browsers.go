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
// isNew says the person had never signed in from it; firstEver says they had no known browser
// at all (the account's first sign-in, where a "new browser" notice would only be noise).
//
// The count and the upsert run in one transaction serialised per person, so two sign-ins at once
// from the same new browser report it new exactly once (the row's unique key decides), and two
// new browsers at once count each other, on any backend. The upsert tells a new row from a
// known one by the id it returns: ours only when it inserted. PostgreSQL takes the lock, then
// counts and upserts in one statement (a CTE: both see the same snapshot, so the count is of the
// rows before this one); SQLite, with one writer, counts and upserts in two.
func (s *Store) SeeBrowser(ctx context.Context, userID, tokenHash string) (isNew, firstEver bool, err error) {
	now := s.unix()
	id := NewID()
	err = s.tx(ctx, func(tx *gorm.DB) error {
		isNew, firstEver = false, false
		if err := s.lockKeys(tx, "known-browser:"+userID); err != nil {
			return err
		}
		const upsert = `INSERT INTO known_browsers (id, user_id, token_hash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (user_id, token_hash) DO UPDATE SET last_seen = excluded.last_seen RETURNING id`
		var got struct {
			ID string
			N  int64
		}
		if s.dialect == "postgres" {
			if err := tx.Raw(`WITH prior AS (SELECT count(*) AS n FROM known_browsers WHERE user_id = ?), up AS (`+upsert+`)
SELECT (SELECT id FROM up) AS id, (SELECT n FROM prior) AS n`, userID, id, userID, tokenHash, now, now).Scan(&got).Error; err != nil {
				return err
			}
		} else {
			if err := tx.Model(&KnownBrowser{}).Where("user_id = ?", userID).Count(&got.N).Error; err != nil {
				return err
			}
			if err := tx.Raw(upsert, id, userID, tokenHash, now, now).Scan(&got.ID).Error; err != nil {
				return err
			}
		}
		isNew = got.ID == id
		firstEver = isNew && got.N == 0
		return nil
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
