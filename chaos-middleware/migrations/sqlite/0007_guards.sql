-- Guards: chaos stops itself when the app's own responses (not the injected ones) get
-- too bad. A guard is a threshold on the error rate and/or p99 latency over a sliding
-- window, for one view or the whole app. An instance that sees it exceeded while chaos
-- is active writes the trip into the guard's row (tripped_*), which stops every
-- instance until an operator resets it.
CREATE TABLE IF NOT EXISTS chaos_guards (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    view           TEXT,
    max_error_rate REAL,
    max_p99_ms     INTEGER,
    window_ms      INTEGER NOT NULL,
    min_requests   INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT,
    tripped_at     INTEGER,
    tripped_by     TEXT,
    tripped_detail TEXT
);

-- The generation that published the last change of any guard: a reader that applied an
-- older one re-reads the (small) guard table.
ALTER TABLE chaos_meta ADD COLUMN guards_rev INTEGER NOT NULL DEFAULT 0;
