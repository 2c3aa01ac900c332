package main

import (
	"context"
	"io"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/audit"
)

// userUnlock clears a lock set by too many wrong codes. Only an administrator of the tenant may
// do it (seed 002); from the command line that is whoever runs the server.
func userUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("user unlock", stderr)
	var ref, email string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&email, "email", "", "the person's email address (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if email == "" {
		return usagef("--email is required")
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := personByEmail(ctx, st, t, "email", email)
	if err != nil {
		return err
	}
	box, err := c.box(ctx, st) // before the change: no unlock that could not be audited
	if err != nil {
		return err
	}
	// The same operation as the admin console's and API's, audited with the actor "cli".
	svc := admin.New(st, audit.New(st, box.Hasher("audit-chain")), nil)
	was, err := svc.Unlock(ctx, admin.Actor{TenantID: t.ID, UserID: "cli"}, u.ID)
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"id": u.ID, "was_locked": was})
}
