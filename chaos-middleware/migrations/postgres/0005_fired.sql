-- Per-action fault counts an instance reports with its heartbeat: JSON {"<action id>": [total, in the last interval]}.
ALTER TABLE chaos_instances ADD COLUMN fired TEXT;
