package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libtnb/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors callers can test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
	// ErrReplayed marks a one-time credential (authorization code, rotated refresh token) that was
	// presented a second time.
	ErrReplayed = errors.New("store: credential already used")
)

// Store is the handle every other package uses to reach the database.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect string
	path    string // SQLite file
	now     func() time.Time

	accessTTL atomic.Int64 // see SetAccessTokenTTL
	trace     atomic.Pointer[StatementTrace]
	cacheTTL  atomic.Int64 // see SetCacheTTL
	tenants   sync.Map     // tenant id → cachedTenant
	heads     sync.Map     // tenant ids whose audit chain head row is known to exist
	traceOnce sync.Once
	stmts     sync.Map // query text → *sql.Stmt (SQLite; pgx caches statements itself)
}

// Open connects to the database named by driver ("sqlite" or "postgres") and dsn. It does not
// migrate; call Migrate for that.
func Open(driver, dsn string) (*Store, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		// No gorm statement cache: pgx caches prepared statements itself (gorm's cache on top
		// doubled the round trips of a refresh on PostgreSQL), and on SQLite it measured no gain.
		PrepareStmt: false,
		NowFunc:     func() time.Time { return time.Now().UTC() },
	}
	var (
		db  *gorm.DB
		err error
	)
	switch driver {
	case "sqlite":
		if dsn != "" && dsn != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
				return nil, fmt.Errorf("store: create the database directory: %w", err)
			}
		}
		// Switching a new file to WAL needs a lock that the busy timeout does not cover, so
		// processes opening the same file at once take turns.
		unlock := func() {}
		if dsn != "" && dsn != ":memory:" {
			if unlock, err = lockFile(dsn + ".migrate-lock"); err != nil {
				return nil, fmt.Errorf("store: lock the database file: %w", err)
			}
		}
		db, err = openSQLite(sqliteDSN(dsn), cfg)
		unlock()
	case "postgres":
		db, err = gorm.Open(postgres.Open(dsn), cfg)
		if err == nil {
			var sqlDB *sql.DB
			if sqlDB, err = db.DB(); err == nil {
				sqlDB.SetMaxOpenConns(20)
				sqlDB.SetMaxIdleConns(20)
				sqlDB.SetConnMaxIdleTime(5 * time.Minute)
			}
		}
	default:
		return nil, fmt.Errorf("store: unknown database driver %q (want sqlite or postgres)", driver)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s database: %w", driver, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	st := &Store{db: db, sqlDB: sqlDB, dialect: driver, now: time.Now}
	if driver == "sqlite" {
		st.path = dsn
	}
	return st, nil
}

// walCheckpointPages is how long SQLite's write-ahead log may grow (in 4 KiB pages, ~40 MB) before
// a commit copies it back into the database file. SQLite's default of 1,000 pages made every
// ~170th refresh-token rotation pay a checkpoint that rewrote the same index pages again; at
// 10,000 a hot page is copied back once for ten times as many commits. Measured back to back
// (BENCHMARKS.md, session 4): refresh at c=8 0.545 → 0.496 server CPU-ms, p95 17 → 7 ms.
const walCheckpointPages = 10000

// sqliteDSN turns a path into a DSN with the pragmas every connection needs: WAL so readers do
// not block the writer, a busy timeout so concurrent writers wait instead of failing, foreign
// keys on, and transactions that take the write lock when they begin. _time_format=sqlite writes a
// time.Time as "2006-01-02 15:04:05.999999999-07:00" (modernc.org/sqlite's default is
// time.Time.String, which other SQLite tools do not read).
func sqliteDSN(path string) string {
	pragmas := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=wal_autocheckpoint(" + strconv.Itoa(walCheckpointPages) + ")&_txlock=immediate&_time_format=sqlite"
	if path == ":memory:" || path == "" {
		// A shared in-memory database, so every pooled connection sees the same tables.
		return "file:tessera-mem-" + randomID()[:12] + "?mode=memory&cache=shared&" + pragmas
	}
	if strings.Contains(path, "?") {
		return path + "&" + pragmas
	}
	return "file:" + path + "?" + pragmas
}

// openSQLite opens the pool with modernc.org/sqlite and hands it to gorm. The pool is opened here
// rather than by the dialector so that the DSN is exactly sqliteDSN's (the dialector's own Open
// would add _texttotime and _inttotime, which turn date-shaped text into time.Time). The driver
// keeps each statement compiled in its driver statement, so the *sql.Stmt queryRow keeps per
// query skips SQLite's parser after the first use on a connection.
func openSQLite(dsn string, cfg *gorm.Config) (*gorm.DB, error) {
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// SQLite has one writer at a time; a small pool keeps readers concurrent under WAL while
	// writers queue on the busy timeout rather than on Go's pool.
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), cfg)
	if err == nil {
		err = sqlDB.Ping()
	}
	if err != nil {
		sqlDB.Close()
		return nil, err
	}
	return db, nil
}

// Dialect reports "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// SetClock replaces the store's clock; tests use it to move time.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func (s *Store) unix() int64 { return s.now().Unix() }

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close releases the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Migrate applies every pending migration from fsys (one folder per dialect). On PostgreSQL a
// session advisory lock serialises nodes that start at once; on SQLite (one host) an exclusive
// lock on a file beside the database does.
func (s *Store) Migrate(ctx context.Context, fsys fs.FS) error {
	dir, err := fs.Sub(fsys, s.dialect)
	if err != nil {
		return err
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	// Out-of-order: features are built on parallel branches, so a lower-numbered migration may
	// land after a higher one; each is applied once all the same.
	opts := []goose.ProviderOption{goose.WithLogger(gooseLogger{}), goose.WithAllowOutofOrder(true)}
	dialect := goose.DialectSQLite3
	if s.dialect == "postgres" {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 120))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	if s.dialect == "sqlite" && s.path != "" && s.path != ":memory:" {
		unlock, err := lockFile(s.path + ".migrate-lock")
		if err != nil {
			return fmt.Errorf("store: lock for migration: %w", err)
		}
		defer unlock()
	}
	p, err := goose.NewProvider(dialect, sqlDB, dir, opts...)
	if err != nil {
		return fmt.Errorf("store: load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		slog.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

type gooseLogger struct{}

func (gooseLogger) Printf(format string, v ...any) { slog.Debug(fmt.Sprintf(format, v...)) }
func (gooseLogger) Fatalf(format string, v ...any) { slog.Error(fmt.Sprintf(format, v...)) }

// tx runs fn in one transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	s.tracedTx()
	return s.db.WithContext(ctx).Transaction(fn)
}

// query is a hot-path statement run without gorm: its reflection and callbacks cost more than the
// statement itself on the requests every client repeats. Placeholders are written "?" and
// rewritten once for PostgreSQL.
type query struct {
	sql string

	once sync.Once
	pg   string
}

func (q *query) text(dialect string) string {
	if dialect != "postgres" {
		return q.sql
	}
	q.once.Do(func() {
		var b strings.Builder
		n := 0
		for _, c := range q.sql {
			if c == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(c)
		}
		q.pg = b.String()
	})
	return q.pg
}

// prepared returns the pool's prepared statement for text on SQLite, preparing it once (database/sql
// prepares it again on each connection as needed, and modernc.org/sqlite keeps it compiled, so
// SQLite parses it once per connection); nil on PostgreSQL, whose driver (pgx) keeps its own
// per-connection statement cache, and when preparing fails (the caller then runs the text).
func (s *Store) prepared(ctx context.Context, text string) *sql.Stmt {
	if s.dialect == "postgres" {
		return nil
	}
	if st, ok := s.stmts.Load(text); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.sqlDB.PrepareContext(ctx, text)
	if err != nil {
		return nil
	}
	if prev, loaded := s.stmts.LoadOrStore(text, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st
}

// queryRow runs q on the pool.
func (s *Store) queryRow(ctx context.Context, q *query, args ...any) *sql.Row {
	text := q.text(s.dialect)
	s.traced(ctx, text)
	if st := s.prepared(ctx, text); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.sqlDB.QueryRowContext(ctx, text, args...)
}

// queryRows runs q on the pool; the caller closes the rows.
func (s *Store) queryRows(ctx context.Context, q *query, args ...any) (*sql.Rows, error) {
	text := q.text(s.dialect)
	s.traced(ctx, text)
	if st := s.prepared(ctx, text); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.sqlDB.QueryContext(ctx, text, args...)
}

// isUnique reports whether err is a unique-constraint violation on either backend.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505") ||
		strings.Contains(msg, "duplicate key value")
}

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// ExecRaw runs one SQL statement as written. It exists for maintenance and for tests that must
// tamper with rows (the audit chain's); application code uses the typed methods.
func (s *Store) ExecRaw(ctx context.Context, query string, args ...any) error {
	return s.db.WithContext(ctx).Exec(query, args...).Error
}
