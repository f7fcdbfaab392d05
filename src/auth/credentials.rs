//! The credentials check: an email and a password in, a user id out.

use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::email::Email;
use crate::accounts::password::Hasher;
use crate::audit::{self, Action};
use crate::auth::throttle;
use crate::config::AuthSettings;
use crate::error::AppError;

/// Checks an email and password and answers whose they are. A wrong password, an unknown
/// email and a deactivated account all answer the same `BadCredentials` after the same argon2
/// work (so does an account made by provisioning, which has no password: those people sign in
/// through single sign-on); too many failures for one email answer 429. A front door then starts its own kind
/// of session (bearer tokens, a web session) for the id.
#[tracing::instrument(skip_all)]
pub async fn check(
    pool: &PgPool,
    hasher: &Hasher,
    settings: &AuthSettings,
    email: &str,
    password: &SecretString,
) -> Result<Uuid, AppError> {
    let email = Email::parse(email).map_err(|m| AppError::invalid("email", m))?;
    let attempt = throttle::reserve(pool, &email, settings).await?;
    let account = sqlx::query!(
        "SELECT id, password_hash, active FROM users WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?;
    let matches = hasher
        .verify(
            password,
            account.as_ref().and_then(|a| a.password_hash.as_deref()),
        )
        .await?;
    match account {
        Some(account) if matches && account.active => {
            throttle::clear(pool, &email).await?;
            Ok(account.id)
        }
        account => {
            if attempt == settings.max_failed_logins {
                let target = account.map(|a| a.id.to_string());
                audit::record(
                    pool,
                    None,
                    Action::LoginThrottled,
                    target.as_deref(),
                    json!({
                        "failures": settings.max_failed_logins,
                        "window_secs": settings.failed_login_window_secs,
                        "known_account": target.is_some(),
                    }),
                )
                .await?;
            }
            Err(AppError::BadCredentials)
        }
    }
}
