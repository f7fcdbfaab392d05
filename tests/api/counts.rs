//! The kept counts (`group_counts`, maintained by triggers) always equal a recount of the
//! memberships, also under concurrent joins, changes, leaves and deactivations; and what a
//! viewer is shown from them follows the privacy rule.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, all_at_once, spawn_app};

/// Kept counts that differ from a recount of the active memberships (none when all is well).
async fn drift(app: &TestApp) -> Vec<(String, String, String, i64, i64)> {
    sqlx::query_as(
        "WITH kept AS (SELECT group_id, type, visibility, n FROM group_counts WHERE n <> 0),
              counted AS (SELECT group_id, type, visibility, count(*) AS n FROM memberships
                          WHERE status = 'active' GROUP BY group_id, type, visibility)
         SELECT coalesce(k.group_id, c.group_id)::text, coalesce(k.type, c.type)::text,
                coalesce(k.visibility, c.visibility)::text, coalesce(k.n, 0), coalesce(c.n, 0)
         FROM kept k FULL JOIN counted c USING (group_id, type, visibility)
         WHERE coalesce(k.n, 0) <> coalesce(c.n, 0)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kept_counts_equal_a_recount_under_concurrent_changes() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    app.create_group(&admin, "women", "Women", "approval").await;
    let mut users = Vec::new();
    for i in 0..24 {
        users.push(app.user(&format!("Counted {i:02}")).await);
    }
    let mut tasks = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let app = Arc::clone(&app);
        let token = user.token.clone();
        tasks.push(async move {
            let visibilities = ["public", "members", "private"];
            for step in 0..(i % 5) + 2 {
                let kind = if (i + step) % 3 == 0 {
                    "ally"
                } else {
                    "member"
                };
                let visibility = visibilities[(i + step) % 3];
                for slug in ["pride", "women"] {
                    let path = format!("/api/v1/groups/{slug}/membership");
                    let (status, body) = if step % 3 == 2 {
                        app.delete(&path, Some(&token)).await
                    } else {
                        app.put(
                            &path,
                            Some(&token),
                            json!({"type": kind, "visibility": visibility}),
                        )
                        .await
                    };
                    assert!(status.is_success(), "{status}: {body}");
                }
            }
        });
    }
    all_at_once(tasks).await;
    assert_eq!(drift(&app).await, vec![]);

    // Approvals, a promotion and deactivations (one statement ending memberships of several
    // groups) at the same time.
    let lead = &users[1];
    app.join(lead, "women", "member", Some("public")).await;
    sqlx::query(
        "UPDATE memberships SET status = 'active', role = 'lead'
         WHERE user_id = $1 AND group_id = (SELECT id FROM groups WHERE slug = 'women')",
    )
    .bind(lead.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for user in users.iter().skip(2).step_by(2) {
        let app = Arc::clone(&app);
        let admin = admin.token.clone();
        let lead = lead.token.clone();
        let id = user.id;
        tasks.push(async move {
            let (status, body) = app
                .post(
                    &format!("/api/v1/admin/users/{id}/deactivate"),
                    Some(&admin),
                    json!({}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // An approval of someone else racing the deactivations (it may find nothing
            // pending: that is a 409 or 404, never a wrong count).
            let _ = app
                .patch(
                    &format!("/api/v1/groups/women/members/{}", id),
                    Some(&lead),
                    json!({"status": "active"}),
                )
                .await;
        });
    }
    all_at_once(tasks).await;
    assert_eq!(drift(&app).await, vec![]);
}

#[tokio::test]
async fn what_a_viewer_is_shown_follows_the_privacy_rule() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let public = app.user("Public Member").await;
    let members = app.user("Members Member").await;
    let private = app.user("Private Member").await;
    let ally = app.user("Private Ally").await;
    let outsider = app.user("Outsider").await;
    app.join(&public, "pride", "member", Some("public")).await;
    app.join(&members, "pride", "member", Some("members")).await;
    app.join(&private, "pride", "member", Some("private")).await;
    app.join(&ally, "pride", "ally", Some("private")).await;
    let counts = |token: String| {
        let app = &app;
        async move {
            let (status, body) = app.get("/api/v1/groups/pride", Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["member_count"].as_i64(), body["ally_count"].as_i64())
        }
    };
    // An outsider sees the public member only.
    assert_eq!(counts(outsider.token.clone()).await, (Some(1), Some(0)));
    // A `members` member sees public and members entries, and their own.
    assert_eq!(counts(members.token.clone()).await, (Some(2), Some(0)));
    // A private member does not see `members` entries (reciprocity) but counts themselves.
    assert_eq!(counts(private.token.clone()).await, (Some(2), Some(0)));
    // A private ally sees the public member and themselves.
    assert_eq!(counts(ally.token.clone()).await, (Some(1), Some(1)));
    // An admin sees everything.
    assert_eq!(counts(admin.token.clone()).await, (Some(3), Some(1)));
    // The directory shows the same numbers as the group's page.
    let (_, list) = app.get("/api/v1/groups", Some(&private.token)).await;
    assert_eq!(list["items"][0]["member_count"], 2);
}
