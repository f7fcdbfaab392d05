//! Faults and attacks: input at the edges of the calendar and forged cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

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
