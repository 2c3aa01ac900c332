package oidcop

import (
	"sync"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// pendingRequests remembers the authorization requests this node created or read while they
// are still waiting for a sign-in, so the sign-in page and the password step do not read back a
// row that was just written (two statements of every login; see BENCHMARKS.md).
//
// It is safe across nodes because what it serves never changes while a request is pending: the
// client, the tenant, the protocol parameters and the expiry are written once at /authorize.
// Everything a sign-in changes (who signed in, the session, done, the code) is read from the
// database by the steps that need it, and completing a request forgets it here. A request
// completed on another node may still look pending here: its sign-in page then shows, and the
// sign-in ends at the completion, whose UPDATE only takes a request that is not done.
type pendingRequests struct {
	mu sync.Mutex
	m  map[string]store.AuthRequest
}

// maxPending bounds the memory: at ~1 KB a request, 4,096 are ~4 MB. Past it, expired entries go
// first, then any; a forgotten entry only costs a read.
const maxPending = 4096

func (p *pendingRequests) put(row *store.AuthRequest) {
	if row.Done {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]store.AuthRequest)
	}
	if len(p.m) >= maxPending {
		now := time.Now().Unix()
		for id, r := range p.m {
			if r.ExpiresAt <= now {
				delete(p.m, id)
			}
		}
		for id := range p.m {
			if len(p.m) < maxPending {
				break
			}
			delete(p.m, id)
		}
	}
	p.m[row.ID] = *row
}

// get returns a copy of the pending request id when it is known here and not expired at now.
func (p *pendingRequests) get(id string, now int64) (*store.AuthRequest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[id]
	if !ok {
		return nil, false
	}
	if r.ExpiresAt <= now {
		delete(p.m, id)
		return nil, false
	}
	return &r, true
}

func (p *pendingRequests) forget(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}
