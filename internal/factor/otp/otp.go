// Package otp is the one-time-code factor for codes sent to the person: by email now, by SMS and
// voice call through the same code once their senders exist. Codes are six digits from
// crypto/rand, stored only as keyed hashes; several may be outstanding and the first right one
// spends them all; sends are limited by a cooldown and hourly caps.
package otp

import (
	"context"
	"time"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
)

// Hasher is a keyed hash (internal/secret.Hasher).
type Hasher interface{ Sum(string) string }

// Channel sends and checks codes on one channel.
type Channel struct {
	kind   string
	amr    []string
	ttl    time.Duration
	limits store.SendLimits
	st     *store.Store
	h      Hasher
	sender delivery.Sender
}

var _ factor.Factor = (*Channel)(nil)

// Email returns the email-code channel: codes valid 15 minutes (seed 002), amr otp (RFC 8176 has
// no email value).
func Email(st *store.Store, h Hasher, sender delivery.Sender) *Channel {
	return &Channel{kind: "email", amr: []string{"otp"}, ttl: 15 * time.Minute, st: st, h: h, sender: sender,
		limits: store.SendLimits{Cooldown: 30 * time.Second, PerUser: 5, PerDestination: 5, PerIP: 20}}
}

func (c *Channel) Kind() string            { return c.kind }
func (c *Channel) AMR() []string           { return c.amr }
func (c *Channel) PhishingResistant() bool { return false }

// TTL is how long a code stays valid (for the message text).
func (c *Channel) TTL() time.Duration { return c.ttl }

// Send makes a code, records its hash (subject to the cooldown and caps: *store.ErrSendLimited
// says when to try again) and delivers the message compose makes of it.
func (c *Channel) Send(ctx context.Context, userID, destination, ip string, compose func(code string) delivery.Message) error {
	code := secret.RandomDigits(6)
	rec := &store.OTPCode{UserID: userID, Channel: c.kind, Destination: destination, CodeHash: c.hash(userID, code)}
	if err := c.st.IssueOTP(ctx, rec, ip, c.ttl, c.limits); err != nil {
		return err
	}
	m := compose(code)
	m.Channel, m.To = c.kind, destination
	return c.sender.Send(ctx, m)
}

// Verify checks a response against the person's outstanding codes.
func (c *Channel) Verify(ctx context.Context, f *store.Factor, response string) error {
	return c.VerifyUser(ctx, f.UserID, response)
}

// VerifyUser checks a code for a person who may not have the factor yet (enrollment).
func (c *Channel) VerifyUser(ctx context.Context, userID, response string) error {
	code := digits(response)
	if len(code) != 6 {
		return factor.ErrWrong
	}
	ok, err := c.st.SpendOTP(ctx, userID, c.kind, c.hash(userID, code))
	if err != nil {
		return err
	}
	if !ok {
		return factor.ErrWrong
	}
	return nil
}

func (c *Channel) hash(userID, code string) string {
	return c.h.Sum(userID + ":" + c.kind + ":" + code)
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
