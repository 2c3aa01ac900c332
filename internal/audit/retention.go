package audit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// DefaultRetention is how long events are kept when nothing else is configured: six years,
// HIPAA's retention period for documentation (45 CFR 164.316(b)(2)).
const DefaultRetention = 2191 * 24 * time.Hour

// Anchor returns the keyed MAC that seals a tenant's purge anchor (the last purged link), so
// nobody without the server's key can move it to hide rows removed from the chain's start.
func Anchor(h Hasher) store.AnchorFunc {
	return func(tenantID string, seq int64, hash string) string {
		s := strconv.FormatInt(seq, 10)
		return h.Sum("audit-anchor:" + strconv.Itoa(len(tenantID)) + ":" + tenantID + strconv.Itoa(len(s)) + ":" + s + hash)
	}
}

// Purged is what a purge removed from one tenant's chain.
type Purged struct {
	TenantID string `json:"tenant_id"`
	Events   int64  `json:"events"`
	Anchor   int64  `json:"anchor_seq"` // the last event removed (the chain now starts after it)
}

// Purge removes, from every tenant's chain, the events written before before. Each tenant's
// purge is itself recorded in its chain (audit.purged, actor "retention"). A chain whose oldest
// rows do not verify is not purged: the error names it, and `tessera audit verify` shows why.
func (l *Log) Purge(ctx context.Context, before time.Time) ([]Purged, error) {
	heads, err := l.st.AuditHeads(ctx)
	if err != nil {
		return nil, err
	}
	var out []Purged
	for _, head := range heads {
		n, anchor, err := l.st.PurgeAudit(ctx, head.TenantID, before.Unix(), 1000, l.chain, l.anchor)
		if n > 0 {
			out = append(out, Purged{TenantID: head.TenantID, Events: n, Anchor: anchor})
			l.Record(ctx, &store.AuditEvent{TenantID: head.TenantID, Event: "audit.purged", Result: "ok", ActorID: "retention",
				Detail: fmt.Sprintf("%d events written before %s removed; the chain now starts after #%d", n, before.UTC().Format(time.RFC3339), anchor)})
		}
		if err != nil {
			return out, fmt.Errorf("purge the audit trail of tenant %q: %w", head.TenantID, err)
		}
	}
	return out, nil
}
