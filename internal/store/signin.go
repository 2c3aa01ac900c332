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

const factorColumnsOrZero = "COALESCE(f.id, ''), COALESCE(f.user_id, ''), COALESCE(f.tenant_id, ''), COALESCE(f.kind, ''), " +
	"COALESCE(f.label, ''), f.secret_sealed, COALESCE(f.active, false), COALESCE(f.is_default, false), COALESCE(f.last_step, 0), " +
	"f.last_used_at, COALESCE(f.created_at, 0)"

func factorFields(f *Factor) []any {
	return []any{&f.ID, &f.UserID, &f.TenantID, &f.Kind, &f.Label, &f.SecretSealed, &f.Active, &f.IsDefault, &f.LastStep,
		&f.LastUsedAt, &f.CreatedAt}
}

var qSignInStep = query{sql: "SELECT " + authRequestColumns + ", " + sessionColumns + ", " + prefixed("u.", userColumns) + ", " +
	factorColumnsOrZero + ", (SELECT count(*) FROM backup_codes b WHERE b.user_id = u.id AND b.used_at IS NULL)" +
	" FROM auth_requests a JOIN sessions s ON s.cookie_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?" +
	" JOIN users u ON u.id = s.user_id LEFT JOIN factors f ON f.user_id = u.id AND f.active = ?" +
	" WHERE a.id = ? AND a.expires_at > ? ORDER BY f.is_default DESC, f.created_at, f.id"}

// SignInStepRows is what every second step of a sign-in needs, read in one statement.
type SignInStepRows struct {
	AuthRequest *AuthRequest
	Session     *Session
	User        *User
	// Factors are the person's active factors, the default first (as ActiveFactors); BackupLeft
	// counts their unused backup codes.
	Factors    []Factor
	BackupLeft int64
}

// SignInStep returns the live auth request authRequestID, the live session whose cookie hashes
// to cookieHash (idle as in SessionByCookie), the session's person, their active factors and
// unused backup codes, in one statement: a row per factor (one with no factor when there is
// none). It returns ErrNotFound when the request, the session or the person is missing; the
// caller then reads them one by one to tell which (the rare path).
func (s *Store) SignInStep(ctx context.Context, authRequestID, cookieHash string, idle time.Duration) (*SignInStepRows, error) {
	now := s.unix()
	rows, err := s.queryRows(ctx, &qSignInStep, cookieHash, now, now-int64(idle/time.Second), true, authRequestID, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &SignInStepRows{}
	for rows.Next() {
		var (
			ar AuthRequest
			se Session
			u  User
			f  Factor
		)
		fields := append(append(append(authRequestFields(&ar), sessionFields(&se)...), userFields(&u)...), factorFields(&f)...)
		if err := rows.Scan(append(fields, &out.BackupLeft)...); err != nil {
			return nil, err
		}
		if out.AuthRequest == nil {
			out.AuthRequest, out.Session, out.User = &ar, &se, &u
		}
		if f.ID != "" {
			out.Factors = append(out.Factors, f)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if out.AuthRequest == nil {
		return nil, ErrNotFound
	}
	return out, nil
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

// userColumnsOrZero is userColumns of a LEFT JOIN's users u, each NULL (no such person) read as
// its type's zero; the nullable columns stay NULL.
var userColumnsOrZero = func() string {
	zero := map[string]string{"email_verified": "false", "phone_verified": "false", "disabled": "false",
		"mfa_failures": "0", "created_at": "0", "updated_at": "0", "practice_id": "", "locked_at": "", "last_other_mfa_at": ""}
	cs := strings.Split(userColumns, ",")
	for i, c := range cs {
		c = strings.TrimSpace(c)
		z, ok := zero[c]
		switch {
		case !ok:
			cs[i] = "COALESCE(u." + c + ", '')"
		case z == "":
			cs[i] = "u." + c
		default:
			cs[i] = "COALESCE(u." + c + ", " + z + ")"
		}
	}
	return strings.Join(cs, ", ")
}()

var qPasswordStep = query{sql: "SELECT t.until, t.n, " + userColumnsOrZero +
	" FROM (SELECT COALESCE(MAX(blocked_until), 0) AS until, COUNT(*) AS n FROM login_throttle WHERE key IN (?, ?)) t" +
	" LEFT JOIN users u ON u.tenant_id = ? AND u.email_lower = ?"}

// PasswordStep is ThrottleBlockedUntil(accountKey, ipKey) and UserByEmail(tenantID, email) in
// one statement, for the password step of a sign-in: the same one row whether or not the
// person exists, so the page costs the same either way. The user is nil when there is none.
func (s *Store) PasswordStep(ctx context.Context, tenantID, email, accountKey, ipKey string) (u *User, blockedUntil int64, anyFailures bool, err error) {
	var (
		row User
		n   int64
	)
	fields := append([]any{&blockedUntil, &n}, userFields(&row)...)
	if err := s.queryRow(ctx, &qPasswordStep, accountKey, ipKey, tenantID, strings.ToLower(strings.TrimSpace(email))).Scan(fields...); err != nil {
		return nil, 0, false, err
	}
	if row.ID == "" {
		return nil, blockedUntil, n > 0, nil
	}
	return &row, blockedUntil, n > 0, nil
}
