-- Windows: an action may start later (starts_at, Unix ms) and be active only in weekly
-- wall-clock windows (active_window, `09:00-17:00 mon-fri Europe/Berlin`; see the
-- `schedule` module). NULL: no bound.
ALTER TABLE chaos_actions ADD COLUMN starts_at INTEGER;
ALTER TABLE chaos_actions ADD COLUMN active_window TEXT;
