//! The pages, by audience: signing in, the directory and groups, "my" pages.

pub mod admin;
pub mod auth;
pub mod groups;
pub mod manage;
pub mod me;
pub mod reports;

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
        .route("/groups/{slug}/manage", get(manage::roster))
        .route("/groups/{slug}/manage/members.csv", get(manage::roster_csv))
        .route(
            "/groups/{slug}/manage/members/{id}/approve",
            post(manage::approve),
        )
        .route(
            "/groups/{slug}/manage/members/{id}/remove",
            get(manage::remove_page).post(manage::remove),
        )
        .route(
            "/groups/{slug}/manage/members/{id}/promote",
            get(manage::promote_page).post(manage::promote),
        )
        .route("/groups/{slug}/manage/events", get(manage::events))
        .route(
            "/groups/{slug}/manage/events/new",
            get(manage::new_event_page).post(manage::new_event),
        )
        .route(
            "/groups/{slug}/manage/events/{id}/edit",
            get(manage::edit_event_page).post(manage::edit_event),
        )
        .route(
            "/groups/{slug}/manage/events/{id}/cancel",
            get(manage::cancel_event_page).post(manage::cancel_event),
        )
        .route(
            "/groups/{slug}/manage/events/{id}/attendees",
            get(manage::attendees),
        )
        .route("/groups/{slug}/manage/mentoring", get(manage::mentoring))
        .route(
            "/groups/{slug}/manage/mentoring/new",
            get(manage::new_offer_page).post(manage::new_offer),
        )
        .route(
            "/groups/{slug}/manage/mentoring/{id}/close",
            get(manage::close_offer_page).post(manage::close_offer),
        )
        .route(
            "/groups/{slug}/manage/mentoring/requests/{id}/accept",
            post(manage::accept_request),
        )
        .route(
            "/groups/{slug}/manage/mentoring/requests/{id}/decline",
            post(manage::decline_request),
        )
        .route(
            "/groups/{slug}/manage/page",
            get(manage::page_text_page).post(manage::page_text),
        )
        .route("/reports", get(reports::reports))
        .route("/reports/groups.csv", get(reports::groups_csv))
        .route("/reports/memberships.csv", get(reports::memberships_csv))
        .route("/reports/breakdown.csv", get(reports::breakdown_csv))
        .route(
            "/admin",
            get(|| async { crate::web::see_other("/admin/users") }),
        )
        .route("/admin/users", get(admin::users))
        .route(
            "/admin/users/{id}/roles",
            get(admin::roles_page).post(admin::set_roles),
        )
        .route(
            "/admin/users/{id}/deactivate",
            get(admin::deactivate_page).post(admin::deactivate),
        )
        .route("/admin/groups", get(admin::groups))
        .route(
            "/admin/groups/new",
            get(admin::new_group_page_get).post(admin::new_group),
        )
        .route(
            "/admin/groups/{slug}/archive",
            get(admin::archive_page).post(admin::archive),
        )
        .route("/admin/audit", get(admin::audit))
        .route("/me", get(me::me))
        .route("/me/groups", get(me::groups))
        .route("/me/events", get(me::events))
        .route("/me/calendar", get(me::calendar))
        .route("/me/calendar/rotate", post(me::rotate_calendar))
        .route("/me/mentoring", get(me::mentoring))
}
