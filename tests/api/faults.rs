//! Faults and attacks: input at the edges of the calendar and forged cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use belong::auth::token::AccessTokens;
use belong::config::Settings;
use belong::startup::{AppState, Application};
use secrecy::SecretString;
use sqlx::PgPool;

use crate::helpers::{fresh_database, spawn_app, test_settings};

/// The application started by a test that needs more than `spawn_app` gives: its metrics
/// address, its database URL (a second instance on the same database), its own settings.
#[allow(dead_code)] // each test reads what it needs
pub struct Running {
    pub base: String,
    pub metrics: Option<std::net::SocketAddr>,
    pub database_url: String,
    pub pool: PgPool,
    pub tokens: AccessTokens,
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the application on a fresh database.
pub async fn start(configure: impl FnOnce(&mut Settings)) -> Running {
    start_on(&fresh_database().await, configure).await
}

/// Starts the application on the database at `url` (the service connects to
/// `settings.database.url`, which `configure` may point elsewhere, through a proxy).
pub async fn start_on(url: &str, configure: impl FnOnce(&mut Settings)) -> Running {
    let mut settings = test_settings();
    settings.database.url = Some(SecretString::from(url.to_string()));
    configure(&mut settings);
    if std::env::var_os("TEST_LOG").is_some() {
        belong::telemetry::init(&settings.log);
    }
    let pool = belong::db::connect(&settings.database).await.unwrap();
    let tokens = AccessTokens::new(&settings.auth);
    let state = AppState::new(settings, pool.clone()).unwrap();
    let app = Application::bind(state).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let metrics = app.metrics_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.serve(async {
        let _ = rx.await;
    }));
    Running {
        base,
        metrics,
        database_url: url.to_string(),
        pool,
        tokens,
        shutdown: Some(tx),
        served,
    }
}

fn field_of(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `9999-12-31T23:00:00-05:00` is valid as written and in the year 10000 in UTC: every place
/// that takes an instant answers 422 naming the field, and a forged cursor holding it is refused.
#[tokio::test]
async fn instants_past_year_9999_in_utc_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let far = "9999-12-31T23:00:00-05:00";
    let q = "9999-12-31T23%3A00%3A00-05%3A00";

    let (status, body) = app
        .get(
            &format!("/api/v1/groups/pride/events?from={q}"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_of(&body), ["from"]);

    let (status, body) = app
        .get(
            &format!("/api/v1/reports/groups.csv?from={q}"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_of(&body), ["from"]);

    let (status, body) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&admin.token),
            json!({"title": "Far", "starts_at": far, "ends_at": far, "audience": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = field_of(&body);
    assert!(fields.contains(&"starts_at".to_string()), "{body}");
    assert!(fields.contains(&"ends_at".to_string()), "{body}");

    let id = uuid::Uuid::new_v4();
    let forged = URL_SAFE_NO_PAD.encode(json!([far, id]).to_string());
    for path in [
        format!("/api/v1/groups/pride/events?cursor={forged}"),
        format!("/api/v1/groups/pride/mentoring-offers?cursor={forged}"),
    ] {
        let (status, body) = app.get(&path, Some(&admin.token)).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{path}: {status} {body}"
        );
        assert_eq!(field_of(&body), ["cursor"], "{path}");
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Every answer (success, 401, 404, 405, the docs and their script) carries the security
/// headers; the policy allows no inline or outside script; no HSTS over plain http.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let client = &app.client;
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::GET, "/api/v1/me"),
        (reqwest::Method::GET, "/api/v1/nowhere"),
        (reqwest::Method::DELETE, "/healthz"),
        (reqwest::Method::GET, "/api/openapi.json"),
        (reqwest::Method::GET, "/api/docs"),
        (reqwest::Method::GET, "/api/docs/scalar.js"),
        (reqwest::Method::GET, "/not-an-api-page"),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let csp = header(&response, "content-security-policy");
        assert!(
            csp.contains("default-src 'self'"),
            "{method} {path}: {csp:?}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("form-action 'self'"), "{path}: {csp}");
        let scripts = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or("");
        assert!(
            !scripts.contains("unsafe") && !scripts.contains("http"),
            "{path}: {csp}"
        );
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            "same-origin",
            "{path}"
        );
        assert_eq!(header(&response, "strict-transport-security"), "", "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            "",
            "{path}"
        );
    }

    // The reference page loads its script from the service, and the script is served.
    let page = client
        .get(format!("{}/api/docs", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<script src="/api/docs/scalar.js"></script>"#),
        "{page}"
    );
    assert!(
        !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let script = client
        .get(format!("{}/api/docs/scalar.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    assert!(script.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_address_is_https() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.server.public_url = "https://belong.example.com".into();
    })
    .await;
    let response = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        header(&response, "strict-transport-security").starts_with("max-age="),
        "{:?}",
        response.headers()
    );
}

/// Without configured origins a preflight from another site gets no CORS grant; with one,
/// that origin alone is granted.
#[tokio::test]
async fn cors_is_closed_unless_origins_are_configured() {
    let preflight = |app: &crate::helpers::TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/api/v1/me", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let closed = spawn_app().await;
    let response = preflight(&closed, "https://evil.example.com")
        .await
        .unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), "");

    let open = crate::helpers::spawn_app_with(|s| {
        s.server.cors_origins = vec!["https://intranet.example.com".into()];
    })
    .await;
    let response = preflight(&open, "https://intranet.example.com")
        .await
        .unwrap();
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        "https://intranet.example.com"
    );
    assert!(header(&response, "access-control-allow-headers").contains("authorization"));
    let response = preflight(&open, "https://evil.example.com").await.unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn metrics_are_off_by_default_and_never_on_the_public_address() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, doc) = app.get("/api/openapi.json", None).await;
    assert!(
        doc["paths"].get("/metrics").is_none(),
        "metrics are not part of the API"
    );
}

async fn login_from(
    app: &crate::helpers::TestApp,
    email: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"email": email, "password": "wrong password, again"}));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

/// One password tried across many accounts from one address is stopped at the per-client
/// limit (with Retry-After), though no single email reached its own; another client, named by
/// a trusted proxy, is not; a client cannot pick its address with X-Forwarded-For.
#[tokio::test]
async fn failed_sign_ins_are_limited_per_client_address() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.auth.max_failed_logins_per_client = 4;
    })
    .await;
    for i in 0..4 {
        let r = login_from(&app, &format!("victim{i}@example.com"), Some("203.0.113.1")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = login_from(&app, "victim9@example.com", Some("203.0.113.2")).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the header is ignored"
    );
    assert!(r.headers().contains_key("retry-after"));

    let proxied = crate::helpers::spawn_app_with(|s| {
        s.auth.max_failed_logins_per_client = 2;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for i in 0..2 {
        let r = login_from(&proxied, &format!("a{i}@example.com"), Some("203.0.113.1")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&proxied, "a3@example.com", Some("203.0.113.1")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = login_from(&proxied, "a3@example.com", Some("198.51.100.1")).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "another client is not slowed"
    );
    // A client's own spoofed entry on the left does not change the address the proxy saw.
    let r = login_from(
        &proxied,
        "a4@example.com",
        Some("198.51.100.99, 203.0.113.1"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn registrations_are_limited_per_client_address() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.auth.max_registrations_per_client = 2;
    })
    .await;
    // A form refused as invalid (before any hashing or lookup) is not counted.
    let (status, _) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "short@example.com", "password": "short", "display_name": "Short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.register("one@example.com").await;
    // A refused registration counts too: the limit also slows probing for taken emails.
    let (status, _) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "one@example.com", "password": crate::helpers::PASSWORD,
                   "display_name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "three@example.com", "password": crate::helpers::PASSWORD,
                   "display_name": "Three"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The 429 itself is not counted.
    assert_eq!(client_attempts(&app, "register").await, Some(2));
}

/// The count of `action` attempts from the tests' own address, if there is one.
async fn client_attempts(app: &crate::helpers::TestApp, action: &str) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT attempts FROM client_attempts WHERE client = '127.0.0.1' AND action = $1",
    )
    .bind(action)
    .fetch_optional(&app.pool)
    .await
    .unwrap()
}

/// People behind one address (a NAT) signing in at once, more of them than the per-address
/// limit allows: the overflow is refused, but the refusals are not counted, so once the
/// sign-ins let through are done the address has its own failures and no more. (When every 429
/// stayed counted, this burst locked the address out for the rest of the window.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_refused_by_the_address_limit_does_not_stay_counted() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.auth.max_failed_logins_per_client = 3;
        crate::helpers::burst_settings(s);
    })
    .await;
    app.register("nat@example.com").await;
    // One failure, which stays counted.
    let r = login_from(&app, "stranger0@example.com", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The sign-ins let through wait for the users table, so the rest find the limit reached.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let url = format!("{}/api/v1/auth/login", app.base);
    let burst: Vec<_> = (0..10)
        .map(|_| {
            let request = app
                .client
                .post(&url)
                .json(&json!({"email": "nat@example.com", "password": crate::helpers::PASSWORD}));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let waiting = &burst;
    crate::helpers::eventually("eight sign-ins refused", || async move {
        (waiting.iter().filter(|b| b.is_finished()).count() >= 8).then_some(())
    })
    .await;
    lock.rollback().await.unwrap();
    let mut statuses = Vec::new();
    for b in burst {
        statuses.push(b.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, refused), (2, 8), "{statuses:?}");
    assert_eq!(
        client_attempts(&app, "login").await,
        Some(1),
        "the one failure, no more"
    );

    // So the address signs in, and fails twice more, before its failures alone lock it out.
    app.login("nat@example.com").await;
    for i in 1..=2 {
        let r = login_from(&app, &format!("stranger{i}@example.com"), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "failure {i}");
    }
    let r = login_from(&app, "stranger3@example.com", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(client_attempts(&app, "login").await, Some(3));
}

/// Sign-ins refused for their email, and sign-ins refused once the address's own failures
/// reached its limit, checked no password: they neither count against the address nor move the
/// end of its lockout, which comes when the failures' window ends.
#[tokio::test]
async fn refused_sign_ins_neither_deepen_nor_extend_the_lockout() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.auth.max_failed_logins_per_client = 5;
    })
    .await; // 3 failures per email in tests
    app.register("known@example.com").await;
    for _ in 0..3 {
        let r = login_from(&app, "victim@example.com", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..4 {
        let r = login_from(&app, "victim@example.com", None).await;
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "the email's limit"
        );
    }
    assert_eq!(client_attempts(&app, "login").await, Some(3));
    for i in 0..2 {
        let r = login_from(&app, &format!("other{i}@example.com"), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Five failures: the address waits, even with the right password.
    let window_started: time::OffsetDateTime = sqlx::query_scalar(
        "SELECT window_started_at FROM client_attempts WHERE client = '127.0.0.1' AND action = 'login'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for _ in 0..6 {
        let (status, _) = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "known@example.com", "password": crate::helpers::PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let (attempts, started): (i32, time::OffsetDateTime) = sqlx::query_as(
        "SELECT attempts, window_started_at FROM client_attempts
         WHERE client = '127.0.0.1' AND action = 'login'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((attempts, started), (5, window_started));
    // When the failures' window has passed, the address signs in again.
    sqlx::query("UPDATE client_attempts SET window_started_at = now() - interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.login("known@example.com").await;
    assert_eq!(client_attempts(&app, "login").await, Some(0));
}

#[tokio::test]
async fn old_sign_in_counts_are_pruned() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO login_failures (email, failures, window_started_at)
         VALUES ('old@example.com', 2, now() - interval '2 days')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO client_attempts (client, action, attempts, window_started_at)
         VALUES ('192.0.2.1', 'login', 9, now() - interval '2 days')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let r = login_from(&app, "someone@example.com", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let stale = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM login_failures WHERE email = 'old@example.com')
                  + (SELECT count(*) FROM client_attempts WHERE client = '192.0.2.1')",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    assert_eq!(stale().await, 0);
    // A registration prunes too.
    sqlx::query(
        "INSERT INTO login_failures (email, failures, window_started_at)
         VALUES ('old@example.com', 2, now() - interval '2 days')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.register("newcomer@example.com").await;
    assert_eq!(stale().await, 0);
}

/// Sign-ins queue for the password hasher; nothing else does. While a flood of sign-ins for
/// random emails keeps the hasher busy, readiness and the directory answer: each answers while
/// sign-ins are still queued (had it queued behind them, none would be left), which no timing
/// on a busy machine can make false or true by chance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_does_not_hold_up_readiness_or_the_directory() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.auth.max_failed_logins_per_client = 10_000;
        s.auth.max_concurrent_hashes = 1;
    })
    .await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let flood: Vec<_> = (0..80)
        .map(|i| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/auth/login", app.base);
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("nobody{i}@example.com"), "password": "guess guess guess"}))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    // Wait until the hasher is busy (the first sign-ins have been answered).
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(30);
    while !flood.iter().any(|f| f.is_finished()) {
        assert!(std::time::Instant::now() < deadline, "no sign-in finished");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for path in ["/readyz", "/api/v1/groups", "/api/v1/groups/pride"] {
        let (status, body) = app.get(path, Some(&admin.token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let waiting = flood.iter().filter(|f| !f.is_finished()).count();
        assert!(waiting > 0, "the flood was over before {path} was asked");
    }
    for f in flood {
        assert_eq!(f.await.unwrap().unwrap(), StatusCode::UNAUTHORIZED);
    }
}

/// A sign-in that finds no hashing slot free within `auth.max_hash_wait_ms` is answered 503 at
/// once with Retry-After and a problem that says nothing of the account, for a known email and
/// an unknown one alike; so is a registration. None of them counts against the sign-in limits
/// or the registration limit: more of them than either limit allows, and the same person then
/// signs in. The test holds the server's only slot itself, so no hash races it for the slot.
#[tokio::test]
async fn a_sign_in_that_finds_no_hashing_slot_is_503_and_not_counted() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.auth.max_concurrent_hashes = 1;
        s.auth.max_hash_wait_ms = 0;
        s.auth.max_failed_logins_per_client = 2;
        s.auth.max_registrations_per_client = 2;
    })
    .await; // 3 failures per email in tests
    app.register("busy@example.com").await;
    let held = app.hasher.hold_slot().await.unwrap();
    let mut problems = Vec::new();
    for email in ["busy@example.com", "nobody@example.com"] {
        for attempt in 0..4 {
            let r = app
                .client
                .post(format!("{}/api/v1/auth/login", app.base))
                .json(&json!({"email": email, "password": crate::helpers::PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{email}, attempt {attempt}"
            );
            assert_eq!(r.headers()["retry-after"], "1", "{email}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
            problems.push(r.json::<Value>().await.unwrap());
        }
    }
    let problem = &problems[0];
    assert_eq!(problem["status"], 503, "{problem}");
    assert_eq!(problem["title"], "Service Unavailable", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("too many passwords are being checked"),
        "{problem}"
    );
    assert!(
        problems.iter().all(|p| p == problem),
        "the same answer whether the email has an account or not: {problems:?}"
    );
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "later@example.com", "password": crate::helpers::PASSWORD,
                   "display_name": "Later"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // Nothing of it stayed counted: not the address's sign-ins, not the emails', not the
    // registration.
    assert_eq!(client_attempts(&app, "login").await, Some(0));
    let failures: Vec<i32> = sqlx::query_scalar("SELECT failures FROM login_failures")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(failures.iter().all(|f| *f == 0), "{failures:?}");
    assert_eq!(client_attempts(&app, "register").await, Some(1));

    drop(held);
    app.login("busy@example.com").await;
    app.register("later@example.com").await;

    // The document says so for both routes.
    let (_, doc) = app.get("/api/openapi.json", None).await;
    for path in ["/api/v1/auth/login", "/api/v1/auth/register"] {
        let answer = &doc["paths"][path]["post"]["responses"]["503"];
        assert!(
            answer["description"]
                .as_str()
                .is_some_and(|d| d.contains("auth.max_hash_wait_ms")),
            "{path}: {answer}"
        );
        assert!(
            answer["headers"]["Retry-After"].is_object(),
            "{path}: {answer}"
        );
        assert!(
            answer["content"]["application/problem+json"].is_object(),
            "{path}: {answer}"
        );
    }
}

/// A client that asks for a download and then reads nothing, with a small receive window:
/// only the status line, to know from the server that the download started, holding its place.
async fn stalled_download(base: &str, path: &str, token: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    // The place is taken before the answer's head is sent: a 200 says this download holds one.
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).await.unwrap();
    assert_eq!(
        &status, b"HTTP/1.1 200",
        "a stalled download was not started"
    );
    stream
}

/// Exports are bounded: with the bound held by clients that read nothing, another download is
/// 429 with Retry-After while the directory keeps answering; the stalled downloads are given
/// up after `export_stall_secs`, and downloads work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_exports_are_bounded_and_given_up() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.reports.max_concurrent_exports = 2;
        // Long enough for a loaded machine to see the bound held, short enough to wait for.
        s.reports.export_stall_secs = 6;
    })
    .await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    // About 8 MB of CSV: more than the socket buffers between the service and a client.
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (email, password_hash, display_name, department, location)
             SELECT 'bulk' || n || repeat('x', 200) || '@example.com', 'not-a-hash',
                    repeat('N', 100), repeat('D', 100), repeat('L', 100)
             FROM generate_series(1, 20000) n RETURNING id)
         INSERT INTO memberships (group_id, user_id, type, status, visibility)
         SELECT (SELECT id FROM groups WHERE slug = 'pride'), id, 'member', 'active', 'public'
         FROM u",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let path = "/api/v1/reports/memberships.csv";
    let export = || {
        app.client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&hr.token)
    };
    // One after the other, each answered 200 by the server: both places are held before the
    // third download is asked for, so that it cannot race them for one.
    let _stalled = [
        stalled_download(&app.base, path, &hr.token).await,
        stalled_download(&app.base, path, &hr.token).await,
    ];
    let refused = export().send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    for p in ["/readyz", "/api/v1/groups", "/api/v1/groups/pride"] {
        let (status, body) = app.get(p, Some(&admin.token)).await;
        assert_eq!(status, StatusCode::OK, "{p}: {body}");
    }
    // The directory answered while both places were held: they still are now (nothing else
    // downloads, so a place given up would have stayed free).
    assert_eq!(
        export().send().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a place was freed before the directory had answered"
    );
    // The stalled downloads are given up; a reading client gets the whole file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = export().send().await.unwrap();
        if r.status() == StatusCode::OK {
            let body = r.text().await.unwrap();
            assert_eq!(body.lines().count(), 20_001);
            break;
        }
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled downloads were kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits until some other session of the test's database waits on a row lock.
async fn wait_until_blocked(pool: &PgPool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request never waited for the lock its write needs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn soon(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An RSVP to a `members` event whose access check passed, held up before its write while the
/// person leaves the group: the write re-checks under its lock and is refused; no RSVP of a
/// non-member is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsvp_racing_a_leave_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let member = app.user("Mo Member").await;
    app.join(&member, "pride", "member", None).await;
    let (status, event) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&admin.token),
            json!({"title": "Members only", "starts_at": soon(24), "ends_at": soon(26),
                   "audience": "members"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let event_id: uuid::Uuid = event["id"].as_str().unwrap().parse().unwrap();

    let mut hold = app.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM events WHERE id = $1 FOR NO KEY UPDATE")
        .bind(event_id)
        .execute(&mut *hold)
        .await
        .unwrap();
    let rsvp = {
        let client = app.client.clone();
        let url = format!("{}/api/v1/events/{event_id}/rsvp", app.base);
        let token = member.token.clone();
        tokio::spawn(async move { client.put(url).bearer_auth(token).send().await })
    };
    wait_until_blocked(&app.pool).await;
    let (status, body) = app
        .delete("/api/v1/groups/pride/membership", Some(&member.token))
        .await;
    assert!(status.is_success(), "{status} {body}");
    hold.rollback().await.unwrap();
    let answered = rsvp.await.unwrap().unwrap();
    assert_eq!(answered.status(), StatusCode::FORBIDDEN);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM rsvps WHERE user_id = $1")
        .bind(member.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// A mentoring request checked against an open offer, held up before its write while the
/// offer closes: refused with 409, and no request on the closed offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mentoring_request_racing_the_offer_closing_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let mentee = app.user("Mia Mentee").await;
    app.join(&mentee, "pride", "member", None).await;
    let (status, offer) = app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&lead.token),
            json!({"title": "Careers", "slots": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{offer}");
    let offer_id = offer["id"].as_str().unwrap().to_string();

    let mut hold = app.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(mentee.id)
        .execute(&mut *hold)
        .await
        .unwrap();
    let request = {
        let client = app.client.clone();
        let url = format!("{}/api/v1/mentoring-offers/{offer_id}/requests", app.base);
        let token = mentee.token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
        })
    };
    wait_until_blocked(&app.pool).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/mentoring-offers/{offer_id}/close"),
            Some(&lead.token),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    hold.rollback().await.unwrap();
    let answered = request.await.unwrap().unwrap();
    assert_eq!(answered.status(), StatusCode::CONFLICT);
    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM mentoring_requests")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(requests, 0);
}

/// A request to one of the instances: status and JSON body (or null).
pub async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers `email` through the instance at `base`: the new user's id.
pub async fn register_on(base: &str, email: &str) -> String {
    let password = crate::helpers::PASSWORD;
    let (status, body) = call(
        base,
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        Some(json!({"email": email, "password": password, "display_name": "Two"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Signs `email` in through the instance at `base`: the token pair.
pub async fn login_on(base: &str, email: &str) -> Value {
    let password = crate::helpers::PASSWORD;
    let (status, body) = call(
        base,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Two instances on one database, as behind a load balancer: what happens through one holds
/// on the other at its next request, though the other has the principal in its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_agree() {
    use reqwest::Method;
    let a = start(|_| {}).await;
    let b = start_on(&a.database_url, crate::principals::with_metrics).await;
    crate::principals::wait_until_listening(&b).await;
    let admin_id = register_on(&a.base, "admin@example.com").await;
    let hr_id = register_on(&a.base, "hr@example.com").await;
    let person_id = register_on(&a.base, "person@example.com").await;
    for (id, role) in [(&admin_id, "admin"), (&hr_id, "hr")] {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1::uuid, $2::global_role)")
            .bind(id)
            .bind(role)
            .execute(&a.pool)
            .await
            .unwrap();
    }
    let admin = login_on(&a.base, "admin@example.com").await;
    let admin_token = admin["access_token"].as_str().unwrap().to_string();

    // A token from one works on the other (twice: the second time from its cache).
    let person = login_on(&a.base, "person@example.com").await;
    let token = person["access_token"].as_str().unwrap().to_string();
    let hits = crate::principals::lookups(&b, "hit").await;
    for _ in 0..2 {
        let (status, _) = call(&b.base, Method::GET, "/api/v1/me", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(crate::principals::lookups(&b, "hit").await > hits);

    // A logout through one ends the session on the other: its refresh token is dead there,
    // and so is its access token, at the next request.
    let refresh = json!({"refresh_token": person["refresh_token"]});
    let (status, _) = call(
        &a.base,
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(refresh.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &b.base,
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(refresh),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&b.base, Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A role revoked through one: the next request on the other is refused.
    let hr = login_on(&b.base, "hr@example.com").await;
    let hr_token = hr["access_token"].as_str().unwrap().to_string();
    let report = "/api/v1/reports/groups.csv";
    let (status, _) = call(&b.base, Method::GET, report, Some(&hr_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &a.base,
        Method::PUT,
        &format!("/api/v1/admin/users/{hr_id}/roles"),
        Some(&admin_token),
        Some(json!({"roles": []})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&b.base, Method::GET, report, Some(&hr_token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A deactivation through one: the next request on the other is 401.
    let person = login_on(&b.base, "person@example.com").await;
    let token = person["access_token"].as_str().unwrap().to_string();
    let (status, _) = call(&b.base, Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &a.base,
        Method::POST,
        &format!("/api/v1/admin/users/{person_id}/deactivate"),
        Some(&admin_token),
        None,
    )
    .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, _) = call(&b.base, Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Failed sign-ins count across both (the limit is 3 in tests).
    let wrong = json!({"email": "admin@example.com", "password": "not the password at all"});
    for base in [&a.base, &b.base, &a.base] {
        let (status, _) = call(
            base,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(wrong.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = call(
        &b.base,
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(wrong),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// A TCP proxy between the service and PostgreSQL that a test can cut: while cut, it closes
/// every connection it carries (as when the server's backends are terminated) and refuses new
/// ones by closing them at once.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// One request of the load during an outage: its status, whether it said when to retry, and
/// how long it took.
#[derive(Debug)]
struct Answer {
    path: &'static str,
    status: StatusCode,
    retry_after: bool,
    took: std::time::Duration,
    at: std::time::Instant,
}

/// PostgreSQL goes away for 10 s under load: every answer is 200 or a 503 with Retry-After
/// within the acquire timeout (never a hang, never a 500), /readyz says 503; within 5 s of its
/// return every request succeeds again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_with_retry_after_and_recovers() {
    let real = fresh_database().await;
    let (prefix, rest) = real.split_once('@').unwrap();
    let (upstream, database) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(upstream.to_string()).await;
    let proxied = format!("{prefix}@{}/{database}", proxy.addr);
    let acquire = std::time::Duration::from_millis(1000);
    let app = start_on(&proxied, |s| {
        s.database.acquire_timeout_ms = 1000;
    })
    .await;
    let user: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, display_name) VALUES ('o@example.com', 'x', 'O')
         RETURNING id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let token = crate::helpers::token_for(&app.pool, &app.tokens, user).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|i| {
            let (base, token, stop) = (app.base.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(20))
                    .build()
                    .unwrap();
                let path = if i == 0 { "/readyz" } else { "/api/v1/groups" };
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let at = std::time::Instant::now();
                    let r = client
                        .get(format!("{base}{path}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("an answer, not a hang or a dropped connection");
                    answers.push(Answer {
                        path,
                        status: r.status(),
                        retry_after: r.headers().contains_key("retry-after"),
                        took: at.elapsed(),
                        at,
                    });
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    proxy.set_cut(true);
    let cut_at = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    // Taken before the database returns: an answer given after this instant may come from the
    // returned database, however long this thread was paused in between.
    let back_at = std::time::Instant::now();
    proxy.set_cut(false);
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut during = 0;
    for task in load {
        for a in task.await.unwrap() {
            assert!(
                a.status == StatusCode::OK || a.status == StatusCode::SERVICE_UNAVAILABLE,
                "{}: {a:?}",
                a.path
            );
            if a.status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(a.retry_after, "a 503 without Retry-After: {a:?}");
                // Within the acquire timeout, with room for a loaded machine.
                assert!(
                    a.took < acquire + std::time::Duration::from_secs(2),
                    "{a:?}"
                );
            }
            // Asked more than a second into the outage and answered before its end.
            if a.at > cut_at + std::time::Duration::from_secs(1) && a.at + a.took < back_at {
                let offset = a.at - cut_at;
                assert_eq!(
                    a.status,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{offset:?} into the outage: {a:?}"
                );
                during += 1;
            }
            if a.at > back_at + std::time::Duration::from_secs(5) {
                assert_eq!(a.status, StatusCode::OK, "not recovered 5 s after: {a:?}");
            }
        }
    }
    assert!(during > 4, "the load did not run during the outage");
}

/// SIGTERM under load: requests in flight complete, new connections are refused, the binary
/// exits 0 within the grace period, and no answer is a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_and_exits_zero() {
    let url = fresh_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_belong"))
        .env("DATABASE_URL", &url)
        .env("BELONG_ENV", "test")
        .env("BELONG__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("BELONG__SERVER__SHUTDOWN_GRACE_SECS", "10")
        .env("BELONG__AUTH__JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("BELONG__LOG__FILTER", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the binary never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Sign-ins take tens of milliseconds of hashing each: a load with requests in flight.
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        Some(
            json!({"email": "load@example.com", "password": crate::helpers::PASSWORD,
                    "display_name": "Load"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let load: Vec<_> = (0..6)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut statuses = Vec::new();
                loop {
                    let sent = client
                        .post(format!("{base}/api/v1/auth/login"))
                        .json(&json!({"email": "load@example.com",
                                      "password": crate::helpers::PASSWORD}))
                        .send()
                        .await;
                    match sent {
                        Ok(r) => statuses.push(r.status()),
                        // Refused: the server no longer takes connections.
                        Err(_) => return statuses,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pid = child.id().unwrap();
    let signalled = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .expect("the binary did not exit within the grace period")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(signalled.elapsed() < std::time::Duration::from_secs(11));
    let mut answered = 0;
    for task in load {
        for s in task.await.unwrap() {
            assert!(!s.is_server_error(), "{s}");
            answered += 1;
        }
    }
    assert!(answered > 6, "the load did not run");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "new requests must be refused after the shutdown"
    );
}

/// A state digest of what the lead writes below touch: group texts, events, offers, requests
/// and the memberships of `people`.
async fn lead_writes_digest(pool: &PgPool, people: &[uuid::Uuid]) -> String {
    sqlx::query_scalar(
        "SELECT concat_ws('|',
             (SELECT string_agg(slug || tagline || privacy_notice_version, ',' ORDER BY slug) FROM groups),
             (SELECT string_agg(title || coalesce(cancelled_at::text, '-'), ',' ORDER BY id) FROM events),
             (SELECT string_agg(coalesce(closed_at::text, '-'), ',' ORDER BY id) FROM mentoring_offers),
             (SELECT string_agg(status::text, ',' ORDER BY id) FROM mentoring_requests),
             (SELECT string_agg(user_id || status::text || role::text, ',' ORDER BY user_id)
                FROM memberships WHERE user_id = ANY($1)))",
    )
    .bind(people)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every write a lead makes for their group re-checks their standing under the write's lock:
/// a lead whose request passed the check and was then held up while an admin demoted them is
/// refused with 403, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lead_write_re_checks_a_demotion_under_its_lock() {
    use reqwest::Method;
    let app = spawn_app().await;
    let admin = app.admin().await;
    let cases = [
        "create an event",
        "approve",
        "promote",
        "remove",
        "edit the page",
        "edit the notice",
        "edit an event",
        "cancel an event",
        "close an offer",
        "accept a request",
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let slug = format!("group-{i}");
        let policy = if case == "approve" {
            "approval"
        } else {
            "open"
        };
        app.create_group(&admin, &slug, &format!("Group {i}"), policy)
            .await;
        let lead = app.user(&format!("Lead {i}")).await;
        app.make_lead(&admin, &lead, &slug).await;
        let other = app.user(&format!("Other {i}")).await;
        app.join(&other, &slug, "member", Some("public")).await;
        let third = app.user(&format!("Third {i}")).await;
        let event = |app_token: String| {
            let slug = slug.clone();
            let app = &app;
            async move {
                let (status, event) = app
                    .post(
                        &format!("/api/v1/groups/{slug}/events"),
                        Some(&app_token),
                        json!({"title": "Planned", "starts_at": soon(24), "ends_at": soon(26),
                               "audience": "everyone"}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{event}");
                event["id"].as_str().unwrap().to_string()
            }
        };
        // An offer whose mentor is `other`, so that the demoted lead is not its mentor.
        let offer = || {
            let slug = slug.clone();
            let (app, lead, other) = (&app, &lead, &other);
            async move {
                let (status, offer) = app
                    .post(
                        &format!("/api/v1/groups/{slug}/mentoring-offers"),
                        Some(&lead.token),
                        json!({"title": "Careers", "slots": 2, "mentor_id": other.id}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{offer}");
                offer["id"].as_str().unwrap().to_string()
            }
        };
        let (method, path, body) = match case {
            "create an event" => (
                Method::POST,
                format!("/api/v1/groups/{slug}/events"),
                Some(
                    json!({"title": "Too late", "starts_at": soon(24), "ends_at": soon(26),
                            "audience": "everyone"}),
                ),
            ),
            "approve" => (
                Method::PATCH,
                format!("/api/v1/groups/{slug}/members/{}", other.id),
                Some(json!({"status": "active"})),
            ),
            "promote" => (
                Method::PATCH,
                format!("/api/v1/groups/{slug}/members/{}", other.id),
                Some(json!({"role": "lead"})),
            ),
            "remove" => (
                Method::DELETE,
                format!("/api/v1/groups/{slug}/members/{}", other.id),
                None,
            ),
            "edit the page" => (
                Method::PATCH,
                format!("/api/v1/groups/{slug}"),
                Some(json!({"tagline": "Changed"})),
            ),
            "edit the notice" => (
                Method::PUT,
                format!("/api/v1/groups/{slug}/privacy-notice"),
                Some(json!({"text": "Who sees what, changed."})),
            ),
            "edit an event" => (
                Method::PATCH,
                format!("/api/v1/events/{}", event(lead.token.clone()).await),
                Some(json!({"title": "Changed"})),
            ),
            "cancel an event" => (
                Method::POST,
                format!("/api/v1/events/{}/cancel", event(lead.token.clone()).await),
                Some(json!({})),
            ),
            "close an offer" => (
                Method::POST,
                format!("/api/v1/mentoring-offers/{}/close", offer().await),
                Some(json!({})),
            ),
            "accept a request" => {
                let offer_id = offer().await;
                app.join(&third, &slug, "member", None).await;
                let (status, request) = app
                    .post(
                        &format!("/api/v1/mentoring-offers/{offer_id}/requests"),
                        Some(&third.token),
                        json!({"message": "Hello"}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{request}");
                (
                    Method::PATCH,
                    format!(
                        "/api/v1/mentoring-requests/{}",
                        request["id"].as_str().unwrap()
                    ),
                    Some(json!({"status": "accepted"})),
                )
            }
            other => unreachable!("{other}"),
        };
        let people = [other.id, third.id];
        let before = lead_writes_digest(&app.pool, &people).await;

        let mut hold = app.pool.begin().await.unwrap();
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(lead.id)
            .execute(&mut *hold)
            .await
            .unwrap();
        let write = {
            let client = app.client.clone();
            let url = format!("{}{path}", app.base);
            let token = lead.token.clone();
            tokio::spawn(async move {
                let mut request = client.request(method, url).bearer_auth(token);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                request.send().await
            })
        };
        wait_until_blocked(&app.pool).await;
        app.change_member(&admin, &slug, &lead, json!({"role": "member"}))
            .await;
        hold.rollback().await.unwrap();
        let answered = write.await.unwrap().unwrap();
        assert_eq!(answered.status(), StatusCode::FORBIDDEN, "{case}");
        assert_eq!(
            lead_writes_digest(&app.pool, &people).await,
            before,
            "{case}: a demoted lead's write changed something"
        );
    }
}

/// Two co-leads demoting each other at the same moment: each write locks its author's
/// standing and then the other's membership, so they may deadlock; PostgreSQL then rolls one
/// back, which is a 409 to try again (never a 500), and exactly one of them steps down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leads_demoting_each_other_at_once_leave_one_lead() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for round in 0..8 {
        let slug = format!("group-{round}");
        app.create_group(&admin, &slug, &format!("Group {round}"), "open")
            .await;
        let a = app.user(&format!("Ana {round}")).await;
        let b = app.user(&format!("Ben {round}")).await;
        app.make_lead(&admin, &a, &slug).await;
        app.make_lead(&admin, &b, &slug).await;
        let demote = |actor: &crate::helpers::TestUser, target: &crate::helpers::TestUser| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/groups/{slug}/members/{}", app.base, target.id);
            let token = actor.token.clone();
            async move {
                client
                    .patch(url)
                    .bearer_auth(token)
                    .json(&json!({"role": "member"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        let mut statuses = crate::helpers::all_at_once(vec![demote(&a, &b), demote(&b, &a)]).await;
        statuses.sort();
        assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
        assert!(
            matches!(statuses[1], StatusCode::CONFLICT | StatusCode::FORBIDDEN),
            "{statuses:?}"
        );
        let leads: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memberships m JOIN groups g ON g.id = m.group_id
             WHERE g.slug = $1 AND m.role = 'lead'",
        )
        .bind(&slug)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(leads, 1);
    }
}
