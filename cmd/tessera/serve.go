package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/config"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/demo"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/web"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("serve", stderr)
	var addr, issuer, demoFlag string
	c.fs.StringVar(&addr, "addr", "", "listen address (default 127.0.0.1:8080; TESSERA_ADDR)")
	c.fs.StringVar(&issuer, "issuer", "", "issuer URL (default http://localhost:8080; TESSERA_ISSUER)")
	demoOn := c.fs.Bool("demo", false, "seed a demo tenant, client and users, serve the demo app at /demo, enable the dev outbox")
	extra := map[string]*string{}
	if err := c.fs.Parse(args); err != nil {
		return flagError(err)
	}
	if c.set("addr") {
		extra["addr"] = &addr
	}
	if c.set("issuer") {
		extra["issuer"] = &issuer
	}
	if *demoOn {
		demoFlag = "true"
		extra["demo"] = &demoFlag
	}
	if err := c.parse(args, extra); err != nil {
		return err
	}
	cfg := c.cfg
	logger := server.NewLogger(stderr, cfg.Log.SlogLevel(), cfg.Log.Format)
	slog.SetDefault(logger)
	slog.Info("starting tessera", "config", cfg)
	for _, w := range cfg.Warnings() {
		slog.Warn("configuration", "warning", w)
	}

	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := c.secretKey(ctx, st)
	if err != nil {
		return err
	}
	opts := serverOptions(cfg, key)
	if cfg.SMTP.Host != "" {
		mail, err := smtpSender(cfg)
		if err != nil {
			return err
		}
		opts.EmailSender = &delivery.Retry{Sender: mail}
	}
	if opts.PhoneSender, opts.Twilio, opts.LineTypes, err = phoneGateway(cfg); err != nil {
		return err
	}
	node, err := server.New(ctx, st, opts)
	if err != nil {
		return err
	}
	if cfg.Demo {
		seeded, err := demo.Seed(ctx, st, node.SecretHasher, node.Password, cfg.Issuer)
		if err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		rp := demo.NewRP(cfg.Issuer, seeded.ClientID, seeded.ClientSecret, node.Pages)
		mux := http.NewServeMux()
		rp.Routes(mux)
		node.Handle("/demo", mux)
		node.Handle("/demo/", mux)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           node.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go janitor(ctx, node, time.Duration(cfg.Audit.RetentionDays)*24*time.Hour)
	go node.Provider.RunLogoutWorker(ctx, 5*time.Second) // back-channel logout retries
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("tessera is listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer)
	if cfg.Demo {
		printDemo(stdout, cfg.Issuer)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	slog.Info("stopped")
	return nil
}

// janitor runs every few minutes: it removes expired auth requests, sessions and tokens, spent
// codes, old send records, abandoned enrollments, and browsers not seen for over a year; and
// every six hours audit events older than the retention period.
func janitor(ctx context.Context, node *server.Server, retention time.Duration) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	var lastPurge time.Time
	purge := func() {
		// Every node does it; the purge locks each chain's head, so two nodes never remove the
		// same rows twice or move an anchor backwards.
		if retention > 0 && time.Since(lastPurge) > 6*time.Hour {
			lastPurge = time.Now()
			if _, err := node.Audit.Purge(ctx, time.Now().Add(-retention)); err != nil {
				slog.Error("janitor: purge the audit trail", "err", err)
			}
		}
	}
	purge()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			purge()
			if err := node.Store().DeleteExpired(ctx, time.Hour); err != nil {
				slog.Warn("janitor: delete expired", "err", err)
			}
			if err := node.Store().PruneFactorData(ctx, time.Hour); err != nil {
				slog.Warn("janitor: prune codes and pending factors", "err", err)
			}
			if err := node.Store().PruneKnownBrowsers(ctx, web.KnownBrowserTTL+24*time.Hour); err != nil {
				slog.Warn("janitor: prune known browsers", "err", err)
			}
			if err := node.Store().PruneLogouts(ctx, 30*24*time.Hour); err != nil {
				slog.Warn("janitor: prune back-channel logouts", "err", err)
			}
		}
	}
}

// printDemo tells a newcomer how to try Tessera, once the server is listening.
func printDemo(w io.Writer, issuer string) {
	fmt.Fprintf(w, `
  Tessera demo is running.

  Open the demo patient portal:  %[1]s/demo
  Sign in as the demo patient:   %[2]s  /  %[3]s
  or as the demo provider:       %[4]s  /  %[5]s
  Admin console:                 %[1]s/admin  as  %[6]s  /  %[7]s

  Discovery:   %[1]s/.well-known/openid-configuration
  Dev outbox:  %[1]s/dev/outbox

`, issuer, demo.PatientEmail, demo.PatientPassword, demo.ProviderEmail, demo.ProviderPassword, demo.AdminEmail, demo.AdminPassword)
}

// phoneGateway builds the sender of texts and calls (wrapped in retries with backoff), the
// Twilio adapter itself when that is the provider (the server verifies its signed callbacks and
// offers "press 1 to confirm" calls with it), and the optional carrier line-type lookup; secrets
// come from their files.
func phoneGateway(cfg *config.Config) (delivery.Sender, *delivery.Twilio, phone.LineTypeLookup, error) {
	var sender delivery.Sender
	var twilio *delivery.Twilio
	var token string
	if cfg.SMS.TwilioAuthTokenFile != "" {
		raw, err := os.ReadFile(cfg.SMS.TwilioAuthTokenFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sms.twilio_auth_token_file: %w", err)
		}
		token = strings.TrimSpace(string(raw))
	}
	switch cfg.SMS.Provider {
	case "twilio":
		twilio = &delivery.Twilio{BaseURL: cfg.SMS.TwilioAPIURL, AccountSID: cfg.SMS.TwilioAccountSID, AuthToken: token,
			From: cfg.SMS.From, StatusCallback: strings.TrimSuffix(cfg.Issuer, "/") + server.TwilioStatusPath}
		sender = twilio
	case "webhook":
		raw, err := os.ReadFile(cfg.SMS.WebhookSecretFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sms.webhook_secret_file: %w", err)
		}
		sender = &delivery.Webhook{URL: cfg.SMS.WebhookURL, Secret: strings.TrimSpace(string(raw))}
	}
	if sender != nil {
		sender = &delivery.Retry{Sender: sender}
	}
	var lookup phone.LineTypeLookup
	if cfg.SMS.LineTypeLookup {
		lookup = &phone.TwilioLookup{BaseURL: cfg.SMS.TwilioLookupURL, AccountSID: cfg.SMS.TwilioAccountSID, AuthToken: token}
	}
	return sender, twilio, lookup, nil
}

// smtpSender builds the mail sender; the password comes from its file, never from the
// configuration text or the environment.
func smtpSender(cfg *config.Config) (*delivery.SMTP, error) {
	s := &delivery.SMTP{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS, Username: cfg.SMTP.Username, From: cfg.SMTP.From}
	if cfg.SMTP.PasswordFile != "" {
		raw, err := os.ReadFile(cfg.SMTP.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.password_file: %w", err)
		}
		s.Password = strings.TrimRight(string(raw), "\r\n")
	}
	return s, nil
}
