package delivery

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// smtpSession is what the test server saw in one connection.
type smtpSession struct {
	TLS        bool   // the mail crossed TLS (implicit or after STARTTLS)
	Auth       string // "user:password" from AUTH PLAIN, if any
	From, Rcpt string
	Data       string // the message after dot-unstuffing
}

// smtpServer is a small mail server on a real 127.0.0.1 socket: it speaks enough ESMTP
// (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) for a delivery and records each
// session. It serves a bounded number of connections, one after another.
type smtpServer struct {
	ln       net.Listener
	mode     string      // none, starttls, implicit (what it offers)
	noSTART  bool        // in starttls mode, do not offer STARTTLS (a downgraded server)
	user     string      // AUTH PLAIN credentials it accepts ("" = no AUTH offered)
	pass     string      //
	rcpt     []string    // replies to RCPT, one per connection in turn; "" or missing = 250
	tls      *tls.Config // server side
	sessions chan smtpSession
}

func newSMTPServer(t *testing.T, mode string, cert tls.Certificate, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{mode: mode, sessions: make(chan smtpSession, 8),
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	if configure != nil {
		configure(s)
	}
	if mode == SMTPImplicitTLS {
		s.ln = tls.NewListener(ln, s.tls)
	} else {
		s.ln = ln
	}
	t.Cleanup(func() { s.ln.Close() })
	go func() {
		for i := 0; i < 8; i++ {
			conn, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.serve(conn, i)
		}
	}()
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// serve runs one SMTP conversation; the n-th connection gets the n-th RCPT reply.
func (s *smtpServer) serve(conn net.Conn, n int) {
	defer func() { conn.Close() }()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	sess := smtpSession{TLS: s.mode == SMTPImplicitTLS}
	r := bufio.NewReader(conn)
	say := func(lines ...string) {
		for _, l := range lines {
			io.WriteString(conn, l+"\r\n")
		}
	}
	say("220 test ESMTP")
	for range 50 {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO" || verb == "HELO":
			ext := []string{"250-test greets you", "250-8BITMIME"}
			if s.mode == SMTPStartTLS && !sess.TLS && !s.noSTART {
				ext = append(ext, "250-STARTTLS")
			}
			if s.user != "" && (sess.TLS || s.mode == SMTPNoTLS) {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 SIZE 1000000")
			say(ext...)
		case verb == "STARTTLS" && s.mode == SMTPStartTLS && !s.noSTART:
			say("220 ready to start TLS")
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			conn, r, sess.TLS = tc, bufio.NewReader(tc), true
		case verb == "AUTH":
			f := strings.Fields(line)
			raw, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			parts := strings.Split(string(raw), "\x00")
			if len(f) != 3 || !strings.EqualFold(f[1], "PLAIN") || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				say("535 5.7.8 authentication failed")
				continue
			}
			sess.Auth = parts[1] + ":" + parts[2]
			say("235 2.7.0 accepted")
		case verb == "MAIL":
			if s.user != "" && sess.Auth == "" {
				say("530 5.7.0 authentication required")
				continue
			}
			sess.From = strings.Fields(strings.TrimPrefix(line, "MAIL FROM:"))[0] // drop BODY=8BITMIME etc.
			say("250 ok")
		case verb == "RCPT":
			if n < len(s.rcpt) && s.rcpt[n] != "" {
				say(s.rcpt[n])
				continue
			}
			sess.Rcpt = strings.TrimPrefix(line, "RCPT TO:")
			say("250 ok")
		case verb == "DATA":
			say("354 go ahead")
			var data strings.Builder
			for range 10000 {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".")) // RFC 5321 §4.5.2 transparency
			}
			sess.Data = data.String()
			s.sessions <- sess
			say("250 queued")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// parsedMail is a received message taken apart: headers, and each body part decoded.
type parsedMail struct {
	msg   *mail.Message
	parts map[string]string // media type → decoded text
}

func parseMail(t *testing.T, raw string) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	p := parsedMail{msg: msg, parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
		p.parts[mt] = string(b)
		return p
	}
	p.parts[mt] = ""
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for range 10 {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pt, pp, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if pp["charset"] != "utf-8" || part.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part %s: headers %v", pt, part.Header)
		}
		b, _ := io.ReadAll(quotedprintable.NewReader(part))
		p.parts[pt] = string(b)
		p.parts["order"] += pt + ";"
	}
	return p
}

func TestSMTPSend(t *testing.T) {
	cert, pool := testCert(t)
	fixed := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	text := "Su código de inicio de sesión es 123456.\n. Una línea que empieza con un punto.\nEs válido durante 15 minutos."
	html := "<p>Su código es <strong>123456</strong>.</p>"
	tests := map[string]struct {
		mode       string
		user, pass string
		html       string
		locale     string
		wantParts  string // "order" of multipart parts, or "" for a single text part
	}{
		"plain relay on loopback, text only":  {mode: SMTPNoTLS},
		"plain relay on loopback with AUTH":   {mode: SMTPNoTLS, user: "relay", pass: "pw"},
		"STARTTLS with AUTH, text and HTML":   {mode: SMTPStartTLS, user: "tessera", pass: "s3cret", html: html, locale: "es-US", wantParts: "text/plain;text/html;"},
		"implicit TLS with AUTH, text only":   {mode: SMTPImplicitTLS, user: "tessera", pass: "s3cret", locale: "es"},
		"implicit TLS without AUTH with HTML": {mode: SMTPImplicitTLS, html: html, wantParts: "text/plain;text/html;"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newSMTPServer(t, tt.mode, cert, func(s *smtpServer) { s.user, s.pass = tt.user, tt.pass })
			s := &SMTP{Host: "127.0.0.1", Port: srv.port(), TLS: tt.mode, Username: tt.user, Password: tt.pass,
				From: "Riverside Health <no-reply@riverside.example>", TLSConfig: &tls.Config{RootCAs: pool},
				Now: func() time.Time { return fixed }, Timeout: 5 * time.Second}
			err := s.Send(context.Background(), Message{ID: "m1", Channel: Email, To: "Pat Doe <pat@example.org>",
				Subject: "Su código de Tessera\r\nBcc: evil@example.org", Body: text, HTML: tt.html, Locale: tt.locale})
			if err != nil {
				t.Fatal(err)
			}
			sess := <-srv.sessions
			if sess.Rcpt != "<pat@example.org>" || sess.From != "<no-reply@riverside.example>" {
				t.Errorf("envelope from %q to %q", sess.From, sess.Rcpt)
			}
			if sess.TLS != (tt.mode != SMTPNoTLS) {
				t.Errorf("TLS used: %v, mode %s", sess.TLS, tt.mode)
			}
			if want := tt.user + ":" + tt.pass; tt.user != "" && sess.Auth != want {
				t.Errorf("AUTH %q, want %q", sess.Auth, want)
			}
			m := parseMail(t, sess.Data)
			h := m.msg.Header
			subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			if subject != "Su código de Tessera Bcc: evil@example.org" || h.Get("Bcc") != "" {
				t.Errorf("subject %q (a line break must not start a header), Bcc %q", subject, h.Get("Bcc"))
			}
			if date, err := h.Date(); err != nil || !date.Equal(fixed) {
				t.Errorf("Date %q: %v", h.Get("Date"), err)
			}
			checks := map[string]string{
				"Message-Id":     "<m1@riverside.example>",
				"Mime-Version":   "1.0",
				"From":           `"Riverside Health" <no-reply@riverside.example>`,
				"To":             `"Pat Doe" <pat@example.org>`,
				"Auto-Submitted": "auto-generated",
			}
			if tt.locale != "" {
				checks["Content-Language"] = tt.locale
			}
			for k, want := range checks {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			wantText := strings.ReplaceAll(text, "\n", "\r\n") + "\r\n"
			if got := m.parts["text/plain"]; got != wantText {
				t.Errorf("text part %q, want %q", got, wantText)
			}
			if tt.wantParts == "" {
				if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				return
			}
			if _, ok := m.parts["multipart/alternative"]; !ok || m.parts["order"] != tt.wantParts {
				t.Errorf("parts %q in %q, want %q in multipart/alternative", m.parts["order"], h.Get("Content-Type"), tt.wantParts)
			}
			if got := m.parts["text/html"]; strings.TrimSpace(got) != html {
				t.Errorf("HTML part %q", got)
			}
		})
	}
}

// TestSMTPFailures checks that each failure is an error and is classed right: what a retry can
// fix (4xx, a closed port) is transient, what it cannot (5xx, bad password, no TLS) is final.
func TestSMTPFailures(t *testing.T) {
	cert, pool := testCert(t)
	closedPort := func() int {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	tests := map[string]struct {
		mode      string
		configure func(*smtpServer)
		client    func(*SMTP)
		transient bool
		wantErr   string // a piece of the logged detail, to be sure it failed for this reason
	}{
		"mailbox busy (451)": {mode: SMTPNoTLS, transient: true, wantErr: "RCPT TO: 451",
			configure: func(s *smtpServer) { s.rcpt = []string{"451 4.3.0 try again later"} }},
		"no such mailbox (550)": {mode: SMTPNoTLS, wantErr: "RCPT TO: 550",
			configure: func(s *smtpServer) { s.rcpt = []string{"550 5.1.1 no such user"} }},
		"wrong password": {mode: SMTPStartTLS, wantErr: "AUTH: 535",
			configure: func(s *smtpServer) { s.user, s.pass = "tessera", "right" },
			client:    func(c *SMTP) { c.Username, c.Password = "tessera", "wrong" }},
		"server offers no STARTTLS": {mode: SMTPStartTLS, wantErr: "does not offer STARTTLS",
			configure: func(s *smtpServer) { s.noSTART = true }},
		"certificate from an unknown CA": {mode: SMTPImplicitTLS, wantErr: "certificate",
			client: func(c *SMTP) { c.TLSConfig = nil }},
		"server down": {mode: SMTPNoTLS, transient: true, wantErr: "connect",
			client: func(c *SMTP) { c.Port = closedPort() }},
		"unknown TLS mode": {mode: SMTPNoTLS, wantErr: "unknown TLS mode",
			client: func(c *SMTP) { c.TLS = "sometimes" }},
		"bad sender address": {mode: SMTPNoTLS, wantErr: "from address",
			client: func(c *SMTP) { c.From = "not an address" }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newSMTPServer(t, tt.mode, cert, tt.configure)
			s := &SMTP{Host: "127.0.0.1", Port: srv.port(), TLS: tt.mode, From: "a@example.org",
				TLSConfig: &tls.Config{RootCAs: pool}, Timeout: 2 * time.Second}
			if tt.client != nil {
				tt.client(s)
			}
			err := s.Send(context.Background(), Message{Channel: Email, To: "p@example.org", Subject: "x", Body: "y"})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one about %q", err, tt.wantErr)
			}
			if Transient(err) != tt.transient {
				t.Errorf("Transient(%v) = %v, want %v", err, !tt.transient, tt.transient)
			}
			select {
			case sess := <-srv.sessions:
				t.Errorf("a failed send delivered %q", sess.Data)
			default:
			}
		})
	}
}

// TestSMTPRetry sends through Retry to a server whose first answer is "try later": the second
// connection delivers, with the same Message-ID.
func TestSMTPRetry(t *testing.T) {
	cert, _ := testCert(t)
	srv := newSMTPServer(t, SMTPNoTLS, cert, func(s *smtpServer) { s.rcpt = []string{"421 4.7.0 too busy"} })
	var waits []time.Duration
	r := &Retry{
		Sender: &SMTP{Host: "127.0.0.1", Port: srv.port(), TLS: SMTPNoTLS, From: "a@example.org", Timeout: 2 * time.Second},
		Sleep:  func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
	}
	if err := r.Send(context.Background(), Message{ID: "same-id", Channel: Email, To: "p@example.org", Subject: "x", Body: "y"}); err != nil {
		t.Fatal(err)
	}
	sess := <-srv.sessions
	if len(waits) != 1 || !strings.Contains(sess.Data, "Message-ID: <same-id@example.org>") {
		t.Errorf("waits %v, data %q", waits, sess.Data)
	}
}
