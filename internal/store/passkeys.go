package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// Passkey is one WebAuthn credential of a person. Its factor row (kind "passkey", label = Name)
// is what the sign-in and the account page see; deleting that row deletes this one too.
type Passkey struct {
	ID              string `gorm:"primaryKey"`
	UserID          string
	TenantID        string
	FactorID        string
	CredentialID    string // base64url without padding
	PublicKey       []byte
	SignCount       int64
	AAGUID          string `gorm:"column:aaguid"`
	Transports      string // space-separated
	AttestationType string
	Hardware        bool // attested, device-bound hardware: amr hwk (else swk)
	BackupEligible  bool
	BackupState     bool
	Name            string
	CreatedAt       int64 `gorm:"autoCreateTime:false"`
	LastUsedAt      *int64
}

// WebAuthnCeremony is a WebAuthn registration or assertion between its begin and its finish.
type WebAuthnCeremony struct {
	ID            string `gorm:"primaryKey"` // keyed hash of the browser's cookie
	Purpose       string
	UserID        string
	AuthRequestID string
	Data          string
	Name          string
	ExpiresAt     int64
}

// TableName is the table of passkeys.
func (Passkey) TableName() string { return "passkeys" }

// TableName is the table of ceremonies.
func (WebAuthnCeremony) TableName() string { return "webauthn_ceremonies" }

// CreatePasskey stores a new passkey and its active factor row in one transaction; the factor
// becomes the default when the person had no other active factor. A credential id already
// registered (by anyone) is ErrConflict.
func (s *Store) CreatePasskey(ctx context.Context, p *Passkey) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+p.UserID); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&Factor{}).Where("user_id = ? AND active = ?", p.UserID, true).Count(&n).Error; err != nil {
			return err
		}
		f := &Factor{ID: NewID(), UserID: p.UserID, TenantID: p.TenantID, Kind: "passkey", Label: p.Name,
			Active: true, IsDefault: n == 0, CreatedAt: now}
		if err := tx.Create(f).Error; err != nil {
			return err
		}
		if p.ID == "" {
			p.ID = NewID()
		}
		p.FactorID, p.CreatedAt = f.ID, now
		if err := tx.Create(p).Error; err != nil {
			if isUnique(err) {
				return ErrConflict
			}
			return err
		}
		return nil
	})
}

// Passkeys lists a person's passkeys whose factor is active, oldest first.
func (s *Store) Passkeys(ctx context.Context, userID string) ([]Passkey, error) {
	var ps []Passkey
	err := s.db.WithContext(ctx).Where("user_id = ? AND factor_id IN (?)", userID,
		s.db.Model(&Factor{}).Select("id").Where("user_id = ? AND active = ? AND kind = ?", userID, true, "passkey")).
		Order("created_at, id").Find(&ps).Error
	return ps, err
}

// PasskeyByCredential finds a passkey by its credential id (base64url), only while its factor
// is active: a removed passkey is not found.
func (s *Store) PasskeyByCredential(ctx context.Context, credentialID string) (*Passkey, error) {
	var p Passkey
	err := s.db.WithContext(ctx).Where("credential_id = ? AND factor_id IN (?)", credentialID,
		s.db.Model(&Factor{}).Select("id").Where("active = ? AND kind = ?", true, "passkey")).First(&p).Error
	return &p, notFound(err)
}

// ErrCounterRegressed refuses an assertion whose signature counter did not move past the one on
// record (a cloned authenticator, or two uses racing on two nodes).
var ErrCounterRegressed = errors.New("store: passkey signature counter did not increase")

// UsePasskey records a successful assertion: the new counter (only if the stored one is still
// from, so two nodes cannot both accept the same counter), the backup state, and when it was
// used, on the passkey and on its factor row.
func (s *Store) UsePasskey(ctx context.Context, p *Passkey, from, to int64, backupState bool) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Passkey{}).Where("id = ? AND sign_count = ?", p.ID, from).
			Updates(map[string]any{"sign_count": to, "backup_state": backupState, "last_used_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrCounterRegressed
		}
		return tx.Model(&Factor{}).Where("id = ?", p.FactorID).Update("last_used_at", now).Error
	})
}

// SaveCeremony stores a WebAuthn ceremony good for ttl (replacing one begun before by the same
// browser, and dropping expired ones).
func (s *Store) SaveCeremony(ctx context.Context, c *WebAuthnCeremony, ttl time.Duration) error {
	c.ExpiresAt = s.unix() + int64(ttl/time.Second)
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ? OR expires_at < ?", c.ID, s.unix()).Delete(&WebAuthnCeremony{}).Error; err != nil {
			return err
		}
		return tx.Create(c).Error
	})
}

// TakeCeremony returns and deletes the live ceremony of a browser begun for purpose: each is
// used at most once, whatever the outcome.
func (s *Store) TakeCeremony(ctx context.Context, id, purpose string) (*WebAuthnCeremony, error) {
	var c WebAuthnCeremony
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).First(&c).Error; err != nil {
			return notFound(err)
		}
		res := tx.Where("id = ?", id).Delete(&WebAuthnCeremony{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.Purpose != purpose || c.ExpiresAt < s.unix() {
		return nil, ErrNotFound
	}
	return &c, nil
}

// PassedOtherMFA records that the person just passed a second factor other than a passkey (the
// passkey window starts again).
func (s *Store) PassedOtherMFA(ctx context.Context, userID string) error {
	_, err := s.PassedOtherMFAAt(ctx, userID)
	return err
}

// PassedOtherMFAAt is PassedOtherMFA returning the time it recorded.
func (s *Store) PassedOtherMFAAt(ctx context.Context, userID string) (int64, error) {
	at := s.unix()
	return at, s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).Update("last_other_mfa_at", at).Error
}
