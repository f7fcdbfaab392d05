//! Operations routes and the behaviour every route shares.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, test_settings};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _) = app.get("/api/v1/me", None).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
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
    let state = belong::startup::AppState::new(settings, pool).unwrap();
    let app = belong::startup::Application::bind(state).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.serve(std::future::pending()));
    let client = reqwest::Client::new();
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
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
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
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let r = app
        .client
        .get(format!("{}/api/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("openapi"));
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let app = crate::helpers::spawn_app().await;
    // A sign-in takes tens of milliseconds of hashing: stop the server while one runs.
    app.register("slow@example.com").await;
    let client = app.client.clone();
    let url = format!("{}/api/v1/auth/login", app.base);
    let (_, _) = app.get("/healthz", None).await; // an open keep-alive connection
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"email": "slow@example.com", "password": crate::helpers::PASSWORD}))
            .send()
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    drop(app); // drops the shutdown sender: graceful shutdown begins
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
