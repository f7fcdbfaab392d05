//! Sign-in attempts, counted per email in PostgreSQL so that every instance agrees. An attempt
//! is counted before its password is checked, in one statement, so that a burst of parallel
//! attempts cannot all slip past the limit; a successful sign-in clears the count. Past the
//! limit within the window, sign-ins for that email are answered 429 until the window ends.

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
