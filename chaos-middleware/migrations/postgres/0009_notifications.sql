-- Notifications: webhooks told about every change to the chaos (see the `notification`
-- module). A delivery is queued per event and interested webhook, claimed by one
-- deliverer with a lease, retried with backoff, and kept (done_at set) for a day so an
-- event queued once per webhook (once_key: an expiry) is never queued twice.
CREATE TABLE IF NOT EXISTS chaos_webhooks (
    id            BIGSERIAL PRIMARY KEY,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT,
    delivered     BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_error_at BIGINT
);

CREATE TABLE IF NOT EXISTS chaos_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    webhook_id  BIGINT NOT NULL,
    event       TEXT NOT NULL,
    body        TEXT NOT NULL,
    once_key    VARCHAR(255),
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_until BIGINT,
    done_at     BIGINT,
    UNIQUE (webhook_id, once_key)
);
CREATE INDEX IF NOT EXISTS chaos_deliveries_due ON chaos_deliveries (done_at, next_at);
