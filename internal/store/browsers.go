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
// The look-up, the count and the insert run in one transaction serialised per person, so two
// sign-ins at once from the same new browser report it new exactly once, on any backend.
func (s *Store) SeeBrowser(ctx context.Context, userID, tokenHash string) (isNew, firstEver bool, err error) {
	now := s.unix()
	err = s.tx(ctx, func(tx *gorm.DB) error {
		isNew, firstEver = false, false
		if err := s.lockKeys(tx, "known-browser:"+userID); err != nil {
			return err
		}
		res := tx.Model(&KnownBrowser{}).Where("user_id = ? AND token_hash = ?", userID, tokenHash).Update("last_seen", now)
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
		var n int64
		if err := tx.Model(&KnownBrowser{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
			return err
		}
		isNew, firstEver = true, n == 0
		return tx.Create(&KnownBrowser{ID: NewID(), UserID: userID, TokenHash: tokenHash, FirstSeen: now, LastSeen: now}).Error
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
