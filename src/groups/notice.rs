//! A group's privacy notice: what the group is and who sees what, in the group's own words.
//!
//! The notice is versioned: every edit raises the version by one (removing it too, so that a
//! version number never names two different texts). Where a group has a notice, joining
//! records the version the employee accepted (see `memberships::join`), and a member whose
//! accepted version is older is asked again (`consent_outdated`, the SQL function of the same
//! name). An empty text means the group has no notice.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::audit;
use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::text::{self, TextRule};

const TEXT: TextRule = TextRule::optional_paragraphs(10_000);

/// A group's privacy notice. Without one, `text` is empty (and `version` counts the edits so
/// far, 0 if there never was one).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivacyNotice {
    pub text: String,
    pub version: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// A new text for the notice; empty removes it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NoticeEdit {
    pub text: Option<String>,
}

/// The notice of a group the caller may see (any employee).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get<'c>(db: impl PgExecutor<'c>, group: &GroupRef) -> Result<PrivacyNotice, AppError> {
    sqlx::query_as!(
        PrivacyNotice,
        r#"SELECT privacy_notice AS text, privacy_notice_version AS version,
                  privacy_notice_updated_at AS updated_at
           FROM groups WHERE id = $1"#,
        group.id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// Replaces the notice (leads of the group and admins): the version goes up by one, and every
/// member who accepted an older one is marked outdated. Sending the text it already has
/// changes nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn put(
    pool: &PgPool,
    group: &GroupRef,
    edit: NoticeEdit,
) -> Result<PrivacyNotice, AppError> {
    group.access.require_manage()?;
    let mut errors = Vec::new();
    let Some(raw) = edit.text.as_deref() else {
        return Err(AppError::invalid(
            "text",
            "is required (an empty text removes the notice)",
        ));
    };
    let text = text::check("text", Some(raw), TEXT, &mut errors).unwrap_or_default();
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    group.access.relock_manager(&mut tx, group.id).await?;
    // The row lock orders concurrent edits, and waits for joins that read the old version.
    let notice = sqlx::query_as!(
        PrivacyNotice,
        r#"UPDATE groups
           SET privacy_notice = $2,
               privacy_notice_version = privacy_notice_version + 1,
               privacy_notice_updated_at = now(),
               updated_at = now()
           WHERE id = $1 AND privacy_notice IS DISTINCT FROM $2
           RETURNING privacy_notice AS text, privacy_notice_version AS version,
                     privacy_notice_updated_at AS updated_at"#,
        group.id,
        text
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(notice) = notice else {
        tx.commit().await?;
        return get(pool, group).await;
    };
    audit::record(
        &mut *tx,
        Some(group.access.user_id),
        audit::Action::PrivacyNoticeChanged,
        Some(&group.slug),
        json!({ "version": notice.version, "removed": notice.text.is_empty() }),
    )
    .await?;
    tx.commit().await?;
    Ok(notice)
}
