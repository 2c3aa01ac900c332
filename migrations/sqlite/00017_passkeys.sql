-- +goose Up
-- Passkeys (WebAuthn credentials). Each has a row in factors (kind 'passkey', label = the name
-- the person gave it), so the account list and the sign-in's state machine see it like any other
-- factor; removing that row removes the credential with it.
CREATE TABLE passkeys (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id),
    tenant_id         TEXT NOT NULL,
    factor_id         TEXT NOT NULL REFERENCES factors(id) ON DELETE CASCADE,
    credential_id     TEXT NOT NULL UNIQUE, -- base64url, no padding
    public_key        BLOB NOT NULL,       -- COSE key
    sign_count        BIGINT NOT NULL DEFAULT 0,
    aaguid            TEXT NOT NULL DEFAULT '',
    transports        TEXT NOT NULL DEFAULT '',
    attestation_type  TEXT NOT NULL DEFAULT '',
    hardware          BOOLEAN NOT NULL DEFAULT FALSE, -- attested, device-bound hardware (amr hwk)
    backup_eligible   BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state      BOOLEAN NOT NULL DEFAULT FALSE,
    name              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);
CREATE INDEX passkeys_factor ON passkeys (factor_id);

-- A WebAuthn ceremony between its begin and its finish: the challenge and what it was begun for,
-- bound to the browser by a random cookie stored here only as a keyed hash, used once.
CREATE TABLE webauthn_ceremonies (
    id               TEXT PRIMARY KEY, -- keyed hash of the browser's cookie
    purpose          TEXT NOT NULL,    -- register, mfa, login
    user_id          TEXT NOT NULL DEFAULT '',
    auth_request_id  TEXT NOT NULL DEFAULT '',
    data             TEXT NOT NULL,    -- go-webauthn SessionData, JSON
    name             TEXT NOT NULL DEFAULT '',
    expires_at       BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- When the person last passed a second factor other than a passkey (a code, an authenticator
-- app, a backup code): passkey-only sign-ins count as MFA for the tenant's window after it.
ALTER TABLE users ADD COLUMN last_other_mfa_at BIGINT;

-- +goose Down
ALTER TABLE users DROP COLUMN last_other_mfa_at;
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
