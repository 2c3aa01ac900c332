package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// CreateAuthRequest stores a new authorization request.
func (s *Store) CreateAuthRequest(ctx context.Context, ar *AuthRequest, ttl time.Duration) error {
	if ar.ID == "" {
		ar.ID = NewID()
	}
	ar.CreatedAt = s.unix()
	ar.ExpiresAt = ar.CreatedAt + int64(ttl/time.Second)
	return s.create(ctx, ar)
}

// AuthRequestByID returns a live (unexpired) authorization request.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (*AuthRequest, error) {
	var ar AuthRequest
	err := s.db.WithContext(ctx).Where("id = ? AND expires_at > ?", id, s.unix()).First(&ar).Error
	return &ar, notFound(err)
}

// CompleteAuthRequest records who authenticated, how and when, making the request ready for
// the code to be issued. It refuses requests already completed or expired.
func (s *Store) CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error {
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND done = ? AND expires_at > ?", id, false, s.unix()).
		Updates(map[string]any{
			"user_id": userID, "session_id": sessionID, "auth_time": authTime.Unix(),
			"amr": joinList(amr), "acr": acr, "done": true,
		})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SaveAuthCode attaches the (hashed) authorization code to a completed request.
func (s *Store) SaveAuthCode(ctx context.Context, id, codeHash string, ttl time.Duration) error {
	exp := s.unix() + int64(ttl/time.Second)
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND done = ? AND code_hash IS NULL", id, true).
		Updates(map[string]any{"code_hash": codeHash, "code_expires_at": exp})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

var qRedeemWithUser = query{sql: `WITH a AS (UPDATE auth_requests SET code_used_at = ? WHERE code_hash = ? AND code_used_at IS NULL AND code_expires_at > ? RETURNING *)
SELECT ` + authRequestColumns + ", " + userColumnsOrZero + ` FROM a LEFT JOIN users u ON u.id = a.user_id`}

// RedeemAuthCode spends an authorization code exactly once, atomically across nodes, and returns
// its request with the request's person, for the ID token: on PostgreSQL read in the statement
// that spends the code; elsewhere (and for a request whose person is gone) nil, to be read by the
// caller. A second redemption returns ErrReplayed and revokes every token issued from the first
// (RFC 6749 §4.1.2); an unknown or expired code is ErrNotFound.
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string) (*AuthRequest, *User, error) {
	now := s.unix()
	var (
		ar AuthRequest
		u  User
	)
	err := func() error {
		// One statement spends the code and returns its request; only a code that could not be
		// spent is read again, to tell a replay from an unknown or expired code.
		if s.dialect == "postgres" {
			err := scanErr(s.queryRow(ctx, &qRedeemWithUser, now, codeHash, now).Scan(append(authRequestFields(&ar), userFields(&u)...)...))
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		} else {
			res := s.db.WithContext(ctx).Raw(`UPDATE auth_requests SET code_used_at = ? WHERE code_hash = ? AND code_used_at IS NULL AND code_expires_at > ? RETURNING *`,
				now, codeHash, now).Scan(&ar)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				return nil
			}
		}
		ar = AuthRequest{}
		if err := s.db.WithContext(ctx).Where("code_hash = ?", codeHash).First(&ar).Error; err != nil {
			return notFound(err)
		}
		if ar.CodeUsedAt == nil {
			return ErrNotFound // expired, never used
		}
		return ErrReplayed
	}()
	if err == ErrReplayed {
		if rerr := s.RevokeByAuthRequest(ctx, ar.ID); rerr != nil {
			return nil, nil, rerr
		}
		return &ar, nil, ErrReplayed
	}
	if err != nil {
		return nil, nil, err
	}
	if u.ID == "" {
		return &ar, nil, nil
	}
	return &ar, &u, nil
}

// RevokeByAuthRequest revokes every access and refresh token issued from one authorization.
func (s *Store) RevokeByAuthRequest(ctx context.Context, authRequestID string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.revokeIDs(tx, RevokedGrant, []string{authRequestID}, now, 0); err != nil {
			return err
		}
		var families []string
		if err := tx.Model(&RefreshToken{}).Where("auth_request_id = ?", authRequestID).
			Distinct().Pluck("family_id", &families).Error; err != nil {
			return err
		}
		return s.revokeFamilies(tx, families, now)
	})
}

// DeleteExpired removes auth requests, sessions, tokens, registrations and call confirmations
// that can no longer be used, keeping a margin so that a replay of something just expired is
// still recognised as a replay.
func (s *Store) DeleteExpired(ctx context.Context, margin time.Duration) error {
	cut := s.unix() - int64(margin/time.Second)
	for _, q := range []struct {
		model any
		where string
	}{
		{&AuthRequest{}, "expires_at < ?"},
		{&Session{}, "expires_at < ?"},
		{&TokenRevocation{}, "expires_at < ?"},
		{&RefreshToken{}, "family_expires_at < ?"},
		{&Registration{}, "expires_at < ?"},
		{&CallConfirmation{}, "expires_at < ?"},
	} {
		if err := s.db.WithContext(ctx).Where(q.where, cut).Delete(q.model).Error; err != nil {
			return err
		}
	}
	return nil
}

// SaveAuthCodeNoted is SaveAuthCode followed by NoteSessionClient: on PostgreSQL in one
// statement (a CTE that inserts the session's client from the row it updated), elsewhere in two.
func (s *Store) SaveAuthCodeNoted(ctx context.Context, id, codeHash string, ttl time.Duration) error {
	if s.dialect != "postgres" {
		if err := s.SaveAuthCode(ctx, id, codeHash, ttl); err != nil {
			return err
		}
		return s.NoteSessionClient(ctx, id)
	}
	now := s.unix()
	var n int64
	err := s.db.WithContext(ctx).Raw(`WITH u AS (UPDATE auth_requests SET code_hash = ?, code_expires_at = ? WHERE id = ? AND done = ? AND code_hash IS NULL
RETURNING session_id, client_id, tenant_id, user_id),
noted AS (INSERT INTO session_clients (session_id, client_id, tenant_id, user_id, created_at)
SELECT session_id, client_id, tenant_id, user_id, ? FROM u WHERE session_id <> '' ON CONFLICT (session_id, client_id) DO NOTHING)
SELECT count(*) FROM u`, codeHash, now+int64(ttl/time.Second), id, true, now).Scan(&n).Error
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
