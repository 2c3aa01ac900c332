package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/hkdf"

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/clientip"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor/backupcode"
	"github.com/tessera-health/tessera/internal/factor/otp"
	"github.com/tessera-health/tessera/internal/factor/passkey"
	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/metrics"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/web"
)

// Options are a node's settings, already validated by the config package.
type Options struct {
	Issuer         string
	SecretKey      []byte // 32 bytes; seals private keys and keys every credential hash
	TrustedProxies []*net.IPNet
	Dev            bool // dev outbox routes; only with a loopback http issuer

	AccessTokenTTL time.Duration
	IDTokenTTL     time.Duration
	RefreshTTL     time.Duration
	RefreshIdleTTL time.Duration
	CodeTTL        time.Duration
	AuthRequestTTL time.Duration
	SSOTTL         time.Duration
	IdleTTL        time.Duration
	KeyGrace       time.Duration
	CacheTTL       time.Duration

	// EmailSender delivers emailed codes (SMTP); nil leaves email to the dev outbox in dev mode
	// and off otherwise.
	EmailSender delivery.Sender
	// PhoneSender carries texts and calls (Twilio-shaped API or webhook); nil leaves SMS and
	// voice to the dev outbox in dev mode and off otherwise.
	PhoneSender delivery.Sender
	// Twilio is the Twilio adapter when it is the phone provider (PhoneSender usually wraps it in
	// retries). Its auth token verifies the signed callbacks at TwilioStatusPath and
	// TwilioConfirmPath, which exist only when it is set, and it makes "press 1 to confirm" calls
	// possible. Nil for the webhook provider and the dev outbox.
	Twilio *delivery.Twilio
	// LineTypes asks a carrier whether a number is a landline before it is texted; nil trusts
	// the numbering plan (and the code itself proves the number receives texts).
	LineTypes phone.LineTypeLookup
	// Codes are the lifetimes and send limits of one-time codes, per channel.
	Codes CodeOptions

	Password            password.Params
	MaxConcurrentHashes int
	MinPasswordLength   int

	// LogoutWait bounds how long a logout waits for the first back-channel logout attempt to
	// the relying parties (0: 2 seconds); the worker retries the rest.
	LogoutWait time.Duration
}

// CodeOptions configure the one-time-code channels; zero fields take otp's defaults.
type CodeOptions struct {
	EmailTTL, SMSTTL, VoiceTTL time.Duration
	Limits                     store.SendLimits
}

// Defaults returns working options for tests and the demo; the config package holds the same
// defaults for production.
func Defaults(issuer string, secretKey []byte) Options {
	return Options{
		Issuer: issuer, SecretKey: secretKey,
		AccessTokenTTL: 15 * time.Minute, IDTokenTTL: 15 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour, RefreshIdleTTL: 7 * 24 * time.Hour,
		CodeTTL: time.Minute, AuthRequestTTL: 30 * time.Minute,
		SSOTTL: 12 * time.Hour, IdleTTL: 2 * time.Hour,
		KeyGrace: 24 * time.Hour, CacheTTL: 10 * time.Second,
		Password: password.DefaultParams(), MinPasswordLength: 8,
	}
}

// Server is one Tessera node.
type Server struct {
	opts     Options
	st       *store.Store
	Keys     *keys.Manager
	Provider *oidcop.Provider
	Login    *web.Login
	Pages    *web.Pages
	Audit    *audit.Log
	Outbox   *delivery.Outbox
	Metrics  *metrics.Metrics
	Password *password.Hasher
	// SecretHasher hashes client secrets; the CLI uses the same one to register clients.
	SecretHasher *secret.Hasher
	// Admin is the tenant administration service the admin console and API (and the CLI) use.
	Admin        *admin.Service
	AdminConsole *web.AdminConsole
	mux          *http.ServeMux
	handler      http.Handler
	ips          *clientip.Resolver
}

// New builds a node over an opened, migrated store. It creates the signing keys on first start.
func New(ctx context.Context, st *store.Store, opts Options) (*Server, error) {
	box, err := secret.NewBox(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, st: st, Audit: audit.New(st, box.Hasher("audit-chain")), Metrics: metrics.New(), mux: http.NewServeMux(),
		ips: clientip.New(opts.TrustedProxies), SecretHasher: ClientSecretHasher(box)}
	s.Password = password.New(opts.Password, opts.MaxConcurrentHashes)
	st.SetAccessTokenTTL(opts.AccessTokenTTL) // revocations of sessions and grants outlive their access tokens
	st.SetCacheTTL(opts.CacheTTL)             // tenant policy, read by every sign-in step
	s.Keys = keys.NewManager(st, box, keys.Options{Grace: opts.KeyGrace, CacheTTL: opts.CacheTTL})
	if err := s.Keys.Ensure(ctx); err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.Issuer)
	if err != nil {
		return nil, err
	}
	secure := u.Scheme == "https"
	catalog, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	if s.Pages, err = web.LoadPages(tessera.Templates(), catalog, secure); err != nil {
		return nil, fmt.Errorf("server: templates: %w", err)
	}
	cookies := web.Cookies{Secure: secure}
	sessions := box.Hasher("sso-session")
	s.Login = web.NewLogin(st, nil, s.Password, sessions, s.Audit, s.Pages, cookies,
		web.LoginOptions{SSOTTL: opts.SSOTTL, IdleTTL: opts.IdleTTL})
	s.Login.OnResult = s.Metrics.Login
	s.Login.Issuer, s.Login.MinPasswordLength = opts.Issuer, opts.MinPasswordLength
	s.Login.TOTP = totp.New(st, box)
	s.Login.Backup = backupcode.New(st, box.Hasher("backup-code"))
	s.Login.Devices = box.Hasher("remembered-device") // how long and how strictly: per tenant
	// Passkeys need a host name (browsers refuse WebAuthn on an IP address): the demo and the
	// default issuer are http://localhost:8080; an issuer on an IP address offers none.
	if pk, err := passkey.New(st, opts.Issuer, "Tessera"); err == nil {
		s.Login.Passkeys, s.Login.Ceremonies = pk, box.Hasher("webauthn-ceremony")
	} else {
		slog.Info("passkeys are off", "reason", err.Error())
	}
	s.Login.Browsers = box.Hasher("known-browser")
	if opts.Dev {
		// Dev mode: messages go to the dev outbox, so emailed codes work without a mail server.
		s.Outbox = &delivery.Outbox{}
	}
	switch {
	case opts.EmailSender != nil:
		s.Login.Mailer = opts.EmailSender
	case s.Outbox != nil:
		s.Login.Mailer = s.Outbox
	}
	phones := opts.PhoneSender
	if phones == nil && opts.Twilio != nil {
		phones = opts.Twilio
	}
	if phones == nil && s.Outbox != nil {
		phones = s.Outbox
	}
	if s.Login.Codes, err = codeChannels(st, box, s.Login.Mailer, phones, opts.Codes); err != nil {
		return nil, err
	}
	s.Login.LineTypes = opts.LineTypes
	if opts.Twilio != nil {
		s.Login.Twilio, s.Login.Phones, s.Login.CallTokens = opts.Twilio, phones, box.Hasher("call-confirm")
	}

	s.Provider, err = oidcop.New(st, s.Keys, oidcop.Options{
		Issuer: opts.Issuer, LoginURL: opts.Issuer + "/login", SignedOutURL: opts.Issuer + "/logged-out",
		AccessTokenTTL: opts.AccessTokenTTL, IDTokenTTL: opts.IDTokenTTL, RefreshTTL: opts.RefreshTTL,
		RefreshIdleTTL: opts.RefreshIdleTTL, CodeTTL: opts.CodeTTL, AuthRequestTTL: opts.AuthRequestTTL,
		CacheTTL: opts.CacheTTL, CryptoKey: deriveKey(opts.SecretKey, "oidc-code-encryption"),
		UILocales:  i18n.Supported,
		CodeHasher: box.Hasher("auth-code"), RefreshHasher: box.Hasher("refresh-token"), SecretHasher: s.SecretHasher,
		Audit:          s.Audit.Record,
		ErrorPage:      func(w http.ResponseWriter, r *http.Request, status int, msg string) { s.Pages.Error(w, r, status, msg) },
		OnLogout:       s.Login.Logout,
		BrowserSession: s.Login.BrowserSession,
		// The callback's check that the code goes to the browser that signed in, in one read.
		BrowserAuthRequest: s.Login.BrowserAuthRequest,
		LogoutWait:         opts.LogoutWait,
	})
	if err != nil {
		return nil, err
	}
	s.Login.SessionsEnded = s.Provider.SessionsEnded
	s.Login.SetProvider(s.Provider)
	s.Admin = admin.New(st, s.Audit, s.SecretHasher)
	s.Admin.CodeTTLs = map[string]time.Duration{}
	for kind, ch := range s.Login.Codes {
		s.Admin.CodeTTLs[kind] = ch.TTL()
	}
	s.AdminConsole = web.NewAdminConsole(s.Login, s.Admin)
	s.routes()
	s.handler = s.middleware(s.mux, secure)
	return s, nil
}

// codeChannels builds the one-time-code channels that have a sender: email over mail, SMS and
// voice over the phone gateway.
func codeChannels(st *store.Store, box *secret.Box, mail, phones delivery.Sender, o CodeOptions) (map[string]*otp.Channel, error) {
	out := map[string]*otp.Channel{}
	hasher := box.Hasher("otp-code")
	for _, ch := range []struct {
		kind   string
		sender delivery.Sender
		ttl    time.Duration
	}{{policy.Email, mail, o.EmailTTL}, {policy.SMS, phones, o.SMSTTL}, {policy.Voice, phones, o.VoiceTTL}} {
		if ch.sender == nil {
			continue
		}
		c, err := otp.New(ch.kind, st, hasher, ch.sender, otp.Options{TTL: ch.ttl, Limits: o.Limits})
		if err != nil {
			return nil, err
		}
		out[ch.kind] = c
	}
	return out, nil
}

// ClientSecretHasher is the keyed hash client secrets are stored under.
func ClientSecretHasher(box *secret.Box) *secret.Hasher { return box.Hasher("client-secret") }

func deriveKey(master []byte, purpose string) [32]byte {
	var k [32]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte("tessera "+purpose)), k[:]); err != nil {
		panic(err)
	}
	return k
}

// Store returns the node's store.
func (s *Server) Store() *store.Store { return s.st }

// Handler is the node's complete HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Handle lets the caller add routes (the demo relying party) before serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() {
	protocol := s.Provider.Handler()
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/smart-configuration", "/keys", "/authorize", "/authorize/callback",
		"/oauth/token", "/oauth/introspect", "/revoke", "/userinfo", "/end_session"} {
		s.mux.Handle(p, protocol)
	}
	pages := http.NewServeMux()
	s.Login.Routes(pages)
	s.Login.AccountRoutes(pages)
	s.AdminConsole.Routes(pages)
	// Page forms are same-origin only: the Origin / Sec-Fetch-Site check stops cross-site posts
	// before the double-submit token is even read.
	guarded := http.NewCrossOriginProtection().Handler(pages)
	s.mux.Handle("/login", guarded)
	s.mux.Handle("/login/", guarded)
	s.mux.Handle("/logged-out", guarded)
	s.mux.Handle("/consent", guarded)
	s.mux.Handle("/mfa/", guarded)
	s.mux.Handle("/forgot", guarded)
	s.mux.Handle("/reset", guarded)
	s.mux.Handle("/account", guarded)
	s.mux.Handle("/account/", guarded)
	s.mux.Handle("/admin", guarded)
	s.mux.Handle("/admin/", guarded)
	s.AdminConsole.RegisterAPI(s.mux) // bearer tokens, no cookies: outside the same-origin check
	s.mux.Handle("/register", guarded)
	s.mux.Handle("/register/", guarded)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(tessera.Static())))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.Handle("GET /metrics", s.Metrics.Handler())
	s.mux.HandleFunc("GET /{$}", s.home)
	if s.opts.Twilio != nil {
		// Server to server: no cookies, no CSRF token, no same-origin check; the provider's
		// signature over the public URL and the parameters is what makes a callback believed.
		s.mux.HandleFunc("POST "+TwilioStatusPath, s.twilioStatus)
		s.mux.HandleFunc("POST "+TwilioConfirmPath+"{token}", s.Login.CallAnswered)
	}
	if s.opts.Dev {
		s.mux.HandleFunc("GET /dev/outbox", s.outboxPage)
		s.mux.HandleFunc("GET /dev/outbox.json", s.outboxJSON)
	}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		slog.WarnContext(ctx, "readyz: database unreachable", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/.well-known/openid-configuration", http.StatusFound)
}

func staticFiles(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})
}
