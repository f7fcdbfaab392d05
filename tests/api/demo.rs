//! The demo data: every demo account has something to open, the data obeys the rules the
//! domain enforces, and loading it again (the same day or days later) keeps one copy, moved to
//! today.

use belong::accounts::password::Hasher;
use belong::seed;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app};

async fn load(pool: &PgPool) {
    let hasher = Hasher::new(1, None).unwrap();
    seed::demo(pool, &hasher).await.unwrap();
}

async fn sign_in(app: &TestApp, email: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": seed::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{email}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn ok(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = app.get(path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn text(app: &TestApp, path: &str, token: Option<&str>) -> String {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

/// The cells of a CSV download without quoting (the demo's values need none), header first.
async fn csv(app: &TestApp, path: &str, token: &str) -> Vec<Vec<String>> {
    text(app, path, Some(token))
        .await
        .split_terminator("\r\n")
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().unwrap()
}

#[tokio::test]
async fn every_demo_account_has_something_to_open_first() {
    let app = spawn_app().await;
    load(&app.pool).await;

    // The employee: their groups, events with a place on a waitlist, a calendar, mentoring.
    let employee = sign_in(&app, seed::DEMO_EMPLOYEE).await;
    let me = ok(&app, "/api/v1/me", &employee).await;
    let groups: Vec<&str> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["group_slug"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"generations") && groups.contains(&"pride"),
        "{me}"
    );
    let women = ok(&app, "/api/v1/groups/women/events", &employee).await;
    let waitlisted: Vec<&Value> = items(&women)
        .iter()
        .filter(|e| e["my_rsvp"] == "waitlisted")
        .collect();
    assert_eq!(waitlisted.len(), 1, "{women}");
    assert_eq!(waitlisted[0]["my_waitlist_position"], 2);
    assert_eq!(waitlisted[0]["going_count"], waitlisted[0]["capacity"]);
    let pride = ok(&app, "/api/v1/groups/pride/events", &employee).await;
    assert!(
        items(&pride)
            .iter()
            .any(|e| e["audience"] == "members" && e["my_rsvp"] == "going"),
        "a members-only event the employee goes to: {pride}"
    );
    let latinx = ok(&app, "/api/v1/groups/latinx/events", &employee).await;
    assert!(items(&latinx).iter().any(|e| e["cancelled"] == true));
    assert!(
        items(&women)
            .iter()
            .any(|e| e["location"].is_string() && e["online_url"].is_null())
    );
    assert!(
        items(&pride)
            .iter()
            .any(|e| e["online_url"].is_string() && e["location"].is_null())
    );
    let past = ok(
        &app,
        "/api/v1/groups/veterans/events?from=2000-01-01",
        &employee,
    )
    .await;
    let now = time::OffsetDateTime::now_utc();
    let starts = |e: &Value| {
        time::OffsetDateTime::parse(
            e["starts_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(items(&past).iter().any(|e| starts(e) < now), "{past}");
    assert!(items(&past).iter().any(|e| starts(e) > now), "{past}");

    let address = ok(&app, "/api/v1/me/calendar", &employee).await;
    let url = address["url"].as_str().unwrap();
    let path = &url[url.find("/ical/").unwrap()..];
    let feed = text(&app, path, None).await;
    let calendar = ical::IcalParser::new(std::io::BufReader::new(feed.as_bytes()))
        .next()
        .unwrap()
        .unwrap();
    let summaries: Vec<String> = calendar
        .events
        .iter()
        .flat_map(|e| &e.properties)
        .filter(|p| p.name == "SUMMARY")
        .filter_map(|p| p.value.clone())
        .collect();
    assert!(summaries.len() >= 3, "{summaries:?}");
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("Negotiation workshop")),
        "the waitlisted event is in the feed: {summaries:?}"
    );
    let mentoring = ok(&app, "/api/v1/me/mentoring", &employee).await;
    let statuses: Vec<&str> = mentoring["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"accepted") && statuses.contains(&"pending"),
        "{mentoring}"
    );

    // The lead: requests to join an approval group, a co-lead, mentoring requests to decide.
    let lead = sign_in(&app, seed::DEMO_LEAD).await;
    let roster = app
        .all_pages("/api/v1/groups/pride/members", &lead, 100)
        .await;
    let pending = roster.iter().filter(|m| m["status"] == "pending").count();
    assert!(pending >= 3, "{roster:?}");
    let leads = roster.iter().filter(|m| m["role"] == "lead").count();
    assert!(leads >= 2, "a co-lead beside the demo lead: {roster:?}");
    let mine = ok(&app, "/api/v1/me/mentoring", &lead).await;
    let offers = mine["offers"].as_array().unwrap();
    assert!(offers.iter().any(|o| o["closed"] == true), "{mine}");
    let mut to_decide = 0;
    for offer in offers {
        let requests = ok(
            &app,
            &format!(
                "/api/v1/mentoring-offers/{}/requests",
                offer["id"].as_str().unwrap()
            ),
            &lead,
        )
        .await;
        to_decide += items(&requests)
            .iter()
            .filter(|r| r["status"] == "pending")
            .count();
    }
    assert!(to_decide >= 2, "{mine}");

    // HR: three reports, each with a figure shown and (the two aggregates) one suppressed.
    let hr = sign_in(&app, seed::DEMO_HR).await;
    let summary = csv(&app, "/api/v1/reports/groups.csv", &hr).await;
    let column = |name: &str| summary[0].iter().position(|h| h == name).unwrap();
    let (joined, left) = (column("joined"), column("left"));
    let cells: Vec<&String> = summary[1..]
        .iter()
        .flat_map(|row| [&row[joined], &row[left]])
        .collect();
    assert!(
        cells.iter().any(|c| c.parse::<i64>().is_ok_and(|n| n >= 5)),
        "{summary:?}"
    );
    assert!(cells.iter().any(|c| c.as_str() == "<5"), "{summary:?}");
    for by in ["department", "location"] {
        let breakdown = csv(&app, &format!("/api/v1/reports/breakdown.csv?by={by}"), &hr).await;
        let counts: Vec<&String> = breakdown[1..].iter().map(|row| &row[2]).collect();
        assert!(
            counts
                .iter()
                .any(|c| c.parse::<i64>().is_ok_and(|n| n >= 5)),
            "{breakdown:?}"
        );
        assert!(counts.iter().any(|c| c.as_str() == "<5"), "{breakdown:?}");
    }
    let named = csv(&app, "/api/v1/reports/memberships.csv", &hr).await;
    assert!(named.len() > 10, "{named:?}");

    // The admin: an audit log with something in it.
    let admin = sign_in(&app, seed::DEMO_ADMIN).await;
    let audit = ok(&app, "/api/v1/admin/audit", &admin).await;
    assert!(!items(&audit).is_empty(), "{audit}");
}

/// Loaded by SQL rather than through the domain functions, so the rules those enforce are
/// checked here over the data.
#[tokio::test]
async fn the_demo_data_obeys_the_rules_of_the_domain() {
    let app = spawn_app().await;
    load(&app.pool).await;
    let count = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let broken = [
        // Going never beyond the capacity, and a waitlist only when full.
        "SELECT count(*) FROM events e WHERE e.capacity IS NOT NULL AND
             (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'going') > e.capacity",
        "SELECT count(*) FROM events e WHERE EXISTS (SELECT 1 FROM rsvps r WHERE r.event_id = e.id AND r.status = 'waitlisted')
             AND (e.capacity IS NULL OR (SELECT count(*) FROM rsvps r WHERE r.event_id = e.id AND r.status = 'going') < e.capacity)",
        // Members-only events are answered by active members and allies only.
        "SELECT count(*) FROM rsvps r JOIN events e ON e.id = r.event_id WHERE e.audience = 'members'
             AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = e.group_id AND m.user_id = r.user_id AND m.status = 'active')",
        // Mentors show their membership; mentees are active members, never the mentor.
        "SELECT count(*) FROM mentoring_offers o WHERE NOT EXISTS (SELECT 1 FROM memberships m
             WHERE m.group_id = o.group_id AND m.user_id = o.mentor_id AND mentor_shown(m.role, m.type, m.status, m.visibility))",
        "SELECT count(*) FROM mentoring_requests r JOIN mentoring_offers o ON o.id = r.offer_id
             WHERE r.mentee_id = o.mentor_id OR NOT EXISTS (SELECT 1 FROM memberships m
                 WHERE m.group_id = o.group_id AND m.user_id = r.mentee_id AND m.status = 'active')",
        // Accepted requests within the slots; decisions carry who and when, pending ones neither.
        "SELECT count(*) FROM mentoring_offers o WHERE o.slots <
             (SELECT count(*) FROM mentoring_requests r WHERE r.offer_id = o.id AND r.status = 'accepted')",
        "SELECT count(*) FROM mentoring_requests WHERE (status = 'pending') <> (decided_at IS NULL)",
        // Nothing has happened in the future but events.
        "SELECT count(*) FROM mentoring_requests WHERE created_at > now() OR decided_at > now()",
        "SELECT count(*) FROM membership_history WHERE at > now()",
        "SELECT count(*) FROM events WHERE created_at > now() OR cancelled_at > now()",
    ];
    for sql in broken {
        assert_eq!(count(sql).await, 0, "{sql}");
    }
    let present = [
        "SELECT count(*) FROM events WHERE starts_at > now() AND audience = 'everyone'",
        "SELECT count(*) FROM events WHERE starts_at > now() AND audience = 'members'",
        "SELECT count(*) FROM events WHERE ends_at < now()",
        "SELECT count(*) FROM events WHERE cancelled_at IS NOT NULL",
        "SELECT count(*) FROM mentoring_offers WHERE closed_at IS NOT NULL",
        "SELECT count(*) FROM mentoring_requests WHERE status = 'declined'",
        "SELECT count(*) FROM mentoring_requests WHERE status = 'withdrawn'",
        // A full offer, still open.
        "SELECT count(*) FROM mentoring_offers o WHERE o.closed_at IS NULL AND o.slots =
             (SELECT count(*) FROM mentoring_requests r WHERE r.offer_id = o.id AND r.status = 'accepted')",
    ];
    for sql in present {
        assert!(count(sql).await > 0, "{sql}");
    }
}

/// Row counts of every table the demo writes, and the start of every event.
async fn snapshot(pool: &PgPool) -> (Vec<i64>, Vec<(uuid::Uuid, time::OffsetDateTime)>) {
    let mut counts = Vec::new();
    for table in [
        "users",
        "user_roles",
        "groups",
        "memberships",
        "membership_history",
        "events",
        "rsvps",
        "mentoring_offers",
        "mentoring_requests",
        "audit_log",
    ] {
        counts.push(
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(pool)
                .await
                .unwrap(),
        );
    }
    let starts = sqlx::query_as("SELECT id, starts_at FROM events ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    (counts, starts)
}

#[tokio::test]
async fn loading_again_keeps_one_copy_and_moves_an_old_demo_to_today() {
    let app = spawn_app().await;
    load(&app.pool).await;
    let first = snapshot(&app.pool).await;
    load(&app.pool).await;
    assert_eq!(
        snapshot(&app.pool).await,
        first,
        "loading twice changes nothing"
    );

    // The demo as if it had been loaded three days ago.
    sqlx::raw_sql(
        "UPDATE events SET starts_at = starts_at - interval '3 days', ends_at = ends_at - interval '3 days',
                cancelled_at = cancelled_at - interval '3 days', created_at = created_at - interval '3 days';
         UPDATE rsvps SET responded_at = responded_at - interval '3 days';
         UPDATE mentoring_offers SET created_at = created_at - interval '3 days',
                closed_at = closed_at - interval '3 days';
         UPDATE mentoring_requests SET created_at = created_at - interval '3 days',
                decided_at = decided_at - interval '3 days';",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let upcoming = "SELECT count(*) FROM events WHERE starts_at > now()";
    let stale: i64 = sqlx::query_scalar(upcoming)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (_, first_starts) = &first;
    let was: i64 = i64::try_from(
        first_starts
            .iter()
            .filter(|(_, s)| *s > time::OffsetDateTime::now_utc())
            .count(),
    )
    .unwrap();
    assert!(
        stale < was,
        "the test moved an upcoming event into the past"
    );

    load(&app.pool).await;
    assert_eq!(
        snapshot(&app.pool).await,
        first,
        "one copy of everything, at the dates of a fresh load"
    );
    let sequences: Vec<i32> =
        sqlx::query_scalar("SELECT sequence FROM events WHERE cancelled_at IS NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        sequences.iter().all(|s| *s >= 1),
        "moved events tell calendars: {sequences:?}"
    );
    let future_requests: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mentoring_requests WHERE created_at > now() OR decided_at > now()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(future_requests, 0);

    // The employee's place in line survived the move.
    let employee = sign_in(&app, seed::DEMO_EMPLOYEE).await;
    let women = ok(&app, "/api/v1/groups/women/events", &employee).await;
    assert!(
        items(&women).iter().any(|e| e["my_waitlist_position"] == 2),
        "{women}"
    );
}
