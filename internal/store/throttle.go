package store

import (
	"context"
	"time"
)

// ThrottleState is what the store knows about failures under one key.
type ThrottleState struct {
	Failures     int
	BlockedUntil int64
}

// ThrottleBlockedUntil returns the latest moment until which any of keys is blocked (0 when
// none), and whether any failures are recorded under them at all.
func (s *Store) ThrottleBlockedUntil(ctx context.Context, keys ...string) (until int64, any bool, err error) {
	var row struct {
		Until int64
		N     int64
	}
	err = s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(blocked_until), 0) AS until, COUNT(*) AS n FROM login_throttle WHERE key IN ?", keys).
		Scan(&row).Error
	return row.Until, row.N > 0, err
}

// ThrottleFail counts one failure under key, atomically across nodes (failures older than
// window start again from one), and blocks the key until now+delay(failures).
func (s *Store) ThrottleFail(ctx context.Context, key string, window time.Duration, delay func(failures int) time.Duration) (ThrottleState, error) {
	now := s.unix()
	var st ThrottleState
	err := s.db.WithContext(ctx).Raw(`INSERT INTO login_throttle (key, failures, last_at, blocked_until) VALUES (?, 1, ?, 0)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_throttle.last_at < ? THEN 1 ELSE login_throttle.failures + 1 END,
			last_at = excluded.last_at
		RETURNING failures`, key, now, now-int64(window/time.Second)).Scan(&st.Failures).Error
	if err != nil {
		return st, err
	}
	d := delay(st.Failures)
	if d <= 0 {
		return st, nil
	}
	st.BlockedUntil = now + int64((d+time.Second-1)/time.Second)
	err = s.db.WithContext(ctx).Exec(`UPDATE login_throttle SET blocked_until = CASE WHEN blocked_until < ? THEN ? ELSE blocked_until END
		WHERE key = ?`, st.BlockedUntil, st.BlockedUntil, key).Error
	return st, err
}

// ThrottleReset forgets the failures under key (after a successful sign-in).
func (s *Store) ThrottleReset(ctx context.Context, key string) error {
	return s.db.WithContext(ctx).Exec("DELETE FROM login_throttle WHERE key = ?", key).Error
}
