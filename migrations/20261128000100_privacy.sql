-- Privacy: leading is a public role, `members` visibility is reciprocal, and groups may carry a
-- versioned privacy notice whose accepted version each membership records.

-- A lead's name is shown to every employee on the group's page, so a lead's membership is
-- public whatever was stored: make the stored value say so (recorded in the history), then let
-- the database hold the rule. A member is promoted only once their membership is public, and a
-- lead who wants to hide steps down first.
WITH changed AS (
    UPDATE memberships SET visibility = 'public'
    WHERE role = 'lead' AND visibility <> 'public'
    RETURNING group_id, user_id, type, role, status, visibility
)
INSERT INTO membership_history (group_id, user_id, actor_id, event, type, role, status, visibility, reason)
SELECT group_id, user_id, NULL, 'changed', type, role, status, visibility, 'leads are public'
FROM changed;

ALTER TABLE memberships
    ADD CONSTRAINT memberships_lead_public CHECK (role = 'member' OR visibility = 'public');

-- THE privacy rule for roster entries, used by every roster and every count shown to a user,
-- so that it lives in one place (documented in src/groups/access.rs):
--   a viewer always sees their own entry; admins and active leads of the group see every
--   entry (pending and private included); anyone else sees active `public` entries; and an
--   active member of type `member` whose own membership is `members` or `public` also sees
--   active `members` entries (reciprocity: you see the members who can see you, so nobody can
--   join invisibly, or as an ally, read the roster and leave).
DROP FUNCTION membership_visible(uuid, membership_status, visibility, uuid, boolean, membership_role, membership_status);
CREATE FUNCTION membership_visible(
    entry_user uuid, entry_status membership_status, entry_visibility visibility,
    viewer uuid, viewer_is_admin boolean, viewer_role membership_role, viewer_status membership_status,
    viewer_type membership_type, viewer_visibility visibility
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        entry_user = viewer
        OR viewer_is_admin
        OR (viewer_role = 'lead' AND viewer_status = 'active')
        OR (entry_status = 'active'
            AND (entry_visibility = 'public'
                 OR (entry_visibility = 'members'
                     AND viewer_status = 'active'
                     AND viewer_type = 'member'
                     AND viewer_visibility IN ('members', 'public')))),
        false)
$$;

-- The group's privacy notice. `privacy_notice_version` counts every edit (removal included), so
-- a version number never names two different texts; an empty text means no notice.
ALTER TABLE groups
    ADD COLUMN privacy_notice text NOT NULL DEFAULT '' CHECK (length(privacy_notice) <= 10000),
    ADD COLUMN privacy_notice_version integer NOT NULL DEFAULT 0 CHECK (privacy_notice_version >= 0),
    ADD COLUMN privacy_notice_updated_at timestamptz;

-- The notice version the member accepted, and when (null: none accepted).
ALTER TABLE memberships
    ADD COLUMN consent_version integer,
    ADD COLUMN consented_at timestamptz,
    ADD CONSTRAINT memberships_consent_pair CHECK ((consent_version IS NULL) = (consented_at IS NULL));
ALTER TABLE membership_history
    ADD COLUMN consent_version integer,
    ADD COLUMN consented_at timestamptz;

-- Whether a member must be shown the group's notice again: the group has one and the member
-- has not accepted its current version. The one definition every query uses.
CREATE FUNCTION consent_outdated(notice text, notice_version integer, accepted integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT notice <> '' AND (accepted IS NULL OR accepted < notice_version)
$$;
