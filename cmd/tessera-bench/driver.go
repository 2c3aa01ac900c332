package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	mrand "math/rand/v2"

	"github.com/pquerna/otp/totp"
)

// driver holds what the workers of one target share: the target, the seed, the keep-alive
// transport (one for all targets), and the next target in the ring, where login-cross finishes.
type driver struct {
	base      *url.URL
	seed      *Seed
	transport *http.Transport
	client    *http.Client  // token, userinfo, introspection, JWKS: no cookies, no redirects
	nextUser  *atomic.Int64 // shared by every target's driver: people are taken in turn
	next      *driver       // the next target (itself when there is one)
}

// newDrivers makes one driver per target; they share the transport and the people's cursor.
func newDrivers(bases []*url.URL, s *Seed, workers int) []*driver {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.MaxConnsPerHost = 2*workers, 2*workers, 0
	client := &http.Client{Transport: t, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := new(atomic.Int64)
	// Runs follow each other within seconds: start each at a random person, so one run does not
	// replay the code the previous run's first sign-in just used.
	if n := len(s.Users); n > 0 {
		next.Store(int64(mrand.IntN(n)))
	}
	ds := make([]*driver, len(bases))
	for i, b := range bases {
		ds[i] = &driver{base: b, seed: s, transport: t, client: client, nextUser: next}
	}
	for i, d := range ds {
		d.next = ds[(i+1)%len(ds)]
	}
	return ds
}

func (d *driver) url(path string) string { return d.base.String() + path }

var scenarios = map[string]scenario{
	"cc":            {needsSeed: true, op: (*driver).clientCredentials},
	"refresh":       {needsSeed: true, setup: loginForRefresh(false), op: refreshOp(false)},
	"refresh-rs256": {needsSeed: true, setup: loginForRefresh(true), op: refreshOp(true)},
	"login":         {needsSeed: true, op: func(d *driver, ctx context.Context, _ *worker) error { _, err := d.login(ctx, false, ""); return err }},
	// login-cross starts each sign-in on its worker's target (authorize, password) and finishes
	// it on the next target (the authenticator code and the code exchange): a login started on
	// one node finishes on another. With one target it is the plain login.
	"login-cross": {needsSeed: true, op: func(d *driver, ctx context.Context, _ *worker) error {
		_, err := d.loginVia(ctx, false, "", d.next)
		return err
	}},
	"userinfo":   {needsSeed: true, setup: loginForRefresh(false), op: (*driver).userinfo},
	"introspect": {needsSeed: true, setup: loginForRefresh(false), op: (*driver).introspect},
	"jwks":       {op: func(d *driver, ctx context.Context, _ *worker) error { return d.get(ctx, "/keys") }},
	"discovery": {op: func(d *driver, ctx context.Context, _ *worker) error {
		return d.get(ctx, "/.well-known/openid-configuration")
	}},
}

// token posts a token request with client_secret_basic and decodes the answer.
func (d *driver) token(ctx context.Context, id, secret string, form url.Values) (map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.url("/oauth/token"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errStatus("token "+form.Get("grant_type"), resp)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *driver) clientCredentials(ctx context.Context, _ *worker) error {
	_, err := d.token(ctx, d.seed.ServiceID, d.seed.ServiceSecret, url.Values{"grant_type": {"client_credentials"}})
	return err
}

func (d *driver) webClient(rs256 bool) (string, string) {
	if rs256 {
		return d.seed.RS256ClientID, d.seed.RS256Secret
	}
	return d.seed.WebClientID, d.seed.WebSecret
}

// loginForRefresh gives each worker its own refresh chain and access token (one login each).
func loginForRefresh(rs256 bool) func(d *driver, ctx context.Context, w *worker) error {
	return func(d *driver, ctx context.Context, w *worker) error {
		tok, err := d.login(ctx, rs256, "openid profile offline_access")
		if err != nil {
			return err
		}
		w.refresh, _ = tok["refresh_token"].(string)
		w.access, _ = tok["access_token"].(string)
		if w.refresh == "" || w.access == "" {
			return errors.New("the login gave no refresh or access token")
		}
		return nil
	}
}

// refreshOp rotates the worker's refresh token: each answer's new token is the next request's.
func refreshOp(rs256 bool) func(d *driver, ctx context.Context, w *worker) error {
	return func(d *driver, ctx context.Context, w *worker) error {
		id, sec := d.webClient(rs256)
		tok, err := d.token(ctx, id, sec, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.refresh}})
		if err != nil {
			return err
		}
		if rt, _ := tok["refresh_token"].(string); rt != "" {
			w.refresh = rt
		}
		return nil
	}
}

func (d *driver) userinfo(ctx context.Context, w *worker) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url("/userinfo"), nil)
	req.Header.Set("Authorization", "Bearer "+w.access)
	return d.expectOK(req, "userinfo")
}

func (d *driver) introspect(ctx context.Context, w *worker) error {
	form := url.Values{"token": {w.access}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.url("/oauth/introspect"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(d.seed.ServiceID), url.QueryEscape(d.seed.ServiceSecret))
	return d.expectOK(req, "introspect")
}

func (d *driver) get(ctx context.Context, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url(path), nil)
	return d.expectOK(req, path)
}

func (d *driver) expectOK(req *http.Request, what string) error {
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errStatus(what, resp)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func hiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// login is one person's whole interactive sign-in, as a browser does it: a fresh cookie jar,
// /authorize with PKCE, the password page, the authenticator code, the redirect back, and the
// code exchanged for tokens. People are taken in turn, so no TOTP code is used twice within
// its 30 seconds while there are enough of them.
func (d *driver) login(ctx context.Context, rs256 bool, scope string) (map[string]any, error) {
	return d.loginVia(ctx, rs256, scope, d)
}

// loginVia is login with the steps after the password (the code page's post and the code
// exchange) sent to finish's target. The browser's cookies go along: a cookie is not bound to a
// port, as behind a load balancer the nodes share one host name.
func (d *driver) loginVia(ctx context.Context, rs256 bool, scope string, finish *driver) (map[string]any, error) {
	if len(d.seed.Users) == 0 {
		return nil, errors.New("the seed has no users")
	}
	u := d.seed.Users[int(d.nextUser.Add(1)-1)%len(d.seed.Users)]
	jar, _ := cookiejar.New(nil)
	br := &http.Client{Transport: d.transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), d.seed.RedirectURI) {
				return http.ErrUseLastResponse // the application: read the code, do not call it
			}
			return nil
		}}
	id, sec := d.webClient(rs256)
	verifier := random(32)
	sum := sha256.Sum256([]byte(verifier))
	if scope == "" {
		scope = "openid profile"
	}
	q := url.Values{"client_id": {id}, "redirect_uri": {d.seed.RedirectURI}, "response_type": {"code"}, "scope": {scope},
		"state": {random(12)}, "nonce": {random(12)}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	page, _, err := fetch(ctx, br, http.MethodGet, d.url("/authorize?"+q.Encode()), nil)
	if err != nil {
		return nil, err
	}
	form := hiddenFields(page)
	form.Set("email", u.Email)
	form.Set("password", u.Password)
	page, _, err = fetch(ctx, br, http.MethodPost, d.url("/login"), form)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(page, `action="/mfa/verify"`) {
		return nil, fmt.Errorf("after the password, no code page for %s: %.200s", u.Email, page)
	}
	code, err := totp.GenerateCode(u.TOTPSecret, time.Now())
	if err != nil {
		return nil, err
	}
	form = hiddenFields(page)
	form.Set("code", code)
	_, loc, err := fetch(ctx, br, http.MethodPost, finish.url("/mfa/verify"), form)
	if err != nil {
		return nil, err
	}
	back, err := url.Parse(loc)
	if err != nil || back.Query().Get("code") == "" {
		return nil, fmt.Errorf("not sent back with a code (%s): %q", u.Email, loc)
	}
	if back.Query().Get("state") != q.Get("state") {
		return nil, errors.New("state mismatch")
	}
	return finish.token(ctx, id, sec, url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {d.seed.RedirectURI}, "code_verifier": {verifier}})
}

// fetch performs one browser step; it returns the page and, when the server sent the browser to
// the application, that location.
func fetch(ctx context.Context, c *http.Client, method, u string, form url.Values) (string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(ctx, method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// A same-origin form post, as a browser marks it.
		req.Header.Set("Origin", (&url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host}).String())
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode/100 == 3 {
		return string(b), resp.Header.Get("Location"), nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("%s %s: HTTP %d: %.200s", method, req.URL.Path, resp.StatusCode, b)
	}
	return string(b), "", nil
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
