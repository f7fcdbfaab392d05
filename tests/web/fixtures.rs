//! What the journeys start from, made through the JSON API as the people themselves would.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{PASSWORD, TestApp, TestUser};

/// Someone who can sign in on the pages (a real password hash), with an API token too.
pub async fn person(app: &TestApp, name: &str) -> TestUser {
    let email = format!(
        "{}-{}@example.com",
        name.to_lowercase().replace(' ', "."),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "display_name": name, "department": "Nursing", "location": "Leeds"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().parse().unwrap();
    let tokens = app.login(&email).await;
    TestUser {
        id,
        email,
        token: tokens["access_token"].as_str().unwrap().to_string(),
    }
}

pub fn in_days(days: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&Rfc3339)
        .unwrap()
}

/// An event of a group, posted by a lead or an admin.
pub async fn event(
    app: &TestApp,
    by: &TestUser,
    slug: &str,
    title: &str,
    capacity: Option<i64>,
) -> Value {
    let (status, body) = app
        .post(
            &format!("/api/v1/groups/{slug}/events"),
            Some(&by.token),
            json!({"title": title, "starts_at": in_days(7), "ends_at": in_days(8),
                   "location": "Room 4", "capacity": capacity, "audience": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

pub async fn rsvp(app: &TestApp, user: &TestUser, event: &Value) -> Value {
    let (status, body) = app
        .put(
            &format!("/api/v1/events/{}/rsvp", event["id"].as_str().unwrap()),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}
