-- +goose Up
-- Times are Unix seconds (BIGINT) on every backend so comparisons behave the same on SQLite and
-- PostgreSQL; ids are opaque random strings.

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_lower    TEXT NOT NULL UNIQUE,
    mfa_mode      TEXT NOT NULL DEFAULT 'optional',
    enforce_from  BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE practices (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    practice_id     TEXT REFERENCES practices(id),
    email           TEXT NOT NULL,
    email_lower     TEXT NOT NULL,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT NOT NULL DEFAULT '',
    given_name      TEXT NOT NULL DEFAULT '',
    family_name     TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    phone_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL DEFAULT '',
    locale          TEXT NOT NULL DEFAULT '',
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (tenant_id, email_lower)
);
CREATE INDEX users_phone ON users (tenant_id, phone);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    tenant_id                  TEXT NOT NULL REFERENCES tenants(id),
    name                       TEXT NOT NULL,
    type                       TEXT NOT NULL,
    secret_hash                TEXT NOT NULL DEFAULT '',
    redirect_uris              TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris  TEXT NOT NULL DEFAULT '[]',
    id_token_alg               TEXT NOT NULL DEFAULT '',
    first_party                BOOLEAN NOT NULL DEFAULT TRUE,
    min_acr                    TEXT NOT NULL DEFAULT '',
    disabled                   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    id              TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    private_sealed  BYTEA NOT NULL,
    public_jwk      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    active_from     BIGINT NOT NULL,
    retired_at      BIGINT
);

CREATE TABLE auth_requests (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    params           TEXT NOT NULL,
    user_id          TEXT NOT NULL DEFAULT '',
    session_id       TEXT NOT NULL DEFAULT '',
    auth_time        BIGINT NOT NULL DEFAULT 0,
    amr              TEXT NOT NULL DEFAULT '',
    acr              TEXT NOT NULL DEFAULT '',
    done             BOOLEAN NOT NULL DEFAULT FALSE,
    code_hash        TEXT UNIQUE,
    code_expires_at  BIGINT,
    code_used_at     BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    cookie_hash   TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users(id),
    tenant_id     TEXT NOT NULL,
    auth_time     BIGINT NOT NULL,
    amr           TEXT NOT NULL DEFAULT '',
    acr           TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

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

CREATE TABLE refresh_tokens (
    id                 TEXT PRIMARY KEY,
    token_hash         TEXT NOT NULL UNIQUE,
    family_id          TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    scopes             TEXT NOT NULL DEFAULT '',
    audience           TEXT NOT NULL DEFAULT '',
    auth_time          BIGINT NOT NULL,
    amr                TEXT NOT NULL DEFAULT '',
    acr                TEXT NOT NULL DEFAULT '',
    session_id         TEXT NOT NULL DEFAULT '',
    auth_request_id    TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    family_expires_at  BIGINT NOT NULL,
    rotated_at         BIGINT,
    revoked_at         BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_auth_request ON refresh_tokens (auth_request_id);

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL,
    result      TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    subject_id  TEXT NOT NULL DEFAULT '',
    client_id   TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_subject ON audit_events (tenant_id, subject_id, at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE refresh_tokens;
DROP TABLE access_tokens;
DROP TABLE sessions;
DROP TABLE auth_requests;
DROP TABLE signing_keys;
DROP TABLE clients;
DROP TABLE users;
DROP TABLE practices;
DROP TABLE tenants;
