//! Creating, editing, cancelling, listing and reading events.

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::events::{Audience, EventAccess, EventRef, RsvpStatus, rsvp};
use crate::groups::directory::GroupRef;
use crate::paging::{Page, PageRequest};

use crate::events::fields::{EventFields, EventValues};

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

#[tracing::instrument(level = "debug", skip_all)]
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
    let mut tx = pool.begin().await?;
    // A lead demoted since the request was checked may no longer create events.
    group.access.relock_manager(&mut tx, group.id).await?;
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
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
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
/// from the waitlist in the same transaction, before the event starts (never after).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(pool: &PgPool, event: &EventRef, fields: EventFields) -> Result<(), AppError> {
    if !event.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    let mut tx = pool.begin().await?;
    event
        .access
        .group
        .relock_manager(&mut tx, event.group_id)
        .await?;
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn cancel(pool: &PgPool, event: &EventRef) -> Result<(), AppError> {
    if !event.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    let mut tx = pool.begin().await?;
    event
        .access
        .group
        .relock_manager(&mut tx, event.group_id)
        .await?;
    sqlx::query!(
        "UPDATE events SET cancelled_at = now(), sequence = sequence + 1, updated_at = now()
         WHERE id = $1 AND cancelled_at IS NULL",
        event.id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
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

#[tracing::instrument(level = "debug", skip_all)]
pub async fn detail(pool: &PgPool, event: &EventRef) -> Result<Event, AppError> {
    let row = sqlx::query_as!(
        EventRow,
        r#"SELECT c.id AS "id!", c.group_slug AS "group_slug!", c.title AS "title!", c.description AS "description!",
                  c.starts_at AS "starts_at!", c.ends_at AS "ends_at!", c.location, c.online_url, c.capacity,
                  c.audience AS "audience!: Audience", c.going_count AS "going_count!", c.waitlist_count AS "waitlist_count!",
                  c.cancelled AS "cancelled!", mine.status AS "my_rsvp?: RsvpStatus",
                  CASE WHEN mine.status = 'waitlisted' THEN waitlist_position(c.id, mine.seq) END AS "my_waitlist_position?",
                  c.sequence AS "sequence!", c.updated_at AS "updated_at!"
           FROM event_cards c
           LEFT JOIN rsvps mine ON mine.event_id = c.id AND mine.user_id = $2
           WHERE c.id = $1"#,
        event.id,
        event.access.group.user_id
    )
    .fetch_one(pool)
    .await?;
    Ok(row.into())
}

#[derive(Debug, Serialize, Deserialize)]
struct ListCursor(
    #[serde(with = "crate::instant::rfc3339_utc")] OffsetDateTime,
    Uuid,
);

/// A group's events, soonest first: by default those not yet over; `from`/`to` bound the
/// start. `members` events are left out for callers who may not see them.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list<'c>(
    db: impl PgExecutor<'c>,
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
        r#"SELECT c.id AS "id!", c.group_slug AS "group_slug!", c.title AS "title!", c.description AS "description!",
                  c.starts_at AS "starts_at!", c.ends_at AS "ends_at!", c.location, c.online_url, c.capacity,
                  c.audience AS "audience!: Audience", c.going_count AS "going_count!", c.waitlist_count AS "waitlist_count!",
                  c.cancelled AS "cancelled!", mine.status AS "my_rsvp?: RsvpStatus",
                  CASE WHEN mine.status = 'waitlisted' THEN waitlist_position(c.id, mine.seq) END AS "my_waitlist_position?",
                  c.sequence AS "sequence!", c.updated_at AS "updated_at!"
           FROM event_cards c
           LEFT JOIN rsvps mine ON mine.event_id = c.id AND mine.user_id = $2
           WHERE c.group_id = $1
             AND ($3 OR c.audience = 'everyone')
             AND ($4::timestamptz IS NULL OR c.ends_at > $4)
             AND ($5::timestamptz IS NULL OR c.starts_at >= $5)
             AND ($6::timestamptz IS NULL OR c.starts_at < $6)
             AND ($7::timestamptz IS NULL OR (c.starts_at, c.id) > ($7, $8::uuid))
           ORDER BY c.starts_at, c.id
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
    .fetch_all(db)
    .await?;
    let events: Vec<Event> = rows.into_iter().map(Event::from).collect();
    Ok(Page::from_rows(events, limit, |e| {
        ListCursor(e.starts_at, e.id)
    }))
}
