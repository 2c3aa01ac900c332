package audit

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/tessera-health/tessera/internal/store"
)

// A request that records several events (a sign-in's second step records the factor, the new
// browser and the sign-in itself) can append them to the chain in one transaction instead of one
// each: Deferred queues what Record is given under its context, and the returned flush appends
// the queue, per tenant in the order recorded. Batch does this around an HTTP handler and
// flushes before the first byte of the response, so nothing the person sees precedes its record;
// an event recorded after the flush (a goroutine the handler left behind) is appended at once,
// as without a batch.

type pending struct {
	mu     sync.Mutex
	events []*store.AuditEvent
	done   bool
}

type pendingKey struct{}

// Deferred returns a context under which Record queues events, and the function that appends
// them (safe to call more than once; later calls append nothing).
func (l *Log) Deferred(ctx context.Context) (context.Context, func()) {
	p := &pending{}
	return context.WithValue(ctx, pendingKey{}, p), func() { l.flush(ctx, p) }
}

// queue adds e to ctx's pending batch; false when there is none or it was flushed.
func queue(ctx context.Context, e *store.AuditEvent) bool {
	p, _ := ctx.Value(pendingKey{}).(*pending)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return false
	}
	p.events = append(p.events, e)
	return true
}

func (l *Log) flush(ctx context.Context, p *pending) {
	p.mu.Lock()
	events := p.events
	p.events, p.done = nil, true
	p.mu.Unlock()
	// One transaction per tenant (a request almost always has one), in the order recorded.
	for len(events) > 0 {
		tenant := events[0].TenantID
		var mine, rest []*store.AuditEvent
		for _, e := range events {
			if e.TenantID == tenant {
				mine = append(mine, e)
			} else {
				rest = append(rest, e)
			}
		}
		if err := l.st.AppendAuditBatch(context.WithoutCancel(ctx), mine, l.chain); err != nil {
			for _, e := range mine {
				slog.ErrorContext(ctx, "audit write failed", "event", e.Event, "err", err)
			}
		}
		events = rest
	}
}

// Batch runs h with its audit events deferred and appended in one transaction per tenant,
// before the response's header is written (or when h returns without writing).
func (l *Log) Batch(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, flush := l.Deferred(r.Context())
		bw := &batchWriter{ResponseWriter: w, flush: flush}
		h.ServeHTTP(bw, r.WithContext(ctx))
		flush()
	})
}

// batchWriter flushes the audit batch before anything reaches the client.
type batchWriter struct {
	http.ResponseWriter
	flush   func()
	flushed bool
}

func (b *batchWriter) before() {
	if !b.flushed {
		b.flushed = true
		b.flush()
	}
}

func (b *batchWriter) WriteHeader(code int) {
	b.before()
	b.ResponseWriter.WriteHeader(code)
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.before()
	return b.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (b *batchWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }
