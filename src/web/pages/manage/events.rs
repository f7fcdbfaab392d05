//! The group's events: the list, post and edit (one form), cancel through a confirmation
//! page, the attendees and the waitlist.

use askama::Template;
use axum::extract::{Path, State};
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use crate::error::AppError;
use crate::events::fields::EventFields;
use crate::events::{self, EventRef, RsvpStatus, rsvp, store};
use crate::groups::directory::GroupRef;
use crate::paging::PageRequest;
use crate::patch::Patch;
use crate::state::AppState;
use crate::web::form::{Field, Post};
use crate::web::pages::manage::{manage_path, managed};
use crate::web::pages::shared::{ConfirmPage, FormPage, ManageNav, Nothing, done};
use crate::web::session::Signed;
use crate::web::{Chrome, Errors, PageError, PageResult, Section, ok, when};
use crate::whole::Whole;

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
    manage: ManageNav,
    events: Vec<EventLine>,
}

fn places(going: i64, waiting: i64, capacity: Option<i32>) -> String {
    match capacity {
        Some(c) => format!("{going} of {c} places taken, {waiting} on the waitlist"),
        None => format!("{going} going, no limit on places"),
    }
}

pub async fn list(
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
        manage: ManageNav::new(&group.slug, &name, "events"),
        events,
    }))
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
            capacity: capacity.map(Whole),
            audience: Some(self.audience().to_string()),
        })
    }

    fn audience(&self) -> &str {
        if self.audience.is_empty() {
            "everyone"
        } else {
            &self.audience
        }
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
                self.audience(),
            )
            .options(&[
                ("everyone", "Everyone at the company"),
                ("members", "Members and allies of this group only"),
            ]),
        ]
    }
}

/// The event form: a new event, or the one named (its id and title) to edit.
fn event_form(
    signed: &mut Signed,
    group: &GroupRef,
    name: &str,
    event: Option<(Uuid, &str)>,
    form: &EventForm,
    errors: Errors,
) -> PageResult {
    let page = match event {
        Some((id, title)) => FormPage::new(signed, Section::None, format!("Edit {title}")).button(
            manage_path(group, &format!("/events/{id}/edit")),
            "Save the event",
        ),
        None => FormPage::new(signed, Section::None, "Post an event")
            .button(manage_path(group, "/events/new"), "Post the event"),
    };
    page.within(ManageNav::new(&group.slug, name, "events"))
        .back(manage_path(group, "/events"))
        .fields(form.form_fields())
        .errors(errors)
        .answer()
}

pub async fn new_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let form = EventForm::default();
    event_form(&mut signed, &group, &name, None, &form, Errors::none())
}

pub async fn create(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<EventForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, name) = managed(&state, &signed, &slug).await?;
    let errors = match form.fields() {
        Ok(fields) => match store::create(&state.pool, &group, fields).await {
            Ok(_) => {
                let message = format!("You posted {}.", form.title.trim());
                return done(&state, &signed, &message, &manage_path(&group, "/events")).await;
            }
            Err(error) => Errors::from_app(error)?,
        },
        Err(errors) => errors,
    };
    event_form(&mut signed, &group, &name, None, &form, errors)
}

/// An event of this group that the caller manages.
async fn managed_event(
    state: &AppState,
    signed: &Signed,
    slug: &str,
    id: &str,
) -> Result<(GroupRef, String, EventRef, store::Event), PageError> {
    let (group, name) = managed(state, signed, slug).await?;
    let event = events::resolve(&state.pool, &signed.user, id).await?;
    if event.group_id != group.id || !event.access.can_manage() {
        return Err(AppError::NotFound.into());
    }
    let detail = store::detail(&state.pool, &event).await?;
    Ok((group, name, event, detail))
}

pub async fn edit_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, name, event, detail) = managed_event(&state, &signed, &slug, &id).await?;
    let form = EventForm::of(&detail);
    let named = Some((event.id, detail.title.as_str()));
    event_form(&mut signed, &group, &name, named, &form, Errors::none())
}

pub async fn edit(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<EventForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, name, event, detail) = managed_event(&state, &signed, &slug, &id).await?;
    let errors = match form.fields() {
        Ok(fields) => match store::update(&state.pool, &event, fields).await {
            Ok(()) => {
                let message = format!("You saved {}.", form.title.trim());
                return done(&state, &signed, &message, &manage_path(&group, "/events")).await;
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
    let named = Some((event.id, detail.title.as_str()));
    event_form(&mut signed, &group, &name, named, &form, errors)
}

pub async fn cancel_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, _, event, detail) = managed_event(&state, &signed, &slug, &id).await?;
    let title = &detail.title;
    let answered = detail.going_count + detail.waitlist_count;
    ConfirmPage::new(&mut signed, Section::None, format!("Cancel {title}?"))
        .consequence(format!(
            "{title} on {} will be shown as cancelled, in the group's page and in calendar feeds.",
            when(detail.starts_at)
        ))
        .consequence(format!(
            "The {answered} people who answered keep their answers, but no one can answer any more. This cannot be undone."
        ))
        .button(
            manage_path(&group, &format!("/events/{}/cancel", event.id)),
            format!("Cancel {title}"),
        )
        .back(manage_path(&group, "/events"), "Keep the event")
        .answer()
}

pub async fn cancel(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _, event, detail) = managed_event(&state, &post.signed, &slug, &id).await?;
    store::cancel(&state.pool, &event).await?;
    let message = format!("You cancelled {}.", detail.title);
    done(
        &state,
        &post.signed,
        &message,
        &manage_path(&group, "/events"),
    )
    .await
}

#[derive(Template)]
#[template(path = "attendees.html")]
pub struct AttendeesPage {
    chrome: Chrome,
    manage: ManageNav,
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
    let (group, name, event, detail) = managed_event(&state, &signed, &slug, &id).await?;
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
        manage: ManageNav::new(&group.slug, &name, "events"),
        when: when(detail.starts_at),
        places: places(detail.going_count, detail.waitlist_count, detail.capacity),
        title: detail.title,
        people,
    }))
}
