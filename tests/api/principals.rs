//! The principals' cache across instances: what one instance keeps is forgotten when another
//! changes it, when its listener loses its connection, and a read racing a change never keeps
//! the old state. (The plain two-instance guarantees are in `faults.rs`.)

use reqwest::{Method, StatusCode};
use serde_json::json;

use belong::config::Settings;

use crate::faults::{Running, call, login_on, register_on, start, start_on};
use crate::helpers::eventually;

/// Settings that serve `/metrics` on an address of its own, where a test reads the cache's
/// counters and whether the listener listens.
pub fn with_metrics(settings: &mut Settings) {
    settings.server.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
}

/// The value of a metric line that starts with `series` (name and labels), or 0.
async fn metric(app: &Running, series: &str) -> f64 {
    let addr = app.metrics.expect("started with_metrics");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix(series))
        .find_map(|rest| rest.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// How many principals the instance found `outcome` ("hit", "miss", "bypass").
pub async fn lookups(app: &Running, outcome: &str) -> u64 {
    metric(
        app,
        &format!("belong_principal_lookups_total{{outcome=\"{outcome}\"}}"),
    )
    .await as u64
}

async fn listener_up(app: &Running) -> bool {
    metric(app, "belong_notice_listener_up").await == 1.0
}

async fn listener_connections(app: &Running) -> u64 {
    metric(app, "belong_notice_listener_connections_total").await as u64
}

/// Waits until the instance's listener listens (its cache is bypassed until then).
pub async fn wait_until_listening(app: &Running) {
    eventually("the notice listener to listen", || async {
        listener_up(app).await.then_some(())
    })
    .await;
}

/// Registers and signs in through `app`: the user's id and access token.
async fn person(app: &Running, email: &str) -> (String, String) {
    let id = register_on(&app.base, email).await;
    let pair = login_on(&app.base, email).await;
    (id, pair["access_token"].as_str().unwrap().to_string())
}

/// Makes `id` an admin straight in the database; the instances hear of it before this returns.
async fn grant_admin(app: &Running, id: &str) {
    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1::uuid, 'admin')")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    belong::db::notices::settle(&app.pool).await;
}

/// What an admin-only page answers `token` on `app`: 200 for an admin, 403 otherwise.
async fn admin_page(app: &Running, token: &str) -> StatusCode {
    call(
        &app.base,
        Method::GET,
        "/api/v1/admin/users?limit=1",
        Some(token),
        None,
    )
    .await
    .0
}

/// Terminates every notice listener's connection to the database (both instances').
async fn terminate_listeners(app: &Running) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'belong listener') AS t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// While the listener is away, the cache is bypassed: a change made then (whose notice the
/// instance never gets) is read at the next request; once it listens again, nothing it held
/// from before is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bypassed_while_the_listener_is_away_and_dropped_when_it_returns() {
    let a = start(with_metrics).await;
    // B keeps connections enough to answer while the database takes no new one.
    let b = start_on(&a.database_url, |s| {
        with_metrics(s);
        s.database.min_connections = 4;
    })
    .await;
    wait_until_listening(&a).await;
    wait_until_listening(&b).await;
    let (id, token) = person(&a, "kept@example.com").await;
    // B keeps the person as no admin.
    assert_eq!(admin_page(&b, &token).await, StatusCode::FORBIDDEN);
    let hits = lookups(&b, "hit").await;
    assert_eq!(admin_page(&b, &token).await, StatusCode::FORBIDDEN);
    assert_eq!(lookups(&b, "hit").await, hits + 1);

    // The listeners are cut off and cannot come back: the database takes no new connection.
    // (Every instance's pool keeps the connections it has.)
    eventually("B's pool to hold its idle connections", || async {
        (b.pool.num_idle() >= 4).then_some(())
    })
    .await;
    let mut owner = a.pool.acquire().await.unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut *owner)
        .await
        .unwrap();
    let mut server = {
        use sqlx::Connection;
        let url = belong::db::with_database(&a.database_url, "postgres").unwrap();
        sqlx::PgConnection::connect(&url).await.unwrap()
    };
    let allow = |yes: bool| {
        format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {yes}",
            belong::db::quote_ident(&database)
        )
    };
    sqlx::raw_sql(&allow(false))
        .execute(&mut server)
        .await
        .unwrap();
    assert_eq!(terminate_listeners(&a).await, 2);
    eventually("B to notice its listener is gone", || async {
        (!listener_up(&b).await).then_some(())
    })
    .await;

    // A change B never hears of is read at its next request: its cache is bypassed.
    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1::uuid, 'admin')")
        .bind(&id)
        .execute(&mut *owner)
        .await
        .unwrap();
    let bypassed = lookups(&b, "bypass").await;
    assert_eq!(admin_page(&b, &token).await, StatusCode::OK);
    assert_eq!(lookups(&b, "bypass").await, bypassed + 1);

    // Back: B listens again and forgot what it kept before, so the admin is served as one.
    sqlx::raw_sql(&allow(true))
        .execute(&mut server)
        .await
        .unwrap();
    drop(owner);
    eventually("B's listener to connect again", || async {
        (listener_up(&b).await && listener_connections(&b).await >= 2).then_some(())
    })
    .await;
    assert_eq!(admin_page(&b, &token).await, StatusCode::OK);
    assert_eq!(admin_page(&b, &token).await, StatusCode::OK);
    assert!(
        lookups(&b, "hit").await > hits + 1,
        "B serves from its cache again"
    );
}

/// Requests on B keep reading the person's principal while A changes their role again and
/// again: reads that began before a change are never kept, so after each change (answered
/// once every instance has seen it) B's next request sees the new role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_changes_never_keep_the_old_state() {
    let a = start(with_metrics).await;
    let b = start_on(&a.database_url, with_metrics).await;
    wait_until_listening(&a).await;
    wait_until_listening(&b).await;
    let (admin_id, admin_token) = person(&a, "admin@example.com").await;
    grant_admin(&a, &admin_id).await;
    let (id, token) = person(&a, "toggled@example.com").await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (base, token, stop) = (b.base.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut answered = 0u32;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let response = client
                        .get(format!("{base}/api/v1/admin/users?limit=1"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap();
                    assert!(
                        [StatusCode::OK, StatusCode::FORBIDDEN].contains(&response.status()),
                        "{}",
                        response.status()
                    );
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    for round in 0..12 {
        let admin = round % 2 == 0;
        let roles = if admin { json!(["admin"]) } else { json!([]) };
        let (status, body) = call(
            &a.base,
            Method::PUT,
            &format!("/api/v1/admin/users/{id}/roles"),
            Some(&admin_token),
            Some(json!({"roles": roles})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let expected = if admin {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        for instance in [&b, &a] {
            assert_eq!(
                admin_page(instance, &token).await,
                expected,
                "round {round}"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    assert!(lookups(&b, "hit").await > 0);
    assert!(lookups(&b, "miss").await > 12);
}
