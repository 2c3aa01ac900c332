-- +goose Up
-- Access tokens are no longer recorded one row each (a JWT carries its own expiry, client,
-- scopes, session and grant, and is verified by signature). What is revoked is listed here
-- instead, by id: an access token's jti (RFC 7009), an SSO session, or a grant (the
-- authorization request a code came from, and its refresh family). A token is live while none
-- of its ids is listed; rows go once every token they could cover has expired.
CREATE TABLE token_revocations (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    revoked_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX token_revocations_expires ON token_revocations (expires_at);
DROP TABLE access_tokens;

-- +goose Down
DROP TABLE token_revocations;
CREATE TABLE access_tokens (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL DEFAULT '',
    subject          TEXT NOT NULL,
    scopes           TEXT NOT NULL DEFAULT '',
    auth_request_id  TEXT NOT NULL DEFAULT '',
    refresh_family   TEXT NOT NULL DEFAULT '',
    session_id       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    revoked_at       BIGINT
);
CREATE INDEX access_tokens_auth_request ON access_tokens (auth_request_id);
CREATE INDEX access_tokens_family ON access_tokens (refresh_family);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
