//! Per-person secret calendar feeds: an address with a secret token, rotatable, serving the
//! events of the person's groups and RSVPs. The database keeps only the token's SHA-256 (and
//! the nonce it was made from, useless without the service's secret; see [`FeedKey`]).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::AppError;
use crate::events::ical::{self, IcsEvent};

/// The key feed tokens are made with: derived from the service's signing secret, so that every
/// instance makes the same address for the same person, and a copy of the database alone makes
/// none. (Without a configured secret, in development only, a random key for this run: feed
/// addresses then change at each start, like access tokens stop working.)
#[derive(Clone)]
pub struct FeedKey(Arc<[u8; 32]>);

impl FeedKey {
    pub fn new(secret: Option<&SecretString>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"belong calendar feed key v1\0");
        match secret {
            Some(secret) => hasher.update(secret.expose_secret().as_bytes()),
            None => hasher.update(random::<32>()),
        }
        Self(Arc::new(hasher.finalize().into()))
    }

    /// The token of one person's feed: HMAC-SHA256 of their id and the nonce, base64url.
    fn token(&self, user_id: Uuid, nonce: &[u8]) -> String {
        let mut message = Vec::with_capacity(16 + nonce.len());
        message.extend_from_slice(user_id.as_bytes());
        message.extend_from_slice(nonce);
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.0[..], &message))
    }
}

impl std::fmt::Debug for FeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedKey(..)")
    }
}

/// HMAC (RFC 2104) over SHA-256, for a key of at most one block.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..key.len().min(64)].copy_from_slice(&key[..key.len().min(64)]);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn random<const N: usize>() -> [u8; N] {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// What the database keeps of a token.
fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The caller's feed token, made on first use; the same one every time after, until rotated.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn token(pool: &PgPool, key: &FeedKey, user_id: Uuid) -> Result<String, AppError> {
    let nonce = random::<16>();
    let candidate = key.token(user_id, &nonce);
    let stored = sqlx::query!(
        "INSERT INTO calendar_feeds (user_id, nonce, token_hash) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
         RETURNING nonce, token_hash",
        user_id,
        &nonce[..],
        digest(&candidate)
    )
    .fetch_one(pool)
    .await?;
    match stored.nonce {
        Some(nonce) => {
            let token = key.token(user_id, &nonce);
            if digest(&token) == stored.token_hash {
                return Ok(token);
            }
            // Made under another signing secret: that address cannot be shown again.
            rotate(pool, key, user_id).await
        }
        // An address from before digests were kept: it cannot be shown again either.
        None => rotate(pool, key, user_id).await,
    }
}

/// Replaces the token: the old address stops working at once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate(pool: &PgPool, key: &FeedKey, user_id: Uuid) -> Result<String, AppError> {
    let nonce = random::<16>();
    let token = key.token(user_id, &nonce);
    sqlx::query!(
        "INSERT INTO calendar_feeds (user_id, nonce, token_hash) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
         SET nonce = EXCLUDED.nonce, token_hash = EXCLUDED.token_hash, created_at = now()",
        user_id,
        &nonce[..],
        digest(&token)
    )
    .execute(pool)
    .await?;
    Ok(token)
}

struct FeedRow {
    id: Uuid,
    title: String,
    description: String,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    location: Option<String>,
    online_url: Option<String>,
    sequence: i32,
    cancelled: bool,
    updated_at: OffsetDateTime,
    group_name: String,
}

fn render(name: &str, rows: &[FeedRow]) -> String {
    let events: Vec<IcsEvent<'_>> = rows
        .iter()
        .map(|r| IcsEvent {
            id: r.id,
            title: &r.title,
            description: &r.description,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            location: r.location.as_deref(),
            online_url: r.online_url.as_deref(),
            sequence: r.sequence,
            cancelled: r.cancelled,
            updated_at: r.updated_at,
            group_name: &r.group_name,
        })
        .collect();
    ical::calendar(name, &events, OffsetDateTime::now_utc())
}

/// The feed behind a token, or 404 for an unknown token or a deactivated person. It holds the
/// events of the last 90 days and the future of the groups the person is an active member or
/// ally of (their `members` events included, since they are members), and every event they
/// RSVPed to that they may still see.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn feed(pool: &PgPool, token: &str) -> Result<String, AppError> {
    let owner = sqlx::query_scalar!(
        "SELECT f.user_id FROM calendar_feeds f JOIN users u ON u.id = f.user_id
         WHERE f.token_hash = $1 AND u.active",
        digest(token)
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let rows = sqlx::query_as!(
        FeedRow,
        r#"SELECT e.id, e.title, e.description, e.starts_at, e.ends_at, e.location, e.online_url,
                  e.sequence, e.cancelled_at IS NOT NULL AS "cancelled!", e.updated_at, g.name AS group_name
           FROM events e
           JOIN groups g ON g.id = e.group_id AND g.archived_at IS NULL
           LEFT JOIN memberships m ON m.group_id = e.group_id AND m.user_id = $1 AND m.status = 'active'
           WHERE e.ends_at > now() - interval '90 days'
             AND (m.user_id IS NOT NULL
                  OR (e.audience = 'everyone'
                      AND EXISTS (SELECT 1 FROM rsvps r WHERE r.event_id = e.id AND r.user_id = $1)))
           ORDER BY e.starts_at, e.id"#,
        owner
    )
    .fetch_all(pool)
    .await?;
    Ok(render("belong", &rows))
}

/// One event as a calendar (the caller may see it: checked by `events::resolve`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn single(pool: &PgPool, event_id: Uuid) -> Result<String, AppError> {
    let rows = sqlx::query_as!(
        FeedRow,
        r#"SELECT e.id, e.title, e.description, e.starts_at, e.ends_at, e.location, e.online_url,
                  e.sequence, e.cancelled_at IS NOT NULL AS "cancelled!", e.updated_at, g.name AS group_name
           FROM events e JOIN groups g ON g.id = e.group_id
           WHERE e.id = $1"#,
        event_id
    )
    .fetch_all(pool)
    .await?;
    Ok(render("belong", &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 1: a key of twenty 0x0b bytes.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn tokens_depend_on_the_secret_the_person_and_the_nonce() {
        let key = FeedKey::new(Some(&SecretString::from(
            "a-secret-of-at-least-32-bytes-0123456789",
        )));
        let same = FeedKey::new(Some(&SecretString::from(
            "a-secret-of-at-least-32-bytes-0123456789",
        )));
        let other = FeedKey::new(Some(&SecretString::from(
            "another-secret-of-at-least-32-bytes-0123",
        )));
        let (ann, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let nonce = [7u8; 16];
        let token = key.token(ann, &nonce);
        assert_eq!(
            token.len(),
            43,
            "the feed route takes 43 characters of base64url"
        );
        assert_eq!(same.token(ann, &nonce), token);
        assert_ne!(other.token(ann, &nonce), token);
        assert_ne!(key.token(bob, &nonce), token);
        assert_ne!(key.token(ann, &[8u8; 16]), token);
        assert_ne!(
            FeedKey::new(None).token(ann, &nonce),
            FeedKey::new(None).token(ann, &nonce)
        );
        assert_eq!(format!("{key:?}"), "FeedKey(..)");
    }
}
