package delivery

import (
	"context"
	"sync"
	"time"
)

// Outbox keeps the last messages in memory for the dev outbox pages. It exists only in dev mode,
// where one node serves everything; it is a Sender for every channel, so a dev server sends
// texts, calls and emails without any provider.
type Outbox struct {
	mu   sync.Mutex
	msgs []Message
}

var _ Sender = (*Outbox)(nil)

const outboxLimit = 200

// Send keeps the message in the outbox (dev mode: nothing leaves the machine).
func (o *Outbox) Send(_ context.Context, m Message) error {
	o.Add(m)
	return nil
}

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
