-- Chaos actions, one row each. Lists (users, groups, hosts, methods) are JSON arrays of
-- strings; times are Unix milliseconds so both backends store them the same way.
CREATE TABLE IF NOT EXISTS chaos_actions (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT             NOT NULL,
    verb        TEXT             NOT NULL,
    target      TEXT             NOT NULL,
    min_ms      BIGINT,
    max_ms      BIGINT,
    status      BIGINT,
    body        TEXT,
    probability DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    users       TEXT             NOT NULL DEFAULT '[]',
    groups      TEXT             NOT NULL DEFAULT '[]',
    hosts       TEXT             NOT NULL DEFAULT '[]',
    methods     TEXT             NOT NULL DEFAULT '[]',
    enabled     BIGINT           NOT NULL DEFAULT 1,
    expires_at  BIGINT,
    tag         TEXT,
    note        TEXT,
    created_at  BIGINT           NOT NULL,
    updated_at  BIGINT           NOT NULL,
    created_by  TEXT
);

-- A single row whose generation is bumped in the same transaction as every write, so a
-- reader learns "something changed" from one tiny query.
CREATE TABLE IF NOT EXISTS chaos_meta (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO chaos_meta (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS chaos_audit (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT,
    operation  TEXT   NOT NULL,
    action_ids TEXT   NOT NULL,
    detail     TEXT
);
