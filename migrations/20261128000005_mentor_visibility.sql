-- Who may be named as a mentor, and whose offers are shown: naming someone as a group's
-- mentor tells every employee that they belong to the group, so only people who already show
-- that to everyone qualify: the group's active leads (leads are named publicly) and active
-- members (not allies) whose membership is `public`. An offer whose mentor no longer
-- qualifies (left, made the membership private, was removed) disappears from the lists.
CREATE FUNCTION mentor_shown(
    m_role membership_role, m_type membership_type, m_status membership_status, m_visibility visibility
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        m_status = 'active' AND (m_role = 'lead' OR (m_type = 'member' AND m_visibility = 'public')),
        false)
$$;

-- A waitlisted RSVP's place in line (1 is next): the one definition every query uses.
CREATE FUNCTION waitlist_position(p_event uuid, p_seq bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT count(*) FROM rsvps w
    WHERE w.event_id = p_event AND w.status = 'waitlisted' AND w.seq <= p_seq
$$;
