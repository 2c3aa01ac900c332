package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader carries the signature of a webhook POST:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
const WebhookSignatureHeader = "Tessera-Signature"

// Webhook hands messages to a gateway of the tenant's own (a hospital's SMS or paging system):
// it POSTs the message as JSON, signed with a shared secret so the gateway can prove the request
// came from Tessera and was not replayed. One Webhook can serve every channel.
//
// The body is {"id", "channel", "to", "body", "locale"} plus "subject" and "html" for email and
// "confirm_url" for a press-1 call, when set. Headers: Tessera-Signature, and Idempotency-Key
// (the message id, the same on every retry of one message). Any 2xx is success; 429 and 5xx are
// retried by Retry; redirects are not followed.
type Webhook struct {
	// URL receives the POSTs; https, or http to localhost only.
	URL string
	// Secret keys the signature; share it with the gateway, at least 32 random bytes.
	Secret string
	// Client carries the requests; nil means a client with a 10 second timeout. Redirects are
	// refused either way, so a message never follows a redirect to another host.
	Client *http.Client
	// Now stamps the signature; nil means time.Now.
	Now func() time.Time
}

var _ Sender = (*Webhook)(nil)

// webhookPayload is the JSON a gateway receives.
type webhookPayload struct {
	ID         string `json:"id"`
	Channel    string `json:"channel"`
	To         string `json:"to"`
	Subject    string `json:"subject,omitempty"`
	Body       string `json:"body"`
	HTML       string `json:"html,omitempty"`
	Locale     string `json:"locale"`
	ConfirmURL string `json:"confirm_url,omitempty"`
}

// Send posts m to the gateway.
func (h *Webhook) Send(ctx context.Context, m Message) error {
	if _, err := checkEndpoint("webhook URL", h.URL); err != nil {
		return err
	}
	if h.Secret == "" {
		return errors.New("webhook: no secret; an unsigned message could be forged by anyone who finds the URL")
	}
	if m.ID == "" {
		m.ID = newID()
	}
	body, err := json.Marshal(webhookPayload{ID: m.ID, Channel: m.Channel, To: m.To, Subject: m.Subject, Body: m.Body,
		HTML: m.HTML, Locale: m.Locale, ConfirmURL: m.ConfirmURL})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tessera-Delivery/1")
	req.Header.Set("Idempotency-Key", m.ID)
	req.Header.Set(WebhookSignatureHeader, SignWebhook(h.Secret, now(), body))
	client := &http.Client{Timeout: 10 * time.Second}
	if h.Client != nil {
		c := *h.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &HTTPError{Service: "webhook", Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header),
		Detail: strings.TrimSpace(string(raw[:min(len(raw), 200)]))}
}

// SignWebhook returns the Tessera-Signature value for a body sent at t.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + webhookMAC(secret, ts, body)
}

// webhookMAC is hex HMAC-SHA256 over "<ts>.<body>".
func webhookMAC(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook is what a gateway does with a Tessera-Signature header (written in Go here for
// the tests and for gateways written in Go): the timestamp must be within tolerance of now
// (0 means 5 minutes), and one of the v1 values must be the HMAC of "<t>.<body>", compared in
// constant time. Several v1 values are allowed, so a secret can be rotated. It returns nil or
// ErrBadSignature.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" || header == "" || len(header) > 1024 {
		return ErrBadSignature
	}
	if tolerance <= 0 {
		tolerance = 5 * time.Minute
	}
	var ts string
	var sigs []string
	for _, part := range strings.SplitN(header, ",", 10) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return ErrBadSignature
		case k == "t":
			ts = v
		case k == "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	want := []byte(webhookMAC(secret, ts, body))
	ok := false
	for _, s := range sigs {
		// Every candidate is compared, so the time taken does not say which one matched.
		if hmac.Equal([]byte(strings.ToLower(s)), want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}
