package delivery

import (
	"bufio"
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// smtpServer is a minimal mail server on a real loopback socket: it speaks enough SMTP for one
// delivery and records what it was given.
type smtpServer struct {
	ln       net.Listener
	received chan string
	rcpt     chan string
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, received: make(chan string, 1), rcpt: make(chan string, 1)}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *smtpServer) serve() {
	conn, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	say := func(line string) { io.WriteString(conn, line+"\r\n") }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 test")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			s.rcpt <- strings.TrimSpace(line[len("RCPT TO:"):])
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			s.received <- data.String()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func TestSMTPSend(t *testing.T) {
	srv := newSMTPServer(t)
	port := srv.ln.Addr().(*net.TCPAddr).Port
	s := &SMTP{Host: "127.0.0.1", Port: port, TLS: "none", From: "Riverside Health <no-reply@riverside.example>"}
	body := "Su código de inicio de sesión es 123456. Es válido durante 15 minutos."
	err := s.Send(context.Background(), Message{Channel: "email", To: "pat@example.org", Subject: "Su código de Tessera", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if rcpt := <-srv.rcpt; rcpt != "<pat@example.org>" {
		t.Errorf("RCPT TO %q", rcpt)
	}
	raw := <-srv.received
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	got, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if subject != "Su código de Tessera" || !strings.Contains(string(got), body) || msg.Header.Get("Message-Id") == "" ||
		msg.Header.Get("Date") == "" || !strings.Contains(msg.Header.Get("Content-Type"), "utf-8") {
		t.Errorf("headers %v, subject %q, body %q", msg.Header, subject, got)
	}
}

func TestSMTPServerDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &SMTP{Host: "127.0.0.1", Port: port, TLS: "none", From: "a@example.org", Timeout: 2 * time.Second}
	if err := s.Send(context.Background(), Message{To: "p@example.org", Subject: "x", Body: "y"}); err == nil {
		t.Error("a send to a closed port must fail")
	}
}
