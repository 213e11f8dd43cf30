-- Windows (see SQLite's and PostgreSQL's migration 0008 for what they are for).
ALTER TABLE chaos_actions ADD COLUMN starts_at BIGINT NULL;
ALTER TABLE chaos_actions ADD COLUMN active_window TEXT NULL;
