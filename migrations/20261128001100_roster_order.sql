-- A page of a roster in constant work: each membership carries a copy of its member's display
-- name (`sort_name`), so that a page of a group's roster, in the order (name, user id), walks
-- `memberships_roster_idx` from the cursor and stops after the page, instead of joining every
-- membership of the group to `users` and sorting them all. Triggers keep the copy equal to
-- `users.display_name` in the transaction that changes either; nothing else writes it.
--
-- The column has the database's default collation, as `users.display_name` has, so names sort
-- exactly as they did.

ALTER TABLE memberships ADD COLUMN sort_name text;

-- The copy changes no count: the counters' trigger need not add up a row for every membership.
ALTER TABLE memberships DISABLE TRIGGER group_counts_on_update;
UPDATE memberships m SET sort_name = u.display_name FROM users u WHERE u.id = m.user_id;
ALTER TABLE memberships ENABLE TRIGGER group_counts_on_update;

ALTER TABLE memberships ALTER COLUMN sort_name SET NOT NULL;

-- A membership takes its member's name when it is written. `FOR SHARE` orders it with a rename
-- of the member: a rename in flight is waited for and its new name read; a rename that comes
-- later waits for this transaction and then renames this row too (below). Written on insert and
-- whenever a statement sets `user_id` or `sort_name`, so no statement can store another name.
CREATE FUNCTION memberships_take_sort_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT display_name INTO NEW.sort_name FROM users WHERE id = NEW.user_id FOR SHARE;
    RETURN NEW;
END $$;

CREATE TRIGGER memberships_take_sort_name
    BEFORE INSERT OR UPDATE OF user_id, sort_name ON memberships
    FOR EACH ROW EXECUTE FUNCTION memberships_take_sort_name();

-- A rename renames the member's memberships in the same transaction.
CREATE FUNCTION users_rename_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships SET sort_name = NEW.display_name WHERE user_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER users_rename_memberships
    AFTER UPDATE OF display_name ON users
    FOR EACH ROW
    WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION users_rename_memberships();

-- One group's memberships in roster order: a page is an index range scan from the cursor.
CREATE INDEX memberships_roster_idx ON memberships (group_id, sort_name, user_id);
