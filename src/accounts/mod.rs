//! Accounts: users, global roles (never removing the last admin), email, passwords,
//! registration and the principal.

pub mod email;
pub mod identities;
pub mod password;
pub mod principal;
pub mod provisioning;
pub mod registration;

use serde::Serialize;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Action, AuditEntry};
use crate::db::notices;
use crate::error::AppError;
use crate::paging::{Page, PageRequest};

pub use principal::{Admin, CurrentUser, GlobalRole, HeldRoles, ReportReader};
pub use provisioning::ProvisioningClient;

/// Who deactivates or reactivates an account: an admin, or the provisioning client (the HR
/// system through SCIM). Each is a proof only its own check makes, so taking an `Actor` lets
/// no one else in.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a Admin),
    Provisioning(&'a ProvisioningClient),
}

impl Actor<'_> {
    /// The person acting, for the audit log's `actor_id`; none for a provisioning client.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::Admin(admin) => Some(admin.id()),
            Actor::Provisioning(_) => None,
        }
    }

    /// Adds who acted to an audit record's details (which SCIM token, for provisioning).
    pub fn describe(&self, mut details: serde_json::Value) -> serde_json::Value {
        if let (Actor::Provisioning(client), Some(map)) = (self, details.as_object_mut()) {
            if let Some(extra) = client.audit_details().as_object() {
                for (key, value) in extra {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
        details
    }
}

/// A user as the API shows it to themselves and to admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub department: Option<String>,
    pub location: Option<String>,
    /// `employee`, plus `hr` and `admin` where granted.
    pub roles: Vec<String>,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    department: Option<String>,
    location: Option<String>,
    active: bool,
    created_at: OffsetDateTime,
    is_hr: bool,
    is_admin: bool,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            department: r.department,
            location: r.location,
            roles: HeldRoles {
                hr: r.is_hr,
                admin: r.is_admin,
            }
            .names()
            .into_iter()
            .map(String::from)
            .collect(),
            active: r.active,
            created_at: r.created_at,
        }
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<User>, AppError> {
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!", email AS "email!", display_name AS "display_name!", department, location,
                  active AS "active!", created_at AS "created_at!", is_hr AS "is_hr!", is_admin AS "is_admin!"
           FROM user_profiles WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(User::from))
}

/// Users ordered by email; `q` matches part of the email or the display name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    pool: &PgPool,
    _admin: &Admin,
    q: Option<&str>,
    page: &PageRequest,
) -> Result<Page<User>, AppError> {
    let limit = page.limit();
    let after: Option<String> = page.cursor()?;
    if q.is_some_and(|q| q.chars().any(char::is_control)) {
        return Err(AppError::invalid(
            "q",
            "must not contain control characters",
        ));
    }
    let pattern = q
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| format!("%{}%", escape_like(q)));
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!", email AS "email!", display_name AS "display_name!", department, location,
                  active AS "active!", created_at AS "created_at!", is_hr AS "is_hr!", is_admin AS "is_admin!"
           FROM user_profiles
           WHERE ($1::text IS NULL OR email ILIKE $1 OR display_name ILIKE $1)
             AND ($2::text IS NULL OR email > $2)
           ORDER BY email
           LIMIT $3"#,
        pattern,
        after,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let users: Vec<User> = rows.into_iter().map(User::from).collect();
    Ok(Page::from_rows(users, limit, |u| u.email.clone()))
}

/// Escapes `%`, `_` and `\` so a search term matches literally inside a LIKE pattern.
pub fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Parses the roles an admin asks for; `employee` is implicit and accepted.
pub fn parse_roles(raw: &[String]) -> Result<Vec<GlobalRole>, AppError> {
    let mut roles = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let role = match name.as_str() {
            "employee" => continue,
            "hr" => GlobalRole::Hr,
            "admin" => GlobalRole::Admin,
            _ => {
                return Err(AppError::invalid(
                    format!("roles[{i}]"),
                    "must be one of employee, hr, admin",
                ));
            }
        };
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// Serialises every change that could leave the organisation without an admin: two admins
/// demoting each other at the same moment queue here, and the second sees the first's change.
pub(crate) async fn lock_admins(tx: &mut Transaction<'_, Postgres>) -> Result<(), AppError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('belong.admins'))")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn other_active_admins(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM user_roles r JOIN users u ON u.id = r.user_id
           WHERE r.role = 'admin' AND u.active AND u.id <> $1"#,
        user_id
    )
    .fetch_one(&mut **tx)
    .await?)
}

#[tracing::instrument(skip_all, fields(target_id = %target_id))]
pub async fn set_roles(
    pool: &PgPool,
    actor: &Admin,
    target_id: Uuid,
    roles: &[GlobalRole],
) -> Result<User, AppError> {
    let mut tx = pool.begin().await?;
    lock_admins(&mut tx).await?;
    let before = find(&mut *tx, target_id).await?.ok_or(AppError::NotFound)?;
    let keeps_admin = roles.contains(&GlobalRole::Admin) && before.active;
    if !keeps_admin && other_active_admins(&mut tx, target_id).await? == 0 {
        return Err(AppError::Conflict(
            "this would remove the last admin; make someone else an admin first".into(),
        ));
    }
    let wanted: Vec<GlobalRole> = roles.to_vec();
    sqlx::query!(
        "DELETE FROM user_roles WHERE user_id = $1 AND NOT (role = ANY($2::global_role[]))",
        target_id,
        &wanted as &[GlobalRole]
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO user_roles (user_id, role, granted_by)
         SELECT $1, r, $3 FROM unnest($2::global_role[]) AS r
         ON CONFLICT DO NOTHING",
        target_id,
        &wanted as &[GlobalRole],
        actor.id()
    )
    .execute(&mut *tx)
    .await?;
    let after = find(&mut *tx, target_id).await?.ok_or(AppError::NotFound)?;
    if after.roles != before.roles {
        audit::record(
            &mut *tx,
            Some(actor.id()),
            Action::RolesChanged,
            Some(&target_id.to_string()),
            json!({ "before": before.roles, "after": after.roles }),
        )
        .await?;
    }
    tx.commit().await?;
    if after.roles != before.roles {
        // Every instance serves the new roles from the next request on.
        notices::settle(pool).await;
    }
    Ok(after)
}

/// `belong admin create`: creates the account, or resets its password and reactivates it,
/// and grants admin.
pub async fn bootstrap_admin(
    pool: &PgPool,
    hasher: &password::Hasher,
    email: &str,
    display_name: &str,
    password: &password::NewPassword,
) -> anyhow::Result<Uuid> {
    let email = email::Email::parse(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let mut errors = Vec::new();
    let display_name = crate::text::check(
        "display_name",
        Some(display_name),
        crate::text::LINE,
        &mut errors,
    )
    .ok_or_else(|| anyhow::anyhow!("--display-name must be 1 to 100 characters"))?;
    let hash = hasher.hash(password).await?;
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO users (email, password_hash, display_name) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash,
             display_name = EXCLUDED.display_name, active = true, deactivated_at = NULL
         RETURNING id",
        email.as_str(),
        hash,
        display_name
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin') ON CONFLICT DO NOTHING",
        id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        None,
        Action::AdminBootstrapped,
        Some(&id.to_string()),
        json!({ "via": "command line" }),
    )
    .await?;
    tx.commit().await?;
    notices::settle(pool).await;
    Ok(id)
}

/// The audit log, newest first: admins only.
pub async fn audit_log(
    pool: &PgPool,
    _admin: &Admin,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, AppError> {
    audit::list(pool, page).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn roles_parse_and_unknown_ones_are_named() {
        let roles = parse_roles(&["employee".into(), "hr".into(), "hr".into()]).unwrap();
        assert_eq!(roles, vec![GlobalRole::Hr]);
        match parse_roles(&["admin".into(), "lead".into()]) {
            Err(AppError::Validation(e)) => assert_eq!(e[0].field, "roles[1]"),
            other => panic!("{other:?}"),
        }
    }
}
