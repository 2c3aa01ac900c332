-- +goose Up
-- Browsers each person has signed in from: a random token in a long-lived cookie
-- (tessera_browser), stored as a keyed hash. A sign-in from a browser not listed for the person
-- emails them a notice (unless it is the account's very first).
CREATE TABLE known_browsers (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    UNIQUE (user_id, token_hash)
);
CREATE INDEX known_browsers_last_seen ON known_browsers (last_seen);

-- +goose Down
DROP TABLE known_browsers;
