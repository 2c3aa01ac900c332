// Package admin owns what a tenant's administrators may do: the tenant's policy, its team
// members and their security status, practices and relying-party clients, and the search of its
// audit trail. The admin console (internal/web) and the admin REST API both call this package and
// nothing else to change anything, so the rules live in one place:
//
//   - Tenant isolation is enforced here: every method takes the acting administrator (Actor) and
//     touches only rows of the actor's tenant. Anything of another tenant is ErrNotFound — the
//     same answer as an id that does not exist, so nothing leaks whether it does. The store's
//     admin reads match the tenant in their own WHERE clauses as a second wall.
//   - Every change is audited with the actor (the administrator's user id, or the API client's
//     id), the subject and the result, refusals included.
//
// Later sections (caregiver proxy grants) are new files here with methods of the same shape.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
)

// Errors the callers map to pages and status codes.
var (
	// ErrNotFound: no such thing in the actor's tenant (whether or not it exists elsewhere).
	ErrNotFound = errors.New("admin: not found")
	// ErrConflict: the change collides with something that exists (an email, a name).
	ErrConflict = errors.New("admin: already exists")
	// ErrMFALocked: MFA is required and can never be turned off again.
	ErrMFALocked = errors.New("admin: MFA is required for this tenant and cannot be turned off")
	// ErrSelf: an administrator may not disable, demote or reset themselves here (they would
	// lock themselves out of the console).
	ErrSelf = errors.New("admin: administrators cannot do this to their own account")
)

// InputError is a value that was refused; Field names the input, Code is a stable id (the
// console shows "admin.err.<Code>"), Detail says it in English for the API.
type InputError struct {
	Field, Code, Detail string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Detail }

func bad(field, code, format string, a ...any) error {
	return &InputError{Field: field, Code: code, Detail: fmt.Sprintf(format, a...)}
}

// Actor is who acts: an administrator signed in to the console (UserID, with the console's
// Admin client as ClientID), or a service client holding an admin token (ClientID alone). The
// audit's actor is the UserID when there is one, else the ClientID. TenantID is theirs, and the
// only tenant they reach.
type Actor struct {
	TenantID string
	UserID   string
	ClientID string
}

func (a Actor) id() string {
	if a.UserID != "" {
		return a.UserID
	}
	return a.ClientID
}

// Notifier sends the messages admin actions cause; internal/web implements it with the same
// mail machinery as the sign-in's notices.
type Notifier interface {
	// Invite emails a new user a link to set their password.
	Invite(ctx context.Context, t *store.Tenant, u *store.User) error
	// Notify emails a notice (notice.<kind>.subject/body) to the user.
	Notify(ctx context.Context, t *store.Tenant, u *store.User, kind string)
}

// Service is the admin operations over one store.
type Service struct {
	st    *store.Store
	audit *audit.Log
	// Secrets hashes client secrets (the same keyed hash the token endpoint checks).
	Secrets *secret.Hasher
	// Notifier sends invitations and notices; nil sends nothing (the CLI).
	Notifier Notifier
	// CodeTTLs are the one-time-code lifetimes per channel: server-wide settings, shown read-only.
	CodeTTLs map[string]time.Duration
	now      func() time.Time
}

// New returns the admin service.
func New(st *store.Store, log *audit.Log, secrets *secret.Hasher) *Service {
	return &Service{st: st, audit: log, Secrets: secrets, now: time.Now}
}

// record audits one admin action.
func (s *Service) record(ctx context.Context, a Actor, event, subject, result, detail string) {
	client := a.ClientID
	s.audit.Record(ctx, &store.AuditEvent{TenantID: a.TenantID, Event: event, Result: result, ActorID: a.id(),
		SubjectID: subject, ClientID: client, Detail: detail})
}

// outcome audits the result of a change and returns err mapped to this package's errors.
func (s *Service) outcome(ctx context.Context, a Actor, event, subject, detail string, err error) error {
	err = mapErr(err)
	result := "ok"
	var in *InputError
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		result = "not_found"
	case errors.Is(err, ErrConflict):
		result = "conflict"
	case errors.Is(err, ErrMFALocked), errors.Is(err, ErrSelf), errors.As(err, &in):
		result = "refused"
	default:
		result = "failed"
	}
	if err != nil && detail == "" {
		detail = err.Error()
	}
	s.record(ctx, a, event, subject, result, detail)
	return err
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return ErrConflict
	case errors.Is(err, store.ErrMFALocked):
		return ErrMFALocked
	}
	return err
}

// tenant loads the actor's tenant.
func (s *Service) tenant(ctx context.Context, a Actor) (*store.Tenant, error) {
	if a.TenantID == "" {
		return nil, ErrNotFound
	}
	t, err := s.st.TenantByID(ctx, a.TenantID)
	return t, mapErr(err)
}

// ---- tenant policy ----

// RolePolicy is one role's fixed policy, shown read-only.
type RolePolicy struct {
	Role          string   `json:"role"`
	Factors       []string `json:"factors"`
	MFARequired   bool     `json:"mfa_required"`
	MayDisableMFA bool     `json:"may_disable_mfa"`
}

// Policy is a tenant's policy as the console and the API show it.
type Policy struct {
	TenantID              string         `json:"tenant_id"`
	TenantName            string         `json:"tenant_name"`
	MFA                   string         `json:"mfa"`
	EnforceFrom           string         `json:"enforce_from"` // YYYY-MM-DD or ""
	SelfRegistration      bool           `json:"self_registration"`
	RememberDeviceDays    int            `json:"remember_device_days"`
	RememberDeviceNetwork string         `json:"remember_device_network"`
	RememberDeviceMFA     bool           `json:"remember_device_mfa"`
	PatientsMayDisableMFA bool           `json:"patients_may_disable_mfa"`
	PasskeyMFADays        int            `json:"passkey_mfa_days"`
	PhoneRegion           string         `json:"phone_region"`
	HelpContact           string         `json:"help_contact"`
	Roles                 []RolePolicy   `json:"roles"`          // patients' factors follow patient_factors; the other roles are fixed by the seeds
	CodeLifetimes         map[string]int `json:"code_lifetimes"` // minutes per channel in force: the tenant's, else the server's
	MaxFailedCodes        int            `json:"max_failed_codes"`
	// SMSCodeMinutes and EmailCodeMinutes are the tenant's own code lifetimes (SMS and voice
	// share the first; at most 10 and 15 minutes); 0: the server's setting.
	SMSCodeMinutes   int `json:"sms_code_minutes"`
	EmailCodeMinutes int `json:"email_code_minutes"`
	// PatientFactors are the second factors patients may choose (sms, voice, email, totp,
	// passkey; backup codes always come with them).
	PatientFactors []string `json:"patient_factors"`
}

// Policy returns the actor's tenant policy.
func (s *Service) Policy(ctx context.Context, a Actor) (*Policy, error) {
	t, err := s.tenant(ctx, a)
	if err != nil {
		return nil, err
	}
	return s.policyOf(t), nil
}

func (s *Service) policyOf(t *store.Tenant) *Policy {
	p := &Policy{TenantID: t.ID, TenantName: t.Name, MFA: t.MFAMode, SelfRegistration: t.SelfRegistration,
		RememberDeviceDays: t.RememberDays(), RememberDeviceNetwork: t.RememberNetwork(), RememberDeviceMFA: t.RememberedDeviceIsMFA(),
		PatientsMayDisableMFA: t.PatientsMayDisableMFA, PasskeyMFADays: t.PasskeyWindowDays(), PhoneRegion: t.PhoneRegion,
		HelpContact: t.HelpContact, CodeLifetimes: map[string]int{}, MaxFailedCodes: policy.MaxFailedCodes}
	if t.EnforceFrom != nil {
		p.EnforceFrom = time.Unix(*t.EnforceFrom, 0).UTC().Format(time.DateOnly)
	}
	tp := policy.Tenant{PatientFactors: t.PatientFactorList()}
	for _, r := range store.Roles {
		rp := policy.RoleFor(r, tp)
		p.Roles = append(p.Roles, RolePolicy{Role: r, Factors: rp.Factors, MFARequired: rp.MFARequired, MayDisableMFA: rp.MayDisableMFA})
	}
	for k, d := range s.CodeTTLs {
		if td := t.CodeLifetime(k); td > 0 {
			d = td
		}
		p.CodeLifetimes[k] = int(d / time.Minute)
	}
	if t.SMSCodeMinutes != nil {
		p.SMSCodeMinutes = *t.SMSCodeMinutes
	}
	if t.EmailCodeMinutes != nil {
		p.EmailCodeMinutes = *t.EmailCodeMinutes
	}
	p.PatientFactors = t.PatientFactorList()
	if p.PatientFactors == nil {
		p.PatientFactors = slices.Clone(store.PatientFactorChoices)
	}
	return p
}

// PolicyChanges are the policy fields to change; nil leaves one as it is.
type PolicyChanges struct {
	MFA                   *string `json:"mfa,omitempty"`
	EnforceFrom           *string `json:"enforce_from,omitempty"` // "" clears
	SelfRegistration      *bool   `json:"self_registration,omitempty"`
	RememberDeviceDays    *int    `json:"remember_device_days,omitempty"`
	RememberDeviceNetwork *string `json:"remember_device_network,omitempty"`
	RememberDeviceMFA     *bool   `json:"remember_device_mfa,omitempty"`
	PatientsMayDisableMFA *bool   `json:"patients_may_disable_mfa,omitempty"`
	PasskeyMFADays        *int    `json:"passkey_mfa_days,omitempty"`
	PhoneRegion           *string `json:"phone_region,omitempty"`
	HelpContact           *string `json:"help_contact,omitempty"`
	// SMSCodeMinutes: 1 to 10 (SMS and voice codes), 0 for the server's setting.
	SMSCodeMinutes *int `json:"sms_code_minutes,omitempty"`
	// EmailCodeMinutes: 1 to 15, 0 for the server's setting.
	EmailCodeMinutes *int `json:"email_code_minutes,omitempty"`
	// PatientFactors: at least one of sms, voice, email, totp, passkey.
	PatientFactors *[]string `json:"patient_factors,omitempty"`
}

// MaxRememberDays bounds the remember-device days (a year; the seeds ask for 7).
const MaxRememberDays = 365

// Apply validates c and writes it into t; the first bad value is an *InputError. Moving MFA away
// from required is ErrMFALocked here already (the store refuses it again on the row).
func (c PolicyChanges) Apply(t *store.Tenant) error {
	if c.MFA != nil {
		if !slices.Contains([]string{store.MFAOff, store.MFAOptional, store.MFARequired}, *c.MFA) {
			return bad("mfa", "mfa", "use off, optional or required")
		}
		if t.MFAMode == store.MFARequired && *c.MFA != store.MFARequired {
			return ErrMFALocked
		}
		t.MFAMode = *c.MFA
	}
	if c.EnforceFrom != nil {
		if v := strings.TrimSpace(*c.EnforceFrom); v == "" {
			t.EnforceFrom = nil
		} else {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return bad("enforce_from", "date", "use a date like 2027-03-31")
			}
			u := d.Unix()
			t.EnforceFrom = &u
		}
	}
	if c.SelfRegistration != nil {
		t.SelfRegistration = *c.SelfRegistration
	}
	if c.RememberDeviceDays != nil {
		if d := *c.RememberDeviceDays; d < 0 || d > MaxRememberDays {
			return bad("remember_device_days", "remember_days", "use a whole number of days from 0 (off) to %d", MaxRememberDays)
		}
		d := *c.RememberDeviceDays
		t.RememberDeviceDays = &d
	}
	if c.RememberDeviceNetwork != nil {
		if !slices.Contains(store.NetworkModes, *c.RememberDeviceNetwork) {
			return bad("remember_device_network", "network", "use exact, prefix or off")
		}
		t.RememberDeviceNetwork = *c.RememberDeviceNetwork
	}
	if c.RememberDeviceMFA != nil {
		v := *c.RememberDeviceMFA
		t.RememberDeviceMFA = &v
	}
	if c.PatientsMayDisableMFA != nil {
		t.PatientsMayDisableMFA = *c.PatientsMayDisableMFA
	}
	if c.PasskeyMFADays != nil {
		if d := *c.PasskeyMFADays; d < 0 || d > 365 {
			return bad("passkey_mfa_days", "passkey_days", "use a whole number of days from 0 to 365")
		}
		d := *c.PasskeyMFADays
		t.PasskeyMFADays = &d
	}
	if c.PhoneRegion != nil {
		region := strings.ToUpper(strings.TrimSpace(*c.PhoneRegion))
		if !phone.KnownRegion(region) {
			return bad("phone_region", "region", "use a two-letter region such as US, GB or DE")
		}
		t.PhoneRegion = region
	}
	if c.HelpContact != nil {
		help := strings.TrimSpace(*c.HelpContact)
		if n := utf8.RuneCountInString(help); n > store.MaxHelpContact {
			return bad("help_contact", "help", "keep it to at most %d characters", store.MaxHelpContact)
		}
		if strings.IndexFunc(help, unicode.IsControl) >= 0 {
			return bad("help_contact", "help", "use one line of plain text, without line breaks")
		}
		t.HelpContact = help
	}
	return c.applyCodes(t)
}

// UpdatePolicy changes the actor's tenant policy.
func (s *Service) UpdatePolicy(ctx context.Context, a Actor, c PolicyChanges) (*Policy, error) {
	t, err := s.tenant(ctx, a)
	if err != nil {
		return nil, err
	}
	before := t.MFAMode
	if err := c.Apply(t); err != nil {
		return nil, s.outcome(ctx, a, "tenant.updated", "", "", err)
	}
	if err := s.st.UpdateTenant(ctx, t); err != nil {
		return nil, s.outcome(ctx, a, "tenant.updated", "", "", err)
	}
	detail := t.PolicySummary()
	if before != t.MFAMode {
		detail = "mfa " + before + "->" + t.MFAMode + "; " + detail
	}
	s.record(ctx, a, "tenant.updated", "", "ok", detail)
	return s.policyOf(t), nil
}

// ---- team members ----

// Member is one user with their Security Status.
type Member struct {
	ID                string   `json:"id"`
	Email             string   `json:"email"`
	Name              string   `json:"name"`
	Phone             string   `json:"phone"`
	Role              string   `json:"role"`
	PracticeID        string   `json:"practice_id"`
	PracticeName      string   `json:"practice_name"`
	Disabled          bool     `json:"disabled"`
	Locked            bool     `json:"locked"`
	LockedAt          string   `json:"locked_at,omitempty"` // RFC 3339
	MFAEnrolled       bool     `json:"mfa_enrolled"`
	Factors           []string `json:"factors"`
	LastMFAAt         string   `json:"last_mfa_at,omitempty"` // RFC 3339
	RememberedDevices int      `json:"remembered_devices"`
	PasswordSet       bool     `json:"password_set"`
}

// Statuses a member list may be filtered by.
var Statuses = []string{"active", "locked", "disabled", "mfa", "no_mfa"}

// Members lists the actor's tenant's users with their Security Status.
func (s *Service) Members(ctx context.Context, a Actor, f store.UserFilter) ([]Member, error) {
	if f.Role != "" && !slices.Contains(store.Roles, f.Role) {
		return nil, bad("role", "role", "use patient, provider, staff or admin")
	}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return nil, bad("status", "status", "use one of %s", strings.Join(Statuses, ", "))
	}
	if f.PracticeID != "" && f.PracticeID != "-" {
		if _, err := s.st.TenantPractice(ctx, a.TenantID, f.PracticeID); err != nil {
			return nil, mapErr(err)
		}
	}
	us, err := s.st.ListUsers(ctx, a.TenantID, f)
	if err != nil {
		return nil, err
	}
	return s.members(ctx, a, us)
}

func (s *Service) members(ctx context.Context, a Actor, us []store.User) ([]Member, error) {
	ids := make([]string, len(us))
	for i := range us {
		ids[i] = us[i].ID
	}
	facts, err := s.st.SecurityFactsFor(ctx, a.TenantID, ids)
	if err != nil {
		return nil, err
	}
	ps, err := s.st.Practices(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	out := make([]Member, 0, len(us))
	for i := range us {
		u := &us[i]
		m := Member{ID: u.ID, Email: u.Email, Name: u.Name, Phone: u.Phone, Role: u.Role, Disabled: u.Disabled,
			Locked: u.LockedAt != nil, PasswordSet: u.PasswordHash != "", Factors: []string{}}
		if u.PracticeID != nil {
			m.PracticeID, m.PracticeName = *u.PracticeID, names[*u.PracticeID]
		}
		if u.LockedAt != nil {
			m.LockedAt = time.Unix(*u.LockedAt, 0).UTC().Format(time.RFC3339)
		}
		if f := facts[u.ID]; f != nil {
			if f.Factors != nil {
				m.Factors = f.Factors
			}
			m.MFAEnrolled = len(f.Factors) > 0
			m.RememberedDevices = f.RememberedDevices
			if f.LastMFAAt != nil {
				m.LastMFAAt = time.Unix(*f.LastMFAAt, 0).UTC().Format(time.RFC3339)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Member returns one user of the actor's tenant.
func (s *Service) Member(ctx context.Context, a Actor, id string) (*Member, error) {
	u, err := s.st.TenantUser(ctx, a.TenantID, id)
	if err != nil {
		return nil, mapErr(err)
	}
	ms, err := s.members(ctx, a, []store.User{*u})
	if err != nil {
		return nil, err
	}
	return &ms[0], nil
}

// Unlock clears the lock set by too many wrong codes; it reports whether the user was locked.
func (s *Service) Unlock(ctx context.Context, a Actor, id string) (bool, error) {
	was, err := s.st.UnlockUser(ctx, a.TenantID, id)
	if err != nil {
		return false, s.outcome(ctx, a, "user.unlock", id, "", err)
	}
	result := "ok"
	if !was {
		result = "not_locked"
	}
	s.record(ctx, a, "user.unlock", id, result, "")
	return was, nil
}

// ResetMFA removes every second factor, backup code, passkey and remembered device of a user and
// ends their sessions; they enroll again at their next sign-in and are told by email.
func (s *Service) ResetMFA(ctx context.Context, a Actor, id string) ([]string, error) {
	if id == a.UserID {
		return nil, s.outcome(ctx, a, "user.mfa_reset", id, "", ErrSelf)
	}
	kinds, err := s.st.ResetMFA(ctx, a.TenantID, id)
	if err != nil {
		return nil, s.outcome(ctx, a, "user.mfa_reset", id, "", err)
	}
	s.record(ctx, a, "user.mfa_reset", id, "ok", "removed="+strings.Join(kinds, ","))
	s.notify(ctx, a, id, "mfa_reset")
	return kinds, nil
}

func (s *Service) notify(ctx context.Context, a Actor, userID, kind string) {
	if s.Notifier == nil {
		return
	}
	t, err := s.tenant(ctx, a)
	if err != nil {
		return
	}
	u, err := s.st.TenantUser(ctx, a.TenantID, userID)
	if err != nil {
		return
	}
	s.Notifier.Notify(ctx, t, u, kind)
}

// RevokeSessions ends every session (with its tokens) and remembered device of a user.
func (s *Service) RevokeSessions(ctx context.Context, a Actor, id string) (sessions, devices int64, err error) {
	sessions, devices, err = s.st.RevokeUserSessions(ctx, a.TenantID, id)
	if err != nil {
		return 0, 0, s.outcome(ctx, a, "user.sessions_revoked", id, "", err)
	}
	s.record(ctx, a, "user.sessions_revoked", id, "ok", fmt.Sprintf("sessions=%d devices=%d", sessions, devices))
	return sessions, devices, nil
}

// Invitation is a new user an administrator adds.
type Invitation struct {
	Email      string `json:"email"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Role       string `json:"role"`
	PracticeID string `json:"practice_id"`
}

// Invite creates a user without a password and emails them a link to set one (the password-reset
// machinery; a second factor is enrolled at the first sign-in as policy asks).
func (s *Service) Invite(ctx context.Context, a Actor, in Invitation) (*Member, error) {
	t, err := s.tenant(ctx, a)
	if err != nil {
		return nil, err
	}
	u := &store.User{TenantID: t.ID, Email: strings.TrimSpace(in.Email), Name: strings.TrimSpace(in.Name), Role: in.Role}
	if u.Role == "" {
		u.Role = store.RolePatient
	}
	if err := s.checkMember(ctx, t, u, in.Phone, in.PracticeID); err != nil {
		return nil, s.outcome(ctx, a, "user.invited", "", "", err)
	}
	u.GivenName, u.FamilyName = store.SplitName(u.Name)
	if err := s.st.CreateUser(ctx, u); err != nil {
		return nil, s.outcome(ctx, a, "user.invited", "", "", err)
	}
	s.record(ctx, a, "user.invited", u.ID, "ok", "role="+u.Role)
	if s.Notifier != nil {
		if err := s.Notifier.Invite(ctx, t, u); err != nil {
			slog.ErrorContext(ctx, "admin: send invitation", "err", err)
			s.record(ctx, a, "user.invitation_sent", u.ID, "failed", "")
		}
	}
	return s.Member(ctx, a, u.ID)
}

// checkMember validates the fields of a new or edited user into u.
func (s *Service) checkMember(ctx context.Context, t *store.Tenant, u *store.User, phoneIn, practiceID string) error {
	if u.Email != "" || u.ID == "" {
		addr, err := mail.ParseAddress(u.Email)
		if err != nil || addr.Address != u.Email || !strings.Contains(u.Email, "@") {
			return bad("email", "email", "use an email address like name@example.org")
		}
	}
	if utf8.RuneCountInString(u.Name) > 200 || strings.IndexFunc(u.Name, unicode.IsControl) >= 0 {
		return bad("name", "name", "use one line of at most 200 characters")
	}
	if !slices.Contains(store.Roles, u.Role) {
		return bad("role", "role", "use patient, provider, staff or admin")
	}
	if phoneIn = strings.TrimSpace(phoneIn); phoneIn != "" {
		n, err := phone.Parse(phoneIn, t.PhoneRegion)
		if err != nil {
			return bad("phone", "phone", "%v", err)
		}
		u.Phone, u.PhoneLineType = n.E164, string(n.LineType)
	} else {
		u.Phone, u.PhoneLineType = "", ""
	}
	if practiceID != "" {
		p, err := s.st.TenantPractice(ctx, t.ID, practiceID)
		if err != nil {
			return bad("practice_id", "practice", "no such practice in this organisation")
		}
		u.PracticeID = &p.ID
	} else {
		u.PracticeID = nil
	}
	return nil
}

// MemberChanges are the fields of a user an administrator may edit; nil leaves one as it is.
type MemberChanges struct {
	Name       *string `json:"name,omitempty"`
	Phone      *string `json:"phone,omitempty"`
	Role       *string `json:"role,omitempty"`
	PracticeID *string `json:"practice_id,omitempty"` // "" clears
}

// UpdateMember edits a user's name, role, practice and phone.
func (s *Service) UpdateMember(ctx context.Context, a Actor, id string, c MemberChanges) (*Member, error) {
	t, err := s.tenant(ctx, a)
	if err != nil {
		return nil, err
	}
	u, err := s.st.TenantUser(ctx, a.TenantID, id)
	if err != nil {
		return nil, s.outcome(ctx, a, "user.updated", id, "", err)
	}
	if c.Role != nil && id == a.UserID && *c.Role != store.RoleAdmin {
		return nil, s.outcome(ctx, a, "user.updated", id, "", ErrSelf)
	}
	next := *u
	next.Email = "" // not edited here
	if c.Name != nil {
		next.Name = strings.TrimSpace(*c.Name)
	}
	if c.Role != nil {
		next.Role = *c.Role
	}
	phoneIn := u.Phone
	if c.Phone != nil {
		phoneIn = *c.Phone
	}
	practice := ""
	if u.PracticeID != nil {
		practice = *u.PracticeID
	}
	if c.PracticeID != nil {
		practice = *c.PracticeID
	}
	if err := s.checkMember(ctx, t, &next, phoneIn, practice); err != nil {
		return nil, s.outcome(ctx, a, "user.updated", id, "", err)
	}
	ch := store.UserChanges{Name: &next.Name, Role: &next.Role, Phone: &next.Phone, PhoneLineType: &next.PhoneLineType, PracticeID: &next.PracticeID}
	if err := s.st.UpdateUser(ctx, a.TenantID, id, ch); err != nil {
		return nil, s.outcome(ctx, a, "user.updated", id, "", err)
	}
	var changed []string
	if next.Name != u.Name {
		changed = append(changed, "name")
	}
	if next.Role != u.Role {
		changed = append(changed, "role="+next.Role)
	}
	if next.Phone != u.Phone {
		changed = append(changed, "phone")
	}
	if (next.PracticeID == nil) != (u.PracticeID == nil) || next.PracticeID != nil && *next.PracticeID != *u.PracticeID {
		changed = append(changed, "practice")
	}
	s.record(ctx, a, "user.updated", id, "ok", strings.Join(changed, " "))
	return s.Member(ctx, a, id)
}

// SetDisabled disables (ending every session and remembered device) or enables a user.
func (s *Service) SetDisabled(ctx context.Context, a Actor, id string, disabled bool) (*Member, error) {
	event := "user.enabled"
	if disabled {
		event = "user.disabled"
	}
	if disabled && id == a.UserID {
		return nil, s.outcome(ctx, a, event, id, "", ErrSelf)
	}
	if err := s.st.SetUserDisabled(ctx, a.TenantID, id, disabled); err != nil {
		return nil, s.outcome(ctx, a, event, id, "", err)
	}
	s.record(ctx, a, event, id, "ok", "")
	return s.Member(ctx, a, id)
}

// ---- practices ----

// Practice is one clinic of the tenant.
type Practice struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Practices lists the actor's tenant's practices.
func (s *Service) Practices(ctx context.Context, a Actor) ([]Practice, error) {
	ps, err := s.st.Practices(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]Practice, 0, len(ps))
	for _, p := range ps {
		out = append(out, Practice{ID: p.ID, Name: p.Name})
	}
	return out, nil
}

func practiceName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 120 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", bad("name", "practice_name", "use a name of 1 to 120 characters on one line")
	}
	return name, nil
}

// CreatePractice adds a practice.
func (s *Service) CreatePractice(ctx context.Context, a Actor, name string) (*Practice, error) {
	if _, err := s.tenant(ctx, a); err != nil {
		return nil, err
	}
	name, err := practiceName(name)
	if err == nil {
		var taken bool
		if taken, err = s.st.PracticeNameTaken(ctx, a.TenantID, name); err == nil && taken {
			err = ErrConflict
		}
	}
	p := &store.Practice{TenantID: a.TenantID, Name: name}
	if err == nil {
		err = s.st.CreatePractice(ctx, p)
	}
	if err != nil {
		return nil, s.outcome(ctx, a, "practice.created", "", "", err)
	}
	s.record(ctx, a, "practice.created", p.ID, "ok", "")
	return &Practice{ID: p.ID, Name: p.Name}, nil
}

// RenamePractice renames a practice.
func (s *Service) RenamePractice(ctx context.Context, a Actor, id, name string) (*Practice, error) {
	name, err := practiceName(name)
	if err == nil {
		err = s.st.RenamePractice(ctx, a.TenantID, id, name)
	}
	if err != nil {
		return nil, s.outcome(ctx, a, "practice.renamed", id, "", err)
	}
	s.record(ctx, a, "practice.renamed", id, "ok", "")
	return &Practice{ID: id, Name: name}, nil
}

// ---- relying-party clients ----

// Client is a relying party as the console and the API show it (never its secret).
type Client struct {
	ID                     string   `json:"client_id"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	MinACR                 string   `json:"min_acr"`
	IDTokenAlg             string   `json:"id_token_alg"`
	FirstParty             bool     `json:"first_party"`
	Scopes                 []string `json:"scopes"`
	// BackchannelLogoutURI receives OpenID Connect Back-Channel Logout tokens ("" for none).
	BackchannelLogoutURI string `json:"backchannel_logout_uri"`
	Disabled             bool   `json:"disabled"`
	HasSecret            bool   `json:"has_secret"`
}

func clientOf(c *store.Client) Client {
	out := Client{ID: c.ID, Name: c.Name, Type: c.Type, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		MinACR: c.MinACR, IDTokenAlg: c.IDTokenAlg, FirstParty: c.FirstParty, Scopes: c.Scopes, Disabled: c.Disabled,
		BackchannelLogoutURI: c.BackchannelLogoutURI, HasSecret: c.SecretHash != ""}
	for _, l := range []*[]string{&out.RedirectURIs, &out.PostLogoutRedirectURIs, &out.Scopes} {
		if *l == nil {
			*l = []string{}
		}
	}
	return out
}

// Clients lists the actor's tenant's clients (the consoles' built-in ones left out).
func (s *Service) Clients(ctx context.Context, a Actor) ([]Client, error) {
	cs, err := s.st.Clients(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(cs))
	for i := range cs {
		out = append(out, clientOf(&cs[i]))
	}
	return out, nil
}

// Client returns one client of the actor's tenant.
func (s *Service) Client(ctx context.Context, a Actor, id string) (*Client, error) {
	c, err := s.st.TenantClient(ctx, a.TenantID, id)
	if err != nil {
		return nil, mapErr(err)
	}
	out := clientOf(c)
	return &out, nil
}

// ClientSpec is a new client.
type ClientSpec struct {
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	MinACR                 string   `json:"min_acr"`
	IDTokenAlg             string   `json:"id_token_alg"`
	ThirdParty             bool     `json:"third_party"`
	Scopes                 []string `json:"scopes"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
}

// ClientChanges are a client's editable fields; nil leaves one as it is.
type ClientChanges struct {
	Name                   *string   `json:"name,omitempty"`
	RedirectURIs           *[]string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris,omitempty"`
	MinACR                 *string   `json:"min_acr,omitempty"`
	Scopes                 *[]string `json:"scopes,omitempty"`
	BackchannelLogoutURI   *string   `json:"backchannel_logout_uri,omitempty"`
	Disabled               *bool     `json:"disabled,omitempty"`
}

// ValidateClient checks a client's fields as `tessera client create` and the console do.
func ValidateClient(typ, name string, redirects, postLogout []string, minACR, alg string, scopes []string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > 120 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return bad("name", "client_name", "use a name of 1 to 120 characters on one line")
	}
	if !slices.Contains([]string{store.ClientWeb, store.ClientPublic, store.ClientService}, typ) {
		return bad("type", "client_type", "use web, public or service")
	}
	if alg != "" && !slices.Contains(keys.Algorithms, jose.SignatureAlgorithm(alg)) {
		return bad("id_token_alg", "alg", "use ES256, RS256 or EdDSA")
	}
	if minACR != "" && authn.ACRRank(minACR) < 0 {
		return bad("min_acr", "acr", "use one of %s", strings.Join(authn.ACRValues, ", "))
	}
	if typ == store.ClientService && (len(redirects) > 0 || len(postLogout) > 0) {
		return bad("redirect_uris", "service_redirect", "a service client signs nobody in: it takes no redirect URIs")
	}
	if typ != store.ClientService && len(redirects) == 0 {
		return bad("redirect_uris", "redirect_needed", "a %s client needs at least one redirect URI", typ)
	}
	for _, u := range redirects {
		if err := oidcop.ValidateRedirectURI(u); err != nil {
			return bad("redirect_uris", "redirect", "%v", err)
		}
	}
	for _, u := range postLogout {
		if err := oidcop.ValidateRedirectURI(u); err != nil {
			return bad("post_logout_redirect_uris", "redirect", "%v", err)
		}
	}
	for _, sc := range scopes {
		if !slices.Contains(store.AdminScopes, sc) {
			return bad("scopes", "scope", "grantable scopes are %s", strings.Join(store.AdminScopes, ", "))
		}
		if typ != store.ClientService {
			return bad("scopes", "scope_service", "only a service client may hold admin scopes")
		}
	}
	return nil
}

// validateBackchannel checks a back-channel logout URI: a redirect-URI-shaped address (https, or
// http on a loopback address) for a client that signs people in; "" for none.
func validateBackchannel(typ, uri string) error {
	if uri == "" {
		return nil
	}
	if typ == store.ClientService {
		return bad("backchannel_logout_uri", "service_backchannel", "a service client signs nobody in: it takes no back-channel logout URI")
	}
	if err := oidcop.ValidateRedirectURI(uri); err != nil {
		return bad("backchannel_logout_uri", "redirect", "%v", err)
	}
	return nil
}

func cleanList(l []string) []string {
	out := []string{}
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// CreateClient registers a client; the secret (web and service clients) is returned once and
// never again.
func (s *Service) CreateClient(ctx context.Context, a Actor, spec ClientSpec) (*Client, string, error) {
	if _, err := s.tenant(ctx, a); err != nil {
		return nil, "", err
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Type == "" {
		spec.Type = store.ClientWeb
	}
	spec.RedirectURIs, spec.PostLogoutRedirectURIs, spec.Scopes = cleanList(spec.RedirectURIs), cleanList(spec.PostLogoutRedirectURIs), cleanList(spec.Scopes)
	spec.BackchannelLogoutURI = strings.TrimSpace(spec.BackchannelLogoutURI)
	err := ValidateClient(spec.Type, spec.Name, spec.RedirectURIs, spec.PostLogoutRedirectURIs, spec.MinACR, spec.IDTokenAlg, spec.Scopes)
	if err == nil {
		err = validateBackchannel(spec.Type, spec.BackchannelLogoutURI)
	}
	if err != nil {
		return nil, "", s.outcome(ctx, a, "client.created", "", "", err)
	}
	c := &store.Client{TenantID: a.TenantID, Name: spec.Name, Type: spec.Type, FirstParty: !spec.ThirdParty,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, IDTokenAlg: spec.IDTokenAlg,
		MinACR: spec.MinACR, Scopes: spec.Scopes, BackchannelLogoutURI: spec.BackchannelLogoutURI}
	var value string
	if spec.Type != store.ClientPublic {
		value = secret.RandomToken(32)
		c.SecretHash = s.Secrets.Sum(value)
	}
	if err := s.st.CreateClient(ctx, c); err != nil {
		return nil, "", s.outcome(ctx, a, "client.created", "", "", err)
	}
	s.audit.Record(ctx, &store.AuditEvent{TenantID: a.TenantID, Event: "client.created", Result: "ok", ActorID: a.id(),
		SubjectID: c.ID, ClientID: a.ClientID, Detail: "type=" + c.Type + " scopes=" + strings.Join(c.Scopes, ",")})
	out := clientOf(c)
	return &out, value, nil
}

// UpdateClient edits a client's name, redirect URIs, post-logout URIs, minimum acr, admin scopes
// or disables / enables it.
func (s *Service) UpdateClient(ctx context.Context, a Actor, id string, ch ClientChanges) (*Client, error) {
	c, err := s.st.TenantClient(ctx, a.TenantID, id)
	if err != nil {
		return nil, s.outcome(ctx, a, "client.updated", id, "", err)
	}
	next := *c
	var changed []string
	if ch.Name != nil {
		next.Name = strings.TrimSpace(*ch.Name)
		changed = append(changed, "name")
	}
	if ch.RedirectURIs != nil {
		next.RedirectURIs = cleanList(*ch.RedirectURIs)
		changed = append(changed, "redirect_uris")
	}
	if ch.PostLogoutRedirectURIs != nil {
		next.PostLogoutRedirectURIs = cleanList(*ch.PostLogoutRedirectURIs)
		changed = append(changed, "post_logout_redirect_uris")
	}
	if ch.MinACR != nil {
		next.MinACR = *ch.MinACR
		changed = append(changed, "min_acr="+next.MinACR)
	}
	if ch.Scopes != nil {
		next.Scopes = cleanList(*ch.Scopes)
		changed = append(changed, "scopes="+strings.Join(next.Scopes, ","))
	}
	if ch.Disabled != nil {
		next.Disabled = *ch.Disabled
		changed = append(changed, fmt.Sprintf("disabled=%t", next.Disabled))
	}
	if ch.BackchannelLogoutURI != nil {
		next.BackchannelLogoutURI = strings.TrimSpace(*ch.BackchannelLogoutURI)
		changed = append(changed, "backchannel_logout_uri="+next.BackchannelLogoutURI)
	}
	err = ValidateClient(next.Type, next.Name, next.RedirectURIs, next.PostLogoutRedirectURIs, next.MinACR, next.IDTokenAlg, next.Scopes)
	if err == nil {
		err = validateBackchannel(next.Type, next.BackchannelLogoutURI)
	}
	if err != nil {
		return nil, s.outcome(ctx, a, "client.updated", id, "", err)
	}
	rl, pl, sl := store.StringList(next.RedirectURIs), store.StringList(next.PostLogoutRedirectURIs), store.StringList(next.Scopes)
	if err := s.st.UpdateClient(ctx, a.TenantID, id, store.ClientChanges{Name: &next.Name, RedirectURIs: &rl,
		PostLogoutRedirectURIs: &pl, MinACR: &next.MinACR, Scopes: &sl, Disabled: &next.Disabled,
		BackchannelLogoutURI: &next.BackchannelLogoutURI}); err != nil {
		return nil, s.outcome(ctx, a, "client.updated", id, "", err)
	}
	s.record(ctx, a, "client.updated", id, "ok", strings.Join(changed, " "))
	out := clientOf(&next)
	return &out, nil
}

// RotateSecret gives a confidential or service client a new secret, returned once; the old one
// stops working at once.
func (s *Service) RotateSecret(ctx context.Context, a Actor, id string) (string, error) {
	c, err := s.st.TenantClient(ctx, a.TenantID, id)
	if err == nil && c.Type == store.ClientPublic {
		err = bad("type", "public_secret", "a public client has no secret")
	}
	if err != nil {
		return "", s.outcome(ctx, a, "client.secret_rotated", id, "", err)
	}
	value := secret.RandomToken(32)
	hash := s.Secrets.Sum(value)
	if err := s.st.UpdateClient(ctx, a.TenantID, id, store.ClientChanges{SecretHash: &hash}); err != nil {
		return "", s.outcome(ctx, a, "client.secret_rotated", id, "", err)
	}
	s.record(ctx, a, "client.secret_rotated", id, "ok", "")
	return value, nil
}

// ---- audit trail ----

// Event is one audit row as the console and the API show it.
type Event struct {
	ID        int64  `json:"id"`
	At        string `json:"at"` // RFC 3339
	Event     string `json:"event"`
	Result    string `json:"result"`
	ActorID   string `json:"actor_id"`
	SubjectID string `json:"subject_id"`
	ClientID  string `json:"client_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Detail    string `json:"detail"`
}

// MembersPageSize is how many people one page of the console's member list holds.
const MembersPageSize = 50

// AuditPageSize is how many events one page of the audit search holds.
const AuditPageSize = 50

// Audit searches the actor's tenant's audit trail, newest first. next is the BeforeID of the next
// (older) page, 0 when there is none.
func (s *Service) Audit(ctx context.Context, a Actor, f store.AuditFilter) (events []Event, next int64, err error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = AuditPageSize
	}
	want := f.Limit
	f.Limit++
	es, err := s.st.SearchAudit(ctx, a.TenantID, f)
	if err != nil {
		return nil, 0, err
	}
	if len(es) > want {
		es = es[:want]
		next = es[want-1].ID
	}
	events = make([]Event, 0, len(es))
	for _, e := range es {
		events = append(events, Event{ID: e.ID, At: time.Unix(e.At, 0).UTC().Format(time.RFC3339), Event: e.Event, Result: e.Result,
			ActorID: e.ActorID, SubjectID: e.SubjectID, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail})
	}
	return events, next, nil
}
