-- Sign-ins and registrations per client address, shared by every instance of the service, so
-- that one password tried across many accounts (or a registration flood) is slowed too.
CREATE TABLE client_attempts (
    client            text NOT NULL,  -- an IP address as text
    action            text NOT NULL CHECK (action IN ('login', 'register')),
    attempts          integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (client, action)
);
CREATE INDEX client_attempts_window_idx ON client_attempts (window_started_at);

-- Old rows of both tables are pruned as attempts arrive; the index finds them.
CREATE INDEX login_failures_window_idx ON login_failures (window_started_at);
