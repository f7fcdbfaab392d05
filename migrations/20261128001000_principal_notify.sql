-- Every instance keeps the principals it served lately (a user's display name, global roles and
-- active flag, and whether a session's refresh-token family is still live) in memory. These
-- triggers tell every instance what changed, through NOTIFY on the channel `belong_principal`,
-- at commit: `user:<id>`, `family:<id>`, or `all`. Identical notices of one transaction are
-- sent once, so a deactivation that revokes many tokens sends one notice a family.

-- Row triggers pass what to notify as arguments: a prefix and the column that names the entry
-- (`user`, `id` for users); the row before and after a change are both notified (one notice
-- when they agree). A statement trigger (TRUNCATE) notifies `all`.
CREATE FUNCTION notify_principal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('belong_principal', 'all');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('belong_principal', TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('belong_principal', TG_ARGV[0] || ':' || (to_jsonb(NEW) ->> TG_ARGV[1]));
    END IF;
    RETURN NULL;
END $$;

-- What the principal holds of `users`: its id, display name and active flag.
CREATE TRIGGER users_notify_principal
    AFTER UPDATE OF id, display_name, active ON users
    FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id
          OR OLD.display_name IS DISTINCT FROM NEW.display_name
          OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION notify_principal('user', 'id');
CREATE TRIGGER users_notify_principal_delete
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_principal('user', 'id');

CREATE TRIGGER user_roles_notify_principal
    AFTER INSERT OR UPDATE OR DELETE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION notify_principal('user', 'user_id');

-- A family is live while none of its tokens is revoked (sign-out, reuse, deactivation).
CREATE TRIGGER refresh_tokens_notify_principal
    AFTER UPDATE OF revoked_at, family_id, user_id ON refresh_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.family_id IS DISTINCT FROM NEW.family_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION notify_principal('family', 'family_id');
CREATE TRIGGER refresh_tokens_notify_principal_insert
    AFTER INSERT ON refresh_tokens
    FOR EACH ROW
    WHEN (NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION notify_principal('family', 'family_id');
CREATE TRIGGER refresh_tokens_notify_principal_delete
    AFTER DELETE ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_principal('family', 'family_id');

CREATE TRIGGER users_notify_principal_truncate
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_principal();
CREATE TRIGGER user_roles_notify_principal_truncate
    AFTER TRUNCATE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION notify_principal();
CREATE TRIGGER refresh_tokens_notify_principal_truncate
    AFTER TRUNCATE ON refresh_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_principal();
