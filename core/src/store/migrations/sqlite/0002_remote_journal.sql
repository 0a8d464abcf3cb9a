-- Remote events received from the network and not yet applied to Matrix, in arrival order
-- (replayed at start-up, so a crash between receiving and posting loses nothing).
-- Keep in step with ../postgres/0002_remote_journal.sql.
CREATE TABLE remote_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    json TEXT NOT NULL
);
