package registry_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor/backupcode"
	"github.com/tessera-health/tessera/internal/factor/otp"
	"github.com/tessera-health/tessera/internal/factor/registry"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

func box(t *testing.T) *secret.Box {
	b, err := secret.NewBox(bytes.Repeat([]byte{9}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAMR: every factor contributes the RFC 8176 values DESIGN.md lists for it.
func TestAMR(t *testing.T) {
	out := &delivery.Outbox{}
	r, err := registry.New(registry.Deps{Store: storetest.OpenSQLite(t), Box: box(t), Email: out, SMS: out, Voice: out})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		policy.TOTP:       "otp",
		policy.SMS:        "sms",
		policy.Voice:      "tel",
		policy.Email:      "otp",
		policy.BackupCode: "otp",
	}
	if got := r.Kinds(); len(got) != len(want) {
		t.Errorf("kinds = %v", got)
	}
	for kind, amr := range want {
		t.Run(kind, func(t *testing.T) {
			f, ok := r.Get(kind)
			if !ok {
				t.Fatal("not registered")
			}
			if got := f.AMR(); !slices.Equal(got, []string{amr}) {
				t.Errorf("amr = %v, want [%s]", got, amr)
			}
			if f.PhishingResistant() {
				t.Error("a code factor claims phishing resistance")
			}
			if f.Kind() != kind {
				t.Errorf("registered under %s but says %s", kind, f.Kind())
			}
		})
	}
}

func TestChannelsNeedSenders(t *testing.T) {
	r, err := registry.New(registry.Deps{Store: storetest.OpenSQLite(t), Box: box(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Kinds(); !slices.Equal(got, []string{policy.BackupCode, policy.TOTP}) {
		t.Errorf("without senders: %v", got)
	}
}

func TestOptions(t *testing.T) {
	st := storetest.OpenSQLite(t)
	out := &delivery.Outbox{}
	r, err := registry.New(registry.Deps{Store: st, Box: box(t), SMS: out, SMSCodes: otp.Options{TTL: 5 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := r.Get(policy.SMS)
	if ttl := f.(*otp.Channel).TTL(); ttl != 5*time.Minute {
		t.Errorf("configured SMS lifetime = %v", ttl)
	}
	if _, err := registry.New(registry.Deps{Store: st, Box: box(t), SMS: out, SMSCodes: otp.Options{TTL: -time.Minute}}); err == nil {
		t.Error("a negative lifetime was accepted")
	}
	if _, err := registry.New(registry.Deps{Box: box(t)}); err == nil {
		t.Error("no store was accepted")
	}
}

// TestHashPurposes: codes made by factors from the registry are recognised by factors wired the
// way the server did before it (the purposes are part of the stored data).
func TestHashPurposes(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	b := box(t)
	tn := &store.Tenant{Name: "R"}
	st.CreateTenant(ctx, tn)
	u := &store.User{TenantID: tn.ID, Email: "r@example.org", Role: store.RolePatient}
	st.CreateUser(ctx, u)
	r, err := registry.New(registry.Deps{Store: st, Box: b})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := r.Get(policy.BackupCode)
	codes, err := f.(*backupcode.Codes).Generate(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := backupcode.New(st, b.Hasher("backup-code")).Use(ctx, u.ID, codes[0]); err != nil {
		t.Errorf("a code from the registry's factor: %v", err)
	}
}

// TestPasskeys: with an issuer on a host name the registry has passkeys, phishing resistant,
// swk and user (hwk for attested hardware is per passkey); on an IP address there are none.
func TestPasskeys(t *testing.T) {
	r, err := registry.New(registry.Deps{Store: storetest.OpenSQLite(t), Box: box(t), Issuer: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := r.Get(policy.Passkey)
	if !ok || !f.PhishingResistant() || !slices.Equal(f.AMR(), []string{"swk", "user"}) {
		t.Fatalf("passkey factor: %v %v", ok, f)
	}
	if _, err := registry.New(registry.Deps{Store: storetest.OpenSQLite(t), Box: box(t), Issuer: "http://127.0.0.1:8080"}); err == nil {
		t.Error("passkeys on an IP address")
	}
}
