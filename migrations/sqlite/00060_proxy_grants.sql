-- +goose Up
-- Caregiver (proxy) access: a grant lets one person (the caregiver) act for another (the
-- patient) in applications marked proxy-capable, with full or limited permissions. Limited
-- grants name a scope set (proxy_scope_sets; a tenant without a row for the name uses the
-- built-in default, see internal/proxy). Grants are never edited: they are revoked, or expire.
CREATE TABLE proxy_grants (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    patient_id    TEXT NOT NULL,
    caregiver_id  TEXT NOT NULL,
    access        TEXT NOT NULL,
    scope_set     TEXT NOT NULL DEFAULT '',
    expires_at    BIGINT,
    reason        TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoked_by    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX proxy_grants_caregiver ON proxy_grants (caregiver_id);
CREATE INDEX proxy_grants_patient ON proxy_grants (patient_id);
CREATE INDEX proxy_grants_tenant ON proxy_grants (tenant_id);

-- A patient's invitation of a caregiver by email: single use, stored as a keyed hash.
CREATE TABLE proxy_invitations (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    patient_id        TEXT NOT NULL,
    email             TEXT NOT NULL,
    access            TEXT NOT NULL,
    scope_set         TEXT NOT NULL DEFAULT '',
    grant_expires_at  BIGINT,
    token_hash        TEXT NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    accepted_at       BIGINT,
    accepted_by       TEXT NOT NULL DEFAULT '',
    grant_id          TEXT NOT NULL DEFAULT '',
    revoked_at        BIGINT
);
CREATE INDEX proxy_invitations_patient ON proxy_invitations (patient_id);

-- Named scope sets for limited grants, per tenant.
CREATE TABLE proxy_scope_sets (
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Clients that may receive patient-context tokens (the chooser is shown only for them).
ALTER TABLE clients ADD COLUMN proxy BOOLEAN NOT NULL DEFAULT FALSE;
-- The grant the person chose to act under ('' = for themselves).
ALTER TABLE auth_requests ADD COLUMN proxy_grant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN proxy_grant_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE refresh_tokens DROP COLUMN proxy_grant_id;
ALTER TABLE auth_requests DROP COLUMN proxy_grant_id;
ALTER TABLE clients DROP COLUMN proxy;
DROP TABLE proxy_scope_sets;
DROP TABLE proxy_invitations;
DROP TABLE proxy_grants;
