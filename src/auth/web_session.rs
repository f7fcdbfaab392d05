//! Sessions of the web pages: a random token in a cookie, its SHA-256 in `web_sessions`, a
//! per-session CSRF token, idle and absolute expiry, and one one-time message for the page
//! after a redirect. The pages' front door sets and reads the cookie; this module only knows
//! tokens and rows.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::config::AuthSettings;
use crate::error::AppError;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A session as a page sees it.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub csrf_token: String,
    /// The one-time message left by the previous request, now taken.
    pub flash: Option<String>,
}

impl WebSession {
    /// Whether a submitted form's token is this session's, compared in constant time.
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        constant_time_eq(self.csrf_token.as_bytes(), submitted.as_bytes())
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Starts a new session for a user whose credentials were checked, with an optional message
/// for the first page; answers the cookie's token.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn start(
    pool: &PgPool,
    settings: &AuthSettings,
    user_id: Uuid,
    flash: Option<&str>,
) -> Result<SecretString, AppError> {
    let token = random_token();
    sqlx::query!(
        "INSERT INTO web_sessions (token_hash, user_id, csrf_token, expires_at, flash)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)",
        digest(&token),
        user_id,
        random_token(),
        settings.web_session_max_secs as f64,
        flash
    )
    .execute(pool)
    .await?;
    Ok(SecretString::from(token))
}

/// The live session of a cookie token, touched (idle expiry starts again). With `take_flash`
/// the one-time message is handed over and cleared. Unknown, idle or expired: `None`, and an
/// expired row is deleted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(
    pool: &PgPool,
    settings: &AuthSettings,
    token: &SecretString,
    take_flash: bool,
) -> Result<Option<WebSession>, AppError> {
    let hash = digest(token.expose_secret());
    let row = sqlx::query!(
        r#"UPDATE web_sessions s
           SET last_seen_at = now(), flash = CASE WHEN $3 THEN NULL ELSE s.flash END
           FROM web_sessions old
           WHERE old.id = s.id AND s.token_hash = $1
             AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)
           RETURNING s.id, s.user_id, s.csrf_token, old.flash"#,
        hash,
        settings.web_session_idle_secs as f64,
        take_flash
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => Ok(Some(WebSession {
            id: r.id,
            user_id: r.user_id,
            csrf_token: r.csrf_token,
            flash: if take_flash { r.flash } else { None },
        })),
        None => {
            sqlx::query!("DELETE FROM web_sessions WHERE token_hash = $1", hash)
                .execute(pool)
                .await?;
            Ok(None)
        }
    }
}

/// Leaves a one-time message for the next page this session shows.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_flash(pool: &PgPool, session_id: Uuid, message: &str) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE web_sessions SET flash = $2 WHERE id = $1",
        session_id,
        message
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Signs out: the session is deleted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn end(pool: &PgPool, session_id: Uuid) -> Result<(), AppError> {
    sqlx::query!("DELETE FROM web_sessions WHERE id = $1", session_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends every web session of a user (deactivation), inside the caller's transaction.
pub async fn end_all<'e>(executor: impl PgExecutor<'e>, user_id: Uuid) -> Result<u64, AppError> {
    let ended = sqlx::query!("DELETE FROM web_sessions WHERE user_id = $1", user_id)
        .execute(executor)
        .await?;
    Ok(ended.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_random_bytes_and_only_their_digest_is_kept() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|v| v.len()).ok(), Some(32));
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(digest(&a), a.as_bytes());
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
