//! belong: a service for running Business Resource Groups.

/// Users, global roles, deactivation and the audit log.
pub mod admin;
/// JSON bodies, query strings and pagination shared by every route.
pub mod api;
/// Who is signed in: passwords, tokens, throttling, the `CurrentUser` extractor.
pub mod auth;
/// Layered settings.
pub mod config;
/// The pool, migrations and the private development cluster.
pub mod db;
/// The error type, answered as problem+json.
pub mod error;
/// Events, RSVPs with capacity and waitlist, calendar feeds.
pub mod events;
/// Groups, memberships, rosters and their privacy rules.
pub mod groups;
/// Mentoring offers and requests.
pub mod mentoring;
/// Request metrics in Prometheus format.
pub mod metrics;
/// Liveness, readiness and metrics routes.
pub mod ops;
/// The CSV writer and the reports.
pub mod reports;
/// Demo data.
pub mod seed;
/// Building and serving the application.
pub mod startup;
/// Logging.
pub mod telemetry;
/// Bounded free text from clients.
pub mod text;
