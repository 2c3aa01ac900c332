package factor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/store"
)

// Factor is one kind of second factor.
type Factor interface {
	// Kind is the policy name (policy.TOTP, policy.SMS, …), also stored in factors.kind.
	Kind() string
	// AMR lists the RFC 8176 values a successful check adds to the authentication.
	AMR() []string
	// PhishingResistant reports whether the factor is bound to the origin (passkeys).
	PhishingResistant() bool
	// BeginChallenge starts a challenge: out-of-band factors send a code (subject to their
	// cooldown and caps, *store.ErrSendLimited otherwise); factors whose answer the person
	// already holds (an authenticator app, printed backup codes) send nothing.
	BeginChallenge(ctx context.Context, req ChallengeRequest) (*Challenge, error)
	// Verify checks a person's response to a challenge on f. A wrong answer is ErrWrong; an
	// answer that was right before and is presented again is ErrReplayed where the factor can
	// tell (TOTP), ErrWrong otherwise. Any other error is the system's, not the person's.
	Verify(ctx context.Context, f *store.Factor, response string) error
}

// ChallengeRequest is what a factor may need to begin a challenge.
type ChallengeRequest struct {
	// UserID is the person being challenged.
	UserID string
	// Factor is the enrolled factor being challenged; nil for factors without a row (backup
	// codes) and while enrolling a code channel.
	Factor *store.Factor
	// Destination is where a code goes: an E.164 number for SMS and voice, an address for email.
	// The caller fills it from the person's verified contact details.
	Destination string
	// IP is the client address (internal/clientip), counted by the per-address send cap.
	IP string
	// Compose words the message carrying code, valid for ttl, in the person's language. The
	// factor sets the message's Channel and To.
	Compose func(code string, ttl time.Duration) delivery.Message
}

// Challenge is what a page shows after BeginChallenge.
type Challenge struct {
	Kind string
	// Sent is true when a code went out now, to Destination, valid until ExpiresAt.
	Sent        bool
	Destination string
	ExpiresAt   time.Time
}

// Errors every factor uses, so the login can count failures the same way for all of them.
var (
	ErrWrong    = errors.New("factor: wrong answer")
	ErrReplayed = errors.New("factor: answer already used")
	// ErrNoDestination: a code factor was asked to send with no number or address to send to.
	ErrNoDestination = errors.New("factor: no destination to send a code to")
)

// RetryAt reports when a refused send may be tried again: the time carried by a
// *store.ErrSendLimited anywhere in err's chain.
func RetryAt(err error) (time.Time, bool) {
	var l *store.ErrSendLimited
	if errors.As(err, &l) {
		return l.RetryAt, true
	}
	return time.Time{}, false
}

// Registry maps kinds to factors. It is built once, at start-up (see the registry
// subpackage), and only read afterwards.
type Registry map[string]Factor

// Register adds a factor. Registering a kind twice is a wiring mistake and panics.
func (r Registry) Register(f Factor) {
	if _, dup := r[f.Kind()]; dup {
		panic(fmt.Sprintf("factor: kind %q registered twice", f.Kind()))
	}
	r[f.Kind()] = f
}

// Get returns the factor of a kind.
func (r Registry) Get(kind string) (Factor, bool) {
	f, ok := r[kind]
	return f, ok
}

// Kinds lists the registered kinds, sorted.
func (r Registry) Kinds() []string {
	out := make([]string, 0, len(r))
	for k := range r {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
