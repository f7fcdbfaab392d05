//! Per-person secret calendar feeds: an address with a random token, rotatable, serving the
//! events of the person's groups and RSVPs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::AppError;
use crate::events::ical::{self, IcsEvent};

fn new_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The caller's feed token, made on first use.
#[tracing::instrument(skip_all)]
pub async fn token(pool: &PgPool, user_id: Uuid) -> Result<String, AppError> {
    let candidate = new_token();
    let token = sqlx::query_scalar!(
        "INSERT INTO calendar_feeds (user_id, token) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
         RETURNING token",
        user_id,
        candidate
    )
    .fetch_one(pool)
    .await?;
    Ok(token)
}

/// Replaces the token: the old address stops working at once.
#[tracing::instrument(skip_all)]
pub async fn rotate(pool: &PgPool, user_id: Uuid) -> Result<String, AppError> {
    let token = new_token();
    sqlx::query!(
        "INSERT INTO calendar_feeds (user_id, token) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET token = EXCLUDED.token, created_at = now()",
        user_id,
        token
    )
    .execute(pool)
    .await?;
    Ok(token)
}

struct FeedRow {
    id: Uuid,
    title: String,
    description: String,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    location: Option<String>,
    online_url: Option<String>,
    sequence: i32,
    cancelled: bool,
    updated_at: OffsetDateTime,
    group_name: String,
}

fn render(name: &str, rows: &[FeedRow]) -> String {
    let events: Vec<IcsEvent<'_>> = rows
        .iter()
        .map(|r| IcsEvent {
            id: r.id,
            title: &r.title,
            description: &r.description,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            location: r.location.as_deref(),
            online_url: r.online_url.as_deref(),
            sequence: r.sequence,
            cancelled: r.cancelled,
            updated_at: r.updated_at,
            group_name: &r.group_name,
        })
        .collect();
    ical::calendar(name, &events, OffsetDateTime::now_utc())
}

/// The feed behind a token, or 404 for an unknown token or a deactivated person. It holds the
/// events of the last 90 days and the future of the groups the person is an active member or
/// ally of (their `members` events included, since they are members), and every event they
/// RSVPed to that they may still see.
#[tracing::instrument(skip_all)]
pub async fn feed(pool: &PgPool, token: &str) -> Result<String, AppError> {
    let owner = sqlx::query_scalar!(
        "SELECT f.user_id FROM calendar_feeds f JOIN users u ON u.id = f.user_id
         WHERE f.token = $1 AND u.active",
        token
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let rows = sqlx::query_as!(
        FeedRow,
        r#"SELECT e.id, e.title, e.description, e.starts_at, e.ends_at, e.location, e.online_url,
                  e.sequence, e.cancelled_at IS NOT NULL AS "cancelled!", e.updated_at, g.name AS group_name
           FROM events e
           JOIN groups g ON g.id = e.group_id AND g.archived_at IS NULL
           LEFT JOIN memberships m ON m.group_id = e.group_id AND m.user_id = $1 AND m.status = 'active'
           WHERE e.ends_at > now() - interval '90 days'
             AND (m.user_id IS NOT NULL
                  OR (e.audience = 'everyone'
                      AND EXISTS (SELECT 1 FROM rsvps r WHERE r.event_id = e.id AND r.user_id = $1)))
           ORDER BY e.starts_at, e.id"#,
        owner
    )
    .fetch_all(pool)
    .await?;
    Ok(render("belong", &rows))
}

/// One event as a calendar (the caller may see it: checked by `events::resolve`).
#[tracing::instrument(skip_all)]
pub async fn single(pool: &PgPool, event_id: Uuid) -> Result<String, AppError> {
    let rows = sqlx::query_as!(
        FeedRow,
        r#"SELECT e.id, e.title, e.description, e.starts_at, e.ends_at, e.location, e.online_url,
                  e.sequence, e.cancelled_at IS NOT NULL AS "cancelled!", e.updated_at, g.name AS group_name
           FROM events e JOIN groups g ON g.id = e.group_id
           WHERE e.id = $1"#,
        event_id
    )
    .fetch_all(pool)
    .await?;
    Ok(render("belong", &rows))
}
