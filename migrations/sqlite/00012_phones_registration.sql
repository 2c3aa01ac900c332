-- +goose Up
-- Phone numbers are parsed with the tenant's own region when typed without a country code; the
-- line type the number was judged by is kept with it (SMS only to mobile lines).
ALTER TABLE tenants ADD COLUMN phone_region TEXT NOT NULL DEFAULT 'US';
-- Self-service registration is off unless the tenant turns it on.
ALTER TABLE tenants ADD COLUMN self_registration BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN phone_line_type TEXT NOT NULL DEFAULT '';
-- When this browser session last passed a second factor: the account pages ask for a fresh one
-- before a factor is added, changed or removed.
ALTER TABLE sessions ADD COLUMN mfa_at BIGINT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN mfa_at;
ALTER TABLE users DROP COLUMN phone_line_type;
ALTER TABLE tenants DROP COLUMN self_registration;
ALTER TABLE tenants DROP COLUMN phone_region;
