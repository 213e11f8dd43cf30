-- `slow` may hold the request before the handler (default) or its response after it.
ALTER TABLE chaos_actions ADD COLUMN phase TEXT;
