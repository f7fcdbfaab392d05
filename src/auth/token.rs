//! Access tokens: HS256 JWTs with `iss`, `aud`, `exp`, `sub` and `sid` (the session: the
//! refresh-token family it was issued with) checked. Refresh tokens: opaque random strings,
//! stored only as SHA-256 digests.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::AuthSettings;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    /// The refresh-token family: a signed-out or revoked family's access tokens are refused.
    sid: Uuid,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// What a valid access token says: whose it is, and of which session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct AccessTokens {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl AccessTokens {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = match &settings.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                // Development only (production refuses to start without one): tokens from
                // an earlier run stop working, which is harmless there.
                tracing::warn!(
                    "BELONG__AUTH__JWT_SECRET is unset: using a random signing secret for this run"
                );
                SecretString::from(format!(
                    "{}{}",
                    Uuid::new_v4().simple(),
                    Uuid::new_v4().simple()
                ))
            }
        };
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        // `sid` is required too: `Claims` does not decode without it.
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        validation.validate_exp = true;
        Self {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(bytes),
                decoding: DecodingKey::from_secret(bytes),
                validation,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                ttl_secs: settings.access_token_ttl_secs,
            }),
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.inner.ttl_secs
    }

    /// An access token for `user_id` in the session `session_id` (a refresh-token family).
    pub fn issue(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
            iat: now,
            exp: now + i64::try_from(self.inner.ttl_secs).unwrap_or(900),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )?)
    }

    /// The user and session of a valid token; `None` for anything else (expired, tampered,
    /// other key, other algorithm, other audience or issuer, no session).
    pub fn verify(&self, token: &str) -> Option<Verified> {
        jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .ok()
            .map(|data| Verified {
                user_id: data.claims.sub,
                session_id: data.claims.sid,
            })
    }
}

/// A new opaque refresh token and the digest stored for it.
pub fn new_refresh_token() -> (SecretString, Vec<u8>) {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = refresh_digest(&token);
    (SecretString::from(token), digest)
}

pub fn refresh_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, Settings};

    fn tokens(secret: &str, audience: &str) -> AccessTokens {
        let mut settings = Settings::defaults_for(Environment::Test).unwrap().auth;
        settings.jwt_secret = Some(SecretString::from(secret.to_string()));
        settings.audience = audience.into();
        AccessTokens::new(&settings)
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_verifies_with_its_own_key_only() {
        let (id, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let token = tokens(KEY, "belong-api").issue(id, sid).unwrap();
        assert_eq!(
            tokens(KEY, "belong-api").verify(&token),
            Some(Verified {
                user_id: id,
                session_id: sid
            })
        );
        assert_eq!(
            tokens("another-key-another-key-another-key", "belong-api").verify(&token),
            None
        );
        assert_eq!(tokens(KEY, "other-audience").verify(&token), None);
    }

    #[test]
    fn a_token_without_a_session_is_refused() {
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
        let claims = serde_json::json!({
            "sub": Uuid::new_v4(), "iss": "belong", "aud": "belong-api", "iat": 0, "exp": exp
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(KEY.as_bytes()),
        )
        .unwrap();
        assert_eq!(tokens(KEY, "belong-api").verify(&token), None);
    }

    #[test]
    fn alg_none_is_refused() {
        let id = Uuid::new_v4();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
        let body = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{id}","sid":"{id}","iss":"belong","aud":"belong-api","iat":0,"exp":{exp}}}"#
        ));
        assert_eq!(
            tokens(KEY, "belong-api").verify(&format!("{header}.{body}.")),
            None
        );
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_digests() {
        let (a, da) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(da, refresh_digest(a.expose_secret()));
        assert_eq!(da.len(), 32);
    }
}
