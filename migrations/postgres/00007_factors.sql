-- +goose Up
-- Second factors a person enrolled. Secrets (TOTP seeds) are sealed with the server's key, bound
-- to the row id; active becomes true only after the person proves the factor works.
CREATE TABLE factors (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    tenant_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    label          TEXT NOT NULL DEFAULT '',
    secret_sealed  BYTEA,
    active         BOOLEAN NOT NULL DEFAULT FALSE,
    is_default     BOOLEAN NOT NULL DEFAULT FALSE,
    last_step      BIGINT NOT NULL DEFAULT 0,
    last_used_at   BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX factors_user ON factors (user_id);

-- +goose Down
DROP TABLE factors;
