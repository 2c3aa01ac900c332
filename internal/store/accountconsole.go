package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// What the account console reads and changes for the signed-in person: their profile, their
// sessions, the applications they connected. Every method is scoped by the person's own id, so a
// form naming someone else's session or client finds nothing.

// UpdateProfileName sets a person's names (full, given, family).
func (s *Store) UpdateProfileName(ctx context.Context, userID, name, given, family string) error {
	return s.updateUser(ctx, userID, map[string]any{"name": name, "given_name": given, "family_name": family})
}

// UpdateLocale sets the person's preferred language ("" for the browser's).
func (s *Store) UpdateLocale(ctx context.Context, userID, locale string) error {
	return s.updateUser(ctx, userID, map[string]any{"locale": locale})
}

func (s *Store) updateUser(ctx context.Context, userID string, upd map[string]any) error {
	upd["updated_at"] = s.unix()
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).Updates(upd)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ChangeEmail sets a person's email address, already proved by a code sent to it (so it is
// verified). An address another person of the tenant has is ErrConflict, checked by the
// database's unique index, so two people racing for one address cannot both get it.
func (s *Store) ChangeEmail(ctx context.Context, userID, email string) error {
	email = strings.TrimSpace(email)
	err := s.updateUser(ctx, userID, map[string]any{"email": email, "email_lower": strings.ToLower(email), "email_verified": true})
	if isUnique(err) {
		return ErrConflict
	}
	return err
}

// EmailTaken reports whether another person of the tenant has the address.
func (s *Store) EmailTaken(ctx context.Context, tenantID, userID, email string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Where("tenant_id = ? AND email_lower = ? AND id <> ?",
		tenantID, strings.ToLower(strings.TrimSpace(email)), userID).Count(&n).Error
	return n > 0, err
}

// LiveSessions lists a person's SSO sessions that are still usable (not ended, not expired, used
// within idle), the most recently used first.
func (s *Store) LiveSessions(ctx context.Context, userID string, idle time.Duration) ([]Session, error) {
	now := s.unix()
	var ss []Session
	err := s.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_seen_at > ?",
		userID, now, now-int64(idle/time.Second)).Order("last_seen_at DESC, id").Find(&ss).Error
	return ss, err
}

// EndUserSession ends one of a person's sessions (and the tokens issued under it). Another
// person's session, or one already ended, is ErrNotFound.
func (s *Store) EndUserSession(ctx context.Context, userID, sessionID string) error {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL", sessionID, userID).
		Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return s.RevokeSession(ctx, sessionID)
}

// SignedOut is what SignOutEverywhere ended: the sessions (their ids are the "sid" of the ID
// tokens issued in them) and the clients that held refresh tokens — what a back-channel logout
// notification would need to tell each relying party.
type SignedOut struct {
	Sessions []string
	Clients  []string
}

// SignOutEverywhere is "Sign out everywhere": in one transaction it ends every SSO session of the
// person, revokes every refresh-token family they hold (with the access tokens issued with them)
// and forgets their remembered devices (endUserTx, which also queues the relying parties'
// back-channel logout), and says which sessions and applications it ended.
func (s *Store) SignOutEverywhere(ctx context.Context, userID string) (*SignedOut, error) {
	now := s.unix()
	out := &SignedOut{}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out.Clients = nil
		// Which applications held tokens: read before endUserTx revokes them.
		if err := tx.Model(&RefreshToken{}).Where("user_id = ? AND revoked_at IS NULL", userID).Distinct().Order("client_id").Pluck("client_id", &out.Clients).Error; err != nil {
			return err
		}
		var err error
		out.Sessions, err = s.endUserTx(tx, userID, now)
		return err
	})
	return out, err
}

// ConnectedApp is a client a person gave consent to or holds a live refresh token for.
type ConnectedApp struct {
	Client *Client
	Scopes []string
	// Since is when the person first consented or first got a live token; LastUsed the newest
	// refresh-token link (0 when the application keeps no refresh token).
	Since, LastUsed int64
	Consented       bool
	Offline         bool // holds a live refresh token: it can reach the person's data while they are away
}

// ConnectedApps lists the person's connected applications (the console's own client excluded),
// by name.
func (s *Store) ConnectedApps(ctx context.Context, tenantID, userID string) ([]ConnectedApp, error) {
	now := s.unix()
	var consents []Consent
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Find(&consents).Error; err != nil {
		return nil, err
	}
	var tokens []RefreshToken
	if err := s.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ? AND family_expires_at > ?",
		userID, now, now).Find(&tokens).Error; err != nil {
		return nil, err
	}
	apps := map[string]*ConnectedApp{}
	get := func(clientID string, at int64) *ConnectedApp {
		a := apps[clientID]
		if a == nil {
			a = &ConnectedApp{Since: at}
			apps[clientID] = a
		}
		a.Since = min(a.Since, at)
		return a
	}
	addScopes := func(a *ConnectedApp, scopes []string) {
		for _, sc := range scopes {
			if !slices.Contains(a.Scopes, sc) {
				a.Scopes = append(a.Scopes, sc)
			}
		}
	}
	for _, c := range consents {
		a := get(c.ClientID, c.CreatedAt)
		a.Consented = true
		addScopes(a, SplitList(c.Scopes))
	}
	for _, rt := range tokens {
		a := get(rt.ClientID, rt.CreatedAt)
		a.Offline = true
		a.LastUsed = max(a.LastUsed, rt.CreatedAt)
		addScopes(a, SplitList(rt.Scopes))
	}
	var out []ConnectedApp
	for id, a := range apps {
		if id == AccountClientID(tenantID) {
			continue
		}
		c, err := s.ClientByID(ctx, id)
		if err != nil || c.TenantID != tenantID {
			continue // a client since deleted, or not of this tenant: nothing to show or remove
		}
		a.Client = c
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b ConnectedApp) int {
		return strings.Compare(strings.ToLower(a.Client.Name), strings.ToLower(b.Client.Name))
	})
	return out, nil
}

// RemoveAppAccess is "Remove access": in one transaction it forgets the person's consent for
// the client, revokes every refresh-token family the client holds for them, and lists the
// client's grants for them as revoked, so its access tokens stop working too. The next sign-in
// to the application asks for consent again.
func (s *Store) RemoveAppAccess(ctx context.Context, userID, clientID string) error {
	now := s.unix()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{}).Error; err != nil {
			return err
		}
		var families []string
		if err := tx.Model(&RefreshToken{}).Where("user_id = ? AND client_id = ?", userID, clientID).Distinct().Pluck("family_id", &families).Error; err != nil {
			return err
		}
		if err := s.revokeFamilies(tx, families, now); err != nil {
			return err
		}
		var grants []string
		if err := tx.Model(&AuthRequest{}).Where("user_id = ? AND client_id = ?", userID, clientID).Pluck("id", &grants).Error; err != nil {
			return err
		}
		return s.revokeIDs(tx, RevokedGrant, grants, now, 0)
	})
}

// endUserTx ends everything a person is signed in with, in the caller's transaction: every live
// SSO session (put on the revocation list, with back-channel logout tokens queued for the
// relying parties each signed in to), every refresh-token family (with the access tokens issued
// from them) and every remembered device. Sign out everywhere, a password reset, and an
// administrator's revoke, disable and MFA reset all end a person this one way, so none of them
// can forget a part (the relying parties' logout among them). It returns the ended sessions.
func (s *Store) endUserTx(tx *gorm.DB, userID string, now int64) ([]string, error) {
	var sessions []string
	if err := tx.Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Order("id").Pluck("id", &sessions).Error; err != nil {
		return nil, err
	}
	if err := tx.Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now).Error; err != nil {
		return nil, err
	}
	if err := s.revokeIDs(tx, RevokedSession, sessions, now, 0); err != nil {
		return nil, err
	}
	if err := s.queueLogouts(tx, sessions, now); err != nil { // back-channel logout (logout.go)
		return nil, err
	}
	var families []string
	if err := tx.Model(&RefreshToken{}).Where("user_id = ? AND revoked_at IS NULL", userID).Distinct().Pluck("family_id", &families).Error; err != nil {
		return nil, err
	}
	if err := s.revokeFamilies(tx, families, now); err != nil {
		return nil, err
	}
	if err := tx.Model(&RememberedDevice{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now).Error; err != nil {
		return nil, err
	}
	return sessions, nil
}
