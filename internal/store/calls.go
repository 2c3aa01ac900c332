package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// The results a call confirmation can be answered with.
const (
	CallApproved = "approved" // the person pressed 1
	CallDenied   = "denied"   // the person pressed 9: it was not them
)

// The states of a sign-in's newest call confirmation, as CallConfirmationState reports them.
const (
	CallPending  = "pending"  // the call is out; nobody has pressed a key yet
	CallExpired  = "expired"  // nobody answered in time
	CallConsumed = "consumed" // approved, and the approval was already used
)

// CallConsumeGrace is how long after a confirmation's answer window an approval can still be
// used by its browser: the person presses 1, then goes back to the screen.
const CallConsumeGrace = 10 * time.Minute

// CallConfirmation is one "press 1 to confirm" call placed during a sign-in. The provider posts
// the key pressed to a URL carrying a random token; only the token's keyed hash is stored. It
// belongs to one browser session and one authorization request.
type CallConfirmation struct {
	ID            string `gorm:"primaryKey"`
	UserID        string
	SessionID     string
	AuthRequestID string
	TokenHash     string
	// Locale is the language the call speaks (the callback has no browser to ask).
	Locale     string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	ExpiresAt  int64
	AnsweredAt *int64
	Result     string // "", CallApproved or CallDenied
	ConsumedAt *int64
}

// CreateCallConfirmation stores a pending confirmation that can be answered for ttl, replacing
// any earlier one of the same browser session and authorization request (asking for a new call
// ends the old one: a key pressed on it is no longer taken). The call counts toward the
// person's, the number's and the address's hourly send caps like a code (*ErrSendLimited when
// one applies, and nothing is written); dest and ip are the number called and the browser's
// address.
func (s *Store) CreateCallConfirmation(ctx context.Context, c *CallConfirmation, dest, ip string, ttl time.Duration, lim SendLimits) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.reserveSend(tx, c.UserID, dest, ip, now, lim); err != nil {
			return err
		}
		if err := tx.Where("session_id = ? AND auth_request_id = ?", c.SessionID, c.AuthRequestID).
			Delete(&CallConfirmation{}).Error; err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.ExpiresAt = NewID(), now, now+int64(ttl/time.Second)
		c.AnsweredAt, c.Result, c.ConsumedAt = nil, "", nil
		return tx.Create(c).Error
	})
}

// LiveCallConfirmation returns the confirmation with this token hash while it can still be
// answered (not answered, not expired); ErrNotFound otherwise. The token is found by its keyed
// hash, so the lookup's timing says nothing about the token.
func (s *Store) LiveCallConfirmation(ctx context.Context, tokenHash string) (*CallConfirmation, error) {
	var c CallConfirmation
	err := s.db.WithContext(ctx).Where("token_hash = ? AND answered_at IS NULL AND expires_at > ?", tokenHash, s.unix()).
		First(&c).Error
	return &c, notFound(err)
}

// AnswerCallConfirmation records the person's answer (CallApproved or CallDenied) with one
// conditional UPDATE: only a live, unanswered confirmation takes it, so of two answers to one
// call exactly one counts. ErrNotFound means there was none (unknown token, answered, expired).
func (s *Store) AnswerCallConfirmation(ctx context.Context, tokenHash, result string) (*CallConfirmation, error) {
	if result != CallApproved && result != CallDenied {
		return nil, ErrNotFound
	}
	now := s.unix()
	var c CallConfirmation
	res := s.db.WithContext(ctx).Raw(`UPDATE call_confirmations SET answered_at = ?, result = ?
		WHERE token_hash = ? AND answered_at IS NULL AND expires_at > ?
		RETURNING id, user_id, session_id, auth_request_id, token_hash, locale, created_at, expires_at, answered_at, result, consumed_at`,
		now, result, tokenHash, now).Scan(&c)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	return &c, nil
}

// ConsumeCallApproval spends an approval of this browser session's call for this authorization
// request, with one conditional UPDATE: with parallel requests (on any number of nodes) exactly
// one gets true. Another session, a denial, an unanswered or a spent confirmation gives false.
func (s *Store) ConsumeCallApproval(ctx context.Context, sessionID, authRequestID string) (bool, error) {
	now := s.unix()
	res := s.db.WithContext(ctx).Model(&CallConfirmation{}).
		Where("session_id = ? AND auth_request_id = ? AND result = ? AND answered_at IS NOT NULL AND consumed_at IS NULL AND expires_at > ?",
			sessionID, authRequestID, CallApproved, now-int64(CallConsumeGrace/time.Second)).
		Update("consumed_at", now)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected > 0, nil
}

// CallConfirmationState is the state of the call confirmation of this browser session for this
// authorization request (there is at most one): CallPending, CallApproved, CallDenied, CallExpired or
// CallConsumed; ErrNotFound when it asked for none.
func (s *Store) CallConfirmationState(ctx context.Context, sessionID, authRequestID string) (string, error) {
	var c CallConfirmation
	err := s.db.WithContext(ctx).Where("session_id = ? AND auth_request_id = ?", sessionID, authRequestID).
		Order("created_at DESC, id DESC").First(&c).Error
	if err != nil {
		return "", notFound(err)
	}
	now := s.unix()
	switch {
	case c.ConsumedAt != nil:
		return CallConsumed, nil
	case c.Result == CallDenied:
		return CallDenied, nil
	case c.Result == CallApproved && c.ExpiresAt > now-int64(CallConsumeGrace/time.Second):
		return CallApproved, nil
	case c.AnsweredAt == nil && c.ExpiresAt > now:
		return CallPending, nil
	}
	return CallExpired, nil
}
