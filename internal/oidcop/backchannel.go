package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tessera-health/tessera/internal/store"
)

// OpenID Connect Back-Channel Logout 1.0. When a session ends (RP-initiated logout, a new
// person signing in on the browser, a password reset, "sign out everywhere"), the store queues,
// in the transaction that ends it, one delivery per relying party the session issued a code to
// that registered a backchannel_logout_uri. A delivery is a signed logout token POSTed as
// logout_token=…; it is retried with backoff while the RP is down or answers anything but 2xx,
// up to logoutMaxAttempts, and every attempt's outcome is audited. Any node may deliver: rows
// are claimed with a conditional UPDATE (store.ClaimLogouts). The request that ended the
// session waits at most Options.LogoutWait for the first attempt; the worker
// (RunLogoutWorker) does the rest.

// BackchannelLogoutEvent is the member of a logout token's events claim.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	logoutTokenTTL    = 2 * time.Minute
	logoutLease       = time.Minute // a claimed row is another node's after this
	logoutBatch       = 10
	logoutMaxAttempts = 8
)

// logoutBackoff is the wait after failed attempt n (1-based); after the last attempt the
// delivery is given up (about two hours after the session ended).
var logoutBackoff = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour}

func retryAfter(attempt int) time.Duration {
	if attempt >= logoutMaxAttempts {
		return 0
	}
	return logoutBackoff[min(attempt, len(logoutBackoff))-1]
}

type logoutSender struct {
	client *http.Client
	wait   time.Duration
}

func newLogoutSender(opts Options) logoutSender {
	c := opts.LogoutClient
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	// A logout endpoint answers; it does not send the OP elsewhere.
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	wait := opts.LogoutWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	return logoutSender{client: &cc, wait: wait}
}

// endedSessions collects, during one request, the sessions that request ended.
type endedSessions struct {
	mu  sync.Mutex
	ids []string
}

type endedSessionsKey struct{}

func (e *endedSessions) add(id string) {
	if id == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range e.ids {
		if v == id {
			return
		}
	}
	e.ids = append(e.ids, id)
}

func noteEnded(ctx context.Context, id string) {
	if e, ok := ctx.Value(endedSessionsKey{}).(*endedSessions); ok {
		e.add(id)
	}
}

// SessionsEnded is the hook for whoever ends sessions (the account console's "sign out
// everywhere", administrators): it queues logout tokens for the relying parties of the
// sessions — nothing twice, so calling it after a store method that already queued them is
// harmless — and makes the first delivery attempt, waiting for it at most Options.LogoutWait.
// A relying party that is slow or down is retried by the worker.
func (p *Provider) SessionsEnded(ctx context.Context, sessionIDs []string) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	if err := p.storage.st.QueueLogouts(ctx, sessionIDs); err != nil {
		return err
	}
	done := make(chan struct{})
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoutLease/2)
	go func() {
		defer cancel()
		defer close(done)
		if _, err := p.deliverLogouts(bg, time.Now(), sessionIDs); err != nil {
			slog.WarnContext(bg, "back-channel logout: delivery pass", "err", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(p.logouts.wait):
	case <-ctx.Done():
	}
	return nil
}

// DeliverLogouts makes one pass over the logout deliveries due at now: each is claimed, sent
// and recorded (delivered, to retry later, or given up). It returns how many were attempted.
// The worker calls it periodically; tests call it with a chosen now.
func (p *Provider) DeliverLogouts(ctx context.Context, now time.Time) (int, error) {
	return p.deliverLogouts(ctx, now, nil)
}

func (p *Provider) deliverLogouts(ctx context.Context, now time.Time, sessionIDs []string) (int, error) {
	total := 0
	for {
		rows, err := p.storage.st.ClaimLogouts(ctx, now, logoutLease, logoutBatch, sessionIDs)
		var wg sync.WaitGroup
		for i := range rows {
			wg.Add(1)
			go func(d *store.LogoutDelivery) {
				defer wg.Done()
				p.deliverLogout(ctx, d, now)
			}(&rows[i])
		}
		wg.Wait()
		total += len(rows)
		if err != nil || len(rows) < logoutBatch {
			return total, err
		}
	}
}

// deliverLogout sends one claimed delivery and records the outcome.
func (p *Provider) deliverLogout(ctx context.Context, d *store.LogoutDelivery, now time.Time) {
	err := p.postLogoutToken(ctx, d)
	retry := time.Duration(0)
	result := "ok"
	detail := fmt.Sprintf("attempt %d", d.Attempts)
	if err != nil {
		retry = retryAfter(d.Attempts)
		result = "failed"
		if retry > 0 {
			result = "retry"
			detail += fmt.Sprintf(", next in %s", retry)
		}
		detail += ": " + err.Error()
	}
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	if serr := p.storage.st.LogoutDone(ctx, d, now, err == nil, retry, errText); serr != nil {
		slog.ErrorContext(ctx, "back-channel logout: record outcome", "err", serr, "delivery", d.ID)
	}
	p.opts.Audit(ctx, &store.AuditEvent{TenantID: d.TenantID, Event: "logout.backchannel", Result: result,
		ActorID: "tessera", SubjectID: d.UserID, ClientID: d.ClientID, Detail: detail})
}

// postLogoutToken POSTs a fresh logout token to the RP; any 2xx is delivered.
func (p *Provider) postLogoutToken(ctx context.Context, d *store.LogoutDelivery) error {
	token, err := p.logoutToken(ctx, d)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URI, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return fmt.Errorf("bad URI: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.logouts.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which the audit detail need not repeat
		}
		return fmt.Errorf("unreachable: %v", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// logoutToken signs the logout token for one delivery (Back-Channel Logout 1.0 §2.4): typ
// logout+jwt, iss, aud (the client), iat, exp, jti (the delivery, the same on every retry), sub,
// sid and the events claim; never a nonce. It is signed with the client's ID-token algorithm.
func (p *Provider) logoutToken(ctx context.Context, d *store.LogoutDelivery) (string, error) {
	c, err := p.storage.client(ctx, d.ClientID)
	alg := jose.ES256
	if err == nil && c.row.IDTokenAlg != "" {
		alg = jose.SignatureAlgorithm(c.row.IDTokenAlg)
	}
	key, err := p.keys.Signer(ctx, alg)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.SignatureAlgorithm(),
		Key: &jose.JSONWebKey{Key: key.Key(), KeyID: key.ID(), Algorithm: string(key.SignatureAlgorithm())}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := map[string]any{
		"iss": p.opts.Issuer, "aud": d.ClientID, "iat": now.Unix(), "exp": now.Add(logoutTokenTTL).Unix(),
		"jti": d.ID, "sub": d.UserID, "sid": d.SessionID,
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// RunLogoutWorker delivers due logout tokens every interval until ctx ends.
func (p *Provider) RunLogoutWorker(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.DeliverLogouts(ctx, time.Now()); err != nil && ctx.Err() == nil {
				slog.WarnContext(ctx, "back-channel logout: delivery pass", "err", err)
			}
		}
	}
}
