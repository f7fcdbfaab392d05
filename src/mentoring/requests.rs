//! Mentoring requests: asking, listing, deciding, withdrawing.

use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::RequestStatus;
use super::offers::{OfferRef, resolve_offer_id};
use crate::accounts::CurrentUser;
use crate::error::{AppError, ResultExt};
use crate::groups::directory::LeadRef;
use crate::paging::{Page, PageRequest};
use crate::text::{self, TextRule};

const MESSAGE: TextRule = TextRule::optional_paragraphs(2000);

#[derive(Debug, Serialize, ToSchema)]
pub struct MentoringRequest {
    pub id: Uuid,
    pub offer_id: Uuid,
    pub offer_title: String,
    pub group_slug: String,
    pub mentee: LeadRef,
    pub message: String,
    pub status: RequestStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
}

pub(super) struct RequestRow {
    pub(super) id: Uuid,
    pub(super) offer_id: Uuid,
    pub(super) offer_title: String,
    pub(super) group_slug: String,
    pub(super) mentee_id: Uuid,
    pub(super) mentee_name: String,
    pub(super) message: String,
    pub(super) status: RequestStatus,
    pub(super) created_at: OffsetDateTime,
    pub(super) decided_at: Option<OffsetDateTime>,
}

impl From<RequestRow> for MentoringRequest {
    fn from(r: RequestRow) -> Self {
        Self {
            id: r.id,
            offer_id: r.offer_id,
            offer_title: r.offer_title,
            group_slug: r.group_slug,
            mentee: LeadRef {
                id: r.mentee_id,
                display_name: r.mentee_name,
            },
            message: r.message,
            status: r.status,
            created_at: r.created_at,
            decided_at: r.decided_at,
        }
    }
}

async fn fetch_request<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: Uuid,
) -> Result<MentoringRequest, AppError> {
    let row = sqlx::query_as!(
        RequestRow,
        r#"SELECT c.id AS "id!", c.offer_id AS "offer_id!", c.offer_title AS "offer_title!", c.group_slug AS "group_slug!",
                  c.mentee_id AS "mentee_id!", c.mentee_name AS "mentee_name!", c.message AS "message!",
                  c.status AS "status!: RequestStatus", c.created_at AS "created_at!", c.decided_at
           FROM request_cards c
           WHERE c.id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(row.into())
}

/// Asks for mentoring, once per offer.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn request(
    pool: &PgPool,
    offer: &OfferRef,
    message: Option<&str>,
) -> Result<MentoringRequest, AppError> {
    if !offer.access.can_request() {
        return Err(AppError::Forbidden);
    }
    if offer.closed {
        return Err(AppError::Conflict("this offer is closed".into()));
    }
    let mut errors = Vec::new();
    let message = text::check("message", message, MESSAGE, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    // The caller's membership may have ended, and the offer closed, since they were checked:
    // both are read again under locks that leaving and closing must wait for (the caller's
    // standing first, as every write takes it before what it writes).
    if !offer
        .access
        .relock(&mut tx, offer.group_id)
        .await?
        .can_request()
    {
        return Err(AppError::Forbidden);
    }
    let locked = sqlx::query!(
        r#"SELECT closed_at IS NOT NULL AS "closed!" FROM mentoring_offers
           WHERE id = $1 FOR SHARE"#,
        offer.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if locked.closed {
        return Err(AppError::Conflict("this offer is closed".into()));
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO mentoring_requests (offer_id, mentee_id, message) VALUES ($1, $2, $3) RETURNING id",
        offer.id,
        offer.access.group.user_id,
        message.unwrap_or_default()
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("mentoring_requests_once", || {
        AppError::Conflict("you have already asked for this offer".into())
    })?;
    tx.commit().await?;
    fetch_request(pool, id).await
}

/// The requests of an offer, for its mentor, the group's leads and admins.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_requests(
    pool: &PgPool,
    offer: &OfferRef,
    page: &PageRequest,
) -> Result<Page<MentoringRequest>, AppError> {
    if !offer.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    let limit = page.limit();
    let after: Option<Uuid> = page.cursor()?;
    let rows = sqlx::query_as!(
        RequestRow,
        r#"SELECT c.id AS "id!", c.offer_id AS "offer_id!", c.offer_title AS "offer_title!", c.group_slug AS "group_slug!",
                  c.mentee_id AS "mentee_id!", c.mentee_name AS "mentee_name!", c.message AS "message!",
                  c.status AS "status!: RequestStatus", c.created_at AS "created_at!", c.decided_at
           FROM request_cards c
           WHERE c.offer_id = $1 AND ($2::uuid IS NULL OR c.id > $2)
           ORDER BY c.id
           LIMIT $3"#,
        offer.id,
        after,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let requests: Vec<MentoringRequest> = rows.into_iter().map(MentoringRequest::from).collect();
    Ok(Page::from_rows(requests, limit, |r| r.id))
}

/// Accepts, declines (the mentor, a lead) or withdraws (the mentee) a request. Accepting
/// beyond the slots is 409; decisions only move forward (409 otherwise). An admin, who may
/// read the offer's requests, gets 403; anyone else who is neither gets 404: a request says
/// who asked for help, which is nobody else's business.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide(
    pool: &PgPool,
    user: &CurrentUser,
    raw_id: &str,
    to: RequestStatus,
) -> Result<MentoringRequest, AppError> {
    let id = Uuid::parse_str(raw_id).map_err(|_| AppError::NotFound)?;
    let found = sqlx::query!(
        "SELECT r.offer_id, r.mentee_id FROM mentoring_requests r WHERE r.id = $1",
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let offer = resolve_offer_id(pool, user, found.offer_id).await?;
    let is_mentee = found.mentee_id == user.id;
    if !is_mentee && !offer.access.can_manage() {
        return Err(AppError::NotFound);
    }
    match to {
        RequestStatus::Withdrawn if !is_mentee => return Err(AppError::Forbidden),
        RequestStatus::Accepted | RequestStatus::Declined
            if !offer.access.can_decide(found.mentee_id) =>
        {
            return Err(AppError::Forbidden);
        }
        _ => {}
    }
    // The offer's row lock queues concurrent decisions; the request's status is read under it,
    // and under the request's own row lock, which a deactivation (withdrawing the request
    // without the offer's lock) also takes: otherwise an acceptance could overwrite it.
    let mut tx = pool.begin().await?;
    // A mentor who left, or a lead demoted, since the request was checked decides nothing.
    if to != RequestStatus::Withdrawn
        && !offer
            .access
            .relock(&mut tx, offer.group_id)
            .await?
            .can_decide(found.mentee_id)
    {
        return Err(AppError::Forbidden);
    }
    let locked = sqlx::query!(
        r#"SELECT o.slots, o.closed_at IS NOT NULL AS "closed!" FROM mentoring_offers o WHERE o.id = $1 FOR NO KEY UPDATE"#,
        found.offer_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let current = sqlx::query_scalar!(
        r#"SELECT status AS "status: RequestStatus" FROM mentoring_requests WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    let allowed = matches!(
        (current, to),
        (RequestStatus::Pending, RequestStatus::Accepted)
            | (RequestStatus::Pending, RequestStatus::Declined)
            | (RequestStatus::Pending, RequestStatus::Withdrawn)
            | (RequestStatus::Accepted, RequestStatus::Withdrawn)
    );
    if current == to {
        tx.commit().await?;
        return fetch_request(pool, id).await;
    }
    if !allowed {
        return Err(AppError::Conflict(
            format!("a request that is {current:?} cannot become {to:?}").to_lowercase(),
        ));
    }
    if to == RequestStatus::Accepted {
        if locked.closed {
            return Err(AppError::Conflict("this offer is closed".into()));
        }
        let taken = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM mentoring_requests WHERE offer_id = $1 AND status = 'accepted'"#,
            found.offer_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if taken >= i64::from(locked.slots) {
            return Err(AppError::Conflict(
                "every slot of this offer is taken".into(),
            ));
        }
    }
    sqlx::query!(
        "UPDATE mentoring_requests SET status = $2, decided_at = now(), decided_by = $3 WHERE id = $1",
        id,
        to as RequestStatus,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    fetch_request(pool, id).await
}

/// Withdraws someone's open requests for a group's offers when they stop being a member (only
/// members and allies may ask), inside the leave's or removal's transaction.
pub(crate) async fn withdraw_in_group(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<u64, AppError> {
    let withdrawn = sqlx::query!(
        "UPDATE mentoring_requests r SET status = 'withdrawn', decided_at = now(), decided_by = $2
         FROM mentoring_offers o
         WHERE o.id = r.offer_id AND o.group_id = $1 AND r.mentee_id = $2
           AND r.status IN ('pending', 'accepted')",
        group_id,
        user_id
    )
    .execute(&mut **tx)
    .await?;
    Ok(withdrawn.rows_affected())
}
