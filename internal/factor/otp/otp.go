package otp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
)

// CodeLength is the number of digits in a code.
const CodeLength = 6

// Hasher is a keyed hash (internal/secret.Hasher).
type Hasher interface{ Sum(string) string }

// DefaultLimits are the send limits when Options leaves them zero.
var DefaultLimits = store.SendLimits{Cooldown: 30 * time.Second, PerUser: 5, PerDestination: 5, PerIP: 20}

// DefaultTTL is how long a code of a channel stays valid unless configured otherwise.
func DefaultTTL(kind string) time.Duration {
	if kind == policy.Email {
		return 15 * time.Minute
	}
	return 10 * time.Minute
}

// amrOf maps a channel to its RFC 8176 value. Email has none of its own, so it is otp.
var amrOf = map[string]string{policy.SMS: "sms", policy.Voice: "tel", policy.Email: "otp"}

// Options configure a channel. Zero fields take the defaults (DefaultTTL, DefaultLimits).
type Options struct {
	TTL    time.Duration
	Limits store.SendLimits
}

// Channel sends and checks codes on one channel.
type Channel struct {
	kind string
	amr  string
	ttl  time.Duration
	// maxAge, on a channel bound to a tenant (For), refuses codes sent longer ago than the
	// tenant's lifetime even when they were sent under a longer one.
	maxAge time.Duration
	limits store.SendLimits
	st     *store.Store
	h      Hasher
	sender delivery.Sender
}

var _ factor.Factor = (*Channel)(nil)

// New returns the channel of kind (policy.SMS, policy.Voice or policy.Email). Codes are hashed
// with h and messages handed to sender.
func New(kind string, st *store.Store, h Hasher, sender delivery.Sender, o Options) (*Channel, error) {
	amr, ok := amrOf[kind]
	if !ok {
		return nil, fmt.Errorf("otp: unknown channel %q (want sms, voice or email)", kind)
	}
	if o.TTL < 0 || o.Limits.Cooldown < 0 || o.Limits.PerUser < 0 || o.Limits.PerDestination < 0 || o.Limits.PerIP < 0 {
		return nil, fmt.Errorf("otp: %s: negative lifetime or limit", kind)
	}
	c := &Channel{kind: kind, amr: amr, ttl: o.TTL, limits: o.Limits, st: st, h: h, sender: sender}
	if c.ttl == 0 {
		c.ttl = DefaultTTL(kind)
	}
	d := DefaultLimits
	for _, f := range []struct {
		v   *int
		def int
	}{{&c.limits.PerUser, d.PerUser}, {&c.limits.PerDestination, d.PerDestination}, {&c.limits.PerIP, d.PerIP}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.limits.Cooldown == 0 {
		c.limits.Cooldown = d.Cooldown
	}
	return c, nil
}

func must(c *Channel, err error) *Channel {
	if err != nil {
		panic(err) // only for the fixed kinds below, which New always accepts
	}
	return c
}

// Email returns the email-code channel with the defaults: codes valid 15 minutes, amr otp.
func Email(st *store.Store, h Hasher, sender delivery.Sender) *Channel {
	return must(New(policy.Email, st, h, sender, Options{}))
}

// SMS returns the text-message channel with the defaults: codes valid 10 minutes, amr sms.
func SMS(st *store.Store, h Hasher, sender delivery.Sender) *Channel {
	return must(New(policy.SMS, st, h, sender, Options{}))
}

// Voice returns the voice-call channel with the defaults: codes valid 10 minutes, amr tel.
func Voice(st *store.Store, h Hasher, sender delivery.Sender) *Channel {
	return must(New(policy.Voice, st, h, sender, Options{}))
}

// Kind is the channel: policy.SMS, policy.Voice or policy.Email.
func (c *Channel) Kind() string { return c.kind }

// AMR is sms, tel or otp (email).
func (c *Channel) AMR() []string { return []string{c.amr} }

// PhishingResistant is false: a code can be typed into a look-alike site.
func (c *Channel) PhishingResistant() bool { return false }

// For returns the channel as tenant t uses it: codes live the tenant's lifetime when it sets one
// (bounded by store.MaxCodeMinutes), else the channel's. Codes are checked against that
// lifetime too. A nil channel stays nil.
func (c *Channel) For(t *store.Tenant) *Channel {
	if c == nil {
		return nil
	}
	d := t.CodeLifetime(c.kind)
	if d <= 0 {
		return c
	}
	cp := *c
	cp.ttl, cp.maxAge = d, d
	return &cp
}

// TTL is how long a code stays valid (for the message text).
func (c *Channel) TTL() time.Duration { return c.ttl }

// Limits are the channel's send limits.
func (c *Channel) Limits() store.SendLimits { return c.limits }

// Send makes a code, records its hash (subject to the cooldown and caps: *store.ErrSendLimited
// says when to try again) and delivers the message compose makes of it. A refused send records
// nothing; a send whose delivery fails still counts toward the caps.
func (c *Channel) Send(ctx context.Context, userID, destination, ip string, compose func(code string) delivery.Message) error {
	_, err := c.send(ctx, userID, destination, ip, compose)
	return err
}

func (c *Channel) send(ctx context.Context, userID, destination, ip string, compose func(code string) delivery.Message) (*store.OTPCode, error) {
	if destination == "" {
		return nil, factor.ErrNoDestination
	}
	code := secret.RandomDigits(CodeLength)
	rec := &store.OTPCode{UserID: userID, Channel: c.kind, Destination: destination, CodeHash: c.hash(userID, destination, code)}
	if err := c.st.IssueOTP(ctx, rec, ip, c.ttl, c.limits); err != nil {
		return nil, err
	}
	m := compose(code)
	m.Channel, m.To = c.kind, destination
	if err := c.sender.Send(ctx, m); err != nil {
		return nil, fmt.Errorf("otp: deliver %s code: %w", c.kind, err)
	}
	return rec, nil
}

// BeginChallenge sends a code to req.Destination.
func (c *Channel) BeginChallenge(ctx context.Context, req factor.ChallengeRequest) (*factor.Challenge, error) {
	if req.Compose == nil {
		return nil, fmt.Errorf("otp: %s challenge without a message", c.kind)
	}
	rec, err := c.send(ctx, req.UserID, req.Destination, req.IP, func(code string) delivery.Message {
		return req.Compose(code, c.ttl)
	})
	if err != nil {
		return nil, err
	}
	return &factor.Challenge{Kind: c.kind, Sent: true, Destination: rec.Destination, ExpiresAt: time.Unix(rec.ExpiresAt, 0)}, nil
}

// Verify checks a response against the person's outstanding codes on this channel and records
// the factor's use.
func (c *Channel) Verify(ctx context.Context, f *store.Factor, response string) error {
	if f.Kind != c.kind {
		return fmt.Errorf("otp: factor %s is %q, not %s", f.ID, f.Kind, c.kind)
	}
	if err := c.VerifyUser(ctx, f.UserID, f.Label, response); err != nil {
		return err
	}
	// Bookkeeping for the account console only: the answer was right whatever happens here.
	_ = c.st.MarkFactorUsed(ctx, f.ID)
	return nil
}

// VerifyUser checks a code sent to destination for a person who may not have the factor yet
// (enrollment, a saved number): any outstanding, unexpired code of theirs sent there on this
// channel; a right one spends every outstanding code of the channel. A code sent to another
// number or address never matches, so a code for the old phone cannot confirm a new one.
// Anything but digits in the input (spaces, dashes) is ignored.
func (c *Channel) VerifyUser(ctx context.Context, userID, destination, response string) error {
	code := digits(response)
	if len(code) != CodeLength {
		return factor.ErrWrong
	}
	var since int64
	if c.maxAge > 0 {
		since = c.st.Now().Add(-c.maxAge).Unix()
	}
	ok, err := c.st.SpendOTPSince(ctx, userID, c.kind, c.hash(userID, destination, code), since)
	if err != nil {
		return err
	}
	if !ok {
		return factor.ErrWrong
	}
	return nil
}

// hash binds a code to its person, channel and destination: the same digits sent to two people,
// by SMS and by email, or to two numbers, never match each other's rows.
func (c *Channel) hash(userID, destination, code string) string {
	return c.h.Sum(userID + ":" + c.kind + ":" + destination + ":" + code)
}

func digits(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// Kinds lists the channels this package provides.
func Kinds() []string { return slices.Sorted(maps.Keys(amrOf)) }
