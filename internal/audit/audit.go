// Package audit owns the security event log: who did what, to whom, from where, with what
// result. Handlers record events; the request's id, client address and user agent are taken from
// the context so no caller can forget them. Each tenant's events form a hash chain keyed with the
// server's secret, so a row changed, removed or reordered in the database — even by someone with
// write access to it, who cannot recompute the keyed hashes — is found by Verify.
package audit

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

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

// Hasher is a keyed hash (internal/secret.Hasher).
type Hasher interface{ Sum(string) string }

// Log writes events to the store.
type Log struct {
	st     *store.Store
	chain  store.ChainFunc
	anchor store.AnchorFunc
}

// New returns an audit log over st whose chain is keyed by h.
func New(st *store.Store, h Hasher) *Log { return &Log{st: st, chain: Chain(h), anchor: Anchor(h)} }

// Chain returns the link function: a keyed hash over the previous link and every field of the
// row, each length-prefixed so no two different rows can encode alike.
func Chain(h Hasher) store.ChainFunc {
	return func(e *store.AuditEvent) string {
		var b strings.Builder
		for _, f := range []string{e.PrevHash, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At, 10), e.TenantID,
			e.Event, e.Result, e.ActorID, e.SubjectID, e.ClientID, e.IP, e.UserAgent, e.RequestID, e.Detail} {
			b.WriteString(strconv.Itoa(len(f)))
			b.WriteByte(':')
			b.WriteString(f)
		}
		return h.Sum(b.String())
	}
}

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
	if queue(ctx, e) {
		return
	}
	if err := l.st.AppendAudit(context.WithoutCancel(ctx), e, l.chain); err != nil {
		slog.ErrorContext(ctx, "audit write failed", "event", e.Event, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
