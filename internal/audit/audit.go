// Package audit owns the security event log: who did what, to whom, from where, with what
// result. Handlers record events; the request's id, client address and user agent are taken from
// the context so no caller can forget them.
package audit

import (
	"context"
	"log/slog"

	"github.com/tessera-health/tessera/internal/store"
)

// Request is what the HTTP layer knows about the current request.
type Request struct {
	ID        string
	IP        string
	UserAgent string
}

type ctxKey struct{}

// WithRequest attaches request facts to a context.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// RequestFrom returns the request facts of a context (zero when absent).
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(ctxKey{}).(Request)
	return r
}

// Log writes events to the store.
type Log struct {
	st *store.Store
}

// New returns an audit log over st.
func New(st *store.Store) *Log { return &Log{st: st} }

// Record appends e, filling the request facts from ctx. A failure to write is logged loudly but
// does not fail the user's request: the event is also in the structured log.
func (l *Log) Record(ctx context.Context, e *store.AuditEvent) {
	req := RequestFrom(ctx)
	if e.IP == "" {
		e.IP = req.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = truncate(req.UserAgent, 300)
	}
	if e.RequestID == "" {
		e.RequestID = req.ID
	}
	slog.InfoContext(ctx, "audit", "event", e.Event, "result", e.Result, "tenant", e.TenantID,
		"actor", e.ActorID, "subject", e.SubjectID, "client", e.ClientID, "ip", e.IP, "request_id", e.RequestID)
	if err := l.st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		slog.ErrorContext(ctx, "audit write failed", "event", e.Event, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
