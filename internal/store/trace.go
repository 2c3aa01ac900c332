package store

import (
	"context"
	"sync/atomic"

	"gorm.io/gorm"
)

// StatementTrace counts the SQL statements a store sends (gorm's and the hand-written hot
// paths', BEGIN and COMMIT/ROLLBACK counted as one "transaction" each), so tests and
// benchmarks can hold a flow to its statement budget. Tracing costs an atomic load per
// statement when off.
type StatementTrace struct {
	Statements   atomic.Int64
	Transactions atomic.Int64
	// OnStatement, when set, sees each statement's SQL (for debugging a budget).
	OnStatement func(sql string)
}

// Trace starts counting into tr (nil stops). Only one trace at a time.
func (s *Store) Trace(tr *StatementTrace) {
	s.trace.Store(tr)
	s.traceOnce.Do(func() {
		after := func(db *gorm.DB) {
			if t := s.trace.Load(); t != nil {
				t.Statements.Add(1)
				if t.OnStatement != nil {
					t.OnStatement(db.Statement.SQL.String())
				}
			}
		}
		cb := s.db.Callback()
		cb.Create().After("gorm:create").Register("tessera:trace", after)
		cb.Query().After("gorm:query").Register("tessera:trace", after)
		cb.Update().After("gorm:update").Register("tessera:trace", after)
		cb.Delete().After("gorm:delete").Register("tessera:trace", after)
		cb.Row().After("gorm:row").Register("tessera:trace", after)
		cb.Raw().After("gorm:raw").Register("tessera:trace", after)
	})
}

func (s *Store) traced(ctx context.Context, sql string) {
	if t := s.trace.Load(); t != nil {
		t.Statements.Add(1)
		if t.OnStatement != nil {
			t.OnStatement(sql)
		}
	}
}

func (s *Store) tracedTx() {
	if t := s.trace.Load(); t != nil {
		t.Transactions.Add(1)
	}
}
