-- +goose Up
-- Wrong second-factor answers, one counter per person across every application and node
-- (seed 002): the seventh locks the account until an administrator unlocks it.
ALTER TABLE users ADD COLUMN mfa_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_at BIGINT;

-- +goose Down
ALTER TABLE users DROP COLUMN locked_at;
ALTER TABLE users DROP COLUMN mfa_failures;
