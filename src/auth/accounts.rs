//! Accounts and sessions: register, sign in, refresh with rotation and reuse detection,
//! sign out. The JSON routes and the web pages both call these.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin::audit;
use crate::admin::users::{self, User};
use crate::auth::email::Email;
use crate::auth::password::{Hasher, NewPassword};
use crate::auth::throttle;
use crate::auth::token::{AccessTokens, new_refresh_token, refresh_digest};
use crate::config::Settings;
use crate::error::{AppError, FieldError, ResultExt};
use crate::text;

pub struct Registration {
    pub email: String,
    pub password: SecretString,
    pub display_name: String,
    pub department: Option<String>,
    pub location: Option<String>,
}

/// Creates an employee account. Every field is checked before anything is written.
#[tracing::instrument(skip_all)]
pub async fn register(
    pool: &PgPool,
    hasher: &Hasher,
    settings: &Settings,
    form: Registration,
) -> Result<User, AppError> {
    if !settings.registration_open() {
        return Err(AppError::Forbidden);
    }
    let mut errors = Vec::new();
    let email = match Email::parse(&form.email) {
        Ok(email) if !email.domain_allowed(&settings.auth.allowed_email_domains) => {
            errors.push(FieldError::new(
                "email",
                "this email domain may not register here",
            ));
            None
        }
        Ok(email) => Some(email),
        Err(message) => {
            errors.push(FieldError::new("email", message));
            None
        }
    };
    let password = NewPassword::parse(form.password)
        .map_err(|message| errors.push(FieldError::new("password", message)))
        .ok();
    let display_name = text::check(
        "display_name",
        Some(&form.display_name),
        text::LINE,
        &mut errors,
    );
    let department = text::check(
        "department",
        form.department.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let location = text::check(
        "location",
        form.location.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let (Some(email), Some(password), Some(display_name), true) =
        (email, password, display_name, errors.is_empty())
    else {
        return Err(AppError::Validation(errors));
    };
    let hash = hasher.hash(&password).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO users (email, password_hash, display_name, department, location)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        email.as_str(),
        hash,
        display_name,
        department,
        location
    )
    .fetch_one(pool)
    .await
    .on_constraint("users_email_key", || {
        AppError::Conflict("an account with this email already exists".into())
    })?;
    users::find(pool, id).await?.ok_or(AppError::NotFound)
}

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
        access_token: tokens.issue(user_id)?,
        token_type: "Bearer",
        expires_in: tokens.ttl_secs(),
        refresh_token: refresh.expose_secret().to_string(),
    })
}

/// Signs in. A wrong password, an unknown email and a deactivated account all answer the same
/// 401 after the same argon2 work; too many failures for one email answer 429.
#[tracing::instrument(skip_all)]
pub async fn login(
    pool: &PgPool,
    hasher: &Hasher,
    tokens: &AccessTokens,
    settings: &Settings,
    email: &str,
    password: &SecretString,
) -> Result<TokenPair, AppError> {
    let email = Email::parse(email).map_err(|m| AppError::invalid("email", m))?;
    let attempt = throttle::reserve(pool, &email, &settings.auth).await?;
    let account = sqlx::query!(
        "SELECT id, password_hash, active FROM users WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?;
    let matches = hasher
        .verify(password, account.as_ref().map(|a| a.password_hash.as_str()))
        .await?;
    match account {
        Some(account) if matches && account.active => {
            throttle::clear(pool, &email).await?;
            issue_pair(pool, tokens, settings, account.id, Uuid::new_v4()).await
        }
        account => {
            if attempt == settings.auth.max_failed_logins {
                let target = account.map(|a| a.id.to_string());
                audit::record(
                    pool,
                    None,
                    "auth.login_throttled",
                    target.as_deref(),
                    json!({
                        "failures": settings.auth.max_failed_logins,
                        "window_secs": settings.auth.failed_login_window_secs,
                        "known_account": target.is_some(),
                    }),
                )
                .await?;
            }
            Err(AppError::Unauthorized)
        }
    }
}

/// Spends a refresh token and issues the next pair of its family. A token presented twice
/// means it was stolen or replayed: the whole family is revoked.
#[tracing::instrument(skip_all)]
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
    .ok_or(AppError::Unauthorized)?;
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
        Some(_) => Err(AppError::Unauthorized),
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
                    "auth.refresh_reused",
                    Some(&first.user_id.to_string()),
                    json!({ "revoked_tokens": reused.len() }),
                )
                .await?;
            }
            tx.commit().await?;
            Err(AppError::Unauthorized)
        }
    }
}

/// Ends the session the refresh token belongs to (its whole family).
#[tracing::instrument(skip_all)]
pub async fn logout(pool: &PgPool, refresh_token: &SecretString) -> Result<(), AppError> {
    let digest = refresh_digest(refresh_token.expose_secret());
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
           AND revoked_at IS NULL",
        digest
    )
    .execute(pool)
    .await?;
    Ok(())
}
