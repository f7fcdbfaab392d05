//! Provisioning with SCIM 2.0: users created, read, replaced, listed with filters and paging,
//! patched in the shapes Entra ID and Okta send, deactivated (with the cascade an admin's
//! deactivation has) and reactivated; tokens revoked; bad input answered in SCIM's format;
//! API and SCIM tokens never cross.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A live provisioning token, made as `belong scim-token create` makes it.
async fn token(app: &TestApp, name: &str) -> String {
    use secrecy::ExposeSecret;
    belong::accounts::provisioning::create_token(&app.pool, name)
        .await
        .unwrap()
        .expose_secret()
        .to_string()
}

/// A SCIM request: every answer, errors included, must be `application/scim+json`, and every
/// error must be in SCIM's error format with its status as a string.
async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/scim/v2{path}", app.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    if status == StatusCode::NO_CONTENT {
        assert!(text.is_empty());
        return (status, Value::Null);
    }
    assert!(
        content_type.starts_with("application/scim+json"),
        "{status} answered as {content_type:?}: {text}"
    );
    let value: Value = serde_json::from_str(&text).unwrap();
    if !status.is_success() {
        assert_eq!(value["schemas"], json!([ERROR]), "{value}");
        assert_eq!(
            value["status"],
            json!(status.as_u16().to_string()),
            "{value}"
        );
    }
    (status, value)
}

async fn create_user(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, user) = scim(app, Method::POST, "/Users", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    user
}

fn grace(external_id: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": "Grace.Hopper@Example.com",
        "externalId": external_id,
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "displayName": "Grace Hopper",
        "emails": [{"value": "grace.hopper@example.com", "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"department": "Navy"}
    })
}

async fn patch(app: &TestApp, token: &str, id: &str, operations: Value) -> Value {
    let (status, user) = scim(
        app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(token),
        Some(json!({"schemas": [PATCH], "Operations": operations})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user
}

#[tokio::test]
async fn create_read_replace_and_list_with_filters_and_paging() {
    let app = spawn_app().await;
    let token = token(&app, "entra").await;

    let created = create_user(&app, &token, grace("00u-grace")).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["userName"], "grace.hopper@example.com");
    assert_eq!(created["displayName"], "Grace Hopper");
    assert_eq!(created["name"]["familyName"], "Hopper");
    assert_eq!(created["emails"][0]["value"], "grace.hopper@example.com");
    assert_eq!(created["externalId"], "00u-grace");
    assert_eq!(created["active"], true);
    assert_eq!(created[ENTERPRISE]["department"], "Navy");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(
        created["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );

    let (status, read) = scim(
        &app,
        Method::GET,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    // The same address again: 409 uniqueness, nothing written.
    let (status, error) = scim(
        &app,
        Method::POST,
        "/Users",
        Some(&token),
        Some(grace("other")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["scimType"], "uniqueness");

    // A user principal name that is not the mail: the account's email comes from emails.
    let upn = create_user(
        &app,
        &token,
        json!({"schemas": [USER], "userName": "alan@corp.onmicrosoft.example",
               "emails": [{"value": "alan@example.com", "type": "work"}],
               "name": {"givenName": "Alan", "familyName": "Turing"},
               "addresses": [{"type": "work", "locality": "Manchester"}]}),
    )
    .await;
    assert_eq!(upn["userName"], "alan@corp.onmicrosoft.example");
    assert_eq!(upn["emails"][0]["value"], "alan@example.com");
    assert_eq!(upn["displayName"], "Alan Turing", "made from the name");
    assert_eq!(upn["addresses"][0]["locality"], "Manchester");

    // PUT replaces every attribute: what is absent is cleared.
    let mut replacement = grace("00u-grace");
    replacement["displayName"] = json!("Rear Admiral Hopper");
    replacement[ENTERPRISE] = json!({"department": "Computing"});
    replacement.as_object_mut().unwrap().remove("name");
    let (status, replaced) = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&token),
        Some(replacement),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["displayName"], "Rear Admiral Hopper");
    assert_eq!(replaced[ENTERPRISE]["department"], "Computing");
    assert!(replaced.get("name").is_none(), "{replaced}");
    let department: Option<String> =
        sqlx::query_scalar("SELECT department FROM users WHERE id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        department.as_deref(),
        Some("Computing"),
        "HR's value is the one kept"
    );

    // Filters: userName case-insensitively, externalId exactly.
    for (filter, expected) in [
        (
            r#"userName eq "GRACE.HOPPER@example.com""#,
            vec![id.clone()],
        ),
        (r#"externalId eq "00u-grace""#, vec![id.clone()]),
        (r#"externalId eq "00U-GRACE""#, vec![]),
        (
            r#"userName eq "alan@corp.onmicrosoft.example""#,
            vec![upn["id"].as_str().unwrap().to_string()],
        ),
        (r#"userName eq "nobody@example.com""#, vec![]),
    ] {
        let query = serde_urlencoded::to_string([("filter", filter)]).unwrap();
        let (status, list) = scim(
            &app,
            Method::GET,
            &format!("/Users?{query}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(
            list["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        let ids: Vec<String> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, expected, "{filter}");
        assert_eq!(list["totalResults"], expected.len(), "{filter}");
    }

    // Paging: 1-based startIndex and count walk every account once, in a stable order.
    for i in 0..3 {
        create_user(
            &app,
            &token,
            json!({"schemas": [USER], "userName": format!("person{i}@example.com")}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let (status, page) = scim(
            &app,
            Method::GET,
            &format!("/Users?startIndex={start}&count=2"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["startIndex"], start);
        let items = page["Resources"].as_array().unwrap();
        assert_eq!(page["itemsPerPage"], items.len());
        assert!(items.len() <= 2);
        if items.is_empty() {
            break;
        }
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        start += items.len();
    }
    assert_eq!(seen.len(), 5);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 5);
    let (_, empty) = scim(&app, Method::GET, "/Users?count=0", Some(&token), None).await;
    assert_eq!(empty["totalResults"], 5);
    assert_eq!(empty["Resources"], json!([]));
}

#[tokio::test]
async fn entra_and_okta_patch_shapes() {
    let app = spawn_app().await;
    let token = token(&app, "entra").await;
    let user = create_user(&app, &token, grace("entra-1")).await;
    let id = user["id"].as_str().unwrap();

    // Entra ID: capitalised ops, filtered paths, the extension's full path, unknown attributes.
    let patched = patch(
        &app,
        &token,
        id,
        json!([
            {"op": "Replace", "path": "displayName", "value": "Amazing Grace"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "grace@navy.example"},
            {"op": "Replace", "path": "name.givenName", "value": "G."},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Research"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Arlington"},
            {"op": "Add", "path": "title", "value": "Rear Admiral"}
        ]),
    )
    .await;
    assert_eq!(patched["displayName"], "Amazing Grace");
    assert_eq!(patched["emails"][0]["value"], "grace@navy.example");
    assert_eq!(patched["name"]["givenName"], "G.");
    assert_eq!(patched[ENTERPRISE]["department"], "Research");
    assert_eq!(patched["addresses"][0]["locality"], "Arlington");
    assert_eq!(patched["active"], true);

    // Entra ID: a path-less value object whose keys are paths, booleans written as strings.
    let patched = patch(
        &app,
        &token,
        id,
        json!([{"op": "Replace", "value": {
            "name.familyName": "Murray Hopper",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Fleet",
            "active": "False"
        }}]),
    )
    .await;
    assert_eq!(patched["name"]["familyName"], "Murray Hopper");
    assert_eq!(patched[ENTERPRISE]["department"], "Fleet");
    assert_eq!(patched["active"], false);
    let patched = patch(
        &app,
        &token,
        id,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(patched["active"], true);

    // Okta: lower-case ops, `{"op":"replace","value":{"active":false}}`.
    let patched = patch(
        &app,
        &token,
        id,
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    assert_eq!(patched["active"], false);
    let patched = patch(
        &app,
        &token,
        id,
        json!([{"op": "replace", "value": {"active": true, "displayName": "Grace"}},
               {"op": "remove", "path": "externalId"}]),
    )
    .await;
    assert_eq!(patched["active"], true);
    assert_eq!(patched["displayName"], "Grace");
    assert!(patched.get("externalId").is_none(), "{patched}");

    // A patch that breaks a rule changes nothing.
    let (status, error) = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(&token),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "displayName", "value": "Half-written"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "not an address"}
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["scimType"], "invalidValue");
    let (_, read) = scim(
        &app,
        Method::GET,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(read["displayName"], "Grace");
}

/// `pride` (open) with `person` as a member, and a future event of capacity 1 where `person`
/// is going and `waiting` is first on the waitlist. Answers the event id.
async fn involved(
    app: &TestApp,
    person: &crate::helpers::TestUser,
) -> (String, crate::helpers::TestUser) {
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    app.join(person, "pride", "member", None).await;
    let later = |hours: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (status, event) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&lead.token),
            json!({"title": "Workshop", "starts_at": later(24), "ends_at": later(26),
                   "capacity": 1, "audience": "everyone", "location": "Room 4"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let event_id = event["id"].as_str().unwrap().to_string();
    let waiting = app.user("Wanda Waiting").await;
    for (who, expected) in [(person, "going"), (&waiting, "waitlisted")] {
        let (status, rsvp) = app
            .put(
                &format!("/api/v1/events/{event_id}/rsvp"),
                Some(&who.token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{rsvp}");
        assert_eq!(rsvp["status"], expected);
    }
    (event_id, waiting)
}

async fn my_rsvp(app: &TestApp, token: &str, event_id: &str) -> Value {
    let (_, event) = app
        .get(&format!("/api/v1/events/{event_id}"), Some(token))
        .await;
    event["my_rsvp"].clone()
}

#[tokio::test]
async fn deactivation_through_scim_cascades_and_reactivation_restores_only_the_account() {
    let app = spawn_app().await;
    let token = token(&app, "entra-prod").await;
    // An employee who registered with a password, found by the identity provider by userName.
    let id = app.register("ada@example.com").await;
    let ada = crate::helpers::TestUser {
        id,
        email: "ada@example.com".into(),
        token: app.login("ada@example.com").await["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    let (event_id, waiting) = involved(&app, &ada).await;
    assert!(app.membership_rows("pride").await.contains(&id));

    let query =
        serde_urlencoded::to_string([("filter", r#"userName eq "ada@example.com""#)]).unwrap();
    let (_, found) = scim(
        &app,
        Method::GET,
        &format!("/Users?{query}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(found["Resources"][0]["id"], json!(id));

    // Entra ID's deactivation.
    let patched = patch(
        &app,
        &token,
        &id.to_string(),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(patched["active"], false);
    assert!(
        !app.membership_rows("pride").await.contains(&id),
        "the membership ended"
    );
    assert_eq!(
        my_rsvp(&app, &waiting.token, &event_id).await,
        "going",
        "the RSVP was cancelled and the waitlist moved"
    );
    let (status, _) = app.get("/api/v1/me", Some(&ada.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "her tokens stop at once");
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let history = app.history("pride").await;
    let ended = history.last().unwrap();
    assert_eq!(
        (ended.event.as_str(), ended.reason.as_deref()),
        ("removed", Some("deactivated"))
    );
    assert_eq!(
        ended.actor_id, None,
        "no person did it: the provisioning client did"
    );
    let (actor, details): (Option<Uuid>, Value) = sqlx::query_as(
        "SELECT actor_id, details FROM audit_log WHERE action = 'user.deactivated' AND target = $1",
    )
    .bind(id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, None);
    assert_eq!(details["via"], "scim");
    assert_eq!(
        details["scim_token"], "entra-prod",
        "the audit names the token"
    );
    assert_eq!(details["memberships_ended"], 1);
    assert_eq!(details["rsvps_cancelled"], 1);

    // Okta's reactivation: the account comes back, the membership and the RSVP do not.
    let patched = patch(
        &app,
        &token,
        &id.to_string(),
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await;
    assert_eq!(patched["active"], true);
    let tokens = app.login("ada@example.com").await;
    let fresh = tokens["access_token"].as_str().unwrap();
    assert!(
        !app.membership_rows("pride").await.contains(&id),
        "joining is her own act"
    );
    let rsvp = my_rsvp(&app, fresh, &event_id).await;
    assert!(rsvp != "going" && rsvp != "waitlisted", "{rsvp}");
    assert!(
        app.audit_actions()
            .await
            .contains(&"user.reactivated".to_string())
    );
}

#[tokio::test]
async fn delete_deactivates_and_hides_the_account_from_provisioning() {
    let app = spawn_app().await;
    let token = token(&app, "okta").await;
    let employee = app.user("Eve Employee").await;
    let (event_id, waiting) = involved(&app, &employee).await;
    let path = format!("/Users/{}", employee.id);

    let (status, _) = scim(&app, Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!app.membership_rows("pride").await.contains(&employee.id));
    assert_eq!(my_rsvp(&app, &waiting.token, &event_id).await, "going");
    let active: bool = sqlx::query_scalar("SELECT active FROM users WHERE id = $1")
        .bind(employee.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!active);
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = scim(&app, method, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let query =
        serde_urlencoded::to_string([("filter", format!("userName eq \"{}\"", employee.email))])
            .unwrap();
    let (_, list) = scim(
        &app,
        Method::GET,
        &format!("/Users?{query}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(list["totalResults"], 0);

    // Provisioned again later: the same account is taken up, active, with no memberships.
    let again = create_user(
        &app,
        &token,
        json!({"schemas": [USER], "userName": employee.email, "displayName": "Eve"}),
    )
    .await;
    assert_eq!(again["id"], json!(employee.id));
    assert_eq!(again["active"], true);
    assert!(!app.membership_rows("pride").await.contains(&employee.id));
}

#[tokio::test]
async fn provisioned_accounts_have_no_password() {
    let app = spawn_app().await;
    let token = token(&app, "entra").await;
    create_user(&app, &token, grace("g")).await;
    app.register("known@example.com").await;
    let attempt = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await
        }
    };
    let provisioned = attempt("grace.hopper@example.com", PASSWORD).await;
    let wrong = attempt("known@example.com", "a wrong password!").await;
    assert_eq!(provisioned.0, StatusCode::UNAUTHORIZED);
    assert_eq!(provisioned, wrong, "the same answer as a wrong password");
    let hash: Option<String> = sqlx::query_scalar(
        "SELECT password_hash FROM users WHERE email = 'grace.hopper@example.com'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(hash, None);
}

#[tokio::test]
async fn tokens_are_checked_revocation_bites_and_uses_are_recorded() {
    let app = spawn_app().await;
    let token = token(&app, "okta").await;
    for bad in [None, Some("belong_scim_not-a-token"), Some("garbage")] {
        let (status, _) = scim(&app, Method::GET, "/Users", bad, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    let (status, _) = scim(&app, Method::GET, "/Users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let used: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT last_used_at FROM scim_tokens WHERE name = 'okta'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(used.is_some(), "the use is recorded");
    let user = create_user(&app, &token, grace("g")).await;
    let (details,): (Value,) = sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'user.provisioned' AND target = $1",
    )
    .bind(user["id"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(details["scim_token"], "okta");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM scim_tokens WHERE name = 'okta'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    use sha2::Digest;
    assert_eq!(
        stored,
        sha2::Sha256::digest(token.as_bytes()).to_vec(),
        "only the digest is kept"
    );

    assert!(
        belong::accounts::provisioning::revoke_token(&app.pool, "okta")
            .await
            .unwrap()
    );
    let (status, error) = scim(&app, Method::GET, "/Users", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    let (status, _) = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{}", user["id"].as_str().unwrap()),
        Some(&token),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        !belong::accounts::provisioning::revoke_token(&app.pool, "okta")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn api_and_scim_tokens_do_not_cross() {
    let app = spawn_app().await;
    let scim_token = token(&app, "entra").await;
    let admin = app.admin().await;
    let (status, _) = scim(&app, Method::GET, "/Users", Some(&admin.token), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an API token does not open /scim"
    );
    let (status, _) = app.get("/api/v1/me", Some(&scim_token)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a SCIM token does not open /api"
    );
    let (status, _) = app.get("/api/v1/admin/users", Some(&scim_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_input_is_answered_in_scims_error_format() {
    let app = spawn_app().await;
    let token = token(&app, "entra").await;
    let user = create_user(&app, &token, grace("g")).await;
    let user_path = format!("/Users/{}", user["id"].as_str().unwrap());

    // Malformed JSON.
    let response = app
        .client
        .post(format!("{}/scim/v2/Users", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body("{\"userName\":")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["scimType"], "invalidSyntax");
    assert_eq!(error["schemas"], json!([ERROR]));

    for (method, path, body, scim_type) in [
        (
            Method::POST,
            "/Users".to_string(),
            json!({"schemas": [USER]}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users".to_string(),
            json!({"userName": "not an address"}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users".to_string(),
            json!({"userName": 7}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users".to_string(),
            json!({"userName": "x@example.com", "active": "perhaps"}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users".to_string(),
            json!({"userName": "x@example.com", "displayName": "x".repeat(101)}),
            "invalidValue",
        ),
        (
            Method::PUT,
            user_path.clone(),
            json!({"userName": ""}),
            "invalidValue",
        ),
        (
            Method::PATCH,
            user_path.clone(),
            json!({"schemas": [PATCH], "Operations": [{"op": "jump", "path": "active"}]}),
            "invalidSyntax",
        ),
        (
            Method::PATCH,
            user_path.clone(),
            json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]}),
            "noTarget",
        ),
        (
            Method::PATCH,
            user_path.clone(),
            json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails[type eq \"work\"", "value": "a@b.example"}]}),
            "invalidPath",
        ),
    ] {
        let (status, error) = scim(
            &app,
            method.clone(),
            &path,
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body}: {error}");
        assert_eq!(error["scimType"], scim_type, "{method} {body}: {error}");
    }
    for filter in [
        r#"displayName eq "Grace""#,
        "userName eq",
        r#"userName sw "g""#,
    ] {
        let query = serde_urlencoded::to_string([("filter", filter)]).unwrap();
        let (status, error) = scim(
            &app,
            Method::GET,
            &format!("/Users?{query}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert_eq!(error["scimType"], "invalidFilter", "{filter}");
    }
    let (status, error) = scim(&app, Method::GET, "/Users?count=many", Some(&token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "invalidValue");

    // Unknown ids, unknown routes and methods: SCIM errors too.
    for path in [
        "/Users/not-a-uuid".to_string(),
        format!("/Users/{}", Uuid::new_v4()),
        "/Groups".into(),
        "/Schemas/urn:nope".into(),
    ] {
        let (status, _) = scim(&app, Method::GET, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = scim(
        &app,
        Method::DELETE,
        "/ServiceProviderConfig",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // A body that is not JSON at all.
    let response = app
        .client
        .post(format!("{}/scim/v2/Users", app.base))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("userName=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, list) = scim(&app, Method::GET, "/Users", Some(&token), None).await;
    assert_eq!(list["totalResults"], 1, "nothing was half-written");
}

#[tokio::test]
async fn discovery_documents_describe_what_is_kept() {
    let app = spawn_app().await;
    let (status, config) = scim(&app, Method::GET, "/ServiceProviderConfig", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    let (_, types) = scim(&app, Method::GET, "/ResourceTypes", None, None).await;
    assert_eq!(types["Resources"][0]["schema"], USER);
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    let (_, schemas) = scim(&app, Method::GET, "/Schemas", None, None).await;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [USER, ENTERPRISE]);
    let (status, user) = scim(&app, Method::GET, &format!("/Schemas/{USER}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["name"], "User");
}
