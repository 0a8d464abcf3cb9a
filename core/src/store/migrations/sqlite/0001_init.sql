-- ferrybridge store, SQLite dialect. Keep in step with ../postgres/0001_init.sql: same tables,
-- columns and constraints; only the autoincrement and boolean spellings differ.
-- Flags are INTEGER 0/1 (sqlx's Any driver cannot read SQLite's BOOLEAN affinity).

-- Appservice transactions already accepted (txn_id dedupe across restarts).
CREATE TABLE processed_txns (
    txn_id TEXT PRIMARY KEY NOT NULL,
    recorded_at_ms BIGINT NOT NULL
);

-- Events of accepted transactions not yet handled, in arrival order.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_id TEXT NOT NULL REFERENCES processed_txns (txn_id),
    json TEXT NOT NULL
);

CREATE TABLE bridge_users (
    mxid TEXT PRIMARY KEY NOT NULL,
    management_room TEXT,
    login_state TEXT
);
CREATE INDEX bridge_users_management_room ON bridge_users (management_room);

CREATE TABLE ghosts (
    remote_id TEXT PRIMARY KEY NOT NULL,
    mxid TEXT NOT NULL UNIQUE,
    displayname TEXT,
    avatar TEXT,
    registered INTEGER NOT NULL DEFAULT 0 CHECK (registered IN (0, 1))
);

-- receiver is '' for shared portals (NULL would not be unique in the key).
CREATE TABLE portals (
    chat TEXT NOT NULL,
    receiver TEXT NOT NULL,
    room_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    plumbed INTEGER NOT NULL DEFAULT 0 CHECK (plumbed IN (0, 1)),
    name TEXT,
    topic TEXT,
    avatar TEXT,
    PRIMARY KEY (chat, receiver)
);
CREATE INDEX portals_receiver ON portals (receiver);

CREATE TABLE messages (
    chat TEXT NOT NULL,
    receiver TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    remote_sender TEXT,
    sender TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    PRIMARY KEY (chat, receiver, remote_id)
);

CREATE TABLE kv (
    namespace TEXT NOT NULL,
    item_key TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (namespace, item_key)
);

CREATE TABLE secrets (
    mxid TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    PRIMARY KEY (mxid, name)
);
