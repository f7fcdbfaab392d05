-- One definition of "a user with their global roles", read by the principal on every request,
-- by /me and by the admin's user list.
CREATE VIEW user_profiles AS
SELECT u.id, u.email, u.display_name, u.department, u.location, u.active, u.created_at,
       EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'hr') AS is_hr,
       EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'admin') AS is_admin
FROM users u;
