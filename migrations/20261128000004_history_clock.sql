-- History rows carry the moment they were written, not the start of their transaction, so that
-- their times follow the order in which concurrent changes really happened.
ALTER TABLE membership_history ALTER COLUMN at SET DEFAULT clock_timestamp();
ALTER TABLE audit_log ALTER COLUMN at SET DEFAULT clock_timestamp();
