-- +goose Up
-- Per-tenant one-time-code lifetimes (minutes; NULL: the server's codes.* setting) and the
-- second factors patients may choose (space-separated kinds; '': every one the server offers).
ALTER TABLE tenants ADD COLUMN sms_code_minutes INTEGER;
ALTER TABLE tenants ADD COLUMN email_code_minutes INTEGER;
ALTER TABLE tenants ADD COLUMN patient_factors TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenants DROP COLUMN patient_factors;
ALTER TABLE tenants DROP COLUMN email_code_minutes;
ALTER TABLE tenants DROP COLUMN sms_code_minutes;
