//! Failed sign-ins, counted per email in PostgreSQL so that every instance agrees. Past the
//! threshold within the window, sign-ins for that email are answered 429 until the window ends.

use sqlx::PgPool;

use crate::auth::email::Email;
use crate::config::AuthSettings;
use crate::error::AppError;

/// 429 with the seconds left when the email has used up its attempts.
#[tracing::instrument(skip_all)]
pub async fn check(pool: &PgPool, email: &Email, settings: &AuthSettings) -> Result<(), AppError> {
    let window = window_secs(settings);
    let blocked = sqlx::query_scalar!(
        r#"SELECT ceil(extract(epoch FROM window_started_at + make_interval(secs => $2) - now()))::bigint AS "retry_after!"
           FROM login_failures
           WHERE email = $1
             AND failures >= $3
             AND window_started_at + make_interval(secs => $2) > now()"#,
        email.as_str(),
        window,
        i32::try_from(settings.max_failed_logins).unwrap_or(i32::MAX),
    )
    .fetch_optional(pool)
    .await?;
    match blocked {
        Some(secs) => Err(AppError::TooManyRequests {
            retry_after_secs: u64::try_from(secs).unwrap_or(1).max(1),
        }),
        None => Ok(()),
    }
}

/// Counts a failure; answers whether this one reached the threshold (the start of a burst).
#[tracing::instrument(skip_all)]
pub async fn record_failure(
    pool: &PgPool,
    email: &Email,
    settings: &AuthSettings,
) -> Result<bool, AppError> {
    let failures = sqlx::query_scalar!(
        r#"INSERT INTO login_failures AS f (email, failures, window_started_at)
           VALUES ($1, 1, now())
           ON CONFLICT (email) DO UPDATE SET
               failures = CASE WHEN f.window_started_at + make_interval(secs => $2) <= now()
                               THEN 1 ELSE f.failures + 1 END,
               window_started_at = CASE WHEN f.window_started_at + make_interval(secs => $2) <= now()
                                        THEN now() ELSE f.window_started_at END
           RETURNING failures"#,
        email.as_str(),
        window_secs(settings),
    )
    .fetch_one(pool)
    .await?;
    Ok(u32::try_from(failures).unwrap_or(0) == settings.max_failed_logins)
}

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

fn window_secs(settings: &AuthSettings) -> f64 {
    settings.failed_login_window_secs as f64
}
