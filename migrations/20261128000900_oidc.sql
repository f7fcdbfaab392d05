-- Single sign-on with OpenID Connect: who a person is at the identity provider, and the sign-ins
-- under way.

-- A person's identity at a provider: the provider's issuer and its subject (`sub`, stable and
-- never reassigned) name one account. The first sign-in links them (by the provider's verified
-- email, or by creating the account); every later one finds the account by them alone, whatever
-- the email says by then. One identity per provider and account.
CREATE TABLE user_identities (
    issuer        text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject),
    CONSTRAINT user_identities_user_issuer_key UNIQUE (user_id, issuer)
);

-- A sign-in under way: sent to the provider, not yet back. Keyed by the SHA-256 of its `state`
-- (the browser holds the state itself, in a cookie); the nonce and the PKCE verifier wait here
-- for the callback. Each is taken (deleted) by the one callback that uses it, and lives at most
-- ten minutes.
CREATE TABLE oidc_logins (
    state_hash    bytea PRIMARY KEY,
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oidc_logins_created_idx ON oidc_logins (created_at);
