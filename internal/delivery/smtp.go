package delivery

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// The TLS modes of SMTP.TLS.
const (
	// SMTPStartTLS connects in plain text and upgrades with STARTTLS (port 587); the send fails
	// if the server does not offer it, rather than going on in clear.
	SMTPStartTLS = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS = "implicit"
	// SMTPNoTLS is plain text, for a relay on the same machine (config allows it only on loopback).
	SMTPNoTLS = "none"
)

// SMTP sends email through a mail server: STARTTLS or implicit TLS (plain only to localhost),
// AUTH PLAIN when a user name is set, a UTF-8 quoted-printable text body and, when the message
// has one, an HTML alternative (multipart/alternative).
type SMTP struct {
	Host     string
	Port     int
	TLS      string // starttls, implicit, none
	Username string
	Password string
	// From is the sender, with or without a display name: "Riverside Health <no-reply@riverside.example>".
	From string
	// Timeout bounds one delivery (connect to QUIT); 0 means 20s.
	Timeout time.Duration
	// TLSConfig trusts a private CA or pins a server name; nil means the system roots and Host.
	TLSConfig *tls.Config
	// LocalName is the name given in EHLO; empty means "localhost".
	LocalName string
	// Now stamps the Date header; nil means time.Now.
	Now func() time.Time
}

var _ Sender = (*SMTP)(nil)

// Send delivers one email message. SMTP 4xx replies and network failures are transient (see
// Transient); wrap in Retry to retry them.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("smtp: from address: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("smtp: to address: %w", err)
	}
	body, err := s.compose(from, to, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cmpOr(s.Timeout, 20*time.Second))
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	tlsConfig := s.tlsConfig()
	d := &net.Dialer{}
	var conn net.Conn
	switch s.TLS {
	case SMTPImplicitTLS:
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(ctx, "tcp", addr)
	case SMTPStartTLS, SMTPNoTLS:
		conn, err = d.DialContext(ctx, "tcp", addr)
	default:
		return fmt.Errorf("smtp: unknown TLS mode %q (starttls, implicit or none)", s.TLS)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect %s: %w", addr, err)
	}
	// The deadline makes every read and write below give up with the context; a stuck server
	// cannot hold the person's request.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(cmp.Or(s.LocalName, "localhost")); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if s.TLS == SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server does not offer STARTTLS; refusing to send in clear")
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", err)
		}
	}
	if s.Username != "" {
		// net/smtp's PlainAuth refuses to send the password over a connection that is neither
		// TLS nor to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("smtp: body: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of data: %w", err)
	}
	// The message is accepted once DATA ends; a failed QUIT must not make a retry send it twice.
	c.Quit()
	return nil
}

// tlsConfig is the configured TLS settings with the server name and a TLS 1.2 floor filled in.
func (s *SMTP) tlsConfig() *tls.Config {
	var c *tls.Config
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = s.Host
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// compose writes an RFC 5322 message: headers (the subject RFC 2047-encoded), then either a
// UTF-8 quoted-printable text body or, when m.HTML is set, a multipart/alternative of the text
// and the HTML (HTML last: the part a mail reader prefers).
func (s *SMTP) compose(from, to *mail.Address, m Message) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	domain := "tessera.invalid"
	if at := strings.LastIndexByte(from.Address, '@'); at >= 0 {
		domain = from.Address[at+1:]
	}
	// A line break in the subject would start a new header: fold it into a space.
	subject := strings.Join(strings.Fields(m.Subject), " ")

	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", to.String())
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Date", now().Format(time.RFC1123Z))
	h("Message-ID", "<"+cmp.Or(m.ID, newID())+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated") // RFC 3834: auto-responders must not answer
	if lang := languageTag(m.Locale); lang != "" {
		h("Content-Language", lang)
	}
	if m.HTML == "" {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Body)
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	h("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Body}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("smtp: composing: %w", err)
		}
		writeQP(w, part.body)
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("smtp: composing: %w", err)
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// writeQP writes text quoted-printable with CRLF line ends.
func writeQP(w interface{ Write([]byte) (int, error) }, text string) {
	qp := quotedprintable.NewWriter(w)
	qp.Write([]byte(text))
	qp.Close()
	w.Write([]byte("\r\n"))
}

// languageTag returns locale if it has the shape of a BCP 47 tag ("es", "es-MX", "zh-Hant-TW"),
// with "_" read as "-"; anything else is dropped rather than written into a header.
func languageTag(locale string) string {
	locale = strings.ReplaceAll(strings.TrimSpace(locale), "_", "-")
	if locale == "" || len(locale) > 35 {
		return ""
	}
	for _, sub := range strings.Split(locale, "-") {
		if sub == "" || len(sub) > 8 || strings.Trim(sub, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return ""
		}
	}
	return locale
}
