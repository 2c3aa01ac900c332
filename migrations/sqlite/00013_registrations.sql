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
-- no longer reference users (otp_sends never did). SQLite cannot drop a constraint, so the
-- table is rebuilt without it.
CREATE TABLE otp_codes_new (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    spent_at     BIGINT
);
INSERT INTO otp_codes_new (id, user_id, channel, destination, code_hash, created_at, expires_at, spent_at)
    SELECT id, user_id, channel, destination, code_hash, created_at, expires_at, spent_at FROM otp_codes;
DROP TABLE otp_codes;
ALTER TABLE otp_codes_new RENAME TO otp_codes;
CREATE INDEX otp_codes_user ON otp_codes (user_id, channel);

-- +goose Down
CREATE TABLE otp_codes_old (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    channel      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    spent_at     BIGINT
);
INSERT INTO otp_codes_old (id, user_id, channel, destination, code_hash, created_at, expires_at, spent_at)
    SELECT id, user_id, channel, destination, code_hash, created_at, expires_at, spent_at FROM otp_codes
    WHERE user_id IN (SELECT id FROM users);
DROP TABLE otp_codes;
ALTER TABLE otp_codes_old RENAME TO otp_codes;
CREATE INDEX otp_codes_user ON otp_codes (user_id, channel);
DROP TABLE registrations;
