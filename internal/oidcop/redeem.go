package oidcop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Redeemed is what Tessera's own first-party pages learn from redeeming a code.
type Redeemed struct {
	Subject   string // sub: the person's id
	SessionID string // sid: the browser session that signed in
	ClientID  string // aud
}

// RedeemCode exchanges an authorization code in process, through the same guards and library
// handler as POST /oauth/token (so the code is spent, PKCE is checked and the exchange is
// audited exactly as for an outside application). The account console uses it: it is a relying
// party of Tessera, without a network hop to itself.
func (p *Provider) RedeemCode(ctx context.Context, clientID, code, redirectURI, verifier string) (*Redeemed, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {clientID}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.Issuer+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := &recorder{header: http.Header{}}
	p.guardToken(p.op).ServeHTTP(rec, req)
	var resp struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(rec.body.Bytes(), &resp); err != nil || rec.status != http.StatusOK || resp.IDToken == "" {
		return nil, fmt.Errorf("oidcop: redeem code: status %d, error %q", rec.status, resp.Error)
	}
	// The token never left this process, so its claims are read without checking the
	// signature: there is nobody in between who could have changed it.
	jws, err := jose.ParseSignedCompact(resp.IDToken, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("oidcop: redeem code: %w", err)
	}
	var claims struct {
		Sub string `json:"sub"`
		Sid string `json:"sid"`
		Aud any    `json:"aud"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, fmt.Errorf("oidcop: redeem code: %w", err)
	}
	out := &Redeemed{Subject: claims.Sub, SessionID: claims.Sid}
	switch a := claims.Aud.(type) {
	case string:
		out.ClientID = a
	case []any:
		if len(a) > 0 {
			out.ClientID, _ = a[0].(string)
		}
	}
	return out, nil
}
