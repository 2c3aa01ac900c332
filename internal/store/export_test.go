package store

import "context"

// What gorm's First returns, for checking the hand-written hot-path reads against it.

func (s *Store) GormUserByID(ctx context.Context, id string) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("id = ?", id).First(&u).Error
	return &u, notFound(err)
}

func (s *Store) GormRefreshByHash(ctx context.Context, hash string) (*RefreshToken, error) {
	var rt RefreshToken
	err := s.db.WithContext(ctx).Where("token_hash = ?", hash).First(&rt).Error
	return &rt, notFound(err)
}

// Pragma reads one SQLite setting through a pooled connection.
func (s *Store) Pragma(ctx context.Context, name string) (string, error) {
	var v string
	err := s.sqlDB.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}
