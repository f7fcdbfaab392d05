//! The pages' sessions and defences, over plain HTTP: the cookie, CSRF, other origins, the
//! separation of cookie and bearer, sign-out, deactivation and expiry, HTML errors.

use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

fn browser() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in on the page; answers the session cookie (`name=value`) and its Set-Cookie line.
async fn sign_in(app: &TestApp, email: &str, origin: &str) -> (String, String) {
    let response = browser()
        .post(format!("{}/login", app.base))
        .header("origin", origin)
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let pair = set_cookie.split(';').next().unwrap().to_string();
    (pair, set_cookie)
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String, String) {
    let response = browser()
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[start..].split('"').next().unwrap().to_string()
}

async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut request = browser()
        .post(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .form(form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

async fn sessions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM web_sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_session_cookie_is_httponly_lax_and_only_its_digest_is_stored() {
    let app = spawn_app().await;
    app.register("sam@example.com").await;
    let (pair, set_cookie) = sign_in(&app, "sam@example.com", &app.base).await;
    assert!(set_cookie.contains("; HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("; SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("; Path=/"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, "belong_session");
    assert_eq!(value.len(), 43, "32 random bytes, base64url");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM web_sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(value.as_bytes()).to_vec());
    // A second sign-in is a new session.
    let (again, _) = sign_in(&app, "sam@example.com", &app.base).await;
    assert_ne!(again, pair);
    assert_eq!(sessions(&app).await, 2);
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_with_the_host_prefix() {
    let app = spawn_app_with(|s| s.server.public_url = "https://belong.example.com".into()).await;
    app.register("sam@example.com").await;
    let (pair, set_cookie) = sign_in(&app, "sam@example.com", "https://belong.example.com").await;
    assert!(pair.starts_with("__Host-belong_session="), "{pair}");
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let (status, _, _) = page(&app, "/", &pair).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_api_refuses_the_cookie_and_the_pages_refuse_bearer_tokens() {
    let app = spawn_app().await;
    app.register("sam@example.com").await;
    let (cookie, _) = sign_in(&app, "sam@example.com", &app.base).await;
    let api = browser()
        .get(format!("{}/api/v1/me", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let tokens = app.login("sam@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let pages = browser()
        .get(format!("{}/me/groups", app.base))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(pages.status(), StatusCode::SEE_OTHER);
    assert_eq!(pages.headers()[LOCATION], "/login");
}

#[tokio::test]
async fn forms_need_the_session_token_and_this_site_as_origin() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride Network", "open")
        .await;
    app.register("sam@example.com").await;
    let (cookie, _) = sign_in(&app, "sam@example.com", &app.base).await;
    let (_, _, html) = page(&app, "/groups/pride", &cookie).await;
    let token = csrf_of(&html);
    let join = [("type", "member"), ("visibility", "members")];
    let with = |t: &'static str| [("csrf", t), join[0], join[1]];
    for (origin, form, why) in [
        (Some(app.base.as_str()), &join[..], "no token"),
        (
            Some(app.base.as_str()),
            &with("forged")[..],
            "a wrong token",
        ),
    ] {
        let (status, _, body) = post(&app, "/groups/pride/join", &cookie, origin, form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
        assert!(body.contains("This request was refused"), "{why}: {body}");
    }
    let good = [("csrf", token.as_str()), join[0], join[1]];
    let (status, _, _) = post(
        &app,
        "/groups/pride/join",
        &cookie,
        Some("https://evil.example"),
        &good,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another site's origin");
    let cross_site = browser()
        .post(format!("{}/groups/pride/join", app.base))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN, "Sec-Fetch-Site");
    let forged_login = browser()
        .post(format!("{}/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("email", "sam@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged_login.status(),
        StatusCode::FORBIDDEN,
        "sign-in from elsewhere"
    );
    let (_, me) = app
        .get(
            "/api/v1/me",
            Some(
                app.login("sam@example.com").await["access_token"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(
        me["memberships"],
        serde_json::json!([]),
        "nothing was joined"
    );
    let (status, location, _) =
        post(&app, "/groups/pride/join", &cookie, Some(&app.base), &good).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/groups/pride")
    );
}

#[tokio::test]
async fn sign_out_deactivation_and_expiry_end_the_session() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let sam = app.register("sam@example.com").await;
    app.register("kim@example.com").await;

    // Sign-out deletes the session.
    let (cookie, _) = sign_in(&app, "kim@example.com", &app.base).await;
    let (_, _, html) = page(&app, "/me/groups", &cookie).await;
    let (status, location, _) = post(
        &app,
        "/logout",
        &cookie,
        Some(&app.base),
        &[("csrf", &csrf_of(&html))],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert_eq!(sessions(&app).await, 0);
    let (status, location, _) = page(&app, "/me/groups", &cookie).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/login")
    );

    // Deactivation deletes every session of the person.
    let (first, _) = sign_in(&app, "sam@example.com", &app.base).await;
    let (second, _) = sign_in(&app, "sam@example.com", &app.base).await;
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/users/{sam}/deactivate"),
            Some(&admin.token),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions(&app).await, 0);
    for cookie in [first, second] {
        let (status, location, _) = page(&app, "/", &cookie).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/login")
        );
    }

    // Idle and absolute expiry.
    let (idle, _) = sign_in(&app, "kim@example.com", &app.base).await;
    sqlx::query("UPDATE web_sessions SET last_seen_at = now() - interval '9 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, _, _) = page(&app, "/", &idle).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "idle for longer than allowed"
    );
    let (old, _) = sign_in(&app, "kim@example.com", &app.base).await;
    let (status, _, _) = page(&app, "/", &old).await;
    assert_eq!(status, StatusCode::OK, "in use");
    sqlx::query("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, _, _) = page(&app, "/", &old).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "past its absolute expiry, even in use"
    );
    assert_eq!(sessions(&app).await, 0, "expired sessions are deleted");
}

#[tokio::test]
async fn wrong_passwords_and_throttling_are_explained_on_the_page() {
    let app = spawn_app().await;
    app.register("sam@example.com").await;
    let attempt = || async {
        let response = browser()
            .post(format!("{}/login", app.base))
            .header("origin", &app.base)
            .form(&[
                ("email", "sam@example.com"),
                ("password", "wrong password!"),
            ])
            .send()
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (
            response.status(),
            retry_after,
            response.text().await.unwrap(),
        )
    };
    let (status, retry_after, body) = attempt().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(retry_after, None);
    assert!(body.contains("<title>Error: Sign in"), "{body}");
    assert!(body.contains("The email address or the password is wrong"));
    assert!(
        body.contains("value=\"sam@example.com\""),
        "the email is kept"
    );
    attempt().await;
    attempt().await;
    let (status, retry_after, body) = attempt().await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("too many failed attempts"), "{body}");
    // As the API's 429 does: when to try again, in seconds, within the failure window.
    let retry_after = retry_after.expect("a 429 page without Retry-After");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
}

/// A sign-in that finds no password hashing slot free in time is told so on the sign-in page,
/// in the layout, with 503 and Retry-After, and keeps its email; once the slot is free the same
/// sign-in goes through. A registration refused the same way is a page saying so too.
#[tokio::test]
async fn a_busy_hasher_is_explained_on_the_sign_in_page() {
    let app = spawn_app_with(|s| {
        s.auth.max_concurrent_hashes = 1;
        s.auth.max_hash_wait_ms = 0;
    })
    .await;
    app.register("sam@example.com").await;
    let held = app.hasher.hold_slot().await.unwrap();
    let response = browser()
        .post(format!("{}/login", app.base))
        .header("origin", &app.base)
        .form(&[("email", "sam@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Skip to main content"),
        "in the layout: {body}"
    );
    assert!(body.contains("<title>Error: Sign in"), "{body}");
    assert!(
        body.contains("Sign-in is busy right now. Try again in a few seconds."),
        "{body}"
    );
    assert!(
        body.contains("value=\"sam@example.com\""),
        "the email is kept"
    );
    let response = browser()
        .post(format!("{}/register", app.base))
        .header("origin", &app.base)
        .form(&[
            ("email", "newcomer@example.com"),
            ("password", PASSWORD),
            ("display_name", "Newcomer"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = response.text().await.unwrap();
    assert!(body.contains("<h1>The service is busy</h1>"), "{body}");
    assert!(body.contains("Try again in a few seconds."), "{body}");
    drop(held);
    sign_in(&app, "sam@example.com", &app.base).await;
}

#[tokio::test]
async fn errors_are_pages_in_the_layout_and_the_api_keeps_problem_json() {
    let app = spawn_app().await;
    app.register("sam@example.com").await;
    let (cookie, _) = sign_in(&app, "sam@example.com", &app.base).await;
    for path in [
        "/no/such/page",
        "/groups/no-such-group",
        "/groups/NOT_A_SLUG",
    ] {
        let (status, _, body) = page(&app, path, &cookie).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            body.contains("Skip to main content"),
            "{path}: in the layout"
        );
        assert!(body.contains("<h1>Page not found</h1>"), "{path}");
        assert!(
            body.contains("href=\"/me/groups\"") && body.contains("Sign out"),
            "{path}: with the navigation of the person signed in: {body}"
        );
    }
    // Someone not signed in (or whose session ended) is offered the way in.
    for cookie in ["", "belong_session=not-a-session"] {
        let (status, _, body) = page(&app, "/no/such/page", cookie).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("<a href=\"/login\">Sign in</a>"), "{body}");
        assert!(!body.contains("Sign out"), "{body}");
    }
    // A refused form, and a page someone may not use, keep the navigation too.
    let (status, _, body) = post(
        &app,
        "/groups/no-such-group/join",
        &cookie,
        Some("https://evil.example"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("This request was refused"), "{body}");
    assert!(body.contains("href=\"/me/groups\""), "{body}");
    let (status, _, body) = page(&app, "/admin/users", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("href=\"/me/groups\""), "{body}");
    assert!(!body.contains("href=\"/admin/users\""), "{body}");
    let api = browser()
        .get(format!("{}/api/v1/nothing", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
    let wrong_method = browser()
        .delete(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body = wrong_method.text().await.unwrap();
    assert!(body.contains("Skip to main content"), "{body}");
    assert!(body.contains("<a href=\"/login\">Sign in</a>"), "{body}");
}

#[tokio::test]
async fn the_stylesheet_is_named_by_its_content_and_cached_for_a_year() {
    let app = spawn_app().await;
    let (_, _, html) = page(&app, "/login", "").await;
    let start = html.find("href=\"/assets/").unwrap() + 6;
    let path = html[start..].split('"').next().unwrap();
    assert!(
        path.starts_with("/assets/belong-") && path.ends_with(".css"),
        "{path}"
    );
    let css = browser()
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let stale = browser()
        .get(format!("{}/assets/belong-000000000000.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    let page = browser()
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
}

#[tokio::test]
async fn a_leads_confirmation_pages_find_the_member_by_id_wherever_they_sort() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "circle", "Circle", "open").await;
    let id = app.register("lee@example.com").await;
    let lead = crate::helpers::TestUser {
        id,
        email: "lee@example.com".into(),
        token: crate::helpers::token_for(&app.pool, &app.tokens, id).await,
    };
    app.make_lead(&admin, &lead, "circle").await;
    // More than a page of the roster (100) sorts before the member.
    sqlx::query(
        "WITH new AS (
             INSERT INTO users (email, password_hash, display_name)
             SELECT 'member-' || n || '@example.com', 'not-a-hash', 'Member ' || lpad(n::text, 3, '0')
             FROM generate_series(1, 150) n RETURNING id)
         INSERT INTO memberships (group_id, user_id, type, status, visibility)
         SELECT g.id, new.id, 'member', 'active', 'private' FROM new, groups g WHERE g.slug = 'circle'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let zed = app.user("Zed Last").await;
    app.join(&zed, "circle", "member", Some("private")).await;
    let outsider = app.user("Olga Outsider").await;
    let (cookie, _) = sign_in(&app, "lee@example.com", &app.base).await;
    for (action, title) in [
        ("remove", "Remove Zed Last from Circle?"),
        ("promote", "Make Zed Last a co-lead of Circle?"),
    ] {
        let path = format!("/groups/circle/manage/members/{}/{action}", zed.id);
        let (status, _, body) = page(&app, &path, &cookie).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains(title), "{path}: {body}");
    }
    for who in [outsider.id.to_string(), "not-an-id".to_string()] {
        let (status, _, _) = page(
            &app,
            &format!("/groups/circle/manage/members/{who}/remove"),
            &cookie,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
    }
}

/// A page that runs out of time is a page in the layout saying so (408), not the bare answer of
/// the timeout: the sign-in is held up by a lock on the accounts the test takes and keeps.
#[tokio::test]
async fn a_page_that_runs_out_of_time_is_a_page_in_the_layout() {
    let app = spawn_app_with(|s| {
        s.server.request_timeout_secs = 1;
        s.auth.max_hash_wait_ms = 0;
    })
    .await;
    app.register("sam@example.com").await;
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let response = browser()
        .post(format!("{}/login", app.base))
        .header("origin", &app.base)
        .form(&[("email", "sam@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let html = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(html, "{body}");
    assert!(
        body.contains("Skip to main content"),
        "in the layout: {body}"
    );
    assert!(body.contains("That took too long"), "{body}");
    lock.rollback().await.unwrap();
    // The API's addresses keep their problem answers.
    let (status, _) = app.get("/api/v1/groups", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
