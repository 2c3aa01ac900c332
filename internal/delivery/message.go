package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// The channels a message can go by. Message.Channel holds one of them.
const (
	Email = "email"
	SMS   = "sms"
	Voice = "voice"
)

// Message is one message Tessera sends (or, in dev mode, would have sent).
type Message struct {
	// ID names the message across retries: Retry sets it once, so every attempt carries the
	// same idempotency key (the webhook sends it; a gateway can drop duplicates).
	ID      string `json:"id,omitempty"`
	Channel string `json:"channel"` // sms, voice, email
	// To is an email address (email) or an E.164 number (sms, voice).
	To string `json:"to"`
	// Subject is the email subject; other channels ignore it.
	Subject string `json:"subject,omitempty"`
	// Body is the plain text: the email's text part, the SMS text, or what a call says. A call
	// reads every run of four or more digits in it one digit at a time, and says it twice.
	Body string `json:"body"`
	// HTML is the email's HTML alternative; empty sends text only.
	HTML string `json:"html,omitempty"`
	// Locale is the person's language (BCP 47, "es-MX"): the email's Content-Language, the
	// voice a call speaks in.
	Locale string `json:"locale,omitempty"`
	// ConfirmURL turns a call into "press 1 to confirm": Body is read as the prompt, and the key
	// the person presses is posted to this URL (Twilio <Gather action>). Voice only.
	ConfirmURL string    `json:"confirm_url,omitempty"`
	At         time.Time `json:"at"`
}

// Sender delivers a message on one channel. An error may be transient (see Transient); Retry
// decides what to do about it.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Router is a Sender that hands each message to the Sender for its channel: in production
// {email: SMTP, sms: Twilio, voice: Twilio} (or a Webhook), in dev mode the Outbox for all.
type Router map[string]Sender

var _ Sender = Router(nil)

// Send delivers m through the Sender for m.Channel.
func (r Router) Send(ctx context.Context, m Message) error {
	s, ok := r[m.Channel]
	if !ok || s == nil {
		return fmt.Errorf("delivery: no sender for channel %q", m.Channel)
	}
	return s.Send(ctx, m)
}

// newID returns a random message id (128 bits, hex).
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
