package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tessera-health/tessera/internal/store"
)

// Bounds of bulk: a million sessions is ~1 GB of PostgreSQL; more is a mistake.
const (
	maxBulk   = 1_000_000
	bulkBatch = 500
	// bulkAgent marks the sessions bulk made (their user agent), so a second run counts them
	// and only adds what is missing.
	bulkAgent = "tessera-bench bulk"
)

// BulkResult is what bulk prints.
type BulkResult struct {
	Tenant          string  `json:"tenant"`
	Added           int     `json:"added"`
	BulkSessions    int64   `json:"bulk_sessions"`
	Sessions        int64   `json:"sessions_rows"`
	RefreshTokens   int64   `json:"refresh_tokens_rows"`
	SessionsBytes   int64   `json:"sessions_bytes,omitempty"`       // table + indexes + TOAST (PostgreSQL)
	RefreshBytes    int64   `json:"refresh_tokens_bytes,omitempty"` // table + indexes + TOAST (PostgreSQL)
	BytesPerSession float64 `json:"bytes_per_session,omitempty"`    // both tables over the session rows
	Seconds         float64 `json:"seconds"`
}

// bulk fills the database with N live SSO sessions and N live refresh tokens (one family each,
// tied to its session) spread over the tenant's people. The rows are load, not credentials:
// ids are random and the hashes are random 43-character strings shaped like the keyed hashes
// Tessera stores, so no cookie or token opens them. Rows are written in batches of 500 (one
// transaction each); a second run with the same N adds nothing.
func bulk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database", "", "database URL: sqlite:PATH or postgres://… (as tessera --database)")
	tenant := fs.String("tenant", "bench", "tenant id or name whose people get the sessions")
	n := fs.Int("sessions", 100_000, "live sessions (and refresh tokens) the tenant should have from bulk, at most 1,000,000")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *n < 1 || *n > maxBulk {
		return usageError{fmt.Sprintf("--sessions must be between 1 and %d", maxBulk)}
	}
	db, dialect, err := openBulkDB(*dbURL)
	if err != nil {
		return err
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	db = db.WithContext(ctx)
	start := time.Now()

	var tenantID string
	if err := db.Raw(`SELECT id FROM tenants WHERE id = ? OR name_lower = ?`, *tenant, strings.ToLower(*tenant)).Scan(&tenantID).Error; err != nil {
		return fmt.Errorf("find the tenant: %w", err)
	}
	if tenantID == "" {
		return fmt.Errorf("no tenant %q in that database: run `tessera-bench seed` first", *tenant)
	}
	var users []string
	if err := db.Raw(`SELECT id FROM users WHERE tenant_id = ? ORDER BY id`, tenantID).Scan(&users).Error; err != nil {
		return fmt.Errorf("read the tenant's people: %w", err)
	}
	var clientID string
	if err := db.Raw(`SELECT id FROM clients WHERE tenant_id = ? ORDER BY id LIMIT 1`, tenantID).Scan(&clientID).Error; err != nil {
		return fmt.Errorf("read the tenant's clients: %w", err)
	}
	if len(users) == 0 || clientID == "" {
		return fmt.Errorf("tenant %q has no people or no client: run `tessera-bench seed` first", *tenant)
	}
	var have int64
	if err := db.Raw(`SELECT count(*) FROM sessions WHERE tenant_id = ? AND user_agent = ?`, tenantID, bulkAgent).Scan(&have).Error; err != nil {
		return err
	}
	res := BulkResult{Tenant: *tenant}
	now := time.Now().Unix()
	for missing := *n - int(have); missing > 0; {
		k := min(missing, bulkBatch)
		sessions := make([]store.Session, k)
		tokens := make([]store.RefreshToken, k)
		for i := range k {
			u := users[(int(have)+res.Added+i)%len(users)]
			s := &sessions[i]
			*s = store.Session{ID: store.NewID(), CookieHash: random(32), UserID: u, TenantID: tenantID, AuthTime: now,
				AMR: "pwd otp", ACR: "urn:tessera:acr:mfa", IP: "127.0.0.1", UserAgent: bulkAgent, CreatedAt: now,
				LastSeenAt: now, ExpiresAt: now + 7*24*3600, MFAAt: &now}
			tokens[i] = store.RefreshToken{ID: store.NewID(), TokenHash: random(32), FamilyID: store.NewID(), ClientID: clientID,
				TenantID: tenantID, UserID: u, Scopes: "openid profile offline_access", AuthTime: now, AMR: "pwd otp",
				ACR: "urn:tessera:acr:mfa", SessionID: s.ID, AuthRequestID: store.NewID(), CreatedAt: now,
				ExpiresAt: now + 30*24*3600, FamilyExpiresAt: now + 90*24*3600}
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.CreateInBatches(sessions, bulkBatch).Error; err != nil {
				return fmt.Errorf("insert sessions: %w", err)
			}
			if err := tx.CreateInBatches(tokens, bulkBatch).Error; err != nil {
				return fmt.Errorf("insert refresh tokens: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.Added += k
		missing -= k
		if res.Added%50_000 == 0 {
			fmt.Fprintf(stderr, "bulk: %d added, %d to go\n", res.Added, missing)
		}
	}
	res.BulkSessions = have + int64(res.Added)
	if err := db.Raw(`SELECT count(*) FROM sessions`).Scan(&res.Sessions).Error; err != nil {
		return err
	}
	if err := db.Raw(`SELECT count(*) FROM refresh_tokens`).Scan(&res.RefreshTokens).Error; err != nil {
		return err
	}
	if dialect == "postgres" {
		// Sizes as the planner sees them after the writes: VACUUM ANALYZE settles the visibility
		// map and statistics, so the figure does not depend on autovacuum's timing.
		for _, t := range []string{"sessions", "refresh_tokens"} {
			if err := db.Exec("VACUUM ANALYZE " + t).Error; err != nil {
				return err
			}
		}
		if err := db.Raw(`SELECT pg_total_relation_size('sessions')`).Scan(&res.SessionsBytes).Error; err != nil {
			return err
		}
		if err := db.Raw(`SELECT pg_total_relation_size('refresh_tokens')`).Scan(&res.RefreshBytes).Error; err != nil {
			return err
		}
		if res.Sessions > 0 {
			res.BytesPerSession = float64(res.SessionsBytes+res.RefreshBytes) / float64(res.Sessions)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// openBulkDB opens the database Tessera uses, by the same URL forms (sqlite:PATH, postgres://).
func openBulkDB(raw string) (*gorm.DB, string, error) {
	cfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true}
	switch {
	case strings.HasPrefix(raw, "sqlite:") && len(raw) > len("sqlite:") && !strings.Contains(raw, ":memory:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		// The pool is opened here so the DSN is exactly this one (the dialector's Open adds
		// parameters of its own); modernc.org/sqlite registers the driver name "sqlite".
		sqlDB, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_time_format=sqlite")
		if err != nil {
			return nil, "", err
		}
		db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), cfg)
		if err != nil {
			sqlDB.Close()
		}
		return db, "sqlite", err
	case strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://"):
		db, err := gorm.Open(postgres.Open(raw), cfg)
		return db, "postgres", err
	}
	return nil, "", usageError{"--database must be sqlite:PATH or postgres://user@host:5432/dbname (the database Tessera serves from)"}
}
