//! Password policy and argon2id hashing, run on blocking threads with a bound on how many
//! hashes are computed at once (each works in 19 MiB and takes tens of milliseconds of a core).
//!
//! A hash that finds no slot free waits for one at most `auth.max_hash_wait_ms`, and is then
//! refused as [`AppError::Busy`] (503 with `Retry-After`): under more sign-ins than the cores
//! can hash, the queue stays that short instead of growing without bound. A hash that the queue
//! ahead of it cannot let through within that wait (by how long hashes have been taking) is
//! refused at once instead of after waiting for nothing.
//!
//! Each of those hashing slots keeps its own block buffer: made at its first use, handed from
//! one hash to the next and never freed. Left to the allocator, every hash would take 19 MiB
//! and give it back, and glibc keeps such freed buffers resident (the server's RSS went from
//! 17 MiB to over 800 MiB after a few hundred sign-ins); this way sign-ins cost at most one
//! buffer per slot, for as long as the process lives.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::rand_core::{OsRng, RngCore as _};
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::AppError;

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
fn params() -> anyhow::Result<Params> {
    Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))
}

/// New hashes: argon2id, version 0x13, [`params`].
fn argon2() -> anyhow::Result<Argon2<'static>> {
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params()?))
}

/// The hash of `password` with `salt` into `out`, in `memory` when it is large enough for the
/// parameters, else (a stored hash made with more memory than the slots keep) in a buffer of
/// its own for this once.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut [Block],
) -> Result<(), argon2::Error> {
    if memory.len() >= argon2.params().block_count() {
        argon2.hash_password_into_with_memory(password, salt, out, memory)
    } else {
        argon2.hash_password_into(password, salt, out)
    }
}

/// The PHC string of an argon2id hash with [`params`]: `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`.
fn phc(salt: &[u8], output: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| anyhow::anyhow!("a salt: {e}"))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()?)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(output).map_err(|e| anyhow::anyhow!("a hash's output: {e}"))?),
    };
    Ok(hash.to_string())
}

fn random_salt() -> [u8; Salt::RECOMMENDED_LENGTH] {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    OsRng.fill_bytes(&mut salt);
    salt
}

fn hash_blocking(password: &SecretString, memory: &mut [Block]) -> anyhow::Result<String> {
    let salt = random_salt();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(
        &argon2()?,
        password.expose_secret().as_bytes(),
        &salt,
        &mut output,
        memory,
    )
    .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    phc(&salt, &output)
}

/// Verifies with the algorithm, version and parameters in the stored hash, so that older hashes
/// (or hashes made with other settings) keep working; the outputs compare in constant time. A
/// hash that is not a PHC string is an error; one that argon2 cannot recompute (another
/// algorithm, parameters out of range) matches no password, as it did with argon2's own
/// verifier.
fn verify_blocking(
    password: &SecretString,
    hash: &str,
    memory: &mut [Block],
) -> anyhow::Result<bool> {
    let parsed =
        PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("a stored hash is unreadable: {e}"))?;
    let mut recompute = || -> Result<bool, String> {
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err("no salt or no output".into());
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let mut salt_buf = [0u8; Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_buf).map_err(|e| e.to_string())?;
        let mut output = [0u8; Output::MAX_LENGTH];
        let output = output
            .get_mut(..expected.len())
            .ok_or("an output too long")?;
        let argon2 = Argon2::new(algorithm, version, params);
        compute(
            &argon2,
            password.expose_secret().as_bytes(),
            salt,
            output,
            memory,
        )
        .map_err(|e| e.to_string())?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(output).map_err(|e| e.to_string())? == expected)
    };
    Ok(recompute().unwrap_or_else(|reason| {
        tracing::warn!(%reason, "a stored password hash cannot be verified");
        false
    }))
}

/// The hashing slots: at most `permits` hashes at once, each in a block buffer of its own.
struct Slots {
    permits: Arc<Semaphore>,
    /// The buffers of the slots not in use. A buffer is either here or with the one hash that
    /// holds a permit, so there are never more buffers than permits.
    idle: Mutex<Vec<Vec<Block>>>,
    /// Blocks in each buffer: what [`params`] take.
    blocks: usize,
    /// Slots in all.
    permits_total: usize,
    /// How many buffers were ever made.
    made: AtomicUsize,
    /// Hashes waiting for a slot now.
    waiting: AtomicUsize,
    /// How long a hash has been holding its slot, in microseconds: a moving average over the
    /// last few (0 before the first).
    hash_micros: AtomicU64,
}

impl Slots {
    /// An idle buffer, or a new one for a slot used for the first time.
    fn take(&self) -> Vec<Block> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        idle.unwrap_or_else(|| {
            self.made.fetch_add(1, Ordering::Relaxed);
            vec![Block::new(); self.blocks]
        })
    }

    fn put_back(&self, memory: Vec<Block>) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
    }

    /// Counts one hash's duration into the average (an eighth of the difference each time, so
    /// it follows the machine's load within a few dozen hashes). Concurrent updates may lose
    /// one another's sample, which an estimate can afford.
    fn took(&self, hash: Duration) {
        let sample = u64::try_from(hash.as_micros()).unwrap_or(u64::MAX);
        let old = self.hash_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.hash_micros.store(new, Ordering::Relaxed);
    }

    /// How long a hash arriving now would wait for a slot, were `ahead` hashes waiting before
    /// it: they, and it, each take a slot for about the average, `permits` at a time.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let permits = u64::try_from(self.permits_total).unwrap_or(1).max(1);
        let rounds = u64::try_from(ahead).unwrap_or(u64::MAX).saturating_add(1);
        Duration::from_micros(
            self.hash_micros
                .load(Ordering::Relaxed)
                .saturating_mul(rounds)
                / permits,
        )
    }
}

/// One hash waiting for a slot, counted in [`Slots::waiting`] until it gets one or gives up.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    /// Joins the waiting ones; answers the guard and how many were waiting before.
    fn join(waiting: &'a AtomicUsize) -> (Self, usize) {
        let ahead = waiting.fetch_add(1, Ordering::Relaxed);
        (Self(waiting), ahead)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Slots>,
    /// Verified against when the email is unknown, so that case costs what a wrong password
    /// does: a hash with the same parameters whose output is random, which no password matches.
    dummy_hash: Arc<str>,
    /// How long a hash waits for a slot before it is refused as busy; `None`: as long as it
    /// takes (the command-line tools).
    max_wait: Option<Duration>,
}

/// A hashing slot held by [`Hasher::hold_slot`], given back when dropped.
pub struct HeldSlot {
    _permit: OwnedSemaphorePermit,
}

impl Hasher {
    /// At most `max_concurrent` hashes at once (at least one); each waits for a slot at most
    /// `max_wait`, when given.
    pub fn new(max_concurrent: usize, max_wait: Option<Duration>) -> anyhow::Result<Self> {
        let permits = max_concurrent.max(1);
        let mut dummy_output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        OsRng.fill_bytes(&mut dummy_output);
        Ok(Self {
            slots: Arc::new(Slots {
                permits: Arc::new(Semaphore::new(permits)),
                idle: Mutex::new(Vec::with_capacity(permits)),
                blocks: params()?.block_count(),
                permits_total: permits,
                made: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
                hash_micros: AtomicU64::new(0),
            }),
            dummy_hash: phc(&random_salt(), &dummy_output)?.into(),
            max_wait,
        })
    }

    /// What a hash refused for want of a slot tells its client to wait before trying again:
    /// the wait it was allowed (the queue was at least that long), in whole seconds, at least 1.
    fn retry_after_secs(&self) -> u64 {
        let millis = self.max_wait.map_or(0, |wait| wait.as_millis());
        u64::try_from(millis.div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub async fn hash(&self, password: &NewPassword) -> Result<String, AppError> {
        let password = password.secret().clone();
        self.run(move |memory| hash_blocking(&password, memory))
            .await
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is none
    /// (through the same slots, so an unknown email waits as long as a known one, and is refused
    /// as busy alike).
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Option<&str>,
    ) -> Result<bool, AppError> {
        let known = hash.is_some();
        let hash: Arc<str> = hash
            .map(Arc::from)
            .unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.clone();
        let matches = self
            .run(move |memory| verify_blocking(&password, &hash, memory))
            .await?;
        Ok(known && matches)
    }

    /// Takes a hashing slot (waiting as long as it takes) and keeps it until the answer is
    /// dropped, as a hash in progress would. Nothing in the service calls it: it lets tests hold
    /// every slot to see what a sign-in that finds none free is answered.
    pub async fn hold_slot(&self) -> anyhow::Result<HeldSlot> {
        let permit = self
            .slots
            .permits
            .clone()
            .acquire_owned()
            .await
            .context("the hasher is shut down")?;
        Ok(HeldSlot { _permit: permit })
    }

    /// A slot, within `max_wait`: else [`AppError::Busy`]. A slot free at once is taken
    /// whatever the wait (also zero); one is free at once only when nobody queues for one.
    /// Otherwise, when the hashes already waiting will hold the slots longer than three
    /// quarters of `max_wait` (at the average duration of recent hashes), it is refused at once:
    /// waiting would most likely not get it a slot in time, and would make its client wait for
    /// the refusal.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        let closed = || AppError::Internal(anyhow::anyhow!("the hasher is shut down"));
        let busy = || AppError::Busy {
            retry_after_secs: self.retry_after_secs(),
        };
        let permits = &self.slots.permits;
        match permits.clone().try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(closed()),
            Err(TryAcquireError::NoPermits) => {}
        }
        let (_waiting, ahead) = Waiting::join(&self.slots.waiting);
        let acquire = permits.clone().acquire_owned();
        let acquired = match self.max_wait {
            None => acquire.await,
            // A quarter of the wait is kept as a margin: the queue settles where the estimate
            // meets the bound, and the estimate errs both ways.
            Some(wait) if self.slots.expected_wait(ahead) > wait * 3 / 4 => return Err(busy()),
            Some(wait) => tokio::time::timeout(wait, acquire)
                .await
                .map_err(|_| busy())?,
        };
        acquired.map_err(|_| closed())
    }

    /// Runs `work` on a blocking thread in a slot's buffer. The permit and the buffer go with
    /// the thread: should the caller stop waiting (a client hanging up), the slot stays taken
    /// until the hash is done, and the buffer goes back to the idle ones, not to the allocator.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = self.slot().await?;
        // The slot is held from here, while the blocking thread starts as well as while it hashes.
        let granted = Instant::now();
        let slots = self.slots.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut memory = slots.take();
            let result = work(&mut memory);
            slots.took(granted.elapsed());
            slots.put_back(memory);
            drop(permit);
            result
        })
        .await
        .context("a hashing thread failed")?;
        Ok(result?)
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

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    /// A hash made by argon2's own API, as hashes stored before the slots were.
    fn plain_hash(
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &str,
    ) -> String {
        use argon2::password_hash::PasswordHasher as _;
        Argon2::new(algorithm, version, params)
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let hasher = Hasher::new(2, None).unwrap();
        let pw = NewPassword::parse(secret("correct horse battery")).unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(pw.secret(), Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&secret("wrong"), Some(&hash)).await.unwrap());
        assert!(!hasher.verify(pw.secret(), None).await.unwrap());
        // Two hashes of one password differ (their salts do).
        assert_ne!(hash, hasher.hash(&pw).await.unwrap());
    }

    /// Hashes made by argon2's own API verify here, and ours verify there: the stored format
    /// is the same.
    #[tokio::test]
    async fn hashes_are_compatible_with_argon2s_own_api() {
        use argon2::password_hash::PasswordVerifier as _;
        let hasher = Hasher::new(1, None).unwrap();
        let old = plain_hash(
            Algorithm::Argon2id,
            Version::V0x13,
            params().unwrap(),
            "correct horse battery",
        );
        assert!(old.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{old}");
        assert!(
            hasher
                .verify(&secret("correct horse battery"), Some(&old))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&secret("correct horse battery!"), Some(&old))
                .await
                .unwrap()
        );

        let pw = NewPassword::parse(secret("correct horse battery")).unwrap();
        let ours = hasher.hash(&pw).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horse batterY", &parsed)
                .is_err()
        );
    }

    /// A stored hash made with other settings is verified with its own: less memory than a
    /// slot keeps (in the slot's buffer), more (in a buffer of its own), another variant and
    /// version, a longer output.
    #[tokio::test]
    async fn hashes_with_other_parameters_verify() {
        let hasher = Hasher::new(1, None).unwrap();
        let cases = [
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(8 * 1024, 3, 1, None),
            ),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(24 * 1024, 1, 2, None),
            ),
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(4 * 1024, 2, 1, None),
            ),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(1024, 1, 1, Some(64)),
            ),
        ];
        for (algorithm, version, params) in cases {
            let hash = plain_hash(algorithm, version, params.unwrap(), "a password of old");
            assert!(
                hasher
                    .verify(&secret("a password of old"), Some(&hash))
                    .await
                    .unwrap(),
                "{hash}"
            );
            assert!(
                !hasher
                    .verify(&secret("a password of new"), Some(&hash))
                    .await
                    .unwrap(),
                "{hash}"
            );
        }
        // What is no PHC string at all is an error; a PHC string argon2 cannot recompute
        // matches nothing.
        assert!(
            hasher
                .verify(&secret("x"), Some("not a hash"))
                .await
                .is_err()
        );
        let unknown = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        assert!(!hasher.verify(&secret("x"), Some(unknown)).await.unwrap());
    }

    /// However many hashes run, and even when their callers stop waiting, no more buffers are
    /// made than there are slots, and each goes back to the idle ones.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_slot_makes_its_buffer_once() {
        let hasher = Hasher::new(2, None).unwrap();
        let pw = NewPassword::parse(secret("correct horse battery")).unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        let checks: Vec<_> = (0..8)
            .map(|i| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move {
                    let password = secret(if i % 2 == 0 {
                        "correct horse battery"
                    } else {
                        "no"
                    });
                    hasher.verify(&password, Some(&hash)).await.unwrap()
                })
            })
            .collect();
        for (i, check) in checks.into_iter().enumerate() {
            assert_eq!(check.await.unwrap(), i % 2 == 0);
        }
        // Callers that give up while their hash runs or waits.
        for _ in 0..4 {
            let waiting = hasher.verify(pw.secret(), Some(&hash));
            let _ = tokio::time::timeout(std::time::Duration::from_millis(1), waiting).await;
        }
        assert!(hasher.verify(pw.secret(), Some(&hash)).await.unwrap());
        // Every slot free again: its buffer is back with the idle ones.
        let _all = hasher.slots.permits.acquire_many(2).await.unwrap();
        let made = hasher.slots.made.load(Ordering::Relaxed);
        assert!((1..=2).contains(&made), "{made} buffers made");
        assert_eq!(hasher.slots.idle.lock().unwrap().len(), made);
        assert!(
            hasher
                .slots
                .idle
                .lock()
                .unwrap()
                .iter()
                .all(|m| m.len() == 19 * 1024)
        );
    }

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_place_until_it_ends() {
        let hasher = Hasher::new(1, None).unwrap();
        let pw = SecretString::from("correct horse battery");
        // Dropped after its first poll, which took the only place and started the hash.
        let abandoned =
            tokio::time::timeout(std::time::Duration::ZERO, hasher.verify(&pw, None)).await;
        assert!(abandoned.is_err(), "a hash cannot end within no time");
        assert_eq!(
            hasher.slots.permits.available_permits(),
            0,
            "the running hash still holds its place"
        );
        // The place comes back when the thread is done, and the hasher works on.
        assert!(!hasher.verify(&pw, None).await.unwrap());
        assert_eq!(hasher.slots.permits.available_permits(), 1);
    }

    /// With every slot taken, a check waits at most the hasher's wait and is refused as busy,
    /// against a stored hash and against the dummy hash alike (an unknown email); so is a new
    /// hash. Once a slot is free again, checks go through.
    #[tokio::test]
    async fn a_hash_that_finds_no_slot_in_time_is_refused_as_busy() {
        let hasher = Hasher::new(1, Some(Duration::from_millis(20))).unwrap();
        let pw = NewPassword::parse(secret("correct horse battery")).unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        let held = hasher.hold_slot().await.unwrap();
        for stored in [Some(hash.as_str()), None] {
            match hasher.verify(pw.secret(), stored).await {
                Err(AppError::Busy { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
                other => panic!("{stored:?}: {other:?}"),
            }
        }
        assert!(matches!(hasher.hash(&pw).await, Err(AppError::Busy { .. })));
        drop(held);
        assert!(hasher.verify(pw.secret(), Some(&hash)).await.unwrap());
    }

    /// A check queued behind a held slot gets it when it is given back within the wait (the
    /// wait is far longer than the test takes to give it back).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_gets_a_slot_freed_within_its_wait() {
        let hasher = Hasher::new(1, Some(Duration::from_secs(60))).unwrap();
        let held = hasher.hold_slot().await.unwrap();
        let waiting = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify(&secret("x"), None).await })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(!waiting.await.unwrap().unwrap());
    }

    /// A hash that the ones already waiting will keep from a slot past the wait is refused
    /// at once (on its first poll, the slot still held), and one that can be let through in
    /// time waits for its slot.
    #[tokio::test]
    async fn a_hash_the_queue_cannot_serve_in_time_is_refused_at_once() {
        use futures_util::FutureExt as _;
        let hasher = Hasher::new(1, Some(Duration::from_secs(3600))).unwrap();
        // As if a hash took 40 minutes: with the slot held, the first to wait would get it in
        // about 40 minutes, within three quarters of the hour; the second in about 80.
        hasher.slots.took(Duration::from_secs(40 * 60));
        let held = hasher.hold_slot().await.unwrap();
        let first = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.verify(&secret("x"), None).await }
        });
        while hasher.slots.waiting.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let second = hasher.verify(&secret("x"), None).now_or_never();
        assert!(
            matches!(second, Some(Err(AppError::Busy { .. }))),
            "{second:?}"
        );
        assert_eq!(hasher.slots.waiting.load(Ordering::Relaxed), 1);
        drop(held);
        assert!(!first.await.unwrap().unwrap());
        assert_eq!(hasher.slots.waiting.load(Ordering::Relaxed), 0);
    }

    /// The average follows the hashes' durations: the first sets it, each later one moves it
    /// an eighth of the way.
    #[test]
    fn the_expected_wait_follows_the_hashes_durations() {
        let hasher = Hasher::new(2, None).unwrap();
        assert_eq!(hasher.slots.expected_wait(10), Duration::ZERO);
        hasher.slots.took(Duration::from_millis(80));
        // One waiting ahead, two slots: two hashes' turns shared by two slots.
        assert_eq!(hasher.slots.expected_wait(1), Duration::from_millis(80));
        hasher.slots.took(Duration::from_millis(160));
        assert_eq!(hasher.slots.expected_wait(1), Duration::from_millis(90));
    }

    /// A wait of zero takes a slot that is free at once, and only such a slot.
    #[tokio::test]
    async fn no_wait_takes_only_a_free_slot() {
        let hasher = Hasher::new(1, Some(Duration::ZERO)).unwrap();
        assert!(!hasher.verify(&secret("x"), None).await.unwrap());
        let _held = hasher.hold_slot().await.unwrap();
        assert!(matches!(
            hasher.verify(&secret("x"), None).await,
            Err(AppError::Busy { .. })
        ));
    }

    /// Retry-After is the wait in whole seconds, rounded up, at least one.
    #[test]
    fn busy_answers_retry_after_the_wait() {
        let after = |wait: Option<Duration>| Hasher::new(1, wait).unwrap().retry_after_secs();
        assert_eq!(after(Some(Duration::from_millis(3000))), 3);
        assert_eq!(after(Some(Duration::from_millis(2500))), 3);
        assert_eq!(after(Some(Duration::from_millis(200))), 1);
        assert_eq!(after(Some(Duration::ZERO)), 1);
        assert_eq!(after(None), 1);
    }
}
