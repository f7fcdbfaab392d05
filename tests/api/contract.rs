//! What fuzzing against the contract (scripts/fuzz.sh, schemathesis) found, each kept fixed: the
//! served OpenAPI document describes the answers the service gives, and the service takes what
//! the document calls valid.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn later(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The responses the served document declares for `method path`, with `$ref`s resolved.
fn documented(doc: &Value, method: &str, path: &str) -> serde_json::Map<String, Value> {
    let responses = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
        .clone();
    responses
        .into_iter()
        .map(|(status, answer)| {
            let answer = match answer["$ref"].as_str() {
                Some(r) => {
                    let name = r.trim_start_matches("#/components/responses/");
                    doc["components"]["responses"][name].clone()
                }
                None => answer,
            };
            (status, answer)
        })
        .collect()
}

/// JSON Schema's `integer` is any whole number, `3.0` included, and the document says
/// `integer` for an event's capacity, an offer's slots and a consent version: the service took
/// only `3` and answered `3.0` with a 400.
#[tokio::test]
async fn whole_numbers_written_with_a_fraction_of_zero_are_taken() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let (status, event) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&admin.token),
            json!({"title": "Picnic", "starts_at": later(24), "ends_at": later(26),
                   "capacity": 229.0, "audience": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["capacity"], 229);
    let (status, offer) = app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&admin.token),
            json!({"title": "Career talks", "slots": 2.0}),
        )
        .await;
    // The admin is no member of Pride, so no mentor: refused for that, not for `slots`.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{offer}");
    assert_eq!(crate::helpers::error_fields(&offer), ["mentor_id"]);
    // Not whole: still refused as a wrong type, naming the field.
    let (status, problem) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&admin.token),
            json!({"title": "Picnic", "starts_at": later(24), "ends_at": later(26),
                   "capacity": 2.5, "audience": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(crate::helpers::error_fields(&problem), ["capacity"]);
}

/// Answers the service gave that the document did not describe: 403 to a non-admin on the
/// admin's writes, 409 for a write to an archived group, 422 for a `limit` out of range, and
/// every error body as `application/json` where the service sends `application/problem+json`.
#[tokio::test]
async fn the_document_describes_the_answers_the_service_gives() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let person = app.user("person").await;
    let (_, doc) = app.get("/api/openapi.json", None).await;

    app.create_group(&admin, "old", "Old", "open").await;
    let (status, _) = app
        .post("/api/v1/groups/old/archive", Some(&admin.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let roles = format!("/api/v1/admin/users/{}/roles", person.id);
    let deactivate = format!("/api/v1/admin/users/{}/deactivate", person.id);
    let event =
        json!({"title": "x", "starts_at": later(24), "ends_at": later(26), "audience": "everyone"});
    let cases: [(&str, &str, StatusCode, &str); 5] = [
        (
            "put",
            "/api/v1/admin/users/{id}/roles",
            app.put(&roles, Some(&person.token), json!({"roles": []}))
                .await
                .0,
            "403",
        ),
        (
            "post",
            "/api/v1/admin/users/{id}/deactivate",
            app.post(&deactivate, Some(&person.token), json!({}))
                .await
                .0,
            "403",
        ),
        (
            "post",
            "/api/v1/groups/{slug}/events",
            app.post("/api/v1/groups/old/events", Some(&admin.token), event)
                .await
                .0,
            "409",
        ),
        (
            "post",
            "/api/v1/groups/{slug}/mentoring-offers",
            app.post(
                "/api/v1/groups/old/mentoring-offers",
                Some(&admin.token),
                json!({"title": "x", "slots": 1}),
            )
            .await
            .0,
            "409",
        ),
        (
            "get",
            "/api/v1/groups",
            app.get("/api/v1/groups?limit=0", Some(&person.token))
                .await
                .0,
            "422",
        ),
    ];
    for (method, path, status, expected) in cases {
        assert_eq!(status.as_str(), expected, "{method} {path}");
        let answers = documented(&doc, method, path);
        let answer = answers
            .get(expected)
            .unwrap_or_else(|| panic!("{method} {path} does not document {expected}"));
        assert!(
            answer["content"]["application/problem+json"].is_object(),
            "{method} {path} {expected}: {answer}"
        );
    }
    // No error answer anywhere is documented as plain JSON.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            for (status, answer) in documented(&doc, method, path) {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        answer["content"].get("application/json").is_none(),
                        "{method} {path} {status}: {answer}"
                    );
                }
            }
        }
    }
}

/// A roster entry carries the contact details only for leads and admins; the document made
/// them required in every entry (a flattened optional struct), so every entry an employee saw
/// broke the schema.
#[tokio::test]
async fn roster_entries_without_contact_details_fit_the_document() {
    let app = spawn_app().await;
    let (_, doc) = app.get("/api/openapi.json", None).await;
    let entry = &doc["components"]["schemas"]["RosterEntry"];
    let text = entry.to_string();
    assert!(
        !text.contains("ContactDetails"),
        "the entry's schema holds the required contact details: {entry}"
    );
    let contact = &doc["components"]["schemas"]["ContactShownToManagers"];
    assert!(contact["properties"]["email"].is_object(), "{contact}");
    assert!(
        contact["required"].as_array().is_none_or(|r| r.is_empty()),
        "{contact}"
    );
}
