//! RSVPs: `going` until the capacity is reached, then `waitlisted` in the order people asked.
//! Every change locks the event's row first, so PostgreSQL serialises the RSVPs of one event
//! and the capacity can never be exceeded, however many arrive at the same instant.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::events::{EventRef, RsvpStatus};
use crate::paging::{Page, PageRequest};

#[derive(Debug, Serialize, ToSchema)]
pub struct RsvpAnswer {
    pub status: RsvpStatus,
    /// Place in line when waitlisted (1 is next).
    pub waitlist_position: Option<i64>,
}

struct Locked {
    cancelled: bool,
    started: bool,
}

async fn lock_event(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
) -> Result<Locked, AppError> {
    let row = sqlx::query!(
        r#"SELECT cancelled_at IS NOT NULL AS "cancelled!", starts_at <= now() AS "started!"
           FROM events WHERE id = $1 FOR NO KEY UPDATE"#,
        event_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Locked {
        cancelled: row.cancelled,
        started: row.started,
    })
}

pub async fn going_count(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM rsvps WHERE event_id = $1 AND status = 'going'"#,
        event_id
    )
    .fetch_one(&mut **tx)
    .await?)
}

/// Moves the first people of the waitlist to `going` while there is room, until the event
/// starts: once it has started (or is cancelled) the lines are final, as RSVPs are, and
/// nobody is promoted whatever the capacity becomes. The caller holds the event's row lock.
pub async fn promote(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"WITH room AS (
               SELECT CASE WHEN e.capacity IS NULL THEN NULL
                           ELSE greatest(e.capacity - (SELECT count(*) FROM rsvps g
                                                       WHERE g.event_id = e.id AND g.status = 'going'), 0)
                      END AS free
               FROM events e WHERE e.id = $1
           ),
           next AS (
               SELECT w.user_id FROM rsvps w
               WHERE w.event_id = $1 AND w.status = 'waitlisted'
                 AND EXISTS (SELECT 1 FROM events e
                             WHERE e.id = $1 AND e.starts_at > now() AND e.cancelled_at IS NULL)
               ORDER BY w.seq
               LIMIT (SELECT free FROM room)
           )
           UPDATE rsvps SET status = 'going'
           WHERE event_id = $1 AND user_id IN (SELECT user_id FROM next)
           RETURNING user_id"#,
        event_id
    )
    .fetch_all(&mut **tx)
    .await?)
}

async fn position(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
    user_id: Uuid,
) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(max(waitlist_position(mine.event_id, mine.seq)), 0) AS "n!" FROM rsvps mine
           WHERE mine.event_id = $1 AND mine.user_id = $2 AND mine.status = 'waitlisted'"#,
        event_id,
        user_id
    )
    .fetch_one(&mut **tx)
    .await
    .map(|n| (n > 0).then_some(n))?)
}

/// RSVPs for the caller: `going` while there is room, else `waitlisted`. Asking again answers
/// the same RSVP. Cancelled and started events: 409.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn respond(pool: &PgPool, event: &EventRef) -> Result<RsvpAnswer, AppError> {
    if !event.access.can_rsvp() {
        return Err(AppError::Forbidden);
    }
    let user_id = event.access.group.user_id;
    let mut tx = pool.begin().await?;
    crate::accounts::principal::lock_active(&mut tx, user_id).await?;
    let locked = lock_event(&mut tx, event.id).await?;
    // The standing checked above may have ended since (a leave racing this RSVP).
    let now = crate::events::EventAccess {
        group: event.access.group.relock(&mut tx, event.group_id).await?,
        audience: event.access.audience,
    };
    if !now.can_rsvp() {
        return Err(AppError::Forbidden);
    }
    if locked.cancelled {
        return Err(AppError::Conflict("this event is cancelled".into()));
    }
    if locked.started {
        return Err(AppError::Conflict("this event has already started".into()));
    }
    // A newcomer joins the end of the line and `promote`, the one place that knows the
    // capacity, decides whether they go at once (the line is empty whenever there is room,
    // since every change that frees a place promotes). Asking again changes nothing.
    sqlx::query!(
        "INSERT INTO rsvps (event_id, user_id, status) VALUES ($1, $2, 'waitlisted')
         ON CONFLICT (event_id, user_id) DO NOTHING",
        event.id,
        user_id
    )
    .execute(&mut *tx)
    .await?;
    promote(&mut tx, event.id).await?;
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: RsvpStatus" FROM rsvps WHERE event_id = $1 AND user_id = $2"#,
        event.id,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let waitlist_position = position(&mut tx, event.id, user_id).await?;
    tx.commit().await?;
    Ok(RsvpAnswer {
        status,
        waitlist_position,
    })
}

async fn withdraw_locked(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
    user_id: Uuid,
) -> Result<(), AppError> {
    let removed = sqlx::query_scalar!(
        r#"DELETE FROM rsvps WHERE event_id = $1 AND user_id = $2 RETURNING status AS "status: RsvpStatus""#,
        event_id,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    if removed == Some(RsvpStatus::Going) {
        promote(tx, event_id).await?;
    }
    Ok(())
}

/// Cancels the caller's RSVP (not an error without one); a freed place goes to the first on
/// the waitlist in the same transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn withdraw(pool: &PgPool, event: &EventRef) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let locked = lock_event(&mut tx, event.id).await?;
    if locked.cancelled {
        return Err(AppError::Conflict(
            "this event is cancelled; its RSVPs are kept".into(),
        ));
    }
    if locked.started {
        return Err(AppError::Conflict("this event has already started".into()));
    }
    withdraw_locked(&mut tx, event.id, event.access.group.user_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Cancels someone's RSVPs to a group's upcoming `members` events when they stop being a
/// member (they could no longer see those events, nor cancel the RSVP themselves), promoting
/// each waitlist, inside the leave's or removal's transaction.
pub(crate) async fn withdraw_from_members_events(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<u64, AppError> {
    let events = sqlx::query_scalar!(
        "SELECT e.id FROM rsvps r JOIN events e ON e.id = r.event_id
         WHERE r.user_id = $1 AND e.group_id = $2 AND e.audience = 'members'
           AND e.starts_at > now() AND e.cancelled_at IS NULL
         ORDER BY e.id",
        user_id,
        group_id
    )
    .fetch_all(&mut **tx)
    .await?;
    for event_id in &events {
        lock_event(tx, *event_id).await?;
        withdraw_locked(tx, *event_id, user_id).await?;
    }
    Ok(events.len() as u64)
}

/// Cancels every RSVP of a deactivated person to events not yet started, promoting each
/// waitlist, inside the deactivation's transaction. Events are locked in id order so two
/// deactivations never deadlock.
pub(crate) async fn withdraw_all_future(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<u64, AppError> {
    let events = sqlx::query_scalar!(
        "SELECT e.id FROM rsvps r JOIN events e ON e.id = r.event_id
         WHERE r.user_id = $1 AND e.starts_at > now() AND e.cancelled_at IS NULL
         ORDER BY e.id",
        user_id
    )
    .fetch_all(&mut **tx)
    .await?;
    for event_id in &events {
        lock_event(tx, *event_id).await?;
        withdraw_locked(tx, *event_id, user_id).await?;
    }
    Ok(events.len() as u64)
}

/// One of the caller's answers to an event not yet over.
#[derive(Debug)]
pub struct MyRsvp {
    pub event_id: Uuid,
    pub title: String,
    pub group_slug: String,
    pub group_name: String,
    pub starts_at: OffsetDateTime,
    pub location: Option<String>,
    pub cancelled: bool,
    pub status: RsvpStatus,
    /// Place in line when waitlisted (1 is next).
    pub waitlist_position: Option<i64>,
}

/// The caller's RSVPs to events not yet over, soonest first, with their places in line.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mine(pool: &PgPool, user_id: Uuid) -> Result<Vec<MyRsvp>, AppError> {
    Ok(sqlx::query_as!(
        MyRsvp,
        r#"SELECT e.id AS event_id, e.title, g.slug AS group_slug, g.name AS group_name, e.starts_at,
                  e.location, e.cancelled_at IS NOT NULL AS "cancelled!",
                  r.status AS "status: RsvpStatus",
                  CASE WHEN r.status = 'waitlisted' THEN waitlist_position(r.event_id, r.seq) END
                      AS "waitlist_position?"
           FROM rsvps r
           JOIN events e ON e.id = r.event_id
           JOIN groups g ON g.id = e.group_id AND g.archived_at IS NULL
           WHERE r.user_id = $1 AND e.ends_at > now()
           ORDER BY e.starts_at, e.id"#,
        user_id
    )
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Attendee {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub status: RsvpStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub responded_at: OffsetDateTime,
    pub waitlist_position: Option<i64>,
    #[serde(skip)]
    seq: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct AttendeeCursor(i32, i64);

/// Everyone who answered, going first, each part in the order they asked. Leads and admins.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn attendees(
    pool: &PgPool,
    event: &EventRef,
    page: &PageRequest,
) -> Result<Page<Attendee>, AppError> {
    if !event.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    let limit = page.limit();
    let cursor: Option<AttendeeCursor> = page.cursor()?;
    let (after_rank, after_seq) = match cursor {
        Some(AttendeeCursor(rank, seq)) => (Some(rank), Some(seq)),
        None => (None, None),
    };
    let rows = sqlx::query_as!(
        Attendee,
        r#"SELECT r.user_id, u.display_name, u.email, r.status AS "status: RsvpStatus", r.responded_at, r.seq,
                  CASE WHEN r.status = 'waitlisted' THEN
                      waitlist_position(r.event_id, r.seq)
                  END AS "waitlist_position?"
           FROM rsvps r JOIN users u ON u.id = r.user_id
           WHERE r.event_id = $1
             AND ($2::int IS NULL OR (CASE WHEN r.status = 'going' THEN 0 ELSE 1 END, r.seq) > ($2, $3::bigint))
           ORDER BY CASE WHEN r.status = 'going' THEN 0 ELSE 1 END, r.seq
           LIMIT $4"#,
        event.id,
        after_rank,
        after_seq,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, limit, |a| {
        AttendeeCursor(if a.status == RsvpStatus::Going { 0 } else { 1 }, a.seq)
    }))
}
