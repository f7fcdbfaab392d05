//! A group's management pages, for its leads and admins: members (approve, remove, promote,
//! the CSV), events (post, edit, cancel, attendees), mentoring (offers, requests) and the
//! page text. Anyone else finds no page here (404).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use crate::error::AppError;
use crate::events::fields::EventFields;
use crate::events::{self, EventRef, RsvpStatus, rsvp, store};
use crate::groups::directory::{self, GroupRef};
use crate::groups::editing::{self, GroupFields};
use crate::groups::memberships::{self, MemberChange};
use crate::groups::roster;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType, Visibility};
use crate::lifecycle;
use crate::mentoring::{self, OfferFields, RequestStatus};
use crate::paging::PageRequest;
use crate::patch::Patch;
use crate::state::AppState;
use crate::web::form::{Field, Post};
use crate::web::pages::groups::seen_by;
use crate::web::session::Signed;
use crate::web::{
    Chrome, Errors, PageError, PageResult, Section, day, ok, render, see_other, when,
};

/// The group, if the caller may manage it; otherwise there is no such page.
async fn managed(
    state: &AppState,
    signed: &Signed,
    slug: &str,
) -> Result<(GroupRef, String), PageError> {
    let group = directory::resolve(&state.pool, &signed.user, slug).await?;
    if !group.access.can_manage() {
        return Err(AppError::NotFound.into());
    }
    let name = directory::detail(&state.pool, &group).await?.name;
    Ok((group, name))
}

async fn flash(state: &AppState, signed: &Signed, message: &str) -> Result<(), PageError> {
    crate::auth::web_session::set_flash(&state.pool, signed.session.id, message).await?;
    Ok(())
}

fn kind_words(kind: MembershipType) -> &'static str {
    match kind {
        MembershipType::Member => "a member",
        MembershipType::Ally => "an ally",
    }
}

fn visibility_words(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Public => "Everyone",
        Visibility::Members => "Members",
        Visibility::Private => "Leads only",
    }
}

pub struct Pending {
    id: Uuid,
    name: String,
    email: String,
    kind: &'static str,
    since: String,
    seen_by: &'static str,
}

pub struct Member {
    id: Uuid,
    name: String,
    email: String,
    department: String,
    role: &'static str,
    visibility: &'static str,
    is_lead: bool,
}

#[derive(Template)]
#[template(path = "manage_roster.html")]
pub struct RosterPage {
    chrome: Chrome,
    slug: String,
    group_name: String,
    tab: &'static str,
    pending: Vec<Pending>,
    members: Vec<Member>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
}

pub async fn roster(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
    Query(query): Query<CursorQuery>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let page = roster::page(&state.pool, &group, &PageRequest::new(100, query.cursor)?).await?;
    let mut pending = Vec::new();
    let mut members = Vec::new();
    for entry in page.items {
        let Some(contact) = entry.contact else {
            continue;
        };
        if entry.status == MembershipStatus::Pending {
            pending.push(Pending {
                id: entry.user_id,
                name: entry.display_name,
                email: contact.email,
                kind: kind_words(entry.kind),
                since: day(entry.joined_at),
                seen_by: seen_by(contact.visibility),
            });
        } else {
            members.push(Member {
                id: entry.user_id,
                name: entry.display_name,
                email: contact.email,
                department: contact.department.unwrap_or_default(),
                role: match (entry.role, entry.kind) {
                    (MembershipRole::Lead, _) => "Lead",
                    (_, MembershipType::Member) => "Member",
                    (_, MembershipType::Ally) => "Ally",
                },
                visibility: visibility_words(contact.visibility),
                is_lead: entry.role == MembershipRole::Lead,
            });
        }
    }
    Ok(ok(&RosterPage {
        chrome: Chrome::signed(&mut signed, format!("Members of {name}"), Section::None),
        slug: group.slug,
        group_name: name,
        tab: "members",
        pending,
        members,
        next_cursor: page.next_cursor,
    }))
}

pub async fn roster_csv(
    State(state): State<AppState>,
    signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    Ok(crate::reports::roster::members_csv(&state.pool, &state.exports, &group).await?)
}

/// A member of the group by id, as the roster shows it to the lead.
async fn member_name(
    state: &AppState,
    group: &GroupRef,
    raw: &str,
) -> Result<(Uuid, String), PageError> {
    let id = Uuid::parse_str(raw).map_err(|_| AppError::NotFound)?;
    let mut cursor = None;
    loop {
        let page = roster::page(&state.pool, group, &PageRequest::new(100, cursor)?).await?;
        if let Some(entry) = page.items.iter().find(|e| e.user_id == id) {
            return Ok((id, entry.display_name.clone()));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Err(AppError::NotFound.into()),
        }
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn approve(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _) = managed(&state, &post.signed, &slug).await?;
    let (target, name) = member_name(&state, &group, &id).await?;
    memberships::change_member(
        &state.pool,
        &group,
        target,
        MemberChange {
            approve: true,
            role: None,
        },
    )
    .await?;
    flash(&state, &post.signed, &format!("You approved {name}.")).await?;
    Ok(see_other(&format!("/groups/{}/manage", group.slug)))
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub consequences: Vec<String>,
    pub action: String,
    pub button: String,
    pub back: String,
    pub back_label: String,
}

pub async fn remove_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, group_name) = managed(&state, &signed, &slug).await?;
    let (target, name) = member_name(&state, &group, &id).await?;
    let heading = format!("Remove {name} from {group_name}?");
    Ok(ok(&ConfirmPage {
        chrome: Chrome::signed(&mut signed, heading.clone(), Section::None),
        heading,
        consequences: vec![
            format!("{name} will no longer be in the group, or their request to join will be declined."),
            "Their places at the group's members-only events and their mentoring requests in this group are cancelled.".into(),
            "They can ask to join again.".into(),
        ],
        action: format!("/groups/{}/manage/members/{target}/remove", group.slug),
        button: format!("Remove {name}"),
        back: format!("/groups/{}/manage", group.slug),
        back_label: "Keep them in the group".into(),
    }))
}

pub async fn remove(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, group_name) = managed(&state, &post.signed, &slug).await?;
    let (target, name) = member_name(&state, &group, &id).await?;
    lifecycle::remove_member(&state.pool, &group, target).await?;
    flash(
        &state,
        &post.signed,
        &format!("You removed {name} from {group_name}."),
    )
    .await?;
    Ok(see_other(&format!("/groups/{}/manage", group.slug)))
}

pub async fn promote_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, group_name) = managed(&state, &signed, &slug).await?;
    let (target, name) = member_name(&state, &group, &id).await?;
    let heading = format!("Make {name} a co-lead of {group_name}?");
    Ok(ok(&ConfirmPage {
        chrome: Chrome::signed(&mut signed, heading.clone(), Section::None),
        heading,
        consequences: vec![
            format!("{name} will be able to manage the group: see every member, approve and remove members, post events and mentoring offers, and edit the group's page."),
            "Leading a group is a public role: every employee will see them named as a lead. Only a member who chose to be seen by everyone can be made a lead.".into(),
        ],
        action: format!("/groups/{}/manage/members/{target}/promote", group.slug),
        button: format!("Make {name} a co-lead"),
        back: format!("/groups/{}/manage", group.slug),
        back_label: "Go back".into(),
    }))
}

pub async fn promote(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _) = managed(&state, &post.signed, &slug).await?;
    let (target, name) = member_name(&state, &group, &id).await?;
    memberships::change_member(
        &state.pool,
        &group,
        target,
        MemberChange {
            approve: false,
            role: Some(MembershipRole::Lead),
        },
    )
    .await?;
    flash(&state, &post.signed, &format!("{name} is now a co-lead.")).await?;
    Ok(see_other(&format!("/groups/{}/manage", group.slug)))
}

pub struct EventLine {
    id: Uuid,
    title: String,
    when: String,
    places: String,
    cancelled: bool,
}

#[derive(Template)]
#[template(path = "manage_events.html")]
pub struct EventsPage {
    chrome: Chrome,
    slug: String,
    group_name: String,
    tab: &'static str,
    events: Vec<EventLine>,
}

fn places(going: i64, waiting: i64, capacity: Option<i32>) -> String {
    match capacity {
        Some(c) => format!("{going} of {c} places taken, {waiting} on the waitlist"),
        None => format!("{going} going, no limit on places"),
    }
}

pub async fn events(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let list = store::list(&state.pool, &group, None, None, &PageRequest::first(100)).await?;
    let events = list
        .items
        .into_iter()
        .map(|e| EventLine {
            id: e.id,
            when: when(e.starts_at),
            places: places(e.going_count, e.waitlist_count, e.capacity),
            cancelled: e.cancelled,
            title: e.title,
        })
        .collect();
    Ok(ok(&EventsPage {
        chrome: Chrome::signed(&mut signed, format!("Events of {name}"), Section::None),
        slug: group.slug,
        group_name: name,
        tab: "events",
        events,
    }))
}

#[derive(Template)]
#[template(path = "form_page.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub errors: Errors,
    pub heading: String,
    pub intro: String,
    pub action: String,
    pub button: String,
    pub back: String,
    pub fields: Vec<Field>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EventForm {
    title: String,
    description: String,
    starts_at: String,
    ends_at: String,
    location: String,
    online_url: String,
    capacity: String,
    audience: String,
}

const LOCAL_MINUTE: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]");

/// A `datetime-local` value, read as UTC, in the RFC 3339 the domain parses; anything else is
/// passed on for the domain to name.
fn instant(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match time::PrimitiveDateTime::parse(raw, LOCAL_MINUTE) {
        Ok(_) => Some(format!("{raw}:00Z")),
        Err(_) => Some(raw.to_string()),
    }
}

fn optional_text(raw: &str) -> Patch<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        Patch::Clear
    } else {
        Patch::Set(raw.to_string())
    }
}

impl EventForm {
    fn fields(&self) -> Result<EventFields, Errors> {
        let capacity = match self.capacity.trim() {
            "" => Patch::Clear,
            raw => match raw.parse::<i64>() {
                Ok(n) => Patch::Set(n),
                Err(_) => {
                    let mut errors = Errors::none();
                    errors.push("capacity", "Enter the number of places as a whole number, or leave it empty for no limit");
                    return Err(errors);
                }
            },
        };
        Ok(EventFields {
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            starts_at: instant(&self.starts_at),
            ends_at: instant(&self.ends_at),
            location: optional_text(&self.location),
            online_url: optional_text(&self.online_url),
            capacity,
            audience: Some(if self.audience.is_empty() {
                "everyone".into()
            } else {
                self.audience.clone()
            }),
        })
    }

    fn of(event: &store::Event) -> Self {
        let local = |t: OffsetDateTime| t.format(LOCAL_MINUTE).unwrap_or_default();
        Self {
            title: event.title.clone(),
            description: event.description.clone(),
            starts_at: local(event.starts_at),
            ends_at: local(event.ends_at),
            location: event.location.clone().unwrap_or_default(),
            online_url: event.online_url.clone().unwrap_or_default(),
            capacity: event.capacity.map(|c| c.to_string()).unwrap_or_default(),
            audience: match event.audience {
                events::Audience::Everyone => "everyone".into(),
                events::Audience::Members => "members".into(),
            },
        }
    }

    fn form_fields(&self) -> Vec<Field> {
        vec![
            Field::new("title", "Title", "text", self.title.clone()),
            Field::new(
                "description",
                "Description (optional)",
                "textarea",
                self.description.clone(),
            ),
            Field::new(
                "starts_at",
                "Starts (UTC)",
                "datetime-local",
                self.starts_at.clone(),
            )
            .hint("For example 2026-12-01 18:00."),
            Field::new(
                "ends_at",
                "Ends (UTC)",
                "datetime-local",
                self.ends_at.clone(),
            ),
            Field::new(
                "location",
                "Place (optional)",
                "text",
                self.location.clone(),
            ),
            Field::new(
                "online_url",
                "Online link (optional)",
                "url",
                self.online_url.clone(),
            )
            .hint("An https:// address for joining online."),
            Field::new(
                "capacity",
                "Number of places (optional)",
                "number",
                self.capacity.clone(),
            )
            .hint("Leave empty for no limit. When the places are taken, people join a waitlist."),
            Field::new(
                "audience",
                "Who is the event for?",
                "radios",
                if self.audience.is_empty() {
                    "everyone".to_string()
                } else {
                    self.audience.clone()
                },
            )
            .options(&[
                ("everyone", "Everyone at the company"),
                ("members", "Members and allies of this group only"),
            ]),
        ]
    }
}

fn event_form_page(
    signed: &mut Signed,
    group: &GroupRef,
    event: Option<(Uuid, &str)>,
    form: &EventForm,
    errors: Errors,
) -> FormPage {
    let (heading, action, button) = match event {
        Some((id, title)) => (
            format!("Edit {title}"),
            format!("/groups/{}/manage/events/{id}/edit", group.slug),
            "Save the event".to_string(),
        ),
        None => (
            "Post an event".to_string(),
            format!("/groups/{}/manage/events/new", group.slug),
            "Post the event".to_string(),
        ),
    };
    FormPage {
        chrome: Chrome::signed(signed, heading.clone(), Section::None).with_errors(&errors),
        errors,
        heading,
        intro: String::new(),
        action,
        button,
        back: format!("/groups/{}/manage/events", group.slug),
        fields: form.form_fields(),
    }
}

pub async fn new_event_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    Ok(ok(&event_form_page(
        &mut signed,
        &group,
        None,
        &EventForm::default(),
        Errors::none(),
    )))
}

pub async fn new_event(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<EventForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, _) = managed(&state, &signed, &slug).await?;
    let errors = match form.fields() {
        Ok(fields) => match store::create(&state.pool, &group, fields).await {
            Ok(_) => {
                flash(
                    &state,
                    &signed,
                    &format!("You posted {}.", form.title.trim()),
                )
                .await?;
                return Ok(see_other(&format!("/groups/{}/manage/events", group.slug)));
            }
            Err(error) => Errors::from_app(error)?,
        },
        Err(errors) => errors,
    };
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &event_form_page(&mut signed, &group, None, &form, errors),
    ))
}

/// An event of this group that the caller manages.
async fn managed_event(
    state: &AppState,
    signed: &Signed,
    group: &GroupRef,
    id: &str,
) -> Result<(EventRef, store::Event), PageError> {
    let event = events::resolve(&state.pool, &signed.user, id).await?;
    if event.group_id != group.id || !event.access.can_manage() {
        return Err(AppError::NotFound.into());
    }
    let detail = store::detail(&state.pool, &event).await?;
    Ok((event, detail))
}

pub async fn edit_event_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    let (event, detail) = managed_event(&state, &signed, &group, &id).await?;
    let form = EventForm::of(&detail);
    Ok(ok(&event_form_page(
        &mut signed,
        &group,
        Some((event.id, &detail.title)),
        &form,
        Errors::none(),
    )))
}

pub async fn edit_event(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<EventForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, _) = managed(&state, &signed, &slug).await?;
    let (event, detail) = managed_event(&state, &signed, &group, &id).await?;
    let errors = match form.fields() {
        Ok(fields) => match store::update(&state.pool, &event, fields).await {
            Ok(()) => {
                flash(
                    &state,
                    &signed,
                    &format!("You saved {}.", form.title.trim()),
                )
                .await?;
                return Ok(see_other(&format!("/groups/{}/manage/events", group.slug)));
            }
            Err(AppError::Conflict(message)) => {
                let mut errors = Errors::none();
                errors.push("capacity", crate::web::sentence(&message));
                errors
            }
            Err(error) => Errors::from_app(error)?,
        },
        Err(errors) => errors,
    };
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &event_form_page(
            &mut signed,
            &group,
            Some((event.id, &detail.title)),
            &form,
            errors,
        ),
    ))
}

pub async fn cancel_event_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    let (event, detail) = managed_event(&state, &signed, &group, &id).await?;
    let heading = format!("Cancel {}?", detail.title);
    Ok(ok(&ConfirmPage {
        chrome: Chrome::signed(&mut signed, heading.clone(), Section::None),
        heading,
        consequences: vec![
            format!(
                "{} on {} will be shown as cancelled, in the group's page and in calendar feeds.",
                detail.title,
                when(detail.starts_at)
            ),
            format!(
                "The {} people who answered keep their answers, but no one can answer any more. This cannot be undone.",
                detail.going_count + detail.waitlist_count
            ),
        ],
        action: format!("/groups/{}/manage/events/{}/cancel", group.slug, event.id),
        button: format!("Cancel {}", detail.title),
        back: format!("/groups/{}/manage/events", group.slug),
        back_label: "Keep the event".into(),
    }))
}

pub async fn cancel_event(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _) = managed(&state, &post.signed, &slug).await?;
    let (event, detail) = managed_event(&state, &post.signed, &group, &id).await?;
    store::cancel(&state.pool, &event).await?;
    flash(
        &state,
        &post.signed,
        &format!("You cancelled {}.", detail.title),
    )
    .await?;
    Ok(see_other(&format!("/groups/{}/manage/events", group.slug)))
}

#[derive(Template)]
#[template(path = "attendees.html")]
pub struct AttendeesPage {
    chrome: Chrome,
    slug: String,
    group_name: String,
    tab: &'static str,
    title: String,
    when: String,
    places: String,
    people: Vec<(String, String, String, String)>,
}

pub async fn attendees(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let (event, detail) = managed_event(&state, &signed, &group, &id).await?;
    let list = rsvp::attendees(&state.pool, &event, &PageRequest::first(100)).await?;
    let people = list
        .items
        .into_iter()
        .map(|a| {
            let answer = match (a.status, a.waitlist_position) {
                (RsvpStatus::Going, _) => "Going".to_string(),
                (RsvpStatus::Waitlisted, Some(n)) => format!("Waitlist, number {n}"),
                (RsvpStatus::Waitlisted, None) => "Waitlist".to_string(),
            };
            (a.display_name, a.email, answer, when(a.responded_at))
        })
        .collect();
    Ok(ok(&AttendeesPage {
        chrome: Chrome::signed(
            &mut signed,
            format!("Attendees: {}", detail.title),
            Section::None,
        ),
        slug: group.slug,
        group_name: name,
        tab: "events",
        when: when(detail.starts_at),
        places: places(detail.going_count, detail.waitlist_count, detail.capacity),
        title: detail.title,
        people,
    }))
}

pub struct RequestLine {
    id: Uuid,
    name: String,
    message: String,
    status: &'static str,
    /// Pending, and the viewer may accept or decline it.
    decidable: bool,
}

pub struct OfferLine {
    id: Uuid,
    title: String,
    mentor: String,
    places: String,
    requests: Vec<RequestLine>,
}

#[derive(Template)]
#[template(path = "manage_mentoring.html")]
pub struct MentoringPage {
    chrome: Chrome,
    slug: String,
    group_name: String,
    tab: &'static str,
    offers: Vec<OfferLine>,
}

pub async fn mentoring(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let list = mentoring::list_offers(&state.pool, &group, &PageRequest::first(100)).await?;
    let mut offers = Vec::new();
    for offer in list.items {
        let offer_ref =
            mentoring::resolve_offer(&state.pool, &signed.user, &offer.id.to_string()).await?;
        let requests =
            mentoring::list_requests(&state.pool, &offer_ref, &PageRequest::first(100)).await?;
        offers.push(OfferLine {
            id: offer.id,
            places: format!("{} of {} places taken", offer.slots_taken, offer.slots),
            mentor: offer.mentor.display_name,
            title: offer.title,
            requests: requests
                .items
                .into_iter()
                .map(|r| RequestLine {
                    id: r.id,
                    name: r.mentee.display_name,
                    message: r.message,
                    decidable: r.status == RequestStatus::Pending
                        && offer_ref.access.can_decide(r.mentee.id),
                    status: match r.status {
                        RequestStatus::Pending => "waiting for an answer",
                        RequestStatus::Accepted => "accepted",
                        RequestStatus::Declined => "declined",
                        RequestStatus::Withdrawn => "withdrawn",
                    },
                })
                .collect(),
        });
    }
    Ok(ok(&MentoringPage {
        chrome: Chrome::signed(&mut signed, format!("Mentoring in {name}"), Section::None),
        slug: group.slug,
        group_name: name,
        tab: "mentoring",
        offers,
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OfferForm {
    title: String,
    description: String,
    topics: String,
    slots: String,
}

impl OfferForm {
    fn form_fields(&self) -> Vec<Field> {
        vec![
            Field::new("title", "Title", "text", self.title.clone()),
            Field::new(
                "description",
                "What you offer (optional)",
                "textarea",
                self.description.clone(),
            ),
            Field::new("topics", "Topics (optional)", "text", self.topics.clone())
                .hint("Separate topics with commas."),
            Field::new("slots", "Number of mentees", "number", self.slots.clone()),
        ]
    }
}

fn offer_page(signed: &mut Signed, group: &GroupRef, form: &OfferForm, errors: Errors) -> FormPage {
    FormPage {
        chrome: Chrome::signed(signed, "Post a mentoring offer", Section::None).with_errors(&errors),
        errors,
        heading: "Post a mentoring offer".into(),
        intro: "You will be the mentor. Members and allies of the group can ask for it; you and the group's leads will see their names and messages.".into(),
        action: format!("/groups/{}/manage/mentoring/new", group.slug),
        button: "Post the offer".into(),
        back: format!("/groups/{}/manage/mentoring", group.slug),
        fields: form.form_fields(),
    }
}

pub async fn new_offer_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    Ok(ok(&offer_page(
        &mut signed,
        &group,
        &OfferForm::default(),
        Errors::none(),
    )))
}

pub async fn new_offer(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<OfferForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, _) = managed(&state, &signed, &slug).await?;
    let slots = form.slots.trim().parse::<i64>().ok();
    let errors = if slots.is_none() {
        let mut errors = Errors::none();
        errors.push("slots", "Enter the number of mentees as a whole number");
        errors
    } else {
        let topics: Vec<String> = form
            .topics
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let fields = OfferFields {
            title: Some(form.title.clone()),
            description: Some(form.description.clone()),
            topics: Some(topics),
            slots,
            mentor_id: None,
        };
        match mentoring::create_offer(&state.pool, &group, fields).await {
            Ok(_) => {
                flash(
                    &state,
                    &signed,
                    &format!("You posted {}.", form.title.trim()),
                )
                .await?;
                return Ok(see_other(&format!(
                    "/groups/{}/manage/mentoring",
                    group.slug
                )));
            }
            Err(error) => Errors::from_app(error)?,
        }
    };
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &offer_page(&mut signed, &group, &form, errors),
    ))
}

pub async fn close_offer_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    let offer_ref = mentoring::resolve_offer(&state.pool, &signed.user, &id).await?;
    let offer = mentoring::offer(&state.pool, offer_ref.id).await?;
    if offer.group_slug != group.slug || !offer_ref.access.can_manage() {
        return Err(AppError::NotFound.into());
    }
    let heading = format!("Close {}?", offer.title);
    Ok(ok(&ConfirmPage {
        chrome: Chrome::signed(&mut signed, heading.clone(), Section::None),
        heading,
        consequences: vec![
            "The offer leaves the group's page, and no one can ask for it any more.".into(),
            "Requests already accepted stay as they are.".into(),
        ],
        action: format!("/groups/{}/manage/mentoring/{}/close", group.slug, offer.id),
        button: format!("Close {}", offer.title),
        back: format!("/groups/{}/manage/mentoring", group.slug),
        back_label: "Keep the offer open".into(),
    }))
}

pub async fn close_offer(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _) = managed(&state, &post.signed, &slug).await?;
    let offer_ref = mentoring::resolve_offer(&state.pool, &post.signed.user, &id).await?;
    let offer = mentoring::offer(&state.pool, offer_ref.id).await?;
    if offer.group_slug != group.slug {
        return Err(AppError::NotFound.into());
    }
    mentoring::close_offer(&state.pool, &offer_ref).await?;
    flash(
        &state,
        &post.signed,
        &format!("You closed {}.", offer.title),
    )
    .await?;
    Ok(see_other(&format!(
        "/groups/{}/manage/mentoring",
        group.slug
    )))
}

async fn decide(
    state: &AppState,
    slug: &str,
    id: &str,
    signed: &Signed,
    to: RequestStatus,
) -> PageResult {
    let (group, _) = managed(state, signed, slug).await?;
    let request = mentoring::decide(&state.pool, &signed.user, id, to).await?;
    if request.group_slug != group.slug {
        return Err(AppError::NotFound.into());
    }
    let verb = if to == RequestStatus::Accepted {
        "accepted"
    } else {
        "declined"
    };
    flash(
        state,
        signed,
        &format!(
            "You {verb} {}'s request for {}.",
            request.mentee.display_name, request.offer_title
        ),
    )
    .await?;
    Ok(see_other(&format!(
        "/groups/{}/manage/mentoring",
        group.slug
    )))
}

pub async fn accept_request(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    decide(&state, &slug, &id, &post.signed, RequestStatus::Accepted).await
}

pub async fn decline_request(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    decide(&state, &slug, &id, &post.signed, RequestStatus::Declined).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageForm {
    name: String,
    tagline: String,
    mission: String,
    description: String,
    join_policy: String,
}

impl PageForm {
    fn form_fields(&self) -> Vec<Field> {
        vec![
            Field::new("name", "Name", "text", self.name.clone()),
            Field::new("tagline", "Tagline", "text", self.tagline.clone())
                .hint("One line under the name in the directory."),
            Field::new("mission", "Mission", "textarea", self.mission.clone()),
            Field::new(
                "description",
                "About the group (optional)",
                "textarea",
                self.description.clone(),
            ),
            Field::new(
                "join_policy",
                "How do people join?",
                "radios",
                self.join_policy.clone(),
            )
            .options(&[
                ("open", "At once, when they choose to"),
                ("approval", "A lead approves each request"),
            ]),
        ]
    }
}

fn text_page(signed: &mut Signed, group: &GroupRef, form: &PageForm, errors: Errors) -> FormPage {
    FormPage {
        chrome: Chrome::signed(signed, "Edit the group's page", Section::None).with_errors(&errors),
        errors,
        heading: "Edit the group's page".into(),
        intro: "Every employee can read this page.".into(),
        action: format!("/groups/{}/manage/page", group.slug),
        button: "Save the page".into(),
        back: format!("/groups/{}/manage", group.slug),
        fields: form.form_fields(),
    }
}

pub async fn page_text_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    let detail = directory::detail(&state.pool, &group).await?;
    let form = PageForm {
        name: detail.name,
        tagline: detail.tagline,
        mission: detail.mission,
        description: detail.description,
        join_policy: detail.join_policy.as_str().to_string(),
    };
    Ok(ok(&text_page(&mut signed, &group, &form, Errors::none())))
}

pub async fn page_text(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<PageForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, _) = managed(&state, &signed, &slug).await?;
    let fields = GroupFields {
        slug: None,
        name: Some(form.name.clone()),
        tagline: Some(form.tagline.clone()),
        mission: Some(form.mission.clone()),
        description: Some(form.description.clone()),
        join_policy: (!form.join_policy.is_empty()).then(|| form.join_policy.clone()),
    };
    match editing::update(&state.pool, &group, fields).await {
        Ok(()) => {
            flash(&state, &signed, "The group's page is saved.").await?;
            Ok(see_other(&format!("/groups/{}", group.slug)))
        }
        Err(error) => {
            let errors = Errors::from_app(error)?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &text_page(&mut signed, &group, &form, errors),
            ))
        }
    }
}
