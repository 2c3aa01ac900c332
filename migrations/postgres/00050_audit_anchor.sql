-- +goose Up
-- Audit retention: events older than the retention period are purged from the start of each
-- tenant's chain. The anchor is the last purged link (its seq and hash) with a keyed MAC over
-- it, so `tessera audit verify` checks the rest of the chain from there, and a prefix removed
-- without a matching anchor — or an anchor someone edited — is still reported.
ALTER TABLE audit_heads ADD COLUMN anchor_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_heads ADD COLUMN anchor_mac TEXT NOT NULL DEFAULT '';
-- The account console's activity page: what a person did (actor), beside what was done to them
-- (subject, indexed since the start).
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq);

-- +goose Down
DROP INDEX audit_events_actor;
ALTER TABLE audit_heads DROP COLUMN anchor_mac;
ALTER TABLE audit_heads DROP COLUMN anchor_hash;
ALTER TABLE audit_heads DROP COLUMN anchor_seq;
