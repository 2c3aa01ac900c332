-- +goose Up
-- Each tenant's audit events form a chain: a sequence number without gaps and a keyed hash over
-- the previous row's hash and this row, so a changed, removed or reordered row is detected
-- (`tessera audit verify`). audit_heads keeps each chain's last link, so removing the newest
-- rows is detected too.
ALTER TABLE audit_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX audit_events_chain ON audit_events (tenant_id, seq);

CREATE TABLE audit_heads (
    tenant_id  TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP INDEX audit_events_chain;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
ALTER TABLE audit_events DROP COLUMN seq;
