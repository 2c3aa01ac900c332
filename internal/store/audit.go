package store

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AuditHead is the newest link of a tenant's audit chain.
type AuditHead struct {
	TenantID string `gorm:"primaryKey"`
	Seq      int64
	Hash     string
}

// ChainFunc computes an event's link hash from the previous link's hash and the event (with
// Seq and PrevHash already set). The audit package owns it; the store only runs it inside the
// append transaction.
type ChainFunc func(e *AuditEvent) string

// AppendAudit appends e to its tenant's chain. The chain head is locked for the transaction
// (FOR UPDATE on PostgreSQL; SQLite has one writer), so concurrent appends from several nodes
// still form one gapless chain. Nothing in Tessera updates or deletes audit rows.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent, chain ChainFunc) error {
	if e.At == 0 {
		e.At = s.unix()
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		// Make sure the head row exists (once per tenant and process: heads are never
		// deleted), then lock it. The process remembers a head only after a transaction that saw
		// it committed: remembering it earlier let a concurrent append skip the insert and find
		// nothing while the first one was still uncommitted.
		_, known := s.heads.Load(e.TenantID)
		if !known {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&AuditHead{TenantID: e.TenantID}).Error; err != nil {
				return err
			}
		}
		var head AuditHead
		q := tx.Where("tenant_id = ?", e.TenantID)
		if s.dialect == "postgres" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.First(&head).Error; err != nil {
			return err
		}
		e.Seq, e.PrevHash = head.Seq+1, head.Hash
		e.Hash = chain(e)
		if err := tx.Create(e).Error; err != nil {
			return err
		}
		return tx.Model(&AuditHead{}).Where("tenant_id = ?", e.TenantID).
			Updates(map[string]any{"seq": e.Seq, "hash": e.Hash}).Error
	})
	if err == nil {
		s.heads.Store(e.TenantID, struct{}{})
	}
	return err
}

// AuditEvents lists a tenant's events, newest first; subjectID narrows to one person when set.
func (s *Store) AuditEvents(ctx context.Context, tenantID, subjectID string, limit int) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID)
	if subjectID != "" {
		q = q.Where("subject_id = ?", subjectID)
	}
	var es []AuditEvent
	err := q.Order("seq DESC").Limit(limit).Find(&es).Error
	return es, err
}

// AuditChain returns up to limit events of a tenant's chain with seq > after, in chain order.
func (s *Store) AuditChain(ctx context.Context, tenantID string, after int64, limit int) ([]AuditEvent, error) {
	var es []AuditEvent
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND seq > ?", tenantID, after).
		Order("seq").Limit(limit).Find(&es).Error
	return es, err
}

// AuditHeads lists every chain's head.
func (s *Store) AuditHeads(ctx context.Context) ([]AuditHead, error) {
	var hs []AuditHead
	err := s.db.WithContext(ctx).Order("tenant_id").Find(&hs).Error
	return hs, err
}

// AuditRange returns events of one tenant (or all when tenantID is "") with from <= at < to, in
// chain order, for export.
func (s *Store) AuditRange(ctx context.Context, tenantID string, from, to int64, afterID int64, limit int) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Where("at >= ? AND at < ? AND id > ?", from, to, afterID)
	if tenantID != "" {
		q = q.Where("tenant_id = ?", tenantID)
	}
	var es []AuditEvent
	err := q.Order("id").Limit(limit).Find(&es).Error
	return es, err
}
