package store

import (
	"context"
	"slices"

	"gorm.io/gorm/clause"
)

// Consent records the scopes a person allowed a third-party client.
type Consent struct {
	UserID    string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	Scopes    string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	UpdatedAt int64 `gorm:"autoUpdateTime:false"`
}

// GrantConsent records (or widens) a person's consent for a client.
func (s *Store) GrantConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	now := s.unix()
	var existing Consent
	if err := s.db.WithContext(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).First(&existing).Error; err == nil {
		for _, sc := range SplitList(existing.Scopes) {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	c := Consent{UserID: userID, ClientID: clientID, Scopes: joinList(scopes), CreatedAt: now, UpdatedAt: now}
	return s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
	}).Create(&c).Error
}

// ConsentCovers reports whether the person already allowed every one of scopes for the client.
func (s *Store) ConsentCovers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	var c Consent
	err := s.db.WithContext(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).First(&c).Error
	if err != nil {
		return false, ignoreNotFound(notFound(err))
	}
	have := SplitList(c.Scopes)
	for _, sc := range scopes {
		if !slices.Contains(have, sc) {
			return false, nil
		}
	}
	return true, nil
}

// RevokeConsent forgets a person's consent for a client.
func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string) error {
	return s.db.WithContext(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{}).Error
}
