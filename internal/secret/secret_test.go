package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testBox(t testing.TB) *Box {
	b, err := NewBox(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := testBox(t)
	sealed := b.Seal([]byte("private key"), []byte("kid-1"))
	if got, err := b.Open(sealed, []byte("kid-1")); err != nil || string(got) != "private key" {
		t.Fatalf("roundtrip = %q, %v", got, err)
	}
	if bytes.Contains(sealed, []byte("private key")) {
		t.Error("plaintext visible in the sealed value")
	}
	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)-1] ^= 1
	other, _ := NewBox(bytes.Repeat([]byte{8}, KeySize))
	for name, open := range map[string]func() ([]byte, error){
		"tampered":  func() ([]byte, error) { return b.Open(flipped, []byte("kid-1")) },
		"other row": func() ([]byte, error) { return b.Open(sealed, []byte("kid-2")) },
		"other key": func() ([]byte, error) { return other.Open(sealed, []byte("kid-1")) },
		"truncated": func() ([]byte, error) { return b.Open(sealed[:5], []byte("kid-1")) },
		"empty":     func() ([]byte, error) { return b.Open(nil, nil) },
	} {
		if _, err := open(); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if bytes.Equal(b.Seal([]byte("x"), nil), b.Seal([]byte("x"), nil)) {
		t.Error("two seals of the same value are identical (nonce reuse)")
	}
}

func TestHasher(t *testing.T) {
	b := testBox(t)
	h := b.Hasher("refresh-token")
	s := h.Sum("value")
	if s != h.Sum("value") || !h.Equal("value", s) || h.Equal("other", s) {
		t.Error("hash not stable or Equal wrong")
	}
	if b.Hasher("auth-code").Sum("value") == s {
		t.Error("two purposes give the same hash")
	}
	other, _ := NewBox(bytes.Repeat([]byte{9}, KeySize))
	if other.Hasher("refresh-token").Sum("value") == s {
		t.Error("hash does not depend on the master key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "secret.key")
	if _, err := LoadOrCreateKey(path, false); err == nil {
		t.Error("missing key file without create must be an error")
	}
	k1, err := LoadOrCreateKey(path, true)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("create: %v", err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path, true)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Error("second load gave another key")
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKey(path, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600)
	if _, err := LoadOrCreateKey(short, false); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestRandom(t *testing.T) {
	seen := map[byte]bool{}
	for range 200 {
		d := RandomDigits(6)
		if len(d) != 6 {
			t.Fatalf("len %d", len(d))
		}
		for i := range d {
			if d[i] < '0' || d[i] > '9' {
				t.Fatalf("not a digit: %q", d)
			}
			seen[d[i]] = true
		}
	}
	if len(seen) != 10 {
		t.Errorf("only %d distinct digits in 1200 draws", len(seen))
	}
	if RandomToken(32) == RandomToken(32) || len(RandomToken(32)) != 43 {
		t.Error("RandomToken")
	}
}

func BenchmarkHasherSum(b *testing.B) {
	h := testBox(b).Hasher("refresh-token")
	b.ReportAllocs()
	for b.Loop() {
		h.Sum("rt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
	}
}

func BenchmarkSealOpen(b *testing.B) {
	box := testBox(b)
	pt := bytes.Repeat([]byte{1}, 64)
	for b.Loop() {
		box.Open(box.Seal(pt, []byte("ad")), []byte("ad"))
	}
}
