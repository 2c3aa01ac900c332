package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the master key's length in bytes (AES-256).
const KeySize = 32

// maxKeyFileSize bounds what LoadOrCreateKey reads: a key file is about 45 bytes, so anything
// much larger is the wrong file, not a key.
const maxKeyFileSize = 4 << 10

// LoadOrCreateKey reads the master key from path: KeySize random bytes in base64 (standard or
// URL alphabet, padded or not; surrounding whitespace ignored). The file must not be accessible
// to group or others.
//
// When the file does not exist and create is true, it creates the directory (0700) and writes a
// fresh random key (0600) atomically: the key is written and synced to a temporary file that is
// then hard-linked into place. Unlike a rename, the link fails when the file already exists, so
// when two processes race to create the key both end up with the same one (the winner's), and a
// key that already sealed data is never replaced.
func LoadOrCreateKey(path string, create bool) ([]byte, error) {
	key, err := readKey(path)
	switch {
	case err == nil:
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case !create:
		return nil, fmt.Errorf("the secret key file %s does not exist: restore it from backup "+
			"(the secrets in the database were sealed with it), or point TESSERA_SECRET_KEY_FILE at it", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory for the secret key file: %w", err)
	}
	fresh := make([]byte, KeySize)
	rand.Read(fresh) // never fails (crypto/rand crashes the program rather than return weak bytes)
	if err := publish(path, []byte(base64.StdEncoding.EncodeToString(fresh)+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path) // another process created it first: use theirs
		}
		return nil, fmt.Errorf("writing the secret key file %s: %w", path, err)
	}
	// Whatever is on disk now is the key (normally ours; after the rename fallback, possibly a
	// racing process's). Reading it back also proves the file is usable.
	return readKey(path)
}

// publish writes content to path only if path does not exist yet, so that a reader never sees
// a partial file. It returns an error wrapping fs.ErrExist when path already exists.
func publish(path string, content []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".secret-key-*.tmp") // CreateTemp makes the file 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil { // in case the umask or platform did otherwise
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	// Sync before the name appears: after a crash, an empty key file would orphan every secret
	// sealed under the key it was supposed to hold.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// The file system has no hard links (some FUSE and network mounts): rename instead,
		// which can only lose a race that happens within this very window.
		if _, statErr := os.Lstat(path); statErr == nil {
			return fs.ErrExist
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return err
		}
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable too
		d.Sync()
		d.Close()
	}
	return nil
}

func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("cannot read the secret key file %s: %w (run Tessera as the file's owner)", path, err)
		}
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("the secret key file %s is not a regular file (mode %v)", path, info.Mode())
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("the secret key file %s is accessible to other users (mode %v); "+
			"run: chmod 600 %s", path, perm, path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(raw))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("the secret key file %s must hold exactly %d random bytes in base64; "+
		"if this is a new installation, create one with: head -c %d /dev/urandom | base64 > %s && chmod 600 %s",
		path, KeySize, KeySize, path, path)
}

// Box seals and opens secrets with AES-256-GCM and hands out keyed hashers. Each use of the
// master key (sealing, and each hashing purpose) gets its own HKDF-SHA256 sub-key. A Box is
// safe for concurrent use.
type Box struct {
	master []byte
	aead   cipher.AEAD
}

// NewBox returns a box over a KeySize-byte master key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: the master key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(derive(key, "seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{master: append([]byte(nil), key...), aead: aead}, nil
}

// sealVersion is the first byte of every sealed value, so the format can change without
// guessing what an old row holds.
const sealVersion = 1

// Seal encrypts plaintext under a random 96-bit nonce. The result is
// version (1) || nonce (12) || ciphertext || tag (16). associatedData is authenticated but not
// stored: it binds the ciphertext to its row (a key id, a user id), so a value copied to another
// row does not open.
func (b *Box) Seal(plaintext, associatedData []byte) []byte {
	n := b.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(plaintext)+b.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return b.aead.Seal(out, out[1:1+n], plaintext, associatedData)
}

// ErrOpen means a sealed value was altered, belongs to another row, or another key sealed it.
var ErrOpen = errors.New("secret: cannot open sealed value (tampered, moved, or sealed with another key)")

// Open decrypts what Seal produced with the same associatedData.
func (b *Box) Open(sealed, associatedData []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], associatedData)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// sumLen is the length of a Sum: 32 bytes of HMAC-SHA256 in unpadded base64url.
const sumLen = 43

// Hasher computes keyed hashes (HMAC-SHA256) for one purpose. It is safe for concurrent use.
type Hasher struct {
	pool sync.Pool // of *mac
}

// mac is one pooled HMAC instance and the scratch space that keeps Sum from allocating.
type mac struct {
	h   hash.Hash
	in  [256]byte // the value is copied through here: hash.Hash.Write takes []byte
	sum [sha256.Size]byte
}

// Hasher returns the keyed hasher for purpose. Different purposes use independent keys, so a
// value hashed for one purpose never matches a hash stored for another. Call it once per
// purpose and keep the result: it derives a key.
func (b *Box) Hasher(purpose string) *Hasher {
	key := derive(b.master, "hash "+purpose)
	h := &Hasher{}
	h.pool.New = func() any {
		m := &mac{h: hmac.New(sha256.New, key)}
		// The first Reset saves the keyed inner and outer states; every later Reset restores
		// them instead of hashing the 64-byte pads again.
		m.h.Reset()
		return m
	}
	return h
}

// mac writes the unpadded base64url HMAC of value into dst.
func (h *Hasher) mac(value string, dst *[sumLen]byte) {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	for len(value) > 0 {
		n := copy(m.in[:], value)
		m.h.Write(m.in[:n])
		value = value[n:]
	}
	base64.RawURLEncoding.Encode(dst[:], m.h.Sum(m.sum[:0]))
	h.pool.Put(m)
}

// Sum returns the keyed hash of value: HMAC-SHA256, unpadded base64url (43 characters).
func (h *Hasher) Sum(value string) string {
	var out [sumLen]byte
	h.mac(value, &out)
	return string(out[:])
}

// Equal reports whether value hashes to storedSum, comparing in constant time.
func (h *Hasher) Equal(value, storedSum string) bool {
	var got [sumLen]byte
	h.mac(value, &got)
	if len(storedSum) != sumLen {
		return false // the length of a stored hash is no secret
	}
	var diff byte
	for i := range got {
		diff |= got[i] ^ storedSum[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// derive returns the 32-byte sub-key of master for purpose. The labels are part of the stored
// data's format: changing one makes everything sealed or hashed under it unreadable.
func derive(master []byte, purpose string) []byte {
	k := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte("tessera/"+purpose)), k); err != nil {
		panic(err) // HKDF-SHA256 can produce 8160 bytes; 32 cannot fail
	}
	return k
}

// RandomToken returns nBytes random bytes (crypto/rand) as unpadded base64url. 32 bytes give a
// 43-character token with 256 bits of entropy.
func RandomToken(nBytes int) string {
	if nBytes <= 0 {
		return ""
	}
	b := make([]byte, nBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// RandomDigits returns n uniformly random decimal digits (crypto/rand), for one-time codes.
// Each digit comes from one random byte below 250, so every digit has the same chance (a byte
// of 250..255 is discarded rather than folded in by a modulo).
func RandomDigits(n int) string {
	if n <= 0 {
		return ""
	}
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		// Ask for a little more than needed: about 2.3% of bytes are discarded.
		want := min(n-len(out)+n/16+2, len(buf))
		rand.Read(buf[:want])
		for _, c := range buf[:want] {
			if c < 250 && len(out) < n {
				out = append(out, '0'+c%10)
			}
		}
	}
	return string(out)
}
