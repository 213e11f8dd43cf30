-- Incremental reloads. Every action row carries `rev`: the generation that publishes its
-- last change. Writers lock `chaos_meta` first and bump the generation last, so a row
-- written in a transaction gets exactly the generation that transaction commits. A
-- deleted row leaves a tombstone with the same rule. A reader that applied generation g
-- re-reads only rows and tombstones with `rev > g`. The triggers also cover edits made by
-- hand: they take the next generation, so the next bump publishes them.
ALTER TABLE chaos_actions ADD COLUMN rev INTEGER;
CREATE INDEX IF NOT EXISTS chaos_actions_rev ON chaos_actions (rev);

CREATE TABLE IF NOT EXISTS chaos_tombstones (
    id  INTEGER NOT NULL,
    rev INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chaos_tombstones_rev ON chaos_tombstones (rev);

-- Tombstones with rev at or below this are pruned: a reader that applied an older
-- generation re-reads everything.
ALTER TABLE chaos_meta ADD COLUMN pruned_through INTEGER NOT NULL DEFAULT 0;

-- A random number drawn when the store is created: a reader that finds another one (the
-- file was replaced by another store) re-reads everything.
ALTER TABLE chaos_meta ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
UPDATE chaos_meta SET epoch = abs(random() % 9000000000000000000) WHERE id = 1;

UPDATE chaos_actions SET rev = (SELECT generation FROM chaos_meta WHERE id = 1);

-- SQLite cannot assign NEW in a trigger: set the row's rev after the write. The WHEN
-- clause stops the trigger's own update from firing it again (also with
-- `PRAGMA recursive_triggers = ON`: a row that already has the next generation is left
-- alone). SQLite has one writer at a time, so the generation read here is stable.
CREATE TRIGGER IF NOT EXISTS chaos_actions_rev_insert AFTER INSERT ON chaos_actions
BEGIN
    UPDATE chaos_actions SET rev = (SELECT generation + 1 FROM chaos_meta WHERE id = 1)
    WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS chaos_actions_rev_update AFTER UPDATE ON chaos_actions
WHEN NEW.rev IS OLD.rev
    AND OLD.rev IS NOT (SELECT generation + 1 FROM chaos_meta WHERE id = 1)
BEGIN
    UPDATE chaos_actions SET rev = (SELECT generation + 1 FROM chaos_meta WHERE id = 1)
    WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS chaos_actions_tombstone AFTER DELETE ON chaos_actions
BEGIN
    INSERT INTO chaos_tombstones (id, rev)
    VALUES (OLD.id, (SELECT generation + 1 FROM chaos_meta WHERE id = 1));
END;

-- A row whose id changes leaves a tombstone for its old id.
CREATE TRIGGER IF NOT EXISTS chaos_actions_id_change AFTER UPDATE OF id ON chaos_actions
WHEN OLD.id IS NOT NEW.id
BEGIN
    INSERT INTO chaos_tombstones (id, rev)
    VALUES (OLD.id, (SELECT generation + 1 FROM chaos_meta WHERE id = 1));
END;
