package store

import (
	"context"
	"slices"

	"gorm.io/gorm/clause"
)

// The account console (/account) is a relying party of Tessera like any other: each tenant has
// one built-in, first-party public client for it. Its id is derived from the tenant's, so every
// node, however many start it at once, names the same row, and the primary key settles races.

// AccountClientName is the display name of a tenant's built-in account-console client.
const AccountClientName = "Account"

// AccountClientID is the client_id of a tenant's account-console client.
func AccountClientID(tenantID string) string { return "account-" + tenantID }

// EnsureAccountClient returns the tenant's account-console client, creating it when missing
// (idempotent: concurrent callers on any number of nodes end with one row). A row whose redirect
// URI no longer matches (the issuer changed) is corrected.
func (s *Store) EnsureAccountClient(ctx context.Context, tenantID, redirectURI string) (*Client, error) {
	return s.ensureBuiltinClient(ctx, Client{ID: AccountClientID(tenantID), TenantID: tenantID, Name: AccountClientName,
		RedirectURIs: StringList{redirectURI}})
}

// ensureBuiltinClient returns a console's own client (a first-party public client with PKCE),
// creating it when missing; its id embeds the tenant's, so every node names the same row and the
// primary key settles races. A row that drifted from what the console needs (redirect URI after
// an issuer change, minimum acr, disabled) is put back.
func (s *Store) ensureBuiltinClient(ctx context.Context, want Client) (*Client, error) {
	now := s.unix()
	c := want
	c.Type, c.FirstParty, c.PostLogoutRedirectURIs, c.CreatedAt, c.UpdatedAt = ClientPublic, true, StringList{}, now, now
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&c).Error; err != nil {
		return nil, err
	}
	got, err := s.ClientByID(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if got.TenantID != want.TenantID {
		return nil, ErrConflict // never: the id embeds the tenant's
	}
	if !slices.Equal(got.RedirectURIs, want.RedirectURIs) || got.MinACR != want.MinACR || got.Disabled {
		if err := s.db.WithContext(ctx).Model(&Client{}).Where("id = ?", c.ID).
			Updates(map[string]any{"redirect_uris": want.RedirectURIs, "min_acr": want.MinACR, "disabled": false, "updated_at": now}).Error; err != nil {
			return nil, err
		}
		got.RedirectURIs, got.MinACR, got.Disabled = want.RedirectURIs, want.MinACR, false
	}
	return got, nil
}

// SoleTenant returns the only tenant when exactly one exists; ErrNotFound when there is none,
// ErrConflict when there are several (the caller must ask which).
func (s *Store) SoleTenant(ctx context.Context) (*Tenant, error) {
	var ts []Tenant
	if err := s.db.WithContext(ctx).Order("id").Limit(2).Find(&ts).Error; err != nil {
		return nil, err
	}
	switch len(ts) {
	case 0:
		return nil, ErrNotFound
	case 1:
		return &ts[0], nil
	}
	return nil, ErrConflict
}
