package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrMFALocked refuses to move a tenant's MFA away from required: once MFA is required it
// cannot be turned off (seed 002), whoever asks.
var ErrMFALocked = errors.New("store: MFA is required for this tenant and cannot be turned off (nor its enforcement date moved back into the future)")

// CreateTenant inserts a tenant; a name already taken (case-insensitively) is ErrConflict.
// Policy fields left unset take the seeds' defaults.
func (s *Store) CreateTenant(ctx context.Context, t *Tenant) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	t.NameLower = strings.ToLower(strings.TrimSpace(t.Name))
	t.CreatedAt, t.UpdatedAt = s.unix(), s.unix()
	if t.MFAMode == "" {
		t.MFAMode = MFAOptional
	}
	if t.PhoneRegion == "" {
		t.PhoneRegion = "US"
	}
	if t.RememberDeviceDays == nil {
		d := DefaultRememberDeviceDays
		t.RememberDeviceDays = &d
	}
	if t.RememberDeviceNetwork == "" {
		t.RememberDeviceNetwork = NetworkExact
	}
	if t.PasskeyMFADays == nil {
		d := DefaultPasskeyMFADays
		t.PasskeyMFADays = &d
	}
	if t.RememberDeviceMFA == nil {
		m := DefaultRememberDeviceMFA
		t.RememberDeviceMFA = &m
	}
	if t.ProviderPasskeyAttestation == "" {
		t.ProviderPasskeyAttestation = AttestationNone
	}
	if err := validTenantPolicy(t); err != nil {
		return err
	}
	return s.create(ctx, t)
}

func validTenantPolicy(t *Tenant) error {
	if !slices.Contains([]string{MFAOff, MFAOptional, MFARequired}, t.MFAMode) {
		return fmt.Errorf("store: unknown MFA mode %q", t.MFAMode)
	}
	if t.PasskeyMFADays != nil && (*t.PasskeyMFADays < 0 || *t.PasskeyMFADays > 365) {
		return fmt.Errorf("store: passkey MFA window %d days is outside 0..365", *t.PasskeyMFADays)
	}
	if t.RememberDeviceDays != nil && *t.RememberDeviceDays < 0 {
		return fmt.Errorf("store: remember-device days %d is negative", *t.RememberDeviceDays)
	}
	if t.RememberDeviceNetwork != "" && !slices.Contains(NetworkModes, t.RememberDeviceNetwork) {
		return fmt.Errorf("store: unknown remember-device network %q", t.RememberDeviceNetwork)
	}
	if err := ValidHelpContact(t.HelpContact); err != nil {
		return err
	}
	if err := validTenantCodes(t); err != nil {
		return err
	}
	if t.ProviderPasskeyAttestation != "" && t.ProviderPasskeyAttestation != AttestationNone && t.ProviderPasskeyAttestation != AttestationRequired {
		return fmt.Errorf("store: unknown passkey attestation policy %q", t.ProviderPasskeyAttestation)
	}
	for _, a := range strings.Fields(t.ProviderPasskeyAAGUIDs) {
		if n, err := NormalizeAAGUID(a); err != nil || n != a {
			return fmt.Errorf("store: %q is not a lower-case AAGUID", a)
		}
	}
	if t.ProviderPasskeyAAGUIDs != "" && t.ProviderPasskeyAttestation != AttestationRequired {
		// Without a verified attestation an AAGUID is only the authenticator's own claim.
		return errors.New("store: allowed authenticator models (AAGUIDs) need passkey attestation required")
	}
	return nil
}

// ValidHelpContact checks a tenant's help contact: one line of plain text of at most
// MaxHelpContact characters (pages escape it; a line break or control character has no place in
// a sentence shown under a form).
func ValidHelpContact(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("store: the help contact is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxHelpContact {
		return fmt.Errorf("store: the help contact has %d characters; at most %d", n, MaxHelpContact)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errors.New("store: the help contact must be one line of plain text (no line breaks or control characters)")
	}
	return nil
}

// UpdateTenant saves a tenant's policy fields (nil pointers are left as they are). Moving MFA
// away from required is refused with ErrMFALocked by the UPDATE's own WHERE clause, so a caller
// holding a stale copy of the row, or racing another on a second node, cannot sneak past it.
func (s *Store) UpdateTenant(ctx context.Context, t *Tenant) error {
	if err := validTenantPolicy(t); err != nil {
		return err
	}
	t.UpdatedAt = s.unix()
	fields := map[string]any{
		"mfa_mode": t.MFAMode, "enforce_from": t.EnforceFrom, "updated_at": t.UpdatedAt,
		"phone_region": t.PhoneRegion, "self_registration": t.SelfRegistration,
		"patients_may_disable_mfa": t.PatientsMayDisableMFA, "help_contact": t.HelpContact,
		"provider_passkey_aaguids": t.ProviderPasskeyAAGUIDs,
		"sms_code_minutes":         t.SMSCodeMinutes, "email_code_minutes": t.EmailCodeMinutes, "patient_factors": t.PatientFactors,
	}
	if t.ProviderPasskeyAttestation != "" {
		fields["provider_passkey_attestation"] = t.ProviderPasskeyAttestation
	}
	if t.RememberDeviceDays != nil {
		fields["remember_device_days"] = *t.RememberDeviceDays
	}
	if t.RememberDeviceNetwork != "" {
		fields["remember_device_network"] = t.RememberDeviceNetwork
	}
	if t.RememberDeviceMFA != nil {
		fields["remember_device_mfa"] = *t.RememberDeviceMFA
	}
	if t.PasskeyMFADays != nil {
		fields["passkey_mfa_days"] = *t.PasskeyMFADays
	}
	q := s.db.WithContext(ctx).Model(&Tenant{}).Where("id = ? AND (mfa_mode <> ? OR ? = ?)", t.ID, MFARequired, t.MFAMode, MFARequired)
	if t.EnforceFrom != nil && *t.EnforceFrom > t.UpdatedAt {
		// An enforcement already in force stays in force: moving the date back into the future
		// would bring "Remind me later" back, which is turning MFA off by another name.
		q = q.Where("(mfa_mode <> ? OR (enforce_from IS NOT NULL AND enforce_from > ?))", MFARequired, t.UpdatedAt)
	}
	res := q.Updates(fields)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		if _, err := s.TenantByID(ctx, t.ID); err != nil {
			return err
		}
		return ErrMFALocked
	}
	s.tenants.Delete(t.ID)
	return nil
}

// TenantByRef finds a tenant by its id or its (case-insensitive) unique name.
func (s *Store) TenantByRef(ctx context.Context, ref string) (*Tenant, error) {
	var t Tenant
	err := s.db.WithContext(ctx).Where("id = ? OR name_lower = ?", ref, strings.ToLower(strings.TrimSpace(ref))).
		Order("id").First(&t).Error
	return &t, notFound(err)
}

// TenantByID finds a tenant by id. Every step of a sign-in reads its tenant's policy, so it is
// cached for the store's cache TTL (SetCacheTTL; none by default): a change made on this node
// shows at once, one made elsewhere (another node, the CLI) within the TTL.
func (s *Store) TenantByID(ctx context.Context, id string) (*Tenant, error) {
	ttl := time.Duration(s.cacheTTL.Load())
	if ttl > 0 {
		if v, ok := s.tenants.Load(id); ok {
			if c := v.(cachedTenant); s.now().Sub(c.at) < ttl {
				t := c.t
				return &t, nil
			}
		}
	}
	var t Tenant
	if err := s.db.WithContext(ctx).Where("id = ?", id).First(&t).Error; err != nil {
		return &t, notFound(err)
	}
	if ttl > 0 {
		s.tenants.Store(id, cachedTenant{t: t, at: s.now()})
	}
	return &t, nil
}

type cachedTenant struct {
	t  Tenant
	at time.Time
}

// SetCacheTTL sets how long the store may serve a tenant from memory.
func (s *Store) SetCacheTTL(d time.Duration) {
	s.cacheTTL.Store(int64(d))
}

// CreatePractice inserts a practice into a tenant.
func (s *Store) CreatePractice(ctx context.Context, p *Practice) error {
	if p.ID == "" {
		p.ID = NewID()
	}
	p.CreatedAt = s.unix()
	return s.create(ctx, p)
}

// PracticeByRef finds a practice of a tenant by id or name.
func (s *Store) PracticeByRef(ctx context.Context, tenantID, ref string) (*Practice, error) {
	var p Practice
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND (id = ? OR name = ?)", tenantID, ref, ref).First(&p).Error
	return &p, notFound(err)
}

// CreateUser inserts a user; an email already used in the tenant (case-insensitively) is
// ErrConflict. Phone numbers may repeat: several people may share one.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	u.Email = strings.TrimSpace(u.Email)
	u.EmailLower = strings.ToLower(u.Email)
	u.CreatedAt, u.UpdatedAt = s.unix(), s.unix()
	return s.create(ctx, u)
}

// UserByEmail finds a user of a tenant by email, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, tenantID, email string) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND email_lower = ?", tenantID,
		strings.ToLower(strings.TrimSpace(email))).First(&u).Error
	return &u, notFound(err)
}

// UsersByPhone lists the users of a tenant that share a phone number.
func (s *Store) UsersByPhone(ctx context.Context, tenantID, phone string) ([]User, error) {
	var us []User
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND phone = ?", tenantID, phone).Order("id").Find(&us).Error
	return us, err
}

// SetPasswordHash replaces a user's password hash (a rehash after a parameter upgrade, or a
// reset).
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"password_hash": hash, "updated_at": s.unix()}).Error
}

// CreateClient inserts a relying-party client.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	if c.ID == "" {
		c.ID = NewID()
	}
	c.CreatedAt, c.UpdatedAt = s.unix(), s.unix()
	return s.create(ctx, c)
}

// ClientByID finds a client by its client_id.
func (s *Store) ClientByID(ctx context.Context, id string) (*Client, error) {
	var c Client
	err := s.db.WithContext(ctx).Where("id = ?", id).First(&c).Error
	return &c, notFound(err)
}

func (s *Store) create(ctx context.Context, v any) error {
	err := s.db.WithContext(ctx).Create(v).Error
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// ClientByName finds a client of a tenant by its display name.
func (s *Store) ClientByName(ctx context.Context, tenantID, name string) (*Client, error) {
	var c Client
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND name = ?", tenantID, name).Order("created_at").First(&c).Error
	return &c, notFound(err)
}

// SetClientSecretHash replaces a client's secret (rotation).
func (s *Store) SetClientSecretHash(ctx context.Context, clientID, hash string) error {
	res := s.db.WithContext(ctx).Model(&Client{}).Where("id = ?", clientID).
		Updates(map[string]any{"secret_hash": hash, "updated_at": s.unix()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// CountSigningKeys tells whether this database was ever initialised with keys.
func (s *Store) CountSigningKeys(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&SigningKey{}).Count(&n).Error
	return n, err
}

func (t *Tenant) passkeyAttestationOrNone() string {
	if t.ProviderPasskeyAttestation == "" {
		return AttestationNone
	}
	return t.ProviderPasskeyAttestation
}

// PolicySummary is the tenant's policy in one audit-friendly line.
func (t *Tenant) PolicySummary() string {
	return fmt.Sprintf("mfa=%s phone_region=%s self_registration=%t remember_device_days=%d remember_device_network=%s remember_device_mfa=%t patients_may_disable_mfa=%t passkey_mfa_days=%d help_contact=%q provider_passkey_attestation=%s provider_passkey_aaguids=%q",
		t.MFAMode, t.PhoneRegion, t.SelfRegistration, t.RememberDays(), t.RememberNetwork(), t.RememberedDeviceIsMFA(), t.PatientsMayDisableMFA,
		t.PasskeyWindowDays(), t.HelpContact, t.passkeyAttestationOrNone(), t.ProviderPasskeyAAGUIDs) + codesSummary(t)
}
