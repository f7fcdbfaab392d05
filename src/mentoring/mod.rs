//! Mentoring offers and requests. Accepted requests never exceed an offer's slots: accepting
//! locks the offer's row, so concurrent acceptances queue and the last ones find it full.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::error::{AppError, FieldError, ResultExt};
use crate::groups::access::GroupAccess;
use crate::groups::directory::{GroupRef, LeadRef};
use crate::groups::{MembershipRole, MembershipStatus};
use crate::paging::{Page, PageRequest};
use crate::text::{self, TextRule};

const TITLE: TextRule = TextRule {
    required: true,
    max_chars: 200,
    multiline: false,
};
const DESCRIPTION: TextRule = TextRule {
    required: false,
    max_chars: 5000,
    multiline: true,
};
const MESSAGE: TextRule = TextRule {
    required: false,
    max_chars: 2000,
    multiline: true,
};
const TOPIC: TextRule = TextRule {
    required: true,
    max_chars: 50,
    multiline: false,
};
pub const MAX_TOPICS: usize = 10;
pub const MAX_SLOTS: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "mentoring_request_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Accepted,
    Declined,
    Withdrawn,
}

impl RequestStatus {
    pub fn parse_field(raw: &str) -> Result<Self, AppError> {
        match raw {
            "accepted" => Ok(Self::Accepted),
            "declined" => Ok(Self::Declined),
            "withdrawn" => Ok(Self::Withdrawn),
            _ => Err(AppError::invalid(
                "status",
                "must be one of accepted, declined, withdrawn",
            )),
        }
    }
}

/// Who may do what with an offer and its requests.
#[derive(Debug, Clone)]
pub struct OfferAccess {
    pub group: GroupAccess,
    pub mentor_id: Uuid,
}

impl OfferAccess {
    /// Close the offer, read its requests, accept or decline them.
    pub fn can_manage(&self) -> bool {
        (self.group.user_id == self.mentor_id && self.group.is_active_member())
            || self.group.can_manage()
    }

    /// Accept or decline a request: a manager, but never for their own request (a lead who
    /// asked for a colleague's mentoring does not get to accept themselves).
    pub fn can_decide(&self, mentee_id: Uuid) -> bool {
        self.can_manage() && self.group.user_id != mentee_id
    }

    /// Ask for mentoring: an active member or ally of the group who is not the mentor.
    pub fn can_request(&self) -> bool {
        self.group.is_active_member() && self.group.user_id != self.mentor_id
    }
}

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

struct OfferRow {
    id: Uuid,
    group_slug: String,
    title: String,
    description: String,
    topics: Vec<String>,
    mentor_id: Uuid,
    mentor_name: String,
    slots: i32,
    slots_taken: i64,
    closed: bool,
    created_at: OffsetDateTime,
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
    pub slots: Option<i64>,
    /// Defaults to the caller; must be an active member of type `member`, or a lead, of the group.
    pub mentor_id: Option<Uuid>,
}

/// Posts an offer (admins and the group's leads).
#[tracing::instrument(skip_all)]
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
        Some(n) if (1..=MAX_SLOTS).contains(&n) => i32::try_from(n).ok(),
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
#[tracing::instrument(skip_all)]
pub async fn list_offers(
    pool: &PgPool,
    group: &GroupRef,
    page: &PageRequest,
) -> Result<Page<Offer>, AppError> {
    let limit = page.limit();
    let after: Option<(OffsetDateTime, Uuid)> = page
        .cursor::<(String, Uuid)>()?
        .map(|(t, id)| {
            OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                .map(|t| (t, id))
                .map_err(|_| AppError::invalid("cursor", "is not a cursor this service gave out"))
        })
        .transpose()?;
    let rows = sqlx::query_as!(
        OfferRow,
        r#"SELECT o.id, g.slug AS group_slug, o.title, o.description, o.topics, o.mentor_id,
                  u.display_name AS mentor_name, o.slots,
                  (SELECT count(*) FROM mentoring_requests r WHERE r.offer_id = o.id AND r.status = 'accepted') AS "slots_taken!",
                  o.closed_at IS NOT NULL AS "closed!", o.created_at
           FROM mentoring_offers o
           JOIN groups g ON g.id = o.group_id
           JOIN users u ON u.id = o.mentor_id AND u.active
           JOIN memberships mm ON mm.group_id = o.group_id AND mm.user_id = o.mentor_id
                              AND mentor_shown(mm.role, mm.type, mm.status, mm.visibility)
           WHERE o.group_id = $1 AND o.closed_at IS NULL
             AND ($2::timestamptz IS NULL OR (o.created_at, o.id) < ($2, $3::uuid))
           ORDER BY o.created_at DESC, o.id DESC
           LIMIT $4"#,
        group.id,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let offers: Vec<Offer> = rows.into_iter().map(Offer::from).collect();
    Ok(Page::from_rows(offers, limit, |o| {
        let t = o
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        (t, o.id)
    }))
}

/// One offer, open or closed (the caller has been allowed to see it).
#[tracing::instrument(skip_all)]
pub async fn offer(pool: &PgPool, id: Uuid) -> Result<Offer, AppError> {
    let row = sqlx::query_as!(
        OfferRow,
        r#"SELECT o.id, g.slug AS group_slug, o.title, o.description, o.topics, o.mentor_id,
                  u.display_name AS mentor_name, o.slots,
                  (SELECT count(*) FROM mentoring_requests r WHERE r.offer_id = o.id AND r.status = 'accepted') AS "slots_taken!",
                  o.closed_at IS NOT NULL AS "closed!", o.created_at
           FROM mentoring_offers o
           JOIN groups g ON g.id = o.group_id
           JOIN users u ON u.id = o.mentor_id
           WHERE o.id = $1"#,
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
    pub closed: bool,
    pub access: OfferAccess,
}

#[tracing::instrument(skip_all)]
pub async fn resolve_offer(
    pool: &PgPool,
    user: &CurrentUser,
    raw_id: &str,
) -> Result<OfferRef, AppError> {
    let id = Uuid::parse_str(raw_id).map_err(|_| AppError::NotFound)?;
    resolve_offer_id(pool, user, id).await
}

async fn resolve_offer_id(
    pool: &PgPool,
    user: &CurrentUser,
    id: Uuid,
) -> Result<OfferRef, AppError> {
    let row = sqlx::query!(
        r#"SELECT o.id, o.mentor_id, o.closed_at IS NOT NULL AS "closed!", g.archived_at IS NOT NULL AS "archived!",
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
    if row.archived && !group.sees_archived() {
        return Err(AppError::NotFound);
    }
    Ok(OfferRef {
        id: row.id,
        closed: row.closed,
        access: OfferAccess {
            group,
            mentor_id: row.mentor_id,
        },
    })
}

#[tracing::instrument(skip_all)]
pub async fn close_offer(pool: &PgPool, offer: &OfferRef) -> Result<(), AppError> {
    if !offer.access.can_manage() {
        return Err(AppError::Forbidden);
    }
    sqlx::query!(
        "UPDATE mentoring_offers SET closed_at = now() WHERE id = $1 AND closed_at IS NULL",
        offer.id
    )
    .execute(pool)
    .await?;
    Ok(())
}

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

struct RequestRow {
    id: Uuid,
    offer_id: Uuid,
    offer_title: String,
    group_slug: String,
    mentee_id: Uuid,
    mentee_name: String,
    message: String,
    status: RequestStatus,
    created_at: OffsetDateTime,
    decided_at: Option<OffsetDateTime>,
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
        r#"SELECT r.id, r.offer_id, o.title AS offer_title, g.slug AS group_slug, r.mentee_id,
                  u.display_name AS mentee_name, r.message, r.status AS "status: RequestStatus", r.created_at, r.decided_at
           FROM mentoring_requests r
           JOIN mentoring_offers o ON o.id = r.offer_id
           JOIN groups g ON g.id = o.group_id
           JOIN users u ON u.id = r.mentee_id
           WHERE r.id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(row.into())
}

/// Asks for mentoring, once per offer.
#[tracing::instrument(skip_all)]
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
    crate::accounts::principal::lock_active(&mut tx, offer.access.group.user_id).await?;
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
#[tracing::instrument(skip_all)]
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
        r#"SELECT r.id, r.offer_id, o.title AS offer_title, g.slug AS group_slug, r.mentee_id,
                  u.display_name AS mentee_name, r.message, r.status AS "status: RequestStatus", r.created_at, r.decided_at
           FROM mentoring_requests r
           JOIN mentoring_offers o ON o.id = r.offer_id
           JOIN groups g ON g.id = o.group_id
           JOIN users u ON u.id = r.mentee_id
           WHERE r.offer_id = $1 AND ($2::uuid IS NULL OR r.id > $2)
           ORDER BY r.id
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

/// Accepts, declines (mentor, lead, admin) or withdraws (the mentee) a request. Accepting
/// beyond the slots is 409; decisions only move forward (409 otherwise). People who are
/// neither get 404: a request says who asked for help, which is nobody else's business.
#[tracing::instrument(skip_all)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct MyMentoring {
    /// Offers the caller mentors.
    pub offers: Vec<Offer>,
    /// Requests the caller made.
    pub requests: Vec<MentoringRequest>,
}

#[tracing::instrument(skip_all)]
pub async fn mine(pool: &PgPool, user_id: Uuid) -> Result<MyMentoring, AppError> {
    let offers = sqlx::query_as!(
        OfferRow,
        r#"SELECT o.id, g.slug AS group_slug, o.title, o.description, o.topics, o.mentor_id,
                  u.display_name AS mentor_name, o.slots,
                  (SELECT count(*) FROM mentoring_requests r WHERE r.offer_id = o.id AND r.status = 'accepted') AS "slots_taken!",
                  o.closed_at IS NOT NULL AS "closed!", o.created_at
           FROM mentoring_offers o
           JOIN groups g ON g.id = o.group_id AND g.archived_at IS NULL
           JOIN users u ON u.id = o.mentor_id
           WHERE o.mentor_id = $1
           ORDER BY o.created_at DESC, o.id DESC"#,
        user_id
    )
    .fetch_all(pool)
    .await?;
    let requests = sqlx::query_as!(
        RequestRow,
        r#"SELECT r.id, r.offer_id, o.title AS offer_title, g.slug AS group_slug, r.mentee_id,
                  u.display_name AS mentee_name, r.message, r.status AS "status: RequestStatus", r.created_at, r.decided_at
           FROM mentoring_requests r
           JOIN mentoring_offers o ON o.id = r.offer_id
           JOIN groups g ON g.id = o.group_id
           JOIN users u ON u.id = r.mentee_id
           WHERE r.mentee_id = $1
           ORDER BY r.created_at DESC, r.id"#,
        user_id
    )
    .fetch_all(pool)
    .await?;
    Ok(MyMentoring {
        offers: offers.into_iter().map(Offer::from).collect(),
        requests: requests.into_iter().map(MentoringRequest::from).collect(),
    })
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

pub struct Ended {
    pub requests_withdrawn: u64,
    pub offers_closed: u64,
}

/// Withdraws a deactivated person's open requests and closes the offers they mentor, inside
/// the deactivation's transaction.
pub(crate) async fn end_all_for_deactivated(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<Ended, AppError> {
    let withdrawn = sqlx::query!(
        "UPDATE mentoring_requests SET status = 'withdrawn', decided_at = now(), decided_by = $1
         WHERE mentee_id = $1 AND status IN ('pending', 'accepted')",
        user_id
    )
    .execute(&mut **tx)
    .await?;
    let closed = sqlx::query!(
        "UPDATE mentoring_offers SET closed_at = now() WHERE mentor_id = $1 AND closed_at IS NULL",
        user_id
    )
    .execute(&mut **tx)
    .await?;
    Ok(Ended {
        requests_withdrawn: withdrawn.rows_affected(),
        offers_closed: closed.rows_affected(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(
        user: Uuid,
        mentor: Uuid,
        role: Option<MembershipRole>,
        status: Option<MembershipStatus>,
    ) -> OfferAccess {
        OfferAccess {
            group: GroupAccess {
                user_id: user,
                is_admin: false,
                role,
                status,
            },
            mentor_id: mentor,
        }
    }

    #[test]
    fn mentors_and_leads_manage_members_request() {
        let (me, mentor) = (Uuid::new_v4(), Uuid::new_v4());
        let member = access(
            me,
            mentor,
            Some(MembershipRole::Member),
            Some(MembershipStatus::Active),
        );
        assert!(member.can_request() && !member.can_manage());
        let pending = access(
            me,
            mentor,
            Some(MembershipRole::Member),
            Some(MembershipStatus::Pending),
        );
        assert!(!pending.can_request());
        let the_mentor = access(
            mentor,
            mentor,
            Some(MembershipRole::Member),
            Some(MembershipStatus::Active),
        );
        assert!(the_mentor.can_manage() && !the_mentor.can_request());
        let lead = access(
            me,
            mentor,
            Some(MembershipRole::Lead),
            Some(MembershipStatus::Active),
        );
        assert!(lead.can_manage());
        assert!(!access(me, mentor, None, None).can_request());
        assert!(
            lead.can_decide(Uuid::new_v4()) && !lead.can_decide(me),
            "not their own request"
        );
    }

    #[test]
    fn statuses_parse() {
        assert_eq!(
            RequestStatus::parse_field("accepted").ok(),
            Some(RequestStatus::Accepted)
        );
        assert!(RequestStatus::parse_field("pending").is_err());
    }
}
