//! Integration tests: the real application on a random port, a fresh database per test, HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_matrix;
mod admin;
mod auth;
mod cli;
mod contract;
mod contradictions;
mod counts;
mod demo;
mod edges;
mod events;
mod faults;
mod groups;
mod helpers;
mod memberships;
mod mentoring;
#[path = "../support/npm.rs"]
#[allow(dead_code)]
mod npm;
mod oidc;
mod ops;
mod principals;
mod privacy;
mod reports;
mod scim;
mod web;
