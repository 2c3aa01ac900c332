package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/store"
)

// auditVerify checks every tenant's audit chain (or one) and exits non-zero when a row was
// changed, removed or reordered.
func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("audit verify", stderr)
	var ref string
	c.fs.StringVar(&ref, "tenant", "", "check only this tenant (id or name)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	tenantID, err := optionalTenant(ctx, st, ref)
	if err != nil {
		return err
	}
	box, err := c.box(ctx, st)
	if err != nil {
		return err
	}
	problems, checked, err := audit.Verify(ctx, st, box.Hasher("audit-chain"), tenantID)
	if err != nil {
		return err
	}
	if err := printJSON(stdout, map[string]any{"checked": checked, "problems": problems, "ok": len(problems) == 0}); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("the audit trail was tampered with: %s", problems[0])
	}
	return nil
}

// auditExport writes events as JSON lines, oldest first.
func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("audit export", stderr)
	var ref, from, to string
	c.fs.StringVar(&ref, "tenant", "", "export only this tenant (id or name)")
	c.fs.StringVar(&from, "from", "", "first day to export, YYYY-MM-DD (UTC, inclusive)")
	c.fs.StringVar(&to, "to", "", "last day to export, YYYY-MM-DD (UTC, inclusive)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	lo, hi := int64(0), int64(math.MaxInt64)
	if from != "" {
		d, err := time.Parse("2006-01-02", from)
		if err != nil {
			return usagef("--from %q: use a date like 2026-01-31", from)
		}
		lo = d.Unix()
	}
	if to != "" {
		d, err := time.Parse("2006-01-02", to)
		if err != nil {
			return usagef("--to %q: use a date like 2026-12-31", to)
		}
		hi = d.AddDate(0, 0, 1).Unix()
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	tenantID, err := optionalTenant(ctx, st, ref)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	var after int64
	for {
		batch, err := st.AuditRange(ctx, tenantID, lo, hi, after, 1000)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := enc.Encode(map[string]any{
				"id": e.ID, "tenant_id": e.TenantID, "seq": e.Seq, "at": time.Unix(e.At, 0).UTC().Format(time.RFC3339),
				"event": e.Event, "result": e.Result, "actor": e.ActorID, "subject": e.SubjectID, "client_id": e.ClientID,
				"ip": e.IP, "user_agent": e.UserAgent, "request_id": e.RequestID, "detail": e.Detail, "hash": e.Hash,
			}); err != nil {
				return err
			}
			after = e.ID
		}
		if len(batch) < 1000 {
			return nil
		}
	}
}

// optionalTenant resolves --tenant when given; "" means every tenant.
func optionalTenant(ctx context.Context, st *store.Store, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	t, err := tenant(ctx, st, ref)
	if err != nil {
		return "", err
	}
	return t.ID, nil
}

// auditPurge removes events older than the retention period (audit.retention_days, or
// --retention-days) from every tenant's chain, keeping each chain verifiable from its anchor.
// serve does the same every few hours; this is for operators who want it now.
func auditPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("audit purge", stderr)
	var days int
	c.fs.IntVar(&days, "retention-days", 0, "keep this many days instead of audit.retention_days")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if days == 0 {
		days = c.cfg.Audit.RetentionDays
	}
	if days < 1 {
		return usagef("--retention-days must be at least 1; got %d", days)
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	box, err := c.box(ctx, st)
	if err != nil {
		return err
	}
	before := time.Now().AddDate(0, 0, -days).UTC()
	purged, err := audit.New(st, box.Hasher("audit-chain")).Purge(ctx, before)
	var total int64
	for _, p := range purged {
		total += p.Events
	}
	if perr := printJSON(stdout, map[string]any{"before": before.Format(time.RFC3339), "purged": total, "tenants": purged}); perr != nil {
		return perr
	}
	return err
}
