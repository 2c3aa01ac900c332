-- +goose Up
-- Where a person who is stuck (a locked account, a lost phone) can get help: the practice's own
-- words, shown as plain text on those pages ("Call Riverside Health at 555-0100, Monday to
-- Friday 8–6"). Empty: the pages say "contact your practice".
ALTER TABLE tenants ADD COLUMN help_contact TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenants DROP COLUMN help_contact;
