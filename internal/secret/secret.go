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
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the master key's length in bytes.
const KeySize = 32

// LoadOrCreateKey reads the base64 master key from path. When the file does not exist and
// create is true it writes a fresh random key (mode 0600, directory 0700), atomically; when
// another process won the race, its key is used.
func LoadOrCreateKey(path string, create bool) ([]byte, error) {
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the key file %s does not exist; restore it from backup (the database's keys were sealed with it)", path)
		}
		return key, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	fresh := make([]byte, KeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(fresh) + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// Link, not rename: if another process created the key first, keep theirs.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		return nil, err
	}
	return fresh, nil
}

func readKey(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the key file %s is readable by other users (mode %v); run: chmod 600 %s", path, info.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(raw))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("the key file %s must hold %d random bytes in base64 (create one with: head -c 32 /dev/urandom | base64 > %s)", path, KeySize, path)
}

// Box seals and opens secrets with AES-256-GCM and hands out keyed hashers.
type Box struct {
	master []byte
	aead   cipher.AEAD
}

// NewBox returns a box over a 32-byte master key.
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

const sealVersion = 1

// Seal encrypts plaintext; associatedData binds the ciphertext to its row (a key id, a user id)
// so it cannot be copied to another.
func (b *Box) Seal(plaintext, associatedData []byte) []byte {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		panic(err)
	}
	return b.aead.Seal(out, out[1:], plaintext, associatedData)
}

// ErrOpen means a sealed value was altered, belongs to another row, or another key sealed it.
var ErrOpen = errors.New("secret: cannot open sealed value (tampered, moved, or sealed with another key)")

// Open decrypts what Seal produced.
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

// Hasher computes keyed hashes (HMAC-SHA256) for one purpose.
type Hasher struct {
	pool sync.Pool
}

// Hasher returns the keyed hasher for purpose.
func (b *Box) Hasher(purpose string) *Hasher {
	key := derive(b.master, "hash "+purpose)
	return &Hasher{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// Sum returns the base64url (unpadded) keyed hash of value.
func (h *Hasher) Sum(value string) string {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	io.WriteString(m, value)
	var buf [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(m.Sum(buf[:0]))
	h.pool.Put(m)
	return out
}

// Equal reports in constant time whether value hashes to stored.
func (h *Hasher) Equal(value, stored string) bool {
	return subtle.ConstantTimeCompare([]byte(h.Sum(value)), []byte(stored)) == 1
}

func derive(master []byte, purpose string) []byte {
	k := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte("tessera/"+purpose)), k); err != nil {
		panic(err)
	}
	return k
}

// RandomToken returns n random bytes, base64url without padding.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// RandomDigits returns n uniformly random decimal digits (one-time codes).
func RandomDigits(n int) string {
	var sb strings.Builder
	ten := big.NewInt(10)
	for range n {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			panic(err)
		}
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}
