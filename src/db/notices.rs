//! Notices between the instances of the service through PostgreSQL's `LISTEN`/`NOTIFY`, for
//! what each instance keeps in memory: a listener per process hands every notice to a
//! [`Subscriber`], and [`settle`] waits until every instance's listener has handled every notice
//! committed before it was called, so a change made through one instance holds on all of them
//! at their next request.
//!
//! Notifications are lost while a listener is not connected: the subscriber hears when the
//! listener stops listening (`deaf`) and when it listens again (`listening`), and must neither
//! trust nor keep what it held across the gap.
//!
//! `settle` works without asking the instances who they are: it sends a `sync` notice, reads
//! the listeners connected to the database now (their `application_name`, set only once they
//! listen), and waits for an answer from each. PostgreSQL delivers notices to each listener in
//! commit order, so a listener that answers the `sync` has handled everything before it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use uuid::Uuid;

/// The `application_name` of a listener's connection, once it listens.
const LISTENER_NAME: &str = "belong listener";
/// Where `settle` asks every listener to answer, and where they answer.
const SYNC_CHANNEL: &str = "belong_sync";
const ACK_CHANNEL: &str = "belong_sync_ack";
/// How long `settle` waits for an instance that does not answer (a stuck process): past it,
/// that instance is trusted to forget within its cache's time to live.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What a process keeps that a notice may make stale.
pub trait Subscriber: Send + Sync + 'static {
    /// The listener listens (again): whatever was missed before must be forgotten now.
    fn listening(&self);
    /// The listener does not listen: notices may be missed from now until `listening`.
    fn deaf(&self);
    /// A notice some transaction committed.
    fn notice(&self, payload: &str);
}

/// Listens on `channel` for as long as the process runs, reconnecting after a lost connection
/// (with a growing pause, up to two seconds). Uses a connection of its own, never the pool's.
pub async fn listen(pool: &PgPool, channel: &'static str, subscriber: Arc<dyn Subscriber>) {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut pause = RETRY_FIRST;
    loop {
        let ended = session(&own, channel, subscriber.as_ref(), &mut pause).await;
        subscriber.deaf();
        match ended {
            Ok(()) => tracing::warn!("the notice listener lost its connection; reconnecting"),
            Err(error) => tracing::warn!(%error, "the notice listener stopped; reconnecting"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// One connection's life: listen, tell the subscriber, hand it every notice until the
/// connection ends (`Ok`) or fails (`Err`).
async fn session(
    pool: &PgPool,
    channel: &str,
    subscriber: &dyn Subscriber,
    pause: &mut Duration,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends the session here; the next one starts from `listening` again.
    listener.eager_reconnect(false);
    listener.listen_all([channel, SYNC_CHANNEL]).await?;
    subscriber.listening();
    // Named only now that it listens: `settle` waits for every connection of this name.
    let pid = sqlx::query_scalar!(
        r#"SELECT pg_backend_pid() AS "pid!" FROM set_config('application_name', $1, false)"#,
        LISTENER_NAME
    )
    .fetch_one(&mut listener)
    .await?;
    *pause = RETRY_FIRST;
    tracing::debug!(pid, "listening for notices");
    while let Some(notification) = listener.try_recv().await? {
        if notification.channel() == SYNC_CHANNEL {
            let answer = format!("{}:{pid}", notification.payload());
            sqlx::query!("SELECT FROM pg_notify($1, $2)", ACK_CHANNEL, answer)
                .execute(&mut listener)
                .await?;
        } else {
            subscriber.notice(notification.payload());
        }
    }
    Ok(())
}

/// Waits until every instance listening on this database has handled every notice committed
/// before this call (up to five seconds for an instance that does not answer). Call it after
/// committing a change that notifies, before answering: the change then holds on every
/// instance at its next request. Never fails: the change is committed whatever happens here,
/// and what cannot be confirmed is logged.
pub async fn settle(pool: &PgPool) {
    if let Err(error) = try_settle(pool).await {
        tracing::warn!(%error, "could not confirm that every instance saw a change");
    }
}

async fn try_settle(pool: &PgPool) -> anyhow::Result<()> {
    let mut waiter = PgListener::connect_with(pool).await?;
    waiter.listen(ACK_CHANNEL).await?;
    let nonce = Uuid::new_v4().simple().to_string();
    let listeners = sqlx::query_scalar!(
        r#"SELECT ARRAY(SELECT pid FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name = $1) AS "pids!"
           FROM (SELECT pg_notify($2, $3)) AS sent"#,
        LISTENER_NAME,
        SYNC_CHANNEL,
        nonce
    )
    .fetch_one(&mut waiter)
    .await?;
    let mut waiting: HashSet<i32> = listeners.into_iter().collect();
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    while !waiting.is_empty() {
        let Ok(notification) = tokio::time::timeout_at(deadline, waiter.recv()).await else {
            anyhow::bail!(
                "{} listener(s) did not answer within {SETTLE_TIMEOUT:?}: {waiting:?}",
                waiting.len()
            );
        };
        if let Some((answered, pid)) = notification?.payload().split_once(':')
            && answered == nonce
            && let Ok(pid) = pid.parse::<i32>()
        {
            waiting.remove(&pid);
        }
    }
    Ok(())
}
