//! Administration: users, global roles, deactivation, and the audit log.

pub mod audit;
pub mod routes;
pub mod users;
