-- Fault-finding exercises: at most one runs at a time; its faults are ordinary actions
-- (tagged `exercise`) whose ids are listed here so the CLI can hide them until revealed.
CREATE TABLE IF NOT EXISTS chaos_exercises (
    id          BIGSERIAL PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    revealed_at BIGINT,
    -- The generator's seed, a u64 written in decimal (it may not fit a signed column).
    seed        TEXT   NOT NULL,
    hints_given BIGINT NOT NULL DEFAULT 0,
    -- JSON array of the ids of the exercise's actions.
    action_ids  TEXT   NOT NULL DEFAULT '[]',
    started_by  TEXT
);
