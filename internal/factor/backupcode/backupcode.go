// Package backupcode is the lost-phone factor: ten single-use codes of ten characters from an
// alphabet without look-alikes, shown once, stored only as keyed hashes.
package backupcode

import (
	"context"
	"crypto/rand"
	"math/big"
	"strings"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/store"
)

// alphabet leaves out 0/o, 1/l/i and other pairs people misread.
const alphabet = "23456789abcdefghjkmnpqrstuvwxyz"

const (
	count  = 10
	length = 10
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

func (c *Codes) Kind() string            { return "backup_code" }
func (c *Codes) AMR() []string           { return []string{"otp"} }
func (c *Codes) PhishingResistant() bool { return false }

// Generate replaces the person's set with ten new codes and returns them, formatted for reading
// (xxxxx-xxxxx). They are never shown again.
func (c *Codes) Generate(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, count)
	hashes := make([]string, count)
	for i := range codes {
		raw := random(length)
		codes[i] = raw[:5] + "-" + raw[5:]
		hashes[i] = c.h.Sum(userID + ":" + raw)
	}
	if err := c.st.ReplaceBackupCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// Verify spends a code; input may have the dash or not, spaces, any case.
func (c *Codes) Verify(ctx context.Context, f *store.Factor, response string) error {
	return c.Use(ctx, f.UserID, response)
}

// Use spends one of a person's codes.
func (c *Codes) Use(ctx context.Context, userID, input string) error {
	norm := Normalize(input)
	if len(norm) != length {
		return factor.ErrWrong
	}
	ok, err := c.st.UseBackupCode(ctx, userID, c.h.Sum(userID+":"+norm))
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

// Normalize drops dashes and spaces and lower-cases.
func Normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + 32
		}
		return r
	}, s)
}

func random(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}
