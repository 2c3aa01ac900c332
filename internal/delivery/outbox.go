// Package delivery owns getting a message to a person: the dev outbox now; SMTP, SMS and voice
// senders as the factors that need them arrive.
package delivery

import (
	"context"
	"sync"
	"time"
)

// Message is one message Tessera sent (or, in dev mode, would have sent).
type Message struct {
	Channel string    `json:"channel"` // sms, voice, email
	To      string    `json:"to"`
	Subject string    `json:"subject,omitempty"`
	Body    string    `json:"body"`
	At      time.Time `json:"at"`
}

// Sender delivers a message on one channel.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var _ Sender = (*Outbox)(nil)

// Send keeps the message in the outbox (dev mode: nothing leaves the machine).
func (o *Outbox) Send(_ context.Context, m Message) error {
	o.Add(m)
	return nil
}

// Outbox keeps the last messages in memory for the dev outbox pages. It exists only in dev mode,
// where one node serves everything.
type Outbox struct {
	mu   sync.Mutex
	msgs []Message
}

const outboxLimit = 200

// Add records a message, dropping the oldest beyond the limit.
func (o *Outbox) Add(m Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if m.At.IsZero() {
		m.At = time.Now().UTC()
	}
	o.msgs = append(o.msgs, m)
	if len(o.msgs) > outboxLimit {
		o.msgs = o.msgs[len(o.msgs)-outboxLimit:]
	}
}

// List returns the messages, newest first.
func (o *Outbox) List() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Message, len(o.msgs))
	for i, m := range o.msgs {
		out[len(o.msgs)-1-i] = m
	}
	return out
}
