//! Sign-in attempts, counted per email and per client address in PostgreSQL so that every
//! instance agrees. An attempt is counted before its password is checked (and before any
//! hashing), in one statement, so that a burst of parallel attempts cannot all slip past the
//! limit; a successful sign-in clears the email's count and gives the client its attempt back.
//! Past a limit within the window, an attempt is answered 429 until the window ends, and is not
//! counted: it checked no password, so it neither deepens the lockout nor keeps it going once the
//! attempts that were let through are done (people behind one NAT signing in at once get 429s
//! for the overflow, and their address is free again as soon as those who got through are in).
//! An attempt refused because no password hashing slot was free in time (503) checked no
//! password either: the email and the address are given it back.
//! Registrations are counted per client address the same way, and so are single sign-on starts,
//! each of which writes an attempt that waits for the provider's answer: counted over the
//! attempts' lifetime ([`oidc::ATTEMPT_SECS`]), each given back when its callback comes, so that
//! the count is of the starts still pending. Rows whose window has ended are pruned as attempts
//! arrive.

use std::net::IpAddr;

use sqlx::PgPool;

use crate::accounts::email::Email;
use crate::auth::oidc;
use crate::config::AuthSettings;
use crate::error::AppError;

/// Counts one attempt for `email`: its number in the window, or 429 (not counted) past the
/// limit.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reserve(
    pool: &PgPool,
    email: &Email,
    settings: &AuthSettings,
) -> Result<u32, AppError> {
    // The update's condition keeps a refused attempt from counting: then no row comes back.
    let counted = sqlx::query_scalar!(
        r#"INSERT INTO login_failures AS f (email, failures, window_started_at)
           VALUES ($1, 1, now())
           ON CONFLICT (email) DO UPDATE SET
               failures = CASE WHEN f.window_started_at + make_interval(secs => $2) <= now()
                               THEN 1 ELSE f.failures + 1 END,
               window_started_at = CASE WHEN f.window_started_at + make_interval(secs => $2) <= now()
                                        THEN now() ELSE f.window_started_at END
           WHERE f.window_started_at + make_interval(secs => $2) <= now() OR f.failures < $3
           RETURNING failures"#,
        email.as_str(),
        window_secs(settings),
        limit(settings.max_failed_logins),
    )
    .fetch_optional(pool)
    .await?;
    match counted {
        Some(attempt) => Ok(u32::try_from(attempt).unwrap_or(u32::MAX)),
        None => {
            let retry = sqlx::query_scalar!(
                r#"SELECT ceil(extract(epoch FROM window_started_at + make_interval(secs => $2) - now()))::bigint
                          AS "retry_after!"
                   FROM login_failures WHERE email = $1"#,
                email.as_str(),
                window_secs(settings),
            )
            .fetch_optional(pool)
            .await?;
            Err(too_many(retry))
        }
    }
}

/// A successful sign-in: the count starts afresh.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn clear(pool: &PgPool, email: &Email) -> Result<(), AppError> {
    sqlx::query!(
        "DELETE FROM login_failures WHERE email = $1",
        email.as_str()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives `email` back an attempt that was counted but checked no password: a sign-in refused
/// because no hashing slot was free in time.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn refund(pool: &PgPool, email: &Email) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE login_failures SET failures = greatest(failures - 1, 0) WHERE email = $1",
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
    /// A single sign-on start: an attempt written to wait for the provider.
    SingleSignOn,
}

impl ClientAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::SingleSignOn => "oidc",
        }
    }

    fn limit(self, settings: &AuthSettings) -> u32 {
        match self {
            Self::Login => settings.max_failed_logins_per_client,
            Self::Register => settings.max_registrations_per_client,
            Self::SingleSignOn => settings.max_pending_sso_logins_per_client,
        }
    }

    /// How long a count lasts: the failures' window, or a single sign-on attempt's lifetime
    /// (once its attempts have expired, a start counts for nothing).
    fn window_secs(self, settings: &AuthSettings) -> f64 {
        match self {
            Self::Login | Self::Register => window_secs(settings),
            Self::SingleSignOn => oidc::ATTEMPT_SECS as f64,
        }
    }
}

/// Counts one attempt of `action` from `client` (pruning the counts whose window has ended
/// first): 429, not counted, past the limit within the window.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reserve_client(
    pool: &PgPool,
    client: IpAddr,
    action: ClientAction,
    settings: &AuthSettings,
) -> Result<(), AppError> {
    prune(pool, settings).await?;
    // As for emails: a refused attempt updates nothing, and no row comes back.
    let counted = sqlx::query_scalar!(
        r#"INSERT INTO client_attempts AS c (client, action, attempts, window_started_at)
           VALUES ($1, $2, 1, now())
           ON CONFLICT (client, action) DO UPDATE SET
               attempts = CASE WHEN c.window_started_at + make_interval(secs => $3) <= now()
                               THEN 1 ELSE c.attempts + 1 END,
               window_started_at = CASE WHEN c.window_started_at + make_interval(secs => $3) <= now()
                                        THEN now() ELSE c.window_started_at END
           WHERE c.window_started_at + make_interval(secs => $3) <= now() OR c.attempts < $4
           RETURNING attempts"#,
        client.to_string(),
        action.as_str(),
        action.window_secs(settings),
        limit(action.limit(settings)),
    )
    .fetch_optional(pool)
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    let retry = sqlx::query_scalar!(
        r#"SELECT ceil(extract(epoch FROM window_started_at + make_interval(secs => $3) - now()))::bigint
                  AS "retry_after!"
           FROM client_attempts WHERE client = $1 AND action = $2"#,
        client.to_string(),
        action.as_str(),
        action.window_secs(settings),
    )
    .fetch_optional(pool)
    .await?;
    Err(too_many(retry))
}

/// Gives `client` back an attempt of `action` that was counted but checked nothing: a
/// sign-in that succeeded, or was refused for its email; a registration whose form was invalid;
/// either when no hashing slot was free in time; a single sign-on start whose callback came.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn refund_client(
    pool: &PgPool,
    client: IpAddr,
    action: ClientAction,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE client_attempts SET attempts = greatest(attempts - 1, 0)
         WHERE client = $1 AND action = $2",
        client.to_string(),
        action.as_str()
    )
    .execute(pool)
    .await?;
    Ok(())
}

fn window_secs(settings: &AuthSettings) -> f64 {
    settings.failed_login_window_secs as f64
}

/// A limit as PostgreSQL's integer (the configured ones are far below its maximum).
fn limit(limit: u32) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

/// The 429 for a refused attempt: retry when the window ends (its row may have been pruned
/// meanwhile: then at once).
fn too_many(retry_after: Option<i64>) -> AppError {
    AppError::TooManyRequests {
        retry_after_secs: retry_after
            .and_then(|secs| u64::try_from(secs).ok())
            .unwrap_or(1)
            .max(1),
    }
}

/// Deletes the counts whose window has ended (they no longer limit anything).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn prune(pool: &PgPool, settings: &AuthSettings) -> Result<(), AppError> {
    let window = window_secs(settings);
    sqlx::query!(
        "DELETE FROM login_failures WHERE window_started_at < now() - make_interval(secs => $1)",
        window
    )
    .execute(pool)
    .await?;
    // After the longest window of any action (a row kept past its own is reset when used).
    let longest = window.max(ClientAction::SingleSignOn.window_secs(settings));
    sqlx::query!(
        "DELETE FROM client_attempts WHERE window_started_at < now() - make_interval(secs => $1)",
        longest
    )
    .execute(pool)
    .await?;
    Ok(())
}
