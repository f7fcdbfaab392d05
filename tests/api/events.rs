//! Events: access for every role, validation, RSVP capacity and waitlist (also under a burst),
//! cancellation, and iCalendar feeds checked with a parser.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Job, TestApp, TestUser, all_at_once, burst_settings, spawn_app, spawn_app_with,
};

fn later(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn event_body(title: &str, capacity: Option<i64>, audience: &str) -> Value {
    json!({"title": title, "starts_at": later(24), "ends_at": later(26), "capacity": capacity,
           "audience": audience, "location": "Room 4", "online_url": "https://meet.example.com/brg"})
}

struct Cast {
    admin: TestUser,
    lead: TestUser,
    other_lead: TestUser,
    member: TestUser,
    ally: TestUser,
    pending: TestUser,
    employee: TestUser,
    hr: TestUser,
}

/// Group `pride` (approval, so a pending member can exist) with one of each role, and group
/// `vets` led by `other_lead`.
async fn cast(app: &TestApp) -> Cast {
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "approval").await;
    app.create_group(&admin, "vets", "Veterans", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let other_lead = app.user("Otto Lead").await;
    app.make_lead(&admin, &other_lead, "vets").await;
    let member = app.user("Mo Member").await;
    app.join(&member, "pride", "member", None).await;
    app.change_member(&lead, "pride", &member, json!({"status": "active"}))
        .await;
    let ally = app.user("Al Ally").await;
    app.join(&ally, "pride", "ally", None).await;
    app.change_member(&lead, "pride", &ally, json!({"status": "active"}))
        .await;
    let pending = app.user("Pat Pending").await;
    app.join(&pending, "pride", "member", None).await;
    Cast {
        admin,
        lead,
        other_lead,
        member,
        ally,
        pending,
        employee: app.user("Em Ployee").await,
        hr: app.hr().await,
    }
}

async fn create(app: &TestApp, token: &str, slug: &str, body: Value) -> Value {
    let (status, event) = app
        .post(&format!("/api/v1/groups/{slug}/events"), Some(token), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    event
}

#[tokio::test]
async fn who_may_post_edit_cancel_and_see_attendees() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let body = event_body("Coffee", Some(5), "everyone");
    let (status, _) = app
        .post("/api/v1/groups/pride/events", None, body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for who in [
        &c.other_lead,
        &c.member,
        &c.ally,
        &c.pending,
        &c.employee,
        &c.hr,
    ] {
        let (status, _) = app
            .post(
                "/api/v1/groups/pride/events",
                Some(&who.token),
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let event = create(&app, &c.lead.token, "pride", body.clone()).await;
    create(&app, &c.admin.token, "pride", body).await;
    assert_eq!(event["going_count"], 0);
    assert_eq!(event["group_slug"], "pride");
    let id = event["id"].as_str().unwrap();
    for who in [&c.other_lead, &c.member, &c.ally, &c.employee, &c.hr] {
        let (status, _) = app
            .patch(
                &format!("/api/v1/events/{id}"),
                Some(&who.token),
                json!({"title": "Mine now"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .post(
                &format!("/api/v1/events/{id}/cancel"),
                Some(&who.token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .get(&format!("/api/v1/events/{id}/attendees"), Some(&who.token))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, edited) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&c.lead.token),
            json!({"title": "Tea"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (edited["title"].as_str(), edited["sequence"].as_i64()),
        (Some("Tea"), Some(1))
    );
    let (status, _) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&c.admin.token),
            json!({"location": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    rsvp(&app, &c.member, id).await;
    rsvp(&app, &c.employee, id).await;
    for who in [&c.lead, &c.admin] {
        let (status, attendees) = app
            .get(&format!("/api/v1/events/{id}/attendees"), Some(&who.token))
            .await;
        assert_eq!(status, StatusCode::OK, "{attendees}");
        let seen: Vec<(&str, &str, &str)> = attendees["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["user_id"].as_str().unwrap(),
                    a["email"].as_str().unwrap(),
                    a["status"].as_str().unwrap(),
                )
            })
            .collect();
        let (member, employee) = (c.member.id.to_string(), c.employee.id.to_string());
        assert_eq!(
            seen,
            [
                (member.as_str(), c.member.email.as_str(), "going"),
                (employee.as_str(), c.employee.email.as_str(), "going")
            ]
        );
    }
    for who in [&c.member, &c.employee] {
        let (status, _) = app
            .get(&format!("/api/v1/events/{id}/attendees"), Some(&who.token))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "attendees do not see each other"
        );
    }
    let (status, cancelled) = app
        .post(
            &format!("/api/v1/events/{id}/cancel"),
            Some(&c.lead.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["cancelled"], true);
    let (status, _) = app.get(&format!("/api/v1/events/{id}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn members_events_exist_only_for_members_leads_and_admins() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let event = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Members' circle", None, "members"),
    )
    .await;
    let id = event["id"].as_str().unwrap();
    let open = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Open evening", None, "everyone"),
    )
    .await;
    for (who, sees) in [
        (&c.member, true),
        (&c.ally, true),
        (&c.lead, true),
        (&c.admin, true),
        (&c.pending, false),
        (&c.employee, false),
        (&c.hr, false),
        (&c.other_lead, false),
    ] {
        let (status, _) = app
            .get(&format!("/api/v1/events/{id}"), Some(&who.token))
            .await;
        assert_eq!(
            status,
            if sees {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        );
        let response = app
            .client
            .get(format!("{}/api/v1/events/{id}/ics", app.base))
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap();
        if sees {
            assert_eq!(response.status(), StatusCode::OK);
            let events = parse_ics(&response.text().await.unwrap());
            assert_eq!(events.len(), 1);
            assert_eq!(events[0]["UID"], format!("{id}@belong"));
            assert_eq!(events[0]["SUMMARY"], "Members' circle");
        } else {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            let body = response.text().await.unwrap();
            assert!(!body.contains("Members' circle"), "{body}");
        }
        let (_, list) = app
            .get("/api/v1/groups/pride/events", Some(&who.token))
            .await;
        let titles: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles.contains(&"Members' circle"), sees, "{titles:?}");
        assert!(titles.contains(&"Open evening"));
        let (status, _) = app
            .put(
                &format!("/api/v1/events/{id}/rsvp"),
                Some(&who.token),
                json!({}),
            )
            .await;
        let expected = match (sees, who.id == c.admin.id || who.id == c.lead.id) {
            (false, _) => StatusCode::NOT_FOUND,
            (true, true) if who.id == c.admin.id => StatusCode::FORBIDDEN, // an admin who is not a member
            _ => StatusCode::OK,
        };
        assert_eq!(status, expected);
    }
    // An `everyone` event takes anyone's RSVP.
    let (status, answer) = app
        .put(
            &format!("/api/v1/events/{}/rsvp", open["id"].as_str().unwrap()),
            Some(&c.employee.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "going");
}

#[tokio::test]
async fn bad_events_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let cases = [
        (json!({"starts_at": later(1), "ends_at": later(2)}), "title"),
        (
            json!({"title": "x", "starts_at": later(3), "ends_at": later(2)}),
            "ends_at",
        ),
        (
            json!({"title": "x", "starts_at": later(-3), "ends_at": later(2)}),
            "starts_at",
        ),
        (
            json!({"title": "x", "starts_at": "tomorrow", "ends_at": later(2)}),
            "starts_at",
        ),
        (
            json!({"title": "x", "starts_at": later(1), "ends_at": later(2), "capacity": 0}),
            "capacity",
        ),
        (
            json!({"title": "x", "starts_at": later(1), "ends_at": later(2), "capacity": -4}),
            "capacity",
        ),
        (
            json!({"title": "x", "starts_at": later(1), "ends_at": later(2), "online_url": "javascript:alert(1)"}),
            "online_url",
        ),
        (
            json!({"title": "x", "starts_at": later(1), "ends_at": later(2), "audience": "friends"}),
            "audience",
        ),
        (
            json!({"title": "x".repeat(201), "starts_at": later(1), "ends_at": later(2)}),
            "title",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = app
            .post(
                "/api/v1/groups/pride/events",
                Some(&c.lead.token),
                body.clone(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {problem}"
        );
    }
    let (status, _) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&c.lead.token),
            json!({"title": "x", "starts_at": later(1), "ends_at": later(2), "capacity": "ten"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    for bad in [
        "/api/v1/events/not-a-uuid",
        &format!("/api/v1/events/{}", Uuid::new_v4()),
    ] {
        let (status, _) = app.get(bad, Some(&c.member.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = app
        .get(
            "/api/v1/groups/pride/events?from=someday",
            Some(&c.member.token),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for far in ["-9999-01-01", "%2B10000-01-01T00:00:00Z", "0001-01-01"] {
        let (status, body) = app
            .get(
                &format!("/api/v1/groups/pride/events?from={far}"),
                Some(&c.member.token),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{far}: {body}");
    }
    let (status, body) = app
        .get(
            "/api/v1/groups/pride/events?from=2026-05-02&to=2026-05-01",
            Some(&c.member.token),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "to");
}

async fn rsvp(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let (status, answer) = app
        .put(
            &format!("/api/v1/events/{id}/rsvp"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn my_rsvp(app: &TestApp, user: &TestUser, id: &str) -> (Value, Value) {
    let (_, event) = app
        .get(&format!("/api/v1/events/{id}"), Some(&user.token))
        .await;
    (
        event["my_rsvp"].clone(),
        event["my_waitlist_position"].clone(),
    )
}

#[tokio::test]
async fn the_waitlist_fills_and_moves_in_order() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let event = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Workshop", Some(2), "everyone"),
    )
    .await;
    let id = event["id"].as_str().unwrap().to_string();
    let mut people = Vec::new();
    for i in 0..5 {
        people.push(app.user(&format!("Person {i}")).await);
    }
    let answers: Vec<Value> = {
        let mut v = Vec::new();
        for p in &people {
            v.push(rsvp(&app, p, &id).await);
        }
        v
    };
    let statuses: Vec<(&str, Option<i64>)> = answers
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap(),
                a["waitlist_position"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("going", None),
            ("going", None),
            ("waitlisted", Some(1)),
            ("waitlisted", Some(2)),
            ("waitlisted", Some(3))
        ]
    );
    assert_eq!(
        rsvp(&app, &people[3], &id).await["waitlist_position"],
        2,
        "asking again answers the same"
    );

    // The first going cancels: the first waitlisted goes, the rest move up.
    let (status, _) = app
        .delete(&format!("/api/v1/events/{id}/rsvp"), Some(&people[0].token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        my_rsvp(&app, &people[2], &id).await,
        (json!("going"), Value::Null)
    );
    assert_eq!(
        my_rsvp(&app, &people[3], &id).await,
        (json!("waitlisted"), json!(1))
    );
    // Cancelling without an RSVP is not an error.
    let (status, _) = app
        .delete(&format!("/api/v1/events/{id}/rsvp"), Some(&people[0].token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        my_rsvp(&app, &people[0], &id).await,
        (Value::Null, Value::Null)
    );

    // While people wait, leads see who is going and who waits, in order; attendees do not.
    let line = |attendees: &Value| -> Vec<(String, String, Value)> {
        attendees["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["email"].as_str().unwrap().to_string(),
                    a["status"].as_str().unwrap().to_string(),
                    a["waitlist_position"].clone(),
                )
            })
            .collect()
    };
    let entry = |p: &TestUser, status: &str, position: Value| {
        (p.email.clone(), status.to_string(), position)
    };
    let (status, attendees) = app
        .get(
            &format!("/api/v1/events/{id}/attendees"),
            Some(&c.lead.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        line(&attendees),
        [
            entry(&people[1], "going", Value::Null),
            entry(&people[2], "going", Value::Null),
            entry(&people[3], "waitlisted", json!(1)),
            entry(&people[4], "waitlisted", json!(2)),
        ]
    );
    for p in [&people[1], &people[3]] {
        let (status, _) = app
            .get(&format!("/api/v1/events/{id}/attendees"), Some(&p.token))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, detail) = app
            .get(&format!("/api/v1/events/{id}"), Some(&p.token))
            .await;
        assert_eq!(detail["waitlist_count"], 2);
        for other in &people {
            let text = detail.to_string();
            assert!(
                !text.contains(&other.email) && !text.contains(&other.id.to_string()),
                "{text}"
            );
        }
    }

    // A waitlisted cancellation promotes nobody: the one behind moves up.
    let (status, _) = app
        .delete(&format!("/api/v1/events/{id}/rsvp"), Some(&people[3].token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        my_rsvp(&app, &people[3], &id).await,
        (Value::Null, Value::Null)
    );
    assert_eq!(
        my_rsvp(&app, &people[4], &id).await,
        (json!("waitlisted"), json!(1))
    );
    let (_, attendees) = app
        .get(
            &format!("/api/v1/events/{id}/attendees"),
            Some(&c.lead.token),
        )
        .await;
    assert_eq!(
        line(&attendees),
        [
            entry(&people[1], "going", Value::Null),
            entry(&people[2], "going", Value::Null),
            entry(&people[4], "waitlisted", json!(1)),
        ]
    );
    // Asking again joins the end of the line.
    assert_eq!(rsvp(&app, &people[3], &id).await["waitlist_position"], 2);

    // Lowering the capacity below those going: 409; raising it promotes in order.
    let (status, _) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&c.lead.token),
            json!({"capacity": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, event) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&c.lead.token),
            json!({"capacity": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            event["going_count"].as_i64(),
            event["waitlist_count"].as_i64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(my_rsvp(&app, &people[4], &id).await.0, "going");
    assert_eq!(
        my_rsvp(&app, &people[3], &id).await,
        (json!("waitlisted"), json!(1))
    );
    let (status, event) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&c.lead.token),
            json!({"capacity": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            event["going_count"].as_i64(),
            event["waitlist_count"].as_i64()
        ),
        (Some(4), Some(0))
    );

    let (_, attendees) = app
        .get(
            &format!("/api/v1/events/{id}/attendees"),
            Some(&c.lead.token),
        )
        .await;
    let items = attendees["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(
        items
            .iter()
            .all(|a| a["email"].is_string() && a["status"] == "going")
    );
}

#[tokio::test]
async fn cancelled_and_past_events_take_no_rsvps() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let event = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Picnic", Some(10), "everyone"),
    )
    .await;
    let id = event["id"].as_str().unwrap().to_string();
    rsvp(&app, &c.member, &id).await;
    app.post(
        &format!("/api/v1/events/{id}/cancel"),
        Some(&c.lead.token),
        json!({}),
    )
    .await;
    let (status, _) = app
        .put(
            &format!("/api/v1/events/{id}/rsvp"),
            Some(&c.ally.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .delete(&format!("/api/v1/events/{id}/rsvp"), Some(&c.member.token))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a cancelled event keeps its RSVPs"
    );
    let (_, detail) = app
        .get(&format!("/api/v1/events/{id}"), Some(&c.member.token))
        .await;
    assert_eq!(
        (
            detail["cancelled"].as_bool(),
            detail["going_count"].as_i64()
        ),
        (Some(true), Some(1))
    );
    let (status, _) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&c.lead.token),
            json!({"title": "Back on"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let past = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Yesterday", None, "everyone"),
    )
    .await;
    sqlx::query("UPDATE events SET starts_at = now() - interval '2 days', ends_at = now() - interval '1 day' WHERE id = $1")
        .bind(past["id"].as_str().unwrap().parse::<Uuid>().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, _) = app
        .put(
            &format!("/api/v1/events/{}/rsvp", past["id"].as_str().unwrap()),
            Some(&c.member.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, upcoming) = app
        .get("/api/v1/groups/pride/events", Some(&c.member.token))
        .await;
    let titles: Vec<&str> = upcoming["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Picnic"], "past events are not upcoming");
    let (_, all) = app
        .get(
            "/api/v1/groups/pride/events?from=2020-01-01",
            Some(&c.member.token),
        )
        .await;
    let titles: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Yesterday", "Picnic"], "soonest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_simultaneous_rsvps_never_exceed_the_capacity() {
    let app = spawn_app_with(burst_settings).await;
    let admin = app.admin().await;
    app.create_group(&admin, "crowd", "Crowd", "open").await;
    let lead = app.user("Lead").await;
    app.make_lead(&admin, &lead, "crowd").await;
    let mut people = Vec::new();
    for i in 0..200 {
        people.push(app.user(&format!("Guest {i}")).await);
    }
    for round in 0..5 {
        let event = create(
            &app,
            &lead.token,
            "crowd",
            event_body(&format!("Round {round}"), Some(10), "everyone"),
        )
        .await;
        let id = event["id"].as_str().unwrap().to_string();
        let base = app.base.clone();
        let tasks: Vec<_> = people
            .iter()
            .map(|p| {
                let client = app.client.clone();
                let url = format!("{base}/api/v1/events/{id}/rsvp");
                let token = p.token.clone();
                async move {
                    let r = client.put(url).bearer_auth(token).send().await.unwrap();
                    (r.status(), r.json::<Value>().await.unwrap())
                }
            })
            .collect();
        let mut going = 0;
        let mut positions = HashSet::new();
        for (status, answer) in all_at_once(tasks).await {
            assert_eq!(status, StatusCode::OK, "round {round}: {answer}");
            match answer["status"].as_str() {
                Some("going") => going += 1,
                Some("waitlisted") => {
                    assert!(positions.insert(answer["waitlist_position"].as_i64().unwrap()))
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(going, 10, "round {round}");
        assert_eq!(
            positions,
            (1..=190).collect::<HashSet<i64>>(),
            "round {round}: each place in line once"
        );
        let (_, detail) = app
            .get(&format!("/api/v1/events/{id}"), Some(&lead.token))
            .await;
        assert_eq!(
            (
                detail["going_count"].as_i64(),
                detail["waitlist_count"].as_i64()
            ),
            (Some(10), Some(190))
        );
        // Waitlist order is the order of asking: seq follows the positions given out.
        let order: Vec<Uuid> = sqlx::query_scalar(
            "SELECT user_id FROM rsvps WHERE event_id = $1 AND status = 'waitlisted' ORDER BY seq",
        )
        .bind(id.parse::<Uuid>().unwrap())
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let first = people.iter().find(|p| p.id == order[0]).unwrap();
        assert_eq!(my_rsvp(&app, first, &id).await.1, 1);
    }
}

/// Parses an iCalendar body with a real parser, returning each VEVENT's properties.
fn parse_ics(body: &str) -> Vec<std::collections::HashMap<String, String>> {
    for line in body.split("\r\n") {
        assert!(
            line.len() <= 75,
            "a line of {} octets: {line:?}",
            line.len()
        );
    }
    assert!(!body.replace("\r\n", "").contains('\n'), "bare LF");
    let mut calendars = ical::IcalParser::new(std::io::BufReader::new(body.as_bytes()));
    let calendar = calendars
        .next()
        .expect("one calendar")
        .expect("a valid calendar");
    assert!(calendars.next().is_none());
    calendar
        .events
        .iter()
        .map(|e| {
            e.properties
                .iter()
                .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
                .collect()
        })
        .collect()
}

fn unescape(value: &str) -> String {
    value
        .replace("\\n", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
}

#[tokio::test]
async fn calendar_feeds_follow_the_rules_and_parse() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let title = "Réunion d'été des employés, «Fierté» 東京とサンパウロの合同ミーティング; long title to fold!";
    let mine = create(
        &app,
        &c.lead.token,
        "pride",
        event_body(title, Some(3), "members"),
    )
    .await;
    let secret = create(
        &app,
        &c.other_lead.token,
        "vets",
        event_body("Vets only", None, "members"),
    )
    .await;
    let open = create(
        &app,
        &c.other_lead.token,
        "vets",
        event_body("Open to all", None, "everyone"),
    )
    .await;
    let unrelated = create(
        &app,
        &c.other_lead.token,
        "vets",
        event_body("Not for me", None, "everyone"),
    )
    .await;
    let pride_open = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Pride open day", None, "everyone"),
    )
    .await;
    rsvp(&app, &c.member, open["id"].as_str().unwrap()).await;
    rsvp(&app, &c.member, pride_open["id"].as_str().unwrap()).await;

    let (status, address) = app.get("/api/v1/me/calendar", Some(&c.member.token)).await;
    assert_eq!(status, StatusCode::OK);
    let url = address["url"].as_str().unwrap();
    let (_, again) = app.get("/api/v1/me/calendar", Some(&c.member.token)).await;
    assert_eq!(again["url"], url, "the address is stable until rotated");
    let path = &url[url.find("/ical/").unwrap()..];
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let events = parse_ics(&response.text().await.unwrap());
    let uids: HashSet<String> = events.iter().map(|e| e["UID"].clone()).collect();
    let uid = |e: &Value| format!("{}@belong", e["id"].as_str().unwrap());
    assert!(
        uids.contains(&uid(&mine)) && uids.contains(&uid(&open)),
        "{uids:?}"
    );
    assert!(
        !uids.contains(&uid(&secret)),
        "a members event of a group I am not in"
    );
    assert!(!uids.contains(&uid(&unrelated)));
    let pride = events.iter().find(|e| e["UID"] == uid(&mine)).unwrap();
    assert_eq!(unescape(&pride["SUMMARY"]), title);
    assert_eq!(pride["SEQUENCE"], "0");
    assert_eq!(pride["STATUS"], "CONFIRMED");
    assert!(pride["DTSTART"].ends_with('Z') && pride.contains_key("DTSTAMP"));

    // Changes raise SEQUENCE; cancelling shows as cancelled.
    let id = mine["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/events/{id}"),
        Some(&c.lead.token),
        json!({"location": "Hall B"}),
    )
    .await;
    app.post(
        &format!("/api/v1/events/{id}/cancel"),
        Some(&c.lead.token),
        json!({}),
    )
    .await;
    let body = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pride = parse_ics(&body)
        .into_iter()
        .find(|e| e["UID"] == uid(&mine))
        .unwrap();
    assert_eq!(
        (
            pride["SEQUENCE"].as_str(),
            pride["STATUS"].as_str(),
            pride["LOCATION"].as_str()
        ),
        ("2", "CANCELLED", "Hall B")
    );

    // One event as .ics.
    let r = app
        .client
        .get(format!("{}/api/v1/events/{id}/ics", app.base))
        .bearer_auth(&c.ally.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(parse_ics(&r.text().await.unwrap()).len(), 1);

    // Leaving the group removes its members events from the feed.
    app.delete("/api/v1/groups/pride/membership", Some(&c.member.token))
        .await;
    let body = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let uids: HashSet<String> = parse_ics(&body).iter().map(|e| e["UID"].clone()).collect();
    assert!(!uids.contains(&uid(&mine)), "{uids:?}");
    // What does not depend on the membership stays: the open events RSVPed to, in this
    // group and in another.
    assert!(
        uids.contains(&uid(&pride_open)) && uids.contains(&uid(&open)),
        "{uids:?}"
    );

    // Rotation retires the old address at once.
    let (_, rotated) = app
        .post(
            "/api/v1/me/calendar/rotate",
            Some(&c.member.token),
            json!({}),
        )
        .await;
    assert_ne!(rotated["url"], url);
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .get(format!("{}/ical/%00", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .get(format!("{}/ical/{}", app.base, "x".repeat(500)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deactivation_cancels_future_rsvps_and_promotes_the_waitlist() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let event = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Gala", Some(1), "everyone"),
    )
    .await;
    let id = event["id"].as_str().unwrap().to_string();
    assert_eq!(rsvp(&app, &c.member, &id).await["status"], "going");
    assert_eq!(rsvp(&app, &c.employee, &id).await["status"], "waitlisted");
    let (_, address) = app.get("/api/v1/me/calendar", Some(&c.member.token)).await;
    let url = address["url"].as_str().unwrap();
    let feed = format!("{}{}", app.base, &url[url.find("/ical/").unwrap()..]);
    let r = app.client.get(&feed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let uids: Vec<String> = parse_ics(&r.text().await.unwrap())
        .iter()
        .map(|e| e["UID"].clone())
        .collect();
    assert!(uids.contains(&format!("{id}@belong")), "{uids:?}");
    app.deactivate(&c.admin, &c.member).await;
    assert_eq!(my_rsvp(&app, &c.employee, &id).await.0, "going");
    let (_, detail) = app
        .get(&format!("/api/v1/events/{id}"), Some(&c.lead.token))
        .await;
    assert_eq!(
        (
            detail["going_count"].as_i64(),
            detail["waitlist_count"].as_i64()
        ),
        (Some(1), Some(0))
    );
    // The feed of a deactivated person is gone too, though its address is a secret of its own.
    let r = app.client.get(&feed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = r.text().await.unwrap();
    assert!(!body.contains("Gala"), "{body}");
}

#[tokio::test]
async fn leaving_a_group_gives_up_its_members_only_seats() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let event = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Circle", Some(1), "members"),
    )
    .await;
    let id = event["id"].as_str().unwrap().to_string();
    assert_eq!(rsvp(&app, &c.member, &id).await["status"], "going");
    assert_eq!(rsvp(&app, &c.ally, &id).await["status"], "waitlisted");
    let (status, _) = app
        .delete("/api/v1/groups/pride/membership", Some(&c.member.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        my_rsvp(&app, &c.ally, &id).await.0,
        "going",
        "the seat went to the next in line"
    );
    let (_, detail) = app
        .get(&format!("/api/v1/events/{id}"), Some(&c.lead.token))
        .await;
    assert_eq!(
        (
            detail["going_count"].as_i64(),
            detail["waitlist_count"].as_i64()
        ),
        (Some(1), Some(0))
    );
    // A removal by a lead does the same.
    let (status, _) = app
        .delete(
            &format!("/api/v1/groups/pride/members/{}", c.ally.id),
            Some(&c.lead.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, detail) = app
        .get(&format!("/api/v1/events/{id}"), Some(&c.lead.token))
        .await;
    assert_eq!(detail["going_count"].as_i64(), Some(0));
}

#[tokio::test]
async fn every_events_route_refuses_anonymous_and_deactivated_callers() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    let event = create(
        &app,
        &c.lead.token,
        "pride",
        event_body("Open evening", Some(5), "everyone"),
    )
    .await;
    let id = event["id"].as_str().unwrap();
    let routes = [
        ("GET", "/api/v1/groups/pride/events".to_string()),
        ("POST", "/api/v1/groups/pride/events".to_string()),
        ("GET", format!("/api/v1/events/{id}")),
        ("PATCH", format!("/api/v1/events/{id}")),
        ("POST", format!("/api/v1/events/{id}/cancel")),
        ("PUT", format!("/api/v1/events/{id}/rsvp")),
        ("DELETE", format!("/api/v1/events/{id}/rsvp")),
        ("GET", format!("/api/v1/events/{id}/attendees")),
        ("GET", format!("/api/v1/events/{id}/ics")),
        ("GET", "/api/v1/me/calendar".to_string()),
        ("POST", "/api/v1/me/calendar/rotate".to_string()),
    ];
    let call = |method: &'static str, path: String, token: Option<String>| {
        let app = &app;
        async move {
            let mut request = app
                .client
                .request(method.parse().unwrap(), format!("{}{path}", app.base));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if method != "GET" && method != "DELETE" {
                request = request.json(&event_body("Changed", Some(5), "everyone"));
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };
    // A signed-in employee reaches every route (and is refused or served by its rules), ...
    for (method, path) in &routes {
        let (status, body) = call(method, path.clone(), Some(c.employee.token.clone())).await;
        assert!(
            status != StatusCode::UNAUTHORIZED && !status.is_server_error(),
            "{method} {path}: {status} {body}"
        );
    }
    app.deactivate(&c.admin, &c.employee).await;
    // ... while no token, a token of someone deactivated since, or a lead's token after the
    // lead was deactivated, reaches none.
    app.deactivate(&c.admin, &c.lead).await;
    for token in [None, Some(&c.employee.token), Some(&c.lead.token)] {
        for (method, path) in &routes {
            let (status, body) = call(method, path.clone(), token.cloned()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {body}"
            );
            assert!(body.contains("\"status\":401"), "{body}");
        }
    }
    // Nothing was changed by any of them.
    let (_, detail) = app
        .get(&format!("/api/v1/events/{id}"), Some(&c.admin.token))
        .await;
    assert_eq!(
        (
            detail["title"].as_str(),
            detail["cancelled"].as_bool(),
            detail["going_count"].as_i64()
        ),
        (Some("Open evening"), Some(false), Some(0))
    );
}

/// An event with `capacity`, and `before` people who RSVPed one by one (the first `capacity`
/// going, the rest waiting in that order).
async fn filled_event(
    app: &TestApp,
    lead: &TestUser,
    capacity: i64,
    before: usize,
) -> (String, Vec<TestUser>) {
    let event = create(
        app,
        &lead.token,
        "crowd",
        event_body("Race", Some(capacity), "everyone"),
    )
    .await;
    let id = event["id"].as_str().unwrap().to_string();
    let mut people = Vec::new();
    for i in 0..before {
        let p = app.user(&format!("Early {i}")).await;
        rsvp(app, &p, &id).await;
        people.push(p);
    }
    (id, people)
}

/// The RSVPs of an event as PostgreSQL has them, in the order people asked.
async fn line_in_db(app: &TestApp, id: &str) -> Vec<(Uuid, String)> {
    sqlx::query_as("SELECT user_id, status::text FROM rsvps WHERE event_id = $1::uuid ORDER BY seq")
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// First come, first served: the first `capacity` in the line are going and nobody after them.
fn assert_first_come_first_served(line: &[(Uuid, String)], capacity: usize, what: &str) {
    let going = line.iter().filter(|(_, s)| s == "going").count();
    assert_eq!(going, capacity.min(line.len()), "{what}: {line:?}");
    assert!(
        line.iter().take(going).all(|(_, status)| status == "going"),
        "{what}: someone later in line went first: {line:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capacity_raise_racing_new_rsvps_fills_exactly_first_come_first_served() {
    const NEW: usize = 60;
    let app = Arc::new(spawn_app_with(burst_settings).await);
    let admin = app.admin().await;
    app.create_group(&admin, "crowd", "Crowd", "open").await;
    let lead = app.user("Lead").await;
    app.make_lead(&admin, &lead, "crowd").await;
    let mut newcomers = Vec::new();
    for i in 0..NEW {
        newcomers.push(app.user(&format!("New {i}")).await);
    }
    for round in 0..3 {
        // 5 going and 10 waiting; the capacity goes to 40 while 60 more ask: those who were
        // waiting go at once, and the newcomers race for the 25 seats left.
        let (id, early) = filled_event(&app, &lead, 5, 15).await;
        let mut jobs: Vec<Job<(Option<String>, Value)>> = Vec::new();
        {
            let (app, id, token) = (Arc::clone(&app), id.clone(), lead.token.clone());
            jobs.push(Box::pin(async move {
                let (status, event) = app
                    .patch(
                        &format!("/api/v1/events/{id}"),
                        Some(&token),
                        json!({"capacity": 40}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{event}");
                (None, event)
            }));
        }
        for p in &newcomers {
            let (app, id, p) = (Arc::clone(&app), id.clone(), p.clone());
            jobs.push(Box::pin(async move {
                let answer = rsvp(&app, &p, &id).await;
                (Some(p.email.clone()), answer)
            }));
        }
        let answers = all_at_once(jobs).await;
        // The raise promoted at once everyone who was waiting when it ran.
        let raised = &answers[0].1;
        assert!(
            raised["going_count"].as_i64().unwrap() >= 15,
            "round {round}: {raised}"
        );
        assert_eq!(raised["capacity"], 40, "round {round}: {raised}");
        let line = line_in_db(&app, &id).await;
        assert_eq!(line.len(), 15 + NEW);
        assert_first_come_first_served(&line, 40, &format!("round {round}"));
        // The ten who waited before the burst went before any newcomer.
        let going: HashSet<Uuid> = line
            .iter()
            .filter(|(_, s)| s == "going")
            .map(|(u, _)| *u)
            .collect();
        assert!(early.iter().all(|p| going.contains(&p.id)), "round {round}");
        // No one told "going" was later put back in line.
        for (email, answer) in &answers[1..] {
            let p = newcomers
                .iter()
                .find(|p| Some(&p.email) == email.as_ref())
                .unwrap();
            if answer["status"] == "going" {
                assert!(going.contains(&p.id), "round {round}: {answer}");
            }
        }
        let (_, detail) = app
            .get(&format!("/api/v1/events/{id}"), Some(&lead.token))
            .await;
        assert_eq!(
            (
                detail["going_count"].as_i64(),
                detail["waitlist_count"].as_i64()
            ),
            (Some(40), Some(15 + NEW as i64 - 40)),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancellation_racing_rsvps_and_withdrawals_keeps_the_line_whole() {
    const NEW: usize = 60;
    let app = Arc::new(spawn_app_with(burst_settings).await);
    let admin = app.admin().await;
    app.create_group(&admin, "crowd", "Crowd", "open").await;
    let lead = app.user("Lead").await;
    app.make_lead(&admin, &lead, "crowd").await;
    let mut newcomers = Vec::new();
    for i in 0..NEW {
        newcomers.push(app.user(&format!("New {i}")).await);
    }
    for round in 0..3 {
        // 5 going of 20; the event is cancelled while 60 more race for the 15 seats left and
        // the first three going give up theirs.
        let (id, early) = filled_event(&app, &lead, 20, 5).await;
        let mut jobs: Vec<Job<(&'static str, Option<Uuid>, StatusCode)>> = Vec::new();
        {
            let (app, id, token) = (Arc::clone(&app), id.clone(), lead.token.clone());
            jobs.push(Box::pin(async move {
                let (status, event) = app
                    .post(
                        &format!("/api/v1/events/{id}/cancel"),
                        Some(&token),
                        json!({}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{event}");
                assert_eq!(event["cancelled"], true, "{event}");
                ("cancel", None, status)
            }));
        }
        for p in &early[..3] {
            let (app, id, p) = (Arc::clone(&app), id.clone(), p.clone());
            jobs.push(Box::pin(async move {
                let (status, body) = app
                    .delete(&format!("/api/v1/events/{id}/rsvp"), Some(&p.token))
                    .await;
                assert!(
                    status == StatusCode::NO_CONTENT || status == StatusCode::CONFLICT,
                    "{status} {body}"
                );
                ("withdraw", Some(p.id), status)
            }));
        }
        for p in &newcomers {
            let (app, id, p) = (Arc::clone(&app), id.clone(), p.clone());
            jobs.push(Box::pin(async move {
                let (status, body) = app
                    .put(
                        &format!("/api/v1/events/{id}/rsvp"),
                        Some(&p.token),
                        json!({}),
                    )
                    .await;
                assert!(
                    status == StatusCode::OK || status == StatusCode::CONFLICT,
                    "{status} {body}"
                );
                ("rsvp", Some(p.id), status)
            }));
        }
        let answers = all_at_once(jobs).await;
        let line = line_in_db(&app, &id).await;
        let in_line: HashSet<Uuid> = line.iter().map(|(u, _)| *u).collect();
        // Every answer agrees with what was kept: an RSVP taken is in the line, one refused
        // (the event was cancelled) is not; a seat given up is gone, one refused is kept.
        for (what, who, status) in &answers[1..] {
            let who = who.unwrap();
            match (*what, *status) {
                ("rsvp", StatusCode::OK) | ("withdraw", StatusCode::CONFLICT) => {
                    assert!(in_line.contains(&who), "round {round}: {what} {status}")
                }
                _ => assert!(!in_line.contains(&who), "round {round}: {what} {status}"),
            }
        }
        assert_first_come_first_served(&line, 20, &format!("round {round}"));
        // Cancelled: it keeps its line, and takes no RSVP nor withdrawal any more.
        let late = app.user("Late").await;
        let (status, _) = app
            .put(
                &format!("/api/v1/events/{id}/rsvp"),
                Some(&late.token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app
            .delete(&format!("/api/v1/events/{id}/rsvp"), Some(&early[4].token))
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(line_in_db(&app, &id).await, line, "round {round}");
    }
}
