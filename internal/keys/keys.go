package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tessera-health/tessera/internal/store"
)

// Algorithms Tessera signs with. ES256 is the default (about 20x cheaper than RS256 here);
// RS256 serves older relying parties; EdDSA is offered for those that want it.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// Sealer encrypts private keys at rest (internal/secret.Box implements it).
type Sealer interface {
	Seal(plaintext, associatedData []byte) []byte
	Open(sealed, associatedData []byte) ([]byte, error)
}

// Options tune rotation timing.
type Options struct {
	// Grace is how long a retired key stays published; it must outlive every token it signed.
	Grace time.Duration
	// CacheTTL is how long a node trusts its in-memory copy of the key set; a rotated key becomes
	// the signer only after this delay so every node publishes it first.
	CacheTTL time.Duration
}

// Manager serves signing keys and the JWKS from an in-memory snapshot refreshed from the store.
type Manager struct {
	st   *store.Store
	box  Sealer
	opts Options
	now  func() time.Time

	mu   sync.Mutex
	snap *snapshot
}

// Key is one loaded key pair; it implements the protocol library's SigningKey and Key.
type Key struct {
	kid        string
	alg        jose.SignatureAlgorithm
	private    crypto.Signer
	activeFrom time.Time
	retiredAt  time.Time // zero while in service
}

func (k *Key) ID() string                                  { return k.kid }
func (k *Key) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }

// Key returns the private key: Key is the protocol library's SigningKey. PublicKeys wraps keys
// so that the JWKS path sees only the public half.
func (k *Key) Key() any { return k.private }

// PublicKey is a published key: the protocol library's Key, exposing only the public half.
type PublicKey struct{ k *Key }

func (p PublicKey) ID() string                         { return p.k.kid }
func (p PublicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p PublicKey) Use() string                        { return "sig" }
func (p PublicKey) Key() any                           { return p.k.private.Public() }

type snapshot struct {
	loaded  time.Time
	keys    []*Key
	jwks    []byte
	etag    string
	signers map[jose.SignatureAlgorithm]*Key
}

// NewManager returns a manager over st.
func NewManager(st *store.Store, box Sealer, opts Options) *Manager {
	return &Manager{st: st, box: box, opts: opts, now: time.Now}
}

// SetClock replaces the clock (tests).
func (m *Manager) SetClock(now func() time.Time) { m.now = now }

// Ensure creates a key for every algorithm that has none in service; it runs at start-up.
func (m *Manager) Ensure(ctx context.Context) error {
	snap, err := m.load(ctx)
	if err != nil {
		return err
	}
	for _, alg := range Algorithms {
		if hasInService(snap.keys, alg) {
			continue
		}
		if _, err := m.create(ctx, alg, m.now()); err != nil {
			return err
		}
	}
	m.Invalidate()
	return nil
}

func hasInService(keys []*Key, alg jose.SignatureAlgorithm) bool {
	for _, k := range keys {
		if k.alg == alg && k.retiredAt.IsZero() {
			return true
		}
	}
	return false
}

// Rotate creates a new key for alg that starts signing after the propagation delay, and retires
// the current one at that same moment. It returns the new key id and when it takes over.
func (m *Manager) Rotate(ctx context.Context, alg jose.SignatureAlgorithm) (string, time.Time, error) {
	activeFrom := m.now().Add(m.opts.CacheTTL).Truncate(time.Second)
	if m.opts.CacheTTL > 0 {
		activeFrom = activeFrom.Add(time.Second) // round up so the delay is never shorter than the TTL
	}
	kid, err := m.create(ctx, alg, activeFrom)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := m.st.RetireSigningKeys(ctx, string(alg), kid, activeFrom.Unix()); err != nil {
		return "", time.Time{}, err
	}
	m.Invalidate()
	return kid, activeFrom, nil
}

func (m *Manager) create(ctx context.Context, alg jose.SignatureAlgorithm, activeFrom time.Time) (string, error) {
	priv, err := generate(alg)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	pubJWK, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"})
	if err != nil {
		return "", err
	}
	kid := keyID(alg, pubJWK)
	row := &store.SigningKey{
		ID: kid, Alg: string(alg), PublicJWK: string(pubJWK),
		PrivateSealed: m.box.Seal(der, []byte(kid)), ActiveFrom: activeFrom.Unix(),
	}
	if err := m.st.CreateSigningKey(ctx, row); err != nil {
		return "", fmt.Errorf("keys: store new %s key: %w", alg, err)
	}
	return kid, nil
}

func generate(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
}

// keyID derives a short, stable id from the public key (and a random suffix would add nothing).
func keyID(alg jose.SignatureAlgorithm, pubJWK []byte) string {
	sum := sha256.Sum256(append([]byte(alg), pubJWK...))
	return hex.EncodeToString(sum[:12])
}

// Invalidate drops the cached snapshot so the next call reloads from the store.
func (m *Manager) Invalidate() {
	m.mu.Lock()
	m.snap = nil
	m.mu.Unlock()
}

func (m *Manager) current(ctx context.Context) (*snapshot, error) {
	m.mu.Lock()
	snap := m.snap
	m.mu.Unlock()
	if snap != nil && m.now().Sub(snap.loaded) < m.opts.CacheTTL {
		return snap, nil
	}
	return m.load(ctx)
}

func (m *Manager) load(ctx context.Context) (*snapshot, error) {
	now := m.now()
	rows, err := m.st.SigningKeys(ctx, now.Add(-m.opts.Grace).Unix())
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	snap := &snapshot{loaded: now, signers: map[jose.SignatureAlgorithm]*Key{}}
	var published []jose.JSONWebKey
	for _, r := range rows {
		k, err := m.open(r)
		if err != nil {
			return nil, err
		}
		snap.keys = append(snap.keys, k)
		published = append(published, jose.JSONWebKey{Key: k.private.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
		// Rows come newest activation first: the first key of an algorithm already active and
		// not yet retired signs.
		if _, taken := snap.signers[k.alg]; !taken && !k.activeFrom.After(now) &&
			(k.retiredAt.IsZero() || k.retiredAt.After(now)) {
			snap.signers[k.alg] = k
		}
	}
	snap.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(snap.jwks)
	snap.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	m.mu.Lock()
	m.snap = snap
	m.mu.Unlock()
	return snap, nil
}

func (m *Manager) open(r store.SigningKey) (*Key, error) {
	der, err := m.box.Open(r.PrivateSealed, []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: cannot decrypt signing key %s (is TESSERA_SECRET_KEY_FILE the key this database was created with?): %w", r.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse signing key %s: %w", r.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s is not a signer", r.ID)
	}
	k := &Key{kid: r.ID, alg: jose.SignatureAlgorithm(r.Alg), private: signer, activeFrom: time.Unix(r.ActiveFrom, 0)}
	if r.RetiredAt != nil {
		k.retiredAt = time.Unix(*r.RetiredAt, 0)
	}
	return k, nil
}

// ErrNoKey means no key of the algorithm is in service; Ensure should have run.
var ErrNoKey = errors.New("keys: no signing key in service")

// Signer returns the key that signs now for alg (ES256 when alg is empty).
func (m *Manager) Signer(ctx context.Context, alg jose.SignatureAlgorithm) (*Key, error) {
	if alg == "" {
		alg = jose.ES256
	}
	snap, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	if k := snap.signers[alg]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
}

// PublicKeys returns every published key, public halves only.
func (m *Manager) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	snap, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PublicKey, len(snap.keys))
	for i, k := range snap.keys {
		out[i] = PublicKey{k}
	}
	return out, nil
}

// JWKS returns the published key set as precomputed JSON and its ETag.
func (m *Manager) JWKS(ctx context.Context) (body []byte, etag string, err error) {
	snap, err := m.current(ctx)
	if err != nil {
		return nil, "", err
	}
	return snap.jwks, snap.etag, nil
}

// KeyByID returns a published public key, for verifying our own tokens (id_token_hint, access
// tokens at introspection).
func (m *Manager) KeyByID(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	snap, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range snap.keys {
		if k.kid == kid {
			return &jose.JSONWebKey{Key: k.private.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}, nil
		}
	}
	return nil, store.ErrNotFound
}

// VerificationKey returns the public half of a published key and its algorithm, from the cached
// snapshot (no SQL in the steady state), for verifying our own access tokens.
func (m *Manager) VerificationKey(ctx context.Context, kid string) (crypto.PublicKey, jose.SignatureAlgorithm, error) {
	snap, err := m.current(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, k := range snap.keys {
		if k.kid == kid {
			return k.private.Public(), k.alg, nil
		}
	}
	return nil, "", store.ErrNotFound
}
