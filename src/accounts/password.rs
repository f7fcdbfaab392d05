//! Password policy and argon2id hashing, run on blocking threads with a bound on how many
//! hashes are computed at once (each takes 19 MiB and tens of milliseconds of a core).

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password that satisfies the policy (its length, counted in characters).
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(raw: SecretString) -> Result<Self, String> {
        let chars = raw.expose_secret().chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
        }
        Ok(Self(raw))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

fn verify_blocking(password: &SecretString, hash: &str) -> anyhow::Result<bool> {
    let parsed =
        PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("a stored hash is unreadable: {e}"))?;
    // Verify with the parameters in the stored hash, so older hashes keep working.
    Ok(Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok())
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that case costs what a wrong password does.
    dummy_hash: Arc<str>,
}

impl Hasher {
    pub fn new(max_concurrent: usize) -> anyhow::Result<Self> {
        let dummy = SecretString::from(format!("dummy-{}", uuid::Uuid::new_v4()));
        Ok(Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: hash_blocking(&dummy)?.into(),
        })
    }

    pub async fn hash(&self, password: &NewPassword) -> anyhow::Result<String> {
        let password = password.secret().clone();
        self.run(move || hash_blocking(&password)).await
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is none.
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Option<&str>,
    ) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash: Arc<str> = hash
            .map(Arc::from)
            .unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.clone();
        let matches = self.run(move || verify_blocking(&password, &hash)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .context("the hasher is shut down")?;
        // The permit goes with the work, not with this future: a request dropped while its
        // hash runs (a timeout, a client gone) cannot free its place before the thread does,
        // or a storm of abandoned sign-ins would run any number of hashes at once.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .context("a hashing thread failed")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_counts_characters() {
        assert!(NewPassword::parse(SecretString::from("short")).is_err());
        assert!(NewPassword::parse(SecretString::from("x".repeat(12))).is_ok());
        assert!(NewPassword::parse(SecretString::from("é".repeat(12))).is_ok());
        assert!(NewPassword::parse(SecretString::from("x".repeat(128))).is_ok());
        assert!(NewPassword::parse(SecretString::from("x".repeat(129))).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let hasher = Hasher::new(2).unwrap();
        let pw = NewPassword::parse(SecretString::from("correct horse battery")).unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(pw.secret(), Some(&hash)).await.unwrap());
        assert!(
            !hasher
                .verify(&SecretString::from("wrong"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(pw.secret(), None).await.unwrap());
    }

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_place_until_it_ends() {
        let hasher = Hasher::new(1).unwrap();
        let pw = SecretString::from("correct horse battery");
        // Dropped after its first poll, which took the only place and started the hash.
        let abandoned =
            tokio::time::timeout(std::time::Duration::ZERO, hasher.verify(&pw, None)).await;
        assert!(abandoned.is_err(), "a hash cannot end within no time");
        assert_eq!(
            hasher.permits.available_permits(),
            0,
            "the running hash still holds its place"
        );
        // The place comes back when the thread is done, and the hasher works on.
        assert!(!hasher.verify(&pw, None).await.unwrap());
        assert_eq!(hasher.permits.available_permits(), 1);
    }
}
