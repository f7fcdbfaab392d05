//! Reports for HR and admins: the project's one CSV writer, small-count suppression, the report
//! queries, and their streaming with an audit record of every download.

pub mod breakdown;
pub mod export;
pub mod groups;
pub mod memberships;
pub mod period;
pub mod roster;
pub mod suppression;
