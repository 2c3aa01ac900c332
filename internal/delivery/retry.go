package delivery

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Retry is a Sender that tries another Sender again after transient failures (see Transient):
// exponential backoff with jitter, a bounded number of attempts and a bounded total time, so a
// person waiting on the page gets an answer in seconds, not minutes. Every attempt sends the same
// message with the same ID, so a duplicate that slipped through carries the same code and is
// harmless. The final failure is an *Error: a message for the person and the detail for the log.
type Retry struct {
	Sender Sender
	// Attempts is the most tries in all (first one included); 0 means 3.
	Attempts int
	// Base is the wait before the second try, doubled for each one after; 0 means 500ms.
	Base time.Duration
	// Max caps one wait; 0 means 4s.
	Max time.Duration
	// Total caps the whole send, waits and attempts together; 0 means 20s.
	Total time.Duration
	// Sleep waits d or until ctx ends; nil means a real timer. Tests record instead of waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter; nil means math/rand/v2.
	Rand func() float64
	// Now is the clock the budget is measured on; nil means time.Now.
	Now func() time.Time
	// Log records each failed attempt that will be retried; nil means slog.Default(). The final
	// failure is the caller's to log, with its request id.
	Log *slog.Logger
}

var _ Sender = (*Retry)(nil)

// Send delivers m, retrying transient failures. It returns nil or an *Error.
func (r *Retry) Send(ctx context.Context, m Message) error {
	attempts := cmpOr(r.Attempts, 3)
	total := cmpOr(r.Total, 20*time.Second)
	now := r.Now
	if now == nil {
		now = time.Now
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = sleepContext
	}
	if m.ID == "" {
		m.ID = newID()
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	deadline := now().Add(total)

	var err error
	attempt := 0
	for attempt < attempts {
		attempt++
		if err = r.Sender.Send(ctx, m); err == nil {
			return nil
		}
		if attempt == attempts || !Transient(err) || ctx.Err() != nil {
			break
		}
		wait := r.backoff(attempt)
		var he *HTTPError
		if errors.As(err, &he) && he.RetryAfter > wait {
			wait = he.RetryAfter // the provider asked; asking sooner only earns another 429
		}
		if now().Add(wait).After(deadline) {
			break // no time left to wait and try again
		}
		log := r.Log
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "delivery: attempt failed, retrying", "channel", m.Channel, "message_id", m.ID,
			"attempt", attempt, "wait", wait, "err", err)
		if sleep(ctx, wait) != nil {
			break
		}
	}
	return failure(m.Channel, attempt, err)
}

// backoff is the wait after the given (1-based) attempt: Base·2^(attempt-1), capped at Max, then
// "equal jitter" — half fixed, half random — so nodes that failed together do not retry together,
// yet every wait still grows.
func (r *Retry) backoff(attempt int) time.Duration {
	base, ceiling := cmpOr(r.Base, 500*time.Millisecond), cmpOr(r.Max, 4*time.Second)
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	random := r.Rand
	if random == nil {
		random = rand.Float64
	}
	return d/2 + time.Duration(random()*float64(d/2))
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cmpOr returns v, or def when v is zero or negative.
func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
