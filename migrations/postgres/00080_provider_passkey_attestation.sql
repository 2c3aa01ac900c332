-- +goose Up
-- Passkeys of providers and administrators: "required" asks the browser for direct attestation
-- and refuses a passkey whose attestation statement is missing, self-signed or does not verify;
-- provider_passkey_aaguids (space-separated UUIDs, lower case) then allows only those
-- authenticator models. Patients and staff are never asked for attestation.
ALTER TABLE tenants ADD COLUMN provider_passkey_attestation TEXT NOT NULL DEFAULT 'none';
ALTER TABLE tenants ADD COLUMN provider_passkey_aaguids TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenants DROP COLUMN provider_passkey_aaguids;
ALTER TABLE tenants DROP COLUMN provider_passkey_attestation;
