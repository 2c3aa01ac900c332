package oidcop

import (
	"encoding/json"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tessera-health/tessera/internal/store"
)

// Params are the protocol parameters of an authorization request, kept as JSON in the store.
type Params struct {
	Scopes              []string `json:"scopes"`
	ResponseType        string   `json:"response_type"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	RedirectURI         string   `json:"redirect_uri"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	MaxAge              *uint    `json:"max_age,omitempty"`
	ACRValues           []string `json:"acr_values,omitempty"`
	ClaimsACR           []string `json:"claims_acr,omitempty"`    // acr values of the claims parameter
	ACREssential        bool     `json:"acr_essential,omitempty"` // the claims parameter marked acr essential
	LoginHint           string   `json:"login_hint,omitempty"`
	HintSubject         string   `json:"hint_subject,omitempty"` // sub of a valid id_token_hint
	UILocales           []string `json:"ui_locales,omitempty"`
}

// AuthRequest is an authorization request as the protocol library and the login pages see it.
type AuthRequest struct {
	Row    *store.AuthRequest
	Params Params
	proxy  *delegation // the patient context chosen, once the code is redeemed (proxy.go)
	// user is the request's person when it was read with the code (store.RedeemAuthCode),
	// for the ID token's claims; nil otherwise.
	user *store.User
}

var _ op.AuthRequest = (*AuthRequest)(nil)

// LoadAuthRequest wraps a stored auth request row the caller read itself (the sign-in's joined
// read, store.SignInStep).
func LoadAuthRequest(row *store.AuthRequest) (*AuthRequest, error) { return loadAuthRequest(row) }

func loadAuthRequest(row *store.AuthRequest) (*AuthRequest, error) {
	ar := &AuthRequest{Row: row}
	if err := json.Unmarshal([]byte(row.Params), &ar.Params); err != nil {
		return nil, err
	}
	return ar, nil
}

func (a *AuthRequest) GetID() string          { return a.Row.ID }
func (a *AuthRequest) GetACR() string         { return a.Row.ACR }
func (a *AuthRequest) GetAMR() []string       { return store.SplitList(a.Row.AMR) }
func (a *AuthRequest) GetAudience() []string  { return []string{a.Row.ClientID} }
func (a *AuthRequest) GetAuthTime() time.Time { return time.Unix(a.Row.AuthTime, 0).UTC() }
func (a *AuthRequest) GetClientID() string    { return a.Row.ClientID }
func (a *AuthRequest) GetNonce() string       { return a.Params.Nonce }
func (a *AuthRequest) GetRedirectURI() string { return a.Params.RedirectURI }
func (a *AuthRequest) GetScopes() []string    { return a.proxy.scopesOr(a.Params.Scopes) }
func (a *AuthRequest) GetState() string       { return a.Params.State }
func (a *AuthRequest) GetSubject() string     { return a.proxy.subjectOr(a.Row.UserID) }
func (a *AuthRequest) Done() bool             { return a.Row.Done }
func (a *AuthRequest) sessionID() string      { return a.Row.SessionID }
func (a *AuthRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.Params.ResponseType)
}
func (a *AuthRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.Params.ResponseMode)
}
func (a *AuthRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.Params.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.Params.CodeChallenge, Method: oidc.CodeChallengeMethod(a.Params.CodeChallengeMethod)}
}

// HasPrompt reports whether the RP sent prompt=p.
func (a *AuthRequest) HasPrompt(p string) bool {
	for _, v := range a.Params.Prompt {
		if v == p {
			return true
		}
	}
	return false
}

// userReadWith returns the person read together with the grant of req in this request (the
// refresh token's or the redeemed code's), or nil.
func userReadWith(req any) *store.User {
	switch r := req.(type) {
	case *refreshRequest:
		return r.user
	case *AuthRequest:
		return r.user
	}
	return nil
}

// refreshRequest is the grant behind a refresh token. It implements op.AuthRequest as well as
// op.RefreshTokenRequest, because the library copies acr into a refreshed ID token only from an
// op.AuthRequest: without it refreshed ID tokens would silently lose acr.
type refreshRequest struct {
	row    *store.RefreshToken
	scopes []string
	proxy  *delegation // a patient-context family (proxy.go)
	// user is the token's person, read with it (store.RefreshTokenAndUser), for the ID token's
	// claims; nil when it was not.
	user *store.User
}

var (
	_ op.RefreshTokenRequest = (*refreshRequest)(nil)
	_ op.AuthRequest         = (*refreshRequest)(nil)
)

func (r *refreshRequest) GetID() string                         { return r.row.ID }
func (r *refreshRequest) GetACR() string                        { return r.row.ACR }
func (r *refreshRequest) GetAMR() []string                      { return store.SplitList(r.row.AMR) }
func (r *refreshRequest) GetAudience() []string                 { return []string{r.row.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time                { return time.Unix(r.row.AuthTime, 0).UTC() }
func (r *refreshRequest) GetClientID() string                   { return r.row.ClientID }
func (r *refreshRequest) GetScopes() []string                   { return r.scopes }
func (r *refreshRequest) GetSubject() string                    { return r.proxy.subjectOr(r.row.UserID) }
func (r *refreshRequest) SetCurrentScopes(s []string)           { r.scopes = s }
func (r *refreshRequest) GetCodeChallenge() *oidc.CodeChallenge { return nil }
func (r *refreshRequest) GetNonce() string                      { return "" } // OIDC Core §12.2
func (r *refreshRequest) GetRedirectURI() string                { return "" }
func (r *refreshRequest) GetResponseType() oidc.ResponseType    { return oidc.ResponseTypeCode }
func (r *refreshRequest) GetResponseMode() oidc.ResponseMode    { return "" }
func (r *refreshRequest) GetState() string                      { return "" }
func (r *refreshRequest) Done() bool                            { return true }
func (r *refreshRequest) sessionID() string                     { return r.row.SessionID }

// serviceRequest is a client_credentials grant: the client acts for itself.
type serviceRequest struct {
	clientID string
	tenantID string
	scopes   []string
}

func (s *serviceRequest) GetSubject() string    { return s.clientID }
func (s *serviceRequest) GetAudience() []string { return []string{s.clientID} }
func (s *serviceRequest) GetScopes() []string   { return s.scopes }

// sessionBound is implemented by grants that belong to a browser session (for the sid claim).
type sessionBound interface{ sessionID() string }
