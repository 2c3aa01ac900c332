// Package demo owns `serve --demo`: it seeds a demo tenant, a patient-portal client and two
// people, and serves a small relying party under /demo that signs in through Tessera exactly as
// an outside application would — discovery, code flow with PKCE, ID token verified against the
// published keys with coreos/go-oidc.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tessera-health/tessera/internal/store"
)

// Fixed demo identities, printed at start-up so a newcomer can sign in at once.
const (
	TenantName       = "Demo Health"
	PatientEmail     = "patient@demo.tessera.test"
	PatientPassword  = "demo-patient-pass"
	ProviderEmail    = "provider@demo.tessera.test"
	ProviderPassword = "demo-provider-pass"
	// The demo tenant's administrator, for the admin console (/admin); it is asked to set up a
	// second factor at its first sign-in there.
	AdminEmail    = "admin@demo.tessera.test"
	AdminPassword = "demo-admin-pass"
	ClientName    = "Demo Patient Portal"
)

// Hasher hashes client secrets and passwords as the server does.
type Hasher interface {
	Sum(string) string
}

// PasswordHasher hashes passwords.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
}

// Seeded is what Seed created or found.
type Seeded struct {
	TenantID     string
	ClientID     string
	ClientSecret string
}

// Seed creates the demo tenant, practice, client and users when they are missing. The client's
// secret is replaced at every start (only its hash is stored, and the demo RP needs the value).
func Seed(ctx context.Context, st *store.Store, secrets Hasher, pw PasswordHasher, issuer string) (*Seeded, error) {
	t, err := st.TenantByRef(ctx, TenantName)
	if errors.Is(err, store.ErrNotFound) {
		t = &store.Tenant{Name: TenantName, MFAMode: store.MFAOptional}
		err = st.CreateTenant(ctx, t)
	}
	if err != nil {
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	practice, err := st.PracticeByRef(ctx, t.ID, "Demo Family Practice")
	if errors.Is(err, store.ErrNotFound) {
		practice = &store.Practice{TenantID: t.ID, Name: "Demo Family Practice"}
		err = st.CreatePractice(ctx, practice)
	}
	if err != nil {
		return nil, fmt.Errorf("demo practice: %w", err)
	}
	people := []struct {
		email, password, name, given, family, role, phone string
	}{
		{PatientEmail, PatientPassword, "Pat Demo", "Pat", "Demo", store.RolePatient, "+12025550123"},
		{ProviderEmail, ProviderPassword, "Dr. Riley Demo", "Riley", "Demo", store.RoleProvider, ""},
		{AdminEmail, AdminPassword, "Alex Admin", "Alex", "Admin", store.RoleAdmin, ""},
	}
	for _, p := range people {
		if _, err := st.UserByEmail(ctx, t.ID, p.email); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		hash, err := pw.Hash(ctx, p.password)
		if err != nil {
			return nil, err
		}
		u := &store.User{TenantID: t.ID, PracticeID: &practice.ID, Email: p.email, EmailVerified: true, Name: p.name,
			GivenName: p.given, FamilyName: p.family, Role: p.role, Phone: p.phone, PhoneVerified: p.phone != "", PasswordHash: hash, Locale: "en"}
		if err := st.CreateUser(ctx, u); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", p.email, err)
		}
	}
	secret := randomSecret()
	c, err := st.ClientByName(ctx, t.ID, ClientName)
	if errors.Is(err, store.ErrNotFound) {
		c = &store.Client{TenantID: t.ID, Name: ClientName, Type: store.ClientWeb, FirstParty: true,
			RedirectURIs: []string{issuer + "/demo/callback"}, PostLogoutRedirectURIs: []string{issuer + "/demo"},
			SecretHash: secrets.Sum(secret)}
		err = st.CreateClient(ctx, c)
	} else if err == nil {
		err = st.SetClientSecretHash(ctx, c.ID, secrets.Sum(secret))
	}
	if err != nil {
		return nil, fmt.Errorf("demo client: %w", err)
	}
	return &Seeded{TenantID: t.ID, ClientID: c.ID, ClientSecret: secret}, nil
}

func randomSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
