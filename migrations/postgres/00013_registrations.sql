-- +goose Up
-- Self-service registration: a pending account until both the mobile number (SMS code) and the
-- email address (emailed code) are verified. The user row is created only then, in the same
-- transaction that deletes this one, so nothing is half-written. The browser is found by the
-- keyed hash of its registration cookie; failures counts wrong codes (five void it).
CREATE TABLE registrations (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    browser_hash      TEXT NOT NULL UNIQUE,
    email             TEXT NOT NULL,
    email_lower       TEXT NOT NULL,
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    phone             TEXT NOT NULL,
    phone_line_type   TEXT NOT NULL DEFAULT '',
    failures          INTEGER NOT NULL DEFAULT 0,
    phone_verified_at BIGINT,
    email_verified_at BIGINT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);
CREATE INDEX registrations_expires ON registrations (expires_at);
-- A registration's codes are keyed by the registration, which is not a user yet: one-time codes
-- no longer reference users (otp_sends never did).
ALTER TABLE otp_codes DROP CONSTRAINT IF EXISTS otp_codes_user_id_fkey;

-- +goose Down
DELETE FROM otp_codes WHERE user_id NOT IN (SELECT id FROM users);
ALTER TABLE otp_codes ADD CONSTRAINT otp_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id);
DROP TABLE registrations;
