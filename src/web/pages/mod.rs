//! The pages, by audience: signing in, the directory and groups, "my" pages.

pub mod auth;
pub mod groups;
pub mod me;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/register", get(auth::register_page).post(auth::register))
        .route("/help", get(auth::help))
        .route("/", get(groups::directory))
        .route("/groups/{slug}", get(groups::group))
        .route(
            "/groups/{slug}/join",
            get(groups::join_page).post(groups::join),
        )
        .route(
            "/groups/{slug}/leave",
            get(groups::leave_page).post(groups::leave),
        )
        .route("/events/{id}/rsvp", post(groups::rsvp))
        .route("/events/{id}/cancel-rsvp", post(groups::cancel_rsvp))
        .route(
            "/mentoring/{id}/request",
            get(groups::mentoring_request_page).post(groups::mentoring_request),
        )
        .route(
            "/mentoring/requests/{id}/withdraw",
            post(me::withdraw_mentoring_request),
        )
        .route("/me", get(me::me))
        .route("/me/groups", get(me::groups))
        .route("/me/events", get(me::events))
        .route("/me/calendar", get(me::calendar))
        .route("/me/calendar/rotate", post(me::rotate_calendar))
        .route("/me/mentoring", get(me::mentoring))
}
