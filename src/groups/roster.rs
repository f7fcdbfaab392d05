//! Rosters under the privacy rule (`membership_visible`, see `access`), as JSON pages. The
//! lead's CSV of the same roster is `reports::roster`, on the reports' streaming path.

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
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
    sort_name: String,
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

/// `sqlx::query_as!` of [`Row`]s: the roster's columns, from a membership and its member, then
/// `$rest` (the conditions and the order), with the arguments. sqlx takes a `+` of string
/// literals as the query, so the column list is written here once for both queries.
macro_rules! roster_rows {
    ($rest:literal, $($args:tt)*) => {
        sqlx::query_as!(
            Row,
            r#"SELECT m.user_id, m.sort_name, u.display_name, u.email, u.department, u.location,
                  m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                  m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           "# + $rest,
            $($args)*
        )
    };
}

/// Where the previous page ended: its last entry's sort name and user id. The first page starts
/// after `("", nil)`, before every entry (a display name is never empty).
#[derive(Debug, Default, Serialize, Deserialize)]
struct RosterCursor(String, Uuid);

/// One page of the roster in (name, user id) order, from the cursor on: an index range scan
/// of `memberships_roster_idx` that stops after `limit` visible entries, whatever the size of
/// the group (the names are copied into `memberships.sort_name`, see the `roster_order`
/// migration). The cursor condition is a plain row comparison, never `$n IS NULL OR ...`, so
/// that a generic plan (prepared statements) keeps it as the index condition.
async fn fetch<'c>(
    db: impl PgExecutor<'c>,
    group: &GroupRef,
    after: RosterCursor,
    limit: i64,
) -> Result<Vec<Row>, AppError> {
    let RosterCursor(after_name, after_id) = after;
    let access = &group.access;
    Ok(roster_rows!(
        r#"WHERE m.group_id = $1
             AND membership_visible(m.user_id, m.status, m.visibility, $2, $3, $4, $5, $9, $10)
             AND (m.sort_name, m.user_id) > ($6::text, $7::uuid)
           ORDER BY m.sort_name, m.user_id
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
    .fetch_all(db)
    .await?)
}

impl Row {
    fn into_entry(self, contact: bool) -> RosterEntry {
        RosterEntry {
            user_id: self.user_id,
            display_name: self.display_name,
            kind: self.kind,
            role: self.role,
            status: self.status,
            joined_at: self.joined_at,
            contact: contact.then_some(ContactDetails {
                email: self.email,
                department: self.department,
                location: self.location,
                visibility: self.visibility,
            }),
        }
    }
}

/// The roster page the caller may see.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn page<'c>(
    db: impl PgExecutor<'c>,
    group: &GroupRef,
    params: &PageRequest,
) -> Result<Page<RosterEntry>, AppError> {
    let limit = params.limit();
    let after = params.cursor()?.unwrap_or_default();
    let rows = fetch(db, group, after, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r: &Row| {
        RosterCursor(r.sort_name.clone(), r.user_id)
    });
    let contact = group.access.sees_contact_details();
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|r| r.into_entry(contact))
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// One entry of the roster, as the caller would find it on a page; `None` when there is no
/// such membership or the caller may not see it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn entry(
    pool: &PgPool,
    group: &GroupRef,
    user_id: Uuid,
) -> Result<Option<RosterEntry>, AppError> {
    let access = &group.access;
    let row = roster_rows!(
        r#"WHERE m.group_id = $1 AND m.user_id = $6
             AND membership_visible(m.user_id, m.status, m.visibility, $2, $3, $4, $5, $7, $8)"#,
        group.id,
        access.user_id,
        access.is_admin,
        access.role as Option<MembershipRole>,
        access.status as Option<MembershipStatus>,
        user_id,
        access.kind as Option<MembershipType>,
        access.visibility as Option<Visibility>
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.into_entry(group.access.sees_contact_details())))
}
