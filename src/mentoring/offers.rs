//! Mentoring offers: posting, browsing, reading and closing them.

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::OfferAccess;
use crate::accounts::CurrentUser;
use crate::error::{AppError, FieldError};
use crate::groups::access::GroupAccess;
use crate::groups::directory::{GroupRef, LeadRef};
use crate::groups::{MembershipRole, MembershipStatus};
use crate::paging::{Page, PageRequest};
use crate::text::{self, TextRule};
use crate::whole::Whole;

const TITLE: TextRule = TextRule::line(200);
const DESCRIPTION: TextRule = TextRule::optional_paragraphs(5000);
const TOPIC: TextRule = TextRule::line(50);
pub const MAX_TOPICS: usize = 10;
pub const MAX_SLOTS: i64 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct Offer {
    pub id: Uuid,
    pub group_slug: String,
    pub title: String,
    pub description: String,
    pub topics: Vec<String>,
    pub mentor: LeadRef,
    pub slots: i32,
    /// Accepted requests.
    pub slots_taken: i64,
    pub closed: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

pub(super) struct OfferRow {
    pub(super) id: Uuid,
    pub(super) group_slug: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) topics: Vec<String>,
    pub(super) mentor_id: Uuid,
    pub(super) mentor_name: String,
    pub(super) slots: i32,
    pub(super) slots_taken: i64,
    pub(super) closed: bool,
    pub(super) created_at: OffsetDateTime,
}

impl From<OfferRow> for Offer {
    fn from(r: OfferRow) -> Self {
        Self {
            id: r.id,
            group_slug: r.group_slug,
            title: r.title,
            description: r.description,
            topics: r.topics,
            mentor: LeadRef {
                id: r.mentor_id,
                display_name: r.mentor_name,
            },
            slots: r.slots,
            slots_taken: r.slots_taken,
            closed: r.closed,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OfferFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub topics: Option<Vec<String>>,
    #[schema(value_type = Option<i64>)]
    pub slots: Option<Whole>,
    /// Defaults to the caller; must be an active member of type `member`, or a lead, of the group.
    #[schema(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub mentor_id: Option<Uuid>,
}

/// Posts an offer (admins and the group's leads).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_offer(
    pool: &PgPool,
    group: &GroupRef,
    fields: OfferFields,
) -> Result<Uuid, AppError> {
    group.access.require_manage()?;
    if group.archived {
        return Err(AppError::Conflict("this group is archived".into()));
    }
    let mut errors = Vec::new();
    let title = text::check("title", fields.title.as_deref(), TITLE, &mut errors);
    let description = text::check(
        "description",
        fields.description.as_deref(),
        DESCRIPTION,
        &mut errors,
    );
    let raw_topics = fields.topics.unwrap_or_default();
    if raw_topics.len() > MAX_TOPICS {
        errors.push(FieldError::new(
            "topics",
            format!("at most {MAX_TOPICS} topics"),
        ));
    }
    let mut topics = Vec::new();
    for (i, topic) in raw_topics.iter().enumerate() {
        if let Some(t) = text::check(&format!("topics[{i}]"), Some(topic), TOPIC, &mut errors) {
            if !topics.contains(&t) {
                topics.push(t);
            }
        }
    }
    let slots = match fields.slots {
        Some(Whole(n)) if (1..=MAX_SLOTS).contains(&n) => i32::try_from(n).ok(),
        Some(_) => {
            errors.push(FieldError::new(
                "slots",
                format!("must be a whole number from 1 to {MAX_SLOTS}"),
            ));
            None
        }
        None => {
            errors.push(FieldError::new("slots", "is required"));
            None
        }
    };
    let mentor_id = fields.mentor_id.unwrap_or(group.access.user_id);
    let mentor_ok = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                          WHERE m.group_id = $1 AND m.user_id = $2 AND u.active
                            AND mentor_shown(m.role, m.type, m.status, m.visibility)) AS "ok!""#,
        group.id,
        mentor_id
    )
    .fetch_one(pool)
    .await?;
    if !mentor_ok {
        errors.push(FieldError::new(
            "mentor_id",
            "the mentor must be a lead of this group, or an active member whose membership is public \
             (naming a mentor shows everyone that they belong to the group)",
        ));
    }
    let (Some(title), Some(slots), true) = (title, slots, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let id = sqlx::query_scalar!(
        "INSERT INTO mentoring_offers (group_id, mentor_id, title, description, topics, slots, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        group.id,
        mentor_id,
        title,
        description.unwrap_or_default(),
        &topics,
        slots,
        group.access.user_id
    )
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// The open offers of a group (every employee may browse them).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_offers<'c>(
    db: impl PgExecutor<'c>,
    group: &GroupRef,
    page: &PageRequest,
) -> Result<Page<Offer>, AppError> {
    let limit = page.limit();
    let after = page.cursor::<OfferCursor>()?.map(|c| (c.0, c.1));
    let rows = sqlx::query_as!(
        OfferRow,
        r#"SELECT c.id AS "id!", c.group_slug AS "group_slug!", c.title AS "title!", c.description AS "description!",
                  c.topics AS "topics!", c.mentor_id AS "mentor_id!", c.mentor_name AS "mentor_name!", c.slots AS "slots!",
                  c.slots_taken AS "slots_taken!", c.closed AS "closed!", c.created_at AS "created_at!"
           FROM offer_cards c
           JOIN memberships mm ON mm.group_id = c.group_id AND mm.user_id = c.mentor_id
                              AND mentor_shown(mm.role, mm.type, mm.status, mm.visibility)
           WHERE c.group_id = $1 AND NOT c.closed AND c.mentor_active
             AND ($2::timestamptz IS NULL OR (c.created_at, c.id) < ($2, $3::uuid))
           ORDER BY c.created_at DESC, c.id DESC
           LIMIT $4"#,
        group.id,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit + 1
    )
    .fetch_all(db)
    .await?;
    let offers: Vec<Offer> = rows.into_iter().map(Offer::from).collect();
    Ok(Page::from_rows(offers, limit, |o| {
        OfferCursor(o.created_at, o.id)
    }))
}

/// Where a page of offers ends: the last offer's creation and id (the same JSON as before).
#[derive(Debug, Serialize, Deserialize)]
struct OfferCursor(
    #[serde(with = "crate::instant::rfc3339_utc")] OffsetDateTime,
    Uuid,
);

/// One offer, open or closed (the caller has been allowed to see it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn offer(pool: &PgPool, id: Uuid) -> Result<Offer, AppError> {
    let row = sqlx::query_as!(
        OfferRow,
        r#"SELECT c.id AS "id!", c.group_slug AS "group_slug!", c.title AS "title!", c.description AS "description!",
                  c.topics AS "topics!", c.mentor_id AS "mentor_id!", c.mentor_name AS "mentor_name!", c.slots AS "slots!",
                  c.slots_taken AS "slots_taken!", c.closed AS "closed!", c.created_at AS "created_at!"
           FROM offer_cards c
           WHERE c.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(row.into())
}

/// An offer and the caller's standing; 404 if unknown or in an archived group (except admins).
#[derive(Debug, Clone)]
pub struct OfferRef {
    pub id: Uuid,
    pub group_id: Uuid,
    pub closed: bool,
    pub access: OfferAccess,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve_offer(
    pool: &PgPool,
    user: &CurrentUser,
    raw_id: &str,
) -> Result<OfferRef, AppError> {
    let id = Uuid::parse_str(raw_id).map_err(|_| AppError::NotFound)?;
    resolve_offer_id(pool, user, id).await
}

pub(super) async fn resolve_offer_id(
    pool: &PgPool,
    user: &CurrentUser,
    id: Uuid,
) -> Result<OfferRef, AppError> {
    let row = sqlx::query!(
        r#"SELECT o.id, o.group_id, o.mentor_id, o.closed_at IS NOT NULL AS "closed!", g.archived_at IS NOT NULL AS "archived!",
                  m.role AS "role?: MembershipRole", m.status AS "status?: MembershipStatus"
           FROM mentoring_offers o
           JOIN groups g ON g.id = o.group_id
           LEFT JOIN memberships m ON m.group_id = o.group_id AND m.user_id = $2
           WHERE o.id = $1"#,
        id,
        user.id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let group = GroupAccess::new(user, row.role, row.status);
    group.require_not_hidden(row.archived)?;
    Ok(OfferRef {
        id: row.id,
        group_id: row.group_id,
        closed: row.closed,
        access: OfferAccess {
            group,
            mentor_id: row.mentor_id,
        },
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn close_offer(pool: &PgPool, offer: &OfferRef) -> Result<(), AppError> {
    if !offer.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    let mut tx = pool.begin().await?;
    // The mentor may have left, or the lead been demoted, since the request was checked.
    if !offer
        .access
        .relock(&mut tx, offer.group_id)
        .await?
        .can_manage()
    {
        return Err(AppError::Forbidden);
    }
    sqlx::query!(
        "UPDATE mentoring_offers SET closed_at = now() WHERE id = $1 AND closed_at IS NULL",
        offer.id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
