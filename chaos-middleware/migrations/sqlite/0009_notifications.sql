-- Notifications: webhooks told about every change to the chaos (see the `notification`
-- module). A delivery is queued per event and interested webhook, claimed by one
-- deliverer with a lease, retried with backoff, and kept (done_at set) for a day so an
-- event queued once per webhook (once_key: an expiry) is never queued twice.
CREATE TABLE IF NOT EXISTS chaos_webhooks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT,
    delivered     INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_error_at INTEGER
);

CREATE TABLE IF NOT EXISTS chaos_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id  INTEGER NOT NULL,
    event       TEXT NOT NULL,
    body        TEXT NOT NULL,
    once_key    VARCHAR(255),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    lease_until INTEGER,
    done_at     INTEGER,
    UNIQUE (webhook_id, once_key)
);
CREATE INDEX IF NOT EXISTS chaos_deliveries_due ON chaos_deliveries (done_at, next_at);
