//! Rosters under the privacy rule (`membership_visible`, see `access`), as JSON pages. The
//! lead's CSV of the same roster is `reports::roster`, on the reports' streaming path.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType, Visibility};
use crate::paging::{Page, PageRequest};

/// Shown to leads and admins only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDetails {
    pub email: String,
    pub department: Option<String>,
    pub location: Option<String>,
    pub visibility: Visibility,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RosterEntry {
    pub user_id: Uuid,
    pub display_name: String,
    #[serde(rename = "type")]
    pub kind: MembershipType,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    #[serde(flatten)]
    #[schema(value_type = ContactShownToManagers)]
    pub contact: Option<ContactDetails>,
}

/// The schema of [`RosterEntry::contact`]: [`ContactDetails`], flattened into the entry for
/// leads and admins, left out for everyone else; so in the document each field may be absent.
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: never built, never sent as such
pub struct ContactShownToManagers {
    email: Option<String>,
    department: Option<String>,
    location: Option<String>,
    visibility: Option<Visibility>,
}

struct Row {
    user_id: Uuid,
    display_name: String,
    email: String,
    department: Option<String>,
    location: Option<String>,
    kind: MembershipType,
    role: MembershipRole,
    status: MembershipStatus,
    visibility: Visibility,
    joined_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct RosterCursor(String, Uuid);

async fn fetch(
    pool: &PgPool,
    group: &GroupRef,
    after: Option<RosterCursor>,
    limit: Option<i64>,
) -> Result<Vec<Row>, AppError> {
    let (after_name, after_id) = match after {
        Some(RosterCursor(name, id)) => (Some(name), Some(id)),
        None => (None, None),
    };
    let access = &group.access;
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT m.user_id, u.display_name, u.email, u.department, u.location,
                  m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                  m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.group_id = $1
             AND membership_visible(m.user_id, m.status, m.visibility, $2, $3, $4, $5, $9, $10)
             AND ($6::text IS NULL OR (u.display_name, m.user_id) > ($6, $7::uuid))
           ORDER BY u.display_name, m.user_id
           LIMIT $8"#,
        group.id,
        access.user_id,
        access.is_admin,
        access.role as Option<MembershipRole>,
        access.status as Option<MembershipStatus>,
        after_name,
        after_id,
        limit,
        access.kind as Option<MembershipType>,
        access.visibility as Option<Visibility>
    )
    .fetch_all(pool)
    .await?)
}

/// The roster page the caller may see.
#[tracing::instrument(skip_all)]
pub async fn page(
    pool: &PgPool,
    group: &GroupRef,
    params: &PageRequest,
) -> Result<Page<RosterEntry>, AppError> {
    let limit = params.limit();
    let rows = fetch(pool, group, params.cursor()?, Some(limit + 1)).await?;
    let contact = group.access.sees_contact_details();
    let entries = rows
        .into_iter()
        .map(|r| RosterEntry {
            user_id: r.user_id,
            display_name: r.display_name,
            kind: r.kind,
            role: r.role,
            status: r.status,
            joined_at: r.joined_at,
            contact: contact.then_some(ContactDetails {
                email: r.email,
                department: r.department,
                location: r.location,
                visibility: r.visibility,
            }),
        })
        .collect();
    Ok(Page::from_rows(entries, limit, |e: &RosterEntry| {
        RosterCursor(e.display_name.clone(), e.user_id)
    }))
}
