package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Error is a delivery that failed for good. Msg is written for the person and safe to show;
// Error() is the detail for the log (provider status, server reply) and must not be shown.
// MsgID is the stable id of Msg, for translation.
type Error struct {
	Channel  string
	MsgID    string
	Msg      string
	Attempts int
	Err      error
}

// Error returns the detail for the log.
func (e *Error) Error() string {
	return fmt.Sprintf("delivery: %s failed after %d attempt(s): %v", e.Channel, e.Attempts, e.Err)
}

// Unwrap gives the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// failure builds the final error of a channel with the plain-words message for the person.
func failure(channel string, attempts int, err error) *Error {
	e := &Error{Channel: channel, Attempts: attempts, Err: err}
	switch channel {
	case SMS:
		e.MsgID, e.Msg = "delivery.failed.sms", "We couldn't send the text. Try again or choose another method."
	case Voice:
		e.MsgID, e.Msg = "delivery.failed.voice", "We couldn't call you. Try again or choose another method."
	case Email:
		e.MsgID, e.Msg = "delivery.failed.email", "We couldn't send the email. Try again or choose another method."
	default:
		e.MsgID, e.Msg = "delivery.failed", "We couldn't send the message. Try again or choose another method."
	}
	return e
}

// ForPerson returns what to tell the person about a failed send: the *Error's message, or a
// generic one for any other error (never the detail, which may name servers or accounts).
func ForPerson(err error) (msgID, msg string) {
	var e *Error
	if errors.As(err, &e) {
		return e.MsgID, e.Msg
	}
	f := failure("", 0, err)
	return f.MsgID, f.Msg
}

// HTTPError is a provider's HTTP answer other than success.
type HTTPError struct {
	Service string // "twilio", "webhook"
	Status  int
	// Code and Detail are what the provider said, when it said it in a form we read
	// (Twilio: {"code": 21211, "message": "…"}).
	Code   int
	Detail string
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
}

// Error describes the answer for the log.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Service, e.Status)
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// retryAfter reads a Retry-After header given in seconds (the form APIs use); a date or
// nonsense is ignored.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 24*3600 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// Transient reports whether a failed send may succeed if tried again: network errors and
// timeouts, HTTP 429 and 5xx, SMTP 4xx replies. A 4xx from an API (bad number, bad credentials),
// an SMTP 5xx, a certificate that does not verify, or a cancelled context are final.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status == http.StatusTooManyRequests || he.Status >= 500
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500
	}
	// A certificate problem does not fix itself in a second; retrying only hides it.
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}
