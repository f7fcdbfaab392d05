//! Reports: the project's one CSV writer, small-count suppression, the report queries.

pub mod csv;
