//! "My" pages: groups, events, calendar feed, mentoring.

use askama::Template;
use axum::extract::{Path, State};

use crate::events::{calendar, rsvp};
use crate::groups::memberships;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType};
use crate::mentoring::{self, RequestStatus};
use crate::state::AppState;
use crate::web::form::Post;
use crate::web::pages::groups::{rsvp_words, seen_by};
use crate::web::pages::shared::{Nothing, done};
use crate::web::session::Signed;
use crate::web::{Chrome, PageResult, Section, day, ok, see_other, when};

pub async fn me(_signed: Signed) -> PageResult {
    Ok(see_other("/me/groups"))
}

pub struct MyGroup {
    slug: String,
    name: String,
    summary: String,
    seen_by: &'static str,
    /// The group's privacy notice changed since the member accepted it.
    notice_changed: bool,
}

#[derive(Template)]
#[template(path = "me_groups.html")]
pub struct MyGroupsPage {
    chrome: Chrome,
    groups: Vec<MyGroup>,
}

pub async fn groups(State(state): State<AppState>, mut signed: Signed) -> PageResult {
    let mine = memberships::mine_named(&state.pool, signed.user.id).await?;
    let groups = mine
        .into_iter()
        .map(|(name, m)| {
            let what = match (m.role, m.kind) {
                (MembershipRole::Lead, _) => "Lead",
                (_, MembershipType::Member) => "Member",
                (_, MembershipType::Ally) => "Ally",
            };
            let summary = match m.status {
                MembershipStatus::Active => format!("{what} since {}.", day(m.joined_at)),
                MembershipStatus::Pending => {
                    format!("{what}: your request is waiting for a lead's approval.")
                }
            };
            MyGroup {
                slug: m.group_slug,
                name,
                summary,
                seen_by: seen_by(m.visibility),
                notice_changed: m.consent_outdated,
            }
        })
        .collect();
    Ok(ok(&MyGroupsPage {
        chrome: Chrome::signed(&mut signed, "My groups", Section::MyGroups),
        groups,
    }))
}

pub struct MyEvent {
    id: String,
    title: String,
    group_slug: String,
    group_name: String,
    when: String,
    location: Option<String>,
    status: String,
    cancelled: bool,
}

#[derive(Template)]
#[template(path = "me_events.html")]
pub struct MyEventsPage {
    chrome: Chrome,
    events: Vec<MyEvent>,
}

pub async fn events(State(state): State<AppState>, mut signed: Signed) -> PageResult {
    let mine = rsvp::mine(&state.pool, signed.user.id).await?;
    let events = mine
        .into_iter()
        .map(|r| MyEvent {
            id: r.event_id.to_string(),
            status: if r.cancelled {
                "This event is cancelled.".to_string()
            } else {
                rsvp_words(r.status, r.waitlist_position)
            },
            when: when(r.starts_at),
            cancelled: r.cancelled,
            title: r.title,
            group_slug: r.group_slug,
            group_name: r.group_name,
            location: r.location,
        })
        .collect();
    Ok(ok(&MyEventsPage {
        chrome: Chrome::signed(&mut signed, "My events", Section::MyEvents),
        events,
    }))
}

#[derive(Template)]
#[template(path = "me_calendar.html")]
pub struct CalendarPage {
    chrome: Chrome,
    url: String,
}

pub async fn calendar(State(state): State<AppState>, mut signed: Signed) -> PageResult {
    let token = calendar::token(&state.pool, &state.feeds, signed.user.id).await?;
    Ok(ok(&CalendarPage {
        chrome: Chrome::signed(&mut signed, "Calendar feed", Section::Calendar),
        url: format!("{}/ical/{token}", state.settings.server.public_url),
    }))
}

pub async fn rotate_calendar(State(state): State<AppState>, post: Post<Nothing>) -> PageResult {
    calendar::rotate(&state.pool, &state.feeds, post.signed.user.id).await?;
    let message = "You have a new calendar address. The old one no longer works.";
    done(&state, &post.signed, message, "/me/calendar").await
}

pub struct MyRequest {
    id: String,
    offer_title: String,
    group_slug: String,
    asked: String,
    status: &'static str,
    message: String,
    can_withdraw: bool,
}

#[derive(Template)]
#[template(path = "me_mentoring.html")]
pub struct MyMentoringPage {
    chrome: Chrome,
    requests: Vec<MyRequest>,
    offers: Vec<String>,
}

pub async fn mentoring(State(state): State<AppState>, mut signed: Signed) -> PageResult {
    let mine = mentoring::mine(&state.pool, signed.user.id).await?;
    let requests = mine
        .requests
        .into_iter()
        .map(|r| MyRequest {
            id: r.id.to_string(),
            status: match r.status {
                RequestStatus::Pending => "Waiting for an answer",
                RequestStatus::Accepted => "Accepted",
                RequestStatus::Declined => "Declined",
                RequestStatus::Withdrawn => "Withdrawn",
            },
            can_withdraw: matches!(r.status, RequestStatus::Pending | RequestStatus::Accepted),
            asked: day(r.created_at),
            offer_title: r.offer_title,
            group_slug: r.group_slug,
            message: r.message,
        })
        .collect();
    let offers = mine
        .offers
        .into_iter()
        .map(|o| {
            format!(
                "{} ({}): {} of {} places taken{}",
                o.title,
                o.group_slug,
                o.slots_taken,
                o.slots,
                if o.closed { ", closed" } else { "" }
            )
        })
        .collect();
    Ok(ok(&MyMentoringPage {
        chrome: Chrome::signed(&mut signed, "My mentoring", Section::MyMentoring),
        requests,
        offers,
    }))
}

pub async fn withdraw_mentoring_request(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<Nothing>,
) -> PageResult {
    let request = mentoring::decide(
        &state.pool,
        &post.signed.user,
        &id,
        RequestStatus::Withdrawn,
    )
    .await?;
    let message = format!("You withdrew your request for {}.", request.offer_title);
    done(&state, &post.signed, &message, "/me/mentoring").await
}
