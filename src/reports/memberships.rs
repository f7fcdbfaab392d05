//! `memberships.csv`: the row-level export. It names only memberships their holders made
//! `public`: a `members` or `private` membership is counted in the aggregates and never named
//! to HR (PRODUCT.md). Only active memberships of active employees in groups that are not
//! archived are listed: an archived group has no current roster to report.

use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::csv::Cell;
use crate::error::AppError;
use crate::groups::{MembershipRole, MembershipType, Slug};
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
#[tracing::instrument(level = "debug", skip_all)]
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
        // One query per group, in one read-only snapshot: a single query sorted by group and
        // name would make PostgreSQL sort every row before sending the first, while each
        // group's rows sort on their own in memory and start flowing at once.
        let mut tx = conn
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let groups = match &self.group {
            Some(group) => vec![group.clone()],
            None => {
                sqlx::query_as!(
                    GroupKey,
                    "SELECT id, slug FROM groups WHERE archived_at IS NULL ORDER BY slug"
                )
                .fetch_all(&mut *tx)
                .await?
            }
        };
        for group in &groups {
            let mut rows = sqlx::query_as!(
                Row,
                r#"SELECT u.email, u.display_name, u.department, u.location,
                          m.type AS "kind: MembershipType", m.role AS "role: MembershipRole", m.joined_at
                   FROM memberships m
                   JOIN users u ON u.id = m.user_id
                   WHERE m.group_id = $1
                     AND m.visibility = 'public' AND m.status = 'active' AND u.active
                   ORDER BY u.display_name, u.id"#,
                group.id
            )
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                let joined = r.joined_at.format(&Rfc3339).unwrap_or_default();
                sink.row([
                    Cell::Text(&group.slug),
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
        }
        tx.commit().await?;
        Ok(())
    }
}
