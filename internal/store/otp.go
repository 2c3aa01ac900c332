package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// OTPCode is one sent code.
type OTPCode struct {
	ID          string `gorm:"primaryKey"`
	UserID      string
	Channel     string
	Destination string
	CodeHash    string
	CreatedAt   int64 `gorm:"autoCreateTime:false"`
	ExpiresAt   int64
	SpentAt     *int64
}

// OTPSend is one send, for cooldown and caps.
type OTPSend struct {
	ID          string `gorm:"primaryKey"`
	UserID      string
	Destination string
	IP          string `gorm:"column:ip"`
	At          int64
}

// SendLimits bound how often codes go out.
type SendLimits struct {
	Cooldown       time.Duration // between two sends to one person
	PerUser        int           // per hour
	PerDestination int           // per hour
	PerIP          int           // per hour
}

// ErrSendLimited means a code may not be sent now; RetryAt says when it may.
type ErrSendLimited struct {
	RetryAt time.Time
	Reason  string // "cooldown", "user", "destination", "ip"
}

func (e *ErrSendLimited) Error() string { return "store: send limited (" + e.Reason + ")" }

// IssueOTP records a new code after checking the cooldown and the hourly caps, in one
// transaction. It returns *ErrSendLimited when a limit applies. Sends for the same person,
// destination or address are serialised (lockKeys), so the caps hold exactly across nodes.
func (s *Store) IssueOTP(ctx context.Context, c *OTPCode, ip string, ttl time.Duration, lim SendLimits) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.reserveSend(tx, c.UserID, c.Destination, ip, now, lim); err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.ExpiresAt = NewID(), now, now+int64(ttl/time.Second)
		return tx.Create(c).Error
	})
}

// reserveSend checks the cooldown and the hourly caps for one more message to a person at
// destination from ip, and records the send, inside tx. Sends for the same person, destination
// or address are serialised (lockKeys), so the caps hold exactly across nodes.
func (s *Store) reserveSend(tx *gorm.DB, userID, destination, ip string, now int64, lim SendLimits) error {
	hour := now - 3600
	if err := s.lockKeys(tx, "otp-send:user:"+userID, "otp-send:destination:"+destination, "otp-send:ip:"+ip); err != nil {
		return err
	}
	if lim.Cooldown > 0 {
		var last OTPSend
		err := tx.Where("user_id = ?", userID).Order("at DESC").First(&last).Error
		if err == nil && last.At > now-int64(lim.Cooldown/time.Second) {
			return &ErrSendLimited{RetryAt: time.Unix(last.At+int64(lim.Cooldown/time.Second), 0), Reason: "cooldown"}
		} else if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
	}
	for _, q := range []struct {
		col, val, reason string
		cap              int
	}{{"user_id", userID, "user", lim.PerUser}, {"destination", destination, "destination", lim.PerDestination}, {"ip", ip, "ip", lim.PerIP}} {
		if q.cap <= 0 {
			continue
		}
		var sends []OTPSend
		if err := tx.Where(q.col+" = ? AND at > ?", q.val, hour).Order("at").Find(&sends).Error; err != nil {
			return err
		}
		if len(sends) >= q.cap {
			return &ErrSendLimited{RetryAt: time.Unix(sends[len(sends)-q.cap].At+3600, 0), Reason: q.reason}
		}
	}
	return tx.Create(&OTPSend{ID: NewID(), UserID: userID, Destination: destination, IP: ip, At: now}).Error
}

// SpendOTP accepts a code: if an unspent, unexpired code of the person's channel has that hash,
// it and every other outstanding code of the channel are spent, in one transaction. Concurrent
// answers with one code succeed once.
func (s *Store) SpendOTP(ctx context.Context, userID, channel, hash string) (bool, error) {
	return s.SpendOTPSince(ctx, userID, channel, hash, 0)
}

// SpendOTPSince is SpendOTP for codes sent at or after since (unix; 0: any unexpired code): a
// tenant that shortened its code lifetime refuses older codes at once.
func (s *Store) SpendOTPSince(ctx context.Context, userID, channel, hash string, since int64) (bool, error) {
	now := s.unix()
	ok := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&OTPCode{}).Where("user_id = ? AND channel = ? AND code_hash = ? AND spent_at IS NULL AND expires_at > ? AND created_at >= ?",
			userID, channel, hash, now, since).Update("spent_at", now)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		ok = true
		return tx.Model(&OTPCode{}).Where("user_id = ? AND channel = ? AND spent_at IS NULL", userID, channel).
			Update("spent_at", now).Error
	})
	return ok, err
}
