package store

import "context"

// CreateSigningKey inserts a signing key.
func (s *Store) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	if k.CreatedAt == 0 {
		k.CreatedAt = s.unix()
	}
	return s.create(ctx, k)
}

// SigningKeys lists every key not retired before `since` (Unix seconds), newest activation first:
// the ones that sign now or may still verify tokens in circulation.
func (s *Store) SigningKeys(ctx context.Context, since int64) ([]SigningKey, error) {
	var ks []SigningKey
	err := s.db.WithContext(ctx).Where("retired_at IS NULL OR retired_at > ?", since).
		Order("active_from DESC, created_at DESC").Find(&ks).Error
	return ks, err
}

// RetireSigningKeys marks every unretired key of alg except keep as retired at `at`. A retired
// key no longer signs but stays published until its tokens have expired.
func (s *Store) RetireSigningKeys(ctx context.Context, alg, keep string, at int64) error {
	return s.db.WithContext(ctx).Model(&SigningKey{}).
		Where("alg = ? AND id <> ? AND retired_at IS NULL", alg, keep).
		Update("retired_at", at).Error
}
