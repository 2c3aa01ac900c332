package keys_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tessera-health/tessera/internal/keys"
)

// idTokenClaims is an ID token the size Tessera issues with scopes openid profile email phone:
// about 700 bytes of JSON, about 1 KB once signed.
func idTokenClaims() []byte {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": "https://id.riverside-health.example", "sub": "0b7c6f0e-5d3a-4f7e-9c1a-2f8e6d4b3a21",
		"aud": []string{"3f1e9a7c-2b4d-4e6f-8a0c-1d2e3f4a5b6c"}, "azp": "3f1e9a7c-2b4d-4e6f-8a0c-1d2e3f4a5b6c",
		"exp": now + 900, "iat": now, "auth_time": now - 5, "nonce": "4f6a2c9e1b3d5f7a9c0e2b4d",
		"acr": "urn:tessera:acr:1fa", "amr": []string{"pwd"}, "sid": "7d2e4f6a-8b0c-4d1e-9f3a-5b7c9d1e3f5a",
		"at_hash": "Qm9vdHN0cmFwcGVkSGFzaA", "email": "Pat.Smith@example.org", "email_verified": true,
		"name": "Pat Smith", "given_name": "Pat", "family_name": "Smith",
		"phone_number": "+12025550123", "phone_number_verified": false, "locale": "en",
		"updated_at": now - 86400,
	}
	b, _ := json.Marshal(c)
	return b
}

// BenchmarkSignIDToken is what the token endpoint pays per JWT: the protocol library builds a
// go-jose signer from the key (op.SignerFromKey) for every token, signs the claims and
// serialises the compact form. The keys are the Manager's own (generated, sealed, stored,
// opened), so this is exactly the server's signing path minus the claim marshalling.
func BenchmarkSignIDToken(b *testing.B) {
	ctx := context.Background()
	m, _, _ := newManager(b, keys.Options{Grace: time.Hour, CacheTTL: time.Hour})
	if err := m.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	payload := idTokenClaims()
	for _, alg := range keys.Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			k, err := m.Signer(ctx, alg)
			if err != nil {
				b.Fatal(err)
			}
			var size int
			b.ReportAllocs()
			for b.Loop() {
				s, err := op.SignerFromKey(k)
				if err != nil {
					b.Fatal(err)
				}
				jwt, err := crypto.SignPayload(payload, s)
				if err != nil {
					b.Fatal(err)
				}
				size = len(jwt)
			}
			b.ReportMetric(float64(size), "jwt-bytes")
		})
	}
}

// BenchmarkSignOnly separates the signature itself from building the go-jose signer: one
// signer reused for every token.
func BenchmarkSignOnly(b *testing.B) {
	ctx := context.Background()
	m, _, _ := newManager(b, keys.Options{Grace: time.Hour, CacheTTL: time.Hour})
	if err := m.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	payload := idTokenClaims()
	for _, alg := range keys.Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			k, _ := m.Signer(ctx, alg)
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := crypto.SignPayload(payload, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyIDToken is the relying party's side of the same token (the server benchmarks
// run the RP in-process, so its verification is part of their CPU figures).
func BenchmarkVerifyIDToken(b *testing.B) {
	ctx := context.Background()
	m, _, _ := newManager(b, keys.Options{Grace: time.Hour, CacheTTL: time.Hour})
	if err := m.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	payload := idTokenClaims()
	for _, alg := range keys.Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			k, _ := m.Signer(ctx, alg)
			s, _ := op.SignerFromKey(k)
			jwt, _ := crypto.SignPayload(payload, s)
			pub, err := m.KeyByID(ctx, k.ID())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sig, err := jose.ParseSigned(jwt, []jose.SignatureAlgorithm{alg})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sig.Verify(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSigner is Manager.Signer: "cached" is the steady state (snapshot younger than the
// cache TTL: a mutex and a map lookup); "uncached" is CacheTTL 0, where every call reloads the
// key set from the store and opens, parses and re-publishes all three keys (the end-to-end test
// harness runs with CacheTTL 0, production with 10 s).
func BenchmarkSigner(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Hour}, {"uncached", 0}} {
		b.Run(c.name, func(b *testing.B) {
			m, _, _ := newManager(b, keys.Options{Grace: time.Hour, CacheTTL: c.ttl})
			if err := m.Ensure(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Signer(ctx, jose.ES256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignerParallel is the cached lookup under contention (every token request takes the
// manager's mutex once).
func BenchmarkSignerParallel(b *testing.B) {
	ctx := context.Background()
	m, _, _ := newManager(b, keys.Options{Grace: time.Hour, CacheTTL: time.Hour})
	if err := m.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Signer(ctx, jose.ES256); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
