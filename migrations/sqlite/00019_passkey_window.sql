-- +goose Up
-- Passkey-only sign-ins count as multi-factor for this many days after the person's last other
-- second factor (seed 004: 90); then one code or app check is asked and the window restarts.
ALTER TABLE tenants ADD COLUMN passkey_mfa_days INTEGER NOT NULL DEFAULT 90;

-- +goose Down
ALTER TABLE tenants DROP COLUMN passkey_mfa_days;
