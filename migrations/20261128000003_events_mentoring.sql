-- Events with RSVPs and a waitlist; calendar feeds; mentoring offers and requests.

CREATE TYPE event_audience AS ENUM ('everyone', 'members');
CREATE TYPE rsvp_status AS ENUM ('going', 'waitlisted');

CREATE TABLE events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id     uuid NOT NULL REFERENCES groups (id),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    location     text CHECK (length(location) <= 200),
    online_url   text CHECK (length(online_url) <= 2000),
    capacity     integer CHECK (capacity > 0),
    audience     event_audience NOT NULL DEFAULT 'everyone',
    cancelled_at timestamptz,
    -- RFC 5545 SEQUENCE: raised on every change a calendar should notice.
    sequence     integer NOT NULL DEFAULT 0,
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX events_group_starts_idx ON events (group_id, starts_at, id);
CREATE INDEX events_starts_idx ON events (starts_at);

-- Current RSVPs. `seq` orders the waitlist: first asked, first promoted.
CREATE TABLE rsvps (
    event_id     uuid NOT NULL REFERENCES events (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    status       rsvp_status NOT NULL,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    responded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX rsvps_event_status_seq_idx ON rsvps (event_id, status, seq);
CREATE INDEX rsvps_user_idx ON rsvps (user_id);

CREATE TABLE calendar_feeds (
    user_id    uuid PRIMARY KEY REFERENCES users (id),
    -- Kept as is so that the address can be shown again; it grants read access to one
    -- person's calendar and nothing else, and rotating it replaces it.
    token      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calendar_feeds_token_key UNIQUE (token)
);

CREATE TYPE mentoring_request_status AS ENUM ('pending', 'accepted', 'declined', 'withdrawn');

CREATE TABLE mentoring_offers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id    uuid NOT NULL REFERENCES groups (id),
    mentor_id   uuid NOT NULL REFERENCES users (id),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    topics      text[] NOT NULL DEFAULT '{}',
    slots       integer NOT NULL CHECK (slots BETWEEN 1 AND 100),
    closed_at   timestamptz,
    created_by  uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mentoring_offers_group_idx ON mentoring_offers (group_id, created_at);
CREATE INDEX mentoring_offers_mentor_idx ON mentoring_offers (mentor_id);

CREATE TABLE mentoring_requests (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    offer_id   uuid NOT NULL REFERENCES mentoring_offers (id),
    mentee_id  uuid NOT NULL REFERENCES users (id),
    message    text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    status     mentoring_request_status NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    decided_by uuid REFERENCES users (id),
    CONSTRAINT mentoring_requests_once UNIQUE (offer_id, mentee_id)
);
CREATE INDEX mentoring_requests_mentee_idx ON mentoring_requests (mentee_id);
CREATE INDEX mentoring_requests_offer_status_idx ON mentoring_requests (offer_id, status);
