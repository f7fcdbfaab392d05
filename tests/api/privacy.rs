//! The privacy promises of docs/privacy.md, each tried as someone who wants to work out a hidden
//! membership would try it: what they get must say nothing (the same bytes as a control, a 404
//! like an unknown slug, or a 409 that changes nothing).

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, spawn_app};

fn membership(slug: &str) -> String {
    format!("/api/v1/groups/{slug}/membership")
}

fn member(slug: &str, id: Uuid) -> String {
    format!("/api/v1/groups/{slug}/members/{id}")
}

fn notice(slug: &str) -> String {
    format!("/api/v1/groups/{slug}/privacy-notice")
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// The roster of a group as `token` sees it, as the raw JSON of every page.
async fn roster(app: &TestApp, slug: &str, token: &str) -> Vec<Value> {
    app.all_pages(&format!("/api/v1/groups/{slug}/members"), token, 100)
        .await
}

/// `(member_count, ally_count)` of the group's detail and of its directory entry.
async fn counts(app: &TestApp, slug: &str, token: &str) -> ((Value, Value), (Value, Value)) {
    let (status, detail) = app
        .get(&format!("/api/v1/groups/{slug}"), Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let list = app.all_pages("/api/v1/groups", token, 100).await;
    let entry = list.iter().find(|g| g["slug"] == slug).unwrap();
    (
        (detail["member_count"].clone(), detail["ally_count"].clone()),
        (entry["member_count"].clone(), entry["ally_count"].clone()),
    )
}

/// A roster without the viewer's own entry.
fn without(entries: &[Value], user: &TestUser) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["user_id"] != json!(user.id))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Reports differenced in time.

/// A CSV download's status and body.
async fn download(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Joins `n` new employees to `slug` with the given visibility (through the API).
async fn members(app: &TestApp, slug: &str, n: usize, visibility: &str) -> Vec<TestUser> {
    let mut joined = Vec::new();
    for i in 0..n {
        let user = app.user(&format!("{slug} member {i}")).await;
        app.join(&user, slug, "member", Some(visibility)).await;
        joined.push(user);
    }
    joined
}

#[tokio::test]
async fn a_departure_cannot_be_read_off_groups_csv_by_differencing_in_time() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    app.create_group(&admin, "women", "Women", "open").await;
    // The colleague HR knows is leaving today, privately in Pride with six others; the control
    // group, Women, has seven members and nobody leaves it.
    let leaver = app.user("Lee Leaver").await;
    app.join(&leaver, "pride", "member", Some("private")).await;
    members(&app, "pride", 6, "members").await;
    members(&app, "women", 7, "public").await;

    let before = download(&app, "/api/v1/reports/groups.csv", &hr.token).await;
    assert_eq!(before.0, StatusCode::OK, "{}", before.1);
    let t0 = time::OffsetDateTime::now_utc();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", leaver.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t1 = time::OffsetDateTime::now_utc();

    // The seconds-wide window around the deactivation, and any period under 28 days: 422
    // naming `from`, and nothing downloaded.
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .replace('+', "%2B")
    };
    for (from, to) in [
        (
            t0 - time::Duration::seconds(1),
            t1 + time::Duration::seconds(1),
        ),
        (
            t0 - time::Duration::days(27),
            t1 + time::Duration::hours(23),
        ),
    ] {
        let path = format!(
            "/api/v1/reports/groups.csv?from={}&to={}",
            rfc(from),
            rfc(to)
        );
        let (status, problem) = app.get(&path, Some(&hr.token)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(fields(&problem), ["from"]);
    }

    // Two downloads either side of the departure are the same bytes: the current counts (7 and
    // then 6) both round to 5, the one departure and the no departure before it are both `<5`.
    let after = download(&app, "/api/v1/reports/groups.csv", &hr.token).await;
    assert_eq!(after.0, StatusCode::OK);
    assert_eq!(after.1, before.1);
    // And the 28-day window around it: Pride (one left) reads exactly as Women (nobody left).
    let path = format!(
        "/api/v1/reports/groups.csv?from={}&to={}",
        rfc(t0 - time::Duration::days(14)),
        rfc(t1 + time::Duration::days(14))
    );
    let (status, window) = download(&app, &path, &hr.token).await;
    assert_eq!(status, StatusCode::OK, "{window}");
    let rows: Vec<&str> = window.split_terminator("\r\n").collect();
    assert_eq!(rows.len(), 3, "{window}");
    let counts = |row: &str| row.splitn(3, ',').nth(2).unwrap().to_string();
    assert_eq!(counts(rows[1]), counts(rows[2]), "{window}");
    assert_eq!(counts(rows[1]), "5,<5,<5,<5,7,<5,<5,<5,<5");
}

// ---------------------------------------------------------------------------------------------
// 2. Reports differenced in shape.

#[tokio::test]
async fn a_one_person_department_is_not_named_nor_shown_by_the_breakdowns_shape() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    app.create_group(&admin, "women", "Women", "open").await;
    // Six Engineering colleagues in Pride (every test user is in Engineering, in Lisbon).
    members(&app, "pride", 6, "public").await;
    // The one person in "Skunkworks", in Basel, joins Pride privately.
    let only = app.user("Sol Only").await;
    sqlx::query("UPDATE users SET department = 'Skunkworks', location = 'Basel' WHERE id = $1")
        .bind(only.id)
        .execute(&app.pool)
        .await
        .unwrap();
    let breakdowns = ["department", "location"];
    let mut without = Vec::new();
    for by in breakdowns {
        let (status, body) = download(
            &app,
            &format!("/api/v1/reports/breakdown.csv?by={by}"),
            &hr.token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        without.push(body);
    }
    app.join(&only, "pride", "member", Some("private")).await;
    for (by, control) in breakdowns.iter().zip(&without) {
        let (status, body) = download(
            &app,
            &format!("/api/v1/reports/breakdown.csv?by={by}"),
            &hr.token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The value typed by one person is never named, and the report is the same bytes
        // whether or not they are in the group.
        assert!(
            !body.contains("Skunkworks") && !body.contains("Basel"),
            "{body}"
        );
        assert_eq!(&body, control, "by {by}");
        // The grid is whole: Pride and the empty Women group have a row for the same values.
        let rows: Vec<&str> = body.split_terminator("\r\n").skip(1).collect();
        let values = |slug: &str| -> Vec<String> {
            rows.iter()
                .filter(|r| r.starts_with(&format!("{slug},")))
                .map(|r| r.split(',').nth(1).unwrap().to_string())
                .collect()
        };
        assert_eq!(values("pride"), values("women"), "{body}");
        assert!(values("women").contains(&"(other)".to_string()));
        // The empty group's cells say `<5`, like any small count, never 0.
        assert!(
            rows.iter()
                .filter(|r| r.starts_with("women,"))
                .all(|r| r.ends_with(",<5")),
            "{body}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Outing by promotion.

#[tokio::test]
async fn a_lead_cannot_out_a_hidden_member_by_promoting_them() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let hidden = app.user("Pia Private").await;
    let quiet = app.user("Mia Members").await;
    app.join(&hidden, "pride", "member", Some("private")).await;
    app.join(&quiet, "pride", "member", Some("members")).await;
    let employee = app.user("Olga Outsider").await;
    let (_, page_before) = app.get("/api/v1/groups/pride", Some(&employee.token)).await;
    let history_before = app.history("pride").await.len();

    for manager in [&lead, &admin] {
        for target in [&hidden, &quiet] {
            let (status, problem) = app
                .patch(
                    &member("pride", target.id),
                    Some(&manager.token),
                    json!({"role": "lead"}),
                )
                .await;
            assert_eq!(status, StatusCode::CONFLICT, "{problem}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("ask the member to make their membership public"),
                "{detail}"
            );
        }
    }
    // Nothing happened: the page every employee reads names the same leads, nothing was
    // recorded, and the hidden members are still members with their own visibility.
    let (_, page_after) = app.get("/api/v1/groups/pride", Some(&employee.token)).await;
    assert_eq!(page_after, page_before);
    assert_eq!(app.history("pride").await.len(), history_before);
    let (_, mine) = app.get("/api/v1/groups/pride", Some(&hidden.token)).await;
    assert_eq!(mine["my_membership"]["role"], "member");
    assert_eq!(mine["my_membership"]["visibility"], "private");

    // Once the member makes the membership public themselves, the promotion goes through.
    app.join(&quiet, "pride", "member", Some("public")).await;
    let promoted = app
        .change_member(&lead, "pride", &quiet, json!({"role": "lead"}))
        .await;
    assert_eq!(promoted["role"], "lead");
    // The database holds the rule too.
    let refused = sqlx::query("UPDATE memberships SET role = 'lead' WHERE user_id = $1")
        .bind(hidden.id)
        .execute(&app.pool)
        .await;
    assert!(
        refused.is_err(),
        "memberships_lead_public must refuse a hidden lead"
    );
}

#[tokio::test]
async fn a_lead_cannot_hide_or_turn_ally_without_stepping_down() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    let co_lead = app.user("Cole Colead").await;
    app.make_lead(&admin, &lead, "pride").await;
    app.make_lead(&admin, &co_lead, "pride").await;
    let history_before = app.history("pride").await.len();
    for body in [
        json!({"type": "member", "visibility": "members"}),
        json!({"type": "member", "visibility": "private"}),
        json!({"type": "ally"}),
        json!({"type": "ally", "visibility": "public"}),
    ] {
        let (status, problem) = app
            .put(&membership("pride"), Some(&lead.token), body.clone())
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("step down"),
            "{problem}"
        );
    }
    assert_eq!(app.history("pride").await.len(), history_before);
    // Asking for what they already have is fine.
    let (status, same) = app
        .put(
            &membership("pride"),
            Some(&lead.token),
            json!({"type": "member", "visibility": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["role"], "lead");
    // Stepped down (by a co-lead), the former lead may hide.
    app.change_member(&co_lead, "pride", &lead, json!({"role": "member"}))
        .await;
    let hidden = app.join(&lead, "pride", "member", Some("private")).await;
    assert_eq!(hidden["visibility"], "private");
    assert_eq!(hidden["role"], "member");
}

// ---------------------------------------------------------------------------------------------
// 4. Lurking: joining invisibly (or as an ally) to read the `members` entries.

#[tokio::test]
async fn joining_invisibly_or_as_an_ally_reveals_no_members_entry() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let public = app.user("Paul Public").await;
    app.join(&public, "pride", "member", Some("public")).await;
    // The people the lurkers are after: visible to the group's members only.
    let quiet_member = app.user("Mia Members").await;
    let quiet_ally = app.user("Al Ally").await;
    app.join(&quiet_member, "pride", "member", Some("members"))
        .await;
    app.join(&quiet_ally, "pride", "ally", Some("members"))
        .await;
    // The control: an employee outside the group.
    let outsider = app.user("Olga Outsider").await;
    let control_roster = roster(&app, "pride", &outsider.token).await;
    let control_counts = counts(&app, "pride", &outsider.token).await;
    assert_eq!(control_roster.len(), 2, "the lead and Paul");

    // Lurker 1 joins as a private member; lurker 2 as an ally, public or not.
    let private_lurker = app.user("Lou Lurker").await;
    let ally_lurker = app.user("Ally Lurker").await;
    let public_ally_lurker = app.user("Pat Ally").await;
    app.join(&private_lurker, "pride", "member", Some("private"))
        .await;
    app.join(&ally_lurker, "pride", "ally", Some("members"))
        .await;
    app.join(&public_ally_lurker, "pride", "ally", Some("public"))
        .await;
    // The outsider's view grew by the one public newcomer only.
    let control_roster = without(&control_roster, &public_ally_lurker);
    for lurker in [&private_lurker, &ally_lurker, &public_ally_lurker] {
        let seen = roster(&app, "pride", &lurker.token).await;
        // Apart from their own entry, exactly what the outsider sees: the same bytes.
        let seen = without(&without(&seen, lurker), &public_ally_lurker);
        assert_eq!(
            serde_json::to_string(&seen).unwrap(),
            serde_json::to_string(&control_roster).unwrap()
        );
        for entry in &seen {
            assert_ne!(entry["user_id"], json!(quiet_member.id));
            assert_ne!(entry["user_id"], json!(quiet_ally.id));
        }
    }
    // The counts too: the outsider's, plus the lurker themselves (and the public newcomer).
    let plus = |(m, a): (Value, Value), dm: i64, da: i64| {
        (
            json!(m.as_i64().unwrap() + dm),
            json!(a.as_i64().unwrap() + da),
        )
    };
    let (detail, list) = counts(&app, "pride", &private_lurker.token).await;
    let expected = plus(control_counts.0.clone(), 1, 1);
    assert_eq!(detail, expected);
    assert_eq!(list, expected);
    let (detail, list) = counts(&app, "pride", &ally_lurker.token).await;
    let expected = plus(control_counts.0.clone(), 0, 2);
    assert_eq!(detail, expected);
    assert_eq!(list, expected);
    let (detail, _) = counts(&app, "pride", &public_ally_lurker.token).await;
    assert_eq!(detail, plus(control_counts.0.clone(), 0, 1));

    // Reciprocity, the other way round: a member who shows themselves to the members sees
    // the members' entries, and their counts include them.
    let reciprocal = app.user("Rae Reciprocal").await;
    app.join(&reciprocal, "pride", "member", Some("members"))
        .await;
    let seen: Vec<Value> = roster(&app, "pride", &reciprocal.token).await;
    assert!(seen.iter().any(|e| e["user_id"] == json!(quiet_member.id)));
    assert!(seen.iter().any(|e| e["user_id"] == json!(quiet_ally.id)));
    // Going private takes the view away at once.
    app.join(&reciprocal, "pride", "member", Some("private"))
        .await;
    let seen: Vec<Value> = roster(&app, "pride", &reciprocal.token).await;
    assert!(!seen.iter().any(|e| e["user_id"] == json!(quiet_member.id)));
}

// ---------------------------------------------------------------------------------------------
// 5. Archived groups.

#[tokio::test]
async fn an_archived_group_answers_every_route_as_an_unknown_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let former = app.user("Fay Former").await;
    app.join(&former, "pride", "member", Some("private")).await;
    let outsider = app.user("Olga Outsider").await;
    let later = |h: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::hours(h))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let event_body = json!({"title": "Picnic", "starts_at": later(24), "ends_at": later(26), "audience": "everyone"});
    let (status, event) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&lead.token),
            event_body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let event_id = event["id"].as_str().unwrap().to_string();
    let offer_body = json!({"title": "Coffee chats", "slots": 2});
    let (status, offer) = app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&lead.token),
            offer_body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{offer}");
    let offer_id = offer["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(
            "/api/v1/groups/pride/archive",
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let routes = |slug: &str| -> Vec<(&'static str, String, Option<Value>)> {
        vec![
            ("GET", format!("/api/v1/groups/{slug}"), None),
            (
                "PATCH",
                format!("/api/v1/groups/{slug}"),
                Some(json!({"tagline": "x"})),
            ),
            ("PUT", membership(slug), Some(json!({"type": "member"}))),
            (
                "PUT",
                membership(slug),
                Some(json!({"type": "ally", "visibility": "public"})),
            ),
            ("DELETE", membership(slug), None),
            ("GET", format!("/api/v1/groups/{slug}/members"), None),
            ("GET", format!("/api/v1/groups/{slug}/members.csv"), None),
            (
                "PATCH",
                member(slug, former.id),
                Some(json!({"role": "lead"})),
            ),
            ("DELETE", member(slug, former.id), None),
            ("GET", format!("/api/v1/groups/{slug}/events"), None),
            (
                "POST",
                format!("/api/v1/groups/{slug}/events"),
                Some(event_body.clone()),
            ),
            (
                "GET",
                format!("/api/v1/groups/{slug}/mentoring-offers"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/groups/{slug}/mentoring-offers"),
                Some(offer_body.clone()),
            ),
            ("GET", notice(slug), None),
            ("PUT", notice(slug), Some(json!({"text": "x"}))),
        ]
    };
    let archived = routes("pride");
    let unknown = routes("never-was");
    for user in [&lead, &former, &outsider] {
        for ((method, path, body), (_, control, _)) in archived.iter().zip(&unknown) {
            let method: reqwest::Method = method.parse().unwrap();
            let (status, answer) = app
                .request(method.clone(), path, Some(&user.token), body.clone())
                .await;
            let (_, expected) = app
                .request(method, control, Some(&user.token), body.clone())
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
            assert_eq!(
                answer, expected,
                "{path}: the same answer as an unknown slug"
            );
        }
        // Its event and offer by id, too.
        for path in [
            format!("/api/v1/events/{event_id}"),
            format!("/api/v1/events/{event_id}/ics"),
            format!("/api/v1/mentoring-offers/{offer_id}/requests"),
        ] {
            let (status, _) = app.get(&path, Some(&user.token)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let (status, _) = app
            .put(
                &format!("/api/v1/events/{event_id}/rsvp"),
                Some(&user.token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Nothing was changed by any of it; admins still see the group.
    assert_eq!(app.membership_rows("pride").await.len(), 2);
    let (status, _) = app.get("/api/v1/groups/pride", Some(&admin.token)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&notice("pride"), Some(&admin.token)).await;
    assert_eq!(status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// 6. Versioned privacy notices and consent.

async fn consent_row(app: &TestApp, slug: &str, user: &TestUser) -> (Option<i32>, bool) {
    sqlx::query_as(
        "SELECT m.consent_version, m.consented_at IS NOT NULL
         FROM memberships m JOIN groups g ON g.id = m.group_id
         WHERE g.slug = $1 AND m.user_id = $2",
    )
    .bind(slug)
    .bind(user.id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn history_consents(
    app: &TestApp,
    slug: &str,
    user: &TestUser,
) -> Vec<(String, Option<i32>, bool)> {
    sqlx::query_as(
        "SELECT h.event::text, h.consent_version, h.consented_at IS NOT NULL
         FROM membership_history h JOIN groups g ON g.id = h.group_id
         WHERE g.slug = $1 AND h.user_id = $2 ORDER BY h.id",
    )
    .bind(slug)
    .bind(user.id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn leads_and_admins_edit_a_versioned_privacy_notice() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let employee = app.user("Erin Employee").await;
    let member_ = app.user("Mo Member").await;
    app.join(&member_, "pride", "member", None).await;

    // None yet.
    let (status, none) = app.get(&notice("pride"), Some(&employee.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!({"text": "", "version": 0, "updated_at": null}));
    // Employees and members may read it, not write it; anonymous callers not even read it.
    for user in [&employee, &member_] {
        let (status, _) = app
            .put(
                &notice("pride"),
                Some(&user.token),
                json!({"text": "Mine now"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = app.get(&notice("pride"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, v1) = app
        .put(
            &notice("pride"),
            Some(&lead.token),
            json!({"text": "  Who sees what.  "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(
        (&v1["text"], &v1["version"]),
        (&json!("Who sees what."), &json!(1))
    );
    assert!(v1["updated_at"].is_string());
    // The same text again changes nothing.
    let (_, same) = app
        .put(
            &notice("pride"),
            Some(&lead.token),
            json!({"text": "Who sees what."}),
        )
        .await;
    assert_eq!(same, v1);
    let (_, v2) = app
        .put(
            &notice("pride"),
            Some(&admin.token),
            json!({"text": "Who sees what, revised."}),
        )
        .await;
    assert_eq!(v2["version"], 2);
    let (_, read) = app.get(&notice("pride"), Some(&employee.token)).await;
    assert_eq!(read, v2);
    // Bad input names the field and changes nothing.
    for body in [
        json!({}),
        json!({"text": "a\u{7}b"}),
        json!({"text": "x".repeat(10_001)}),
    ] {
        let (status, problem) = app.put(&notice("pride"), Some(&lead.token), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), ["text"]);
    }
    let (status, _) = app
        .put(&notice("pride"), Some(&lead.token), json!({"text": 5}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An empty text removes it; the version still counts up, and joining needs no consent.
    let (_, removed) = app
        .put(&notice("pride"), Some(&lead.token), json!({"text": ""}))
        .await;
    assert_eq!(
        (&removed["text"], &removed["version"]),
        (&json!(""), &json!(3))
    );
    let (status, joined) = app
        .put(
            &membership("pride"),
            Some(&employee.token),
            json!({"type": "ally"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(joined["consent_outdated"], false);
    assert_eq!(joined["consent_version"], Value::Null);
    // Every edit is audited.
    let edits = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "group.privacy_notice")
        .count();
    assert_eq!(edits, 3);
}

#[tokio::test]
async fn joining_a_group_with_a_notice_records_consent_to_its_current_version() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    app.create_group(&admin, "vets", "Veterans", "approval")
        .await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    for slug in ["pride", "vets"] {
        for text in ["First words.", "Second words."] {
            let (status, _) = app
                .put(&notice(slug), Some(&admin.token), json!({"text": text}))
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let ann = app.user("Ann").await;
    // Without consent, or with a stale or unknown version: 422 naming the field, nothing written.
    for body in [
        json!({"type": "member"}),
        json!({"type": "member", "consent_version": 1}),
        json!({"type": "member", "consent_version": 3}),
        json!({"type": "ally", "visibility": "private", "consent_version": -1}),
    ] {
        for slug in ["pride", "vets"] {
            let (status, problem) = app
                .put(&membership(slug), Some(&ann.token), body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {problem}"
            );
            assert_eq!(fields(&problem), ["consent_version"]);
        }
    }
    let (status, _) = app
        .put(
            &membership("pride"),
            Some(&ann.token),
            json!({"type": "member", "consent_version": "2"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!app.membership_rows("pride").await.contains(&ann.id));
    assert!(history_consents(&app, "pride", &ann).await.is_empty());

    // With the current version: joined, and the version and time recorded, in the history too.
    let (status, joined) = app
        .put(
            &membership("pride"),
            Some(&ann.token),
            json!({"type": "member", "consent_version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(
        (&joined["consent_version"], &joined["consent_outdated"]),
        (&json!(2), &json!(false))
    );
    assert_eq!(consent_row(&app, "pride", &ann).await, (Some(2), true));
    assert_eq!(
        history_consents(&app, "pride", &ann).await,
        [("joined".to_string(), Some(2), true)]
    );
    // A request to an approval group records it as well.
    let (status, asked) = app
        .put(
            &membership("vets"),
            Some(&ann.token),
            json!({"type": "ally", "consent_version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    assert_eq!(asked["status"], "pending");
    assert_eq!(consent_row(&app, "vets", &ann).await, (Some(2), true));
    // A member changing their visibility need not send it again, but a stale one is refused.
    let (status, _) = app
        .put(
            &membership("pride"),
            Some(&ann.token),
            json!({"type": "member", "visibility": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .put(
            &membership("pride"),
            Some(&ann.token),
            json!({"type": "member", "visibility": "private", "consent_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (_, me) = app.get("/api/v1/me", Some(&ann.token)).await;
    let pride = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["group_slug"] == "pride")
        .unwrap()
        .clone();
    assert_eq!(pride["visibility"], "public");
}

#[tokio::test]
async fn a_changed_notice_marks_its_members_outdated_until_they_accept_it_again() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    // Bo joined before there was any notice.
    let bo = app.user("Bo").await;
    app.join(&bo, "pride", "member", None).await;
    let (_, v1) = app
        .put(
            &notice("pride"),
            Some(&lead.token),
            json!({"text": "Version one."}),
        )
        .await;
    assert_eq!(v1["version"], 1);
    let ann = app.user("Ann").await;
    let (status, _) = app
        .put(
            &membership("pride"),
            Some(&ann.token),
            json!({"type": "member", "consent_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Where a member sees `consent_outdated`: the group's page, the directory and `/me`.
    let outdated = |token: String| {
        let app = &app;
        async move {
            let (_, detail) = app.get("/api/v1/groups/pride", Some(&token)).await;
            let list = app.all_pages("/api/v1/groups", &token, 100).await;
            let entry = list.iter().find(|g| g["slug"] == "pride").unwrap().clone();
            let (_, me) = app.get("/api/v1/me", Some(&token)).await;
            let mine = me["memberships"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["group_slug"] == "pride")
                .unwrap()
                .clone();
            let flags = [
                detail["my_membership"]["consent_outdated"].clone(),
                entry["my_membership"]["consent_outdated"].clone(),
                mine["consent_outdated"].clone(),
            ];
            assert!(flags.iter().all(|f| f == &flags[0]), "{flags:?}");
            flags[0].as_bool().unwrap()
        }
    };
    assert!(!outdated(ann.token.clone()).await);
    assert!(
        outdated(bo.token.clone()).await,
        "Bo never accepted a notice"
    );

    // The lead changes the notice: Ann is asked again.
    let (_, v2) = app
        .put(
            &notice("pride"),
            Some(&lead.token),
            json!({"text": "Version two."}),
        )
        .await;
    assert_eq!(v2["version"], 2);
    assert!(outdated(ann.token.clone()).await);
    // Ann accepts version 2: recorded, and no longer outdated.
    let (status, renewed) = app
        .put(
            &membership("pride"),
            Some(&ann.token),
            json!({"type": "member", "consent_version": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(
        (&renewed["consent_version"], &renewed["consent_outdated"]),
        (&json!(2), &json!(false))
    );
    assert!(!outdated(ann.token.clone()).await);
    assert_eq!(
        history_consents(&app, "pride", &ann).await,
        [
            ("joined".to_string(), Some(1), true),
            ("changed".to_string(), Some(2), true)
        ]
    );
    // Removing the notice asks nobody anything.
    app.put(&notice("pride"), Some(&lead.token), json!({"text": ""}))
        .await;
    assert!(!outdated(bo.token.clone()).await);
}

// ---------------------------------------------------------------------------------------------
// 7. Calendar feed tokens at rest.

#[tokio::test]
async fn the_feed_token_column_holds_no_usable_token() {
    let app = spawn_app().await;
    let ann = app.user("Ann").await;
    let (status, address) = app.get("/api/v1/me/calendar", Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK, "{address}");
    let url = address["url"].as_str().unwrap();
    let token = &url[url.find("/ical/").unwrap() + "/ical/".len()..];
    let (status, _) = app.get(&format!("/ical/{token}"), None).await;
    assert_eq!(status, StatusCode::OK);
    // The same address comes back every time (calendars stay subscribed).
    let (_, again) = app.get("/api/v1/me/calendar", Some(&ann.token)).await;
    assert_eq!(again, address);

    // What the database holds is the SHA-256 of the token, and nothing in the row opens a feed.
    let whole_row: String = sqlx::query_scalar(
        "SELECT row_to_json(f)::text FROM calendar_feeds f WHERE f.user_id = $1",
    )
    .bind(ann.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!whole_row.contains(token), "{whole_row}");
    let digest: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM calendar_feeds WHERE user_id = $1")
            .bind(ann.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(digest, Sha256::digest(token.as_bytes()).to_vec());
    use base64::Engine;
    let as_text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    for guess in [as_text, hex] {
        let (status, _) = app.get(&format!("/ical/{guess}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let values: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&whole_row)
        .unwrap()
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for value in values {
        let value = value.trim_start_matches("\\x").to_string();
        let (status, _) = app.get(&format!("/ical/{}", urlencode(&value)), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{value}");
    }

    // Rotating replaces it: the old address stops working, the new one works.
    let (status, rotated) = app
        .post("/api/v1/me/calendar/rotate", Some(&ann.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated, address);
    let (status, _) = app.get(&format!("/ical/{token}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let new_url = rotated["url"].as_str().unwrap();
    let (status, _) = app
        .get(&new_url[new_url.find("/ical/").unwrap()..], None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn the_openapi_document_describes_notices_consent_and_the_privacy_answers() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let notice = &doc["paths"]["/api/v1/groups/{slug}/privacy-notice"];
    for method in ["get", "put"] {
        assert!(notice[method].is_object(), "{method} privacy-notice");
    }
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("PrivacyNotice", "text"),
        ("PrivacyNotice", "version"),
        ("PrivacyNotice", "updated_at"),
        ("NoticeEdit", "text"),
        ("JoinRequest", "consent_version"),
        ("MyMembership", "consent_version"),
        ("MyMembership", "consent_outdated"),
        ("MembershipSummary", "consent_outdated"),
    ] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field} is not documented"
        );
    }
    let text = doc.to_string();
    for answer in [
        "ask the member to make it public first",
        "without stepping down",
        "a missing or stale `consent_version`",
        "a period shorter than 28 days",
        "reports.round_to",
        "(other)",
    ] {
        assert!(text.contains(answer), "{answer:?} is not documented");
    }
}
