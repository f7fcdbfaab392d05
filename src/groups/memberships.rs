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
    /// The version of the group's privacy notice accepted on joining (null: none accepted).
    pub consent_version: Option<i32>,
    /// The group's privacy notice changed since the holder accepted it (or they never did).
    pub consent_outdated: bool,
}

struct Row {
    kind: MembershipType,
    role: MembershipRole,
    status: MembershipStatus,
    visibility: Visibility,
    consent_version: Option<i32>,
    consented_at: Option<OffsetDateTime>,
}

/// The caller's memberships, for `/me`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mine(pool: &PgPool, user_id: Uuid) -> Result<Vec<MyMembership>, AppError> {
    Ok(sqlx::query_as!(
        MyMembership,
        r#"SELECT g.slug AS group_slug, m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                  m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at,
                  m.consent_version,
                  consent_outdated(g.privacy_notice, g.privacy_notice_version, m.consent_version) AS "consent_outdated!"
           FROM memberships m JOIN groups g ON g.id = m.group_id
           WHERE m.user_id = $1 AND g.archived_at IS NULL
           ORDER BY g.name, g.slug"#,
        user_id
    )
    .fetch_all(pool)
    .await?)
}

/// One membership as its holder sees it, read inside the transaction that changed it.
async fn fetch_mine(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<MyMembership, AppError> {
    Ok(sqlx::query_as!(
        MyMembership,
        r#"SELECT g.slug AS group_slug, m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                  m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at,
                  m.consent_version,
                  consent_outdated(g.privacy_notice, g.privacy_notice_version, m.consent_version) AS "consent_outdated!"
           FROM memberships m JOIN groups g ON g.id = m.group_id
           WHERE m.group_id = $1 AND m.user_id = $2"#,
        group_id,
        user_id
    )
    .fetch_one(&mut **tx)
    .await?)
}

/// The caller's memberships with their groups' names, for the pages' "my groups".
#[tracing::instrument(level = "debug", skip_all)]
pub async fn mine_named(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Vec<(String, MyMembership)>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT g.name, g.slug AS group_slug, m.type AS "kind: MembershipType", m.role AS "role: MembershipRole",
                  m.status AS "status: MembershipStatus", m.visibility AS "visibility: Visibility", m.joined_at,
                  m.consent_version,
                  consent_outdated(g.privacy_notice, g.privacy_notice_version, m.consent_version) AS "consent_outdated!"
           FROM memberships m JOIN groups g ON g.id = m.group_id
           WHERE m.user_id = $1 AND g.archived_at IS NULL
           ORDER BY g.name, g.slug"#,
        user_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.name,
                MyMembership {
                    group_slug: r.group_slug,
                    kind: r.kind,
                    role: r.role,
                    status: r.status,
                    visibility: r.visibility,
                    joined_at: r.joined_at,
                    consent_version: r.consent_version,
                    consent_outdated: r.consent_outdated,
                },
            )
        })
        .collect())
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
        "INSERT INTO membership_history (group_id, user_id, actor_id, event, type, role, status, visibility, reason,
                                         consent_version, consented_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        group_id,
        user_id,
        actor_id,
        event as MembershipEvent,
        row.kind as MembershipType,
        row.role as MembershipRole,
        row.status as MembershipStatus,
        row.visibility as Visibility,
        reason,
        row.consent_version,
        row.consented_at
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
                  status AS "status: MembershipStatus", visibility AS "visibility: Visibility", consent_version, consented_at
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

/// What the caller asks for when joining (or changing their membership).
#[derive(Debug, Clone, Copy)]
pub struct JoinChoice {
    pub kind: MembershipType,
    pub visibility: Option<Visibility>,
    /// The version of the group's privacy notice the caller accepted.
    pub consent_version: Option<i64>,
}

/// The 409 of a lead who would hide their membership (or turn ally) while leading.
fn lead_must_stay_public() -> AppError {
    AppError::Conflict(
        "a lead's membership is public, as leads are named to every employee: step down as lead \
         before changing its visibility or type"
            .into(),
    )
}

/// The rule of consent: where the group has a privacy notice, a new membership must carry the
/// version of it the employee accepted, and any version sent must be the current one (an
/// employee cannot accept a text they were not shown). Answers the version to record.
fn check_consent(
    notice_version: Option<i32>,
    sent: Option<i64>,
    creating: bool,
) -> Result<Option<i32>, AppError> {
    let Some(current) = notice_version else {
        return Ok(None);
    };
    match sent {
        Some(v) if v == i64::from(current) => Ok(Some(current)),
        Some(_) => Err(AppError::invalid(
            "consent_version",
            format!(
                "must be the current version of the group's privacy notice ({current}): read it again"
            ),
        )),
        None if creating => Err(AppError::invalid(
            "consent_version",
            format!(
                "is required: this group has a privacy notice (version {current}) to accept before joining"
            ),
        )),
        None => Ok(None),
    }
}

/// Joins a group, or changes the type and visibility of an existing membership. Joining
/// twice is not an error. An `approval` group makes the membership pending. Where the group
/// has a privacy notice, see [`check_consent`]; a member who sends the current version again
/// records their renewed consent.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn join(pool: &PgPool, group: &GroupRef, choice: JoinChoice) -> Result<Joined, AppError> {
    if group.archived {
        return Err(AppError::Conflict(
            "this group is archived and takes no new members".into(),
        ));
    }
    let JoinChoice {
        kind,
        visibility,
        consent_version,
    } = choice;
    let user_id = group.access.user_id;
    let mut tx = pool.begin().await?;
    crate::accounts::principal::lock_active(&mut tx, user_id).await?;
    // The share lock makes a concurrent edit of the group wait until this join is recorded: a
    // consent is never recorded against a notice version that was already replaced, and a lead
    // who opens the group meanwhile then lets this request in (none stays pending in an open
    // group).
    let group_now = sqlx::query!(
        r#"SELECT CASE WHEN privacy_notice <> '' THEN privacy_notice_version END AS "version",
                  join_policy AS "policy: JoinPolicy"
           FROM groups WHERE id = $1 FOR SHARE"#,
        group.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let notice = group_now.version;
    let status = match group_now.policy {
        JoinPolicy::Open => MembershipStatus::Active,
        JoinPolicy::Approval => MembershipStatus::Pending,
    };
    // A wrong version is refused whether the membership exists or not.
    check_consent(notice, consent_version, false)?;
    let consent = consent_version.and(notice);
    // One statement inserts the membership or, when it exists (however recently a concurrent
    // request of the same user made it, or ended it), locks it: PostgreSQL guarantees an insert
    // or an update, so a race with our own join or leave can never fail the request. The no-op
    // update leaves `xmax` set, which tells an existing row from a new one.
    let upserted = sqlx::query!(
        r#"INSERT INTO memberships (group_id, user_id, type, status, visibility, consent_version, consented_at)
           VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::int IS NULL THEN NULL ELSE now() END)
           ON CONFLICT (group_id, user_id) DO UPDATE SET type = memberships.type
           RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                     status AS "status: MembershipStatus", visibility AS "visibility: Visibility", consent_version, consented_at,
                     (xmax = 0) AS "inserted!""#,
        group.id,
        user_id,
        kind as MembershipType,
        status as MembershipStatus,
        visibility.unwrap_or(Visibility::Members) as Visibility,
        consent
    )
    .fetch_one(&mut *tx)
    .await?;
    let existing = Row {
        kind: upserted.kind,
        role: upserted.role,
        status: upserted.status,
        visibility: upserted.visibility,
        consent_version: upserted.consent_version,
        consented_at: upserted.consented_at,
    };
    if upserted.inserted {
        // Dropping the transaction undoes the insert.
        check_consent(notice, consent_version, true)?;
        let event = match existing.status {
            MembershipStatus::Active => MembershipEvent::Joined,
            MembershipStatus::Pending => MembershipEvent::Requested,
        };
        record(&mut tx, group.id, user_id, user_id, event, &existing, None).await?;
        let mine = fetch_mine(&mut tx, group.id, user_id).await?;
        tx.commit().await?;
        return Ok(Joined::Created(mine));
    }
    let visibility = visibility.unwrap_or(existing.visibility);
    if existing.role == MembershipRole::Lead
        && (visibility != Visibility::Public
            || (existing.kind == MembershipType::Member && kind == MembershipType::Ally))
    {
        return Err(lead_must_stay_public());
    }
    let renewed = consent.is_some() && consent != existing.consent_version;
    if existing.kind == kind && existing.visibility == visibility && !renewed {
        let mine = fetch_mine(&mut tx, group.id, user_id).await?;
        tx.commit().await?;
        return Ok(Joined::Existing(mine));
    }
    let updated = sqlx::query_as!(
        Row,
        r#"UPDATE memberships
           SET type = $3, visibility = $4,
               consent_version = coalesce($5, consent_version),
               consented_at = CASE WHEN $5::int IS NULL THEN consented_at ELSE now() END
           WHERE group_id = $1 AND user_id = $2
           RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                     status AS "status: MembershipStatus", visibility AS "visibility: Visibility", consent_version, consented_at"#,
        group.id,
        user_id,
        kind as MembershipType,
        visibility as Visibility,
        renewed.then_some(consent).flatten()
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
    let mine = fetch_mine(&mut tx, group.id, user_id).await?;
    tx.commit().await?;
    Ok(Joined::Existing(mine))
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
                     status AS "status: MembershipStatus", visibility AS "visibility: Visibility", consent_version, consented_at"#,
        group_id,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?)
}

/// Ends the caller's own membership inside `tx`, recording it; `false` when there was none.
/// `lifecycle::leave` is the door to it: it also ends what the membership carried.
#[tracing::instrument(level = "debug", skip_all)]
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn change_member(
    pool: &PgPool,
    group: &GroupRef,
    target: Uuid,
    change: MemberChange,
) -> Result<MyMembership, AppError> {
    group.access.require_manage()?;
    let actor = group.access.user_id;
    let mut tx = pool.begin().await?;
    group.access.relock_manager(&mut tx, group.id).await?;
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
                         status AS "status: MembershipStatus", visibility AS "visibility: Visibility", consent_version, consented_at"#,
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
        // Leads are named to every employee: promoting a hidden membership would out its
        // holder. Only they can make it public.
        if role == MembershipRole::Lead && row.visibility != Visibility::Public {
            return Err(AppError::Conflict(
                "only a public membership can be promoted, as leads are named to every employee: \
                 ask the member to make their membership public first"
                    .into(),
            ));
        }
        row = sqlx::query_as!(
            Row,
            r#"UPDATE memberships SET role = $3
               WHERE group_id = $1 AND user_id = $2
               RETURNING type AS "kind: MembershipType", role AS "role: MembershipRole",
                         status AS "status: MembershipStatus", visibility AS "visibility: Visibility", consent_version, consented_at"#,
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
    let mine = fetch_mine(&mut tx, group.id, target).await?;
    tx.commit().await?;
    Ok(mine)
}

/// Removes a member (or declines a pending request) inside `tx`, for a lead or admin. Not a
/// member: 404. `lifecycle::remove_member` is the door to it.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn remove(
    tx: &mut Transaction<'_, Postgres>,
    group: &GroupRef,
    target: Uuid,
) -> Result<(), AppError> {
    group.access.require_manage()?;
    group.access.relock_manager(tx, group.id).await?;
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

/// Activates every pending request of a group whose lead or admin has just opened it (join
/// policy `approval` to `open`): each is recorded as approved by `actor`, in the caller's
/// transaction. Answers how many were activated.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn activate_pending(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    actor: Uuid,
) -> Result<u64, AppError> {
    let activated = sqlx::query!(
        r#"WITH activated AS (
               UPDATE memberships SET status = 'active', joined_at = now()
               WHERE group_id = $1 AND status = 'pending'
               RETURNING group_id, user_id, type, role, status, visibility
           )
           INSERT INTO membership_history (group_id, user_id, actor_id, event, type, role, status, visibility, reason)
           SELECT group_id, user_id, $2, 'approved', type, role, status, visibility, 'the group was opened'
           FROM activated"#,
        group_id,
        actor
    )
    .execute(&mut **tx)
    .await?;
    Ok(activated.rows_affected())
}

/// Ends every membership of a deactivated employee, inside the deactivation's transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn end_all_for_deactivated(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<Uuid>,
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
