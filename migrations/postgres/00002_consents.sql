-- +goose Up
-- What a person allowed a third-party application to receive. First-party applications (the
-- tenant's own portals) never ask.
CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users(id),
    client_id   TEXT NOT NULL,
    scopes      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- +goose Down
DROP TABLE consents;
