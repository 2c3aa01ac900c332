package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/proxy"
	"github.com/tessera-health/tessera/internal/store"
)

// The administrator's side of caregiver (proxy) access: a grant for a minor or a guardianship,
// with a recorded reason; revocation; the list; and a tenant's named scope sets for limited
// grants. Patients invite caregivers from the account console.

// proxyService is the proxy service over the command's database, auditing as "cli".
func (c *command) proxyService(ctx context.Context, st *store.Store) (*proxy.Service, error) {
	if _, err := c.box(ctx, st); err != nil { // before any change: nothing that could not be audited
		return nil, err
	}
	return &proxy.Service{St: st, Audit: func(ctx context.Context, e *store.AuditEvent) error {
		return c.record(ctx, st, e)
	}}, nil
}

// personByEmail finds a tenant's user by email, naming the flag when there is none.
func personByEmail(ctx context.Context, st *store.Store, t *store.Tenant, flag, email string) (*store.User, error) {
	if strings.TrimSpace(email) == "" {
		return nil, usagef("--%s is required (the person's email address)", flag)
	}
	u, err := st.UserByEmail(ctx, t.ID, strings.TrimSpace(email))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("--%s: tenant %q has no user with the email %q (create one with `tessera user create`)", flag, t.Name, email)
	}
	return u, err
}

func proxyGrant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("proxy grant", stderr)
	var ref, patient, caregiver, access, set, expires, reason string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&patient, "patient", "", "the patient's email address (required)")
	c.fs.StringVar(&caregiver, "caregiver", "", "the caregiver's email address (required; they sign in with their own account)")
	c.fs.StringVar(&access, "access", "", "full (everything the application asks for) or limited (the scope set only) (required)")
	c.fs.StringVar(&set, "scope-set", "", "for --access limited: the tenant's scope set (default \""+proxy.DefaultScopeSet+"\")")
	c.fs.StringVar(&expires, "expires", "", "last day of the grant, YYYY-MM-DD (UTC); it ends at the following midnight")
	c.fs.StringVar(&reason, "reason", "", "why, for the record: \"parent of a minor\", \"court-appointed guardian\" (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if access != store.ProxyFull && access != store.ProxyLimited {
		return usagef("--access %q: use full or limited", access)
	}
	if set != "" && access != store.ProxyLimited {
		return usagef("--scope-set applies to --access limited only")
	}
	if strings.TrimSpace(reason) == "" {
		return usagef("--reason is required: it is recorded with the grant and in the audit trail")
	}
	var exp *time.Time
	if expires != "" {
		d, err := time.Parse("2006-01-02", expires)
		if err != nil {
			return usagef("--expires %q: use YYYY-MM-DD", expires)
		}
		end := d.AddDate(0, 0, 1) // through the whole last day
		exp = &end
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := personByEmail(ctx, st, t, "patient", patient)
	if err != nil {
		return err
	}
	cg, err := personByEmail(ctx, st, t, "caregiver", caregiver)
	if err != nil {
		return err
	}
	svc, err := c.proxyService(ctx, st)
	if err != nil {
		return err
	}
	g, err := svc.Grant(ctx, proxy.GrantInput{TenantID: t.ID, PatientID: p.ID, CaregiverID: cg.ID, Access: access,
		ScopeSet: set, ExpiresAt: exp, Reason: reason, ActorID: "cli"})
	switch {
	case errors.Is(err, proxy.ErrSelf):
		return usagef("--patient and --caregiver are the same person")
	case errors.Is(err, proxy.ErrPast):
		return usagef("--expires %s has passed", expires)
	case errors.Is(err, proxy.ErrScopeSet):
		return fmt.Errorf("--scope-set %q: the tenant has no such scope set (define it with `tessera proxy scopes`)", set)
	case err != nil:
		return err
	}
	return printJSON(stdout, map[string]any{"id": g.ID})
}

func proxyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("proxy revoke", stderr)
	var ref, id string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&id, "id", "", "the grant's id, as `proxy grant` or `proxy list` printed it (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if id == "" {
		return usagef("--id is required")
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := c.proxyService(ctx, st)
	if err != nil {
		return err
	}
	if err := svc.Revoke(ctx, t.ID, id, "cli"); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tenant %q has no grant %q in force (already revoked, or never made)", t.Name, id)
	} else if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"id": id, "revoked": true})
}

// proxyList prints one JSON object per grant (JSON lines), newest first.
func proxyList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("proxy list", stderr)
	var ref string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	gs, err := st.ProxyGrants(ctx, t.ID)
	if err != nil {
		return err
	}
	now := st.Now().Unix()
	emails := map[string]string{}
	email := func(id string) string {
		if e, ok := emails[id]; ok {
			return e
		}
		if u, err := st.UserByID(ctx, id); err == nil {
			emails[id] = u.Email
		}
		return emails[id]
	}
	for _, g := range gs {
		out := map[string]any{"id": g.ID, "patient": email(g.PatientID), "caregiver": email(g.CaregiverID),
			"access": g.Access, "reason": g.Reason, "created_by": g.CreatedBy,
			"created_at": time.Unix(g.CreatedAt, 0).UTC().Format(time.RFC3339), "active": g.ActiveAt(now)}
		if g.ScopeSet != "" {
			out["scope_set"] = g.ScopeSet
		}
		if g.ExpiresAt != nil {
			out["expires_at"] = time.Unix(*g.ExpiresAt, 0).UTC().Format(time.RFC3339)
		}
		if g.RevokedAt != nil {
			out["revoked_at"] = time.Unix(*g.RevokedAt, 0).UTC().Format(time.RFC3339)
			out["revoked_by"] = g.RevokedBy
		}
		if err := printJSON(stdout, out); err != nil {
			return err
		}
	}
	return nil
}

// proxyScopes defines a tenant's named scope set for limited grants (the built-in "limited" set
// is used until a tenant defines its own of that name).
func proxyScopes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("proxy scopes", stderr)
	var ref, name, scopes string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&name, "name", proxy.DefaultScopeSet, "the set's name")
	c.fs.StringVar(&scopes, "scopes", "", `resource scopes, space-separated: "patient/Appointment.read patient/Communication.*" (required)`)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return usagef("--name is required")
	}
	if !proxy.ValidScopeSet(scopes) {
		return usagef("--scopes %q: give resource scopes such as patient/Appointment.read, space-separated", scopes)
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := c.proxyService(ctx, st)
	if err != nil {
		return err
	}
	if err := svc.DefineScopeSet(ctx, t.ID, name, scopes, "cli"); err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"name": strings.TrimSpace(name), "scopes": strings.Join(strings.Fields(scopes), " ")})
}
