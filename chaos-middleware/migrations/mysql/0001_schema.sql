-- The whole schema for MySQL 8 and MariaDB 10.5+, equal to SQLite's and PostgreSQL's
-- migrations 0001-0006 (see them for what each part is for). Text compares as bytes
-- (utf8mb4_bin), as it does on the other backends. Columns that hold what an operator
-- types or lists (bodies, notes, user lists, audited ids) are MEDIUMTEXT (16 MB): TEXT's
-- 64 KB is less than the CLI accepts, where SQLite and PostgreSQL have no limit.

CREATE TABLE IF NOT EXISTS chaos_actions (
    id          BIGINT   NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind        TEXT     NOT NULL,
    verb        TEXT     NOT NULL,
    target      TEXT     NOT NULL,
    min_ms      BIGINT,
    max_ms      BIGINT,
    status      BIGINT,
    body        MEDIUMTEXT,
    probability DOUBLE   NOT NULL DEFAULT 1.0,
    users       MEDIUMTEXT NOT NULL DEFAULT ('[]'),
    `groups`    MEDIUMTEXT NOT NULL DEFAULT ('[]'),
    hosts       MEDIUMTEXT NOT NULL DEFAULT ('[]'),
    methods     MEDIUMTEXT NOT NULL DEFAULT ('[]'),
    enabled     BIGINT   NOT NULL DEFAULT 1,
    expires_at  BIGINT,
    tag         TEXT,
    note        MEDIUMTEXT,
    created_at  BIGINT   NOT NULL,
    updated_at  BIGINT   NOT NULL,
    created_by  TEXT,
    phase       TEXT,
    rev         BIGINT,
    INDEX chaos_actions_rev (rev)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chaos_meta (
    id             BIGINT NOT NULL PRIMARY KEY,
    generation     BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL DEFAULT 0,
    epoch          BIGINT NOT NULL DEFAULT 0,
    CHECK (id = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT IGNORE INTO chaos_meta (id, generation, pruned_through, epoch)
VALUES (1, 0, 0, FLOOR(RAND() * 9000000000000000000));

CREATE TABLE IF NOT EXISTS chaos_audit (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT,
    operation  TEXT   NOT NULL,
    action_ids MEDIUMTEXT NOT NULL,
    detail     MEDIUMTEXT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chaos_instances (
    id                 VARCHAR(255) NOT NULL PRIMARY KEY,
    host               TEXT         NOT NULL,
    pid                BIGINT       NOT NULL,
    started_at         BIGINT       NOT NULL,
    last_seen          BIGINT       NOT NULL,
    heartbeat_ms       BIGINT       NOT NULL,
    applied_generation BIGINT,
    applied_at         BIGINT,
    fired              MEDIUMTEXT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The key is at most 3,072 bytes in InnoDB: 255 + 500 characters of 4 bytes.
CREATE TABLE IF NOT EXISTS chaos_views (
    instance_id VARCHAR(255) NOT NULL,
    name        TEXT         NOT NULL,
    pattern     VARCHAR(500) NOT NULL,
    methods     TEXT         NOT NULL,
    PRIMARY KEY (instance_id, pattern)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chaos_exercises (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    revealed_at BIGINT,
    seed        TEXT   NOT NULL,
    hints_given BIGINT NOT NULL DEFAULT 0,
    action_ids  MEDIUMTEXT NOT NULL,
    started_by  TEXT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chaos_tombstones (
    id  BIGINT NOT NULL,
    rev BIGINT NOT NULL,
    INDEX chaos_tombstones_rev (rev)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Row revisions and tombstones, as in migration 0006 of the other backends. MySQL has no
-- TRUNCATE trigger: after a TRUNCATE by hand, restart the instances (or bump the epoch:
-- UPDATE chaos_meta SET epoch = epoch + 1, generation = generation + 1).
CREATE TRIGGER chaos_actions_rev_insert BEFORE INSERT ON chaos_actions FOR EACH ROW
    SET NEW.rev = (SELECT generation + 1 FROM chaos_meta WHERE id = 1 FOR UPDATE);

CREATE TRIGGER chaos_actions_rev_update BEFORE UPDATE ON chaos_actions FOR EACH ROW
BEGIN
    SET NEW.rev = (SELECT generation + 1 FROM chaos_meta WHERE id = 1 FOR UPDATE);
    IF OLD.id <> NEW.id THEN
        INSERT INTO chaos_tombstones (id, rev) VALUES (OLD.id, NEW.rev);
    END IF;
END;

CREATE TRIGGER chaos_actions_tombstone AFTER DELETE ON chaos_actions FOR EACH ROW
    INSERT INTO chaos_tombstones (id, rev)
    VALUES (OLD.id, (SELECT generation + 1 FROM chaos_meta WHERE id = 1 FOR UPDATE));
