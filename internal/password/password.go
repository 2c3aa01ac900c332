package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
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

// DefaultParams are OWASP's first argon2id recommendation: 19 MiB, 2 passes, 1 lane, a 32-byte
// key and a 16-byte salt.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, KeyLen: 32, SaltLen: 16}
}

// Salt and key lengths New enforces; the minimums are RFC 9106's, and Verify reads nothing
// outside them.
const (
	minSaltLen, maxSaltLen = 8, 64
	minKeyLen, maxKeyLen   = 16, 128
)

// normalize fills zero fields from DefaultParams and keeps the salt and key lengths within what
// Verify accepts, so that a Hasher can always verify its own hashes.
func (p Params) normalize() Params {
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
	p.MemoryKiB = max(p.MemoryKiB, 8*uint32(p.Parallelism)) // argon2's minimum: 8 KiB per lane
	p.KeyLen = min(max(p.KeyLen, minKeyLen), maxKeyLen)
	p.SaltLen = min(max(p.SaltLen, minSaltLen), maxSaltLen)
	return p
}

// limits bound what a stored hash may make Verify spend. The concurrency cap only protects
// memory if each hash in flight is bounded too: a corrupt or hostile row must not ask for
// gigabytes or hours.
type limits struct {
	memoryKiB     uint32
	iterations    uint32
	bcryptCost    int
	encodedLength int
}

// Hasher hashes and verifies passwords, running at most maxConcurrent argon2id or bcrypt
// computations at a time. It is safe for concurrent use.
type Hasher struct {
	p     Params
	lim   limits
	sem   chan struct{}
	dummy string
}

// New returns a hasher for p. Zero fields of p take DefaultParams' values; MemoryKiB is at least
// 8 per lane, KeyLen is kept within 16..128 bytes and SaltLen within 8..64. maxConcurrent <= 0
// means runtime.NumCPU().
//
// Stored argon2id hashes verify with their own parameters as long as they ask for at most
// 256 MiB and 32 passes (or this hasher's own, if higher); legacy bcrypt hashes up to cost 16.
func New(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	p = p.normalize()
	h := &Hasher{
		p: p,
		lim: limits{
			memoryKiB:     max(p.MemoryKiB, 256<<10),
			iterations:    max(p.Iterations, 32),
			bcryptCost:    16, // about 4 s here: slow, but a legacy user can still sign in once and be upgraded
			encodedLength: 512,
		},
		sem: make(chan struct{}, maxConcurrent),
	}
	// The dummy needs h's parameters, not a real password: a random key makes Verify do the
	// same work and fail, without paying for a hash at start-up.
	salt, key := make([]byte, p.SaltLen), make([]byte, p.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	h.dummy = encode(p, salt, key)
	return h
}

// acquire takes a hashing slot, or gives up when ctx ends first. A request already cancelled
// does not take a slot even if one is free: nobody is waiting for its answer.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a free hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC-format argon2id hash of password with a fresh random salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	rand.Read(salt)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Iterations, h.p.MemoryKiB, h.p.Parallelism, h.p.KeyLen)
	h.release()
	return encode(h.p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// ErrMalformed means a stored hash cannot be read, or asks for more work than Verify allows.
// The wrapping error says which; it never contains the hash.
var ErrMalformed = errors.New("password: malformed hash")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Verify checks password against an encoded hash: argon2id in PHC format with any parameters,
// or legacy bcrypt ($2a$, $2b$, $2y$). The comparison is constant time.
//
// A wrong password is (false, false, nil). A right one is (true, needsRehash, nil), where
// needsRehash says the caller should store Hash(password) in place of encoded: the hash is
// bcrypt, or argon2id with other parameters than h's. An unreadable hash is an error wrapping
// ErrMalformed; a context that ends while waiting for a hashing slot is an error wrapping
// ctx.Err().
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if len(encoded) > h.lim.encodedLength {
		return false, false, malformed("%d characters long", len(encoded))
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return h.verifyArgon2id(ctx, password, encoded)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		return h.verifyBcrypt(ctx, password, encoded)
	case encoded == "":
		return false, false, malformed("empty")
	}
	return false, false, malformed("not argon2id or bcrypt")
}

// Check reports whether Verify can read encoded, without hashing anything: an argon2id hash in
// PHC format, or a legacy bcrypt hash ($2a$, $2b$, $2y$, 60 characters), within this hasher's
// limits. It is for hashes brought in from elsewhere (an import), so that a plain-text password
// or a hash nobody could ever sign in with is refused before it is stored. The error wraps
// ErrMalformed and never contains the hash.
func (h *Hasher) Check(encoded string) error {
	if len(encoded) > h.lim.encodedLength {
		return malformed("%d characters long", len(encoded))
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, _, _, err := decode(encoded)
		if err != nil {
			return err
		}
		if p.MemoryKiB > h.lim.memoryKiB || p.Iterations > h.lim.iterations {
			return malformed("argon2id m=%d,t=%d is beyond the limit of m=%d,t=%d",
				p.MemoryKiB, p.Iterations, h.lim.memoryKiB, h.lim.iterations)
		}
		return nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		// $2b$CC$ then 22 characters of salt and 31 of hash in bcrypt's base64 alphabet. A
		// shorter or longer value would be read by bcrypt but could never match any password.
		if len(encoded) != 60 || encoded[6] != '$' {
			return malformed("bcrypt: want $2b$, a two-digit cost, $ and 53 characters")
		}
		for _, c := range encoded[7:] {
			if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				return malformed("bcrypt: the salt and hash must be bcrypt base64 (./A-Za-z0-9)")
			}
		}
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return malformed("bcrypt: %v", err)
		}
		if cost > h.lim.bcryptCost {
			return malformed("bcrypt cost %d is beyond the limit of %d", cost, h.lim.bcryptCost)
		}
		return nil
	case encoded == "":
		return malformed("empty")
	}
	return malformed("not argon2id or bcrypt")
}

func (h *Hasher) verifyArgon2id(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if p.MemoryKiB > h.lim.memoryKiB || p.Iterations > h.lim.iterations {
		return false, false, malformed("argon2id m=%d,t=%d is beyond the limit of m=%d,t=%d",
			p.MemoryKiB, p.Iterations, h.lim.memoryKiB, h.lim.iterations)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	h.release()
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != h.p, nil
}

func (h *Hasher) verifyBcrypt(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return false, false, malformed("bcrypt: %v", err)
	}
	if cost > h.lim.bcryptCost {
		return false, false, malformed("bcrypt cost %d is beyond the limit of %d", cost, h.lim.bcryptCost)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	// Like every bcrypt, this only reads the first 72 bytes of password: the legacy hash was
	// made that way, and the argon2id hash that replaces it will use all of it.
	err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
	h.release()
	switch {
	case err == nil:
		return true, true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, false, nil
	}
	return false, false, malformed("bcrypt: %v", err)
}

// VerifyDummy costs what Verify costs for a user with a current hash, and always fails. Call it
// when the account does not exist, so that the answer's timing does not tell.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) {
	h.Verify(ctx, password, h.dummy)
}

// decode parses $argon2id$v=19$m=M,t=T,p=P$SALT$HASH strictly: the fields in that order,
// decimal numbers without signs, unpadded standard base64.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, malformed("argon2id: want 6 $-separated fields")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, malformed("argon2id: only version %d is supported", argon2.Version)
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, malformed("argon2id: want the parameters m, t and p")
	}
	var nums [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(fields[i], name)
		if !found {
			return p, nil, nil, malformed("argon2id: want the parameters m, t and p")
		}
		bits := 32
		if name == "p=" {
			bits = 8
		}
		n, err := strconv.ParseUint(digits, 10, bits)
		if err != nil || n == 0 {
			return p, nil, nil, malformed("argon2id: parameter %s must be a positive number", strings.TrimSuffix(name, "="))
		}
		nums[i] = n
	}
	p.MemoryKiB, p.Iterations, p.Parallelism = uint32(nums[0]), uint32(nums[1]), uint8(nums[2])
	if p.MemoryKiB < 8*uint32(p.Parallelism) {
		return p, nil, nil, malformed("argon2id: m must be at least 8×p")
	}
	salt, err = base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, malformed("argon2id: the salt must be %d to %d bytes of unpadded base64", minSaltLen, maxSaltLen)
	}
	key, err = base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, malformed("argon2id: the hash must be %d to %d bytes of unpadded base64", minKeyLen, maxKeyLen)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// MaxLen is the longest password CheckPolicy accepts, in bytes of UTF-8: long enough for any
// passphrase, short enough that nobody makes the server hash megabytes.
const MaxLen = 256

// Policy errors, in plain words for the person choosing a password. CheckPolicy wraps them with
// the numbers; test with errors.Is.
var (
	ErrTooShort = errors.New("the password is too short")
	ErrTooLong  = errors.New("the password is too long")
	ErrBlank    = errors.New("the password cannot be only spaces")
)

// CheckPolicy applies NIST SP 800-63B's rules for a new password: a minimum length in
// characters (minLen), a maximum of MaxLen bytes, and not only white space. It asks for no
// particular mix of character kinds; every character, spaces and emoji included, counts.
func CheckPolicy(password string, minLen int) error {
	if len(password) > MaxLen {
		return fmt.Errorf("%w: use at most %d characters (letters with accents, other alphabets and emoji count as 2 to 4)", ErrTooLong, MaxLen)
	}
	if utf8.RuneCountInString(password) < minLen {
		return fmt.Errorf("%w: use at least %d characters", ErrTooShort, minLen)
	}
	if strings.TrimFunc(password, unicode.IsSpace) == "" {
		return ErrBlank
	}
	return nil
}
