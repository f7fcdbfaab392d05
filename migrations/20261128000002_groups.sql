-- Groups, memberships and the append-only membership history.

CREATE TYPE join_policy AS ENUM ('open', 'approval');
CREATE TYPE membership_type AS ENUM ('member', 'ally');
CREATE TYPE membership_role AS ENUM ('member', 'lead');
CREATE TYPE membership_status AS ENUM ('active', 'pending');
CREATE TYPE visibility AS ENUM ('public', 'members', 'private');
CREATE TYPE membership_event AS ENUM ('joined', 'requested', 'changed', 'approved', 'left', 'removed', 'role_changed');

CREATE TABLE groups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9-]{2,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tagline     text NOT NULL CHECK (length(tagline) <= 200),
    mission     text NOT NULL CHECK (length(mission) <= 2000),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    join_policy join_policy NOT NULL DEFAULT 'open',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz,
    -- Name weighs most, then tagline, then mission, so the best match ranks first.
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', name), 'A')
                    || setweight(to_tsvector('english', tagline), 'B')
                    || setweight(to_tsvector('english', mission), 'C')) STORED,
    CONSTRAINT groups_slug_key UNIQUE (slug)
);
CREATE INDEX groups_search_idx ON groups USING gin (search);
CREATE INDEX groups_name_idx ON groups (name, slug) WHERE archived_at IS NULL;

-- The current memberships. Leaving deletes the row; the history keeps what happened.
CREATE TABLE memberships (
    group_id   uuid NOT NULL REFERENCES groups (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    type       membership_type NOT NULL,
    role       membership_role NOT NULL DEFAULT 'member',
    status     membership_status NOT NULL,
    visibility visibility NOT NULL DEFAULT 'members',
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id),
    -- Only an active membership can lead.
    CHECK (role = 'member' OR status = 'active')
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
CREATE INDEX memberships_group_status_idx ON memberships (group_id, status, type);

CREATE TABLE membership_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    group_id   uuid NOT NULL REFERENCES groups (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    -- Who did it: the member themselves, a lead or an admin.
    actor_id   uuid REFERENCES users (id),
    event      membership_event NOT NULL,
    type       membership_type NOT NULL,
    role       membership_role NOT NULL,
    status     membership_status NOT NULL,
    visibility visibility NOT NULL,
    reason     text
);
CREATE INDEX membership_history_group_at_idx ON membership_history (group_id, at);
CREATE INDEX membership_history_user_idx ON membership_history (user_id);

CREATE TRIGGER membership_history_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON membership_history
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- THE privacy rule for roster entries, used by every roster and every count shown to a user,
-- so that it lives in one place (documented in src/groups/access.rs):
--   a viewer always sees their own entry; admins and active leads of the group see every
--   entry (pending and private included); anyone else sees active `public` entries, and an
--   active member or ally of the group also sees active `members` entries.
CREATE FUNCTION membership_visible(
    entry_user uuid, entry_status membership_status, entry_visibility visibility,
    viewer uuid, viewer_is_admin boolean, viewer_role membership_role, viewer_status membership_status
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        entry_user = viewer
        OR viewer_is_admin
        OR (viewer_role = 'lead' AND viewer_status = 'active')
        OR (entry_status = 'active'
            AND (entry_visibility = 'public'
                 OR (entry_visibility = 'members' AND viewer_status = 'active'))),
        false)
$$;
