//! The web pages in a real headless Chromium, against the real server and database: the
//! journeys of employees, leads, HR and admins, with axe-core on every page they visit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod browser;
mod employee;
mod fixtures;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod lead;
#[path = "../support/npm.rs"]
#[allow(dead_code)]
mod npm;
mod sso;
