//! The directory, a group's page, joining and leaving, RSVPs and mentoring requests.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::error::AppError;
use crate::events::{self, EventAccess, RsvpStatus, rsvp, store};
use crate::groups::directory::{self, GroupRef, MembershipSummary};
use crate::groups::memberships::{self, JoinChoice, Joined};
use crate::groups::notice;
use crate::groups::{JoinPolicy, MembershipRole, MembershipStatus, MembershipType, Visibility};
use crate::lifecycle;
use crate::mentoring::{self, OfferAccess};
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::web::form::Post;
use crate::web::pages::shared::{ConfirmPage, Nothing, done};
use crate::web::session::Signed;
use crate::web::{Chrome, Errors, PageResult, Section, ok, render, see_other, when};

/// What a visibility means, in the words of the join form.
pub fn seen_by(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Public => "Everyone at the company can see you in this group's member list.",
        Visibility::Members => {
            "Members of this group who are themselves visible to members can see you (allies cannot)."
        }
        Visibility::Private => {
            "Only the group's leads (and administrators) can see that you are in this group."
        }
    }
}

/// A membership in a few words: "You are an ally of this group." / "Your request is waiting".
pub fn membership_words(m: &MembershipSummary) -> String {
    let what = match (m.role, m.kind) {
        (MembershipRole::Lead, _) => "a lead",
        (_, MembershipType::Member) => "a member",
        (_, MembershipType::Ally) => "an ally",
    };
    match m.status {
        MembershipStatus::Active => format!("You are {what} of this group."),
        MembershipStatus::Pending => {
            format!("You asked to join as {what}. A lead of the group has not approved it yet.")
        }
    }
}

fn counts(members: i64, allies: i64) -> String {
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    format!(
        "{} and {} that you can see",
        plural(members, "member", "members"),
        plural(allies, "ally", "allies")
    )
}

pub struct Card {
    slug: String,
    name: String,
    tagline: String,
    counts: String,
    badge: Option<String>,
}

#[derive(Template)]
#[template(path = "directory.html")]
pub struct DirectoryPage {
    chrome: Chrome,
    q: String,
    cards: Vec<Card>,
    next_cursor: Option<String>,
    has_next: bool,
    is_later_page: bool,
}

#[derive(Deserialize)]
pub struct DirectoryQuery {
    q: Option<String>,
    cursor: Option<String>,
}

pub async fn directory(
    State(state): State<AppState>,
    mut signed: Signed,
    Query(query): Query<DirectoryQuery>,
) -> PageResult {
    let q = query.q.unwrap_or_default().trim().to_string();
    let page = PageRequest::new(12, query.cursor.clone())?;
    let list = directory::list(
        &state.pool,
        &signed.user,
        (!q.is_empty()).then_some(q.as_str()),
        &page,
    )
    .await?;
    let cards = list
        .items
        .into_iter()
        .map(|g| Card {
            badge: g
                .my_membership
                .as_ref()
                .map(|m| match (m.status, m.role, m.kind) {
                    (MembershipStatus::Pending, _, _) => "Request sent".to_string(),
                    (_, MembershipRole::Lead, _) => "You lead this group".to_string(),
                    (_, _, MembershipType::Member) => "You are a member".to_string(),
                    (_, _, MembershipType::Ally) => "You are an ally".to_string(),
                }),
            counts: counts(g.member_count, g.ally_count),
            slug: g.slug,
            name: g.name,
            tagline: g.tagline,
        })
        .collect();
    let title = if q.is_empty() {
        "Resource groups".to_string()
    } else {
        format!("Groups matching “{q}”")
    };
    Ok(ok(&DirectoryPage {
        chrome: Chrome::signed(&mut signed, title, Section::Groups),
        has_next: list.next_cursor.is_some(),
        next_cursor: list.next_cursor,
        is_later_page: query.cursor.is_some_and(|c| !c.is_empty()),
        cards,
        q,
    }))
}

pub struct GroupView {
    slug: String,
    name: String,
    tagline: String,
    mission: String,
    description: String,
    leads: Vec<String>,
    counts: String,
    archived: bool,
}

pub struct EventView {
    id: String,
    title: String,
    when: String,
    location: Option<String>,
    places: String,
    cancelled: bool,
    mine: Option<String>,
    can_rsvp: bool,
    full: bool,
}

pub struct OfferView {
    id: String,
    title: String,
    description: String,
    mentor: String,
    places: String,
    can_request: bool,
}

/// The join form's state.
pub struct JoinView {
    slug: String,
    group_name: String,
    kind: String,
    visibility: String,
    approval: bool,
    existing: bool,
    /// The group's privacy notice to accept, with its version; empty text: none.
    notice: String,
    notice_version: i32,
    /// The member accepted an older notice (or none): they are asked again.
    consent_outdated: bool,
}

#[derive(Template)]
#[template(path = "group.html")]
pub struct GroupPage {
    chrome: Chrome,
    errors: Errors,
    g: GroupView,
    manage: bool,
    events: Vec<EventView>,
    offers: Vec<OfferView>,
    membership: Option<String>,
    join: JoinView,
}

/// An answer to an event, as its person reads it.
pub fn rsvp_words(status: RsvpStatus, position: Option<i64>) -> String {
    match (status, position) {
        (RsvpStatus::Going, _) => "You are going.".to_string(),
        (RsvpStatus::Waitlisted, Some(n)) => {
            format!("You are number {n} on the waitlist.")
        }
        (RsvpStatus::Waitlisted, None) => "You are on the waitlist.".to_string(),
    }
}

fn places(going: i64, waiting: i64, capacity: Option<i32>) -> String {
    match capacity {
        Some(c) => {
            let left = (i64::from(c) - going).max(0);
            let mut text = format!("{going} going, {left} of {c} places left");
            if waiting > 0 {
                text.push_str(&format!(", {waiting} on the waitlist"));
            }
            text
        }
        None => format!("{going} going, no limit on places"),
    }
}

fn join_view(
    group: &GroupRef,
    name: &str,
    mine: Option<&MembershipSummary>,
    notice: &notice::PrivacyNotice,
    kind: Option<String>,
    visibility: Option<String>,
) -> JoinView {
    JoinView {
        notice: notice.text.clone(),
        notice_version: notice.version,
        consent_outdated: mine.is_some_and(|m| m.consent_outdated),
        slug: group.slug.clone(),
        group_name: name.to_string(),
        kind: kind
            .or_else(|| mine.map(|m| m.kind.as_str().to_string()))
            .unwrap_or_default(),
        visibility: visibility
            .or_else(|| mine.map(|m| m.visibility.as_str().to_string()))
            .unwrap_or_else(|| Visibility::Members.as_str().to_string()),
        approval: group.join_policy == JoinPolicy::Approval,
        existing: mine.is_some(),
    }
}

async fn group_page(
    state: &AppState,
    signed: &mut Signed,
    slug: &str,
    errors: Errors,
    typed: Option<(Option<String>, Option<String>)>,
) -> Result<(GroupPage, GroupRef), crate::web::PageError> {
    // One connection for the page's four queries: sqlx pings a connection each time it goes
    // back to the pool, a round trip each.
    let mut db = state.pool.acquire().await?;
    let (group, detail) = directory::show(&mut *db, &signed.user, slug).await?;
    let upcoming = store::list(&mut *db, &group, None, None, &PageRequest::first(20)).await?;
    let offers = mentoring::list_offers(&mut *db, &group, &PageRequest::first(20)).await?;
    let privacy = notice::get(&mut *db, &group).await?;
    drop(db);
    let events = upcoming
        .items
        .into_iter()
        .map(|e| {
            let access = EventAccess {
                group: group.access.clone(),
                audience: e.audience,
            };
            EventView {
                id: e.id.to_string(),
                when: when(e.starts_at),
                places: places(e.going_count, e.waitlist_count, e.capacity),
                full: e.capacity.is_some_and(|c| e.going_count >= i64::from(c)),
                mine: e.my_rsvp.map(|s| rsvp_words(s, e.my_waitlist_position)),
                can_rsvp: access.can_rsvp(),
                cancelled: e.cancelled,
                location: e.location,
                title: e.title,
            }
        })
        .collect();
    let offers = offers
        .items
        .into_iter()
        .map(|o| {
            let access = OfferAccess {
                group: group.access.clone(),
                mentor_id: o.mentor.id,
            };
            OfferView {
                id: o.id.to_string(),
                places: format!(
                    "{} of {} places taken",
                    o.slots_taken.min(i64::from(o.slots)),
                    o.slots
                ),
                can_request: access.can_request(),
                title: o.title,
                description: o.description,
                mentor: o.mentor.display_name,
            }
        })
        .collect();
    let (kind, visibility) = typed.unwrap_or((None, None));
    let join = join_view(
        &group,
        &detail.name,
        detail.my_membership.as_ref(),
        &privacy,
        kind,
        visibility,
    );
    let membership = detail
        .my_membership
        .as_ref()
        .map(|m| format!("{} {}", membership_words(m), seen_by(m.visibility)));
    let chrome = Chrome::signed(signed, detail.name.clone(), Section::Groups).with_errors(&errors);
    let page = GroupPage {
        chrome,
        errors,
        manage: group.access.can_manage(),
        events,
        offers,
        membership,
        join,
        g: GroupView {
            slug: detail.slug,
            tagline: detail.tagline,
            mission: detail.mission,
            description: detail.description,
            leads: detail.leads.into_iter().map(|l| l.display_name).collect(),
            counts: counts(detail.member_count, detail.ally_count),
            archived: detail.archived,
            name: detail.name,
        },
    };
    Ok((page, group))
}

pub async fn group(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (page, _) = group_page(&state, &mut signed, &slug, Errors::none(), None).await?;
    Ok(ok(&page))
}

#[derive(Template)]
#[template(path = "join.html")]
pub struct JoinPage {
    chrome: Chrome,
    errors: Errors,
    join: JoinView,
}

async fn join_form(
    state: &AppState,
    signed: &mut Signed,
    slug: &str,
    errors: Errors,
    typed: (Option<String>, Option<String>),
) -> Result<JoinPage, crate::web::PageError> {
    let (group, detail) = directory::show(&state.pool, &signed.user, slug).await?;
    let privacy = notice::get(&state.pool, &group).await?;
    let join = join_view(
        &group,
        &detail.name,
        detail.my_membership.as_ref(),
        &privacy,
        typed.0,
        typed.1,
    );
    let title = if join.existing {
        format!("Change how you are in {}", detail.name)
    } else {
        format!("Join {}", detail.name)
    };
    Ok(JoinPage {
        chrome: Chrome::signed(signed, title, Section::Groups).with_errors(&errors),
        errors,
        join,
    })
}

pub async fn join_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let page = join_form(&state, &mut signed, &slug, Errors::none(), (None, None)).await?;
    Ok(ok(&page))
}

#[derive(Deserialize)]
pub struct JoinForm {
    #[serde(rename = "type")]
    kind: Option<String>,
    visibility: Option<String>,
    consent_version: Option<String>,
}

pub async fn join(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<JoinForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let group = directory::resolve(&state.pool, &signed.user, &slug).await?;
    let mut errors = Errors::none();
    let kind = match form.kind.as_deref() {
        Some(raw) => MembershipType::parse_field(raw).ok(),
        None => None,
    };
    if kind.is_none() {
        errors.push("type", "Select whether you join as a member or as an ally");
    }
    let visibility = match form.visibility.as_deref() {
        Some(raw) => Visibility::parse_field(raw).ok(),
        None => None,
    };
    if visibility.is_none() {
        errors.push(
            "visibility",
            "Select who can see that you are in this group",
        );
    }
    if let (Some(kind), Some(visibility), true) = (kind, visibility, errors.is_empty()) {
        let choice = JoinChoice {
            kind,
            visibility: Some(visibility),
            consent_version: form.consent_version.as_deref().and_then(|v| v.parse().ok()),
        };
        let accepted = choice.consent_version;
        match memberships::join(&state.pool, &group, choice).await {
            Ok(joined) => {
                let detail = directory::detail(&state.pool, &group).await?;
                let message = match joined {
                    Joined::Created(m) if m.status == MembershipStatus::Pending => format!(
                        "Your request to join {} was sent. A lead of the group will approve it. {}",
                        detail.name,
                        seen_by(m.visibility)
                    ),
                    Joined::Created(m) => format!(
                        "You joined {} as {}. {}",
                        detail.name,
                        if m.kind == MembershipType::Ally {
                            "an ally"
                        } else {
                            "a member"
                        },
                        seen_by(m.visibility)
                    ),
                    Joined::Existing(m) => format!(
                        "Your choices for {} are saved{}. {}",
                        detail.name,
                        if accepted.is_some() && accepted == m.consent_version.map(i64::from) {
                            ", and you accepted its privacy notice"
                        } else {
                            ""
                        },
                        seen_by(m.visibility)
                    ),
                };
                return done(
                    &state,
                    &signed,
                    &message,
                    &format!("/groups/{}", group.slug),
                )
                .await;
            }
            Err(AppError::Conflict(detail)) => {
                errors.push("visibility", crate::web::sentence(&detail))
            }
            Err(error) => errors = Errors::from_app(error)?,
        }
    }
    let page = join_form(
        &state,
        &mut signed,
        &slug,
        errors,
        (form.kind, form.visibility),
    )
    .await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn leave_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, detail) = directory::show(&state.pool, &signed.user, &slug).await?;
    if detail.my_membership.is_none() {
        return Ok(see_other(&format!("/groups/{}", group.slug)));
    }
    let name = &detail.name;
    ConfirmPage::new(&mut signed, Section::MyGroups, format!("Leave {name}?"))
        .consequence("You will no longer be on the group's member list. Your places at the group's members-only events and your mentoring requests in this group will be cancelled.")
        .consequence("You can join again at any time.")
        .button(format!("/groups/{}/leave", group.slug), format!("Leave {name}"))
        .back(format!("/groups/{}", group.slug), "Stay in the group")
        .answer()
}

pub async fn leave(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<Nothing>,
) -> PageResult {
    let signed = post.signed;
    let (group, detail) = directory::show(&state.pool, &signed.user, &slug).await?;
    lifecycle::leave(&state.pool, &group).await?;
    let message = format!("You left {}.", detail.name);
    done(&state, &signed, &message, "/me/groups").await
}

#[derive(Deserialize)]
pub struct RsvpForm {
    back: Option<String>,
}

fn back_to(back: Option<&str>, group_slug: &str) -> String {
    match back {
        Some("/me/events") => "/me/events".to_string(),
        _ => format!("/groups/{group_slug}"),
    }
}

pub async fn rsvp(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<RsvpForm>,
) -> PageResult {
    let signed = post.signed;
    let event = events::resolve(&state.pool, &signed.user, &id).await?;
    let answer = rsvp::respond(&state.pool, &event).await?;
    let detail = store::detail(&state.pool, &event).await?;
    let message = match (answer.status, answer.waitlist_position) {
        (RsvpStatus::Going, _) => format!("You have a place at {}.", detail.title),
        (RsvpStatus::Waitlisted, Some(n)) => format!(
            "{} is full. You are number {n} on the waitlist, and you will get a place if one comes free.",
            detail.title
        ),
        (RsvpStatus::Waitlisted, None) => {
            format!("{} is full. You are on the waitlist.", detail.title)
        }
    };
    let back = back_to(post.form.back.as_deref(), &event.group_slug);
    done(&state, &signed, &message, &back).await
}

pub async fn cancel_rsvp(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<RsvpForm>,
) -> PageResult {
    let signed = post.signed;
    let event = events::resolve(&state.pool, &signed.user, &id).await?;
    rsvp::withdraw(&state.pool, &event).await?;
    let detail = store::detail(&state.pool, &event).await?;
    let message = format!("You cancelled your place at {}.", detail.title);
    let back = back_to(post.form.back.as_deref(), &event.group_slug);
    done(&state, &signed, &message, &back).await
}

#[derive(Template)]
#[template(path = "mentoring_request.html")]
pub struct MentoringRequestPage {
    chrome: Chrome,
    errors: Errors,
    offer_id: String,
    offer_title: String,
    mentor: String,
    group_slug: String,
    message: String,
}

async fn mentoring_form(
    state: &AppState,
    signed: &mut Signed,
    id: &str,
    errors: Errors,
    message: String,
) -> Result<MentoringRequestPage, crate::web::PageError> {
    let offer_ref = mentoring::resolve_offer(&state.pool, &signed.user, id).await?;
    if !offer_ref.access.can_request() || offer_ref.closed {
        return Err(AppError::NotFound.into());
    }
    let offer = mentoring::offer(&state.pool, offer_ref.id).await?;
    Ok(MentoringRequestPage {
        chrome: Chrome::signed(
            signed,
            format!("Ask for mentoring: {}", offer.title),
            Section::MyMentoring,
        )
        .with_errors(&errors),
        errors,
        offer_id: offer.id.to_string(),
        offer_title: offer.title,
        mentor: offer.mentor.display_name,
        group_slug: offer.group_slug,
        message,
    })
}

pub async fn mentoring_request_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let page = mentoring_form(&state, &mut signed, &id, Errors::none(), String::new()).await?;
    Ok(ok(&page))
}

#[derive(Deserialize)]
pub struct MentoringForm {
    #[serde(default)]
    message: String,
}

pub async fn mentoring_request(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<MentoringForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let offer_ref = mentoring::resolve_offer(&state.pool, &signed.user, &id).await?;
    let message = form.message.trim();
    let message = (!message.is_empty()).then_some(message);
    match mentoring::request(&state.pool, &offer_ref, message).await {
        Ok(request) => {
            let message = format!("Your request for {} was sent.", request.offer_title);
            done(&state, &signed, &message, "/me/mentoring").await
        }
        Err(error) => {
            let errors = Errors::from_app(error)?;
            let page = mentoring_form(&state, &mut signed, &id, errors, form.message).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
