//! Sign-in: passwords, tokens, throttling, the `CurrentUser` extractor and global roles.

pub mod accounts;
pub mod email;
pub mod password;
pub mod routes;
pub mod throttle;
pub mod token;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::startup::AppState;

/// A global role, granted by an admin. Every active user is also an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "global_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum GlobalRole {
    Hr,
    Admin,
}

/// The roles a user shows to clients: `employee` first, then the global roles.
pub fn role_names(is_hr: bool, is_admin: bool) -> Vec<&'static str> {
    let mut roles = vec!["employee"];
    if is_hr {
        roles.push("hr");
    }
    if is_admin {
        roles.push("admin");
    }
    roles
}

/// The signed-in, active user behind a request's bearer token, with their roles read from
/// PostgreSQL on every request, so a deactivation or a revoked role takes effect at once.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub display_name: String,
    pub is_hr: bool,
    pub is_admin: bool,
}

impl CurrentUser {
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub fn require_hr_or_admin(&self) -> Result<(), AppError> {
        if self.is_hr || self.is_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(AppError::Unauthorized)?;
        let user_id = state.tokens.verify(token).ok_or(AppError::Unauthorized)?;
        let user = load_active(&state.pool, user_id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        Ok(user)
    }
}

/// Inside a write transaction: takes a share lock on the user's row and checks they are still
/// active. A concurrent deactivation (which updates that row) then either waits for this
/// transaction, and ends what it wrote, or has already committed, and this answers 401.
pub async fn lock_active(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: Uuid,
) -> Result<(), AppError> {
    sqlx::query_scalar!(
        "SELECT id FROM users WHERE id = $1 AND active FOR SHARE",
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|_| ())
    .ok_or(AppError::Unauthorized)
}

#[tracing::instrument(skip_all)]
pub async fn load_active(
    pool: &sqlx::PgPool,
    user_id: Uuid,
) -> Result<Option<CurrentUser>, AppError> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.display_name,
                  EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'hr') AS "is_hr!",
                  EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'admin') AS "is_admin!"
           FROM users u
           WHERE u.id = $1 AND u.active"#,
        user_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| CurrentUser {
        id: r.id,
        display_name: r.display_name,
        is_hr: r.is_hr,
        is_admin: r.is_admin,
    }))
}
