-- Bridged messages that disappear on the remote side (disappearing-message timers): redacted
-- on Matrix once `expires_at_ms` has passed, also when that was while the bridge was down.
CREATE TABLE expiries (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX expiries_by_time ON expiries (expires_at_ms);
