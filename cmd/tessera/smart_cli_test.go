package main

import (
	"strings"
	"testing"
)

// TestSMARTClientAndUserCLI: allowed scopes and back-channel logout at client create and
// update (openid added, duplicates folded, bad scopes and URIs refused with exit 2), fhirUser
// at user create and update; every change lands in the row and the audit trail.
func TestSMARTClientAndUserCLI(t *testing.T) {
	c := newCLI(t)
	tn := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	out := c.ok("", "client", "create", "--tenant", tn, "--name", "Chart viewer", "--redirect-uri", "https://viewer.example.org/cb",
		"--scope", "fhirUser", "--scope", "launch/patient", "--scopes", "patient/*.rs user/Observation.read fhirUser",
		"--backchannel-logout-uri", "https://viewer.example.org/bcl", "--backchannel-logout-session-required", "on")
	id := out["client_id"].(string)
	st := c.store()
	ctx := t.Context()
	cl, err := st.ClientByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if cl.AllowedScopes != "openid patient/*.rs user/Observation.read fhirUser launch/patient" ||
		cl.BackchannelLogoutURI != "https://viewer.example.org/bcl" || !cl.BackchannelLogoutSessionRequired {
		t.Errorf("client row: scopes %q uri %q session %v", cl.AllowedScopes, cl.BackchannelLogoutURI, cl.BackchannelLogoutSessionRequired)
	}

	c.ok("", "client", "update", "--tenant", "Riverside Health", "--client", id, "--scopes", "openid patient/Observation.rs",
		"--backchannel-logout-uri", "")
	cl, _ = st.ClientByID(ctx, id)
	if cl.AllowedScopes != "openid patient/Observation.rs" || cl.BackchannelLogoutURI != "" {
		t.Errorf("after update: scopes %q uri %q", cl.AllowedScopes, cl.BackchannelLogoutURI)
	}
	c.ok("", "client", "update", "--tenant", tn, "--client", id, "--scopes", "")
	if cl, _ = st.ClientByID(ctx, id); cl.AllowedScopes != "" {
		t.Errorf("--scopes \"\" kept %q", cl.AllowedScopes)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"client", "update", "--tenant", tn, "--client", id, "--scope", "patient/Observation.sr"}, "not a scope"},
		{[]string{"client", "update", "--tenant", tn, "--client", id, "--backchannel-logout-uri", "http://viewer.example.org/bcl"}, "only https"},
		{[]string{"client", "update", "--tenant", tn, "--client", id}, "nothing to change"},
		{[]string{"client", "update", "--tenant", tn, "--client", id, "--backchannel-logout-session-required", "yes"}, "use on or off"},
		{[]string{"user", "create", "--tenant", tn, "--email", "x@example.org", "--fhir-user", "Observation/1", "--password-stdin"}, "--fhir-user"},
		{[]string{"user", "update", "--tenant", tn, "--email", "x@example.org"}, "nothing to change"},
	} {
		code, _, errs := c.run("correct horse battery staple", tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	if code, _, errs := c.run("", "client", "update", "--tenant", tn, "--client", "nope", "--scopes", "openid"); code != 1 || !strings.Contains(errs, "no client") {
		t.Errorf("unknown client: %d %s", code, errs)
	}
	if code, _, errs := c.run("", "user", "update", "--tenant", tn, "--email", "nobody@example.org", "--fhir-user", "Patient/1"); code != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("unknown user: %d %s", code, errs)
	}

	uid := c.ok("correct horse battery staple", "user", "create", "--tenant", tn, "--email", "doc@example.org", "--role", "provider",
		"--fhir-user", "Practitioner/123", "--password-stdin")["id"].(string)
	u, _ := st.UserByID(ctx, uid)
	if u.FHIRUser != "Practitioner/123" {
		t.Errorf("fhir_user = %q", u.FHIRUser)
	}
	c.ok("", "user", "update", "--tenant", tn, "--email", "doc@example.org", "--fhir-user", "https://fhir.example.org/r4/Practitioner/9")
	if u, _ = st.UserByID(ctx, uid); u.FHIRUser != "https://fhir.example.org/r4/Practitioner/9" {
		t.Errorf("after update fhir_user = %q", u.FHIRUser)
	}
	events, _ := st.AuditEvents(ctx, tn, "", 100)
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Event] = true
	}
	if !seen["client.updated"] || !seen["user.updated"] {
		t.Errorf("audit trail lacks client.updated or user.updated: %v", seen)
	}
}
