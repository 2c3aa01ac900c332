package backupcode

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// Alphabet is what codes are made of: lower-case letters and digits without 0/o, 1/l/i, which
// people misread (input is case-insensitive, so I and O are gone too).
const Alphabet = "23456789abcdefghjkmnpqrstuvwxyz"

const (
	// Count is how many codes a set holds.
	Count = 10
	// Length is how many characters a code has, without the dash.
	Length = 10
)

// Hasher is a keyed hash (internal/secret.Hasher).
type Hasher interface{ Sum(string) string }

// Codes is the backup-code factor.
type Codes struct {
	st *store.Store
	h  Hasher
}

var _ factor.Factor = (*Codes)(nil)

// New returns the factor.
func New(st *store.Store, h Hasher) *Codes { return &Codes{st: st, h: h} }

// Kind is policy.BackupCode.
func (c *Codes) Kind() string { return policy.BackupCode }

// AMR is otp (RFC 8176: a one-time password).
func (c *Codes) AMR() []string { return []string{"otp"} }

// PhishingResistant is false: a code can be typed into a look-alike site.
func (c *Codes) PhishingResistant() bool { return false }

// BeginChallenge sends nothing: the codes are on the person's paper.
func (c *Codes) BeginChallenge(context.Context, factor.ChallengeRequest) (*factor.Challenge, error) {
	return &factor.Challenge{Kind: c.Kind()}, nil
}

// Generate replaces the person's set with Count new codes and returns them, formatted for
// reading (xxxxx-xxxxx). They are never shown again.
func (c *Codes) Generate(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, Count)
	hashes := make([]string, Count)
	for i := range codes {
		raw := random(Length)
		codes[i] = Format(raw)
		hashes[i] = c.hash(userID, raw)
	}
	if err := c.st.ReplaceBackupCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// Verify spends one of f's owner's codes (backup codes have no row of their own: f needs only
// UserID).
func (c *Codes) Verify(ctx context.Context, f *store.Factor, response string) error {
	return c.Use(ctx, f.UserID, response)
}

// Use spends one of a person's codes: ErrWrong for a code that is unknown, already used, or
// from a replaced set.
func (c *Codes) Use(ctx context.Context, userID, input string) error {
	norm := Normalize(input)
	if len(norm) != Length || strings.Trim(norm, Alphabet) != "" {
		return factor.ErrWrong
	}
	ok, err := c.st.UseBackupCode(ctx, userID, c.hash(userID, norm))
	if err != nil {
		return err
	}
	if !ok {
		return factor.ErrWrong
	}
	return nil
}

// Left counts unused codes.
func (c *Codes) Left(ctx context.Context, userID string) (int64, error) {
	return c.st.BackupCodesLeft(ctx, userID)
}

func (c *Codes) hash(userID, normalized string) string { return c.h.Sum(userID + ":" + normalized) }

// Format prints a normalized code for reading: xxxxx-xxxxx.
func Format(code string) string {
	if len(code) != Length {
		return code
	}
	return code[:Length/2] + "-" + code[Length/2:]
}

// Normalize turns what a person typed into the stored form: dashes and white space dropped,
// upper case lowered.
func Normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// random returns n characters of Alphabet, each uniformly chosen (crypto/rand; bytes that would
// bias the choice are discarded rather than folded in by a modulo).
func random(n int) string {
	const limit = 256 - 256%len(Alphabet)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic(fmt.Sprintf("backupcode: crypto/rand: %v", err)) // never happens on supported platforms
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, Alphabet[int(b)%len(Alphabet)])
			}
		}
	}
	return string(out)
}
