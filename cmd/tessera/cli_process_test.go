package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tessera-health/tessera/internal/demo"
)

// The process tests treat tessera as an outside harness does: build the binary, run it with
// flags and environment only, talk to it over loopback HTTP as a browser and as a relying party
// built from public libraries, and stop it with SIGTERM.

const (
	readyTimeout    = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// tesseraBinary builds ./cmd/tessera once per test run, from the module root.
func tesseraBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the tests that build and run the tessera binary")
	}
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
			buildErr = fmt.Errorf("cannot find the module root (go env GOMOD = %q): %v", gomod, err)
			return
		}
		if binDir, buildErr = os.MkdirTemp("", "tessera-cli-test-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "tessera")
		build := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/tessera")
		build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tessera: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// childEnv is the test process's environment without any Tessera setting, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TESSERA_") && !strings.HasPrefix(kv, "TESSERA_TEST_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// syncBuffer is a bytes.Buffer the child's output goroutines and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliProcess runs one administration command as its own process and returns its stdout.
func cliProcess(t *testing.T, bin, dir string, env []string, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tessera %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// serverProcess is a running `tessera serve`.
type serverProcess struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	port           int
	base           string // http://127.0.0.1:PORT: where the harness probes
	issuer         string
}

// startServe starts `tessera serve --addr 127.0.0.1:PORT --issuer issuer(PORT) args…` on a free
// port and waits (bounded) until /readyz answers 200. A port taken between choosing it and the
// server's listen is retried.
func startServe(t *testing.T, bin, dir string, env []string, issuer func(port int) string, args ...string) *serverProcess {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		p := &serverProcess{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), port: port,
			base: "http://127.0.0.1:" + strconv.Itoa(port), issuer: issuer(port)}
		p.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--issuer", p.issuer}, args...)...)
		p.cmd.Dir, p.cmd.Env = dir, env
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			if !p.exited() {
				p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("tessera serve stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
			}
		})
		err := p.waitReady()
		if err == nil {
			return p
		}
		if attempt < 3 && p.exited() && strings.Contains(p.stderr.String(), "cannot listen") {
			continue
		}
		t.Fatalf("tessera serve: %v\nstderr:\n%s", err, p.stderr)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (p *serverProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *serverProcess) waitReady() error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited before it was ready: %v", p.cmd.ProcessState)
		}
		if resp, err := c.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("/readyz did not answer 200 within %v", readyTimeout)
}

// stop sends SIGTERM and requires a clean exit (status 0) within the shutdown bound.
func (p *serverProcess) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(shutdownTimeout):
		p.t.Fatalf("tessera serve did not exit within %v of SIGTERM", shutdownTimeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("exit status after SIGTERM = %d, want 0 (graceful shutdown)", code)
	}
	if s := p.stderr.String(); strings.Contains(s, "panic:") || strings.Contains(s, "DATA RACE") {
		p.t.Errorf("the server's stderr shows a crash:\n%s", s)
	}
}

// browser is a cookie-keeping client that follows redirects like a browser, and stops when it
// is sent to the loopback "application" at 127.0.0.1:1 (which nothing serves).
type browser struct {
	t    *testing.T
	c    *http.Client
	back *url.URL // where the browser was sent back to the application
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "127.0.0.1:1" {
			b.back = req.URL
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}}
	return b
}

// page is what the browser shows after following redirects.
type page struct {
	status int
	url    *url.URL
	body   string
	header http.Header
}

func (b *browser) do(method, u string, form url.Values) page {
	b.t.Helper()
	b.back = nil
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = b.c.PostForm(u, form)
	} else {
		resp, err = b.c.Get(u)
	}
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(body), header: resp.Header}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signIn fills the sign-in form on p (a page that must be the sign-in page) and submits it.
func (b *browser) signIn(p page, email, password string) page {
	b.t.Helper()
	if p.url.Path != "/login" || !strings.Contains(p.body, `autocomplete="current-password"`) {
		b.t.Fatalf("expected the sign-in page, got %d at %s:\n%.600s", p.status, p.url, p.body)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("csrf") == "" || form.Get("authRequestID") == "" {
		b.t.Fatalf("the sign-in form lacks its hidden csrf and authRequestID inputs: %v", form)
	}
	form.Set("email", email)
	form.Set("password", password)
	return b.do(http.MethodPost, p.url.Scheme+"://"+p.url.Host+"/login", form)
}

// TestServeDemo is the newcomer's minute as a real process: `tessera serve --demo` starts, prints
// how to try it, the demo portal signs in through Tessera and shows the ID token's claims, the
// operations endpoints answer, and SIGTERM stops it cleanly.
func TestServeDemo(t *testing.T) {
	bin := tesseraBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "d.db")
	env := childEnv("TESSERA_SECRET_KEY_FILE=" + filepath.Join(dir, "keys", "secret.key"))
	srv := startServe(t, bin, dir, env, func(port int) string { return "http://localhost:" + strconv.Itoa(port) },
		"--demo", "--database", "sqlite:"+db)

	if _, err := os.Stat(db); err != nil {
		t.Errorf("--database sqlite:%s was not used: %v", db, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys", "secret.key")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("the demo must generate a private secret key file at TESSERA_SECRET_KEY_FILE: %v", err)
	}

	// The banner: where to go and how to sign in. It is printed once the server listens, so it
	// may trail /readyz by a moment.
	var banner string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if banner = srv.stdout.String(); strings.Contains(banner, "Dev outbox") {
			break
		}
	}
	for _, want := range []string{srv.issuer + "/demo", demo.PatientEmail, demo.PatientPassword, demo.ProviderEmail, demo.ProviderPassword,
		srv.issuer + "/.well-known/openid-configuration"} {
		if !strings.Contains(banner, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, banner)
		}
	}

	// A browser signs in to the demo portal through Tessera.
	b := newBrowser(t)
	home := b.do(http.MethodGet, srv.issuer+"/demo", nil)
	if home.status != http.StatusOK || !strings.Contains(home.body, `href="/demo/login"`) {
		t.Fatalf("/demo: %d, no sign-in link:\n%.400s", home.status, home.body)
	}
	signin := b.do(http.MethodGet, srv.issuer+"/demo/login", nil)
	if signin.status != http.StatusOK || signin.url.Path != "/login" || !strings.Contains(signin.body, demo.ClientName) {
		t.Fatalf("/demo/login must reach Tessera's sign-in page naming %q; got %d at %s", demo.ClientName, signin.status, signin.url)
	}
	if signin.url.Host != "localhost:"+strconv.Itoa(srv.port) {
		t.Errorf("the sign-in page is served at %s, want the issuer's host", signin.url.Host)
	}

	// A wrong password keeps the browser on the sign-in page, with a fresh form.
	again := b.signIn(signin, demo.PatientEmail, "not the password")
	if again.url.Path != "/login" || strings.Contains(again.body, "urn:tessera:acr") {
		t.Fatalf("a wrong password must not sign in: %d at %s", again.status, again.url)
	}

	portal := b.signIn(again, demo.PatientEmail, demo.PatientPassword)
	if portal.status != http.StatusOK || portal.url.Path != "/demo" {
		t.Fatalf("after sign-in the browser must land on /demo; got %d at %s:\n%.800s", portal.status, portal.url, portal.body)
	}
	shown := map[string]string{}
	for _, m := range regexp.MustCompile(`<dt>([^<]*)</dt><dd>([^<]*)</dd>`).FindAllStringSubmatch(portal.body, -1) {
		shown[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
	}
	for k, want := range map[string]string{"email": demo.PatientEmail, "acr": "urn:tessera:acr:1fa", "name": "Pat Demo",
		"iss": srv.issuer, "phone_number": "+12025550123", "amr": `["pwd"]`} {
		if shown[k] != want {
			t.Errorf("the portal shows the ID token claim %s = %q, want %q", k, shown[k], want)
		}
	}
	if shown["sub"] == "" || shown["auth_time"] == "" || shown["nonce"] == "" {
		t.Errorf("the portal does not show sub, auth_time and nonce: %v", shown)
	}

	// Operations endpoints, and the dev outbox that exists in demo mode.
	ops := []struct {
		path, contentType, want string
	}{
		{"/healthz", "", ""},
		{"/readyz", "", ""},
		{"/metrics", "text/plain", "tessera_http_requests_total"},
		{"/dev/outbox.json", "application/json", `"messages"`},
		{"/dev/outbox", "text/html", ""},
		{"/.well-known/openid-configuration", "application/json", `"issuer":"` + srv.issuer + `"`},
	}
	for _, op := range ops {
		p := b.do(http.MethodGet, srv.base+op.path, nil)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), op.contentType) || !strings.Contains(p.body, op.want) {
			t.Errorf("GET %s: %d %q; want 200 %s containing %q", op.path, p.status, p.header.Get("Content-Type"), op.contentType, op.want)
		}
	}

	// The container health check agrees, and stops agreeing once the server is gone.
	var out, errb bytes.Buffer
	if code := run([]string{"healthcheck", "--url", srv.base + "/readyz"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Errorf("tessera healthcheck against a ready server: exit %d: %s", code, errb.String())
	}
	srv.stop()
	if code := run([]string{"healthcheck", "--url", srv.base + "/readyz"}, strings.NewReader(""), &out, &errb); code == 0 {
		t.Error("tessera healthcheck passes against a stopped server")
	}
}

// TestServeCLIProvisioned: a node set up only through the command line works for an outside
// relying party — discovery with go-oidc, the code flow with PKCE through the browser, the code
// exchanged with x/oauth2 using the secret `client create` printed, the ID token verified.
func TestServeCLIProvisioned(t *testing.T) {
	bin := tesseraBinary(t)
	dir := t.TempDir()
	database := "sqlite:" + filepath.Join(dir, "p.db")
	env := childEnv("TESSERA_SECRET_KEY_FILE="+filepath.Join(dir, "secret.key"), "TESSERA_DATABASE_URL="+database)
	admin := func(stdin string, args ...string) map[string]any {
		t.Helper()
		return decodeOne(t, cliProcess(t, bin, dir, env, stdin, args...))
	}

	tenantID, _ := admin("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	practiceID, _ := admin("", "practice", "create", "--tenant", "Riverside Health", "--name", "Main Street Clinic")["id"].(string)
	web := admin("", "client", "create", "--tenant", tenantID, "--name", "Riverside Portal", "--type", "web",
		"--redirect-uri", "http://127.0.0.1:1/cb")
	clientID, _ := web["client_id"].(string)
	clientSecret, _ := web["client_secret"].(string)
	svc := admin("", "client", "create", "--tenant", "Riverside Health", "--name", "Lab feed", "--type", "service")
	userID, _ := admin("correct horse battery staple\n", "user", "create", "--tenant", "Riverside Health", "--email", "Pat.Smith@example.org",
		"--name", "Pat Smith", "--phone", "+1 202 555 0123", "--practice", practiceID, "--password-stdin")["id"].(string)
	if tenantID == "" || practiceID == "" || clientID == "" || clientSecret == "" || userID == "" {
		t.Fatalf("the CLI printed no ids: tenant %q practice %q client %v user %q", tenantID, practiceID, web, userID)
	}

	srv := startServe(t, bin, dir, env, func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = oidc.ClientContext(ctx, &http.Client{Timeout: 10 * time.Second})

	provider, err := oidc.NewProvider(ctx, srv.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		PKCE []string `json:"code_challenge_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil || !containsString(meta.PKCE, "S256") {
		t.Errorf("discovery does not offer PKCE S256: %v %v", meta.PKCE, err)
	}
	cfg := &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: "http://127.0.0.1:1/cb", Scopes: []string{oidc.ScopeOpenID, "profile", "email", "phone"}}
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()

	b := newBrowser(t)
	signin := b.do(http.MethodGet, cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil)
	if !strings.Contains(signin.body, "Riverside Portal") {
		t.Errorf("the sign-in page does not name the application")
	}
	b.signIn(signin, "pat.smith@EXAMPLE.org", "correct horse battery staple")
	if b.back == nil {
		t.Fatal("the browser was not sent back to the application's redirect URI")
	}
	q := b.back.Query()
	if q.Get("error") != "" || q.Get("state") != state || q.Get("code") == "" || b.back.Path != "/cb" {
		t.Fatalf("redirect back to the application: %s", b.back)
	}
	if iss := q.Get("iss"); iss != "" && iss != srv.issuer {
		t.Errorf("iss in the authorization response = %q, want %q", iss, srv.issuer)
	}

	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange with the secret client create printed: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.ES256}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("the ID token (ES256 by default) does not verify against the published keys: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject != userID {
		t.Errorf("ID token nonce %q sub %q; want %q and the id user create printed, %q", idt.Nonce, idt.Subject, nonce, userID)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"email": "Pat.Smith@example.org", "name": "Pat Smith", "given_name": "Pat", "family_name": "Smith",
		"phone_number": "+12025550123", "acr": "urn:tessera:acr:1fa"} {
		if claims[k] != want {
			t.Errorf("ID token claim %s = %v, want %v", k, claims[k], want)
		}
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != userID || ui.Email != "Pat.Smith@example.org" {
		t.Errorf("userinfo: %+v %v", ui, err)
	}
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Error("an authorization code was redeemed twice")
	}

	// The service client's printed secret works for client_credentials.
	cc := clientcredentials.Config{ClientID: svc["client_id"].(string), ClientSecret: svc["client_secret"].(string), TokenURL: provider.Endpoint().TokenURL}
	if st, err := cc.Token(ctx); err != nil || st.AccessToken == "" {
		t.Errorf("client_credentials with the service client: %v", err)
	}

	// Without --demo there is no demo app and no dev outbox.
	for _, path := range []string{"/dev/outbox.json", "/dev/outbox", "/demo"} {
		if p := b.do(http.MethodGet, srv.base+path, nil); p.status != http.StatusNotFound {
			t.Errorf("GET %s without --demo: %d, want 404", path, p.status)
		}
	}
	if out := srv.stdout.String(); out != "" {
		t.Errorf("serve without --demo printed to stdout: %q", out)
	}
	srv.stop()
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
