-- Single sign-on starts are counted per client address too: each writes an attempt that waits
-- for the provider's answer, so their number from one address is bounded.
ALTER TABLE client_attempts DROP CONSTRAINT client_attempts_action_check;
ALTER TABLE client_attempts ADD CONSTRAINT client_attempts_action_check
    CHECK (action IN ('login', 'register', 'oidc'));
