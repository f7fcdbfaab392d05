//! Creating, editing and archiving groups.

use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::accounts::Admin;
use crate::audit::{self, Action};
use crate::error::{AppError, FieldError, ResultExt};
use crate::groups::directory::GroupRef;
use crate::groups::memberships;
use crate::groups::{JoinPolicy, Slug};
use crate::text::{self, TextRule};

const NAME: TextRule = text::LINE;
const TAGLINE: TextRule = TextRule::line(200);
const MISSION: TextRule = TextRule::paragraphs(2000);
const DESCRIPTION: TextRule = TextRule::optional_paragraphs(10000);

/// The fields of a group as a client sends them; every one optional so that PATCH can use it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GroupFields {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub tagline: Option<String>,
    pub mission: Option<String>,
    pub description: Option<String>,
    /// `open` (default) or `approval`.
    #[schema(pattern = "^(open|approval)$")]
    pub join_policy: Option<String>,
}

fn check_policy(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<JoinPolicy> {
    match raw.map(JoinPolicy::parse_field) {
        Some(Ok(p)) => Some(p),
        Some(Err(AppError::Validation(mut e))) => {
            errors.append(&mut e);
            None
        }
        _ => None,
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(pool: &PgPool, actor: &Admin, fields: GroupFields) -> Result<String, AppError> {
    let mut errors = Vec::new();
    let slug = match fields.slug.as_deref().map(Slug::parse) {
        Some(Ok(slug)) => Some(slug),
        Some(Err(message)) => {
            errors.push(FieldError::new("slug", message));
            None
        }
        None => {
            errors.push(FieldError::new("slug", "is required"));
            None
        }
    };
    let name = text::check("name", fields.name.as_deref(), NAME, &mut errors);
    let tagline = text::check("tagline", fields.tagline.as_deref(), TAGLINE, &mut errors);
    let mission = text::check("mission", fields.mission.as_deref(), MISSION, &mut errors);
    let description = text::check(
        "description",
        fields.description.as_deref(),
        DESCRIPTION,
        &mut errors,
    );
    let policy =
        check_policy(fields.join_policy.as_deref(), &mut errors).unwrap_or(JoinPolicy::Open);
    let (Some(slug), Some(name), Some(tagline), Some(mission), true) =
        (slug, name, tagline, mission, errors.is_empty())
    else {
        return Err(AppError::Validation(errors));
    };
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO groups (slug, name, tagline, mission, description, join_policy)
         VALUES ($1, $2, $3, $4, $5, $6)",
        slug.as_str(),
        name,
        tagline,
        mission,
        description.unwrap_or_default(),
        policy as JoinPolicy
    )
    .execute(&mut *tx)
    .await
    .on_constraint("groups_slug_key", || {
        AppError::Conflict("a group with this slug already exists".into())
    })?;
    audit::record(
        &mut *tx,
        Some(actor.id()),
        Action::GroupCreated,
        Some(slug.as_str()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(slug.as_str().to_string())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(pool: &PgPool, group: &GroupRef, fields: GroupFields) -> Result<(), AppError> {
    group.access.require_manage()?;
    let mut errors = Vec::new();
    if fields.slug.as_deref().is_some_and(|s| s != group.slug) {
        errors.push(FieldError::new("slug", "cannot be changed"));
    }
    let name = text::check_sent("name", fields.name.as_deref(), NAME, &mut errors);
    let tagline = text::check_sent("tagline", fields.tagline.as_deref(), TAGLINE, &mut errors);
    let mission = text::check_sent("mission", fields.mission.as_deref(), MISSION, &mut errors);
    let description = text::check(
        "description",
        fields.description.as_deref(),
        DESCRIPTION,
        &mut errors,
    );
    let policy = check_policy(fields.join_policy.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let clear_description = fields.description.is_some() && description.is_none();
    let mut tx = pool.begin().await?;
    group.access.relock_manager(&mut tx, group.id).await?;
    sqlx::query!(
        "UPDATE groups SET
             name = coalesce($2, name),
             tagline = coalesce($3, tagline),
             mission = coalesce($4, mission),
             description = CASE WHEN $7 THEN '' ELSE coalesce($5, description) END,
             join_policy = coalesce($6, join_policy),
             updated_at = now()
         WHERE id = $1",
        group.id,
        name,
        tagline,
        mission,
        description,
        policy as Option<JoinPolicy>,
        clear_description
    )
    .execute(&mut *tx)
    .await?;
    // An open group has no one waiting: opening it lets in whoever asked, by the hand of the
    // lead (or admin) who opened it.
    if policy == Some(JoinPolicy::Open) {
        memberships::activate_pending(&mut tx, group.id, group.access.user_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn archive(pool: &PgPool, actor: &Admin, group: &GroupRef) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let archived = sqlx::query!(
        "UPDATE groups SET archived_at = now(), updated_at = now() WHERE id = $1 AND archived_at IS NULL",
        group.id
    )
    .execute(&mut *tx)
    .await?;
    if archived.rows_affected() > 0 {
        audit::record(
            &mut *tx,
            Some(actor.id()),
            Action::GroupArchived,
            Some(&group.slug),
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
