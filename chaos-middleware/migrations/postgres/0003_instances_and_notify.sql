-- Live propagation: every bump of chaos_meta.generation notifies the channel
-- `chaos_changes` (payload: the new generation) in the same transaction, so a
-- listening app instance reloads at once. Notifications are delivered on commit.
CREATE OR REPLACE FUNCTION chaos_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('chaos_changes', NEW.generation::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER chaos_meta_notify
    AFTER UPDATE OF generation ON chaos_meta
    FOR EACH ROW EXECUTE FUNCTION chaos_notify_change();

-- Running app instances (one row each, refreshed by a heartbeat) and the views they
-- serve. Not part of the actions: writing here does not bump the generation.
CREATE TABLE IF NOT EXISTS chaos_instances (
    id                 TEXT   PRIMARY KEY,
    host               TEXT   NOT NULL,
    pid                BIGINT NOT NULL,
    started_at         BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    heartbeat_ms       BIGINT NOT NULL,
    applied_generation BIGINT,
    applied_at         BIGINT
);

CREATE TABLE IF NOT EXISTS chaos_views (
    instance_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    pattern     TEXT NOT NULL,
    methods     TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (instance_id, pattern)
);
