package store

import (
	"context"
	"database/sql"
	"errors"
)

// Hot-path reads and writes without gorm. The refresh grant, userinfo, introspection and every ID
// token read a user or a refresh token by key; gorm's reflection over 20 columns cost more CPU
// than SQLite spent running the statement (see BENCHMARKS.md). The column lists are spelled out
// once here; storetest checks that each read returns exactly what gorm's First returns, so a
// column added to the model and forgotten here fails the suite.

const userColumns = "id, tenant_id, practice_id, email, email_lower, email_verified, name, given_name, family_name, " +
	"phone, phone_verified, phone_line_type, role, password_hash, locale, disabled, mfa_failures, locked_at, last_other_mfa_at, fhir_user, " +
	"created_at, updated_at"

func userFields(u *User) []any {
	return []any{&u.ID, &u.TenantID, &u.PracticeID, &u.Email, &u.EmailLower, &u.EmailVerified, &u.Name, &u.GivenName,
		&u.FamilyName, &u.Phone, &u.PhoneVerified, &u.PhoneLineType, &u.Role, &u.PasswordHash, &u.Locale, &u.Disabled,
		&u.MFAFailures, &u.LockedAt, &u.LastOtherMFAAt, &u.FHIRUser, &u.CreatedAt, &u.UpdatedAt}
}

var qUserByID = query{sql: "SELECT " + userColumns + " FROM users WHERE id = ?"}

// UserByID returns a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	var u User
	return &u, scanErr(s.queryRow(ctx, &qUserByID, id).Scan(userFields(&u)...))
}

const refreshColumns = "id, token_hash, family_id, client_id, tenant_id, user_id, scopes, audience, auth_time, amr, acr, " +
	"session_id, auth_request_id, created_at, expires_at, family_expires_at, rotated_at, revoked_at, proxy_grant_id"

func refreshFields(rt *RefreshToken) []any {
	return []any{&rt.ID, &rt.TokenHash, &rt.FamilyID, &rt.ClientID, &rt.TenantID, &rt.UserID, &rt.Scopes, &rt.Audience,
		&rt.AuthTime, &rt.AMR, &rt.ACR, &rt.SessionID, &rt.AuthRequestID, &rt.CreatedAt, &rt.ExpiresAt,
		&rt.FamilyExpiresAt, &rt.RotatedAt, &rt.RevokedAt, &rt.ProxyGrantID}
}

var (
	qRefreshByHash = query{sql: "SELECT " + refreshColumns + " FROM refresh_tokens WHERE token_hash = ?"}
	qRefreshSpend  = query{sql: "UPDATE refresh_tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL"}
	qRefreshInsert = query{sql: "INSERT INTO refresh_tokens (" + refreshColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"}
)

func refreshValues(rt *RefreshToken) []any {
	return []any{rt.ID, rt.TokenHash, rt.FamilyID, rt.ClientID, rt.TenantID, rt.UserID, rt.Scopes, rt.Audience,
		rt.AuthTime, rt.AMR, rt.ACR, rt.SessionID, rt.AuthRequestID, rt.CreatedAt, rt.ExpiresAt,
		rt.FamilyExpiresAt, rt.RotatedAt, rt.RevokedAt, rt.ProxyGrantID}
}

func (s *Store) refreshByHash(ctx context.Context, hash string) (*RefreshToken, error) {
	var rt RefreshToken
	if err := scanErr(s.queryRow(ctx, &qRefreshByHash, hash).Scan(refreshFields(&rt)...)); err != nil {
		return nil, err
	}
	return &rt, nil
}

var qRefreshAndUserByHash = query{sql: "SELECT " + prefixed("r.", refreshColumns) + ", " + prefixed("u.", userColumns) +
	" FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE r.token_hash = ?"}

func (s *Store) refreshAndUserByHash(ctx context.Context, hash string) (*RefreshToken, *User, error) {
	var (
		rt RefreshToken
		u  User
	)
	if err := scanErr(s.queryRow(ctx, &qRefreshAndUserByHash, hash).Scan(append(refreshFields(&rt), userFields(&u)...)...)); err != nil {
		return nil, nil, err
	}
	return &rt, &u, nil
}

var qUserUnlessRevoked = query{sql: "SELECT " + prefixed("u.", userColumns) +
	", (SELECT COUNT(*) FROM token_revocations tr WHERE tr.id IN (?, ?, ?)) FROM users u WHERE u.id = ?"}

// UserUnlessRevoked is TokenRevoked(jti, sessionID, grantID) and UserByID(userID) in one
// statement, for userinfo and introspection of a person's access token. The user is nil when
// there is no such person (the revocation is then read alone).
func (s *Store) UserUnlessRevoked(ctx context.Context, userID, jti, sessionID, grantID string) (*User, bool, error) {
	var (
		u User
		n int
	)
	err := scanErr(s.queryRow(ctx, &qUserUnlessRevoked, jti, sessionID, grantID, userID).Scan(append(userFields(&u), &n)...))
	if errors.Is(err, ErrNotFound) {
		revoked, err := s.TokenRevoked(ctx, jti, sessionID, grantID)
		return nil, revoked, err
	}
	if err != nil {
		return nil, false, err
	}
	return &u, n > 0, nil
}

func scanErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// execer is a *sql.Tx or *sql.DB.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// exec runs q on conn (a transaction gorm opened, or the pool), through the pool's prepared
// statement on SQLite (prepared).
func (s *Store) exec(ctx context.Context, conn execer, q *query, args ...any) (sql.Result, error) {
	text := q.text(s.dialect)
	s.traced(ctx, text)
	if st := s.prepared(ctx, text); st != nil {
		switch c := conn.(type) {
		case *sql.Tx:
			return c.StmtContext(ctx, st).ExecContext(ctx, args...)
		case *sql.DB:
			return st.ExecContext(ctx, args...)
		}
	}
	return conn.ExecContext(ctx, text, args...)
}
