-- +goose Up
-- Single-use backup codes for a lost phone, stored only as keyed hashes. Regenerating replaces
-- the whole set.
CREATE TABLE backup_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    code_hash  TEXT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX backup_codes_user ON backup_codes (user_id, code_hash);

-- +goose Down
DROP TABLE backup_codes;
