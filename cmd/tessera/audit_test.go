package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
)

// auditSetup makes an installation whose tenant has a chain of administrator events (the
// tenant, then five people) and returns the tenant id and its chain's length.
func auditSetup(t *testing.T, c *cliEnv) (string, int64) {
	t.Helper()
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	for i := range 5 {
		c.ok("a long passphrase", "user", "create", "--tenant", tenantID, "--email", fmt.Sprintf("p%d@example.org", i), "--password-stdin")
	}
	heads, err := c.openStore().AuditHeads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if h.TenantID == tenantID {
			if h.Seq < 6 {
				t.Fatalf("the tenant's chain holds %d events, want at least 6", h.Seq)
			}
			return tenantID, h.Seq
		}
	}
	t.Fatalf("no audit chain for the tenant")
	return "", 0
}

// verifyFails runs `tessera audit verify` and demands a non-zero exit whose message and JSON
// name event #seq of the tenant as the first bad one.
func verifyFails(t *testing.T, c *cliEnv, tenantID string, seq int64, what string) {
	t.Helper()
	code, out, errs := c.run("", "audit", "verify")
	if code == 0 {
		t.Fatalf("audit verify passed a tampered trail: %s", out)
	}
	if !strings.Contains(errs, fmt.Sprintf("event #%d ", seq)) || !strings.Contains(errs, what) {
		t.Errorf("audit verify says %q, want event #%d named (%s)", errs, seq, what)
	}
	var res struct {
		OK       bool            `json:"ok"`
		Problems []audit.Problem `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout: %v: %q", err, out)
	}
	if res.OK || len(res.Problems) != 1 || res.Problems[0].TenantID != tenantID || res.Problems[0].Seq != seq {
		t.Errorf("audit verify reported %+v, want one problem at #%d of %s", res, seq, tenantID)
	}
}

// TestCLIAuditTamper: someone with write access to the database edits a row, deletes one,
// swaps two rows' contents, or deletes the newest: `tessera audit verify` exits non-zero and
// names the first bad event, on SQLite and PostgreSQL.
func TestCLIAuditTamper(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(last int64) []string
		seq    func(last int64) int64
		what   string
	}{
		{"edit", func(int64) []string {
			return []string{"UPDATE audit_events SET detail = 'nothing happened' WHERE tenant_id = '{t}' AND seq = 3"}
		}, func(int64) int64 { return 3 }, "changed"},
		{"delete", func(int64) []string {
			return []string{"DELETE FROM audit_events WHERE tenant_id = '{t}' AND seq = 4"}
		}, func(int64) int64 { return 4 }, "missing"},
		{"reorder", func(int64) []string { // swap the contents of #2 and #3, hashes and all
			return []string{
				"UPDATE audit_events SET seq = -2 WHERE tenant_id = '{t}' AND seq = 2",
				"UPDATE audit_events SET seq = 2 WHERE tenant_id = '{t}' AND seq = 3",
				"UPDATE audit_events SET seq = 3 WHERE tenant_id = '{t}' AND seq = -2",
			}
		}, func(int64) int64 { return 2 }, "does not follow"},
		{"delete latest", func(last int64) []string {
			return []string{fmt.Sprintf("DELETE FROM audit_events WHERE tenant_id = '{t}' AND seq = %d", last)}
		}, func(last int64) int64 { return last }, "newest rows removed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachImportBackend(t, func(t *testing.T, c *cliEnv) {
				tenantID, last := auditSetup(t, c)
				c.ok("", "audit", "verify")
				st := c.openStore()
				for _, q := range tc.tamper(last) {
					if err := st.ExecRaw(context.Background(), strings.ReplaceAll(q, "{t}", tenantID)); err != nil {
						t.Fatal(err)
					}
				}
				verifyFails(t, c, tenantID, tc.seq(last), tc.what)
			})
		})
	}
}

// TestCLIAuditPurge: `tessera audit purge` removes events older than the retention and the
// chain still verifies from its anchor; rows removed beyond the anchor, or an anchor moved by
// hand, are still reported.
func TestCLIAuditPurge(t *testing.T) {
	eachImportBackend(t, func(t *testing.T, c *cliEnv) {
		tenantID, _ := auditSetup(t, c) // events of today, kept
		st := c.openStore()
		key, err := secret.LoadOrCreateKey(c.key, false)
		if err != nil {
			t.Fatal(err)
		}
		box, _ := secret.NewBox(key)
		log := audit.New(st, box.Hasher("audit-chain"))
		ctx := context.Background()
		old := time.Now().AddDate(-7, 0, 0).Unix()
		for i := range 4 { // a second tenant whose first four events are seven years old
			log.Record(ctx, &store.AuditEvent{TenantID: "old-tenant", At: old + int64(i), Event: "login.password", Result: "ok"})
		}
		for range 3 {
			log.Record(ctx, &store.AuditEvent{TenantID: "old-tenant", Event: "login.password", Result: "ok"})
		}
		out := c.ok("", "audit", "purge")
		if out["purged"] != float64(4) {
			t.Fatalf("audit purge: %v, want 4 events purged", out)
		}
		if out := c.ok("", "audit", "verify"); out["ok"] != true {
			t.Fatalf("audit verify after the purge: %v", out)
		}
		if out := c.ok("", "audit", "purge"); out["purged"] != float64(0) {
			t.Errorf("a second purge removed more: %v", out)
		}
		// Events #5..#7 remain, then the purge's own record (#8). Removing #5 without moving
		// the anchor is a removed prefix.
		if err := st.ExecRaw(ctx, "DELETE FROM audit_events WHERE tenant_id = 'old-tenant' AND seq = 5"); err != nil {
			t.Fatal(err)
		}
		verifyFails(t, c, "old-tenant", 5, "missing")
		// Moving the anchor over the gap by hand is no way out: only the server's key seals it.
		if err := st.ExecRaw(ctx, "UPDATE audit_heads SET anchor_seq = 5, anchor_hash = (SELECT prev_hash FROM audit_events WHERE tenant_id = 'old-tenant' AND seq = 6) WHERE tenant_id = 'old-tenant'"); err != nil {
			t.Fatal(err)
		}
		verifyFails(t, c, "old-tenant", 5, "record of purged events was changed")
		_ = tenantID
	})
}
