-- Counts kept, not counted: the active memberships of every group by type and visibility, kept
-- exact by triggers in the same transaction as every change, so the directory and a group's
-- page read a few rows per group instead of counting its members.
CREATE TABLE group_counts (
    group_id   uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    type       membership_type NOT NULL,
    visibility visibility NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (group_id, type, visibility)
);

INSERT INTO group_counts (group_id, type, visibility, n)
SELECT group_id, type, visibility, count(*)
FROM memberships WHERE status = 'active'
GROUP BY group_id, type, visibility;

-- One statement's changes are summed per key and applied in key order, so two statements that
-- touch the same groups (two deactivations, say) take the counter rows' locks in the same order
-- and cannot deadlock.
CREATE FUNCTION group_counts_add(changes jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO group_counts AS c (group_id, type, visibility, n)
    SELECT group_id, type, visibility, sum(d)
    FROM jsonb_to_recordset(changes) AS x(group_id uuid, type membership_type, visibility visibility, d bigint)
    GROUP BY group_id, type, visibility
    HAVING sum(d) <> 0
    ORDER BY group_id, type, visibility
    ON CONFLICT (group_id, type, visibility) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

CREATE FUNCTION group_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM group_counts_add((SELECT jsonb_agg(jsonb_build_object(
            'group_id', group_id, 'type', type, 'visibility', visibility, 'd', 1))
            FROM new_rows WHERE status = 'active'));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM group_counts_add((SELECT jsonb_agg(jsonb_build_object(
            'group_id', group_id, 'type', type, 'visibility', visibility, 'd', -1))
            FROM old_rows WHERE status = 'active'));
    ELSE
        PERFORM group_counts_add((SELECT jsonb_agg(x) FROM (
            SELECT jsonb_build_object('group_id', group_id, 'type', type, 'visibility', visibility, 'd', 1) AS x
            FROM new_rows WHERE status = 'active'
            UNION ALL
            SELECT jsonb_build_object('group_id', group_id, 'type', type, 'visibility', visibility, 'd', -1)
            FROM old_rows WHERE status = 'active') changes));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER group_counts_on_insert AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION group_counts_track();
CREATE TRIGGER group_counts_on_update AFTER UPDATE ON memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION group_counts_track();
CREATE TRIGGER group_counts_on_delete AFTER DELETE ON memberships
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION group_counts_track();

-- What a viewer may count of a group, by the one privacy rule (`membership_visible`): every
-- active membership of a visibility the viewer sees, plus the viewer's own when the rule would
-- not otherwise count it (a viewer always sees their own entry).
CREATE FUNCTION visible_member_counts(
    group_id uuid, viewer uuid, viewer_is_admin boolean, viewer_role membership_role,
    viewer_status membership_status, viewer_type membership_type, viewer_visibility visibility
) RETURNS TABLE (members bigint, allies bigint) LANGUAGE sql STABLE AS $$
    WITH seen AS (
        SELECT c.type, c.n FROM group_counts c
        WHERE c.group_id = visible_member_counts.group_id
          AND membership_visible(NULL, 'active', c.visibility, viewer, viewer_is_admin,
                                 viewer_role, viewer_status, viewer_type, viewer_visibility)
    ), own AS (
        SELECT viewer_type AS type, 1::bigint AS n
        WHERE viewer_status = 'active'
          AND NOT membership_visible(NULL, 'active', viewer_visibility, viewer, viewer_is_admin,
                                     viewer_role, viewer_status, viewer_type, viewer_visibility)
    )
    SELECT coalesce(sum(n) FILTER (WHERE type = 'member'), 0)::bigint,
           coalesce(sum(n) FILTER (WHERE type = 'ally'), 0)::bigint
    FROM (SELECT * FROM seen UNION ALL SELECT * FROM own) counted
$$;
