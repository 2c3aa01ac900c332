-- +goose Up
-- Failed password attempts per (account, client address) and per client address. They slow
-- guessing down with a growing delay and never lock the account (NIST SP 800-63B §5.2.2).
CREATE TABLE login_throttle (
    key            TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_at        BIGINT NOT NULL,
    blocked_until  BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE login_throttle;
