-- One definition each of an event, a mentoring offer and a mentoring request as every list and
-- detail shows them (with their group, counts and names). Queries add only their own filters
-- and the caller's own RSVP; predicates are pushed into the views, and the counting subqueries
-- run only for the rows returned.
CREATE VIEW event_cards AS
SELECT e.id, e.group_id, g.slug AS group_slug, g.name AS group_name, e.title, e.description,
       e.starts_at, e.ends_at, e.location, e.online_url, e.capacity, e.audience,
       (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'going') AS going_count,
       (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'waitlisted') AS waitlist_count,
       e.cancelled_at IS NOT NULL AS cancelled, e.sequence, e.updated_at
FROM events e
JOIN groups g ON g.id = e.group_id;

CREATE VIEW offer_cards AS
SELECT o.id, o.group_id, g.slug AS group_slug, g.archived_at IS NOT NULL AS group_archived,
       o.title, o.description, o.topics, o.mentor_id, u.display_name AS mentor_name,
       u.active AS mentor_active, o.slots,
       (SELECT count(*) FROM mentoring_requests r WHERE r.offer_id = o.id AND r.status = 'accepted') AS slots_taken,
       o.closed_at IS NOT NULL AS closed, o.created_at
FROM mentoring_offers o
JOIN groups g ON g.id = o.group_id
JOIN users u ON u.id = o.mentor_id;

CREATE VIEW request_cards AS
SELECT r.id, r.offer_id, o.title AS offer_title, o.group_id, g.slug AS group_slug, r.mentee_id,
       u.display_name AS mentee_name, r.message, r.status, r.created_at, r.decided_at
FROM mentoring_requests r
JOIN mentoring_offers o ON o.id = r.offer_id
JOIN groups g ON g.id = o.group_id
JOIN users u ON u.id = r.mentee_id;
