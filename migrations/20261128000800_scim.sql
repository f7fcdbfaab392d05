-- Provisioning with SCIM 2.0: the identity provider's id for a person, the parts of their name,
-- accounts without a password (they sign in through single sign-on), and the bearer tokens of
-- provisioning clients.

-- An account made by provisioning has no password: password sign-in refuses it exactly as it
-- refuses a wrong password.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

ALTER TABLE users
    -- The identity provider's own id for the person, and the name it knows them by (when that
    -- is not their email address: Entra's user principal name, say).
    ADD COLUMN external_id text CHECK (length(external_id) BETWEEN 1 AND 256),
    ADD COLUMN scim_user_name text CHECK (length(scim_user_name) BETWEEN 1 AND 256),
    ADD COLUMN given_name  text CHECK (length(given_name) <= 100),
    ADD COLUMN family_name text CHECK (length(family_name) <= 100),
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Deleted by the identity provider: deactivated, and no longer shown to provisioning (a
    -- later create with the same address takes the account up again).
    ADD COLUMN deprovisioned_at timestamptz,
    ADD CONSTRAINT users_external_id_key UNIQUE (external_id);
CREATE UNIQUE INDEX users_scim_user_name_key ON users (lower(scim_user_name));

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_touch_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Bearer tokens of provisioning clients (the HR system), stored as SHA-256 digests. A revoked
-- token stays, so the audit log's references to it keep their meaning.
CREATE TABLE scim_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT scim_tokens_token_hash_key UNIQUE (token_hash)
);
-- One live token per name: `belong scim-token revoke --name N` names exactly one.
CREATE UNIQUE INDEX scim_tokens_live_name_key ON scim_tokens (name) WHERE revoked_at IS NULL;
