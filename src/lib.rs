//! belong: a service for running Business Resource Groups.
//!
//! The modules form layers, and each imports only from the layers below it (`scripts/check-layers.py`
//! enforces the order; `docs/architecture.md` explains it):
//! leaves → accounts → auth → domains (groups, events, mentoring, reports) → lifecycle → seed →
//! state → front doors (api, scim, web) → startup.

// Leaves: no knowledge of users or groups.
/// The append-only audit log.
pub mod audit;
/// Layered settings.
pub mod config;
/// RFC 4180 CSV with spreadsheet-formula neutralisation.
pub mod csv;
/// The pool, migrations and the private development cluster.
pub mod db;
/// The error type, answered as problem+json.
pub mod error;
/// Instants as clients write them.
pub mod instant;
/// Request metrics in Prometheus format.
pub mod metrics;
/// Keyset pagination.
pub mod paging;
/// Partial updates: keep, clear or set.
pub mod patch;
/// Logging.
pub mod telemetry;
/// Bounded free text from clients.
pub mod text;
/// Whole numbers as JSON sends them (`3.0` is 3).
pub mod whole;

/// Users, global roles, email, passwords, registration, the last-admin rule, the principal.
pub mod accounts;
/// Who is signed in: the credentials check, tokens, throttling, the `CurrentUser` extractor.
pub mod auth;

/// Events, RSVPs with capacity and waitlist, calendar feeds.
pub mod events;
/// Groups, memberships, rosters and their privacy rules.
pub mod groups;
/// Mentoring offers and requests.
pub mod mentoring;
/// The reports.
pub mod reports;

/// Leaving, removal and deactivation: the one place that ends memberships, RSVPs and mentoring
/// together.
pub mod lifecycle;
/// Demo data.
pub mod seed;

/// The application state the front doors share.
pub mod state;

/// The JSON API: handlers and the OpenAPI document.
pub mod api;
/// Provisioning with SCIM 2.0 under `/scim/v2`.
pub mod scim;
/// The web pages: sessions, CSRF, templates.
pub mod web;

/// Building and serving the application.
pub mod startup;
