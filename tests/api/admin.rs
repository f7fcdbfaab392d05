//! Admin routes for every role: users, roles (never the last admin), deactivation, audit.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn only_admins_reach_admin_routes() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    let employee = app.user("Emil").await;
    let target = app.user("Tess").await;
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/admin/users".into(), None),
        (
            "PUT",
            format!("/api/v1/admin/users/{}/roles", target.id),
            Some(json!({"roles": ["hr"]})),
        ),
        (
            "POST",
            format!("/api/v1/admin/users/{}/deactivate", target.id),
            Some(json!({})),
        ),
        ("GET", "/api/v1/admin/audit".into(), None),
    ];
    for (method, path, body) in &routes {
        let method: reqwest::Method = method.parse().unwrap();
        let (status, _) = app.request(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} anonymous"
        );
        for (who, token) in [("employee", &employee.token), ("hr", &hr.token)] {
            let (status, _) = app
                .request(method.clone(), path, Some(token), body.clone())
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {who}");
        }
    }
    // Nothing was changed by the refused calls.
    let (status, me) = app.get("/api/v1/me", Some(&target.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["roles"], json!(["employee"]));
    for (method, path, body) in routes {
        let (status, body) = app
            .request(method.parse().unwrap(), &path, Some(&admin.token), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{method} {path} as admin: {body}");
    }
}

#[tokio::test]
async fn users_are_listed_searched_and_paged() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for i in 0..25 {
        app.user(&format!("Person {i:02}")).await;
    }
    app.user("Zed 100%_match").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/admin/users?limit=10&cursor={c}"),
            None => "/api/v1/admin/users?limit=10".into(),
        };
        let (status, page) = app.get(&path, Some(&admin.token)).await;
        assert_eq!(status, StatusCode::OK);
        for user in page["items"].as_array().unwrap() {
            seen.push(user["email"].as_str().unwrap().to_string());
            assert!(user["roles"].is_array() && user["active"].is_boolean());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 27);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "each user once, in email order");
    let (_, found) = app
        .get("/api/v1/admin/users?q=100%25_", Some(&admin.token))
        .await;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "% and _ match literally: {found}"
    );
    let nul_cursor = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#""a\u0000b""#,
    );
    for bad in [
        "limit=0".to_string(),
        "limit=101".into(),
        "limit=x".into(),
        "cursor=%21%21".into(),
        "q=a%00b".into(),
        format!("cursor={nul_cursor}"),
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/admin/users?{bad}"), Some(&admin.token))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}

#[tokio::test]
async fn roles_are_granted_and_revoked_at_once_and_audited() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let bea = app.user("Bea").await;
    let path = format!("/api/v1/admin/users/{}/roles", bea.id);
    let (status, user) = app
        .put(
            &path,
            Some(&admin.token),
            json!({"roles": ["employee", "hr", "admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["roles"], json!(["employee", "hr", "admin"]));
    let (status, _) = app.get("/api/v1/admin/audit", Some(&bea.token)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same token gains admin on the next request"
    );
    let (status, _) = app
        .put(&path, Some(&admin.token), json!({"roles": []}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/admin/audit", Some(&bea.token)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "and loses it on the next request"
    );

    let (_, audit) = app.get("/api/v1/admin/audit", Some(&admin.token)).await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "user.roles_changed");
    assert_eq!(entries[0]["details"]["after"], json!(["employee"]));
    assert_eq!(
        entries[1]["details"]["after"],
        json!(["employee", "hr", "admin"])
    );
    assert_eq!(entries[0]["actor_id"], json!(admin.id));
    assert_eq!(entries[0]["target"], json!(bea.id.to_string()));

    let (status, body) = app
        .put(&path, Some(&admin.token), json!({"roles": ["lead"]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "roles[0]");
    let (status, _) = app
        .put(&path, Some(&admin.token), json!({"roles": "hr"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.put(&path, Some(&admin.token), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = format!("/api/v1/admin/users/{}/roles", uuid::Uuid::new_v4());
    let (status, _) = app
        .put(&unknown, Some(&admin.token), json!({"roles": []}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            "/api/v1/admin/users/not-a-uuid/roles",
            Some(&admin.token),
            json!({"roles": []}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed_or_deactivated() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (status, _) = app
        .put(
            &format!("/api/v1/admin/users/{}/roles", admin.id),
            Some(&admin.token),
            json!({"roles": ["hr"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", admin.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A deactivated admin does not count as the remaining one.
    let other = app.admin().await;
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", other.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .put(
            &format!("/api/v1/admin/users/{}/roles", admin.id),
            Some(&admin.token),
            json!({"roles": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    for _ in 0..10 {
        let app = spawn_app().await;
        let a = app.admin().await;
        let b = app.admin().await;
        let (path_a, path_b) = (
            format!("/api/v1/admin/users/{}/roles", a.id),
            format!("/api/v1/admin/users/{}/roles", b.id),
        );
        let (ra, rb) = tokio::join!(
            app.put(&path_b, Some(&a.token), json!({"roles": []})),
            app.put(&path_a, Some(&b.token), json!({"roles": []})),
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        // Either one wins and the other is refused (409, or 403 when the winner's change
        // already removed the loser's own admin role before its request was authorised).
        assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
        assert!(
            matches!(statuses[1], StatusCode::CONFLICT | StatusCode::FORBIDDEN),
            "{statuses:?}"
        );
        let admins: i64 =
            sqlx::query_scalar("SELECT count(*) FROM user_roles WHERE role = 'admin'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(admins, 1);
    }
}

#[tokio::test]
async fn deactivation_is_idempotent_audited_and_revokes_refresh_tokens() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let id = app.register("kim@example.com").await;
    app.login("kim@example.com").await;
    let path = format!("/api/v1/admin/users/{id}/deactivate");
    let (status, user) = app.post(&path, Some(&admin.token), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["active"], false);
    let (status, _) = app.post(&path, Some(&admin.token), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(live, 0);
    let deactivations = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "user.deactivated")
        .count();
    assert_eq!(
        deactivations, 1,
        "the second call changed nothing and wrote nothing"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", uuid::Uuid::new_v4()),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_paged_newest_first() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for _ in 0..5 {
        let u = app.user("Role Flip").await;
        app.put(
            &format!("/api/v1/admin/users/{}/roles", u.id),
            Some(&admin.token),
            json!({"roles": ["hr"]}),
        )
        .await;
    }
    let (_, first) = app
        .get("/api/v1/admin/audit?limit=3", Some(&admin.token))
        .await;
    let (_, second) = app
        .get(
            &format!(
                "/api/v1/admin/audit?limit=3&cursor={}",
                first["next_cursor"].as_str().unwrap()
            ),
            Some(&admin.token),
        )
        .await;
    let ids: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    app.assert_append_only("audit_log", "action = 'rewritten'")
        .await;
}
