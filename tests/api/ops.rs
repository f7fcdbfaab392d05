//! Operations routes and the behaviour every route shares.

use reqwest::StatusCode;
use serde_json::json;

use std::collections::BTreeSet;

use crate::helpers::{client, eventually, spawn_app, test_settings};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = crate::faults::start(|s| {
        s.server.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let r = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    client
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    // Never on the public address.
    let r = client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let metrics = app.metrics.expect("metrics_bind was set");
    let text = client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"belong_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("belong_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("belong_db_pool_connections{state=\"idle\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let mut settings = test_settings();
    settings.database.acquire_timeout_ms = 300;
    // Nothing listens on this port: the pool can never connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pool = belong::db::pool_options(&settings.database)
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/none"))
        .unwrap();
    let state = belong::state::AppState::new(settings, pool).unwrap();
    let app = belong::startup::Application::bind(state).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.serve(std::future::pending()));
    let client = client();
    let r = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A route that needs the database answers 503 too, never 500.
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "a@example.com", "password": "whatever-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_with_request_ids() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/api/v1/no/such/route", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(!r.headers()["x-request-id"].is_empty());
    // Outside the API's addresses the answer is not the API's error format.
    let r = app
        .client
        .get(format!("{}/no/such/page", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_ne!(r.headers()["content-type"], "application/problem+json");
    let r = app
        .client
        .delete(format!("{}/healthz", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], 405);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "patch", "delete"].contains(&k.as_str()))
                .map(|method| (path.clone(), method.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    // Every route the service serves, and nothing else.
    let routes: BTreeSet<(String, String)> = [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/admin/users", "get"),
        ("/api/v1/admin/users/{id}/roles", "put"),
        ("/api/v1/admin/users/{id}/deactivate", "post"),
        ("/api/v1/admin/audit", "get"),
        ("/api/v1/groups", "get"),
        ("/api/v1/groups", "post"),
        ("/api/v1/groups/{slug}", "get"),
        ("/api/v1/groups/{slug}", "patch"),
        ("/api/v1/groups/{slug}/archive", "post"),
        ("/api/v1/groups/{slug}/membership", "put"),
        ("/api/v1/groups/{slug}/membership", "delete"),
        ("/api/v1/groups/{slug}/members", "get"),
        ("/api/v1/groups/{slug}/members.csv", "get"),
        ("/api/v1/groups/{slug}/members/{user_id}", "patch"),
        ("/api/v1/groups/{slug}/members/{user_id}", "delete"),
        ("/api/v1/groups/{slug}/events", "get"),
        ("/api/v1/groups/{slug}/events", "post"),
        ("/api/v1/events/{id}", "get"),
        ("/api/v1/events/{id}", "patch"),
        ("/api/v1/events/{id}/cancel", "post"),
        ("/api/v1/events/{id}/rsvp", "put"),
        ("/api/v1/events/{id}/rsvp", "delete"),
        ("/api/v1/events/{id}/attendees", "get"),
        ("/api/v1/events/{id}/ics", "get"),
        ("/api/v1/me/calendar", "get"),
        ("/api/v1/me/calendar/rotate", "post"),
        ("/ical/{token}", "get"),
        ("/api/v1/groups/{slug}/mentoring-offers", "get"),
        ("/api/v1/groups/{slug}/mentoring-offers", "post"),
        ("/api/v1/mentoring-offers/{id}/close", "post"),
        ("/api/v1/mentoring-offers/{id}/requests", "get"),
        ("/api/v1/mentoring-offers/{id}/requests", "post"),
        ("/api/v1/mentoring-requests/{id}", "patch"),
        ("/api/v1/me/mentoring", "get"),
        ("/api/v1/reports/groups.csv", "get"),
        ("/api/v1/reports/memberships.csv", "get"),
        ("/api/v1/reports/breakdown.csv", "get"),
        ("/api/v1/groups/{slug}/privacy-notice", "get"),
        ("/api/v1/groups/{slug}/privacy-notice", "put"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ]
    .into_iter()
    .map(|(path, method)| (path.to_string(), method.to_string()))
    .collect();
    assert_eq!(
        routes.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );
    assert_eq!(
        documented.difference(&routes).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not in this list: add it here"
    );
    let r = app
        .client
        .get(format!("{}/api/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("openapi"));
}

/// A request held inside the server by the test (it waits for a row lock the test holds) is
/// provably in flight when the shutdown begins: the server stops taking connections at once,
/// still answers that request in full once the lock is released, and only then stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    let mut app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let ann = app.user("Ann").await;
    // A join locks the joiner's row (against a concurrent deactivation): hold it.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(ann.id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let in_flight = {
        let (client, base, token) = (app.client.clone(), app.base.clone(), ann.token.clone());
        tokio::spawn(async move {
            client
                .put(format!("{base}/api/v1/groups/pride/membership"))
                .bearer_auth(token)
                .json(&json!({"type": "member"}))
                .send()
                .await
        })
    };
    app.wait_for_lock_waiters(1).await;

    app.begin_shutdown();
    let fresh = client();
    let health = format!("{}/healthz", app.base);
    eventually("the server to refuse new connections", || async {
        fresh.get(&health).send().await.is_err().then_some(())
    })
    .await;
    // The request is still held inside the server, waiting for the lock, and the server
    // runs on for it (one that stopped at the signal would be gone by now: it ends at the
    // next timer tick, and the database round trips here take longer).
    assert_eq!(app.lock_waiters().await, 1, "the request is no longer held");
    assert!(app.membership_rows("pride").await.is_empty());
    assert!(!in_flight.is_finished(), "the request was not held");
    assert!(!app.server_stopped(), "stopped with a request in flight");

    holder.rollback().await.unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let membership: serde_json::Value = response.json().await.unwrap();
    assert_eq!(membership["status"], "active", "{membership}");
    assert_eq!(app.membership_rows("pride").await, [ann.id]);
    eventually("the server to stop", || async {
        app.server_stopped().then_some(())
    })
    .await;
}
