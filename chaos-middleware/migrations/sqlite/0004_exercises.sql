-- Fault-finding exercises: at most one runs at a time; its faults are ordinary actions
-- (tagged `exercise`) whose ids are listed here so the CLI can hide them until revealed.
CREATE TABLE IF NOT EXISTS chaos_exercises (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    revealed_at INTEGER,
    -- The generator's seed, a u64 written in decimal (it may not fit a signed column).
    seed        TEXT    NOT NULL,
    hints_given INTEGER NOT NULL DEFAULT 0,
    -- JSON array of the ids of the exercise's actions.
    action_ids  TEXT    NOT NULL DEFAULT '[]',
    started_by  TEXT
);
