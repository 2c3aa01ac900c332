package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/store"
)

// SMART App Launch and back-channel logout settings of clients and people: the flags client
// create and client update share, and `client update` / `user update`.

// clientSMART holds the flags for allowed scopes and back-channel logout.
type clientSMART struct {
	scope          multi
	scopes         string
	logoutURI      string
	sessionRequire string
}

func (f *clientSMART) register(c *command) {
	c.fs.Var(&f.scope, "scope", "a scope the client may be granted (repeatable), e.g. openid, fhirUser, launch/patient, offline_access, patient/*.rs, user/Observation.read; without any, the standard OpenID scopes; admin:read and admin:write grant a service client the admin API")
	c.fs.StringVar(&f.scopes, "scopes", "", `the allowed scopes as one space-separated list ("" clears the list), e.g. "openid fhirUser launch/patient patient/*.rs"`)
	c.fs.StringVar(&f.logoutURI, "backchannel-logout-uri", "", "where Tessera POSTs a logout token when a session this client signed in to ends (OpenID Connect Back-Channel Logout); \"\" for none")
	c.fs.StringVar(&f.sessionRequire, "backchannel-logout-session-required", "", "on: the client needs sid in logout tokens (Tessera always sends it)")
}

// apply validates the flags that were given and returns the settings they change.
func (f *clientSMART) apply(c *command, typ string) (store.ClientChanges, error) {
	var out store.ClientChanges
	if c.set("scope") || c.set("scopes") {
		list := append(strings.Fields(f.scopes), f.scope...)
		var clean []string
		admin := store.StringList{}
		for _, s := range list {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "admin:") && !slices.Contains(store.AdminScopes, s) {
				return out, usagef("--scope %q: the admin API's scopes are admin:read and admin:write; use admin:read or admin:write", s)
			}
			if slices.Contains(store.AdminScopes, s) { // the admin API's: granted, and to services only
				if typ != store.ClientService {
					return out, usagef("--scope %s: only a service client (--type service) may be granted admin scopes", s)
				}
				if !slices.Contains(admin, s) {
					admin = append(admin, s)
				}
				continue
			}
			if !oidcop.ValidScope(s) {
				return out, usagef("--scope %q: not a scope (examples: openid, fhirUser, launch/patient, patient/*.rs, user/Observation.read)", s)
			}
			if !slices.Contains(clean, s) {
				clean = append(clean, s)
			}
		}
		if len(clean) > 0 && !slices.Contains(clean, "openid") && typ != store.ClientService {
			clean = append([]string{"openid"}, clean...) // a person's sign-in is always OpenID Connect
		}
		out.Scopes = &admin
		if len(clean) > 0 || len(admin) == 0 {
			joined := strings.Join(clean, " ")
			out.AllowedScopes = &joined
		}
	}
	if c.set("backchannel-logout-uri") {
		uri := strings.TrimSpace(f.logoutURI)
		if uri != "" {
			if typ == store.ClientService {
				return out, usagef("a service client signs nobody in: it takes no --backchannel-logout-uri")
			}
			if err := oidcop.ValidateRedirectURI(uri); err != nil {
				return out, usagef("--backchannel-logout-uri %v", err)
			}
		}
		out.BackchannelLogoutURI = &uri
	}
	if c.set("backchannel-logout-session-required") {
		on, err := onOff("backchannel-logout-session-required", f.sessionRequire)
		if err != nil {
			return out, err
		}
		out.BackchannelLogoutSessionRequired = &on
	}
	return out, nil
}

// applySettings copies the settings into a client about to be created.
func applySettings(cl *store.Client, s store.ClientChanges) {
	if s.AllowedScopes != nil {
		cl.AllowedScopes = *s.AllowedScopes
	}
	if s.BackchannelLogoutURI != nil {
		cl.BackchannelLogoutURI = *s.BackchannelLogoutURI
	}
	if s.Scopes != nil {
		cl.Scopes = *s.Scopes
	}
	if s.BackchannelLogoutSessionRequired != nil {
		cl.BackchannelLogoutSessionRequired = *s.BackchannelLogoutSessionRequired
	}
}

// settingsSummary says what changed, for the audit detail (no secrets in these).
func settingsSummary(s store.ClientChanges) string {
	var parts []string
	if s.AllowedScopes != nil {
		parts = append(parts, "scopes="+*s.AllowedScopes)
	}
	if s.Scopes != nil && len(*s.Scopes) > 0 {
		parts = append(parts, "admin_scopes="+strings.Join(*s.Scopes, ","))
	}
	if s.BackchannelLogoutURI != nil {
		parts = append(parts, "backchannel_logout_uri="+*s.BackchannelLogoutURI)
	}
	if s.BackchannelLogoutSessionRequired != nil {
		parts = append(parts, fmt.Sprintf("backchannel_logout_session_required=%v", *s.BackchannelLogoutSessionRequired))
	}
	if s.RedirectURIs != nil {
		parts = append(parts, "redirect_uris="+strings.Join(*s.RedirectURIs, ","))
	}
	if s.PostLogoutRedirectURIs != nil {
		parts = append(parts, "post_logout_redirect_uris="+strings.Join(*s.PostLogoutRedirectURIs, ","))
	}
	return strings.Join(parts, " ")
}

// clientUpdate changes a client's allowed scopes, back-channel logout and redirect URIs.
func clientUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("client update", stderr)
	var ref, id string
	var smart clientSMART
	var redirects, postLogout multi
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&id, "client", "", "the client_id (required)")
	c.fs.Var(&redirects, "redirect-uri", "replaces the redirect URIs (repeatable)")
	c.fs.Var(&postLogout, "post-logout-redirect-uri", "replaces the post-logout redirect URIs (repeatable)")
	smart.register(c)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if id == "" {
		return usagef("--client is required")
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	cl, err := st.ClientByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cl.TenantID != t.ID) {
		return fmt.Errorf("tenant %q has no client %q", t.Name, id)
	} else if err != nil {
		return err
	}
	set, err := smart.apply(c, cl.Type)
	if err != nil {
		return err
	}
	for _, u := range append(append([]string{}, redirects...), postLogout...) {
		if err := oidcop.ValidateRedirectURI(u); err != nil {
			return usagef("redirect URI %v", err)
		}
	}
	if len(redirects) > 0 {
		if cl.Type == store.ClientService {
			return usagef("a service client signs nobody in: it takes no --redirect-uri")
		}
		l := store.StringList(redirects)
		set.RedirectURIs = &l
	}
	if len(postLogout) > 0 {
		l := store.StringList(postLogout)
		set.PostLogoutRedirectURIs = &l
	}
	summary := settingsSummary(set)
	if summary == "" {
		return usagef("nothing to change: give --scope, --scopes, --backchannel-logout-uri, --backchannel-logout-session-required, --redirect-uri or --post-logout-redirect-uri")
	}
	if _, err := c.box(ctx, st); err != nil { // no change that could not be audited
		return err
	}
	if err := st.UpdateClient(ctx, cl.TenantID, cl.ID, set); err != nil {
		return err
	}
	if err := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "client.updated", ClientID: cl.ID, Detail: summary}); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"client_id": cl.ID})
}

// userUpdate changes a person's fhirUser.
func userUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("user update", stderr)
	var ref, email, fhirUser string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&email, "email", "", "the person's email address (required)")
	c.fs.StringVar(&fhirUser, "fhir-user", "", `the person's FHIR resource for the fhirUser claim (Practitioner/123, Patient/456, RelatedPerson/7, or an https URL ending in one); "" clears it`)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if email == "" {
		return usagef("--email is required")
	}
	if !c.set("fhir-user") {
		return usagef("nothing to change: give --fhir-user")
	}
	fhirUser = strings.TrimSpace(fhirUser)
	if err := oidcop.ValidFHIRUser(fhirUser); err != nil {
		return usagef("--fhir-user %v", err)
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
	if _, err := c.box(ctx, st); err != nil { // no change that could not be audited
		return err
	}
	if err := st.SetFHIRUser(ctx, u.ID, fhirUser); err != nil {
		return err
	}
	if err := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "user.updated", SubjectID: u.ID, Detail: "fhir_user=" + fhirUser}); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"id": u.ID})
}
