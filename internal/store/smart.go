package store

import "context"

// ClientSettings are the settings `tessera client update` may change; nil fields are kept.
type ClientSettings struct {
	AllowedScopes                    *string
	BackchannelLogoutURI             *string
	BackchannelLogoutSessionRequired *bool
	RedirectURIs                     *StringList
	PostLogoutRedirectURIs           *StringList
}

// UpdateClient changes a client's settings; an unknown client is ErrNotFound.
func (s *Store) UpdateClient(ctx context.Context, id string, c ClientSettings) error {
	upd := map[string]any{"updated_at": s.unix()}
	if c.AllowedScopes != nil {
		upd["allowed_scopes"] = *c.AllowedScopes
	}
	if c.BackchannelLogoutURI != nil {
		upd["backchannel_logout_uri"] = *c.BackchannelLogoutURI
	}
	if c.BackchannelLogoutSessionRequired != nil {
		upd["backchannel_logout_session_required"] = *c.BackchannelLogoutSessionRequired
	}
	if c.RedirectURIs != nil {
		upd["redirect_uris"] = *c.RedirectURIs
	}
	if c.PostLogoutRedirectURIs != nil {
		upd["post_logout_redirect_uris"] = *c.PostLogoutRedirectURIs
	}
	res := s.db.WithContext(ctx).Model(&Client{}).Where("id = ?", id).Updates(upd)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetFHIRUser sets a person's fhirUser (the SMART claim); "" clears it.
func (s *Store) SetFHIRUser(ctx context.Context, userID, fhirUser string) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"fhir_user": fhirUser, "updated_at": s.unix()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
