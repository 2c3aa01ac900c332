package audit

import (
	"context"
	"fmt"

	"github.com/tessera-health/tessera/internal/store"
)

// Problem is the first broken link found in a tenant's chain.
type Problem struct {
	TenantID string `json:"tenant_id"`
	Seq      int64  `json:"seq"` // the position where the chain breaks
	ID       int64  `json:"id,omitempty"`
	What     string `json:"what"`
}

func (p Problem) String() string {
	return fmt.Sprintf("tenant %q, event #%d (row id %d): %s", p.TenantID, p.Seq, p.ID, p.What)
}

// Verify walks every tenant's chain (or one, when tenantID is set) and returns the first problem
// of each broken chain: a row whose content no longer matches its hash (changed), a gap or a link
// that does not follow its predecessor (removed or reordered), or a chain shorter than its head
// (newest rows removed). A chain purged by retention is checked from its anchor. It returns the number of events checked.
func Verify(ctx context.Context, st *store.Store, h Hasher, tenantID string) ([]Problem, int64, error) {
	heads, err := st.AuditHeads(ctx)
	if err != nil {
		return nil, 0, err
	}
	chain, mac := Chain(h), Anchor(h)
	var problems []Problem
	var checked int64
	for _, head := range heads {
		if tenantID != "" && head.TenantID != tenantID {
			continue
		}
		p, n, err := verifyChain(ctx, st, chain, mac, head)
		checked += n
		if err != nil {
			return problems, checked, err
		}
		if p != nil {
			problems = append(problems, *p)
		}
	}
	return problems, checked, nil
}

func verifyChain(ctx context.Context, st *store.Store, chain store.ChainFunc, mac store.AnchorFunc, head store.AuditHead) (*Problem, int64, error) {
	// A chain whose oldest events were purged by retention starts after its anchor, whose MAC
	// only the server's key can make: an anchor moved by hand is reported, and rows removed
	// beyond it show as a gap.
	seq, prev := head.AnchorSeq, head.AnchorHash
	if seq != 0 || prev != "" || head.AnchorMAC != "" {
		if seq <= 0 || head.AnchorMAC != mac(head.TenantID, seq, prev) {
			return &Problem{head.TenantID, seq, 0, "the record of purged events was changed (rows removed)"}, 0, nil
		}
	}
	first := seq
	for {
		batch, err := st.AuditChain(ctx, head.TenantID, seq, 500)
		if err != nil {
			return nil, seq - first, err
		}
		for i := range batch {
			e := &batch[i]
			switch {
			case e.Seq != seq+1:
				return &Problem{head.TenantID, seq + 1, e.ID, fmt.Sprintf("missing: the chain jumps from #%d to #%d (rows removed)", seq, e.Seq)}, seq - first, nil
			case e.PrevHash != prev:
				return &Problem{head.TenantID, e.Seq, e.ID, "does not follow the event before it (removed or reordered)"}, seq - first, nil
			case chain(e) != e.Hash:
				return &Problem{head.TenantID, e.Seq, e.ID, "changed after it was written"}, seq - first, nil
			}
			seq, prev = e.Seq, e.Hash
		}
		if len(batch) < 500 {
			break
		}
	}
	if seq != head.Seq || prev != head.Hash {
		return &Problem{head.TenantID, seq + 1, 0, fmt.Sprintf("the chain ends at #%d but its head says #%d (newest rows removed)", seq, head.Seq)}, seq - first, nil
	}
	return nil, seq - first, nil
}
