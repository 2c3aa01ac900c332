-- +goose Up
-- "Don't ask for a code on this device": a random token in a long-lived cookie, stored here as a
-- keyed hash, bound to the person, the sign-in method and the network it was given on.
CREATE TABLE remembered_devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    tenant_id     TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    method        TEXT NOT NULL,
    network       TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX remembered_devices_user ON remembered_devices (user_id);

-- +goose Down
DROP TABLE remembered_devices;
