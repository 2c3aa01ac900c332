package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

// TestCLIProviderPasskeyAttestation: tenant create and update set whether providers' passkeys
// need a verified attestation and which authenticator models (AAGUIDs) are allowed; AAGUIDs are
// read in any case and hyphenation and stored canonical; a list without required attestation,
// a malformed AAGUID and an unknown policy are refused (exit 2, nothing written); "" clears the
// list; other updates leave it alone; every change is audited.
func TestCLIProviderPasskeyAttestation(t *testing.T) {
	c := newCLI(t)
	const yubi = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
	const titan = "42b4fb4a-2866-43b2-9bf7-6c6669c2e5d3"
	id := c.ok("", "tenant", "create", "--name", "Riverside Health", "--provider-passkey-attestation", "required",
		"--provider-passkey-aaguid", strings.ToUpper(yubi), "--provider-passkey-aaguid", strings.ReplaceAll(titan, "-", ""))["id"].(string)
	tenant := func() *store.Tenant {
		t.Helper()
		tn, err := c.store().TenantByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	if tn := tenant(); tn.ProviderPasskeyAttestation != "required" || tn.ProviderPasskeyAAGUIDs != yubi+" "+titan {
		t.Fatalf("after create: %q %q", tn.ProviderPasskeyAttestation, tn.ProviderPasskeyAAGUIDs)
	}
	tn := tenant()
	if req, list := tn.PasskeyAttestation(store.RoleProvider); !req || len(list) != 2 {
		t.Errorf("provider: %v %v", req, list)
	}
	if req, list := tn.PasskeyAttestation(store.RoleAdmin); !req || len(list) != 2 {
		t.Errorf("admin: %v %v", req, list)
	}
	if req, list := tn.PasskeyAttestation(store.RolePatient); req || list != nil {
		t.Errorf("patients are never asked for attestation: %v %v", req, list)
	}

	c.ok("", "tenant", "update", "--tenant", id, "--passkey-mfa-days", "30")
	if tn := tenant(); tn.ProviderPasskeyAAGUIDs != yubi+" "+titan {
		t.Fatalf("an update without the flags changed the list: %q", tn.ProviderPasskeyAAGUIDs)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--provider-passkey-attestation", "direct"}, `--provider-passkey-attestation "direct": use required or none`},
		{[]string{"--provider-passkey-aaguid", "yubikey"}, `--provider-passkey-aaguid "yubikey": use an authenticator's AAGUID`},
		{[]string{"--provider-passkey-attestation", "none", "--provider-passkey-aaguid", yubi}, "needs --provider-passkey-attestation required"},
	} {
		code, out, errs := c.run("", append([]string{"tenant", "update", "--tenant", id}, bad.args...)...)
		if code != 2 || out != "" || !strings.Contains(errs, bad.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", bad.args, code, errs, bad.want)
		}
	}
	code, _, errs := c.run("", "tenant", "create", "--name", "Lakeside", "--provider-passkey-aaguid", yubi)
	if code != 2 || !strings.Contains(errs, "needs --provider-passkey-attestation required") {
		t.Errorf("a list without attestation on create: exit %d %q", code, errs)
	}
	if tn := tenant(); tn.ProviderPasskeyAttestation != "required" || tn.ProviderPasskeyAAGUIDs != yubi+" "+titan {
		t.Fatalf("a refused update wrote: %+v", tn)
	}
	c.ok("", "tenant", "update", "--tenant", id, "--provider-passkey-aaguid", "")
	if tn := tenant(); tn.ProviderPasskeyAttestation != "required" || tn.ProviderPasskeyAAGUIDs != "" {
		t.Fatalf(`"" does not clear the list: %+v`, tn)
	}
	c.ok("", "tenant", "update", "--tenant", id, "--provider-passkey-aaguid", yubi)
	c.ok("", "tenant", "update", "--tenant", id, "--provider-passkey-attestation", "none")
	if tn := tenant(); tn.ProviderPasskeyAttestation != "none" || tn.ProviderPasskeyAAGUIDs != "" {
		t.Fatalf("attestation none keeps no list: %+v", tn)
	}
	_, out, _ := c.run("", "audit", "export")
	if !strings.Contains(out, `provider_passkey_attestation=required provider_passkey_aaguids=\"`+yubi+" "+titan) {
		t.Errorf("the audit trail does not record the attestation policy")
	}
}
