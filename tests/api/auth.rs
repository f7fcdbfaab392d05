//! Sign-in: registration, login, tokens, refresh rotation, throttling.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, PASSWORD, all_at_once, error_fields, spawn_app, spawn_app_with};

#[tokio::test]
async fn register_then_sign_in_and_read_me() {
    let app = spawn_app().await;
    let (status, user) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "  Ada@Example.com ", "password": PASSWORD, "display_name": "Ada", "department": "IT"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["roles"], json!(["employee"]));
    assert!(user.get("password_hash").is_none());

    let pair = app.login("ADA@example.com").await;
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["expires_in"].as_u64().unwrap() <= 900);
    let token = pair["access_token"].as_str().unwrap();
    let (status, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["department"], "IT");
    assert_eq!(me["location"], Value::Null);
    assert_eq!(me["memberships"], json!([]));

    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'ada@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
}

#[tokio::test]
async fn one_account_per_address_whatever_the_case() {
    let app = spawn_app().await;
    app.register("bo@example.com").await;
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "BO@example.com", "password": PASSWORD, "display_name": "Bo"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD, "display_name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short", "display_name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129), "display_name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "display_name",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "x".repeat(101)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "display_name",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "display_name",
        ),
        (
            json!({"password": PASSWORD, "display_name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({"email": 42, "password": PASSWORD, "display_name": "X"}),
            StatusCode::BAD_REQUEST,
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "X", "location": ["x"]}),
            StatusCode::BAD_REQUEST,
            "location",
        ),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = app.post("/api/v1/auth/register", None, body.clone()).await;
        assert_eq!(status, expected, "{body} -> {problem}");
        assert!(
            error_fields(&problem).contains(&field.to_string()),
            "{body} -> {problem}"
        );
        assert_eq!(problem["status"], expected.as_u16());
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn malformed_bodies_are_problems_not_crashes() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/auth/login", app.base);
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let r = send("{\"email\": ", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = send("email=a", "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = send("[1,2]", "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let huge = "x".repeat(200_000);
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"email\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn registration_can_be_closed_or_limited_to_domains() {
    let closed = spawn_app_with(|s| s.auth.allow_registration = Some(false)).await;
    let (status, _) = closed
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "A"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let limited =
        spawn_app_with(|s| s.auth.allowed_email_domains = vec!["corp.example".into()]).await;
    let (status, body) = limited
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "A"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["email"]);
    limited.register("a@corp.example").await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    app.register("cy@example.com").await;
    let (s1, b1) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "cy@example.com", "password": "wrong password!"}),
        )
        .await;
    let (s2, b2) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(b1, b2);
}

/// The median of some durations.
fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// A wrong password and an unknown email cost the same argon2 verification, so the time of a
/// refusal does not tell whether an address has an account. Wall-clock time on a shared
/// machine is noisy, so this compares medians of interleaved runs within a wide band (a third
/// to three times): the verification (tens of milliseconds) dwarfs the rest of a sign-in (a
/// few), so an unknown email that skipped it would answer in about a tenth of the time, far
/// outside the band, while load that slows one run slows its neighbour of the other kind too.
#[tokio::test]
async fn a_wrong_email_takes_as_long_as_a_wrong_password() {
    const RUNS: usize = 9;
    let app = spawn_app_with(|s| s.auth.max_failed_logins = 1000).await;
    app.register("dee@example.com").await;
    let timed = |email: String, password: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let (status, _) = app
                .post(
                    "/api/v1/auth/login",
                    None,
                    json!({"email": email, "password": password}),
                )
                .await;
            (status, started.elapsed())
        }
    };
    let (mut wrong_password, mut wrong_email, mut no_hashing) = (vec![], vec![], vec![]);
    // One round more than measured: the first warms the connection and the hasher up.
    for round in 0..=RUNS {
        let known = timed("dee@example.com".into(), "wrong password!");
        let unknown = timed(format!("nobody-{round}@example.com"), "wrong password!");
        let ((s1, t1), (s2, t2)) = if round % 2 == 0 {
            let a = known.await;
            (a, unknown.await)
        } else {
            let b = unknown.await;
            (known.await, b)
        };
        assert_eq!(
            (s1, s2),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        // A malformed address is refused before any password work: the cost of the rest.
        let (s3, t3) = timed("not an address".into(), "wrong password!").await;
        assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
        if round > 0 {
            wrong_password.push(t1);
            wrong_email.push(t2);
            no_hashing.push(t3);
        }
    }
    let (known, unknown, baseline) = (
        median(wrong_password),
        median(wrong_email),
        median(no_hashing),
    );
    assert!(
        known > baseline * 3,
        "the verification must be what a refusal costs, or this test shows nothing: \
         wrong password {known:?}, no hashing {baseline:?}"
    );
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (1.0 / 3.0..=3.0).contains(&ratio),
        "unknown email {unknown:?} against wrong password {known:?} (no hashing {baseline:?})"
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_in_the_database_and_audited() {
    let app = spawn_app().await; // max_failed_logins = 3 in tests
    let id = app.register("dee@example.com").await;
    for _ in 0..3 {
        let (status, _) = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "dee@example.com", "password": "wrong password!"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"email": "dee@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    let (target, details): (Option<String>, Value) = sqlx::query_as(
        "SELECT target, details FROM audit_log WHERE action = 'auth.login_throttled'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(target, Some(id.to_string()));
    assert_eq!(details["failures"], 3);
    // Another email is not affected.
    app.register("eve@example.com").await;
    app.login("eve@example.com").await;
    // When the window has passed, sign-in works again and the count starts afresh.
    sqlx::query("UPDATE login_failures SET window_started_at = now() - interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.login("dee@example.com").await;
}

fn forge(header: &str, claims: Value, key: &[u8]) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let _ = header;
    encode(&Header::default(), &claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let app = spawn_app().await;
    let user = app.user("Fay").await;
    let other = app.user("Gil").await;
    let other_session: uuid::Uuid =
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE user_id = $1")
            .bind(other.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |aud: &str, exp: i64| json!({"sub": user.id, "iss": "belong", "aud": aud, "iat": now, "exp": exp});
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("belong-api", now + 600).to_string())
    );
    let mut tampered = user.token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let bad = [
        forge(
            "",
            claims("belong-api", now + 600),
            b"another-secret-another-secret-1234",
        ),
        forge("", claims("belong-api", now - 120), JWT_SECRET.as_bytes()),
        forge("", claims("someone-else", now + 600), JWT_SECRET.as_bytes()),
        forge(
            "",
            json!({"sub": user.id, "iss": "belong", "aud": "belong-api"}),
            JWT_SECRET.as_bytes(),
        ),
        // Signed right, but without a session, with a session that never was, or with
        // another person's session.
        forge("", claims("belong-api", now + 600), JWT_SECRET.as_bytes()),
        app.tokens.issue(user.id, uuid::Uuid::new_v4()).unwrap(),
        app.tokens.issue(user.id, other_session).unwrap(),
        alg_none,
        tampered,
        "garbage".into(),
    ];
    for token in &bad {
        let (status, body) = app.get("/api/v1/me", Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
    }
    let (status, _) = app.get("/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header("authorization", format!("Basic {}", user.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // The good one still works.
    let (status, _) = app.get("/api/v1/me", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_a_spent_token_revokes_its_family() {
    let app = spawn_app().await;
    app.register("gus@example.com").await;
    let first = app.login("gus@example.com").await;
    let (status, second) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let (status, _) = app.get("/api/v1/me", second["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);

    // Replaying the spent token: 401, and the family (including the newest token) is revoked.
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The family's access tokens too, though the newest was served a moment ago.
    let (status, _) = app.get("/api/v1/me", second["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        app.audit_actions()
            .await
            .contains(&"auth.refresh_reused".to_string())
    );

    // Another session of the same user is untouched.
    let other = app.login("gus@example.com").await;
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": "made-up"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.post("/api/v1/auth/refresh", None, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["refresh_token"]);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.register("hal@example.com").await;
    let pair = app.login("hal@example.com").await;
    let other = app.login("hal@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    for _ in 0..2 {
        let (status, _) = app.get("/api/v1/me", Some(access)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The access token of that sign-in is refused at the next request; another sign-in of
    // the same person goes on.
    let (status, _) = app.get("/api/v1/me", Some(access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/me", other["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Logging out twice, or with an unknown token, is not an error and says nothing.
    let (status, _) = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": "unknown"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_deactivated_user_is_locked_out_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let id = app.register("ivy@example.com").await;
    let pair = app.login("ivy@example.com").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/users/{id}/deactivate"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/me", pair["access_token"].as_str()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the access token stops working on the next request"
    );
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ivy@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit() {
    let app = spawn_app().await; // max_failed_logins = 3 in tests
    app.register("jo@example.com").await;
    let url = format!("{}/api/v1/auth/login", app.base);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (client, url) = (app.client.clone(), url.clone());
            async move {
                let body =
                    json!({"email": "jo@example.com", "password": format!("guess number {i:04}")});
                client.post(url).json(&body).send().await.unwrap().status()
            }
        })
        .collect();
    let statuses = all_at_once(tasks).await;
    let tried = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, refused), (3, 17), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_refreshes_with_one_token_leave_no_live_session() {
    let app = spawn_app().await;
    app.register("kit@example.com").await;
    let pair = app.login("kit@example.com").await;
    let url = format!("{}/api/v1/auth/refresh", app.base);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (app.client.clone(), url.clone());
            let body = json!({"refresh_token": pair["refresh_token"]});
            async move {
                let r = client.post(url).json(&body).send().await.unwrap();
                (r.status(), r.json::<Value>().await.unwrap())
            }
        })
        .collect();
    let mut winners = Vec::new();
    for (status, body) in all_at_once(tasks).await {
        match status {
            StatusCode::OK => winners.push(body),
            StatusCode::UNAUTHORIZED => {}
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "one rotation wins");
    // The others were replays of a spent token: the family, the winner's new token included, is revoked.
    let (status, _) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": winners[0]["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND used_at IS NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(live, 0);
}
