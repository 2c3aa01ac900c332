package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/server"
)

// BenchmarkAccessLog is the per-request access line at INFO, through the production JSON
// handler (to io.Discard): "args" is the key-value form the middleware used, "attrs" the typed
// LogAttrs form it uses now (no boxing of each value into an interface).
func BenchmarkAccessLog(b *testing.B) {
	logger := server.NewLogger(io.Discard, slog.LevelInfo, "json")
	ctx := audit.WithRequest(context.Background(), audit.Request{ID: "0123456789abcdef01234567", IP: "127.0.0.1"})
	start := time.Now()
	b.Run("args", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			logger.InfoContext(ctx, "http", "method", "POST", "path", "/oauth/token", "status", 200,
				"duration_ms", float64(time.Since(start).Microseconds())/1000, "ip", "127.0.0.1")
		}
	})
	b.Run("attrs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if logger.Enabled(ctx, slog.LevelInfo) {
				logger.LogAttrs(ctx, slog.LevelInfo, "http", slog.String("method", "POST"), slog.String("path", "/oauth/token"),
					slog.Int("status", 200), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
					slog.String("ip", "127.0.0.1"))
			}
		}
	})
}
