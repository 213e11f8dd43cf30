-- Running app instances (one row each, refreshed by a heartbeat) and the views they
-- serve. Not part of the actions: writing here does not bump the generation.
-- (SQLite has no notifications: instances poll the generation at a short interval.)
CREATE TABLE IF NOT EXISTS chaos_instances (
    id                 TEXT    PRIMARY KEY,
    host               TEXT    NOT NULL,
    pid                INTEGER NOT NULL,
    started_at         INTEGER NOT NULL,
    last_seen          INTEGER NOT NULL,
    heartbeat_ms       INTEGER NOT NULL,
    applied_generation INTEGER,
    applied_at         INTEGER
);

CREATE TABLE IF NOT EXISTS chaos_views (
    instance_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    pattern     TEXT NOT NULL,
    methods     TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (instance_id, pattern)
);
