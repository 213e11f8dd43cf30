-- Notifications (see SQLite's and PostgreSQL's migration 0009 for what they are for).
CREATE TABLE IF NOT EXISTS chaos_webhooks (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT,
    delivered     BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_error_at BIGINT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chaos_deliveries (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    webhook_id  BIGINT NOT NULL,
    event       VARCHAR(64) NOT NULL,
    body        MEDIUMTEXT NOT NULL,
    once_key    VARCHAR(255),
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_until BIGINT,
    done_at     BIGINT,
    UNIQUE KEY chaos_deliveries_once (webhook_id, once_key),
    INDEX chaos_deliveries_due (done_at, next_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
