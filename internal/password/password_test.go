package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var fast = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLen: 32, SaltLen: 16}
var ctx = context.Background()

func TestHashVerify(t *testing.T) {
	h := New(fast, 2)
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %q, %v", enc, err)
	}
	if ok, rehash, err := h.Verify(ctx, "correct horse battery", enc); !ok || rehash || err != nil {
		t.Errorf("right password: %v %v %v", ok, rehash, err)
	}
	if ok, _, err := h.Verify(ctx, "wrong", enc); ok || err != nil {
		t.Errorf("wrong password accepted: %v %v", ok, err)
	}
	stronger := New(Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1, KeyLen: 32, SaltLen: 16}, 1)
	if ok, rehash, _ := stronger.Verify(ctx, "correct horse battery", enc); !ok || !rehash {
		t.Error("changed parameters must ask for a rehash")
	}
}

func TestDefaultParams(t *testing.T) {
	h := New(DefaultParams(), 1)
	enc, _ := h.Hash(ctx, "pw")
	if !strings.Contains(enc, "$m=19456,t=2,p=1$") {
		t.Errorf("default hash %q is not OWASP argon2id", enc)
	}
}

func TestLegacyBcrypt(t *testing.T) {
	h := New(fast, 1)
	b, _ := bcrypt.GenerateFromPassword([]byte("old password"), bcrypt.MinCost)
	if ok, rehash, err := h.Verify(ctx, "old password", string(b)); !ok || !rehash || err != nil {
		t.Errorf("bcrypt: %v %v %v", ok, rehash, err)
	}
	if ok, _, err := h.Verify(ctx, "nope", string(b)); ok || err != nil {
		t.Errorf("bcrypt wrong password: %v %v", ok, err)
	}
}

func TestMalformed(t *testing.T) {
	h := New(fast, 1)
	for _, enc := range []string{"", "plain", "$argon2id$", "$argon2id$v=19$m=64,t=1,p=1$!!$!!",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$2a$xx"} {
		if ok, _, err := h.Verify(ctx, "pw", enc); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
		}
	}
}

func TestConcurrencyCapRespectsContext(t *testing.T) {
	h := New(fast, 1)
	h.sem <- struct{}{} // the one slot is busy
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(c, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a full semaphore and a cancelled context: %v", err)
	}
	<-h.sem
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Error(err)
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		pw   string
		want error
	}{
		{"long enough", nil},
		{"short", ErrTooShort},
		{"ñññññññ", ErrTooShort},
		{"ññññññññ", nil},
		{strings.Repeat("a", 257), ErrTooLong},
		{"          ", ErrBlank},
	}
	for _, tt := range tests {
		if err := CheckPolicy(tt.pw, 8); !errors.Is(err, tt.want) {
			t.Errorf("CheckPolicy(%q) = %v, want %v", tt.pw, err, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	h := New(fast, 1)
	good, _ := h.Hash(ctx, "pw")
	for _, s := range []string{good, "$2a$04$abc", "$argon2id$v=19$m=1,t=1,p=1$$", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		h.Verify(ctx, "pw", enc) // must not panic, whatever is stored
	})
}

func BenchmarkHash(b *testing.B) {
	h := New(DefaultParams(), 1)
	for b.Loop() {
		h.Hash(ctx, "correct horse battery staple")
	}
}

func BenchmarkVerify(b *testing.B) {
	h := New(DefaultParams(), 1)
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	for b.Loop() {
		h.Verify(ctx, "correct horse battery staple", enc)
	}
}
