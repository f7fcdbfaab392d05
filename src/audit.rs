//! The append-only audit log: role changes, deactivations, sign-in failure bursts, report
//! downloads, identities linked and accounts made by single sign-on. PostgreSQL refuses updates and deletes of it (see the migration's trigger).

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::paging::{Page, PageRequest};

/// What an audit record says happened. The names are stable: they are stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LoginThrottled,
    RefreshReused,
    RolesChanged,
    UserDeactivated,
    AdminBootstrapped,
    GroupCreated,
    GroupArchived,
    PrivacyNoticeChanged,
    MembersCsvDownloaded,
    ReportDownloaded,
    UserReactivated,
    UserProvisioned,
    UserProvisionUpdated,
    UserDeprovisioned,
    ScimTokenCreated,
    ScimTokenRevoked,
    IdentityLinked,
    UserCreatedBySso,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginThrottled => "auth.login_throttled",
            Action::RefreshReused => "auth.refresh_reused",
            Action::RolesChanged => "user.roles_changed",
            Action::UserDeactivated => "user.deactivated",
            Action::AdminBootstrapped => "user.admin_bootstrapped",
            Action::GroupCreated => "group.created",
            Action::GroupArchived => "group.archived",
            Action::PrivacyNoticeChanged => "group.privacy_notice",
            Action::MembersCsvDownloaded => "report.members_csv",
            Action::ReportDownloaded => "report.downloaded",
            Action::UserReactivated => "user.reactivated",
            Action::UserProvisioned => "user.provisioned",
            Action::UserProvisionUpdated => "user.provision_updated",
            Action::UserDeprovisioned => "user.deprovisioned",
            Action::ScimTokenCreated => "scim.token_created",
            Action::ScimTokenRevoked => "scim.token_revoked",
            Action::IdentityLinked => "user.identity_linked",
            Action::UserCreatedBySso => "user.created_by_sso",
        }
    }
}

/// Appends one record, in the caller's transaction when it passes one.
#[tracing::instrument(skip_all, fields(action = action.as_str()))]
pub async fn record<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    actor_id: Option<Uuid>,
    action: Action,
    target: Option<&str>,
    details: serde_json::Value,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO audit_log (actor_id, action, target, details) VALUES ($1, $2, $3, $4)",
        actor_id,
        action.as_str(),
        target,
        details
    )
    .execute(executor)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// Newest first. Only for admins: `accounts::audit_log` is the door to it.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn list(
    pool: &sqlx::PgPool,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, AppError> {
    let limit = page.limit();
    let before: Option<i64> = page.cursor()?;
    let rows = sqlx::query_as!(
        AuditEntry,
        r#"SELECT id, at, actor_id, action, target, details
           FROM audit_log
           WHERE $1::bigint IS NULL OR id < $1
           ORDER BY id DESC
           LIMIT $2"#,
        before,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, limit, |e| e.id))
}
