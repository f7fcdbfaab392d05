//! The test harness: one throw-away PostgreSQL cluster per test process (or the server named by
//! `DATABASE_URL`), a migrated template database, and for each test a fresh copy of it with the
//! real application serving on a random port. Also the helpers more than one test file uses.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use belong::accounts::password::Hasher;
use belong::auth::token::AccessTokens;
use belong::config::{Environment, Settings};
use belong::db::cluster::EphemeralCluster;
use belong::startup::Application;
use belong::state::AppState;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";
pub const JWT_SECRET: &str = "test-signing-secret-0123456789-abcdef";

/// No request of a test may take longer: a deadlock fails the test instead of hanging CI.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `eventually` polls before it gives up.
pub const POLL_DEADLINE: Duration = Duration::from_secs(15);

/// An HTTP client whose every request gives up after `REQUEST_TIMEOUT`.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

struct Server {
    admin_url: String,
    /// This test process's run: it names the run's databases (`belong_template_{run}`,
    /// `belong_test_{run}_...`, `belong_empty_{run}_...`).
    run: String,
    template: String,
    /// The private cluster, removed with its databases when the test process ends; `None`
    /// when `DATABASE_URL` names a server, whose per-test databases are then dropped.
    cluster: Option<EphemeralCluster>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The advisory lock a run holds for as long as its process lives.
fn run_lock(run: &str) -> String {
    format!("belong-test-run-{run}")
}

/// Drops the databases of earlier runs whose process is gone (killed before it could clean
/// up): a live run holds its advisory lock, so only the lock of a finished one can be taken.
async fn sweep_finished_runs(conn: &mut sqlx::PgConnection, mine: &str) -> anyhow::Result<()> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname ~ '^belong_(template|test|empty)_[0-9a-f]{12}($|_)'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut runs: Vec<&str> = names
        .iter()
        .filter_map(|n| n.split('_').nth(2))
        .filter(|run| *run != mine)
        .collect();
    runs.sort_unstable();
    runs.dedup();
    for run in runs {
        let lock = run_lock(run);
        let finished: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&lock)
            .fetch_one(&mut *conn)
            .await?;
        if !finished {
            continue;
        }
        for name in names.iter().filter(|n| n.split('_').nth(2) == Some(run)) {
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(&lock)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                (belong::db::with_database(&url, "postgres").unwrap(), None)
            }
            _ => {
                let cluster = EphemeralCluster::start().unwrap_or_else(|e| panic!("{e:#}"));
                (cluster.url("postgres"), Some(cluster))
            }
        };
        let run = Uuid::new_v4().simple().to_string()[..12].to_string();
        let template = format!("belong_template_{run}");
        let (url, name, me) = (admin_url.clone(), template.clone(), run.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        // The run's keeper, on a runtime of its own (each test has its own runtime): it holds
        // the run's lock on a connection that lives as long as the process, so that a later
        // run drops this one's databases if this process dies before dropping them itself;
        // then it makes the template.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut keeper = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
                    .bind(run_lock(&me))
                    .execute(&mut keeper)
                    .await
                    .unwrap();
                sweep_finished_runs(&mut keeper, &me).await.unwrap();
                belong::db::ensure_database(&url, &name, None)
                    .await
                    .unwrap();
                let pool = PgPool::connect(&belong::db::with_database(&url, &name).unwrap())
                    .await
                    .unwrap();
                belong::db::migrate(&pool).await.unwrap();
                pool.close().await;
                ready_tx.send(()).unwrap();
                std::future::pending::<()>().await;
                drop(keeper);
            });
        });
        ready_rx
            .recv()
            .expect("the template database could not be made");
        Server {
            admin_url,
            run,
            template,
            cluster,
        }
    })
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub tokens: AccessTokens,
    /// The server's own password hasher: a test may hold its slots (`Hasher::hold_slot`).
    pub hasher: Hasher,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The database to drop with the app (on a server named by `DATABASE_URL`).
    drop_database: Option<String>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(name) = self.drop_database.take() {
            drop_database(&server().admin_url, &name);
        }
    }
}

/// Drops a test's database (closing its connections): on a runtime of its own, since `Drop`
/// cannot wait on the test's.
fn drop_database(admin_url: &str, name: &str) {
    let (url, database) = (admin_url.to_string(), name.to_string());
    let dropped = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            let statement = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
            sqlx::raw_sql(&statement).execute(&mut conn).await?;
            conn.close().await
        })
    })
    .join();
    if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
        panic!("the test database {name} could not be dropped: {dropped:?}");
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

/// An access token for `user_id` in a session started straight in the database (a refresh
/// token family of one token nobody holds).
pub async fn token_for(pool: &PgPool, tokens: &AccessTokens, user_id: Uuid) -> String {
    let family = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
         VALUES ($1, $2, $3, now() + interval '1 day')",
    )
    .bind(family)
    .bind(user_id)
    .bind(Uuid::new_v4().as_bytes().to_vec())
    .execute(pool)
    .await
    .unwrap();
    tokens.issue(user_id, family).unwrap()
}

pub fn test_settings() -> Settings {
    let mut settings = Settings::defaults_for(Environment::Test).unwrap();
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.auth.jwt_secret = Some(SecretString::from(JWT_SECRET));
    settings.auth.max_failed_logins = 3;
    settings.database.max_connections = 10;
    // Sign-ins queue for the hasher as long as a request may take (tests hash on a loaded
    // machine); the tests of a busy hasher set their own wait.
    settings.auth.max_hash_wait_ms = settings.server.request_timeout_secs.saturating_sub(1) * 1000;
    settings
}

/// Settings for the bursts: enough connections, and a pool that waits rather than fails.
pub fn burst_settings(settings: &mut Settings) {
    settings.database.max_connections = 20;
    settings.database.acquire_timeout_ms = 60_000;
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let server = server();
    let name = format!("belong_test_{}_{}", server.run, Uuid::new_v4().simple());
    belong::db::ensure_database(&server.admin_url, &name, Some(&server.template))
        .await
        .unwrap();
    let mut settings = test_settings();
    configure(&mut settings);
    if std::env::var_os("TEST_LOG").is_some() {
        belong::telemetry::init(&settings.log);
    }
    let url = belong::db::with_database(&server.admin_url, &name).unwrap();
    settings.database.url = Some(SecretString::from(url));
    let pool = belong::db::connect(&settings.database).await.unwrap();
    let tokens = AccessTokens::new(&settings.auth);
    let state = AppState::new(settings, pool.clone()).unwrap();
    let hasher = state.hasher.clone();
    let app = Application::bind(state).await.unwrap();
    let addr = app.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(app.serve(async {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        client: client(),
        pool,
        tokens,
        hasher,
        shutdown: Some(tx),
        server: server_task,
        drop_database: server.cluster.is_none().then_some(name),
    }
}

impl TestApp {
    /// Begins the graceful shutdown, as SIGTERM would: no new connections, requests in flight
    /// run to their end.
    pub fn begin_shutdown(&mut self) {
        drop(self.shutdown.take());
    }

    /// Whether the server has stopped (after a shutdown, once no request is left in flight).
    pub fn server_stopped(&self) -> bool {
        self.server.is_finished()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert!(
                content_type.starts_with("application/problem+json"),
                "{status} answered as {content_type:?}: {text}"
            );
        }
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Registers through the API (the real password path).
    pub async fn register(&self, email: &str) -> Uuid {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "display_name": "Test Person", "department": "IT", "location": "Oslo"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn login(&self, email: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A user written straight to the database with a token minted by the service's own
    /// signer: fast, for tests about what signed-in people may do.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &Uuid::new_v4().simple().to_string()[..6]
        );
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, display_name, department, location)
             VALUES ($1, 'not-a-hash', $2, 'Engineering', 'Lisbon') RETURNING id",
        )
        .bind(&email)
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        TestUser {
            id,
            email,
            token: token_for(&self.pool, &self.tokens, id).await,
        }
    }

    /// Waits until the service has seen every change committed so far (a test that writes
    /// to the database directly, as an instance's own writes do before they answer).
    pub async fn settle(&self) {
        belong::db::notices::settle(&self.pool).await;
    }

    pub async fn grant(&self, user: &TestUser, role: &str) {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2::global_role)")
            .bind(user.id)
            .bind(role)
            .execute(&self.pool)
            .await
            .unwrap();
        self.settle().await;
    }

    pub async fn admin(&self) -> TestUser {
        let admin = self.user("Ada Admin").await;
        self.grant(&admin, "admin").await;
        admin
    }

    pub async fn hr(&self) -> TestUser {
        let hr = self.user("Harriet HR").await;
        self.grant(&hr, "hr").await;
        hr
    }

    /// Deactivates `user` through the admin API, expecting 200.
    pub async fn deactivate(&self, admin: &TestUser, user: &TestUser) {
        let (status, body) = self
            .post(
                &format!("/api/v1/admin/users/{}/deactivate", user.id),
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["active"], false, "{body}");
    }

    /// How many of this database's sessions are waiting for a lock.
    pub async fn lock_waiters(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Waits until at least `n` sessions of this database wait for a lock.
    pub async fn wait_for_lock_waiters(&self, n: i64) {
        eventually(&format!("{n} sessions waiting for a lock"), || async {
            (self.lock_waiters().await >= n).then_some(())
        })
        .await
    }

    /// Checks that `table` refuses every rewrite (`UPDATE ... SET {set}`, `DELETE`, `TRUNCATE`)
    /// with its append-only error, even to the superuser the tests connect as, and that its
    /// rows are left as they were.
    pub async fn assert_append_only(&self, table: &str, set: &str) {
        let rows = || async {
            sqlx::query_scalar::<_, String>(&format!(
                "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM {table} t"
            ))
            .fetch_one(&self.pool)
            .await
            .unwrap()
        };
        let before = rows().await;
        assert!(!before.is_empty(), "{table} has no rows to protect");
        for statement in [
            format!("UPDATE {table} SET {set}"),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
        ] {
            let error = sqlx::query(&statement)
                .execute(&self.pool)
                .await
                .expect_err(&statement);
            let error = error
                .as_database_error()
                .unwrap_or_else(|| panic!("{statement}: {error}"));
            assert_eq!(
                (error.code().as_deref(), error.message()),
                (Some("42501"), format!("{table} is append-only").as_str()),
                "{statement}"
            );
        }
        assert_eq!(rows().await, before, "{table} was rewritten");
    }

    /// Waits until there are `n` audit records of `action`, and answers them oldest first:
    /// (actor, target, details). Downloads are audited when their body is dropped, a moment
    /// after the client has read it.
    pub async fn wait_for_audits(
        &self,
        action: &str,
        n: usize,
    ) -> Vec<(Option<Uuid>, Option<String>, Value)> {
        let rows = eventually(&format!("{n} audit records of {action}"), || async {
            let rows: Vec<(Option<Uuid>, Option<String>, Value)> = sqlx::query_as(
                "SELECT actor_id, target, details FROM audit_log WHERE action = $1 ORDER BY id",
            )
            .bind(action)
            .fetch_all(&self.pool)
            .await
            .unwrap();
            (rows.len() >= n).then_some(rows)
        })
        .await;
        assert_eq!(rows.len(), n, "{action}: {rows:?}");
        rows
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }
}

/// One row of `membership_history`, as the tests read it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub event: String,
    pub actor_id: Option<Uuid>,
    pub user_id: Uuid,
    pub group_id: Uuid,
    pub reason: Option<String>,
    pub role: String,
    pub status: String,
}

/// Groups and memberships through the API, as an admin, a lead or the employee would do it.
impl TestApp {
    /// Creates a group as `admin` (`join_policy` is `open` or `approval`).
    pub async fn create_group(
        &self,
        admin: &TestUser,
        slug: &str,
        name: &str,
        join_policy: &str,
    ) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/groups",
                Some(&admin.token),
                json!({
                    "slug": slug,
                    "name": name,
                    "tagline": format!("The {name} tagline"),
                    "mission": format!("What {name} is for."),
                    "join_policy": join_policy,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// `PUT /membership` as `user`; answers the membership (201 or 200 expected).
    pub async fn join(
        &self,
        user: &TestUser,
        slug: &str,
        kind: &str,
        visibility: Option<&str>,
    ) -> Value {
        let mut body = json!({ "type": kind });
        if let Some(visibility) = visibility {
            body["visibility"] = json!(visibility);
        }
        let (status, membership) = self
            .put(
                &format!("/api/v1/groups/{slug}/membership"),
                Some(&user.token),
                body,
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}: {membership}"
        );
        membership
    }

    /// `PATCH /members/{user_id}` as `manager` (a lead or an admin), expecting 200.
    pub async fn change_member(
        &self,
        manager: &TestUser,
        slug: &str,
        target: &TestUser,
        change: Value,
    ) -> Value {
        let (status, body) = self
            .patch(
                &format!("/api/v1/groups/{slug}/members/{}", target.id),
                Some(&manager.token),
                change,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Makes `user` an active lead of the group: they join as a `public` member, and the admin
    /// approves the request (in an `approval` group) and promotes them.
    pub async fn make_lead(&self, admin: &TestUser, user: &TestUser, slug: &str) {
        let membership = self.join(user, slug, "member", Some("public")).await;
        let change = if membership["status"] == "pending" {
            json!({"status": "active", "role": "lead"})
        } else {
            json!({"role": "lead"})
        };
        let led = self.change_member(admin, slug, user, change).await;
        assert_eq!(led["role"], "lead", "{led}");
        assert_eq!(led["status"], "active", "{led}");
    }

    /// Every page of a list, following `next_cursor`; `path` may already have a query string.
    pub async fn all_pages(&self, path: &str, token: &str, limit: u32) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let (status, page) = self.get(&url, Some(token)).await;
            assert_eq!(status, StatusCode::OK, "{url}: {page}");
            let got = page["items"].as_array().unwrap();
            assert!(got.len() <= limit as usize, "{url}: {page}");
            items.extend(got.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(got.len(), limit as usize, "only a full page has a next one");
                    cursor = Some(next.to_string());
                }
                None => return items,
            }
        }
        panic!("{path}: the pages never end");
    }

    /// The user ids on a group's roster as `token` sees it (every page).
    pub async fn roster_ids(&self, slug: &str, token: &str) -> Vec<Uuid> {
        self.all_pages(&format!("/api/v1/groups/{slug}/members"), token, 100)
            .await
            .iter()
            .map(|e| e["user_id"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// A group's membership history, oldest first (in the order it was appended).
    pub async fn history(&self, slug: &str) -> Vec<HistoryRow> {
        sqlx::query_as(
            "SELECT h.event::text AS event, h.actor_id, h.user_id, h.group_id, h.reason,
                    h.role::text AS role, h.status::text AS status
             FROM membership_history h JOIN groups g ON g.id = h.group_id
             WHERE g.slug = $1 ORDER BY h.id",
        )
        .bind(slug)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// The user ids with a current membership of the group, in the database.
    pub async fn membership_rows(&self, slug: &str) -> Vec<Uuid> {
        sqlx::query_scalar(
            "SELECT m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id
             WHERE g.slug = $1 ORDER BY m.user_id",
        )
        .bind(slug)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

/// A new, empty database on the test server (not migrated), dropped with this value on a
/// server named by `DATABASE_URL`.
pub struct EmptyDatabase {
    pub url: String,
    name: String,
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        let server = server();
        if server.cluster.is_none() {
            drop_database(&server.admin_url, &self.name);
        }
    }
}

pub async fn empty_database() -> EmptyDatabase {
    let server = server();
    let name = format!("belong_empty_{}_{}", server.run, Uuid::new_v4().simple());
    belong::db::ensure_database(&server.admin_url, &name, None)
        .await
        .unwrap();
    EmptyDatabase {
        url: belong::db::with_database(&server.admin_url, &name).unwrap(),
        name,
    }
}

/// The fields named by a problem's `errors`, in order.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` until it answers `Some`, for up to `POLL_DEADLINE`: for something that
/// happens after the response (an audit record written as a body is dropped, a lock being
/// waited for), never a fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + POLL_DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "waited {POLL_DEADLINE:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs every job on a task of its own, all released together by a barrier once each task
/// has started, so that they truly run at the same time. Needs a multi-threaded runtime
/// (`#[tokio::test(flavor = "multi_thread")]`): on one thread they would merely interleave.
/// Answers in the order of `jobs`; a panic in a job fails the test.
pub async fn all_at_once<T, Fut>(jobs: Vec<Fut>) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread,
        "a concurrency test on one thread would only interleave its requests"
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(jobs.len()));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                job.await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// One job of a mixed burst for `all_at_once`.
pub type Job<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The URL of a new database migrated like every test's (a copy of the template), for tests
/// that start the application themselves (two instances, a proxy in between).
pub async fn fresh_database() -> String {
    let server = server();
    let name = format!("belong_test_{}_{}", server.run, Uuid::new_v4().simple());
    belong::db::ensure_database(&server.admin_url, &name, Some(&server.template))
        .await
        .unwrap();
    belong::db::with_database(&server.admin_url, &name).unwrap()
}
