-- +goose Up
-- "Forgot password?" links: single use, 30 minutes, stored as keyed hashes.
CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- +goose Down
DROP TABLE password_resets;
