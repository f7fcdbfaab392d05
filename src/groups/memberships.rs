//! Joining and leaving, approval, removal, co-leads. Every change runs in one transaction with
//! its row in the append-only membership history.

use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::groups::{
    JoinPolicy, MembershipEvent, MembershipRole, MembershipStatus, MembershipType, Visibility,
};

/// A membership as its holder sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyMembership {
    pub group_slug: String,
    #[serde(rename = "type")]
    pub kind: MembershipType,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub visibility: Visibility,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

struct Row {
    kind: MembershipType,
    role: MembershipRole,
    status: MembershipStatus,
    visibility: Visibility,
    joined_at: OffsetDateTime,
}

impl Row {
    fn into_mine(self, slug: &str) -> MyMembership {
        MyMembership {
            group_slug: slug.to_string(),
            kind: self.kind,
            role: self.role,
            status: self.status,
            visibility: self.visibility,
            joined_at: self.joined_at,
        }
    }
}

/// The caller's memberships, for `/me`.
#[tracing::instrument(skip_all)]
pub async fn mine(pool: &PgPool, user_id: Uuid) -> Result<Vec<MyMembership>, AppError> {
    Ok(sqlx::query_as!(
        MyMembership,
        r#"SELECT g.slug AS group_slug, m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                  m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at
           FROM memberships m JOIN groups g ON g.id = m.group_id
           WHERE m.user_id = $1 AND g.archived_at IS NULL
           ORDER BY g.name, g.slug"#,
        user_id
    )
    .fetch_all(pool)
    .await?)
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    user_id: Uuid,
    actor_id: Uuid,
    event: MembershipEvent,
    row: &Row,
    reason: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO membership_history (group_id, user_id, actor_id, event, type, role, status, visibility, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        group_id,
        user_id,
        actor_id,
        event as MembershipEvent,
        row.kind as MembershipType,
        row.role as MembershipRole,
        row.status as MembershipStatus,
        row.visibility as Visibility,
        reason
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn lock_row(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Row>, AppError> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT type AS "kind: MembershipType", role AS "role: MembershipRole",
                  status AS "status: MembershipStatus", visibility AS "visibility: Visibility", joined_at
           FROM memberships WHERE group_id = $1 AND user_id = $2
           FOR UPDATE"#,
        group_id,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?)
}

/// Whether a join created the membership (201) or found it (200).
pub enum Joined {
    Created(MyMembership),
    Existing(MyMembership),
}

/// Joins a group, or changes the type and visibility of an existing membership. Joining
/// twice is not an error. An `approval` group makes the membership pending.
#[tracing::instrument(skip_all)]
pub async fn join(
    pool: &PgPool,
    group: &GroupRef,
    kind: MembershipType,
    visibility: Option<Visibility>,
) -> Result<Joined, AppError> {
    if group.archived {
        return Err(AppError::Conflict(
            "this group is archived and takes no new members".into(),
        ));
    }
    let user_id = group.access.user_id;
    let status = match group.join_policy {
        JoinPolicy::Open => MembershipStatus::Active,
        JoinPolicy::Approval => MembershipStatus::Pending,
    };
    let mut tx = pool.begin().await?;
    crate::accounts::principal::lock_active(&mut tx, user_id).await?;
    // One statement inserts the membership or, when it exists (however recently a concurrent
    // request of the same user made it, or ended it), locks it: PostgreSQL guarantees an insert
    // or an update, so a race with our own join or leave can never fail the request. The no-op
    // update leaves `xmax` set, which tells an existing row from a new one.
    let upserted = sqlx::query!(
        r#"INSERT INTO memberships (group_id, user_id, type, status, visibility)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (group_id, user_id) DO UPDATE SET type = memberships.type
           RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                     status AS "status: MembershipStatus", visibility AS "visibility: Visibility", joined_at,
                     (xmax = 0) AS "inserted!""#,
        group.id,
        user_id,
        kind as MembershipType,
        status as MembershipStatus,
        visibility.unwrap_or(Visibility::Members) as Visibility
    )
    .fetch_one(&mut *tx)
    .await?;
    let existing = Row {
        kind: upserted.kind,
        role: upserted.role,
        status: upserted.status,
        visibility: upserted.visibility,
        joined_at: upserted.joined_at,
    };
    if upserted.inserted {
        let event = match existing.status {
            MembershipStatus::Active => MembershipEvent::Joined,
            MembershipStatus::Pending => MembershipEvent::Requested,
        };
        record(&mut tx, group.id, user_id, user_id, event, &existing, None).await?;
        tx.commit().await?;
        return Ok(Joined::Created(existing.into_mine(&group.slug)));
    }
    let visibility = visibility.unwrap_or(existing.visibility);
    if existing.kind == kind && existing.visibility == visibility {
        tx.commit().await?;
        return Ok(Joined::Existing(existing.into_mine(&group.slug)));
    }
    let updated = sqlx::query_as!(
        Row,
        r#"UPDATE memberships SET type = $3, visibility = $4
           WHERE group_id = $1 AND user_id = $2
           RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                     status AS "status: MembershipStatus", visibility AS "visibility: Visibility", joined_at"#,
        group.id,
        user_id,
        kind as MembershipType,
        visibility as Visibility
    )
    .fetch_one(&mut *tx)
    .await?;
    record(
        &mut tx,
        group.id,
        user_id,
        user_id,
        MembershipEvent::Changed,
        &updated,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Joined::Existing(updated.into_mine(&group.slug)))
}

async fn delete_row(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Row>, AppError> {
    Ok(sqlx::query_as!(
        Row,
        r#"DELETE FROM memberships WHERE group_id = $1 AND user_id = $2
           RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                     status AS "status: MembershipStatus", visibility AS "visibility: Visibility", joined_at"#,
        group_id,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?)
}

/// Ends the caller's own membership inside `tx`, recording it; `false` when there was none.
/// `lifecycle::leave` is the door to it: it also ends what the membership carried.
#[tracing::instrument(skip_all)]
pub(crate) async fn end_own(
    tx: &mut Transaction<'_, Postgres>,
    group: &GroupRef,
) -> Result<bool, AppError> {
    let user_id = group.access.user_id;
    let Some(row) = delete_row(tx, group.id, user_id).await? else {
        return Ok(false);
    };
    record(
        tx,
        group.id,
        user_id,
        user_id,
        MembershipEvent::Left,
        &row,
        None,
    )
    .await?;
    Ok(true)
}

/// A lead's or admin's change to someone's membership.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberChange {
    pub approve: bool,
    pub role: Option<MembershipRole>,
}

/// Approves a pending request and/or sets the role. The target must be a member (404
/// otherwise); approving someone who is not pending, or promoting a pending request, is 409.
#[tracing::instrument(skip_all)]
pub async fn change_member(
    pool: &PgPool,
    group: &GroupRef,
    target: Uuid,
    change: MemberChange,
) -> Result<MyMembership, AppError> {
    group.access.require_manage()?;
    let actor = group.access.user_id;
    let mut tx = pool.begin().await?;
    let mut row = lock_row(&mut tx, group.id, target)
        .await?
        .ok_or(AppError::NotFound)?;
    if change.approve {
        if row.status != MembershipStatus::Pending {
            return Err(AppError::Conflict(
                "this membership is not pending approval".into(),
            ));
        }
        row = sqlx::query_as!(
            Row,
            r#"UPDATE memberships SET status = 'active', joined_at = now()
               WHERE group_id = $1 AND user_id = $2
               RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                         status AS "status: MembershipStatus", visibility AS "visibility: Visibility", joined_at"#,
            group.id,
            target
        )
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            group.id,
            target,
            actor,
            MembershipEvent::Approved,
            &row,
            None,
        )
        .await?;
    }
    if let Some(role) = change.role.filter(|r| *r != row.role) {
        if row.status != MembershipStatus::Active {
            return Err(AppError::Conflict(
                "approve this request before changing its role".into(),
            ));
        }
        row = sqlx::query_as!(
            Row,
            r#"UPDATE memberships SET role = $3
               WHERE group_id = $1 AND user_id = $2
               RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                         status AS "status: MembershipStatus", visibility AS "visibility: Visibility", joined_at"#,
            group.id,
            target,
            role as MembershipRole
        )
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            group.id,
            target,
            actor,
            MembershipEvent::RoleChanged,
            &row,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(row.into_mine(&group.slug))
}

/// Removes a member (or declines a pending request) inside `tx`, for a lead or admin. Not a
/// member: 404. `lifecycle::remove_member` is the door to it.
#[tracing::instrument(skip_all)]
pub(crate) async fn remove(
    tx: &mut Transaction<'_, Postgres>,
    group: &GroupRef,
    target: Uuid,
) -> Result<(), AppError> {
    group.access.require_manage()?;
    let row = delete_row(tx, group.id, target)
        .await?
        .ok_or(AppError::NotFound)?;
    let event = if target == group.access.user_id {
        MembershipEvent::Left
    } else {
        MembershipEvent::Removed
    };
    record(
        tx,
        group.id,
        target,
        group.access.user_id,
        event,
        &row,
        None,
    )
    .await?;
    Ok(())
}

/// Ends every membership of a deactivated employee, inside the deactivation's transaction.
#[tracing::instrument(skip_all)]
pub(crate) async fn end_all_for_deactivated(
    tx: &mut Transaction<'_, Postgres>,
    actor: Uuid,
    user_id: Uuid,
) -> Result<u64, AppError> {
    let ended = sqlx::query!(
        r#"WITH ended AS (
               DELETE FROM memberships WHERE user_id = $1
               RETURNING group_id, user_id, type, role, status, visibility
           )
           INSERT INTO membership_history (group_id, user_id, actor_id, event, type, role, status, visibility, reason)
           SELECT group_id, user_id, $2, 'removed', type, role, status, visibility, 'deactivated'
           FROM ended"#,
        user_id,
        actor
    )
    .execute(&mut **tx)
    .await?;
    Ok(ended.rows_affected())
}
