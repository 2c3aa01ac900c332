-- +goose Up
-- When the person first signed in from a browser Tessera recorded (known_browsers). The first
-- browser gets no "new browser" notice; setting this once, with a conditional UPDATE, decides
-- "first" exactly once across nodes without a lock and without counting rows.
ALTER TABLE users ADD COLUMN first_browser_at BIGINT;
UPDATE users SET first_browser_at = (SELECT MIN(first_seen) FROM known_browsers WHERE known_browsers.user_id = users.id)
WHERE EXISTS (SELECT 1 FROM known_browsers WHERE known_browsers.user_id = users.id);

-- +goose Down
ALTER TABLE users DROP COLUMN first_browser_at;
