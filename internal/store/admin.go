package store

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// Reads and changes the admin console and API need. Every one takes the tenant and matches it in
// its WHERE clause, so a row of another tenant is ErrNotFound whoever asks (internal/admin
// enforces isolation too; the store makes it impossible to forget).

// AdminClientName is the display name of a tenant's built-in admin-console client.
const AdminClientName = "Admin"

// AdminClientID is the client_id of a tenant's admin-console client.
func AdminClientID(tenantID string) string { return "admin-" + tenantID }

// EnsureAdminClient returns the tenant's admin-console client (a first-party public client with
// PKCE whose minimum acr is multi-factor, so nobody reaches the console on a password alone),
// creating it when missing; like EnsureAccountClient it is idempotent across nodes.
func (s *Store) EnsureAdminClient(ctx context.Context, tenantID, redirectURI, minACR string) (*Client, error) {
	return s.ensureBuiltinClient(ctx, Client{ID: AdminClientID(tenantID), TenantID: tenantID, Name: AdminClientName,
		RedirectURIs: StringList{redirectURI}, MinACR: minACR})
}

// BuiltinClient reports whether a client id is one of the consoles' own clients, which no
// administrator may edit.
func BuiltinClient(id string) bool {
	return strings.HasPrefix(id, "account-") || strings.HasPrefix(id, "admin-")
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	PracticeID string // "-" for users without a practice
	Role       string
	// Status: "locked", "disabled", "active" (neither), "no_mfa", "mfa" or "".
	Status string
	Query  string // part of the email or name, case-insensitive
	Limit  int
	Offset int
}

// ListUsers lists a tenant's users by email, with the filter applied.
func (s *Store) ListUsers(ctx context.Context, tenantID string, f UserFilter) ([]User, error) {
	q := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID)
	switch {
	case f.PracticeID == "-":
		q = q.Where("practice_id IS NULL")
	case f.PracticeID != "":
		q = q.Where("practice_id = ?", f.PracticeID)
	}
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	active := "EXISTS (SELECT 1 FROM factors WHERE factors.user_id = users.id AND factors.active = ?)"
	switch f.Status {
	case "locked":
		q = q.Where("locked_at IS NOT NULL")
	case "disabled":
		q = q.Where("disabled = ?", true)
	case "active":
		q = q.Where("locked_at IS NULL AND disabled = ?", false)
	case "mfa":
		q = q.Where(active, true)
	case "no_mfa":
		q = q.Where("NOT "+active, true)
	}
	if s := strings.ToLower(strings.TrimSpace(f.Query)); s != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s) + "%"
		q = q.Where(`(email_lower LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\')`, like, like)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	var us []User
	err := q.Order("email_lower, id").Limit(f.Limit).Offset(f.Offset).Find(&us).Error
	return us, err
}

// TenantUser finds a user of a tenant by id; one of another tenant is ErrNotFound.
func (s *Store) TenantUser(ctx context.Context, tenantID, id string) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).First(&u).Error
	return &u, notFound(err)
}

// SecurityFacts is what the Security Status shows of one person beyond the user row.
type SecurityFacts struct {
	Factors           []string // active factor kinds, sorted, each once
	LastMFAAt         *int64   // the newest of the factors' last use and the last other MFA
	RememberedDevices int      // live remembered devices
}

// SecurityFactsFor reads the facts of many users of a tenant with three statements.
func (s *Store) SecurityFactsFor(ctx context.Context, tenantID string, userIDs []string) (map[string]*SecurityFacts, error) {
	out := make(map[string]*SecurityFacts, len(userIDs))
	for _, id := range userIDs {
		out[id] = &SecurityFacts{}
	}
	if len(userIDs) == 0 {
		return out, nil
	}
	var fs []Factor
	if err := s.db.WithContext(ctx).Where("tenant_id = ? AND user_id IN ? AND active = ?", tenantID, userIDs, true).
		Order("user_id, kind").Find(&fs).Error; err != nil {
		return nil, err
	}
	for _, f := range fs {
		sf := out[f.UserID]
		if sf == nil {
			continue
		}
		if n := len(sf.Factors); n == 0 || sf.Factors[n-1] != f.Kind {
			sf.Factors = append(sf.Factors, f.Kind)
		}
		if f.LastUsedAt != nil && (sf.LastMFAAt == nil || *f.LastUsedAt > *sf.LastMFAAt) {
			v := *f.LastUsedAt
			sf.LastMFAAt = &v
		}
	}
	var devs []struct {
		UserID string
		N      int
	}
	if err := s.db.WithContext(ctx).Model(&RememberedDevice{}).Select("user_id, COUNT(*) AS n").
		Where("tenant_id = ? AND user_id IN ? AND revoked_at IS NULL AND expires_at > ?", tenantID, userIDs, s.unix()).
		Group("user_id").Scan(&devs).Error; err != nil {
		return nil, err
	}
	for _, d := range devs {
		if sf := out[d.UserID]; sf != nil {
			sf.RememberedDevices = d.N
		}
	}
	var others []struct {
		ID             string
		LastOtherMFAAt *int64
	}
	if err := s.db.WithContext(ctx).Model(&User{}).Select("id, last_other_mfa_at").
		Where("tenant_id = ? AND id IN ? AND last_other_mfa_at IS NOT NULL", tenantID, userIDs).Scan(&others).Error; err != nil {
		return nil, err
	}
	for _, o := range others {
		if sf := out[o.ID]; sf != nil && o.LastOtherMFAAt != nil && (sf.LastMFAAt == nil || *o.LastOtherMFAAt > *sf.LastMFAAt) {
			v := *o.LastOtherMFAAt
			sf.LastMFAAt = &v
		}
	}
	return out, nil
}

// UserChanges are the fields an administrator may edit; nil leaves a field as it is.
type UserChanges struct {
	Name, Phone, PhoneLineType, Role *string
	PracticeID                       **string // a pointer to nil clears the practice
}

// UpdateUser edits a user of a tenant. A changed phone number is unverified until the person
// verifies it at their next sign-in.
func (s *Store) UpdateUser(ctx context.Context, tenantID, id string, c UserChanges) error {
	upd := map[string]any{"updated_at": s.unix()}
	if c.Name != nil {
		upd["name"] = *c.Name
		given, family := SplitName(*c.Name)
		upd["given_name"], upd["family_name"] = given, family
	}
	if c.Role != nil {
		upd["role"] = *c.Role
	}
	if c.PracticeID != nil {
		upd["practice_id"] = *c.PracticeID
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.Where("tenant_id = ? AND id = ?", tenantID, id).First(&u).Error; err != nil {
			return notFound(err)
		}
		if c.Phone != nil && *c.Phone != u.Phone {
			upd["phone"], upd["phone_verified"] = *c.Phone, false
			if c.PhoneLineType != nil {
				upd["phone_line_type"] = *c.PhoneLineType
			}
		}
		return tx.Model(&User{}).Where("id = ?", id).Updates(upd).Error
	})
}

// SetUserDisabled disables or enables a user of a tenant. Disabling also ends every session of
// the person with its tokens, and forgets their remembered devices, in the same transaction.
func (s *Store) SetUserDisabled(ctx context.Context, tenantID, id string, disabled bool) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("tenant_id = ? AND id = ?", tenantID, id).
			Updates(map[string]any{"disabled": disabled, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if !disabled {
			return nil
		}
		_, err := s.endUserTx(tx, id, now)
		return err
	})
}

// RevokeUserSessions ends every session and remembered device of a user of a tenant; it reports
// how many sessions and devices were live.
func (s *Store) RevokeUserSessions(ctx context.Context, tenantID, id string) (sessions, devices int64, err error) {
	now := s.unix()
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.Where("tenant_id = ? AND id = ?", tenantID, id).First(&u).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", id, now).Count(&sessions).Error; err != nil {
			return err
		}
		if err := tx.Model(&RememberedDevice{}).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", id, now).Count(&devices).Error; err != nil {
			return err
		}
		_, err := s.endUserTx(tx, id, now)
		return err
	})
	return sessions, devices, err
}

// ResetMFA removes every second factor of a user of a tenant — factors (active or pending),
// passkeys, backup codes, outstanding codes — and forgets their remembered devices, so the next
// sign-in enrolls again. It also ends the person's sessions: a session that passed the old
// factors must not outlive them. One transaction; it reports the factor kinds removed.
func (s *Store) ResetMFA(ctx context.Context, tenantID, id string) ([]string, error) {
	now := s.unix()
	var kinds []string
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockKeys(tx, "factors:"+id); err != nil {
			return err
		}
		var u User
		if err := tx.Where("tenant_id = ? AND id = ?", tenantID, id).First(&u).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Model(&Factor{}).Where("user_id = ? AND active = ?", id, true).Distinct().Order("kind").Pluck("kind", &kinds).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&Passkey{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&Factor{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&BackupCode{}).Error; err != nil {
			return err
		}
		if err := tx.Model(&OTPCode{}).Where("user_id = ? AND spent_at IS NULL", id).Update("spent_at", now).Error; err != nil {
			return err
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{"last_other_mfa_at": nil, "updated_at": now}).Error; err != nil {
			return err
		}
		_, err := s.endUserTx(tx, id, now)
		return err
	})
	return kinds, err
}

// UnlockUser is Unlock for a user of a tenant (ErrNotFound for anyone else).
func (s *Store) UnlockUser(ctx context.Context, tenantID, id string) (bool, error) {
	if _, err := s.TenantUser(ctx, tenantID, id); err != nil {
		return false, err
	}
	return s.Unlock(ctx, id)
}

// Practices lists a tenant's practices by name.
func (s *Store) Practices(ctx context.Context, tenantID string) ([]Practice, error) {
	var ps []Practice
	err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("name, id").Find(&ps).Error
	return ps, err
}

// TenantPractice finds a practice of a tenant by id.
func (s *Store) TenantPractice(ctx context.Context, tenantID, id string) (*Practice, error) {
	var p Practice
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).First(&p).Error
	return &p, notFound(err)
}

// RenamePractice renames a practice of a tenant; a name already used in the tenant is
// ErrConflict.
func (s *Store) RenamePractice(ctx context.Context, tenantID, id, name string) error {
	if _, err := s.TenantPractice(ctx, tenantID, id); err != nil {
		return err // another tenant's practice is not found before anything else is judged
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&Practice{}).Where("tenant_id = ? AND name = ? AND id <> ?", tenantID, name, id).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return ErrConflict
	}
	res := s.db.WithContext(ctx).Model(&Practice{}).Where("tenant_id = ? AND id = ?", tenantID, id).Update("name", name)
	if isUnique(res.Error) {
		return ErrConflict
	}
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// PracticeNameTaken reports whether a tenant already has a practice with that name.
func (s *Store) PracticeNameTaken(ctx context.Context, tenantID, name string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Practice{}).Where("tenant_id = ? AND name = ?", tenantID, name).Count(&n).Error
	return n > 0, err
}

// Clients lists a tenant's relying-party clients by name, the consoles' built-in ones left out.
func (s *Store) Clients(ctx context.Context, tenantID string) ([]Client, error) {
	var cs []Client
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND id NOT IN ?", tenantID,
		[]string{AccountClientID(tenantID), AdminClientID(tenantID)}).Order("name, id").Find(&cs).Error
	return cs, err
}

// TenantClient finds a client of a tenant by id (the built-in console clients are not found).
func (s *Store) TenantClient(ctx context.Context, tenantID, id string) (*Client, error) {
	if BuiltinClient(id) {
		return &Client{}, ErrNotFound
	}
	var c Client
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).First(&c).Error
	return &c, notFound(err)
}

// ClientChanges are the fields of a client an administrator may edit; nil leaves one as it is.
type ClientChanges struct {
	Name                   *string
	RedirectURIs           *StringList
	PostLogoutRedirectURIs *StringList
	MinACR                 *string
	Scopes                 *StringList
	Disabled               *bool
	SecretHash             *string
	// SMART allowed scopes and back-channel logout (smart.go).
	AllowedScopes                    *string
	BackchannelLogoutURI             *string
	BackchannelLogoutSessionRequired *bool
}

// UpdateClient edits a client of a tenant.
func (s *Store) UpdateClient(ctx context.Context, tenantID, id string, c ClientChanges) error {
	if BuiltinClient(id) {
		return ErrNotFound
	}
	upd := map[string]any{"updated_at": s.unix()}
	if c.Name != nil {
		upd["name"] = *c.Name
	}
	if c.RedirectURIs != nil {
		upd["redirect_uris"] = *c.RedirectURIs
	}
	if c.PostLogoutRedirectURIs != nil {
		upd["post_logout_redirect_uris"] = *c.PostLogoutRedirectURIs
	}
	if c.MinACR != nil {
		upd["min_acr"] = *c.MinACR
	}
	if c.Scopes != nil {
		upd["scopes"] = *c.Scopes
	}
	if c.Disabled != nil {
		upd["disabled"] = *c.Disabled
	}
	if c.SecretHash != nil {
		upd["secret_hash"] = *c.SecretHash
	}
	if c.AllowedScopes != nil {
		upd["allowed_scopes"] = *c.AllowedScopes
	}
	if c.BackchannelLogoutURI != nil {
		upd["backchannel_logout_uri"] = *c.BackchannelLogoutURI
	}
	if c.BackchannelLogoutSessionRequired != nil {
		upd["backchannel_logout_session_required"] = *c.BackchannelLogoutSessionRequired
	}
	res := s.db.WithContext(ctx).Model(&Client{}).Where("tenant_id = ? AND id = ?", tenantID, id).Updates(upd)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// AuditFilter narrows SearchAudit.
type AuditFilter struct {
	Event    string // exact, or a prefix ending in "." ("user.")
	UserID   string // actor or subject
	Result   string
	From, To int64 // Unix seconds, From <= at < To; 0 leaves a side open
	BeforeID int64 // paging: only events older than this id (newest first)
	Limit    int
}

// SearchAudit lists a tenant's audit events, newest first.
func (s *Store) SearchAudit(ctx context.Context, tenantID string, f AuditFilter) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID)
	if f.Event != "" {
		if strings.HasSuffix(f.Event, ".") {
			q = q.Where("event LIKE ?", strings.NewReplacer("%", "", "_", "").Replace(f.Event)+"%")
		} else {
			q = q.Where("event = ?", f.Event)
		}
	}
	if f.UserID != "" {
		q = q.Where("(actor_id = ? OR subject_id = ?)", f.UserID, f.UserID)
	}
	if f.Result != "" {
		q = q.Where("result = ?", f.Result)
	}
	if f.From > 0 {
		q = q.Where("at >= ?", f.From)
	}
	if f.To > 0 {
		q = q.Where("at < ?", f.To)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var es []AuditEvent
	err := q.Order("id DESC").Limit(f.Limit).Find(&es).Error
	return es, err
}

// Admin API scopes. Only a service client an administrator granted them (Client.Scopes) gets
// them in a client_credentials token; the token then acts on that client's tenant alone.
const (
	ScopeAdminRead  = "admin:read"
	ScopeAdminWrite = "admin:write"
)

// AdminScopes lists the admin API's scopes.
var AdminScopes = []string{ScopeAdminRead, ScopeAdminWrite}
