-- +goose Up
-- Remember this device, per tenant: how many days (0 turns the checkbox off), how closely a
-- remembered device is tied to the address it was remembered from (exact, prefix: IPv4 /24 and
-- IPv6 /56, or off), and whether a sign-in on it counts as multi-factor (amr "rmd").
ALTER TABLE tenants ADD COLUMN remember_device_days INTEGER NOT NULL DEFAULT 7 CHECK (remember_device_days >= 0);
ALTER TABLE tenants ADD COLUMN remember_device_network TEXT NOT NULL DEFAULT 'exact'
    CHECK (remember_device_network IN ('exact', 'prefix', 'off'));
ALTER TABLE tenants ADD COLUMN remember_device_mfa BOOLEAN NOT NULL DEFAULT TRUE;
-- Patients may turn MFA off with their password, where the tenant's MFA is optional.
ALTER TABLE tenants ADD COLUMN patients_may_disable_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE tenants DROP COLUMN patients_may_disable_mfa;
ALTER TABLE tenants DROP COLUMN remember_device_mfa;
ALTER TABLE tenants DROP COLUMN remember_device_network;
ALTER TABLE tenants DROP COLUMN remember_device_days;
