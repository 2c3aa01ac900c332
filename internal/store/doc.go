// Package store owns Tessera's persistent state and is the only package that talks SQL.
//
// It runs on the embedded SQLite default (a pure-Go driver, no C toolchain) and on PostgreSQL
// through gorm. Every node is stateless: auth requests, sessions, tokens, keys and the audit trail
// all live here, so a login may start on one node and finish on another.
//
// Conventions:
//   - times are Unix seconds (int64) in the database so comparisons behave identically on both
//     backends; the Go API speaks time.Time;
//   - secrets (refresh tokens, codes, session cookies, client secrets) arrive already hashed with
//     a keyed hash: the store never sees a usable credential;
//   - operations that must not interleave across nodes (code redemption, refresh rotation) are
//     single conditional UPDATEs checked by rows affected, never read-then-write;
//   - lookups of missing rows return ErrNotFound, unique-key clashes ErrConflict.
package store
