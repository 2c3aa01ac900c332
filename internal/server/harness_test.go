package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// The end-to-end tests drive a real Tessera node over real HTTP the way an outside relying party
// and a browser would: discovery, the authorize redirect, the login form (posted as a browser
// posts it), the code exchange with golang.org/x/oauth2, and ID-token verification against the
// published JWKS with coreos/go-oidc. They never call Tessera's internals to get an answer.

// env is one running node with a tenant in it.
type env struct {
	t      testing.TB
	node   *server.Server
	ts     *httptest.Server
	issuer string
	st     *store.Store
	tenant *store.Tenant
	ctx    context.Context
}

// newEnv starts a node on the backend; mod may change its options.
func newEnv(t testing.TB, b storetest.Backend, mod func(*server.Options)) *env {
	t.Helper()
	st := b.Open(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	key := make([]byte, 32)
	rand.Read(key)
	opts := server.Defaults(issuer, key)
	opts.Password = password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, KeyLen: 32, SaltLen: 16} // fast tests
	opts.CacheTTL = 0
	if mod != nil {
		mod(&opts)
		issuer = opts.Issuer
	}
	ctx := context.Background()
	node, err := server.New(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(node.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	tn := &store.Tenant{Name: "Riverside Health " + t.Name()}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, node: node, ts: ts, issuer: issuer, st: st, tenant: tn, ctx: ctx}
}

// onLocalhost names the issuer by host name (http://localhost:PORT) instead of the address the
// test server listens on: browsers refuse WebAuthn on an IP address, so passkey tests need it.
func onLocalhost(o *server.Options) {
	o.Issuer = strings.Replace(o.Issuer, "http://127.0.0.1:", "http://localhost:", 1)
}

// eachBackend runs fn on SQLite and on PostgreSQL (when configured).
func eachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Name == "postgres" {
				storetest.PostgresURL(t)
			}
			fn(t, b)
		})
	}
}

const rpRedirect = "http://127.0.0.1:1/rp/callback" // never contacted: the browser stops there

// client registers a client the way `tessera client create` does and returns id and secret.
func (e *env) client(typ string, mod func(*store.Client)) (string, string) {
	e.t.Helper()
	c := &store.Client{TenantID: e.tenant.ID, Name: "Riverside Patient Portal", Type: typ, FirstParty: true,
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:1/rp/logged-out"}}
	if typ != store.ClientService {
		c.RedirectURIs = []string{rpRedirect}
	}
	var sec string
	if typ != store.ClientPublic {
		sec = secret.RandomToken(32)
		c.SecretHash = e.node.SecretHasher.Sum(sec)
	}
	if mod != nil {
		mod(c)
	}
	if err := e.st.CreateClient(e.ctx, c); err != nil {
		e.t.Fatal(err)
	}
	return c.ID, sec
}

// user creates a person with a password.
func (e *env) user(email, pw string) *store.User {
	e.t.Helper()
	h, err := e.node.Password.Hash(e.ctx, pw)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &store.User{TenantID: e.tenant.ID, Email: email, EmailVerified: true, Name: "Pat Smith", GivenName: "Pat",
		FamilyName: "Smith", Role: store.RolePatient, Phone: "+12025550123", PhoneVerified: true, PasswordHash: h}
	if err := e.st.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// rp is an outside relying party built only from public libraries.
type rp struct {
	e        *env
	provider *oidc.Provider
	cfg      *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func (e *env) rp(clientID, secret string, scopes ...string) *rp {
	e.t.Helper()
	p, err := oidc.NewProvider(e.ctx, e.issuer)
	if err != nil {
		e.t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	cfg := &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect, Scopes: scopes}
	return &rp{e: e, provider: p, cfg: cfg, verifier: p.Verifier(&oidc.Config{ClientID: clientID})}
}

// browser is a cookie-keeping HTTP client that stops at the RP's redirect URI, as a browser
// would hand control back to the application there.
type browser struct {
	t      testing.TB
	c      *http.Client
	last   *url.URL // where the browser was sent back to the RP
	status int
	body   string
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), "http://127.0.0.1:1/") {
			b.last = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// from makes the browser appear to come from ip (through a trusted proxy: the env must trust
// 127.0.0.0/8).
func (b *browser) from(ip string) *browser {
	b.c.Transport = xffTransport{ip}
	return b
}

type xffTransport struct{ ip string }

func (x xffTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// get follows redirects from u; it returns the final page (status, body) unless the browser was
// sent back to the RP, which b.last then holds.
func (b *browser) get(u string) {
	b.t.Helper()
	b.last = nil
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	b.read(resp)
}

func (b *browser) post(u string, form url.Values) {
	b.t.Helper()
	b.last = nil
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	b.read(resp)
}

func (b *browser) read(resp *http.Response) {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.status, b.body = resp.StatusCode, string(body)
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formFields returns the hidden fields of the page's form.
func (b *browser) formFields() url.Values {
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(b.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// submitLogin fills the sign-in form on the current page.
func (b *browser) submitLogin(issuer, email, pw string) {
	b.t.Helper()
	if !strings.Contains(b.body, `autocomplete="current-password"`) {
		b.t.Fatalf("expected the sign-in page, got %d: %.300s", b.status, b.body)
	}
	f := b.formFields()
	f.Set("email", email)
	f.Set("password", pw)
	b.post(issuer+"/login", f)
}

// authorize starts a code flow with PKCE from the RP; extra adds authorize parameters.
type flow struct {
	state, nonce, verifier string
}

func (r *rp) authURL(extra ...oauth2.AuthCodeOption) (string, flow) {
	f := flow{state: randString(), nonce: randString(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	return r.cfg.AuthCodeURL(f.state, opts...), f
}

// code extracts the code from the browser's return to the RP, checking state and iss.
func (b *browser) code(f flow) string {
	b.t.Helper()
	if b.last == nil {
		b.t.Fatalf("the browser was not sent back to the application; last page %d: %.400s", b.status, b.body)
	}
	q := b.last.Query()
	if e := q.Get("error"); e != "" {
		b.t.Fatalf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != f.state {
		b.t.Fatalf("state = %q, want %q", q.Get("state"), f.state)
	}
	return q.Get("code")
}

// login runs a whole interactive sign-in and returns the verified tokens.
func (r *rp) login(b *browser, email, pw string, extra ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken) {
	r.e.t.Helper()
	u, f := r.authURL(extra...)
	b.get(u)
	if b.last == nil {
		b.submitLogin(r.e.issuer, email, pw)
	}
	return r.exchange(b.code(f), f)
}

// exchange redeems a code and verifies the ID token (signature via JWKS, iss, aud, exp, nonce).
func (r *rp) exchange(code string, f flow) (*oauth2.Token, *oidc.IDToken) {
	r.e.t.Helper()
	tok, err := r.cfg.Exchange(r.e.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.e.t.Fatalf("code exchange: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		r.e.t.Fatal("no id_token in the token response")
	}
	idt, err := r.verifier.Verify(r.e.ctx, raw)
	if err != nil {
		r.e.t.Fatalf("ID token does not verify: %v", err)
	}
	if idt.Nonce != f.nonce {
		r.e.t.Fatalf("nonce = %q, want %q", idt.Nonce, f.nonce)
	}
	return tok, idt
}

// claims decodes an ID token's claims.
func claims(t *testing.T, idt *oidc.IDToken) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// postForm sends a form to a Tessera endpoint with optional Basic client credentials.
func (e *env) postForm(path string, form url.Values, id, sec string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			out["_raw"] = string(body)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// oauthErr returns the OAuth error code of a failed oauth2 call.
func oauthErr(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return fmt.Sprint(err)
}

func randString() string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
