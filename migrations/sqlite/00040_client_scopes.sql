-- +goose Up
-- The scopes a service client may ask for beyond the standard ones: today the admin API's
-- (admin:read, admin:write), granted only by an administrator (CLI or admin console). A JSON
-- array like redirect_uris.
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE clients DROP COLUMN scopes;
