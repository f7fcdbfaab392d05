//! Joining and leaving, approval, co-leads, removal, archived groups, deactivation, bad inputs,
//! and many concurrent joins and leaves; every change checked against the membership history.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{HistoryRow, TestApp, TestUser, all_at_once, error_fields, spawn_app};

fn membership(slug: &str) -> String {
    format!("/api/v1/groups/{slug}/membership")
}

fn member(slug: &str, user: impl std::fmt::Display) -> String {
    format!("/api/v1/groups/{slug}/members/{user}")
}

/// The history of one user, as (event, actor) pairs.
fn events_of(history: &[HistoryRow], user: &TestUser) -> Vec<(String, Option<Uuid>)> {
    history
        .iter()
        .filter(|h| h.user_id == user.id)
        .map(|h| (h.event.clone(), h.actor_id))
        .collect()
}

fn event(name: &str, actor: &TestUser) -> (String, Option<Uuid>) {
    (name.to_string(), Some(actor.id))
}

#[tokio::test]
async fn joining_twice_gives_back_the_same_membership() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let group = app.create_group(&admin, "pride", "Pride", "open").await;
    let ann = app.user("Ann").await;
    let token = Some(ann.token.as_str());

    let (status, first) = app
        .put(&membership("pride"), token, json!({"type": "member"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["group_slug"], "pride");
    assert_eq!(first["type"], "member");
    assert_eq!(first["role"], "member");
    assert_eq!(
        first["status"], "active",
        "an open group lets people in at once"
    );
    assert_eq!(first["visibility"], "members", "the default visibility");
    assert!(first["joined_at"].is_string());

    // Again, with or without the same visibility: 200 and the very same membership.
    for body in [
        json!({"type": "member"}),
        json!({"type": "member", "visibility": "members"}),
    ] {
        let (status, again) = app.put(&membership("pride"), token, body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again, first);
    }

    // Changing the type keeps the visibility; changing the visibility keeps the type.
    let (status, ally) = app
        .put(&membership("pride"), token, json!({"type": "ally"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ally}");
    assert_eq!(ally["type"], "ally");
    assert_eq!(ally["visibility"], "members");
    assert_eq!(ally["joined_at"], first["joined_at"]);
    let (status, private) = app
        .put(
            &membership("pride"),
            token,
            json!({"type": "ally", "visibility": "private"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{private}");
    assert_eq!(private["visibility"], "private");
    let (status, back) = app
        .put(&membership("pride"), token, json!({"type": "member"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(
        (&back["type"], &back["visibility"]),
        (&json!("member"), &json!("private"))
    );

    // One row in the history per change, none for the repeats.
    let history = app.history("pride").await;
    assert_eq!(
        events_of(&history, &ann),
        [
            event("joined", &ann),
            event("changed", &ann),
            event("changed", &ann),
            event("changed", &ann)
        ]
    );
    assert!(history.iter().all(|h| h.reason.is_none()));
    let group_id: Uuid = sqlx::query_scalar("SELECT id FROM groups WHERE slug = 'pride'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(history.iter().all(|h| h.group_id == group_id));
    assert_eq!(group["slug"], "pride");

    // `/me` shows it; the group's detail and list too.
    let (_, me) = app.get("/api/v1/me", token).await;
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    let mine = &me["memberships"][0];
    assert_eq!(mine["group_slug"], "pride");
    assert_eq!(mine["type"], "member");
    assert_eq!(mine["visibility"], "private");
    let (_, detail) = app.get("/api/v1/groups/pride", token).await;
    assert_eq!(
        detail["my_membership"],
        json!({"type": "member", "role": "member", "status": "active", "visibility": "private", "consent_outdated": false})
    );
    assert_eq!(detail["member_count"], 1, "Ann sees herself");
    let (_, others) = app
        .get("/api/v1/groups/pride", Some(&app.user("Bea").await.token))
        .await;
    assert_eq!(
        others["member_count"], 0,
        "nobody else sees a private membership"
    );
}

#[tokio::test]
async fn approval_groups_take_requests_that_a_lead_approves() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "vets", "Veterans", "approval")
        .await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "vets").await;
    let history = app.history("vets").await;
    assert_eq!(
        events_of(&history, &lead),
        [
            event("requested", &lead),
            event("approved", &admin),
            event("role_changed", &admin)
        ]
    );
    let lt = Some(lead.token.as_str());

    let bo = app.user("Bo").await;
    let (status, request) = app
        .put(
            &membership("vets"),
            Some(&bo.token),
            json!({"type": "ally", "visibility": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "pending");
    assert_eq!(request["type"], "ally");
    // Asking again is not an error and changes nothing.
    let (status, again) = app
        .put(
            &membership("vets"),
            Some(&bo.token),
            json!({"type": "ally", "visibility": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, request);
    let (_, detail) = app.get("/api/v1/groups/vets", Some(&bo.token)).await;
    assert_eq!(detail["my_membership"]["status"], "pending");
    assert_eq!(detail["ally_count"], 0, "a request is not counted");

    // The lead approves.
    let (status, approved) = app
        .patch(&member("vets", bo.id), lt, json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "active");
    assert_eq!(approved["type"], "ally");
    assert_eq!(approved["role"], "member");
    assert_eq!(approved["visibility"], "public");
    assert_eq!(approved["group_slug"], "vets");
    let (_, detail) = app.get("/api/v1/groups/vets", Some(&bo.token)).await;
    assert_eq!(detail["my_membership"]["status"], "active");
    assert_eq!(detail["ally_count"], 1);

    // Approving someone who is not pending: 409, and nothing recorded.
    let before = app.history("vets").await.len();
    let (status, problem) = app
        .patch(&member("vets", bo.id), lt, json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = app
        .patch(&member("vets", lead.id), lt, json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Approving someone who never asked: 404.
    let cy = app.user("Cy").await;
    let (status, _) = app
        .patch(&member("vets", cy.id), lt, json!({"status": "active"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.history("vets").await.len(), before);

    // A pending request cannot be promoted before it is approved; both at once works.
    app.join(&cy, "vets", "member", Some("public")).await;
    let (status, problem) = app
        .patch(&member("vets", cy.id), lt, json!({"role": "lead"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, both) = app
        .patch(
            &member("vets", cy.id),
            lt,
            json!({"status": "active", "role": "lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{both}");
    assert_eq!(
        (&both["status"], &both["role"]),
        (&json!("active"), &json!("lead"))
    );

    let history = app.history("vets").await;
    assert_eq!(
        events_of(&history, &bo),
        [event("requested", &bo), event("approved", &lead)]
    );
    assert_eq!(
        events_of(&history, &cy),
        [
            event("requested", &cy),
            event("approved", &lead),
            event("role_changed", &lead)
        ]
    );
    let last = history.last().unwrap();
    assert_eq!(
        (last.role.as_str(), last.status.as_str()),
        ("lead", "active")
    );

    // In an open group nobody is ever pending.
    app.create_group(&admin, "open", "Open", "open").await;
    let dee = app.user("Dee").await;
    app.join(&dee, "open", "member", None).await;
    let (status, _) = app
        .patch(
            &member("open", dee.id),
            Some(&admin.token),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_promoted_co_lead_can_manage_and_a_demoted_one_cannot() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "approval").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let mo = app.user("Mo").await;
    app.join(&mo, "pride", "member", Some("public")).await;
    app.change_member(&lead, "pride", &mo, json!({"status": "active"}))
        .await;
    let mt = Some(mo.token.as_str());

    // Before: Mo is a member like any other.
    let (status, _) = app
        .patch(
            "/api/v1/groups/pride",
            mt,
            json!({"tagline": "Mo was here"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let promoted = app
        .change_member(&lead, "pride", &mo, json!({"role": "lead"}))
        .await;
    assert_eq!(promoted["role"], "lead");
    let (_, detail) = app.get("/api/v1/groups/pride", mt).await;
    assert_eq!(
        detail["leads"],
        json!([{"id": lead.id, "display_name": "Lena Lead"}, {"id": mo.id, "display_name": "Mo"}])
    );

    // Now Mo edits the page, sees the whole roster, approves, removes and demotes.
    let (status, edited) = app
        .patch(
            "/api/v1/groups/pride",
            mt,
            json!({"tagline": "Mo was here"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["tagline"], "Mo was here");
    let (status, _) = app.get("/api/v1/groups/pride/members.csv", mt).await;
    assert_eq!(status, StatusCode::OK);
    let ned = app.user("Ned").await;
    let nia = app.user("Nia").await;
    app.join(&ned, "pride", "member", Some("private")).await;
    app.join(&nia, "pride", "member", None).await;
    let (_, roster) = app.get("/api/v1/groups/pride/members", mt).await;
    assert_eq!(roster["items"].as_array().unwrap().len(), 4, "{roster}");
    assert!(roster["items"][0]["email"].is_string());
    app.change_member(&mo, "pride", &ned, json!({"status": "active"}))
        .await;
    let (status, _) = app.delete(&member("pride", nia.id), mt).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let demoted = app
        .change_member(&mo, "pride", &lead, json!({"role": "member"}))
        .await;
    assert_eq!(demoted["role"], "member");
    assert_eq!(demoted["status"], "active");

    // The demoted lead cannot manage any more, at once.
    let lt = Some(lead.token.as_str());
    let (status, _) = app
        .patch("/api/v1/groups/pride", lt, json!({"tagline": "Back"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .patch(&member("pride", mo.id), lt, json!({"role": "member"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/groups/pride/members.csv", lt).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let history = app.history("pride").await;
    assert_eq!(
        events_of(&history, &mo),
        [
            event("requested", &mo),
            event("approved", &lead),
            event("role_changed", &lead)
        ]
    );
    assert_eq!(
        events_of(&history, &ned),
        [event("requested", &ned), event("approved", &mo)]
    );
    assert_eq!(
        events_of(&history, &nia),
        [event("requested", &nia), event("removed", &mo)]
    );
    let lead_events = events_of(&history, &lead);
    assert_eq!(lead_events.last().unwrap(), &event("role_changed", &mo));
    let demotion = history.iter().rfind(|h| h.user_id == lead.id).unwrap();
    assert_eq!(demotion.role, "member");
}

#[tokio::test]
async fn leaving_is_never_an_error_and_a_last_lead_may_leave() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "approval").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let ann = app.user("Ann").await;
    let at = Some(ann.token.as_str());

    // Not a member: 204, and nothing recorded.
    let (status, body) = app.delete(&membership("pride"), at).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert!(events_of(&app.history("pride").await, &ann).is_empty());

    // A pending request withdrawn, then a membership ended.
    app.join(&ann, "pride", "member", None).await;
    let (status, _) = app.delete(&membership("pride"), at).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.join(&ann, "pride", "ally", None).await;
    app.change_member(&lead, "pride", &ann, json!({"status": "active"}))
        .await;
    let (status, _) = app.delete(&membership("pride"), at).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&membership("pride"), at).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let history = app.history("pride").await;
    assert_eq!(
        events_of(&history, &ann),
        [
            event("requested", &ann),
            event("left", &ann),
            event("requested", &ann),
            event("approved", &lead),
            event("left", &ann)
        ]
    );
    let statuses: Vec<&str> = history
        .iter()
        .filter(|h| h.user_id == ann.id && h.event == "left")
        .map(|h| h.status.as_str())
        .collect();
    assert_eq!(statuses, ["pending", "active"]);
    let (_, detail) = app.get("/api/v1/groups/pride", at).await;
    assert_eq!(detail["my_membership"], Value::Null);

    // The last lead leaves: allowed, and recorded as a lead leaving.
    let (status, _) = app.delete(&membership("pride"), Some(&lead.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let history = app.history("pride").await;
    let last = history.last().unwrap();
    assert_eq!(
        (
            last.event.as_str(),
            last.actor_id,
            last.user_id,
            last.role.as_str()
        ),
        ("left", Some(lead.id), lead.id, "lead")
    );
    let (_, detail) = app.get("/api/v1/groups/pride", Some(&admin.token)).await;
    assert_eq!(detail["leads"], json!([]));
    assert_eq!(detail["member_count"], 0);
    assert!(app.membership_rows("pride").await.is_empty());
    // An admin can still run the group and appoint a new lead.
    let bea = app.user("Bea").await;
    app.make_lead(&admin, &bea, "pride").await;
}

#[tokio::test]
async fn removal_by_a_lead_is_recorded_and_a_non_member_is_404() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let lt = Some(lead.token.as_str());
    let bo = app.user("Bo").await;
    let cy = app.user("Cy").await;
    let dee = app.user("Dee").await;
    app.join(&bo, "pride", "member", Some("private")).await;
    app.join(&dee, "pride", "ally", None).await;

    let (status, body) = app.delete(&member("pride", bo.id), lt).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(!app.membership_rows("pride").await.contains(&bo.id));
    let (_, detail) = app.get("/api/v1/groups/pride", Some(&bo.token)).await;
    assert_eq!(detail["my_membership"], Value::Null);

    // Removing someone who is not a member: 404, whoever they are, and nothing recorded.
    let before = app.history("pride").await;
    for target in [
        bo.id.to_string(),
        cy.id.to_string(),
        Uuid::new_v4().to_string(),
        "not-a-uuid".into(),
        "1234".into(),
    ] {
        let (status, problem) = app.delete(&member("pride", &target), lt).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{target}: {problem}");
        let (status, problem) = app
            .patch(&member("pride", &target), lt, json!({"role": "lead"}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{target}: {problem}");
    }
    assert_eq!(app.history("pride").await, before);

    // An admin who is no member removes too; a lead removing themselves has left.
    let (status, _) = app
        .delete(&member("pride", dee.id), Some(&admin.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&member("pride", lead.id), lt).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let history = app.history("pride").await;
    assert_eq!(
        events_of(&history, &bo),
        [event("joined", &bo), event("removed", &lead)]
    );
    assert_eq!(
        events_of(&history, &dee),
        [event("joined", &dee), event("removed", &admin)]
    );
    assert_eq!(
        events_of(&history, &lead).last().unwrap(),
        &event("left", &lead)
    );
    let removal = history
        .iter()
        .find(|h| h.user_id == bo.id && h.event == "removed")
        .unwrap();
    assert_eq!(removal.reason, None);
    assert!(app.membership_rows("pride").await.is_empty());
    // Bo may join again.
    let (status, _) = app
        .put(
            &membership("pride"),
            Some(&bo.token),
            json!({"type": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn archived_groups_take_no_members_and_only_admins_see_them() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    app.create_group(&admin, "vets", "Veterans", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let ann = app.user("Ann").await;
    app.join(&ann, "pride", "member", Some("public")).await;
    app.join(&ann, "vets", "member", None).await;
    let newcomer = app.user("Newcomer").await;

    let (status, archived) = app
        .post(
            "/api/v1/groups/pride/archive",
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["archived"], true);
    assert_eq!(archived["slug"], "pride");
    // Again: still 200, recorded once.
    let (status, _) = app
        .post(
            "/api/v1/groups/pride/archive",
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let archivals = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "group.archived")
        .count();
    assert_eq!(archivals, 1);

    // Left out of every list, admins' included.
    for user in [&admin, &lead, &ann, &newcomer] {
        let (_, list) = app.get("/api/v1/groups", Some(&user.token)).await;
        let slugs: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["vets"], "{list}");
    }
    // 404 for everyone but admins, its own lead and members included.
    for user in [&lead, &ann, &newcomer] {
        for path in [
            "/api/v1/groups/pride",
            "/api/v1/groups/pride/members",
            "/api/v1/groups/pride/members.csv",
        ] {
            let (status, _) = app.get(path, Some(&user.token)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    let (status, _) = app
        .patch(
            "/api/v1/groups/pride",
            Some(&lead.token),
            json!({"tagline": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .patch(
            &member("pride", ann.id),
            Some(&lead.token),
            json!({"role": "lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, detail) = app.get("/api/v1/groups/pride", Some(&admin.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["archived"], true);
    let (status, _) = app
        .get("/api/v1/groups/pride/members", Some(&admin.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    // `/me` leaves it out.
    let (_, me) = app.get("/api/v1/me", Some(&ann.token)).await;
    let groups: Vec<&str> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["group_slug"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["vets"]);

    // Joining and leaving: 404 for everyone but admins, exactly as for a slug that never
    // existed (an archived group's members cannot be told from outsiders by the answer); an
    // admin joining is 409.
    let before = app.history("pride").await.len();
    for (user, body) in [
        (&newcomer, json!({"type": "member"})),
        (&ann, json!({"type": "ally"})),
        (&ann, json!({"type": "member", "visibility": "public"})),
    ] {
        let (status, problem) = app
            .put(&membership("pride"), Some(&user.token), body.clone())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        let (_, unknown) = app
            .put(&membership("no-such-group"), Some(&user.token), body)
            .await;
        assert_eq!(problem, unknown);
    }
    for user in [&ann, &newcomer, &lead] {
        let (status, problem) = app.delete(&membership("pride"), Some(&user.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    }
    let (status, problem) = app
        .put(
            &membership("pride"),
            Some(&admin.token),
            json!({"type": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(app.history("pride").await.len(), before);
    // An admin may still end a membership there.
    let (status, _) = app
        .delete(&member("pride", ann.id), Some(&admin.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let history = app.history("pride").await;
    assert_eq!(
        events_of(&history, &ann).last().unwrap(),
        &event("removed", &admin)
    );
}

#[tokio::test]
async fn deactivation_ends_every_membership_with_its_history() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    app.create_group(&admin, "vets", "Veterans", "approval")
        .await;
    app.create_group(&admin, "women", "Women", "open").await;
    let leaver = app.user("Lee Leaver").await;
    let stayer = app.user("Sam Stayer").await;
    app.join(&leaver, "pride", "ally", Some("public")).await;
    app.join(&stayer, "pride", "member", Some("public")).await;
    app.join(&leaver, "vets", "member", Some("private")).await;
    app.make_lead(&admin, &leaver, "women").await;
    let count = |slug: &'static str, token: String| {
        let app = &app;
        async move {
            let (_, detail) = app
                .get(&format!("/api/v1/groups/{slug}"), Some(&token))
                .await;
            (
                detail["member_count"].as_i64().unwrap(),
                detail["ally_count"].as_i64().unwrap(),
            )
        }
    };
    assert_eq!(count("pride", admin.token.clone()).await, (1, 1));
    assert_eq!(count("pride", stayer.token.clone()).await, (1, 1));
    assert_eq!(count("women", admin.token.clone()).await, (1, 0));

    let (status, user) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", leaver.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["active"], false);

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE user_id = $1")
        .bind(leaver.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    for (slug, status, role) in [
        ("pride", "active", "member"),
        ("vets", "pending", "member"),
        ("women", "active", "lead"),
    ] {
        let history = app.history(slug).await;
        let last = history.iter().rfind(|h| h.user_id == leaver.id).unwrap();
        assert_eq!(last.event, "removed", "{slug}");
        assert_eq!(last.reason.as_deref(), Some("deactivated"), "{slug}");
        assert_eq!(last.actor_id, Some(admin.id), "{slug}");
        assert_eq!(
            (last.status.as_str(), last.role.as_str()),
            (status, role),
            "{slug}"
        );
        let removals = history
            .iter()
            .filter(|h| h.user_id == leaver.id && h.event == "removed")
            .count();
        assert_eq!(removals, 1, "{slug}");
    }
    assert_eq!(count("pride", admin.token.clone()).await, (1, 0));
    assert_eq!(count("pride", stayer.token.clone()).await, (1, 0));
    assert_eq!(count("women", admin.token.clone()).await, (0, 0));
    let (_, women) = app.get("/api/v1/groups/women", Some(&admin.token)).await;
    assert_eq!(women["leads"], json!([]));
    assert_eq!(app.roster_ids("pride", &admin.token).await, vec![stayer.id]);
    let details: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'user.deactivated' AND target = $1",
    )
    .bind(leaver.id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(details["memberships_ended"], 3);
    // Deactivating again changes nothing.
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", leaver.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let removed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM membership_history WHERE user_id = $1 AND event = 'removed'",
    )
    .bind(leaver.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(removed, 3);
    // And the deactivated user's token no longer works on these routes.
    let (status, _) = app
        .put(
            &membership("pride"),
            Some(&leaver.token),
            json!({"type": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_membership_inputs_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "approval").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let ann = app.user("Ann").await;
    let before = app.history("pride").await.len();

    let cases = [
        (
            json!({"type": "friend"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            json!({"type": "Member"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            json!({"type": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            json!({"type": "member", "visibility": "secret"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "visibility",
        ),
        (
            json!({"type": "member", "visibility": "Public"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "visibility",
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "type"),
        (
            json!({"type": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (
            json!({"visibility": "public"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type",
        ),
        (json!({"type": 5}), StatusCode::BAD_REQUEST, "type"),
        (json!({"type": ["member"]}), StatusCode::BAD_REQUEST, "type"),
        (
            json!({"type": "member", "visibility": 1}),
            StatusCode::BAD_REQUEST,
            "visibility",
        ),
        (json!("member"), StatusCode::BAD_REQUEST, "body"),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = app
            .put(&membership("pride"), Some(&ann.token), body.clone())
            .await;
        assert_eq!(status, expected, "{body} -> {problem}");
        assert_eq!(problem["status"], expected.as_u16());
        assert!(
            error_fields(&problem).contains(&field.to_string()),
            "{body} -> {problem}"
        );
    }
    // Broken JSON.
    let response = app
        .client
        .put(format!("{}{}", app.base, membership("pride")))
        .bearer_auth(&ann.token)
        .header("content-type", "application/json")
        .body("{\"type\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(app.membership_rows("pride").await == vec![lead.id]);

    // A lead's change must say what to change, in known words.
    app.join(&ann, "pride", "member", None).await;
    let path = member("pride", ann.id);
    let cases = [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, None),
        (
            json!({"status": null, "role": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (
            json!({"status": "pending"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("status"),
        ),
        (
            json!({"status": "approved"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("status"),
        ),
        (
            json!({"role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("role"),
        ),
        (
            json!({"status": "active", "role": "boss"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("role"),
        ),
        (
            json!({"status": true}),
            StatusCode::BAD_REQUEST,
            Some("status"),
        ),
        (json!({"role": 1}), StatusCode::BAD_REQUEST, Some("role")),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = app.patch(&path, Some(&lead.token), body.clone()).await;
        assert_eq!(status, expected, "{body} -> {problem}");
        let named = error_fields(&problem);
        assert!(!named.is_empty(), "{body} -> {problem}");
        if let Some(field) = field {
            assert!(named.contains(&field.to_string()), "{body} -> {problem}");
        }
    }
    let (_, detail) = app.get("/api/v1/groups/pride", Some(&ann.token)).await;
    assert_eq!(
        detail["my_membership"]["status"], "pending",
        "still pending"
    );
    assert_eq!(
        app.history("pride").await.len(),
        before + 1,
        "only Ann's request"
    );
}

/// For each user: joins minus leaves (removals count as leaves) in the history is 1 when a
/// membership exists and 0 otherwise, and the events alternate, starting with a join.
async fn check_history_agrees(app: &TestApp, slug: &str, users: &[TestUser]) {
    let history = app.history(slug).await;
    let rows: BTreeSet<Uuid> = app.membership_rows(slug).await.into_iter().collect();
    for user in users {
        let events: Vec<&str> = history
            .iter()
            .filter(|h| h.user_id == user.id)
            .map(|h| h.event.as_str())
            .collect();
        for (i, e) in events.iter().enumerate() {
            let expected = if i % 2 == 0 { "joined" } else { "left" };
            assert_eq!(*e, expected, "{}: {events:?}", user.id);
        }
        let joins = events.iter().filter(|e| **e == "joined").count();
        let leaves = events.iter().filter(|e| **e == "left").count();
        let member = usize::from(rows.contains(&user.id));
        assert_eq!(joins - leaves, member, "{}: {events:?}", user.id);
    }
    assert!(
        history
            .iter()
            .all(|h| h.actor_id == Some(h.user_id) && h.reason.is_none())
    );
}

/// The counts an admin gets from the detail, the list and the roster.
async fn admin_counts(app: &TestApp, admin: &TestUser, slug: &str) -> (i64, i64, usize) {
    let (_, detail) = app
        .get(&format!("/api/v1/groups/{slug}"), Some(&admin.token))
        .await;
    let (_, list) = app.get("/api/v1/groups", Some(&admin.token)).await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["slug"] == slug)
        .unwrap()
        .clone();
    assert_eq!(item["member_count"], detail["member_count"]);
    assert_eq!(item["ally_count"], detail["ally_count"]);
    let roster = app.roster_ids(slug, &admin.token).await;
    (
        detail["member_count"].as_i64().unwrap(),
        detail["ally_count"].as_i64().unwrap(),
        roster.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_user_joining_and_leaving_concurrently_stays_consistent() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let ann = app.user("Ann").await;
    let mut created = 0;
    for round in 0..3 {
        let mut tasks = Vec::new();
        for i in 0..40 {
            let app = Arc::clone(&app);
            let token = ann.token.clone();
            tasks.push(async move {
                if (i + round) % 2 == 0 {
                    let (status, body) = app
                        .put(
                            &membership("pride"),
                            Some(&token),
                            json!({"type": "member"}),
                        )
                        .await;
                    assert!(
                        status == StatusCode::CREATED || status == StatusCode::OK,
                        "PUT: {status} {body}"
                    );
                    status == StatusCode::CREATED
                } else {
                    let (status, body) = app.delete(&membership("pride"), Some(&token)).await;
                    assert_eq!(status, StatusCode::NO_CONTENT, "DELETE: {body}");
                    false
                }
            });
        }
        for joined in all_at_once(tasks).await {
            created += usize::from(joined);
        }
        check_history_agrees(&app, "pride", std::slice::from_ref(&ann)).await;
        let rows = app.membership_rows("pride").await;
        let (members, allies, roster) = admin_counts(&app, &admin, "pride").await;
        assert_eq!(members as usize, rows.len());
        assert_eq!(allies, 0);
        assert_eq!(roster, rows.len());
        let (_, me) = app.get("/api/v1/me", Some(&ann.token)).await;
        assert_eq!(me["memberships"].as_array().unwrap().len(), rows.len());
    }
    // Every 201 answered is exactly one `joined` in the history, and nothing else happened.
    let history = app.history("pride").await;
    assert!(created >= 1);
    assert_eq!(
        history.iter().filter(|h| h.event == "joined").count(),
        created
    );
    assert!(
        history
            .iter()
            .all(|h| h.event == "joined" || h.event == "left")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_users_joining_and_leaving_concurrently_stay_consistent() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let mut users = Vec::new();
    for i in 0..40 {
        users.push(app.user(&format!("User {i:02}")).await);
    }
    let mut tasks = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let app = Arc::clone(&app);
        let token = user.token.clone();
        // User i makes (i % 4) + 2 requests in turn, starting with a join: an even number
        // ends outside the group, an odd number inside.
        tasks.push(async move {
            let kind = if i % 3 == 0 { "ally" } else { "member" };
            let visibility = ["public", "members", "private"][i % 3];
            let mut created = 0;
            for step in 0..(i % 4) + 2 {
                if step % 2 == 0 {
                    let (status, body) = app
                        .put(
                            &membership("pride"),
                            Some(&token),
                            json!({"type": kind, "visibility": visibility}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::CREATED, "{body}");
                    assert_eq!(body["type"], kind);
                    created += 1;
                } else {
                    let (status, body) = app.delete(&membership("pride"), Some(&token)).await;
                    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
                }
            }
            created
        });
    }
    let created: usize = all_at_once(tasks).await.into_iter().sum();

    let expected: BTreeSet<Uuid> = users
        .iter()
        .enumerate()
        .filter(|(i, _)| (i % 4) % 2 == 1)
        .map(|(_, u)| u.id)
        .collect();
    let rows: BTreeSet<Uuid> = app.membership_rows("pride").await.into_iter().collect();
    assert_eq!(rows, expected);
    check_history_agrees(&app, "pride", &users).await;
    let history = app.history("pride").await;
    assert_eq!(
        history.iter().filter(|h| h.event == "joined").count(),
        created
    );
    let allies = users
        .iter()
        .enumerate()
        .filter(|(i, u)| i % 3 == 0 && expected.contains(&u.id))
        .count();
    let (member_count, ally_count, roster) = admin_counts(&app, &admin, "pride").await;
    assert_eq!(ally_count as usize, allies);
    assert_eq!(member_count as usize, expected.len() - allies);
    assert_eq!(roster, expected.len());
}

#[tokio::test]
async fn the_membership_history_is_append_only() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let ann = app.user("Ann").await;
    app.join(&ann, "pride", "member", None).await;
    let (status, _) = app.delete(&membership("pride"), Some(&ann.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.history("pride").await.len(), 2);
    app.assert_append_only("membership_history", "reason = 'rewritten'")
        .await;
}
