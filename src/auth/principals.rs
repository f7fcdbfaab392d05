//! The principals this process served lately, kept in memory so that a request whose user
//! and session were seen a moment ago costs no round trip to PostgreSQL.
//!
//! What is kept: per user, the active principal (display name, roles) or its absence
//! (deactivated); per session (a refresh-token family), the user whose live session it is, or
//! its absence (signed out, revoked). What makes it right:
//!
//! - Triggers (migration `principal_notify`) send `user:<id>`, `family:<id>` or `all` on the
//!   channel [`CHANNEL`] when a transaction changes what is kept; this process's listener
//!   (`db::notices`) forgets those entries. A writer calls `db::notices::settle` after its
//!   commit, which returns once every instance's listener has handled the change: the next
//!   request anywhere reads the new state.
//! - While the listener is not connected, notices are lost: the cache is bypassed (every
//!   request reads PostgreSQL) and emptied, and emptied again when the listener is back.
//! - A read that began before a change was forgotten never stores what it read: every
//!   forgetting moves a generation counter, and a read stores only if the counter has not
//!   moved since before the read.
//! - Every entry expires after `auth.principal_cache_ttl_secs` (0 turns the cache off): a
//!   backstop should a notice be lost unnoticed.
//!
//! Writes that must see the current state under a lock (`accounts::principal::lock_active`)
//! never read this cache.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::db::notices::Subscriber;
use crate::error::AppError;
use crate::metrics::{Lookup, Metrics};

/// The channel the triggers notify on.
pub const CHANNEL: &str = "belong_principal";

/// The principals of recent requests; cheap to clone (one shared cache).
#[derive(Clone)]
pub struct Principals {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    metrics: Metrics,
    state: RwLock<State>,
}

struct Entry<T> {
    value: T,
    filled: Instant,
}

struct State {
    /// Whether the listener listens: only then is anything kept or served.
    listening: bool,
    /// Moves whenever something is forgotten.
    generation: u64,
    /// Per user: the active principal, or `None` (deactivated or unknown).
    users: HashMap<Uuid, Entry<Option<CurrentUser>>>,
    /// Per session: the user whose live session it is, or `None` (ended).
    sessions: HashMap<Uuid, Entry<Option<Uuid>>>,
    /// When expired entries are next swept out.
    next_sweep: Instant,
}

impl State {
    fn forget_all(&mut self) {
        self.generation += 1;
        self.users.clear();
        self.sessions.clear();
    }
}

/// What the cache answers for a request: the principal (`Some(None)`: a known refusal), or
/// the generation to store a fresh read under, or nothing (bypassed).
enum Cached {
    Hit(Option<CurrentUser>),
    Miss(u64),
    Bypass,
}

impl Principals {
    pub fn new(ttl: Duration, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                metrics,
                state: RwLock::new(State {
                    listening: false,
                    generation: 0,
                    users: HashMap::new(),
                    sessions: HashMap::new(),
                    next_sweep: Instant::now() + ttl,
                }),
            }),
        }
    }

    // A panic while the lock was held leaves nothing half-done that matters here: the maps
    // hold whole entries only.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The active user `user_id`, with their roles, when `session` (if given) is a live
    /// session of theirs; `None` otherwise. From the cache when it can be trusted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn load(
        &self,
        pool: &PgPool,
        user_id: Uuid,
        session: Option<Uuid>,
    ) -> Result<Option<CurrentUser>, AppError> {
        let generation = match self.cached(user_id, session) {
            Cached::Hit(user) => {
                self.inner.metrics.principal_lookup(Lookup::Hit);
                return Ok(user);
            }
            Cached::Miss(generation) => {
                self.inner.metrics.principal_lookup(Lookup::Miss);
                Some(generation)
            }
            Cached::Bypass => {
                self.inner.metrics.principal_lookup(Lookup::Bypass);
                None
            }
        };
        // A session is live while its family exists for this user and none of its tokens
        // was revoked (sign-out, reuse, deactivation).
        let row = sqlx::query!(
            r#"SELECT p.id AS "id!", p.display_name AS "display_name!", p.is_hr AS "is_hr!",
                      p.is_admin AS "is_admin!",
                      ($2::uuid IS NOT NULL
                       AND EXISTS (SELECT 1 FROM refresh_tokens t
                                   WHERE t.family_id = $2 AND t.user_id = p.id)
                       AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                                       WHERE t.family_id = $2 AND t.revoked_at IS NOT NULL))
                      AS "session_live!"
               FROM user_profiles p WHERE p.id = $1 AND p.active"#,
            user_id,
            session
        )
        .fetch_optional(pool)
        .await?;
        let live = row.as_ref().is_some_and(|r| r.session_live);
        let user = row.map(|r| CurrentUser {
            id: r.id,
            display_name: r.display_name,
            is_hr: r.is_hr,
            is_admin: r.is_admin,
        });
        if let Some(generation) = generation {
            // The session's state is known only when the user is active.
            let session = session.filter(|_| user.is_some()).map(|s| (s, live));
            self.store(generation, user_id, user.clone(), session);
        }
        Ok(user.filter(|_| session.is_none() || live))
    }

    fn cached(&self, user_id: Uuid, session: Option<Uuid>) -> Cached {
        if self.inner.ttl.is_zero() {
            return Cached::Bypass;
        }
        let state = self.read();
        if !state.listening {
            return Cached::Bypass;
        }
        let now = Instant::now();
        let fresh = |filled: Instant| now.saturating_duration_since(filled) < self.inner.ttl;
        let user = match state.users.get(&user_id) {
            Some(entry) if fresh(entry.filled) => &entry.value,
            _ => return Cached::Miss(state.generation),
        };
        let Some(user) = user else {
            return Cached::Hit(None);
        };
        match session {
            None => Cached::Hit(Some(user.clone())),
            Some(session) => match state.sessions.get(&session) {
                Some(entry) if fresh(entry.filled) => {
                    Cached::Hit((entry.value == Some(user_id)).then(|| user.clone()))
                }
                _ => Cached::Miss(state.generation),
            },
        }
    }

    /// Keeps what a read found, unless something was forgotten since `generation` was read
    /// (the read may predate the change) or the listener stopped.
    fn store(
        &self,
        generation: u64,
        user_id: Uuid,
        user: Option<CurrentUser>,
        session: Option<(Uuid, bool)>,
    ) {
        let mut state = self.write();
        if !state.listening || state.generation != generation {
            return;
        }
        let now = Instant::now();
        if now >= state.next_sweep {
            let ttl = self.inner.ttl;
            let fresh = |filled: Instant| now.saturating_duration_since(filled) < ttl;
            state.users.retain(|_, e| fresh(e.filled));
            state.sessions.retain(|_, e| fresh(e.filled));
            state.next_sweep = now + ttl;
        }
        state.users.insert(
            user_id,
            Entry {
                value: user,
                filled: now,
            },
        );
        if let Some((session, live)) = session {
            state.sessions.insert(
                session,
                Entry {
                    value: live.then_some(user_id),
                    filled: now,
                },
            );
        }
    }
}

impl Subscriber for Principals {
    fn listening(&self) {
        let mut state = self.write();
        state.forget_all();
        state.listening = true;
        self.inner.metrics.notice_listener(true);
    }

    fn deaf(&self) {
        let mut state = self.write();
        state.listening = false;
        state.forget_all();
        self.inner.metrics.notice_listener(false);
    }

    fn notice(&self, payload: &str) {
        let mut state = self.write();
        state.generation += 1;
        let id = |prefix: &str| {
            payload
                .strip_prefix(prefix)
                .and_then(|id| id.parse::<Uuid>().ok())
        };
        if let Some(user) = id("user:") {
            state.users.remove(&user);
        } else if let Some(family) = id("family:") {
            state.sessions.remove(&family);
        } else {
            // `all`, or a notice this version does not know: forget everything.
            state.forget_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principals() -> Principals {
        let principals = Principals::new(Duration::from_secs(30), Metrics::default());
        principals.listening();
        principals
    }

    fn person(id: Uuid, admin: bool) -> CurrentUser {
        CurrentUser {
            id,
            display_name: "P".into(),
            is_hr: false,
            is_admin: admin,
        }
    }

    fn hit(principals: &Principals, id: Uuid, session: Option<Uuid>) -> Option<Option<bool>> {
        match principals.cached(id, session) {
            Cached::Hit(user) => Some(user.map(|u| u.is_admin)),
            _ => None,
        }
    }

    fn miss(principals: &Principals, id: Uuid, session: Option<Uuid>) -> u64 {
        match principals.cached(id, session) {
            Cached::Miss(generation) => generation,
            _ => panic!("expected a miss"),
        }
    }

    #[test]
    fn a_stored_read_is_served_until_its_user_or_session_changes() {
        let p = principals();
        let (id, family) = (Uuid::new_v4(), Uuid::new_v4());
        let g = miss(&p, id, Some(family));
        p.store(g, id, Some(person(id, true)), Some((family, true)));
        assert_eq!(hit(&p, id, Some(family)), Some(Some(true)));
        assert_eq!(hit(&p, id, None), Some(Some(true)));
        // Another user's session is no session of this user.
        let other = Uuid::new_v4();
        let g = miss(&p, other, Some(family));
        p.store(g, other, Some(person(other, false)), None);
        assert_eq!(hit(&p, other, Some(family)), Some(None));

        p.notice(&format!("family:{family}"));
        assert!(hit(&p, id, Some(family)).is_none());
        assert_eq!(hit(&p, id, None), Some(Some(true)));
        p.notice(&format!("user:{id}"));
        assert!(hit(&p, id, None).is_none());
        // An ended session is kept as such.
        let g = miss(&p, id, Some(family));
        p.store(g, id, Some(person(id, true)), Some((family, false)));
        assert_eq!(hit(&p, id, Some(family)), Some(None));
        p.notice("all");
        assert!(hit(&p, id, None).is_none());
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let p = principals();
        let id = Uuid::new_v4();
        let g = miss(&p, id, None);
        // The change commits and its notice arrives while the read is under way.
        p.notice(&format!("user:{}", Uuid::new_v4()));
        p.store(g, id, Some(person(id, true)), None);
        assert!(hit(&p, id, None).is_none());
    }

    #[test]
    fn nothing_is_kept_or_served_while_the_listener_is_down() {
        let p = principals();
        let id = Uuid::new_v4();
        let g = miss(&p, id, None);
        p.store(g, id, Some(person(id, false)), None);
        assert!(hit(&p, id, None).is_some());
        p.deaf();
        assert!(matches!(p.cached(id, None), Cached::Bypass));
        p.store(g, id, Some(person(id, false)), None);
        // Back: what was kept before the gap is gone, and a read from before it is not kept.
        p.listening();
        assert!(hit(&p, id, None).is_none());
        p.store(g, id, Some(person(id, false)), None);
        assert!(hit(&p, id, None).is_none());
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_turns_the_cache_off() {
        let p = Principals::new(Duration::ZERO, Metrics::default());
        p.listening();
        assert!(matches!(p.cached(Uuid::new_v4(), None), Cached::Bypass));
        let p = Principals::new(Duration::from_millis(1), Metrics::default());
        p.listening();
        let id = Uuid::new_v4();
        let g = miss(&p, id, None);
        p.store(g, id, Some(person(id, false)), None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(hit(&p, id, None).is_none());
    }

    /// Readers fill the cache from a "database" (a version per user) while a writer changes
    /// it and sends the notice after each change, as a commit would. Whatever the
    /// interleaving, once the notices are all handled the cache holds no stale version.
    #[test]
    fn concurrent_reads_never_keep_a_stale_version() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let p = principals();
        let id = Uuid::new_v4();
        let version = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (p, version, stop) = (p.clone(), version.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Cached::Miss(g) = p.cached(id, None) {
                            let read = version.load(Ordering::SeqCst);
                            std::thread::yield_now();
                            let mut user = person(id, false);
                            user.display_name = read.to_string();
                            p.store(g, id, Some(user), None);
                        }
                    }
                })
            })
            .collect();
        for _ in 0..2_000 {
            version.fetch_add(1, Ordering::SeqCst);
            std::thread::yield_now();
            p.notice(&format!("user:{id}"));
        }
        stop.store(true, Ordering::SeqCst);
        for reader in readers {
            reader.join().unwrap();
        }
        let latest = version.load(Ordering::SeqCst).to_string();
        match p.cached(id, None) {
            Cached::Hit(Some(user)) => assert_eq!(user.display_name, latest),
            Cached::Miss(_) => {}
            _ => panic!("unexpected state"),
        }
    }
}
