-- +goose Up
-- One-time codes sent by email, SMS or voice, stored only as keyed hashes. Several may be
-- outstanding; the first right one spends them all. otp_sends counts sends for the resend
-- cooldown and the hourly caps (per person, per destination, per address) against pumping.
CREATE TABLE otp_codes (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    channel      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    spent_at     BIGINT
);
CREATE INDEX otp_codes_user ON otp_codes (user_id, channel);

CREATE TABLE otp_sends (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    ip           TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX otp_sends_user ON otp_sends (user_id, at);
CREATE INDEX otp_sends_destination ON otp_sends (destination, at);
CREATE INDEX otp_sends_ip ON otp_sends (ip, at);

-- +goose Down
DROP TABLE otp_sends;
DROP TABLE otp_codes;
