package keys_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// fakeClock is a settable clock for Manager.SetClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newBox(t testing.TB) *secret.Box {
	t.Helper()
	k := make([]byte, secret.KeySize)
	rand.Read(k)
	box, err := secret.NewBox(k)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// newManager returns a manager on a fresh SQLite store with a settable clock.
func newManager(t testing.TB, opts keys.Options) (*keys.Manager, *store.Store, *fakeClock) {
	t.Helper()
	st := storetest.OpenSQLite(t)
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := keys.NewManager(st, newBox(t), opts)
	m.SetClock(clk.now)
	return m, st, clk
}

func jwksKids(t *testing.T, m *keys.Manager) map[string]string {
	t.Helper()
	body, etag, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if etag == "" {
		t.Error("JWKS has no ETag")
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key %v publishes private member %q", k["kid"], private)
			}
		}
		out[k["kid"].(string)] = k["alg"].(string)
	}
	return out
}

func TestEnsureCreatesEveryAlgorithm(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newManager(t, keys.Options{Grace: time.Hour, CacheTTL: 10 * time.Second})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA} {
		k, err := m.Signer(ctx, alg)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if k.SignatureAlgorithm() != alg || k.ID() == "" {
			t.Errorf("%s: got alg %s kid %q", alg, k.SignatureAlgorithm(), k.ID())
		}
		switch p := k.Key().(type) {
		case *ecdsa.PrivateKey:
			if alg != jose.ES256 || p.Curve != elliptic.P256() {
				t.Errorf("%s: ECDSA key on %v", alg, p.Curve.Params().Name)
			}
		case *rsa.PrivateKey:
			if alg != jose.RS256 || p.N.BitLen() < 2048 {
				t.Errorf("%s: RSA key of %d bits", alg, p.N.BitLen())
			}
		case ed25519.PrivateKey:
			if alg != jose.EdDSA {
				t.Errorf("%s: Ed25519 key", alg)
			}
		default:
			t.Errorf("%s: unexpected key type %T", alg, p)
		}
	}
	if def, err := m.Signer(ctx, ""); err != nil || def.SignatureAlgorithm() != jose.ES256 {
		t.Errorf("default signer = %v, %v; want ES256", def, err)
	}
	if got := jwksKids(t, m); len(got) != 3 {
		t.Errorf("JWKS = %v, want 3 keys", got)
	}

	// Ensure again (a restart, or a second node) adds nothing.
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := st.CountSigningKeys(ctx); err != nil || n != 3 {
		t.Errorf("after a second Ensure: %d keys, %v; want 3", n, err)
	}
}

func TestRotateWaitsForCacheTTLAndRetiresOldKeyThen(t *testing.T) {
	ctx := context.Background()
	const ttl = 10 * time.Second
	m, st, clk := newManager(t, keys.Options{Grace: time.Hour, CacheTTL: ttl})
	clk.set(time.Unix(1_800_000_000, 400_000_000)) // not on a second boundary
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old, err := m.Signer(ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	rsaBefore, _ := m.Signer(ctx, jose.RS256)

	rotatedAt := clk.now()
	kid, activeFrom, err := m.Rotate(ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if kid == old.ID() {
		t.Fatal("Rotate returned the old key id")
	}
	if d := activeFrom.Sub(rotatedAt); d < ttl || d > ttl+2*time.Second {
		t.Errorf("new key active %v after rotation, want the cache TTL (%v) rounded up to a second", d, ttl)
	}

	// The new key is published at once, so every node's cache carries it before it signs ...
	if got := jwksKids(t, m); got[kid] != "ES256" || got[old.ID()] != "ES256" {
		t.Errorf("right after rotation the JWKS must hold old and new key: %v", got)
	}
	// ... and the old key keeps signing until activeFrom.
	for _, at := range []time.Time{rotatedAt, activeFrom.Add(-time.Nanosecond)} {
		clk.set(at)
		m.Invalidate()
		if k, err := m.Signer(ctx, jose.ES256); err != nil || k.ID() != old.ID() {
			t.Errorf("at %v before activation: signer %v, %v; want the old key", activeFrom.Sub(at), k, err)
		}
	}

	// At activeFrom the new key signs and the old one is retired at that same moment.
	clk.set(activeFrom)
	m.Invalidate()
	if k, err := m.Signer(ctx, jose.ES256); err != nil || k.ID() != kid {
		t.Fatalf("at activation: signer %v, %v; want the new key %s", k, err, kid)
	}
	rows, err := st.SigningKeys(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		switch {
		case r.ID == old.ID():
			if r.RetiredAt == nil || *r.RetiredAt != activeFrom.Unix() {
				t.Errorf("old key retired_at = %v, want %d (the new key's activation)", r.RetiredAt, activeFrom.Unix())
			}
		case r.ID == kid:
			if r.RetiredAt != nil || r.ActiveFrom != activeFrom.Unix() {
				t.Errorf("new key: active_from %d retired_at %v", r.ActiveFrom, r.RetiredAt)
			}
		case r.RetiredAt != nil:
			t.Errorf("rotating ES256 retired the %s key %s", r.Alg, r.ID)
		}
	}
	// Other algorithms are untouched.
	if k, err := m.Signer(ctx, jose.RS256); err != nil || k.ID() != rsaBefore.ID() {
		t.Errorf("RS256 signer changed by an ES256 rotation: %v, %v", k, err)
	}
}

func TestRotateWithoutCacheTTLIsImmediate(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newManager(t, keys.Options{Grace: time.Hour})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	kid, _, err := m.Rotate(ctx, jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := m.Signer(ctx, jose.EdDSA); err != nil || k.ID() != kid {
		t.Errorf("with no cache TTL the new key signs at once: %v, %v", k, err)
	}
}

func TestJWKSKeepsRetiredKeyForGrace(t *testing.T) {
	ctx := context.Background()
	const grace = time.Hour
	m, _, clk := newManager(t, keys.Options{Grace: grace, CacheTTL: 5 * time.Second})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := m.Signer(ctx, jose.ES256)
	kid, activeFrom, err := m.Rotate(ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	check := func(at time.Time, wantOld bool) {
		t.Helper()
		clk.set(at)
		m.Invalidate()
		got := jwksKids(t, m)
		if _, ok := got[old.ID()]; ok != wantOld {
			t.Errorf("%v after retirement: old key published = %v, want %v", at.Sub(activeFrom), ok, wantOld)
		}
		if _, ok := got[kid]; !ok {
			t.Errorf("%v after retirement: new key missing from the JWKS", at.Sub(activeFrom))
		}
		// The old key still verifies what it signed while published (KeyByID is the same set).
		if _, err := m.KeyByID(ctx, old.ID()); (err == nil) != wantOld {
			t.Errorf("%v after retirement: KeyByID(old) = %v", at.Sub(activeFrom), err)
		}
	}
	check(activeFrom, true)
	check(activeFrom.Add(grace/2), true)
	check(activeFrom.Add(grace-time.Second), true)
	check(activeFrom.Add(grace+time.Second), false)
	if _, err := m.KeyByID(ctx, old.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeyByID after grace: %v, want store.ErrNotFound", err)
	}
	// The cache serves the snapshot until the TTL passes, then reloads by itself.
	clk.add(-2 * grace)
	m.Invalidate()
	if _, ok := jwksKids(t, m)[old.ID()]; !ok {
		t.Fatal("old key absent before its retirement")
	}
	clk.set(activeFrom.Add(grace + time.Second))
	if _, ok := jwksKids(t, m)[old.ID()]; ok {
		t.Error("an expired snapshot was served past the cache TTL")
	}
}

func TestSealedPrivateKeyNeedsTheSecretKey(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	right := newBox(t)
	m := keys.NewManager(st, right, keys.Options{Grace: time.Hour})
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := st.SigningKeys(ctx, 0)
	if err != nil || len(rows) != 3 {
		t.Fatalf("rows %d, %v", len(rows), err)
	}
	wrong := newBox(t)
	for _, r := range rows {
		if _, err := right.Open(r.PrivateSealed, []byte(r.ID)); err != nil {
			t.Errorf("%s: the right key cannot open it: %v", r.Alg, err)
		}
		if pt, err := wrong.Open(r.PrivateSealed, []byte(r.ID)); !errors.Is(err, secret.ErrOpen) || pt != nil {
			t.Errorf("%s: opened with a wrong secret key: %v", r.Alg, err)
		}
		// Bound to its row: the same ciphertext under another key id does not open.
		if _, err := right.Open(r.PrivateSealed, []byte(r.ID+"x")); !errors.Is(err, secret.ErrOpen) {
			t.Errorf("%s: sealed key opened under another kid: %v", r.Alg, err)
		}
		if strings.Contains(r.PublicJWK, `"d"`) {
			t.Errorf("%s: the stored public JWK holds the private part", r.Alg)
		}
	}
	// A node started with the wrong secret key refuses to sign, saying why.
	bad := keys.NewManager(st, wrong, keys.Options{Grace: time.Hour})
	_, err = bad.Signer(ctx, jose.ES256)
	if !errors.Is(err, secret.ErrOpen) || !strings.Contains(err.Error(), "TESSERA_SECRET_KEY_FILE") {
		t.Errorf("signer with a wrong secret key: %v", err)
	}
	if err := bad.Ensure(ctx); err == nil {
		t.Error("Ensure with a wrong secret key succeeded")
	}
}
