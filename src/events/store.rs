//! Creating, editing, cancelling, listing and reading events.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, FieldError};
use crate::events::{Audience, EventAccess, EventRef, RsvpStatus, rsvp};
use crate::groups::directory::GroupRef;
use crate::instant::parse_instant;
use crate::paging::{Page, PageRequest};
use crate::patch::Patch;
use crate::text::{self, TextRule};

const TITLE: TextRule = TextRule {
    required: true,
    max_chars: 200,
    multiline: false,
};
const DESCRIPTION: TextRule = TextRule {
    required: false,
    max_chars: 10000,
    multiline: true,
};
const LOCATION: TextRule = TextRule {
    required: false,
    max_chars: 200,
    multiline: false,
};
pub const MAX_CAPACITY: i64 = 100_000;

/// An event as the API shows it, with counts and the caller's RSVP.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub id: Uuid,
    pub group_slug: String,
    pub title: String,
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub location: Option<String>,
    pub online_url: Option<String>,
    pub capacity: Option<i32>,
    pub audience: Audience,
    pub going_count: i64,
    pub waitlist_count: i64,
    pub cancelled: bool,
    pub my_rsvp: Option<RsvpStatus>,
    /// The caller's place in line when waitlisted (1 is next).
    pub my_waitlist_position: Option<i64>,
    /// Raised on every change (the iCalendar SEQUENCE).
    pub sequence: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An event's fields as a client sends them (the JSON body, or the pages' form). On an update
/// every field is optional, and `null` clears `location`, `online_url` and `capacity`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EventFields {
    pub title: Option<String>,
    pub description: Option<String>,
    /// RFC 3339.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub location: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub online_url: Patch<String>,
    /// Positive; absent or null for no limit.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub capacity: Patch<i64>,
    /// `everyone` (default) or `members`.
    pub audience: Option<String>,
}

/// The checked values of an event.
#[derive(Debug, Clone)]
pub struct EventValues {
    pub title: String,
    pub description: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub location: Option<String>,
    pub online_url: Option<String>,
    pub capacity: Option<i32>,
    pub audience: Audience,
}

/// A web address for joining online: http(s), a host, no spaces or control characters.
pub fn check_url(raw: &str) -> Result<String, &'static str> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_name = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host_name = host_name.split(':').next().unwrap_or_default();
    if host_name.is_empty()
        || !host_name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        || host_name.starts_with('.')
        || host_name.ends_with('.')
    {
        return Err("must name a host, like https://meet.example.com/room");
    }
    if url.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces");
    }
    Ok(url.to_string())
}

impl EventFields {
    /// Checks the fields over `base` (the current values, on PATCH) and reports every field at
    /// fault at once.
    pub fn apply(
        self,
        base: Option<&EventValues>,
        now: OffsetDateTime,
    ) -> Result<EventValues, AppError> {
        let mut errors = Vec::new();
        let creating = base.is_none();
        let title = if creating {
            text::check("title", self.title.as_deref(), TITLE, &mut errors)
        } else {
            text::check_sent("title", self.title.as_deref(), TITLE, &mut errors)
        };
        let description = text::check(
            "description",
            self.description.as_deref(),
            DESCRIPTION,
            &mut errors,
        );
        let mut instant =
            |field: &str, raw: &Option<String>, current: Option<OffsetDateTime>| match raw {
                Some(raw) => match parse_instant(field, raw) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        errors.push(FieldError::new(
                            field,
                            "must be an RFC 3339 time like 2026-05-01T09:00:00Z",
                        ));
                        None
                    }
                },
                None if current.is_none() => {
                    errors.push(FieldError::new(field, "is required"));
                    None
                }
                None => current,
            };
        let starts_at = instant("starts_at", &self.starts_at, base.map(|b| b.starts_at));
        let ends_at = instant("ends_at", &self.ends_at, base.map(|b| b.ends_at));
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                errors.push(FieldError::new("ends_at", "must be after starts_at"));
            }
        }
        if let Some(start) = starts_at {
            if self.starts_at.is_some() && start <= now {
                errors.push(FieldError::new("starts_at", "must be in the future"));
            }
        }
        let location = match &self.location {
            Patch::Set(raw) => text::check("location", Some(raw), LOCATION, &mut errors),
            Patch::Clear => None,
            Patch::Keep => base.and_then(|b| b.location.clone()),
        };
        let online_url = match &self.online_url {
            Patch::Set(raw) if !raw.trim().is_empty() => match check_url(raw) {
                Ok(url) => Some(url),
                Err(message) => {
                    errors.push(FieldError::new("online_url", message));
                    None
                }
            },
            Patch::Set(_) | Patch::Clear => None,
            Patch::Keep => base.and_then(|b| b.online_url.clone()),
        };
        let capacity = match self.capacity {
            Patch::Set(n) if (1..=MAX_CAPACITY).contains(&n) => i32::try_from(n).ok(),
            Patch::Set(_) => {
                errors.push(FieldError::new(
                    "capacity",
                    format!("must be a whole number from 1 to {MAX_CAPACITY}"),
                ));
                None
            }
            Patch::Clear => None,
            Patch::Keep => base.and_then(|b| b.capacity),
        };
        let audience = match self.audience.as_deref().map(Audience::parse_field) {
            Some(Ok(a)) => a,
            Some(Err(AppError::Validation(mut e))) => {
                errors.append(&mut e);
                Audience::Everyone
            }
            _ => base.map(|b| b.audience).unwrap_or(Audience::Everyone),
        };
        match (
            title.or_else(|| base.map(|b| b.title.clone())),
            starts_at,
            ends_at,
            errors.is_empty(),
        ) {
            (Some(title), Some(starts_at), Some(ends_at), true) => Ok(EventValues {
                title,
                description: description
                    .or_else(|| {
                        if self.description.is_some() {
                            None
                        } else {
                            base.map(|b| b.description.clone())
                        }
                    })
                    .unwrap_or_default(),
                starts_at,
                ends_at,
                location,
                online_url,
                capacity,
                audience,
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn create(
    pool: &PgPool,
    group: &GroupRef,
    fields: EventFields,
) -> Result<Uuid, AppError> {
    group.access.require_manage()?;
    if group.archived {
        return Err(AppError::Conflict("this group is archived".into()));
    }
    let v = fields.apply(None, OffsetDateTime::now_utc())?;
    let id = sqlx::query_scalar!(
        "INSERT INTO events (group_id, title, description, starts_at, ends_at, location, online_url, capacity, audience, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        group.id,
        v.title,
        v.description,
        v.starts_at,
        v.ends_at,
        v.location,
        v.online_url,
        v.capacity,
        v.audience as Audience,
        group.access.user_id
    )
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Locks the event's row and reads its values and whether it is cancelled.
async fn lock_values(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<(EventValues, bool), AppError> {
    let r = sqlx::query!(
        r#"SELECT title, description, starts_at, ends_at, location, online_url, capacity,
                  audience AS "audience: Audience", cancelled_at IS NOT NULL AS "cancelled!"
           FROM events WHERE id = $1 FOR NO KEY UPDATE"#,
        id
    )
    .fetch_one(&mut **tx)
    .await?;
    let values = EventValues {
        title: r.title,
        description: r.description,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        location: r.location,
        online_url: r.online_url,
        capacity: r.capacity,
        audience: r.audience,
    };
    Ok((values, r.cancelled))
}

/// Edits an event. Lowering the capacity below the number going is 409; raising it promotes
/// from the waitlist in the same transaction.
#[tracing::instrument(skip_all)]
pub async fn update(pool: &PgPool, event: &EventRef, fields: EventFields) -> Result<(), AppError> {
    if !event.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    let mut tx = pool.begin().await?;
    let (current, cancelled) = lock_values(&mut tx, event.id).await?;
    if cancelled {
        return Err(AppError::Conflict("this event is cancelled".into()));
    }
    let v = fields.apply(Some(&current), OffsetDateTime::now_utc())?;
    let going = rsvp::going_count(&mut tx, event.id).await?;
    if let Some(capacity) = v.capacity {
        if i64::from(capacity) < going {
            return Err(AppError::Conflict(format!(
                "{going} people are going; the capacity cannot be lower than that"
            )));
        }
    }
    sqlx::query!(
        "UPDATE events SET title = $2, description = $3, starts_at = $4, ends_at = $5, location = $6,
                online_url = $7, capacity = $8, audience = $9, sequence = sequence + 1, updated_at = now()
         WHERE id = $1",
        event.id,
        v.title,
        v.description,
        v.starts_at,
        v.ends_at,
        v.location,
        v.online_url,
        v.capacity,
        v.audience as Audience
    )
    .execute(&mut *tx)
    .await?;
    rsvp::promote(&mut tx, event.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Cancels an event: it keeps its RSVPs, takes no new ones, and feeds show it cancelled.
#[tracing::instrument(skip_all)]
pub async fn cancel(pool: &PgPool, event: &EventRef) -> Result<(), AppError> {
    if !event.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    sqlx::query!(
        "UPDATE events SET cancelled_at = now(), sequence = sequence + 1, updated_at = now()
         WHERE id = $1 AND cancelled_at IS NULL",
        event.id
    )
    .execute(pool)
    .await?;
    Ok(())
}

struct EventRow {
    id: Uuid,
    group_slug: String,
    title: String,
    description: String,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    location: Option<String>,
    online_url: Option<String>,
    capacity: Option<i32>,
    audience: Audience,
    going_count: i64,
    waitlist_count: i64,
    cancelled: bool,
    my_rsvp: Option<RsvpStatus>,
    my_waitlist_position: Option<i64>,
    sequence: i32,
    updated_at: OffsetDateTime,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            group_slug: r.group_slug,
            title: r.title,
            description: r.description,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            location: r.location,
            online_url: r.online_url,
            capacity: r.capacity,
            audience: r.audience,
            going_count: r.going_count,
            waitlist_count: r.waitlist_count,
            cancelled: r.cancelled,
            my_rsvp: r.my_rsvp,
            my_waitlist_position: r.my_waitlist_position,
            sequence: r.sequence,
            updated_at: r.updated_at,
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn detail(pool: &PgPool, event: &EventRef) -> Result<Event, AppError> {
    let row = sqlx::query_as!(
        EventRow,
        r#"SELECT e.id, g.slug AS group_slug, e.title, e.description, e.starts_at, e.ends_at, e.location,
                  e.online_url, e.capacity, e.audience AS "audience: Audience",
                  (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'going') AS "going_count!",
                  (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'waitlisted') AS "waitlist_count!",
                  e.cancelled_at IS NOT NULL AS "cancelled!",
                  mine.status AS "my_rsvp?: RsvpStatus",
                  CASE WHEN mine.status = 'waitlisted' THEN
                      waitlist_position(e.id, mine.seq)
                  END AS "my_waitlist_position?",
                  e.sequence, e.updated_at
           FROM events e
           JOIN groups g ON g.id = e.group_id
           LEFT JOIN rsvps mine ON mine.event_id = e.id AND mine.user_id = $2
           WHERE e.id = $1"#,
        event.id,
        event.access.group.user_id
    )
    .fetch_one(pool)
    .await?;
    Ok(row.into())
}

#[derive(Debug, Serialize, Deserialize)]
struct ListCursor(#[serde(with = "time::serde::rfc3339")] OffsetDateTime, Uuid);

/// A group's events, soonest first: by default those not yet over; `from`/`to` bound the
/// start. `members` events are left out for callers who may not see them.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    group: &GroupRef,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    page: &PageRequest,
) -> Result<Page<Event>, AppError> {
    let limit = page.limit();
    let cursor: Option<ListCursor> = page.cursor()?;
    let (after_start, after_id) = match cursor {
        Some(ListCursor(t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    let sees_members_events = EventAccess {
        group: group.access.clone(),
        audience: Audience::Members,
    }
    .can_view();
    let ends_after = if from.is_none() {
        Some(OffsetDateTime::now_utc())
    } else {
        None
    };
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT e.id, g.slug AS group_slug, e.title, e.description, e.starts_at, e.ends_at, e.location,
                  e.online_url, e.capacity, e.audience AS "audience: Audience",
                  (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'going') AS "going_count!",
                  (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'waitlisted') AS "waitlist_count!",
                  e.cancelled_at IS NOT NULL AS "cancelled!",
                  mine.status AS "my_rsvp?: RsvpStatus",
                  CASE WHEN mine.status = 'waitlisted' THEN
                      waitlist_position(e.id, mine.seq)
                  END AS "my_waitlist_position?",
                  e.sequence, e.updated_at
           FROM events e
           JOIN groups g ON g.id = e.group_id
           LEFT JOIN rsvps mine ON mine.event_id = e.id AND mine.user_id = $2
           WHERE e.group_id = $1
             AND ($3 OR e.audience = 'everyone')
             AND ($4::timestamptz IS NULL OR e.ends_at > $4)
             AND ($5::timestamptz IS NULL OR e.starts_at >= $5)
             AND ($6::timestamptz IS NULL OR e.starts_at < $6)
             AND ($7::timestamptz IS NULL OR (e.starts_at, e.id) > ($7, $8::uuid))
           ORDER BY e.starts_at, e.id
           LIMIT $9"#,
        group.id,
        group.access.user_id,
        sees_members_events,
        ends_after,
        from,
        to,
        after_start,
        after_id,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let events: Vec<Event> = rows.into_iter().map(Event::from).collect();
    Ok(Page::from_rows(events, limit, |e| {
        ListCursor(e.starts_at, e.id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn fields(v: serde_json::Value) -> EventFields {
        serde_json::from_value(v).unwrap()
    }

    fn invalid(result: Result<EventValues, AppError>) -> Vec<String> {
        match result {
            Err(AppError::Validation(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_complete_event_is_accepted() {
        let v = fields(serde_json::json!({
            "title": "Coffee", "starts_at": "2026-02-01T10:00:00Z", "ends_at": "2026-02-01T11:00:00Z",
            "capacity": 10, "online_url": "https://meet.example.com/x", "audience": "members"
        }))
        .apply(None, NOW)
        .unwrap();
        assert_eq!(v.capacity, Some(10));
        assert_eq!(v.audience, Audience::Members);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = fields(serde_json::json!({
            "title": "", "starts_at": "2026-02-01T10:00:00Z", "ends_at": "2026-02-01T09:00:00Z",
            "capacity": 0, "online_url": "javascript:alert(1)", "audience": "all", "location": "x".repeat(201)
        }));
        let mut got = invalid(bad.apply(None, NOW));
        got.sort();
        assert_eq!(
            got,
            [
                "audience",
                "capacity",
                "ends_at",
                "location",
                "online_url",
                "title"
            ]
        );
        let past = fields(
            serde_json::json!({"title": "x", "starts_at": "2025-02-01T10:00:00Z", "ends_at": "2025-02-01T11:00:00Z"}),
        );
        assert_eq!(invalid(past.apply(None, NOW)), ["starts_at"]);
        let garbage =
            fields(serde_json::json!({"title": "x", "starts_at": "soon", "ends_at": "later"}));
        assert_eq!(invalid(garbage.apply(None, NOW)), ["starts_at", "ends_at"]);
    }

    #[test]
    fn patches_merge_over_the_current_values_and_null_clears() {
        let base = fields(serde_json::json!({
            "title": "Coffee", "starts_at": "2026-02-01T10:00:00Z", "ends_at": "2026-02-01T11:00:00Z",
            "capacity": 10, "location": "Room 1"
        }))
        .apply(None, NOW)
        .unwrap();
        let v = fields(serde_json::json!({"capacity": null, "title": "Tea"}))
            .apply(Some(&base), NOW)
            .unwrap();
        assert_eq!(
            (v.capacity, v.title.as_str(), v.location.as_deref()),
            (None, "Tea", Some("Room 1"))
        );
        let moved = fields(serde_json::json!({"ends_at": "2026-02-01T09:00:00Z"}));
        assert_eq!(invalid(moved.apply(Some(&base), NOW)), ["ends_at"]);
    }

    #[test]
    fn urls() {
        for good in [
            "https://meet.example.com/room?id=1",
            "http://localhost:8080/x",
            "https://a.b",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x.com",
            "https://",
            "https:// x.com",
            "javascript:alert(1)",
            "https://exa mple.com",
            "https://.com",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
