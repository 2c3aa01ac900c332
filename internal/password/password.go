package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	KeyLen      uint32
	SaltLen     uint32
}

// DefaultParams are OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, KeyLen: 32, SaltLen: 16}
}

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.MemoryKiB == 0 {
		p.MemoryKiB = d.MemoryKiB
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	return p
}

// Hasher hashes and verifies passwords, at most maxConcurrent at a time.
type Hasher struct {
	p     Params
	sem   chan struct{}
	dummy string
}

// New returns a hasher; maxConcurrent <= 0 means one per CPU.
func New(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	h := &Hasher{p: p.withDefaults(), sem: make(chan struct{}, maxConcurrent)}
	salt := make([]byte, h.p.SaltLen)
	rand.Read(salt)
	h.dummy = encode(h.p, salt, argon2.IDKey([]byte("tessera dummy"), salt, h.p.Iterations, h.p.MemoryKiB, h.p.Parallelism, h.p.KeyLen))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC-format argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Iterations, h.p.MemoryKiB, h.p.Parallelism, h.p.KeyLen)
	return encode(h.p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// ErrMalformed means a stored hash cannot be read.
var ErrMalformed = errors.New("password: malformed hash")

// Verify checks password against an encoded hash (argon2id, or legacy bcrypt). needsRehash is
// true when the password is right but the hash should be replaced (older parameters, bcrypt).
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, err := decode(encoded)
		if err != nil {
			return false, false, err
		}
		if err := h.acquire(ctx); err != nil {
			return false, false, err
		}
		got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
		h.release()
		if subtle.ConstantTimeCompare(got, key) != 1 {
			return false, false, nil
		}
		cur := h.p
		return true, p.MemoryKiB != cur.MemoryKiB || p.Iterations != cur.Iterations || p.Parallelism != cur.Parallelism ||
			uint32(len(key)) != cur.KeyLen, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if err := h.acquire(ctx); err != nil {
			return false, false, err
		}
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		h.release()
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, false, nil
		}
		if err != nil {
			return false, false, ErrMalformed
		}
		return true, true, nil
	}
	return false, false, ErrMalformed
}

// VerifyDummy spends what a real verification costs, for a sign-in with an unknown account.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) {
	h.Verify(ctx, password, h.dummy)
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	var par uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &par); err != nil {
		return Params{}, nil, nil, ErrMalformed
	}
	// Bounds keep a hostile or corrupt row from demanding gigabytes or hours.
	if p.MemoryKiB < 8 || p.MemoryKiB > 4<<20 || p.Iterations < 1 || p.Iterations > 100 || par < 1 || par > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	p.Parallelism = uint8(par)
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

// Policy errors, in plain words for the person choosing a password.
var (
	ErrTooShort = errors.New("the password is too short")
	ErrTooLong  = errors.New("the password is too long (at most 256 characters)")
	ErrBlank    = errors.New("the password cannot be only spaces")
)

// CheckPolicy applies the length rules (NIST SP 800-63B: length, not composition).
func CheckPolicy(password string, minLen int) error {
	if len(password) > 256 {
		return ErrTooLong
	}
	if utf8.RuneCountInString(password) < minLen {
		return fmt.Errorf("%w: use at least %d characters", ErrTooShort, minLen)
	}
	if strings.IndexFunc(password, func(r rune) bool { return !unicode.IsSpace(r) }) < 0 {
		return ErrBlank
	}
	return nil
}
