-- Incremental reloads. Every action row carries `rev`: the generation that publishes its
-- last change. Writers lock `chaos_meta` first and bump the generation last, so a row
-- written in a transaction gets exactly the generation that transaction commits. A
-- deleted row leaves a tombstone with the same rule. A reader that applied generation g
-- re-reads only rows and tombstones with `rev > g`. The triggers also cover edits made by
-- hand: they take the next generation, so the next bump publishes them.
ALTER TABLE chaos_actions ADD COLUMN rev BIGINT;
CREATE INDEX IF NOT EXISTS chaos_actions_rev ON chaos_actions (rev);

CREATE TABLE IF NOT EXISTS chaos_tombstones (
    id  BIGINT NOT NULL,
    rev BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS chaos_tombstones_rev ON chaos_tombstones (rev);

-- Tombstones with rev at or below this are pruned: a reader that applied an older
-- generation re-reads everything.
ALTER TABLE chaos_meta ADD COLUMN pruned_through BIGINT NOT NULL DEFAULT 0;

-- A random number drawn when the store is created: a reader that finds another one (the
-- store was recreated, or another database restored into it) re-reads everything.
ALTER TABLE chaos_meta ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
UPDATE chaos_meta SET epoch = floor(random() * 9000000000000000000)::bigint WHERE id = 1;

UPDATE chaos_actions SET rev = (SELECT generation FROM chaos_meta WHERE id = 1);

-- The meta row is locked (FOR UPDATE), as every writer of chaos-rs does first: an edit by
-- hand then cannot take a generation that a concurrent writer publishes before it commits.
-- A row whose id changes leaves a tombstone for its old id.
CREATE OR REPLACE FUNCTION chaos_actions_rev() RETURNS trigger AS $$
DECLARE
    next BIGINT;
BEGIN
    SELECT generation + 1 INTO next FROM chaos_meta WHERE id = 1 FOR UPDATE;
    NEW.rev := next;
    IF TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id THEN
        INSERT INTO chaos_tombstones (id, rev) VALUES (OLD.id, next);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER chaos_actions_rev
    BEFORE INSERT OR UPDATE ON chaos_actions
    FOR EACH ROW EXECUTE FUNCTION chaos_actions_rev();

CREATE OR REPLACE FUNCTION chaos_actions_tombstone() RETURNS trigger AS $$
DECLARE
    next BIGINT;
BEGIN
    SELECT generation + 1 INTO next FROM chaos_meta WHERE id = 1 FOR UPDATE;
    INSERT INTO chaos_tombstones (id, rev) VALUES (OLD.id, next);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER chaos_actions_tombstone
    AFTER DELETE ON chaos_actions
    FOR EACH ROW EXECUTE FUNCTION chaos_actions_tombstone();

-- TRUNCATE fires no row trigger: make every reader re-read everything instead.
CREATE OR REPLACE FUNCTION chaos_actions_truncated() RETURNS trigger AS $$
BEGIN
    UPDATE chaos_meta SET pruned_through = generation + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER chaos_actions_truncated
    AFTER TRUNCATE ON chaos_actions
    FOR EACH STATEMENT EXECUTE FUNCTION chaos_actions_truncated();

-- Writers lock the meta row with a write that leaves the generation as it is: notify
-- only when it really moved.
DROP TRIGGER IF EXISTS chaos_meta_notify ON chaos_meta;
CREATE TRIGGER chaos_meta_notify
    AFTER UPDATE OF generation ON chaos_meta
    FOR EACH ROW WHEN (OLD.generation IS DISTINCT FROM NEW.generation)
    EXECUTE FUNCTION chaos_notify_change();
