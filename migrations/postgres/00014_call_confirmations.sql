-- +goose Up
-- "Press 1 to confirm": a call placed during a sign-in asks the person to press 1 (or 9 if it
-- was not them). The provider posts the key to a URL carrying a random token; only its keyed
-- hash is kept here. The row belongs to one browser session and one authorization request, is
-- answered at most once (answered_at, result 'approved' or 'denied') before expires_at, and an
-- approval is spent at most once (consumed_at) by the browser that asked for the call.
CREATE TABLE call_confirmations (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    session_id      TEXT NOT NULL,
    auth_request_id TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    locale          TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    result          TEXT NOT NULL DEFAULT '',
    consumed_at     BIGINT
);
CREATE INDEX call_confirmations_request ON call_confirmations (session_id, auth_request_id);
CREATE INDEX call_confirmations_expires ON call_confirmations (expires_at);

-- +goose Down
DROP TABLE call_confirmations;
