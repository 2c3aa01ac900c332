package password

import (
	"context"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// fast keeps the tests quick; TestDefaultParams is the one test that pays for the real cost.
var fast = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLen: 32, SaltLen: 16}

func TestHashFormat(t *testing.T) {
	h := New(fast, 2)
	enc, err := h.Hash(t.Context(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	rest, found := strings.CutPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$")
	if !found {
		t.Fatalf("hash %q is not PHC argon2id with the hasher's parameters", enc)
	}
	salt, key, _ := strings.Cut(rest, "$")
	for _, f := range []struct {
		name, b64 string
		n         int
	}{{"salt", salt, 16}, {"hash", key, 32}} {
		if b, err := base64.RawStdEncoding.DecodeString(f.b64); err != nil || len(b) != f.n {
			t.Errorf("%s %q is not %d bytes of unpadded standard base64", f.name, f.b64, f.n)
		}
	}
	if again, _ := h.Hash(t.Context(), "correct horse battery"); again == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerify(t *testing.T) {
	h := New(fast, 2)
	tests := []struct {
		name, password, attempt string
		want                    bool
	}{
		{"right", "correct horse battery", "correct horse battery", true},
		{"wrong", "correct horse battery", "correct horse battery!", false},
		{"case matters", "correct horse battery", "Correct horse battery", false},
		{"empty attempt", "correct horse battery", "", false},
		{"unicode", "mot de passe très sûr 🔑", "mot de passe très sûr 🔑", true},
		{"unicode, other normalization", "café", "cafe\u0301", false},
		{"long, differs at the end", strings.Repeat("a", 255) + "b", strings.Repeat("a", 255) + "c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := h.Hash(t.Context(), tt.password)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(t.Context(), tt.attempt, enc)
			if ok != tt.want || rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	enc, err := New(fast, 1).Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Params)) Params { p := fast; f(&p); return p }
	tests := []struct {
		name string
		p    Params
		want bool
	}{
		{"same parameters", fast, false},
		{"more memory", with(func(p *Params) { p.MemoryKiB = 128 }), true},
		{"less memory", with(func(p *Params) { p.MemoryKiB = 32 }), true},
		{"more passes", with(func(p *Params) { p.Iterations = 2 }), true},
		{"more lanes", with(func(p *Params) { p.Parallelism = 2 }), true},
		{"longer key", with(func(p *Params) { p.KeyLen = 64 }), true},
		{"longer salt", with(func(p *Params) { p.SaltLen = 32 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tt.p, 1)
			if ok, rehash, err := h.Verify(t.Context(), "pw", enc); !ok || rehash != tt.want || err != nil {
				t.Errorf("right password: %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
			if ok, rehash, err := h.Verify(t.Context(), "wrong", enc); ok || rehash || err != nil {
				t.Errorf("wrong password: %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

// TestDefaultParams is the one test with OWASP's parameters (two argon2id runs).
func TestDefaultParams(t *testing.T) {
	if got := DefaultParams(); got != (Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, KeyLen: 32, SaltLen: 16}) {
		t.Fatalf("DefaultParams() = %+v", got)
	}
	h := New(DefaultParams(), 1)
	enc, err := h.Hash(t.Context(), "correct horse battery")
	if err != nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default hash %q, %v is not OWASP argon2id", enc, err)
	}
	if ok, rehash, err := h.Verify(t.Context(), "correct horse battery", enc); !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		max     int
		want    Params
		wantCap int
	}{
		{"zero params mean the defaults", Params{}, 0, DefaultParams(), runtime.NumCPU()},
		{"negative concurrency means one per CPU", fast, -3, fast, runtime.NumCPU()},
		{"explicit concurrency", fast, 3, fast, 3},
		{"short salt and key raised to the minimum", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLen: 4, SaltLen: 4},
			1, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, KeyLen: 16, SaltLen: 8}, 1},
		{"memory raised to 8 KiB per lane", Params{MemoryKiB: 8, Iterations: 1, Parallelism: 4, KeyLen: 32, SaltLen: 16},
			1, Params{MemoryKiB: 32, Iterations: 1, Parallelism: 4, KeyLen: 32, SaltLen: 16}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tt.p, tt.max)
			if h.p != tt.want || cap(h.sem) != tt.wantCap {
				t.Errorf("New(%+v, %d) has %+v and %d slots; want %+v and %d", tt.p, tt.max, h.p, cap(h.sem), tt.want, tt.wantCap)
			}
		})
	}
}

// TestOwnParamsBeyondLimits: the limits on stored hashes never lock out the hasher's own
// parameters, yet do bind hashes made with other ones.
func TestOwnParamsBeyondLimits(t *testing.T) {
	h := New(Params{MemoryKiB: 8, Iterations: 40, Parallelism: 1}, 1)
	enc, _ := h.Hash(t.Context(), "pw")
	if ok, rehash, err := h.Verify(t.Context(), "pw", enc); !ok || rehash || err != nil {
		t.Errorf("Verify(own hash with t=40) = %v, %v, %v", ok, rehash, err)
	}
	if _, _, err := New(fast, 1).Verify(t.Context(), "pw", enc); !errors.Is(err, ErrMalformed) {
		t.Errorf("a hasher with t=1 accepted a stored t=40, beyond its limit of 32: %v", err)
	}
}

func TestLegacyBcrypt(t *testing.T) {
	h := New(fast, 1)
	b, err := bcrypt.GenerateFromPassword([]byte("old password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	long, _ := bcrypt.GenerateFromPassword([]byte(strings.Repeat("x", 72)), bcrypt.MinCost)
	tests := []struct {
		name, password, encoded string
		want                    bool
	}{
		{"$2a$ right", "old password", string(b), true},
		{"$2a$ wrong", "old passwore", string(b), false},
		{"$2a$ empty", "", string(b), false},
		{"$2b$ right", "old password", "$2b$" + string(b[4:]), true},
		{"$2y$ right", "old password", "$2y$" + string(b[4:]), true},
		{"$2y$ wrong", "nope", "$2y$" + string(b[4:]), false},
		// bcrypt reads 72 bytes at most; the hash was made that way, so Verify agrees with
		// the system that made it (and the argon2id rehash then uses the whole password).
		{"beyond 72 bytes", strings.Repeat("x", 72) + "tail", string(long), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(t.Context(), tt.password, tt.encoded)
			if ok != tt.want || rehash != tt.want || err != nil {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil (a right bcrypt password always needs a rehash)",
					ok, rehash, err, tt.want, tt.want)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	h := New(fast, 1)
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, _, err := h.Verify(t.Context(), "pw", valid); err != nil {
		t.Fatalf("the template of the malformed cases is itself rejected: %v", err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	tests := []struct{ name, encoded string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$" + salt + "$" + key},
		{"prefix only", "$argon2id$"},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", valid + "$x"},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"parameters out of order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"parameter missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"extra parameter", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt + "$" + key},
		{"signed number", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"space in parameters", "$argon2id$v=19$m=64, t=1,p=1$" + salt + "$" + key},
		{"trailing junk in a number", "$argon2id$v=19$m=64,t=1,p=1x$" + salt + "$" + key},
		{"zero passes", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero lanes", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"256 lanes", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"memory below 8 per lane", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"memory beyond the limit (4 GiB)", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"passes beyond the limit", "$argon2id$v=19$m=64,t=1000000,p=1$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!!!!!!!!$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$aGFzaA"},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"hash not base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("*", 43)},
		{"overlong", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 600)},
		{"bcrypt too short", "$2a$04$abc"},
		{"bcrypt bad cost", "$2a$xx$" + string(bc[7:])},
		{"bcrypt cost beyond the limit", "$2a$17$" + string(bc[7:])},
		{"bcrypt cost 31", "$2b$31$" + string(bc[7:])},
		{"bcrypt salt not base64", "$2a$04$" + strings.Repeat("!", 53)},
		{"bcrypt $2x$", "$2x$" + string(bc[4:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(t.Context(), "pw", tt.encoded)
			if ok || rehash || !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify = %v, %v, %v; want false, false, ErrMalformed", ok, rehash, err)
			}
			if err := h.Check(tt.encoded); !errors.Is(err, ErrMalformed) {
				t.Errorf("Check = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestCheck: what an import may store is exactly what Verify can sign someone in with; Check
// decides without hashing, and never puts the hash in its error.
func TestCheck(t *testing.T) {
	h := New(fast, 1)
	own, _ := h.Hash(t.Context(), "pw")
	other, _ := New(Params{MemoryKiB: 64, Iterations: 3, Parallelism: 2}, 1).Hash(t.Context(), "pw")
	owasp := encode(DefaultParams(), make([]byte, 16), make([]byte, 32))
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	valid := []string{own, other, owasp, string(bc), "$2b$" + string(bc[4:]), "$2y$" + string(bc[4:]),
		"$2a$16$" + string(bc[7:])}
	for _, enc := range valid {
		if err := h.Check(enc); err != nil {
			t.Errorf("Check(%q) = %v, want nil", enc, err)
		}
	}
	invalid := []string{
		string(bc[:59]),                           // one character short: bcrypt would read it, nothing would match
		string(bc) + "A",                          // one too many
		"$2a$04x" + string(bc[7:]),                // no $ after the cost
		"$2a$04$" + strings.Repeat("A", 52) + "=", // padding is not in bcrypt's alphabet
		"$2a$03$" + string(bc[7:]),                // below bcrypt's minimum cost
		"correct horse battery staple",            // plain text
		"$argon2id$v=19$m=524288,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", // 512 MiB
	}
	for _, enc := range invalid {
		err := h.Check(enc)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Check(%q) = %v, want ErrMalformed", enc, err)
			continue
		}
		if len(enc) > 20 && strings.Contains(err.Error(), enc[7:20]) {
			t.Errorf("Check's error repeats the hash: %v", err)
		}
	}
}

func TestVerifyDummy(t *testing.T) {
	h := New(fast, 1)
	p, _, _, err := decode(h.dummy)
	if err != nil || p != h.p {
		t.Fatalf("the dummy hash %q has %+v (%v); want the hasher's %+v, so it costs the same", h.dummy, p, err, h.p)
	}
	for _, pw := range []string{"", "pw", "tessera dummy"} {
		if ok, _, err := h.Verify(t.Context(), pw, h.dummy); ok || err != nil {
			t.Errorf("Verify(%q, dummy) = %v, %v; want false, nil", pw, ok, err)
		}
		h.VerifyDummy(t.Context(), pw)
	}
	if len(h.sem) != 0 {
		t.Error("VerifyDummy kept a hashing slot")
	}
}

// TestConcurrencyCapRespectsContext: with the only slot taken, every hashing call waits, and
// returns as soon as its context ends. No timing: the held slot is the only way to block.
func TestConcurrencyCapRespectsContext(t *testing.T) {
	h := New(fast, 1)
	good, _ := h.Hash(t.Context(), "pw")
	legacy, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	h.sem <- struct{}{} // the one slot is busy

	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Hash", func(ctx context.Context) error { _, err := h.Hash(ctx, "pw"); return err }},
		{"Verify argon2id", func(ctx context.Context) error { _, _, err := h.Verify(ctx, "pw", good); return err }},
		{"Verify bcrypt", func(ctx context.Context) error { _, _, err := h.Verify(ctx, "pw", string(legacy)); return err }},
		// VerifyDummy reports nothing; returning at all is the test.
		{"VerifyDummy", func(ctx context.Context) error { h.VerifyDummy(ctx, "pw"); return context.Canceled }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" cancelled while waiting", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- tt.call(ctx) }()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v; want context.Canceled", err)
			}
		})
		t.Run(tt.name+" already cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := tt.call(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v; want context.Canceled", err)
			}
		})
	}
	if ok, _, err := h.Verify(t.Context(), "pw", "$argon2id$garbage"); ok || !errors.Is(err, ErrMalformed) {
		t.Errorf("a malformed hash should fail before waiting for a slot: %v, %v", ok, err)
	}

	<-h.sem // free the slot: the hasher works again, and never took the held slot for itself
	if ok, _, err := h.Verify(t.Context(), "pw", good); !ok || err != nil {
		t.Errorf("after the slot is free: %v, %v", ok, err)
	}
	if len(h.sem) != 0 {
		t.Error("a slot was not released")
	}

}

// TestConcurrentUse shares one hasher, with fewer slots than callers (run with -race).
func TestConcurrentUse(t *testing.T) {
	h := New(fast, 2)
	enc, _ := h.Hash(t.Context(), "pw")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			want := i%2 == 0
			attempt := "pw"
			if !want {
				attempt = "wrong"
			}
			if ok, _, err := h.Verify(t.Context(), attempt, enc); ok != want || err != nil {
				t.Errorf("Verify(%q) = %v, %v", attempt, ok, err)
			}
		})
	}
	wg.Wait()
	if len(h.sem) != 0 {
		t.Error("slots were not released")
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"long enough", "long enough", nil},
		{"exactly the minimum", "12345678", nil},
		{"one short", "1234567", ErrTooShort},
		{"empty", "", ErrTooShort},
		{"runes, not bytes: 7 runes", "ñññññññ", ErrTooShort},
		{"runes, not bytes: 8 runes", "ññññññññ", nil},
		{"emoji count as one each", "🔑🔑🔑🔑🔑🔑🔑🔑", nil},
		{"exactly 256 bytes", strings.Repeat("a", 256), nil},
		{"257 bytes", strings.Repeat("a", 257), ErrTooLong},
		{"129 two-byte runes (258 bytes)", strings.Repeat("é", 129), ErrTooLong},
		{"only spaces", "          ", ErrBlank},
		{"only tabs and newlines", "\t\t\t\t\n\n\n\n", ErrBlank},
		{"only non-breaking and ideographic spaces", strings.Repeat("\u00a0\u3000", 4), ErrBlank},
		{"spaces inside are fine", "correct horse battery", nil},
		{"leading and trailing spaces are fine", "  secret  ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPolicy(tt.pw, 8)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckPolicy(%q) = %v, want %v", tt.pw, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.pw) && strings.TrimSpace(tt.pw) != "" {
				t.Errorf("the message repeats the password: %v", err)
			}
		})
	}
	if err := CheckPolicy("short", 8); err == nil || !strings.Contains(err.Error(), "at least 8 characters") {
		t.Errorf("the too-short message does not say the minimum: %v", err)
	}
}

// FuzzVerify feeds Verify whatever a database row could hold: it must never panic, and an
// error never comes with ok or needsRehash.
func FuzzVerify(f *testing.F) {
	h := New(fast, 1)
	// Small limits so that the fuzzer cannot find a hash that takes seconds.
	h.lim.memoryKiB, h.lim.iterations, h.lim.bcryptCost = 1024, 4, 5
	good, _ := h.Hash(context.Background(), "pw")
	legacy, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, s := range []string{good, string(legacy), "$2y$04$" + string(legacy[7:]), "$2a$04$abc",
		"$argon2id$v=19$m=1,t=1,p=1$$", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		ok, rehash, err := h.Verify(context.Background(), "pw", enc)
		if err != nil && (ok || rehash) {
			t.Errorf("Verify(%q) = %v, %v, %v", enc, ok, rehash, err)
		}
		if !ok && rehash {
			t.Errorf("Verify(%q) asks to rehash a wrong password", enc)
		}
		// Check accepts only what Verify can read (the reverse need not hold: Verify reads a
		// bcrypt value of the wrong length, which then matches nothing).
		if h.Check(enc) == nil && errors.Is(err, ErrMalformed) {
			t.Errorf("Check(%q) accepts a hash Verify calls malformed: %v", enc, err)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	h := New(DefaultParams(), 1)
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is a login's dominant CPU cost (OWASP parameters, one at a time).
func BenchmarkVerify(b *testing.B) {
	h := New(DefaultParams(), 1)
	enc, _ := h.Hash(b.Context(), "correct horse battery staple")
	for b.Loop() {
		if ok, _, err := h.Verify(b.Context(), "correct horse battery staple", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkVerifyParallel is the throughput of a login storm with one slot per CPU.
func BenchmarkVerifyParallel(b *testing.B) {
	h := New(DefaultParams(), 0)
	enc, _ := h.Hash(b.Context(), "correct horse battery staple")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Verify(context.Background(), "correct horse battery staple", enc)
		}
	})
}

// BenchmarkVerifyDummy should match BenchmarkVerify: an unknown account costs the same.
func BenchmarkVerifyDummy(b *testing.B) {
	h := New(DefaultParams(), 1)
	for b.Loop() {
		h.VerifyDummy(b.Context(), "correct horse battery staple")
	}
}

// BenchmarkVerifyBcryptCost10 is a legacy hash's one-time cost before it is upgraded.
func BenchmarkVerifyBcryptCost10(b *testing.B) {
	h := New(DefaultParams(), 1)
	enc, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), 10)
	for b.Loop() {
		h.Verify(b.Context(), "correct horse battery staple", string(enc))
	}
}
