package store

import "context"

// AppendAudit writes one security event. It is append-only: nothing in Tessera updates or
// deletes audit rows.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent) error {
	if e.At == 0 {
		e.At = s.unix()
	}
	return s.db.WithContext(ctx).Create(e).Error
}

// AuditEvents lists a tenant's events, newest first; subjectID narrows to one person when set.
func (s *Store) AuditEvents(ctx context.Context, tenantID, subjectID string, limit int) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID)
	if subjectID != "" {
		q = q.Where("subject_id = ?", subjectID)
	}
	var es []AuditEvent
	err := q.Order("id DESC").Limit(limit).Find(&es).Error
	return es, err
}
