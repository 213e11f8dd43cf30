-- Chaos actions, one row each. Lists (users, groups, hosts, methods) are JSON arrays of
-- strings; times are Unix milliseconds so both backends store them the same way.
CREATE TABLE IF NOT EXISTS chaos_actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    verb        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    min_ms      INTEGER,
    max_ms      INTEGER,
    status      INTEGER,
    body        TEXT,
    probability REAL    NOT NULL DEFAULT 1.0,
    users       TEXT    NOT NULL DEFAULT '[]',
    groups      TEXT    NOT NULL DEFAULT '[]',
    hosts       TEXT    NOT NULL DEFAULT '[]',
    methods     TEXT    NOT NULL DEFAULT '[]',
    enabled     INTEGER NOT NULL DEFAULT 1,
    expires_at  INTEGER,
    tag         TEXT,
    note        TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    created_by  TEXT
);

-- A single row whose generation is bumped in the same transaction as every write, so a
-- reader learns "something changed" from one tiny query.
CREATE TABLE IF NOT EXISTS chaos_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO chaos_meta (id, generation) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS chaos_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT,
    operation  TEXT    NOT NULL,
    action_ids TEXT    NOT NULL,
    detail     TEXT
);
