//! `memberships.csv`: the row-level export. It names only memberships their holders made
//! `public`: a `members` or `private` membership is counted in the aggregates and never named
//! to HR (PRODUCT.md). Only active memberships of active employees in groups that are not
//! archived are listed: an archived group has no current roster to report.

use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::AppError;
use crate::groups::{MembershipRole, MembershipType, Slug};
use crate::reports::csv::Cell;
use crate::reports::export::{CsvSink, Report, Stop};

pub const HEADER: [&str; 8] = [
    "group_slug",
    "email",
    "display_name",
    "department",
    "location",
    "type",
    "role",
    "joined_at",
];

/// The group a download is limited to.
#[derive(Debug, Clone)]
pub struct GroupKey {
    pub id: Uuid,
    pub slug: String,
}

/// The group named by `?group=`: unknown, malformed or archived slugs are 404.
#[tracing::instrument(skip_all)]
pub async fn find_group(pool: &PgPool, slug: &str) -> Result<GroupKey, AppError> {
    let slug = Slug::parse(slug).map_err(|_| AppError::NotFound)?;
    sqlx::query_as!(
        GroupKey,
        "SELECT id, slug FROM groups WHERE slug = $1 AND archived_at IS NULL",
        slug.as_str()
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)
}

/// Every group's public memberships, or one group's.
#[derive(Debug, Clone)]
pub struct Memberships {
    pub group: Option<GroupKey>,
}

struct Row {
    slug: String,
    email: String,
    display_name: String,
    department: Option<String>,
    location: Option<String>,
    kind: MembershipType,
    role: MembershipRole,
    joined_at: OffsetDateTime,
}

impl Report for Memberships {
    fn name(&self) -> &'static str {
        "memberships"
    }

    fn file_stem(&self) -> String {
        match &self.group {
            Some(group) => format!("memberships-{}", group.slug),
            None => "memberships".into(),
        }
    }

    fn params(&self) -> serde_json::Value {
        json!({ "group": self.group.as_ref().map(|g| &g.slug) })
    }

    async fn write(&self, conn: &mut PgConnection, sink: &mut CsvSink) -> Result<(), Stop> {
        sink.header(&HEADER).await?;
        // Sorted by group, then name: the groups come in order from a small sort, and each
        // group's rows are sorted on their own (an incremental sort), so the first rows leave
        // before the last ones are read.
        let mut rows = match &self.group {
            None => sqlx::query_as!(
                Row,
                r#"SELECT g.slug, u.email, u.display_name, u.department, u.location,
                          m.type AS "kind: MembershipType", m.role AS "role: MembershipRole", m.joined_at
                   FROM groups g
                   JOIN memberships m ON m.group_id = g.id
                   JOIN users u ON u.id = m.user_id
                   WHERE g.archived_at IS NULL
                     AND m.visibility = 'public' AND m.status = 'active' AND u.active
                   ORDER BY g.slug, u.display_name, u.id"#
            )
            .fetch(&mut *conn),
            Some(group) => sqlx::query_as!(
                Row,
                r#"SELECT g.slug, u.email, u.display_name, u.department, u.location,
                          m.type AS "kind: MembershipType", m.role AS "role: MembershipRole", m.joined_at
                   FROM groups g
                   JOIN memberships m ON m.group_id = g.id
                   JOIN users u ON u.id = m.user_id
                   WHERE g.id = $1 AND g.archived_at IS NULL
                     AND m.visibility = 'public' AND m.status = 'active' AND u.active
                   ORDER BY u.display_name, u.id"#,
                group.id
            )
            .fetch(&mut *conn),
        };
        while let Some(r) = rows.try_next().await? {
            let joined = r.joined_at.format(&Rfc3339).unwrap_or_default();
            sink.row([
                Cell::Text(&r.slug),
                Cell::Text(&r.email),
                Cell::Text(&r.display_name),
                Cell::Text(r.department.as_deref().unwrap_or("")),
                Cell::Text(r.location.as_deref().unwrap_or("")),
                Cell::Text(r.kind.as_str()),
                Cell::Text(r.role.as_str()),
                Cell::Text(&joined),
            ])
            .await?;
        }
        Ok(())
    }
}
