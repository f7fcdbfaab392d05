//! The one place that ends a person's involvement in a group: leaving, removal by a lead, and
//! deactivation of the account. Each ends the memberships, the RSVPs that depended on them
//! (promoting the waitlists), the mentoring requests and the offers of a departing mentor
//! (closed, their pending requests declined) together, in one transaction, so no front door
//! (the API, the pages, SCIM provisioning) can end one without the others.

use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::accounts::provisioning::{self, Profile, Provisioned};
use crate::accounts::{self, Actor, Admin, ProvisioningClient, User};
use crate::audit::{self, Action};
use crate::db::notices;
use crate::error::AppError;
use crate::events::rsvp;
use crate::groups::directory::GroupRef;
use crate::groups::memberships;
use crate::mentoring;

/// Leaves a group; leaving when not a member is not an error. A last lead may leave.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn leave(pool: &PgPool, group: &GroupRef) -> Result<(), AppError> {
    let user_id = group.access.user_id;
    let mut tx = pool.begin().await?;
    if memberships::end_own(&mut tx, group).await? {
        rsvp::withdraw_from_members_events(&mut tx, group.id, user_id).await?;
        mentoring::withdraw_in_group(&mut tx, group.id, user_id).await?;
        mentoring::close_for_departed_mentor(&mut tx, group.id, user_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A lead or admin removes a member (or declines a pending request). Not a member: 404.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn remove_member(pool: &PgPool, group: &GroupRef, target: Uuid) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    memberships::remove(&mut tx, group, target).await?;
    rsvp::withdraw_from_members_events(&mut tx, group.id, target).await?;
    mentoring::withdraw_in_group(&mut tx, group.id, target).await?;
    mentoring::close_for_departed_mentor(&mut tx, group.id, target).await?;
    tx.commit().await?;
    Ok(())
}

/// Deactivates a user: sign-in, every token and every web session stop working at once, and their memberships,
/// future RSVPs (the waitlists move) and open mentoring end in the same transaction.
#[tracing::instrument(skip_all, fields(target_id = %target_id))]
pub async fn deactivate(pool: &PgPool, actor: &Admin, target_id: Uuid) -> Result<User, AppError> {
    let mut tx = pool.begin().await?;
    accounts::lock_admins(&mut tx).await?;
    let before = accounts::find(&mut *tx, target_id)
        .await?
        .ok_or(AppError::NotFound)?;
    deactivate_in(&mut tx, Actor::Admin(actor), &before).await?;
    let after = accounts::find(&mut *tx, target_id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    if before.active {
        // Every instance refuses the person's tokens from the next request on.
        notices::settle(pool).await;
    }
    Ok(after)
}

/// Inside a transaction that holds the admins' lock: deactivates `before` (nothing when it is
/// already inactive), ending what a deactivation ends, and records who did it.
async fn deactivate_in(
    tx: &mut Transaction<'_, Postgres>,
    actor: Actor<'_>,
    before: &User,
) -> Result<(), AppError> {
    let target_id = before.id;
    if !before.active {
        return Ok(());
    }
    if before.roles.iter().any(|r| r == "admin")
        && accounts::other_active_admins(tx, target_id).await? == 0
    {
        return Err(AppError::Conflict(
            "this is the last admin; make someone else an admin first".into(),
        ));
    }
    sqlx::query!(
        "UPDATE users SET active = false, deactivated_at = now() WHERE id = $1",
        target_id
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        target_id
    )
    .execute(&mut **tx)
    .await?;
    let web_sessions_ended = crate::auth::web_session::end_all(&mut **tx, target_id).await?;
    let memberships_ended =
        memberships::end_all_for_deactivated(tx, actor.user_id(), target_id).await?;
    let rsvps_cancelled = rsvp::withdraw_all_future(tx, target_id).await?;
    let mentoring = mentoring::end_all_for_deactivated(tx, target_id).await?;
    audit::record(
        &mut **tx,
        actor.user_id(),
        Action::UserDeactivated,
        Some(&target_id.to_string()),
        actor.describe(json!({
            "memberships_ended": memberships_ended,
            "rsvps_cancelled": rsvps_cancelled,
            "mentoring_requests_withdrawn": mentoring.requests_withdrawn,
            "mentoring_offers_closed": mentoring.offers_closed,
            "web_sessions_ended": web_sessions_ended,
        })),
    )
    .await?;
    Ok(())
}

/// Inside a transaction: reactivates an inactive account. Nothing ended at its deactivation
/// comes back: joining a group is the person's own act.
async fn reactivate_in(
    tx: &mut Transaction<'_, Postgres>,
    actor: Actor<'_>,
    target_id: Uuid,
) -> Result<(), AppError> {
    let changed = sqlx::query!(
        "UPDATE users SET active = true, deactivated_at = NULL WHERE id = $1 AND NOT active",
        target_id
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed > 0 {
        audit::record(
            &mut **tx,
            actor.user_id(),
            Action::UserReactivated,
            Some(&target_id.to_string()),
            actor.describe(json!({})),
        )
        .await?;
    }
    Ok(())
}

/// The identity provider changes an account: `change` turns its current profile into the new
/// one (a replacement ignores it, a patch applies to it). `active` turning false deactivates
/// the person exactly as an admin would; turning true reactivates the account. One
/// transaction, the account's row locked throughout.
#[tracing::instrument(skip_all, fields(target_id = %target_id))]
pub async fn provision_update(
    pool: &PgPool,
    client: &ProvisioningClient,
    target_id: Uuid,
    change: impl FnOnce(Profile) -> Result<Profile, AppError>,
) -> Result<Provisioned, AppError> {
    let mut tx = pool.begin().await?;
    accounts::lock_admins(&mut tx).await?;
    let before = provisioning::lock(&mut tx, client, target_id).await?;
    let profile = change(before.profile())?;
    let checked = provisioning::check(&profile)?;
    provisioning::update_in(&mut tx, client, &before, &checked).await?;
    let actor = Actor::Provisioning(client);
    match (before.active, checked.active) {
        (true, false) => {
            let user = accounts::find(&mut *tx, target_id)
                .await?
                .ok_or(AppError::NotFound)?;
            deactivate_in(&mut tx, actor, &user).await?;
        }
        (false, true) => reactivate_in(&mut tx, actor, target_id).await?,
        _ => {}
    }
    let after = provisioning::find(&mut *tx, client, target_id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    if (before.active, before.display_name.as_str()) != (after.active, after.display_name.as_str())
    {
        notices::settle(pool).await;
    }
    Ok(after)
}

/// The identity provider deletes an account: the person is deactivated exactly as an admin
/// would, and the account no longer shows to provisioning. Nothing is erased: the history of
/// groups and the audit log keep their meaning.
#[tracing::instrument(skip_all, fields(target_id = %target_id))]
pub async fn deprovision(
    pool: &PgPool,
    client: &ProvisioningClient,
    target_id: Uuid,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    accounts::lock_admins(&mut tx).await?;
    provisioning::lock(&mut tx, client, target_id).await?;
    let user = accounts::find(&mut *tx, target_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let actor = Actor::Provisioning(client);
    deactivate_in(&mut tx, actor, &user).await?;
    provisioning::mark_deprovisioned(&mut tx, client, target_id).await?;
    audit::record(
        &mut *tx,
        None,
        Action::UserDeprovisioned,
        Some(&target_id.to_string()),
        actor.describe(json!({})),
    )
    .await?;
    tx.commit().await?;
    notices::settle(pool).await;
    Ok(())
}
