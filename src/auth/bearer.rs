//! Bearer sessions of the JSON API: a token pair for a checked sign-in, refresh with rotation
//! and reuse detection, sign out. A session is a refresh-token family; its access tokens carry
//! the family's id (`sid`) and are refused, on every instance, once the family is revoked.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::auth::token::{AccessTokens, new_refresh_token, refresh_digest};
use crate::config::Settings;
use crate::db::notices;
use crate::error::AppError;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
}

async fn issue_pair<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    tokens: &AccessTokens,
    settings: &Settings,
    user_id: Uuid,
    family_id: Uuid,
) -> Result<TokenPair, AppError> {
    let (refresh, digest) = new_refresh_token();
    let ttl = settings.auth.refresh_token_ttl_secs as f64;
    sqlx::query!(
        "INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        family_id,
        user_id,
        digest,
        ttl
    )
    .execute(executor)
    .await?;
    Ok(TokenPair {
        access_token: tokens.issue(user_id, family_id)?,
        token_type: "Bearer",
        expires_in: tokens.ttl_secs(),
        refresh_token: refresh.expose_secret().to_string(),
    })
}

/// Starts a bearer session for a user whose credentials were checked: a new token family.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn start(
    pool: &PgPool,
    tokens: &AccessTokens,
    settings: &Settings,
    user_id: Uuid,
) -> Result<TokenPair, AppError> {
    issue_pair(pool, tokens, settings, user_id, Uuid::new_v4()).await
}

/// Spends a refresh token and issues the next pair of its family. A token presented twice
/// means it was stolen or replayed: the whole family is revoked.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn refresh(
    pool: &PgPool,
    tokens: &AccessTokens,
    settings: &Settings,
    refresh_token: &SecretString,
) -> Result<TokenPair, AppError> {
    let digest = refresh_digest(refresh_token.expose_secret());
    let mut tx = pool.begin().await?;
    let family = sqlx::query_scalar!(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
        digest
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::BadRefreshToken)?;
    // Everything that happens to one family queues here: a rotation and a reuse revocation
    // never interleave, so the revocation always sees (and revokes) the newest token.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))",
        family
    )
    .execute(&mut *tx)
    .await?;
    let spent = sqlx::query!(
        r#"UPDATE refresh_tokens t SET used_at = now()
           FROM users u
           WHERE t.token_hash = $1 AND u.id = t.user_id
             AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > now()
           RETURNING t.family_id, t.user_id, u.active"#,
        digest
    )
    .fetch_optional(&mut *tx)
    .await?;
    match spent {
        Some(row) if row.active => {
            let pair = issue_pair(&mut *tx, tokens, settings, row.user_id, row.family_id).await?;
            tx.commit().await?;
            Ok(pair)
        }
        Some(_) => Err(AppError::BadRefreshToken),
        None => {
            let reused = sqlx::query!(
                r#"UPDATE refresh_tokens SET revoked_at = now()
                   WHERE family_id = $1 AND revoked_at IS NULL
                     AND EXISTS (SELECT 1 FROM refresh_tokens s WHERE s.token_hash = $2 AND s.used_at IS NOT NULL)
                   RETURNING user_id"#,
                family,
                digest
            )
            .fetch_all(&mut *tx)
            .await?;
            if let Some(first) = reused.first() {
                audit::record(
                    &mut *tx,
                    None,
                    Action::RefreshReused,
                    Some(&first.user_id.to_string()),
                    json!({ "revoked_tokens": reused.len() }),
                )
                .await?;
            }
            tx.commit().await?;
            if !reused.is_empty() {
                // The family's access tokens stop working everywhere before this answer.
                notices::settle(pool).await;
            }
            Err(AppError::BadRefreshToken)
        }
    }
}

/// Ends the session the refresh token belongs to (its whole family): its refresh tokens and
/// its access tokens stop working on every instance before this returns.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn logout(pool: &PgPool, refresh_token: &SecretString) -> Result<(), AppError> {
    let digest = refresh_digest(refresh_token.expose_secret());
    let revoked = sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
           AND revoked_at IS NULL",
        digest
    )
    .execute(pool)
    .await?
    .rows_affected();
    if revoked > 0 {
        notices::settle(pool).await;
    }
    Ok(())
}
