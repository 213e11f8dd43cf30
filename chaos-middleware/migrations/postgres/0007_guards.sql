-- Guards: chaos stops itself when the app's own responses (not the injected ones) get
-- too bad. A guard is a threshold on the error rate and/or p99 latency over a sliding
-- window, for one view or the whole app. An instance that sees it exceeded while chaos
-- is active writes the trip into the guard's row (tripped_*), which stops every
-- instance until an operator resets it.
CREATE TABLE IF NOT EXISTS chaos_guards (
    id             BIGSERIAL PRIMARY KEY,
    view           TEXT,
    max_error_rate DOUBLE PRECISION,
    max_p99_ms     BIGINT,
    window_ms      BIGINT NOT NULL,
    min_requests   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT,
    tripped_at     BIGINT,
    tripped_by     TEXT,
    tripped_detail TEXT
);

-- The generation that published the last change of any guard: a reader that applied an
-- older one re-reads the (small) guard table.
ALTER TABLE chaos_meta ADD COLUMN IF NOT EXISTS guards_rev BIGINT NOT NULL DEFAULT 0;
