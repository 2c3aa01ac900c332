package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AuditHead is the newest link of a tenant's audit chain.
type AuditHead struct {
	TenantID string `gorm:"primaryKey"`
	Seq      int64
	Hash     string
	// The anchor is the last link purged by retention (0 and "" while nothing was), with a keyed
	// MAC over it: the remaining chain is verified from it.
	AnchorSeq  int64
	AnchorHash string
	AnchorMAC  string `gorm:"column:anchor_mac"`
}

// ChainFunc computes an event's link hash from the previous link's hash and the event (with
// Seq and PrevHash already set). The audit package owns it; the store only runs it inside the
// append transaction.
type ChainFunc func(e *AuditEvent) string

// AppendAudit appends e to its tenant's chain (AppendAuditBatch with one event).
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent, chain ChainFunc) error {
	return s.AppendAuditBatch(ctx, []*AuditEvent{e}, chain)
}

// AppendAuditBatch appends events, all of one tenant, to that tenant's chain in one transaction,
// in the order given. The first statement reserves their seqs on the chain head and locks it
// (UPDATE … RETURNING the previous link; on PostgreSQL the row lock holds until commit, SQLite
// has one writer), so concurrent appends from several nodes still form one gapless, strictly
// ordered chain; the links are computed here from the returned hash, then the rows are
// inserted and the head's hash set — in one statement on PostgreSQL, two on SQLite. A failure
// rolls everything back: a crash never leaves a gap. Nothing in Tessera updates or deletes audit
// rows.
func (s *Store) AppendAuditBatch(ctx context.Context, events []*AuditEvent, chain ChainFunc) error {
	if len(events) == 0 {
		return nil
	}
	tenantID := events[0].TenantID
	now := s.unix()
	for _, e := range events {
		if e.TenantID != tenantID {
			return errors.New("store: one audit batch per tenant")
		}
		if e.At == 0 {
			e.At = now
		}
	}
	n := int64(len(events))
	err := s.tx(ctx, func(tx *gorm.DB) error {
		// Make sure the head row exists (once per tenant and process: heads are never
		// deleted). The process remembers a head only after a transaction that saw it
		// committed: remembering it earlier let a concurrent append skip the insert and find
		// nothing while the first one was still uncommitted.
		_, known := s.heads.Load(tenantID)
		if !known {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&AuditHead{TenantID: tenantID}).Error; err != nil {
				return err
			}
		}
		var head struct {
			Seq  int64
			Hash string
		}
		res := tx.Raw("UPDATE audit_heads SET seq = seq + ? WHERE tenant_id = ? RETURNING seq, hash", n, tenantID).Scan(&head)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errors.New("store: audit chain head missing")
		}
		seq, prev := head.Seq-n, head.Hash
		for _, e := range events {
			seq++
			e.Seq, e.PrevHash = seq, prev
			e.Hash = chain(e)
			prev = e.Hash
		}
		if s.dialect != "postgres" {
			if err := tx.Create(events).Error; err != nil {
				return err
			}
			return tx.Exec("UPDATE audit_heads SET hash = ? WHERE tenant_id = ?", prev, tenantID).Error
		}
		var b strings.Builder
		args := make([]any, 0, len(events)*14+2)
		b.WriteString("WITH ins AS (INSERT INTO audit_events (at, tenant_id, event, result, actor_id, subject_id, client_id, ip, user_agent, request_id, detail, seq, prev_hash, hash) VALUES ")
		for i, e := range events {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, e.At, e.TenantID, e.Event, e.Result, e.ActorID, e.SubjectID, e.ClientID, e.IP,
				e.UserAgent, e.RequestID, e.Detail, e.Seq, e.PrevHash, e.Hash)
		}
		b.WriteString(") UPDATE audit_heads SET hash = ? WHERE tenant_id = ?")
		args = append(args, prev, tenantID)
		return tx.Exec(b.String(), args...).Error
	})
	if err == nil {
		s.heads.Store(tenantID, struct{}{})
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

// ErrAuditBroken is returned by PurgeAudit when the rows it would remove do not verify: purging
// them would erase the evidence, so nothing is removed.
var ErrAuditBroken = errors.New("store: the audit chain does not verify where it would be purged")

// AnchorFunc computes the keyed MAC that seals a tenant's purge anchor.
type AnchorFunc func(tenantID string, seq int64, hash string) string

// PurgeAudit removes a tenant's oldest events written before the unix time before, from the
// start of its chain, in transactions of at most batch rows. Each transaction locks the chain's
// head, checks that the rows it removes still follow the anchor and each other (chain), deletes
// them and moves the anchor to the last one removed, sealed with mac. A row at or after before
// stops the purge, so a clock that stepped back never opens a gap. It returns how many events
// were removed and the anchor's seq.
func (s *Store) PurgeAudit(ctx context.Context, tenantID string, before int64, batch int, chain ChainFunc, mac AnchorFunc) (int64, int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var purged, anchor int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *gorm.DB) error {
			var head AuditHead
			q := tx.Where("tenant_id = ?", tenantID)
			if s.dialect == "postgres" {
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			if err := q.First(&head).Error; err != nil {
				return err
			}
			anchor = head.AnchorSeq
			if head.AnchorSeq > 0 && head.AnchorMAC != mac(tenantID, head.AnchorSeq, head.AnchorHash) {
				return ErrAuditBroken
			}
			var rows []AuditEvent
			if err := tx.Where("tenant_id = ? AND seq > ?", tenantID, head.AnchorSeq).Order("seq").Limit(batch).Find(&rows).Error; err != nil {
				return err
			}
			seq, prev := head.AnchorSeq, head.AnchorHash
			for i := range rows {
				e := &rows[i]
				if e.At >= before {
					break
				}
				if e.Seq != seq+1 || e.PrevHash != prev || chain(e) != e.Hash {
					return ErrAuditBroken
				}
				seq, prev = e.Seq, e.Hash
				n++
			}
			if n == 0 {
				return nil
			}
			if err := tx.Where("tenant_id = ? AND seq > ? AND seq <= ?", tenantID, head.AnchorSeq, seq).Delete(&AuditEvent{}).Error; err != nil {
				return err
			}
			anchor = seq
			return tx.Model(&AuditHead{}).Where("tenant_id = ?", tenantID).
				Updates(map[string]any{"anchor_seq": seq, "anchor_hash": prev, "anchor_mac": mac(tenantID, seq, prev)}).Error
		})
		if err != nil {
			return purged, anchor, err
		}
		purged += n
		if n < int64(batch) {
			return purged, anchor, nil
		}
	}
}

// AccountActivity lists the events a person was the subject or the actor of in a tenant, newest
// first, with seq below beforeSeq when it is above 0 (the next page).
func (s *Store) AccountActivity(ctx context.Context, tenantID, userID string, beforeSeq int64, limit int) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Where("tenant_id = ? AND (subject_id = ? OR actor_id = ?)", tenantID, userID, userID)
	if beforeSeq > 0 {
		q = q.Where("seq < ?", beforeSeq)
	}
	var es []AuditEvent
	err := q.Order("seq DESC").Limit(limit).Find(&es).Error
	return es, err
}
