-- The newest message of a portal: where its history continues after the bridge was away
-- (backfill catch-up).
CREATE INDEX messages_by_time ON messages (chat, receiver, timestamp_ms);
