-- End-to-bridge encryption state (Olm account, sessions, Megolm sessions, device lists, ...),
-- one row per object, each value sealed with the store's secret key (see store/crypto.rs).
-- Keep in step with ../postgres/0003_crypto.sql.
CREATE TABLE crypto_objects (
    kind TEXT NOT NULL,
    item_key TEXT NOT NULL,
    sealed TEXT NOT NULL,
    PRIMARY KEY (kind, item_key)
);
