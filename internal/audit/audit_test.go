package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestTamperDetected: an edited, a deleted, a reordered and a truncated chain are each reported
// at the right event; an untouched one verifies. Runs on SQLite and PostgreSQL.
func TestTamperDetected(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Name == "postgres" {
				storetest.PostgresURL(t)
			}
			cases := []struct {
				name   string
				tamper []string // SQL run against tenant t1's chain of 10 events; "" = untouched
				seq    int64
				what   string
			}{
				{"untouched", nil, 0, ""},
				{"edited", []string{"UPDATE audit_events SET result = 'ok' WHERE tenant_id = 't1' AND seq = 4"}, 4, "changed"},
				{"deleted", []string{"DELETE FROM audit_events WHERE tenant_id = 't1' AND seq = 6"}, 6, "missing"},
				{"reordered", []string{ // swap events #3 and #4, hashes and all
					"UPDATE audit_events SET seq = -3 WHERE tenant_id = 't1' AND seq = 3",
					"UPDATE audit_events SET seq = 3 WHERE tenant_id = 't1' AND seq = 4",
					"UPDATE audit_events SET seq = 4 WHERE tenant_id = 't1' AND seq = -3",
				}, 3, "does not follow"},
				{"truncated", []string{"DELETE FROM audit_events WHERE tenant_id = 't1' AND seq = 10"}, 10, "newest rows removed"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					st := b.Open(t)
					box, _ := secret.NewBox(bytes.Repeat([]byte{3}, 32))
					h := box.Hasher("audit-chain")
					log := audit.New(st, h)
					ctx := context.Background()
					for i := range 10 {
						log.Record(ctx, &store.AuditEvent{TenantID: "t1", Event: "login.password", Result: []string{"ok", "failed"}[i%2], SubjectID: "u1"})
						log.Record(ctx, &store.AuditEvent{TenantID: "t2", Event: "login.password", Result: "ok"})
					}
					for _, q := range tc.tamper {
						if err := st.ExecRaw(ctx, q); err != nil {
							t.Fatal(err)
						}
					}
					problems, n, err := audit.Verify(ctx, st, h, "")
					if err != nil {
						t.Fatal(err)
					}
					if tc.what == "" {
						if len(problems) != 0 || n != 20 {
							t.Fatalf("untouched chains: %v (%d checked)", problems, n)
						}
						return
					}
					if len(problems) != 1 || problems[0].TenantID != "t1" || problems[0].Seq != tc.seq || !strings.Contains(problems[0].What, tc.what) {
						t.Fatalf("got %v, want one problem at t1 #%d (%s)", problems, tc.seq, tc.what)
					}
				})
			}
		})
	}
}

// TestConcurrentAppends: appends from many goroutines (two nodes' worth) form one gapless chain.
func TestConcurrentAppends(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			box, _ := secret.NewBox(bytes.Repeat([]byte{3}, 32))
			log := audit.New(st, box.Hasher("audit-chain"))
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						log.Record(context.Background(), &store.AuditEvent{TenantID: "t1", Event: "x", Result: "ok"})
					}
				}()
			}
			wg.Wait()
			problems, n, err := audit.Verify(context.Background(), st, box.Hasher("audit-chain"), "t1")
			if err != nil || len(problems) != 0 || n != 80 {
				t.Fatalf("chain after concurrent appends: %v, %d events, %v", problems, n, err)
			}
		})
	}
}

// TestPurgeRefusesBrokenChain: a purge never erases the evidence of tampering. When the rows it
// would remove do not verify, it removes nothing and says so; verify still reports the row.
func TestPurgeRefusesBrokenChain(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			box, _ := secret.NewBox(bytes.Repeat([]byte{3}, 32))
			h := box.Hasher("audit-chain")
			log := audit.New(st, h)
			ctx := context.Background()
			old := time.Now().AddDate(-7, 0, 0)
			for i := range 5 {
				log.Record(ctx, &store.AuditEvent{TenantID: "t1", At: old.Unix() + int64(i), Event: "login.password", Result: "ok"})
			}
			log.Record(ctx, &store.AuditEvent{TenantID: "t1", Event: "login.password", Result: "ok"})
			if err := st.ExecRaw(ctx, "UPDATE audit_events SET result = 'failed' WHERE tenant_id = 't1' AND seq = 2"); err != nil {
				t.Fatal(err)
			}
			purged, err := log.Purge(ctx, time.Now().AddDate(-6, 0, 0))
			if !errors.Is(err, store.ErrAuditBroken) || len(purged) != 0 {
				t.Fatalf("purge of a broken chain: %v, %v", purged, err)
			}
			problems, _, _ := audit.Verify(ctx, st, h, "t1")
			if len(problems) != 1 || problems[0].Seq != 2 {
				t.Fatalf("verify after the refused purge: %v", problems)
			}
		})
	}
}
