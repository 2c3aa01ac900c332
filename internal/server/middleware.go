package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/web"
)

// middleware wraps every request: panic recovery, request id, client address, metrics, one
// structured log line, and the security headers.
func (s *Server) middleware(next http.Handler, https bool) http.Handler {
	h := web.SecurityHeaders(https, next)
	h = s.Metrics.Middleware(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set("X-Request-Id", id)
		req := audit.Request{ID: id, IP: s.ips.IP(r), UserAgent: r.UserAgent()}
		ctx := audit.WithRequest(r.Context(), req)
		r = r.WithContext(ctx)
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				slog.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()))
				if !sw.wrote {
					http.Error(sw, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
				}
			}
			// Only the path (query strings carry codes, states and tokens), and not even all of it
			// where it holds a one-time token. Typed attributes: no
			// value is boxed (BenchmarkAccessLog: about 1% of a token request either way).
			if l := slog.Default(); l.Enabled(ctx, slog.LevelInfo) {
				l.LogAttrs(ctx, slog.LevelInfo, "http", slog.String("method", r.Method), slog.String("path", logPath(r.URL.Path)),
					slog.Int("status", sw.status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
					slog.String("ip", req.IP))
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

// logPath is a request path fit for the log: a call-confirmation token is cut off.
func logPath(p string) string {
	if strings.HasPrefix(p, TwilioConfirmPath) {
		return TwilioConfirmPath + "…"
	}
	return p
}

func requestID(r *http.Request) string {
	if v := r.Header.Get("X-Request-Id"); len(v) > 0 && len(v) <= 64 && isToken(v) {
		return v
	}
	return newRequestID()
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status, s.wrote = code, true
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *Server) outboxPage(w http.ResponseWriter, r *http.Request) {
	s.Pages.Render(w, r, http.StatusOK, "outbox", map[string]any{"Title": "Dev outbox", "Messages": s.Outbox.List()})
}

func (s *Server) outboxJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"messages": s.Outbox.List()})
}
