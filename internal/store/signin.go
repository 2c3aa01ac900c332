package store

import (
	"context"
	"strings"
	"time"
)

// A sign-in's second step (the code page, the backup code, the consent) needs the auth request,
// the browser's session and its person on every request: three reads by three keys, made one
// here by a join. Like hot.go, the columns are spelled out; TestSignInStepMatchesGorm checks that
// the join returns exactly what gorm's reads return.

const authRequestColumns = "a.id, a.client_id, a.tenant_id, a.params, a.user_id, a.session_id, a.auth_time, a.amr, a.acr, a.done, " +
	"a.code_hash, a.code_expires_at, a.code_used_at, a.created_at, a.expires_at, a.proxy_grant_id"

func authRequestFields(ar *AuthRequest) []any {
	return []any{&ar.ID, &ar.ClientID, &ar.TenantID, &ar.Params, &ar.UserID, &ar.SessionID, &ar.AuthTime, &ar.AMR, &ar.ACR,
		&ar.Done, &ar.CodeHash, &ar.CodeExpiresAt, &ar.CodeUsedAt, &ar.CreatedAt, &ar.ExpiresAt, &ar.ProxyGrantID}
}

const sessionColumns = "s.id, s.cookie_hash, s.user_id, s.tenant_id, s.auth_time, s.amr, s.acr, s.ip, s.user_agent, s.created_at, " +
	"s.last_seen_at, s.expires_at, s.revoked_at, s.mfa_at"

func sessionFields(se *Session) []any {
	return []any{&se.ID, &se.CookieHash, &se.UserID, &se.TenantID, &se.AuthTime, &se.AMR, &se.ACR, &se.IP, &se.UserAgent,
		&se.CreatedAt, &se.LastSeenAt, &se.ExpiresAt, &se.RevokedAt, &se.MFAAt}
}

var qSignInStep = query{sql: "SELECT " + authRequestColumns + ", " + sessionColumns + ", " + prefixed("u.", userColumns) +
	" FROM auth_requests a JOIN sessions s ON s.cookie_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?" +
	" JOIN users u ON u.id = s.user_id WHERE a.id = ? AND a.expires_at > ?"}

// SignInStep returns the live auth request authRequestID, the live session whose cookie hashes
// to cookieHash (idle as in SessionByCookie) and the session's person, in one statement. It
// returns ErrNotFound when any of them is missing; the caller then reads them one by one to
// tell which (the rare path).
func (s *Store) SignInStep(ctx context.Context, authRequestID, cookieHash string, idle time.Duration) (*AuthRequest, *Session, *User, error) {
	now := s.unix()
	var (
		ar AuthRequest
		se Session
		u  User
	)
	fields := append(append(authRequestFields(&ar), sessionFields(&se)...), userFields(&u)...)
	if err := scanErr(s.queryRow(ctx, &qSignInStep, cookieHash, now, now-int64(idle/time.Second), authRequestID, now).Scan(fields...)); err != nil {
		return nil, nil, nil, err
	}
	return &ar, &se, &u, nil
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, columns string) string {
	cs := strings.Split(columns, ",")
	for i, c := range cs {
		cs[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cs, ", ")
}

var qAuthRequestForBrowser = query{sql: "SELECT " + authRequestColumns +
	" FROM auth_requests a JOIN sessions s ON s.id = a.session_id AND s.cookie_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?" +
	" WHERE a.id = ? AND a.expires_at > ?"}

// AuthRequestForBrowser returns the live auth request id when it is bound to the live session
// whose cookie hashes to cookieHash (idle as in SessionByCookie), in one statement; ErrNotFound
// otherwise. The authorization callback releases a code only to that browser.
func (s *Store) AuthRequestForBrowser(ctx context.Context, id, cookieHash string, idle time.Duration) (*AuthRequest, error) {
	now := s.unix()
	var ar AuthRequest
	if err := scanErr(s.queryRow(ctx, &qAuthRequestForBrowser, cookieHash, now, now-int64(idle/time.Second), id, now).Scan(authRequestFields(&ar)...)); err != nil {
		return nil, err
	}
	return &ar, nil
}
