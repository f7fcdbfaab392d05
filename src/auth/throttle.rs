//! Sign-in attempts, counted per email and per client address in PostgreSQL so that every
//! instance agrees. An attempt is counted before its password is checked (and before any
//! hashing), in one statement, so that a burst of parallel attempts cannot all slip past the
//! limit; a successful sign-in clears the email's count and gives the client its attempt back.
//! Past a limit within the window, the attempt is answered 429 until the window ends.
//! Registrations are counted per client address the same way. Rows whose window has ended are
//! pruned as attempts arrive.

use std::net::IpAddr;

use sqlx::PgPool;

use crate::accounts::email::Email;
use crate::config::AuthSettings;
use crate::error::AppError;

/// Counts one attempt. Answers 429 past the limit, else the attempt's number in the window.
#[tracing::instrument(skip_all)]
pub async fn reserve(
    pool: &PgPool,
    email: &Email,
    settings: &AuthSettings,
) -> Result<u32, AppError> {
    prune(pool, settings).await?;
    let row = sqlx::query!(
        r#"INSERT INTO login_failures AS f (email, failures, window_started_at)
           VALUES ($1, 1, now())
           ON CONFLICT (email) DO UPDATE SET
               failures = CASE WHEN f.window_started_at + make_interval(secs => $2) <= now()
                               THEN 1 ELSE f.failures + 1 END,
               window_started_at = CASE WHEN f.window_started_at + make_interval(secs => $2) <= now()
                                        THEN now() ELSE f.window_started_at END
           RETURNING failures,
                     ceil(extract(epoch FROM window_started_at + make_interval(secs => $2) - now()))::bigint
                         AS "retry_after!""#,
        email.as_str(),
        settings.failed_login_window_secs as f64,
    )
    .fetch_one(pool)
    .await?;
    let attempt = u32::try_from(row.failures).unwrap_or(u32::MAX);
    if attempt > settings.max_failed_logins {
        return Err(AppError::TooManyRequests {
            retry_after_secs: u64::try_from(row.retry_after).unwrap_or(1).max(1),
        });
    }
    Ok(attempt)
}

/// A successful sign-in: the count starts afresh.
#[tracing::instrument(skip_all)]
pub async fn clear(pool: &PgPool, email: &Email) -> Result<(), AppError> {
    sqlx::query!(
        "DELETE FROM login_failures WHERE email = $1",
        email.as_str()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// What a client address is counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAction {
    Login,
    Register,
}

impl ClientAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
        }
    }

    fn limit(self, settings: &AuthSettings) -> u32 {
        match self {
            Self::Login => settings.max_failed_logins_per_client,
            Self::Register => settings.max_registrations_per_client,
        }
    }
}

/// Counts one attempt of `action` from `client`: 429 past the limit within the window.
#[tracing::instrument(skip_all)]
pub async fn reserve_client(
    pool: &PgPool,
    client: IpAddr,
    action: ClientAction,
    settings: &AuthSettings,
) -> Result<(), AppError> {
    let row = sqlx::query!(
        r#"INSERT INTO client_attempts AS c (client, action, attempts, window_started_at)
           VALUES ($1, $2, 1, now())
           ON CONFLICT (client, action) DO UPDATE SET
               attempts = CASE WHEN c.window_started_at + make_interval(secs => $3) <= now()
                               THEN 1 ELSE c.attempts + 1 END,
               window_started_at = CASE WHEN c.window_started_at + make_interval(secs => $3) <= now()
                                        THEN now() ELSE c.window_started_at END
           RETURNING attempts,
                     ceil(extract(epoch FROM window_started_at + make_interval(secs => $3) - now()))::bigint
                         AS "retry_after!""#,
        client.to_string(),
        action.as_str(),
        settings.failed_login_window_secs as f64,
    )
    .fetch_one(pool)
    .await?;
    if u32::try_from(row.attempts).unwrap_or(u32::MAX) > action.limit(settings) {
        return Err(AppError::TooManyRequests {
            retry_after_secs: u64::try_from(row.retry_after).unwrap_or(1).max(1),
        });
    }
    Ok(())
}

/// A successful sign-in gives the client back the attempt it was counted.
#[tracing::instrument(skip_all)]
pub async fn refund_client(pool: &PgPool, client: IpAddr) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE client_attempts SET attempts = greatest(attempts - 1, 0)
         WHERE client = $1 AND action = 'login'",
        client.to_string()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes the counts whose window has ended (they no longer limit anything).
#[tracing::instrument(skip_all)]
pub async fn prune(pool: &PgPool, settings: &AuthSettings) -> Result<(), AppError> {
    let window = settings.failed_login_window_secs as f64;
    sqlx::query!(
        "DELETE FROM login_failures WHERE window_started_at < now() - make_interval(secs => $1)",
        window
    )
    .execute(pool)
    .await?;
    sqlx::query!(
        "DELETE FROM client_attempts WHERE window_started_at < now() - make_interval(secs => $1)",
        window
    )
    .execute(pool)
    .await?;
    Ok(())
}
