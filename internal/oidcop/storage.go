package oidcop

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/store"
)

// Hasher is a keyed hash (internal/secret.Hasher); credentials are stored only as its output.
type Hasher interface {
	Sum(value string) string
}

// Storage implements op.Storage and the optional interfaces Tessera supports.
type Storage struct {
	st      *store.Store
	keys    *keys.Manager
	opts    Options
	codes   Hasher
	refresh Hasher
	secrets Hasher
	clients clientCache
	// verified remembers access tokens whose signature was verified (verifycache.go).
	verified verifiedTokens
	// pending remembers authorization requests still waiting for a sign-in (pending.go).
	pending pendingRequests
	audit   func(ctx context.Context, e *store.AuditEvent)
}

var (
	_ op.Storage                        = (*Storage)(nil)
	_ op.ClientCredentialsStorage       = (*Storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*Storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*Storage)(nil)
)

// errNotFound satisfies the library's StorageNotFoundError.
type errNotFound struct{ what string }

func (e errNotFound) Error() string { return e.what + " not found" }
func (errNotFound) IsNotFound()     {}

// ---- clients ----

// GetClientByClientID loads a client; unknown or disabled clients are a plain not-found error.
func (s *Storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Storage) client(ctx context.Context, id string) (*Client, error) {
	row, err := s.clients.get(ctx, s.st, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && row.Disabled) {
		return nil, errNotFound{"client"}
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &Client{row: row, loginURL: s.opts.LoginURL, idTTL: s.opts.IDTokenTTL}, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret against its keyed hash in
// constant time.
func (s *Storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.client(ctx, id)
	if err != nil {
		return err
	}
	return s.checkSecret(c, secret)
}

func (s *Storage) checkSecret(c *Client, secret string) error {
	if c.row.Type == store.ClientPublic || c.row.SecretHash == "" || secret == "" {
		return errors.New("client authentication failed")
	}
	if subtle.ConstantTimeCompare([]byte(s.secrets.Sum(secret)), []byte(c.row.SecretHash)) != 1 {
		return errors.New("client authentication failed")
	}
	return nil
}

// ClientCredentials authenticates a service client for the client_credentials grant.
func (s *Storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkSecret(c, secret); err != nil {
		return nil, err
	}
	return c, nil
}

// ClientCredentialsTokenRequest builds the grant for a service client.
func (s *Storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.row.Type != store.ClientService {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this client may not use client_credentials")
	}
	// A granted scope (the admin API's) only when an administrator granted it to this client;
	// asking for one that was not is invalid_scope (RFC 6749 §5.2), never a silent grant.
	for _, sc := range scopes {
		if slices.Contains(store.AdminScopes, sc) && !slices.Contains(c.row.Scopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("this client may not ask for the scope %s", sc)
		}
	}
	return &serviceRequest{clientID: id, tenantID: c.row.TenantID, scopes: c.grantableScopes(scopes)}, nil
}

// ---- authorization requests and codes ----

// CreateAuthRequest stores the validated authorization request.
func (s *Storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	c, err := s.client(ctx, r.ClientID)
	if err != nil {
		return nil, err
	}
	p := Params{
		Scopes: c.grantableScopes(r.Scopes), ResponseType: string(r.ResponseType), ResponseMode: string(r.ResponseMode),
		RedirectURI: r.RedirectURI, State: r.State, Nonce: r.Nonce,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: string(r.CodeChallengeMethod),
		Prompt: r.Prompt, MaxAge: r.MaxAge, ACRValues: r.ACRValues, LoginHint: r.LoginHint,
		HintSubject: hintSubject,
	}
	if c, ok := ctx.Value(claimsACRKey{}).(claimsACR); ok {
		p.ClaimsACR, p.ACREssential = c.values, c.essential
	}
	for _, t := range r.UILocales {
		p.UILocales = append(p.UILocales, t.String())
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	row := &store.AuthRequest{ClientID: c.row.ID, TenantID: c.row.TenantID, Params: string(raw)}
	if err := s.st.CreateAuthRequest(ctx, row, s.opts.AuthRequestTTL); err != nil {
		return nil, err
	}
	s.pending.put(row)
	return &AuthRequest{Row: row, Params: p}, nil
}

// AuthRequestByID loads a live authorization request.
func (s *Storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	if ar, _ := ctx.Value(loadedAuthRequestKey{}).(*AuthRequest); ar != nil && ar.Row.ID == id {
		return ar, nil // read by the callback's guard in this very request
	}
	return s.AuthRequest(ctx, id)
}

// loadedAuthRequestKey carries an auth request read earlier in the same request.
type loadedAuthRequestKey struct{}

// AuthRequest is AuthRequestByID with the concrete type, for the login pages.
func (s *Storage) AuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	row, err := s.st.AuthRequestByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound{"auth request"}
	}
	if err != nil {
		return nil, err
	}
	return loadAuthRequest(row)
}

// PendingAuthRequest is AuthRequest for the pages of a sign-in that has not completed (the sign-in
// page, the password step): a request this node created or read is served from memory. Only its
// unchanging parts may be relied on; Done is false unless the request was completed through
// this node (see pending.go).
func (s *Storage) PendingAuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	if row, ok := s.pending.get(id, time.Now().Unix()); ok {
		return loadAuthRequest(row)
	}
	ar, err := s.AuthRequest(ctx, id)
	if err == nil {
		s.pending.put(ar.Row)
	}
	return ar, err
}

// ForgetPending drops what this node remembers of the pending request id, so that the next
// PendingAuthRequest reads it from the database.
func (s *Storage) ForgetPending(id string) { s.pending.forget(id) }

// SaveAuthCode stores the keyed hash of the code the library built for the request.
func (s *Storage) SaveAuthCode(ctx context.Context, id, code string) error {
	// With it, the session's client: the RPs to tell when the session ends (backchannel.go).
	return s.st.SaveAuthCodeNoted(ctx, id, s.codes.Sum(code), s.opts.CodeTTL)
}

// AuthRequestByCode redeems a code, once. The client was authenticated before this point (see
// guard.go). A second redemption revokes what the first one issued.
func (s *Storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	row, u, err := s.st.RedeemAuthCode(ctx, s.codes.Sum(code))
	if errors.Is(err, store.ErrReplayed) {
		s.audit(ctx, &store.AuditEvent{TenantID: row.TenantID, Event: "token.code_replayed", Result: "refused",
			SubjectID: row.UserID, ClientID: row.ClientID, Detail: "authorization code presented twice; its tokens were revoked"})
		return nil, errors.New("authorization code already used")
	}
	if err != nil {
		return nil, err
	}
	ar, err := loadAuthRequest(row)
	if err != nil {
		return nil, err
	}
	ar.user = u
	return ar, s.attachToCode(ctx, ar)
}

// DeleteAuthRequest is called by the library after a code exchange. The code was already spent
// atomically in AuthRequestByCode; the row stays until it expires so a replay is recognised.
func (s *Storage) DeleteAuthRequest(context.Context, string) error { return nil }

// ---- tokens ----

// CreateAccessToken names an access token without a refresh token. Nothing is stored: the JWT
// carries what checking it needs (see access.go).
func (s *Storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	beginAccessToken(req)
	return store.NewID(), time.Now().Add(s.opts.AccessTokenTTL).UTC(), nil
}

// CreateAccessAndRefreshTokens issues an access token with a refresh token: a new family after a
// code exchange, or the next link of a family on refresh (rotation with reuse detection).
func (s *Storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	beginAccessToken(req)
	exp := time.Now().Add(s.opts.AccessTokenTTL).UTC()
	value := "rt_" + randomToken()
	next := &store.RefreshToken{TokenHash: s.refresh.Sum(value), Scopes: strings.Join(req.GetScopes(), " ")}
	switch r := req.(type) {
	case *AuthRequest:
		next.ClientID, next.TenantID, next.UserID = r.Row.ClientID, r.Row.TenantID, r.Row.UserID
		next.SessionID, next.AuthRequestID = r.Row.SessionID, r.Row.ID
		next.AuthTime, next.AMR, next.ACR = r.Row.AuthTime, r.Row.AMR, r.Row.ACR
		next.ProxyGrantID = r.Row.ProxyGrantID
		if err := s.st.IssueRefreshToken(ctx, next, s.opts.RefreshIdleTTL, s.opts.RefreshTTL); err != nil {
			return "", "", time.Time{}, err
		}
	case *refreshRequest:
		next.ClientID, next.TenantID, next.UserID = r.row.ClientID, r.row.TenantID, r.row.UserID
		next.SessionID, next.AuthRequestID = r.row.SessionID, r.row.AuthRequestID
		next.AuthTime, next.AMR, next.ACR = r.row.AuthTime, r.row.AMR, r.row.ACR
		next.ProxyGrantID = r.row.ProxyGrantID
		next.Scopes = r.row.Scopes // the family keeps its original grant; narrowed scopes apply to this access token only
		err := s.st.RotateRefreshToken(ctx, r.row, next, s.opts.RefreshIdleTTL)
		if errors.Is(err, store.ErrReplayed) {
			s.audit(ctx, &store.AuditEvent{TenantID: r.row.TenantID, Event: "token.refresh_replayed", Result: "refused",
				SubjectID: r.row.UserID, ClientID: r.row.ClientID, Detail: "refresh token reused; family revoked"})
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
		}
		if err != nil {
			return "", "", time.Time{}, err
		}
	default:
		return "", "", time.Time{}, fmt.Errorf("oidcop: no refresh tokens for %T", req)
	}
	return store.NewID(), value, exp, nil
}

// TokenRequestByRefreshToken resolves a refresh token. A rotated token presented again revokes
// its whole family (the store does it in one transaction) and is refused.
func (s *Storage) TokenRequestByRefreshToken(ctx context.Context, value string) (op.RefreshTokenRequest, error) {
	row, user, err := s.st.RefreshTokenAndUser(ctx, s.refresh.Sum(value))
	if errors.Is(err, store.ErrReplayed) {
		s.audit(ctx, &store.AuditEvent{TenantID: row.TenantID, Event: "token.refresh_replayed", Result: "refused",
			SubjectID: row.UserID, ClientID: row.ClientID, Detail: "rotated refresh token presented again; family revoked"})
		return nil, errors.New("refresh token already used")
	}
	if err != nil {
		return nil, errors.New("refresh token invalid or expired")
	}
	rr := &refreshRequest{row: row, scopes: store.SplitList(row.Scopes), user: user}
	if err := s.attachToRefresh(ctx, rr); err != nil {
		return nil, err
	}
	return rr, nil
}

// GetRefreshTokenInfo resolves a refresh token of clientID for revocation. The id it returns
// is marked so RevokeToken can tell it from an access token's jti.
func (s *Storage) GetRefreshTokenInfo(ctx context.Context, clientID, value string) (string, string, error) {
	row, err := s.st.RefreshTokenByHash(ctx, s.refresh.Sum(value))
	if row == nil || (err != nil && !errors.Is(err, store.ErrNotFound)) || row.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return row.UserID, refreshIDPrefix + row.ID, nil
}

const refreshIDPrefix = "rt:"

// RevokeToken revokes an access token (by jti) or a refresh token with its whole family and
// the access tokens issued with it (RFC 7009 §2.1). Tokens of another client, and tokens already
// gone, are left alone and the answer is still 200, as RFC 7009 §2.2 asks.
func (s *Storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	var err error
	switch {
	case strings.HasPrefix(tokenOrID, refreshIDPrefix):
		err = s.st.RevokeRefreshFamilyOf(ctx, strings.TrimPrefix(tokenOrID, refreshIDPrefix), clientID)
	case strings.HasPrefix(tokenOrID, "rt_"):
		// a refresh token value the lookup did not accept: unknown, or another client's
	default:
		// Our access tokens are revoked by revokeAccess (guard.go) before the library is
		// reached; what arrives here is not one of ours.
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// TerminateSession is superseded by TerminateSessionFromRequest.
func (s *Storage) TerminateSession(ctx context.Context, userID, clientID string) error { return nil }

// TerminateSessionFromRequest ends the SSO session named by the id_token_hint's sid (RP-initiated
// logout) and revokes the tokens issued under it; the handler wrapper (guard.go) also clears the
// browser's session cookie. The library has already checked post_logout_redirect_uri.
func (s *Storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	if req.IDTokenHintClaims != nil {
		if sid, _ := req.IDTokenHintClaims.Claims["sid"].(string); sid != "" {
			if se, err := s.st.SessionByID(ctx, sid); err == nil && se.UserID == req.UserID {
				if err := s.st.RevokeSession(ctx, sid); err != nil {
					return "", err
				}
				noteEnded(ctx, sid) // back-channel logout (backchannel.go)
				s.audit(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "session.logout", Result: "ok",
					ActorID: se.UserID, SubjectID: se.UserID, ClientID: req.ClientID})
			}
		}
	}
	return req.RedirectURI, nil
}

// ---- keys ----

// Access tokens are always ES256, whatever the client's ID-token algorithm: the client's
// id_token_signed_response_alg governs only what the client itself verifies (ID tokens, logout
// tokens), while access tokens are read by Tessera and by resource servers, which take the whole
// key set. An RS256 client so pays one RSA signature per token response, not two.
//
// The protocol library asks SigningKey for both tokens of a response, with the same context and
// no word of which token it signs. It builds the access token in CreateJWT, which asks for the
// token's private claims (GetPrivateClaimsFromRequest) right before SigningKey; the ID token's
// CreateIDToken asks SigningKey first and never for private claims. So the claims hook marks the
// request (accessSigning, put in the context by guardToken) and the next SigningKey spends the
// mark. Token exchange (proxy.go) calls CreateJWT itself, so it takes the same path. The
// end-to-end tests check both tokens' algorithms, so a library change of that order fails them.

// accessSigning is one token request's mark: the next SigningKey signs an access token. A token
// request is served by one goroutine, so it needs no lock.
type accessSigning struct{ next bool }

type accessSigningKey struct{}

// withAccessSigning gives a token request its mark (guardToken).
func withAccessSigning(ctx context.Context) context.Context {
	return context.WithValue(ctx, accessSigningKey{}, &accessSigning{})
}

// markAccessSigning says that the next SigningKey of this request signs an access token.
func markAccessSigning(ctx context.Context) {
	if m, ok := ctx.Value(accessSigningKey{}).(*accessSigning); ok {
		m.next = true
	}
}

// SigningKey returns the key that signs now: ES256 for an access token, else (an ID token) the
// algorithm the client registered (guard.go puts the authenticated client in the context).
func (s *Storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	if m, ok := ctx.Value(accessSigningKey{}).(*accessSigning); ok && m.next {
		m.next = false
		return s.keys.Signer(ctx, jose.ES256)
	}
	alg := jose.ES256
	if c, ok := ctx.Value(clientCtxKey{}).(*Client); ok && c.row.IDTokenAlg != "" {
		alg = jose.SignatureAlgorithm(c.row.IDTokenAlg)
	}
	return s.keys.Signer(ctx, alg)
}

// SignatureAlgorithms lists what Tessera signs with.
func (s *Storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return keys.Algorithms, nil
}

// KeySet returns the published public keys.
func (s *Storage) KeySet(ctx context.Context) ([]op.Key, error) {
	pks, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(pks))
	for i := range pks {
		out[i] = pks[i]
	}
	return out, nil
}

// GetKeyByIDAndClientID is for JWT-profile client keys, which Tessera does not accept.
func (s *Storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("private_key_jwt is not supported")
}

// ValidateJWTProfileScopes is unused: the JWT-profile grant is not offered.
func (s *Storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return nil, errors.New("jwt-bearer grant is not supported")
}

// ---- claims ----

// SetUserinfoFromScopes is deprecated in the library; SetUserinfoFromRequest does the work.
func (s *Storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims for the scopes granted, plus sid.
func (s *Storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if u := userReadWith(req); u != nil && u.ID == req.GetSubject() {
		fillUserinfoFrom(info, u, scopes) // read with the refresh token or the code, in this request
	} else if err := s.fillUserinfo(ctx, info, req.GetSubject(), scopes); err != nil {
		return err
	}
	if sb, ok := req.(sessionBound); ok && sb.sessionID() != "" {
		info.AppendClaims("sid", sb.sessionID())
	}
	return nil
}

// SetUserinfoFromToken and SetIntrospectionFromToken are the library's hooks for userinfo and
// introspection, which Tessera serves itself from the token's verified claims (access.go); the
// library never reaches them.
func (s *Storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errInvalidToken
}

func (s *Storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errInvalidToken
}

var errInvalidToken = errors.New("invalid_token")

// GetPrivateClaimsFromScopes adds nothing yet; proxy and SMART claims arrive with their issues.
func (s *Storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *Storage) fillUserinfo(ctx context.Context, info *oidc.UserInfo, userID string, scopes []string) error {
	u, err := s.st.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	fillUserinfoFrom(info, u, scopes)
	return nil
}

// fillUserinfoFrom sets the claims of u that scopes grant.
func fillUserinfoFrom(info *oidc.UserInfo, u *store.User, scopes []string) {
	info.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.Name, info.GivenName, info.FamilyName = u.Name, u.GivenName, u.FamilyName
			info.UpdatedAt = oidc.FromTime(time.Unix(u.UpdatedAt, 0))
			if u.Locale != "" {
				info.Locale = oidc.NewLocale(parseTag(u.Locale))
			}
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.EmailVerified)
		case oidc.ScopePhone:
			if u.Phone != "" {
				info.PhoneNumber, info.PhoneNumberVerified = u.Phone, oidc.Bool(u.PhoneVerified)
			}
		case ScopeFHIRUser: // SMART App Launch (smart.go)
			if u.FHIRUser != "" {
				info.AppendClaims("fhirUser", u.FHIRUser)
			}
		}
	}
}

// Health reports whether the database answers.
func (s *Storage) Health(ctx context.Context) error { return s.st.Ping(ctx) }
