-- Every group list and page names the group's active leads: find them without scanning the
-- group's whole membership.
CREATE INDEX memberships_active_leads_idx ON memberships (group_id, user_id)
    WHERE role = 'lead' AND status = 'active';
