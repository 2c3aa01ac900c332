package secret

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

func testBox(t testing.TB, fill byte) *Box {
	t.Helper()
	b, err := NewBox(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox accepted a %d-byte key", n)
		}
	}
}

func TestSealOpenRoundtrip(t *testing.T) {
	b := testBox(t, 7)
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty", nil, []byte("kid-1")},
		{"no associated data", []byte("totp seed"), nil},
		{"private key", []byte("-----BEGIN EC PRIVATE KEY-----"), []byte("kid-1")},
		{"large", bytes.Repeat([]byte{0xAB}, 10<<10), []byte("user-42")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := b.Seal(tt.plaintext, tt.ad)
			if want := 1 + 12 + len(tt.plaintext) + 16; len(sealed) != want || sealed[0] != 1 {
				t.Fatalf("sealed is %d bytes starting %d; want %d bytes starting with version 1", len(sealed), sealed[0], want)
			}
			if len(tt.plaintext) > 0 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("plaintext visible in the sealed value")
			}
			got, err := b.Open(sealed, tt.ad)
			if err != nil || !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open = %q, %v", got, err)
			}
			if bytes.Equal(sealed, b.Seal(tt.plaintext, tt.ad)) {
				t.Error("two seals of the same value are identical (nonce reuse)")
			}
		})
	}
}

// TestOpenStoredFormat opens a value sealed by the first release: the sub-key labels and the
// format are stored data, and must keep working.
func TestOpenStoredFormat(t *testing.T) {
	sealed, _ := hex.DecodeString("01ef83a3d21384074a665675be82d7d37d78f4a3dcf94293803c23bafbe661d97a021f4966865591")
	got, err := testBox(t, 7).Open(sealed, []byte("kid-1"))
	if err != nil || string(got) != "private key" {
		t.Fatalf("Open(stored) = %q, %v", got, err)
	}
}

func TestOpenRejects(t *testing.T) {
	b := testBox(t, 7)
	sealed := b.Seal([]byte("private key"), []byte("kid-1"))
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		return c
	}
	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		ad     []byte
	}{
		{"flipped version", b, flip(0), []byte("kid-1")},
		{"flipped nonce", b, flip(5), []byte("kid-1")},
		{"flipped ciphertext", b, flip(1 + 12 + 3), []byte("kid-1")},
		{"flipped tag", b, flip(len(sealed) - 1), []byte("kid-1")},
		{"copied to another row", b, sealed, []byte("kid-2")},
		{"associated data dropped", b, sealed, nil},
		{"sealed with another key", testBox(t, 8), sealed, []byte("kid-1")},
		{"truncated", b, sealed[:len(sealed)-1], []byte("kid-1")},
		{"shorter than a nonce and tag", b, sealed[:5], []byte("kid-1")},
		{"extended", b, append(bytes.Clone(sealed), 0), []byte("kid-1")},
		{"empty", b, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.box.Open(tt.sealed, tt.ad); err != ErrOpen || got != nil {
				t.Errorf("Open = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}

func TestHasherSum(t *testing.T) {
	b := testBox(t, 7)
	h := b.Hasher("refresh-token")
	tests := []struct {
		name string
		got  string
		want string
	}{
		// Pinned values: the labels are stored data (every hashed token in the database).
		{"pinned refresh-token", h.Sum("value"), "4GtKX8YYZqtZVtNZxnEQ6lSKoWgtYBRKQqpwwWcillA"},
		{"pinned empty value", b.Hasher("client-secret").Sum(""), "CZ9wJnZDz4dhr8BQjIx_UBrayDPrPu0Rde4h1EaeGWM"},
		{"HMAC-SHA256 under the HKDF sub-key", h.Sum("value"), referenceSum(bytes.Repeat([]byte{7}, KeySize), "refresh-token", "value")},
		{"long value (crosses the copy buffer)", h.Sum(strings.Repeat("x", 1000)),
			referenceSum(bytes.Repeat([]byte{7}, KeySize), "refresh-token", strings.Repeat("x", 1000))},
		{"stable", h.Sum("value"), h.Sum("value")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
			if _, err := base64.RawURLEncoding.DecodeString(tt.got); err != nil || len(tt.got) != 43 {
				t.Errorf("%q is not 43 characters of unpadded base64url", tt.got)
			}
		})
	}
}

func referenceSum(master []byte, purpose, value string) string {
	m := hmac.New(sha256.New, derive(master, "hash "+purpose))
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestHasherIndependence(t *testing.T) {
	b := testBox(t, 7)
	base := b.Hasher("refresh-token").Sum("value")
	tests := []struct {
		name  string
		other string
	}{
		{"another purpose", b.Hasher("auth-code").Sum("value")},
		{"a purpose that only differs in case", b.Hasher("Refresh-token").Sum("value")},
		{"another master key", testBox(t, 9).Hasher("refresh-token").Sum("value")},
		{"another value", b.Hasher("refresh-token").Sum("value2")},
	}
	for _, tt := range tests {
		if tt.other == base {
			t.Errorf("%s gives the same hash", tt.name)
		}
	}
}

func TestHasherEqual(t *testing.T) {
	b := testBox(t, 7)
	h := b.Hasher("client-secret")
	stored := h.Sum("s3cret")
	tests := []struct {
		name   string
		value  string
		stored string
		want   bool
	}{
		{"right value", "s3cret", stored, true},
		{"wrong value", "s3creT", stored, false},
		{"empty value", "", stored, false},
		{"empty stored", "s3cret", "", false},
		{"truncated stored", "s3cret", stored[:42], false},
		{"stored with a suffix", "s3cret", stored + "A", false},
		{"one character changed", "s3cret", stored[:10] + string(stored[10]^1) + stored[11:], false},
		{"stored under another purpose", "s3cret", b.Hasher("auth-code").Sum("s3cret"), false},
		{"the value itself stored", "s3cret", "s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Equal(tt.value, tt.stored); got != tt.want {
				t.Errorf("Equal(%q, %q) = %v, want %v", tt.value, tt.stored, got, tt.want)
			}
		})
	}
}

// TestHasherConcurrent shares one Hasher between goroutines (run with -race).
func TestHasherConcurrent(t *testing.T) {
	h := testBox(t, 7).Hasher("session")
	want := h.Sum("sid")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := h.Sum("sid"); got != want || !h.Equal("sid", want) {
					t.Errorf("concurrent Sum = %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHasherAllocations(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector makes sync.Pool drop items on purpose")
	}
	h := testBox(t, 7).Hasher("refresh-token")
	h.Sum("warm the pool")
	if n := testing.AllocsPerRun(100, func() { h.Sum("rt_0123456789abcdefghijklmnopqrstuvwxyz") }); n > 1 {
		t.Errorf("Sum allocates %v times; want 1 (its result)", n)
	}
	stored := h.Sum("x")
	if n := testing.AllocsPerRun(100, func() { h.Equal("x", stored) }); n > 0 {
		t.Errorf("Equal allocates %v times; want 0", n)
	}
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "secret.key")
	if _, err := LoadOrCreateKey(path, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing key file without create: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); err == nil {
		t.Error("create=false made the directory")
	}
	k1, err := LoadOrCreateKey(path, true)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	if bytes.Equal(k1, make([]byte, KeySize)) {
		t.Error("created an all-zero key")
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, info.Mode().Perm(), err, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the key directory holds %d entries, want only the key (temporary file left behind?)", len(entries))
	}
	for _, create := range []bool{true, false} {
		if k2, err := LoadOrCreateKey(path, create); err != nil || !bytes.Equal(k1, k2) {
			t.Errorf("reload (create=%v) gave another key: %v", create, err)
		}
	}
}

func TestLoadOrCreateKeyConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path, true)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatal("racing creators ended up with different keys")
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	key := bytes.Repeat([]byte{0xFB}, KeySize) // 0xFB makes the std and url alphabets differ
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string // "" means the key loads
	}{
		{"std base64 with newline", base64.StdEncoding.EncodeToString(key) + "\n", 0o600, ""},
		{"raw std base64", base64.RawStdEncoding.EncodeToString(key), 0o600, ""},
		{"raw url base64 with spaces", "  " + base64.RawURLEncoding.EncodeToString(key) + " \r\n", 0o400, ""},
		{"padded url base64", base64.URLEncoding.EncodeToString(key), 0o600, ""},
		{"too short", base64.StdEncoding.EncodeToString(key[:16]), 0o600, "exactly 32 random bytes"},
		{"too long", base64.StdEncoding.EncodeToString(append(key, 1)), 0o600, "exactly 32 random bytes"},
		{"raw bytes, not base64", string(key), 0o600, "exactly 32 random bytes"},
		{"empty", "", 0o600, "exactly 32 random bytes"},
		{"world readable", base64.StdEncoding.EncodeToString(key), 0o644, "chmod 600"},
		{"group readable", base64.StdEncoding.EncodeToString(key), 0o640, "chmod 600"},
		{"group writable", base64.StdEncoding.EncodeToString(key), 0o620, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadOrCreateKey(path, true)
			switch {
			case tt.wantErr == "" && (err != nil || !bytes.Equal(got, key)):
				t.Errorf("got %x, %v; want the key", got, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v; want one that says %q", err, tt.wantErr)
			case tt.wantErr != "" && strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(key[:16])):
				t.Errorf("the error shows the key file's content: %v", err)
			}
			if tt.wantErr != "" {
				if b, _ := os.ReadFile(path); string(b) != tt.content {
					t.Error("a bad key file was overwritten")
				}
			}
		})
	}
}

func TestLoadKeyNotAFile(t *testing.T) {
	if _, err := LoadOrCreateKey(t.TempDir(), true); err == nil {
		t.Error("a directory was accepted as the key file")
	}
}

func TestRandomDigits(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 6, 8, 63, 64, 65, 200} {
		d := RandomDigits(n)
		if len(d) != max(n, 0) {
			t.Errorf("RandomDigits(%d) has %d digits", n, len(d))
		}
		if strings.Trim(d, "0123456789") != "" {
			t.Errorf("RandomDigits(%d) = %q: not only digits", n, d)
		}
	}
	// 100 000 digits: each should appear 10 000 times (σ ≈ 95). The bound is over 10σ, so
	// it never flakes, yet catches a missing digit or a crude bias.
	var counts [10]int
	for range 100_000 / 8 {
		for _, c := range RandomDigits(8) {
			counts[c-'0']++
		}
	}
	for digit, c := range counts {
		if c < 9_000 || c > 11_000 {
			t.Errorf("digit %d appeared %d times in 100000; want about 10000 (%v)", digit, c, counts)
		}
	}
}

func TestRandomToken(t *testing.T) {
	tests := []struct{ n, wantLen int }{{-1, 0}, {0, 0}, {1, 2}, {16, 22}, {32, 43}}
	for _, tt := range tests {
		tok := RandomToken(tt.n)
		if len(tok) != tt.wantLen {
			t.Errorf("RandomToken(%d) = %q, want %d characters", tt.n, tok, tt.wantLen)
		}
		if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) != max(tt.n, 0) {
			t.Errorf("RandomToken(%d) = %q is not unpadded base64url of %d bytes", tt.n, tok, tt.n)
		}
	}
	if RandomToken(32) == RandomToken(32) {
		t.Error("two tokens are equal")
	}
}

func BenchmarkHasherSum(b *testing.B) {
	h := testBox(b, 7).Hasher("refresh-token")
	b.ReportAllocs()
	for b.Loop() {
		h.Sum("rt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
	}
}

func BenchmarkHasherSumParallel(b *testing.B) {
	h := testBox(b, 7).Hasher("refresh-token")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Sum("rt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
		}
	})
}

// BenchmarkHMACPerCall is the alternative to the pool: a fresh keyed HMAC per call. Kept to
// show why Hasher pools its HMAC states.
func BenchmarkHMACPerCall(b *testing.B) {
	key := derive(bytes.Repeat([]byte{7}, KeySize), "hash refresh-token")
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("rt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"))
		_ = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
}

func BenchmarkHasherEqual(b *testing.B) {
	h := testBox(b, 7).Hasher("client-secret")
	stored := h.Sum("cs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
	b.ReportAllocs()
	for b.Loop() {
		h.Equal("cs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", stored)
	}
}

func BenchmarkSeal64(b *testing.B) {
	box := testBox(b, 7)
	pt := bytes.Repeat([]byte{1}, 64)
	b.ReportAllocs()
	for b.Loop() {
		box.Seal(pt, []byte("kid-1"))
	}
}

func BenchmarkOpen64(b *testing.B) {
	box := testBox(b, 7)
	sealed := box.Seal(bytes.Repeat([]byte{1}, 64), []byte("kid-1"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := box.Open(sealed, []byte("kid-1")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRandomDigits6(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		RandomDigits(6)
	}
}

func BenchmarkRandomToken32(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		RandomToken(32)
	}
}
