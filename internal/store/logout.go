package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): every client a session issued
// a code to is remembered (SessionClient); when the session ends, one LogoutDelivery per such
// client with a back-channel logout URI is queued in the same transaction that ends it, so no
// ended session is forgotten by a crash. Any node delivers the queue: a row is claimed with one
// conditional UPDATE, so two nodes never send the same row at the same time.

// SessionClient records that a session issued an authorization code to a client.
type SessionClient struct {
	SessionID string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
}

// LogoutDelivery is one logout token to send to one relying party.
type LogoutDelivery struct {
	ID            string `gorm:"primaryKey"`
	TenantID      string
	ClientID      string
	UserID        string
	SessionID     string
	URI           string `gorm:"column:uri"`
	Attempts      int
	NextAttemptAt int64
	ClaimedUntil  int64
	Result        string // "" while pending, then LogoutDelivered or LogoutFailed
	LastError     string
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
	DoneAt        *int64
}

// Results of a LogoutDelivery.
const (
	LogoutDelivered = "delivered"
	LogoutFailed    = "failed"
)

// NoteSessionClient remembers that the completed authorization request id (its session and
// client) issued a code. Requests without a session are ignored; a pair already noted is kept.
func (s *Store) NoteSessionClient(ctx context.Context, authRequestID string) error {
	return s.db.WithContext(ctx).Exec(
		"INSERT INTO session_clients (session_id, client_id, tenant_id, user_id, created_at) "+
			"SELECT session_id, client_id, tenant_id, user_id, ? FROM auth_requests WHERE id = ? AND session_id <> '' "+
			"ON CONFLICT (session_id, client_id) DO NOTHING", s.unix(), authRequestID).Error
}

// SessionClients lists the clients a session issued codes to.
func (s *Store) SessionClients(ctx context.Context, sessionID string) ([]SessionClient, error) {
	var out []SessionClient
	err := s.db.WithContext(ctx).Where("session_id = ?", sessionID).Order("created_at, client_id").Find(&out).Error
	return out, err
}

// QueueLogouts queues a logout token for every client with a back-channel logout URI that the
// sessions issued codes to. It is idempotent: a session and client pair is queued once.
func (s *Store) QueueLogouts(ctx context.Context, sessionIDs []string) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return s.queueLogouts(tx, sessionIDs, s.unix()) })
}

// queueLogouts is QueueLogouts inside the caller's transaction (the one that ends the sessions).
func (s *Store) queueLogouts(tx *gorm.DB, sessionIDs []string, now int64) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	var targets []struct {
		SessionID, ClientID, TenantID, UserID, URI string
	}
	err := tx.Table("session_clients AS sc").
		Select("sc.session_id, sc.client_id, sc.tenant_id, sc.user_id, c.backchannel_logout_uri AS uri").
		Joins("JOIN clients AS c ON c.id = sc.client_id").
		Where("sc.session_id IN ? AND c.backchannel_logout_uri <> ''", sessionIDs).
		Scan(&targets).Error
	if err != nil || len(targets) == 0 {
		return err
	}
	rows := make([]LogoutDelivery, len(targets))
	for i, t := range targets {
		rows[i] = LogoutDelivery{ID: NewID(), TenantID: t.TenantID, ClientID: t.ClientID, UserID: t.UserID,
			SessionID: t.SessionID, URI: t.URI, NextAttemptAt: now, CreatedAt: now}
	}
	return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "session_id"}, {Name: "client_id"}}, DoNothing: true}).
		Create(&rows).Error
}

// ClaimLogouts claims up to limit pending deliveries that are due at now (of the given
// sessions only, when sessionIDs is not empty) for lease: each is taken with a conditional
// UPDATE that also counts the attempt, so a row another node holds is skipped. The rows
// returned carry the attempt number being made.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int, sessionIDs []string) ([]LogoutDelivery, error) {
	at := now.Unix()
	q := s.db.WithContext(ctx).Where("result = '' AND next_attempt_at <= ? AND claimed_until <= ?", at, at)
	if len(sessionIDs) > 0 {
		q = q.Where("session_id IN ?", sessionIDs)
	}
	var due []LogoutDelivery
	if err := q.Order("next_attempt_at").Limit(limit).Find(&due).Error; err != nil {
		return nil, err
	}
	var out []LogoutDelivery
	for _, d := range due {
		res := s.db.WithContext(ctx).Model(&LogoutDelivery{}).
			Where("id = ? AND result = '' AND claimed_until = ? AND attempts = ?", d.ID, d.ClaimedUntil, d.Attempts).
			Updates(map[string]any{"claimed_until": at + int64(lease/time.Second), "attempts": gorm.Expr("attempts + 1")})
		if res.Error != nil {
			return out, res.Error
		}
		if res.RowsAffected == 1 {
			d.Attempts++
			out = append(out, d)
		}
	}
	return out, nil
}

// LogoutDone records the outcome of a claimed attempt: delivered; or failed, when retry is
// zero (no attempts left); or pending again from now+retry.
func (s *Store) LogoutDone(ctx context.Context, d *LogoutDelivery, now time.Time, delivered bool, retry time.Duration, lastError string) error {
	at := now.Unix()
	upd := map[string]any{"claimed_until": 0, "last_error": truncateText(lastError, 300)}
	switch {
	case delivered:
		upd["result"], upd["done_at"] = LogoutDelivered, at
	case retry <= 0:
		upd["result"], upd["done_at"] = LogoutFailed, at
	default:
		upd["next_attempt_at"] = at + int64(retry/time.Second)
	}
	return s.db.WithContext(ctx).Model(&LogoutDelivery{}).Where("id = ?", d.ID).Updates(upd).Error
}

// LogoutDeliveries lists the deliveries queued for a session, oldest first.
func (s *Store) LogoutDeliveries(ctx context.Context, sessionID string) ([]LogoutDelivery, error) {
	var out []LogoutDelivery
	err := s.db.WithContext(ctx).Where("session_id = ?", sessionID).Order("created_at, id").Find(&out).Error
	return out, err
}

// PruneLogouts removes finished deliveries older than keep, and session-client pairs of
// sessions that expired before it.
func (s *Store) PruneLogouts(ctx context.Context, keep time.Duration) error {
	cut := s.unix() - int64(keep/time.Second)
	if err := s.db.WithContext(ctx).Where("result <> '' AND done_at < ?", cut).Delete(&LogoutDelivery{}).Error; err != nil {
		return err
	}
	return s.db.WithContext(ctx).Where("created_at < ? AND session_id NOT IN (SELECT id FROM sessions WHERE expires_at >= ?)", cut, cut).
		Delete(&SessionClient{}).Error
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
