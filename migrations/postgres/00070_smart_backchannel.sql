-- +goose Up
-- SMART App Launch and OpenID Connect Back-Channel Logout 1.0.
-- allowed_scopes: the scopes a client may be granted, space separated ('' keeps the standard
-- OpenID scopes only, as before). fhir_user: the person's FHIR resource (fhirUser claim).
ALTER TABLE clients ADD COLUMN allowed_scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN fhir_user TEXT NOT NULL DEFAULT '';

-- Which clients a session issued codes to: the relying parties to tell when it ends.
CREATE TABLE session_clients (
    session_id  TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

-- The durable queue of logout tokens to send. A row is claimed by one node at a time with a
-- conditional UPDATE (claimed_until), retried with backoff until delivered or out of attempts.
CREATE TABLE logout_deliveries (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    uri              TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    claimed_until    BIGINT NOT NULL DEFAULT 0,
    result           TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    done_at          BIGINT
);
CREATE UNIQUE INDEX logout_deliveries_session_client ON logout_deliveries (session_id, client_id);
CREATE INDEX logout_deliveries_due ON logout_deliveries (result, next_attempt_at);

-- +goose Down
DROP TABLE logout_deliveries;
DROP TABLE session_clients;
ALTER TABLE users DROP COLUMN fhir_user;
ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN allowed_scopes;
