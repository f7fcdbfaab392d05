//! The credentials check: an email and a password in, a user id out; and registration, which
//! is throttled per client address before any of its work.

use std::net::IpAddr;

use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::User;
use crate::accounts::email::Email;
use crate::accounts::password::Hasher;
use crate::accounts::registration::{self, Registration};
use crate::audit::{self, Action};
use crate::auth::throttle::{self, ClientAction};
use crate::config::{AuthSettings, Settings};
use crate::error::AppError;

/// Checks an email and password and answers whose they are. A wrong password, an unknown
/// email and a deactivated account all answer the same `BadCredentials` after the same argon2
/// work (so does an account made by provisioning, which has no password: those people sign in
/// through single sign-on); too many failures for one email, or from one client address whatever
/// the emails, answer 429 before any hashing. A front door then starts its own kind of session
/// (bearer tokens, a web session) for the id. With `auth.password_login` off (single sign-on
/// only), every attempt answers `NotFound`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn check(
    pool: &PgPool,
    hasher: &Hasher,
    settings: &AuthSettings,
    client: IpAddr,
    email: &str,
    password: &SecretString,
) -> Result<Uuid, AppError> {
    // With password sign-in turned off there is no such way in at all.
    if !settings.password_login {
        return Err(AppError::NotFound);
    }
    let email = Email::parse(email).map_err(|m| AppError::invalid("email", m))?;
    throttle::reserve_client(pool, client, ClientAction::Login, settings).await?;
    let attempt = match throttle::reserve(pool, &email, settings).await {
        Ok(attempt) => attempt,
        Err(refused) => {
            // Refused for its email (or failed), it checked no password: not the client's to count.
            throttle::refund_client(pool, client, ClientAction::Login).await?;
            return Err(refused);
        }
    };
    let account = sqlx::query!(
        "SELECT id, password_hash, active FROM users WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?;
    let verified = hasher
        .verify(
            password,
            account.as_ref().and_then(|a| a.password_hash.as_deref()),
        )
        .await;
    let matches = match verified {
        Ok(matches) => matches,
        Err(busy @ AppError::Busy { .. }) => {
            // Refused before any hashing, it checked no password: given back to both.
            throttle::refund(pool, &email).await?;
            throttle::refund_client(pool, client, ClientAction::Login).await?;
            return Err(busy);
        }
        Err(other) => return Err(other),
    };
    match account {
        Some(account) if matches && account.active => {
            throttle::clear(pool, &email).await?;
            throttle::refund_client(pool, client, ClientAction::Login).await?;
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

/// Registration from `client`: counted per client address first (429 past the limit), then
/// the account rules of [`registration::register`]; a form they refuse as invalid is not
/// counted, nor is one refused because no hashing slot was free in time.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn register(
    pool: &PgPool,
    hasher: &Hasher,
    settings: &Settings,
    client: IpAddr,
    form: Registration,
) -> Result<User, AppError> {
    if !settings.registration_open() {
        return Err(AppError::Forbidden);
    }
    throttle::reserve_client(pool, client, ClientAction::Register, &settings.auth).await?;
    let registered = registration::register(pool, hasher, settings, form).await;
    if let Err(AppError::Validation(_) | AppError::Busy { .. }) = registered {
        // A form refused before any hashing or lookup tells nothing: it is given back. (A
        // taken email is counted: the limit also slows probing for accounts.)
        throttle::refund_client(pool, client, ClientAction::Register).await?;
    }
    registered
}
