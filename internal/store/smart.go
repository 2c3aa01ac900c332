package store

import "context"

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
