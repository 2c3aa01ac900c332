// Package factor defines what every second factor is to the rest of Tessera: a kind, the amr
// values it contributes (RFC 8176), whether it resists phishing, and a way to check a response.
// It knows nothing of HTTP; each factor lives in its own package and is registered in one line.
package factor

import (
	"context"
	"errors"

	"github.com/tessera-health/tessera/internal/store"
)

// Factor is one kind of second factor.
type Factor interface {
	// Kind is the policy name (policy.TOTP, policy.SMS, …).
	Kind() string
	// AMR lists the RFC 8176 values a successful check adds to the authentication.
	AMR() []string
	// PhishingResistant reports whether the factor is bound to the origin (passkeys).
	PhishingResistant() bool
	// Verify checks a person's response for an enrolled factor. A wrong answer is ErrWrong; an
	// answer that was right before and is presented again is ErrReplayed.
	Verify(ctx context.Context, f *store.Factor, response string) error
}

// Errors every factor uses, so the login can count failures the same way for all of them.
var (
	ErrWrong    = errors.New("factor: wrong answer")
	ErrReplayed = errors.New("factor: answer already used")
)

// Registry maps kinds to factors.
type Registry map[string]Factor

// Register adds a factor.
func (r Registry) Register(f Factor) { r[f.Kind()] = f }
