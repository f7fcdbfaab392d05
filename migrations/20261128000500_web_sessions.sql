-- Sessions of the web pages. The browser's cookie carries 32 random bytes; only their SHA-256
-- is stored, so a copy of this table signs nobody in. Each session has its own CSRF token and
-- at most one one-time message to show after a redirect.
CREATE TABLE web_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash   bytea NOT NULL,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    flash        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CONSTRAINT web_sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);
