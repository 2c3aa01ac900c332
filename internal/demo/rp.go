package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Renderer draws the demo page (web.Pages).
type Renderer interface {
	Render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any)
}

// RP is the demo relying party. It keeps its own small in-memory state, as a real portal would
// keep its own sessions: pending logins by state, and signed-in browsers by a random cookie.
type RP struct {
	issuer, clientID, secret string
	pages                    Renderer

	once     sync.Mutex
	provider *oidc.Provider

	mu       sync.Mutex
	pending  map[string]pendingLogin
	sessions map[string]rpSession
}

type pendingLogin struct {
	nonce, verifier string
	at              time.Time
}

type rpSession struct {
	idToken string
	claims  map[string]any
}

// NewRP returns the demo RP for a seeded client.
func NewRP(issuer, clientID, secret string, pages Renderer) *RP {
	return &RP{issuer: issuer, clientID: clientID, secret: secret, pages: pages,
		pending: map[string]pendingLogin{}, sessions: map[string]rpSession{}}
}

// Routes registers /demo, /demo/login, /demo/callback and /demo/logout.
func (rp *RP) Routes(mux interface {
	HandleFunc(string, func(http.ResponseWriter, *http.Request))
}) {
	mux.HandleFunc("GET /demo", rp.home)
	mux.HandleFunc("GET /demo/login", rp.login)
	mux.HandleFunc("GET /demo/callback", rp.callback)
	mux.HandleFunc("POST /demo/logout", rp.logout)
}

// discover fetches the provider's discovery document over HTTP, like any outside RP; lazily,
// because the server is not listening yet when the RP is built.
func (rp *RP) discover(ctx context.Context) (*oidc.Provider, error) {
	rp.once.Lock()
	defer rp.once.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	p, err := oidc.NewProvider(ctx, rp.issuer)
	if err != nil {
		return nil, err
	}
	rp.provider = p
	return p, nil
}

func (rp *RP) config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: rp.clientID, ClientSecret: rp.secret, Endpoint: p.Endpoint(),
		RedirectURL: rp.issuer + "/demo/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email", "phone"}}
}

const rpCookie = "demo_rp"

func (rp *RP) home(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Demo patient portal", "CSRF": rp.csrf(w, r)}
	if c, err := r.Cookie(rpCookie); err == nil {
		rp.mu.Lock()
		s, ok := rp.sessions[c.Value]
		rp.mu.Unlock()
		if ok {
			data["Claims"] = sortedClaims(s.claims)
		}
	}
	if e := r.URL.Query().Get("error"); e != "" {
		data["Error"] = "Sign-in did not finish: " + e
	}
	rp.pages.Render(w, r, http.StatusOK, "demo", data)
}

func (rp *RP) login(w http.ResponseWriter, r *http.Request) {
	p, err := rp.discover(r.Context())
	if err != nil {
		http.Error(w, "cannot reach the identity provider: "+err.Error(), http.StatusBadGateway)
		return
	}
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	for k, v := range rp.pending { // bounded: forget logins never finished
		if time.Since(v.at) > 10*time.Minute {
			delete(rp.pending, k)
		}
	}
	rp.pending[state] = pendingLogin{nonce: nonce, verifier: verifier, at: time.Now()}
	rp.mu.Unlock()
	http.Redirect(w, r, rp.config(p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

func (rp *RP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		http.Redirect(w, r, "/demo?error="+url.QueryEscape(e), http.StatusFound)
		return
	}
	rp.mu.Lock()
	pl, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	if !ok {
		http.Redirect(w, r, "/demo?error=unknown_state", http.StatusFound)
		return
	}
	p, err := rp.discover(r.Context())
	if err != nil {
		http.Error(w, "cannot reach the identity provider", http.StatusBadGateway)
		return
	}
	tok, err := rp.config(p).Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(pl.verifier))
	if err != nil {
		http.Redirect(w, r, "/demo?error="+url.QueryEscape("token exchange failed"), http.StatusFound)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: rp.clientID}).Verify(r.Context(), raw)
	if err != nil || idt.Nonce != pl.nonce {
		http.Redirect(w, r, "/demo?error="+url.QueryEscape("ID token did not verify"), http.StatusFound)
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		http.Error(w, "bad claims", http.StatusBadGateway)
		return
	}
	sid := random()
	rp.mu.Lock()
	rp.sessions[sid] = rpSession{idToken: raw, claims: claims}
	rp.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: rpCookie, Value: sid, Path: "/demo", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/demo", http.StatusFound)
}

// logout signs out of the portal and then of Tessera (RP-initiated logout).
func (rp *RP) logout(w http.ResponseWriter, r *http.Request) {
	if !rp.checkCSRF(r) {
		http.Error(w, "Please go back and try again.", http.StatusForbidden)
		return
	}
	var hint string
	if c, err := r.Cookie(rpCookie); err == nil {
		rp.mu.Lock()
		hint = rp.sessions[c.Value].idToken
		delete(rp.sessions, c.Value)
		rp.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: rpCookie, Value: "", Path: "/demo", MaxAge: -1})
	p, err := rp.discover(r.Context())
	if err != nil {
		http.Redirect(w, r, "/demo", http.StatusSeeOther)
		return
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&meta)
	v := url.Values{"client_id": {rp.clientID}, "post_logout_redirect_uri": {rp.issuer + "/demo"}}
	if hint != "" {
		v.Set("id_token_hint", hint)
	}
	http.Redirect(w, r, meta.EndSession+"?"+v.Encode(), http.StatusSeeOther)
}

func (rp *RP) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie("demo_csrf"); err == nil && len(c.Value) >= 20 {
		return c.Value
	}
	v := random()
	http.SetCookie(w, &http.Cookie{Name: "demo_csrf", Value: v, Path: "/demo", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return v
}

func (rp *RP) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie("demo_csrf")
	return err == nil && len(c.Value) >= 20 && r.PostFormValue("csrf") == c.Value
}

type claim struct{ Name, Value string }

func sortedClaims(m map[string]any) []claim {
	out := make([]claim, 0, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if k == "auth_time" || k == "iat" || k == "exp" {
			if f, ok := v.(float64); ok {
				s = fmt.Sprintf("%.0f (%s)", f, time.Unix(int64(f), 0).UTC().Format(time.RFC1123))
			}
		}
		out = append(out, claim{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func random() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
