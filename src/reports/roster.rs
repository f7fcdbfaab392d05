//! `members.csv`: a group's roster as its lead (or an admin) sees it in `/members`, under the
//! same privacy rule (`membership_visible`), through the one streaming path of the reports: the
//! same headers (no cache keeps a copy, no browser sniffs it), memory that does not grow with
//! the roster, and an audit record of who took the contact details.

use axum::response::Response;
use futures_util::TryStreamExt;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::audit;
use crate::csv::Cell;
use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType, Visibility};
use crate::reports::export::{self, CsvSink, Report, Stop};

pub const HEADER: [&str; 10] = [
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

/// Starts the download of the group's roster for one of its leads or an admin (403 for anyone
/// else).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn members_csv(
    pool: &PgPool,
    exports: &export::Exports,
    group: &GroupRef,
) -> Result<Response, AppError> {
    export::start_roster(
        pool,
        exports,
        &group.access,
        RosterCsv {
            group: group.clone(),
        },
    )
    .await
}

struct RosterCsv {
    group: GroupRef,
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

impl Report for RosterCsv {
    fn name(&self) -> &'static str {
        "members"
    }

    fn file_stem(&self) -> String {
        format!("{}-members", self.group.slug)
    }

    fn audit_action(&self) -> audit::Action {
        audit::Action::MembersCsvDownloaded
    }

    fn audit_target(&self) -> String {
        self.group.slug.clone()
    }

    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "group": self.group.slug })
    }

    async fn write(&self, conn: &mut PgConnection, sink: &mut CsvSink) -> Result<(), Stop> {
        sink.header(&HEADER).await?;
        let access = &self.group.access;
        let mut rows = sqlx::query_as!(
            Row,
            r#"SELECT m.user_id, u.display_name, u.email, u.department, u.location,
                      m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                      m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at
               FROM memberships m JOIN users u ON u.id = m.user_id
               WHERE m.group_id = $1
                 AND membership_visible(m.user_id, m.status, m.visibility, $2, $3, $4, $5, $6, $7)
               ORDER BY m.sort_name, m.user_id"#,
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
