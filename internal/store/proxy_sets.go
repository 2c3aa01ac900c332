package store

import "context"

// ProxyScopeSets lists a tenant's own named scope sets, by name.
func (s *Store) ProxyScopeSets(ctx context.Context, tenantID string) ([]ProxyScopeSet, error) {
	var out []ProxyScopeSet
	err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("name").Find(&out).Error
	return out, err
}
