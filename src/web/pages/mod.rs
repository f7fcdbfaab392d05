//! The pages, by audience: signing in (with a password or single sign-on), the directory and
//! groups, "my" pages, a group's management, reports and administration; `shared` holds what
//! several of them use.

pub mod admin;
pub mod auth;
pub mod groups;
pub mod manage;
pub mod me;
pub mod oidc;
pub mod reports;
pub mod shared;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;
use manage::{about, events, members, mentoring};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/register", get(auth::register_page).post(auth::register))
        .route("/auth/oidc/login", get(oidc::login))
        .route("/auth/oidc/callback", get(oidc::callback))
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
        .route("/groups/{slug}/manage", get(members::roster))
        .route(
            "/groups/{slug}/manage/members.csv",
            get(members::roster_csv),
        )
        .route(
            "/groups/{slug}/manage/members/{id}/approve",
            post(members::approve),
        )
        .route(
            "/groups/{slug}/manage/members/{id}/remove",
            get(members::remove_page).post(members::remove),
        )
        .route(
            "/groups/{slug}/manage/members/{id}/promote",
            get(members::promote_page).post(members::promote),
        )
        .route("/groups/{slug}/manage/events", get(events::list))
        .route(
            "/groups/{slug}/manage/events/new",
            get(events::new_page).post(events::create),
        )
        .route(
            "/groups/{slug}/manage/events/{id}/edit",
            get(events::edit_page).post(events::edit),
        )
        .route(
            "/groups/{slug}/manage/events/{id}/cancel",
            get(events::cancel_page).post(events::cancel),
        )
        .route(
            "/groups/{slug}/manage/events/{id}/attendees",
            get(events::attendees),
        )
        .route("/groups/{slug}/manage/mentoring", get(mentoring::list))
        .route(
            "/groups/{slug}/manage/mentoring/new",
            get(mentoring::new_offer_page).post(mentoring::new_offer),
        )
        .route(
            "/groups/{slug}/manage/mentoring/{id}/close",
            get(mentoring::close_offer_page).post(mentoring::close_offer),
        )
        .route(
            "/groups/{slug}/manage/mentoring/requests/{id}/accept",
            post(mentoring::accept_request),
        )
        .route(
            "/groups/{slug}/manage/mentoring/requests/{id}/decline",
            post(mentoring::decline_request),
        )
        .route(
            "/groups/{slug}/manage/page",
            get(about::page_text_page).post(about::page_text),
        )
        .route(
            "/groups/{slug}/manage/notice",
            get(about::notice_page).post(about::publish_notice),
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
            get(admin::new_group_page).post(admin::new_group),
        )
        .route(
            "/admin/groups/{slug}/edit",
            get(admin::edit_group_page).post(admin::edit_group),
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
