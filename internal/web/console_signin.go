package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// consoleRP is how a console (the account console, the admin console) signs a person in: as a
// relying party of Tessera, through /authorize with its tenant's built-in public client and
// PKCE, so every rule of the sign-in applies to it. Both consoles share this; they differ in the
// client, the callback, the acr they ask for, and their error page.
type consoleRP struct {
	name     string // "account", "admin": in the logs
	cookie   string // holds state, PKCE verifier and client id between start and callback
	callback string // the redirect URI's path
	acr      string // acr_values to ask for ("" for none)
	// client returns (creating it when missing) the tenant's built-in client for this console.
	client func(ctx context.Context, tenantID, redirectURI string) (*store.Client, error)
	// clientID is the id the tenant's built-in client must have.
	clientID func(tenantID string) string
	problem  func(w http.ResponseWriter, r *http.Request, status int, id string)
}

func (l *Login) consoleRedirectURI(c consoleRP) string { return l.Issuer + c.callback }

// consoleStart sends the browser to /authorize for the console of the tenant named by ?tenant=
// (or the only one); extra parameters (prompt=login) are added to the request.
func (l *Login) consoleStart(w http.ResponseWriter, r *http.Request, c consoleRP, extra url.Values) {
	ctx := r.Context()
	var (
		t   *store.Tenant
		err error
	)
	if ref := strings.TrimSpace(r.URL.Query().Get("tenant")); ref != "" {
		t, err = l.st.TenantByRef(ctx, ref)
	} else {
		t, err = l.st.SoleTenant(ctx)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		l.pages.Error(w, r, http.StatusBadRequest, "account.which_org")
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, c.name+": find tenant", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	cl, err := c.client(ctx, t.ID, l.consoleRedirectURI(c))
	if err != nil {
		slog.ErrorContext(ctx, c.name+": client", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	state, verifier := randomValue(), randomValue()
	l.cookies.Set(w, c.cookie, state+"."+verifier+"."+cl.ID, 10*time.Minute)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {l.consoleRedirectURI(c)}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if c.acr != "" {
		q.Set("acr_values", c.acr)
	}
	for k, v := range extra {
		q[k] = v
	}
	http.Redirect(w, r, "/authorize?"+q.Encode(), http.StatusSeeOther)
}

// consoleFinish checks the callback: the state must match the cookie (constant time), the code
// is redeemed (and so spent) through the token endpoint's own logic, and what it says must be
// this browser's session in the client's tenant. It answers the request itself when it fails.
func (l *Login) consoleFinish(w http.ResponseWriter, r *http.Request, c consoleRP) (se *store.Session, clientID string, ok bool) {
	ctx := r.Context()
	raw := l.cookies.Get(r, c.cookie)
	l.cookies.Clear(w, c.cookie)
	parts := strings.Split(raw, ".")
	q := r.URL.Query()
	if len(parts) != 3 || q.Get("state") == "" || subtle.ConstantTimeCompare([]byte(parts[0]), []byte(q.Get("state"))) != 1 ||
		(q.Get("iss") != "" && q.Get("iss") != l.Issuer) {
		c.problem(w, r, http.StatusBadRequest, "account.login_expired")
		return nil, "", false
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		c.problem(w, r, http.StatusBadRequest, "account.login_failed")
		return nil, "", false
	}
	clientID, verifier := parts[2], parts[1]
	red, err := l.op.RedeemCode(ctx, clientID, q.Get("code"), l.consoleRedirectURI(c), verifier)
	if err != nil {
		slog.WarnContext(ctx, c.name+": redeem code", "err", err)
		c.problem(w, r, http.StatusBadRequest, "account.login_expired")
		return nil, "", false
	}
	se = l.browserSession(r)
	if se == nil || red.Subject != se.UserID || red.ClientID != clientID || clientID != c.clientID(se.TenantID) ||
		(red.SessionID != "" && red.SessionID != se.ID) {
		c.problem(w, r, http.StatusBadRequest, "account.login_expired")
		return nil, "", false
	}
	return se, clientID, true
}
