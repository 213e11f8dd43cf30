-- Guards (see SQLite's and PostgreSQL's migration 0007 for what they are for).
CREATE TABLE IF NOT EXISTS chaos_guards (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    view           TEXT,
    max_error_rate DOUBLE,
    max_p99_ms     BIGINT,
    window_ms      BIGINT NOT NULL,
    min_requests   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT,
    tripped_at     BIGINT,
    tripped_by     TEXT,
    tripped_detail MEDIUMTEXT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE chaos_meta ADD COLUMN guards_rev BIGINT NOT NULL DEFAULT 0;
