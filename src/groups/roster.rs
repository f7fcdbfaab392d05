//! Rosters under the privacy rule (`membership_visible`, see `access`), as JSON pages and as
//! the lead's CSV.

use axum::response::Response;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::csv::Cell;
use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType, Visibility};
use crate::paging::{Page, PageRequest};
use crate::reports::export::{self, CsvSink, Report, Stop};

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
    pub contact: Option<ContactDetails>,
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

pub const CSV_HEADER: [&str; 10] = [
    "user_id",
    "display_name",
    "email",
    "department",
    "location",
    "type",
    "role",
    "status",
    "visibility",
    "joined_at",
];

/// The whole roster as the caller sees it, as CSV, for leads and admins (403 for anyone else),
/// through the reports' streaming path: the same headers (no cache keeps a copy), memory that
/// does not grow with the roster, and an audit record of who took the contact details.
#[tracing::instrument(skip_all)]
pub async fn csv(pool: &PgPool, group: &GroupRef) -> Result<Response, AppError> {
    export::start_roster(
        pool,
        &group.access,
        RosterCsv {
            group: group.clone(),
        },
    )
    .await
}

/// The lead's roster export, as a report of the streaming path.
struct RosterCsv {
    group: GroupRef,
}

impl Report for RosterCsv {
    fn name(&self) -> &'static str {
        "members"
    }

    fn file_stem(&self) -> String {
        format!("{}-members", self.group.slug)
    }

    fn audit_action(&self) -> crate::audit::Action {
        crate::audit::Action::MembersCsvDownloaded
    }

    fn audit_target(&self) -> String {
        self.group.slug.clone()
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "group": self.group.slug })
    }

    async fn write(&self, conn: &mut PgConnection, sink: &mut CsvSink) -> Result<(), Stop> {
        sink.header(&CSV_HEADER).await?;
        let access = &self.group.access;
        let mut rows = sqlx::query_as!(
            Row,
            r#"SELECT m.user_id, u.display_name, u.email, u.department, u.location,
                      m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                      m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at
               FROM memberships m JOIN users u ON u.id = m.user_id
               WHERE m.group_id = $1
                 AND membership_visible(m.user_id, m.status, m.visibility, $2, $3, $4, $5, $6, $7)
               ORDER BY u.display_name, m.user_id"#,
            self.group.id,
            access.user_id,
            access.is_admin,
            access.role as Option<MembershipRole>,
            access.status as Option<MembershipStatus>,
            access.kind as Option<MembershipType>,
            access.visibility as Option<Visibility>
        )
        .fetch(conn);
        while let Some(r) = rows.try_next().await? {
            let id = r.user_id.to_string();
            let joined = r.joined_at.format(&Rfc3339).unwrap_or_default();
            sink.row([
                Cell::Text(&id),
                Cell::Text(&r.display_name),
                Cell::Text(&r.email),
                Cell::Text(r.department.as_deref().unwrap_or("")),
                Cell::Text(r.location.as_deref().unwrap_or("")),
                Cell::Text(r.kind.as_str()),
                Cell::Text(r.role.as_str()),
                Cell::Text(r.status.as_str()),
                Cell::Text(r.visibility.as_str()),
                Cell::Text(&joined),
            ])
            .await?;
        }
        Ok(())
    }
}
