//! HR reports: who may download them, their exact columns and rows on known data, the privacy
//! of the row-level export, small-count suppression, formula neutralisation, bad parameters,
//! and the audit record of every download (also one cut short by the client).

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, error_fields, eventually, spawn_app, spawn_app_with};

const GROUPS: &str = "/api/v1/reports/groups.csv";
const MEMBERSHIPS: &str = "/api/v1/reports/memberships.csv";
const BREAKDOWN: &str = "/api/v1/reports/breakdown.csv";

/// A CSV download: status, headers and body.
async fn download(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
    (status, headers, body)
}

/// The body of a download that must succeed, as lines (without their CRLF).
async fn csv_lines(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let (status, headers, body) = download(app, path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8", "{path}");
    assert!(
        body.ends_with("\r\n"),
        "{path}: every record ends in CRLF: {body:?}"
    );
    body.split_terminator("\r\n").map(str::to_string).collect()
}

async fn set_profile(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    department: Option<&str>,
    location: Option<&str>,
) {
    sqlx::query("UPDATE users SET display_name = $2, department = $3, location = $4 WHERE id = $1")
        .bind(user.id)
        .bind(name)
        .bind(department)
        .bind(location)
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
}

async fn joined_at(app: &TestApp, user: &TestUser, slug: &str) -> String {
    let at: OffsetDateTime = sqlx::query_scalar(
        "SELECT m.joined_at FROM memberships m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = $1 AND g.slug = $2",
    )
    .bind(user.id)
    .bind(slug)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    at.format(&Rfc3339).unwrap()
}

/// `n` employees written straight to the database, each with a membership of `slug` of the
/// given type and status (visibility `private`, so that only aggregates may count them).
#[allow(clippy::too_many_arguments)]
async fn crowd(
    app: &TestApp,
    slug: &str,
    n: i32,
    department: Option<&str>,
    location: &str,
    kind: &str,
    status: &str,
    active: bool,
) {
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (email, password_hash, display_name, department, location, active)
             SELECT 'crowd-' || gen_random_uuid() || '@example.com', 'not-a-hash', 'Crowd ' || i, $2, $3, $7
             FROM generate_series(1, $1) AS i
             RETURNING id
         )
         INSERT INTO memberships (group_id, user_id, type, status, visibility)
         SELECT g.id, u.id, $5::membership_type, $6::membership_status, 'private'
         FROM u CROSS JOIN groups g WHERE g.slug = $4",
    )
    .bind(n)
    .bind(department)
    .bind(location)
    .bind(slug)
    .bind(kind)
    .bind(status)
    .bind(active)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn sql_group(app: &TestApp, slug: &str, archived: bool) {
    sqlx::query(
        "INSERT INTO groups (slug, name, tagline, mission, archived_at)
         VALUES ($1, initcap($1), 'A tagline', 'A mission.', CASE WHEN $2 THEN now() END)",
    )
    .bind(slug)
    .bind(archived)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// The `report.downloaded` audit records, oldest first: (actor, target, details).
async fn report_audits(app: &TestApp) -> Vec<(Option<Uuid>, Option<String>, Value)> {
    sqlx::query_as(
        "SELECT actor_id, target, details FROM audit_log WHERE action = 'report.downloaded' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Waits until there are `n` report audit records: each is written as its download's body is
/// dropped, just after the client has the last byte.
async fn wait_for_audits(app: &TestApp, n: usize) -> Vec<(Option<Uuid>, Option<String>, Value)> {
    eventually(&format!("{n} report audit records"), || async {
        let rows = report_audits(app).await;
        (rows.len() >= n).then_some(rows)
    })
    .await
}

/// The report audit records once every earlier request has had its chance to write one, with
/// no fixed wait: a new HR user makes one last download and its record is waited for. A record
/// is written when a download's body is dropped, so any request answered before this last
/// download began would have written its record first. Answers the records but that last one.
async fn audits_settled(app: &TestApp) -> Vec<(Option<Uuid>, Option<String>, Value)> {
    let sentinel = app.hr().await;
    let (status, _, body) = download(app, GROUPS, Some(&sentinel.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut rows = eventually("the audit record of the last download", || async {
        let rows = report_audits(app).await;
        rows.iter()
            .any(|(actor, _, _)| *actor == Some(sentinel.id))
            .then_some(rows)
    })
    .await;
    let last = rows
        .iter()
        .position(|(actor, _, _)| *actor == Some(sentinel.id))
        .unwrap();
    rows.remove(last);
    rows
}

#[tokio::test]
async fn only_hr_and_admins_download_reports() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "alpha", "Alpha", "open").await;
    let employee = app.user("Emil Employee").await;
    let member = app.user("Mona Member").await;
    app.join(&member, "alpha", "member", Some("public")).await;
    let lead = app.user("Lena Lead").await;
    app.join(&lead, "alpha", "member", Some("public")).await;
    app.change_member(&admin, "alpha", &lead, json!({"role": "lead"}))
        .await;

    let paths = [
        GROUPS.to_string(),
        format!("{GROUPS}?from=2026-01-01&to=2026-02-01"),
        MEMBERSHIPS.to_string(),
        format!("{MEMBERSHIPS}?group=alpha"),
        format!("{BREAKDOWN}?by=department"),
        format!("{BREAKDOWN}?by=location"),
    ];
    for path in &paths {
        let (status, headers, _) = download(&app, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} anonymous");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        let (status, _, _) = download(&app, path, Some("not-a-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with a bad token");
        for (who, user) in [
            ("employee", &employee),
            ("member", &member),
            ("lead of the group", &lead),
        ] {
            let (status, headers, body) = download(&app, path, Some(&user.token)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {who}: {body}");
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/problem+json")
            );
        }
        for (who, user) in [("hr", &hr), ("admin", &admin)] {
            let (status, headers, body) = download(&app, path, Some(&user.token)).await;
            assert_eq!(status, StatusCode::OK, "{path} as {who}: {body}");
            assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        }
    }
    // Refusals are refusals before anything else: a bad parameter does not tell an employee
    // more than "no".
    for path in [
        format!("{GROUPS}?from=never"),
        format!("{BREAKDOWN}?by=team"),
        format!("{MEMBERSHIPS}?group=nope"),
    ] {
        let (status, _, _) = download(&app, &path, Some(&employee.token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // The twelve downloads (6 paths, hr and admin) are audited, and no refusal is.
    let audits = audits_settled(&app).await;
    assert_eq!(audits.len(), 12, "{audits:?}");
    assert!(
        audits
            .iter()
            .all(|(actor, _, _)| *actor == Some(hr.id) || *actor == Some(admin.id))
    );

    // The role is read on every request: revoked, the same token is refused at once; a
    // deactivated account's token is no token at all.
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(hr.id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    let (status, _, _) = download(&app, MEMBERSHIPS, Some(&hr.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", hr.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = download(&app, MEMBERSHIPS, Some(&hr.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn downloads_are_dated_attachments_that_no_cache_keeps() {
    let app = spawn_app().await;
    let hr = app.hr().await;
    sql_group(&app, "alpha", false).await;
    for (path, stem) in [
        (GROUPS.to_string(), "groups"),
        (format!("{MEMBERSHIPS}?group=alpha"), "memberships-alpha"),
        (MEMBERSHIPS.to_string(), "memberships"),
        (format!("{BREAKDOWN}?by=location"), "breakdown-location"),
    ] {
        let before = OffsetDateTime::now_utc().date();
        let (status, headers, _) = download(&app, &path, Some(&hr.token)).await;
        let after = OffsetDateTime::now_utc().date();
        assert_eq!(status, StatusCode::OK);
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(
            [before, after]
                .iter()
                .any(|d| disposition == format!("attachment; filename=\"belong-{stem}-{d}.csv\"")),
            "{path}: {disposition}"
        );
        assert_eq!(headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn the_summary_counts_each_group_over_the_period() {
    // Cells of 1 show as they are (only nobody is `<1`), and nothing is rounded, so that every
    // count can be checked exactly.
    let app = spawn_app_with(|s| {
        s.reports.min_cell_size = 1;
        s.reports.round_to = 1;
    })
    .await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "alpha", "Alpha Network, Allies & Friends", "open")
        .await;
    app.create_group(&admin, "beta", "Beta", "approval").await;
    app.create_group(&admin, "delta", "Delta", "open").await;
    app.create_group(&admin, "gamma", "Gamma", "open").await;

    // alpha (open): a lead, two members (one private: counted, never named), an ally, an ally
    // who left, and a member whose account was deactivated.
    let lead = app.user("Lena Lead").await;
    app.join(&lead, "alpha", "member", Some("public")).await;
    app.change_member(&admin, "alpha", &lead, json!({"role": "lead"}))
        .await;
    let m1 = app.user("Max One").await;
    app.join(&m1, "alpha", "member", Some("public")).await;
    let m2 = app.user("Pia Private").await;
    app.join(&m2, "alpha", "member", Some("private")).await;
    let a1 = app.user("Al Ally").await;
    app.join(&a1, "alpha", "ally", Some("members")).await;
    let a2 = app.user("Ada Away").await;
    app.join(&a2, "alpha", "ally", Some("public")).await;
    let (status, _) = app
        .delete("/api/v1/groups/alpha/membership", Some(&a2.token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let d1 = app.user("Dan Departed").await;
    app.join(&d1, "alpha", "member", Some("public")).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", d1.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // beta (approval): one request waiting, one approved (joined once, when approved), one
    // declined (it never joined, so it never left).
    let p1 = app.user("Pat Pending").await;
    app.join(&p1, "beta", "member", Some("public")).await;
    let p2 = app.user("Bea Approved").await;
    app.join(&p2, "beta", "member", Some("members")).await;
    app.change_member(&admin, "beta", &p2, json!({"status": "active"}))
        .await;
    let p3 = app.user("Dee Declined").await;
    app.join(&p3, "beta", "ally", Some("public")).await;
    let (status, _) = app
        .delete(
            &format!("/api/v1/groups/beta/members/{}", p3.id),
            Some(&admin.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // delta is archived now, gamma long ago.
    let dm = app.user("Del Member").await;
    app.join(&dm, "delta", "member", Some("members")).await;
    let (status, body) = app
        .post(
            "/api/v1/groups/delta/archive",
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sqlx::query("UPDATE groups SET archived_at = now() - interval '30 days' WHERE slug = 'gamma'")
        .execute(&app.pool)
        .await
        .unwrap();

    // History, events and mentoring, some within the last four weeks, some forty days ago.
    sqlx::query(
        "INSERT INTO membership_history (at, group_id, user_id, actor_id, event, type, role, status, visibility)
         SELECT now() - interval '40 days', g.id, $1, $1, 'joined', 'member', 'member', 'active', 'public'
         FROM groups g WHERE g.slug = 'alpha'",
    )
    .bind(m1.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let alpha: Uuid = sqlx::query_scalar("SELECT id FROM groups WHERE slug = 'alpha'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let event = |offset: &'static str, cancelled: bool| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>(
                "INSERT INTO events (group_id, title, starts_at, ends_at, cancelled_at)
                 VALUES ($1, 'Meet-up', now() + $2::interval, now() + $2::interval + interval '1 hour',
                         CASE WHEN $3 THEN now() END)
                 RETURNING id",
            )
            .bind(alpha)
            .bind(offset)
            .bind(cancelled)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let soon = event("30 minutes", false).await;
    let cancelled = event("30 minutes", true).await;
    let past = event("-40 days", false).await;
    for (event, user, status) in [
        (soon, &m1, "going"),
        (soon, &m2, "going"),
        (soon, &a1, "waitlisted"),
        (cancelled, &lead, "going"),
        (past, &m1, "going"),
    ] {
        sqlx::query(
            "INSERT INTO rsvps (event_id, user_id, status) VALUES ($1, $2, $3::rsvp_status)",
        )
        .bind(event)
        .bind(user.id)
        .bind(status)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let offer: Uuid = sqlx::query_scalar(
        "INSERT INTO mentoring_offers (group_id, mentor_id, title, slots) VALUES ($1, $2, 'Careers', 5) RETURNING id",
    )
    .bind(alpha)
    .bind(lead.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for (user, status, decided) in [
        (&m1, "accepted", Some("0 minutes")),
        (&m2, "accepted", Some("-40 days")),
        (&a1, "declined", Some("0 minutes")),
        (&dm, "pending", None),
    ] {
        sqlx::query(
            "INSERT INTO mentoring_requests (offer_id, mentee_id, status, decided_at)
             VALUES ($1, $2, $3::mentoring_request_status, now() + $4::interval)",
        )
        .bind(offer)
        .bind(user.id)
        .bind(status)
        .bind(decided)
        .execute(&app.pool)
        .await
        .unwrap();
    }

    let now = OffsetDateTime::now_utc();
    // The shortest period there is: 28 days, ending tomorrow.
    let from = (now - time::Duration::days(27)).format(&Rfc3339).unwrap();
    let to = (now + time::Duration::days(1)).format(&Rfc3339).unwrap();
    let header = "group_slug,group_name,members,allies,leads,pending,joined,left,events,rsvps_going,mentoring_accepted";
    let lines = csv_lines(&app, &format!("{GROUPS}?from={from}&to={to}"), &hr.token).await;
    assert_eq!(
        lines,
        [
            header,
            // members: the lead, Max and Pia; joined: six; left: Ada and Dan; one event (the
            // cancelled and the past one are not counted) with two going; one match.
            "alpha,\"Alpha Network, Allies & Friends\",3,1,1,<1,6,2,1,2,1",
            "beta,Beta,1,<1,<1,1,1,<1,<1,<1,<1",
            // Archived within the period: still there, with its counts.
            "delta,Delta,1,<1,<1,<1,1,<1,<1,<1,<1",
        ],
        "gamma was archived before the period began"
    );

    // The default period is the last twelve months up to now: the history and the event of
    // forty days ago are in, the coming event is not.
    let lines = csv_lines(&app, GROUPS, &hr.token).await;
    assert_eq!(
        lines,
        [
            header,
            "alpha,\"Alpha Network, Allies & Friends\",3,1,1,<1,7,2,1,1,2",
            "beta,Beta,1,<1,<1,1,1,<1,<1,<1,<1",
            "delta,Delta,1,<1,<1,<1,1,<1,<1,<1,<1",
            "gamma,Gamma,<1,<1,<1,<1,<1,<1,<1,<1,<1",
        ]
    );

    // Dates: a period that ended before anything happened.
    let lines = csv_lines(
        &app,
        &format!("{GROUPS}?from=2020-01-01&to=2020-02-01"),
        &hr.token,
    )
    .await;
    assert_eq!(
        lines[1],
        "alpha,\"Alpha Network, Allies & Friends\",3,1,1,<1,<1,<1,<1,<1,<1"
    );
}

#[tokio::test]
async fn the_roster_export_names_only_public_memberships() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "alpha", "Alpha", "open").await;
    app.create_group(&admin, "beta", "Beta", "approval").await;
    app.create_group(&admin, "chi", "Chi", "open").await;
    app.create_group(&admin, "old", "Old", "open").await;

    let lead = app.user("Lena Lead").await;
    app.join(&lead, "alpha", "member", Some("public")).await;
    app.change_member(&admin, "alpha", &lead, json!({"role": "lead"}))
        .await;
    let ally = app.user("Al Ally").await;
    app.join(&ally, "alpha", "ally", Some("public")).await;
    let mia = app.user("Mia Members").await;
    app.join(&mia, "alpha", "member", Some("members")).await;
    let pia = app.user("Pia Private").await;
    app.join(&pia, "alpha", "member", Some("private")).await;
    app.join(&pia, "beta", "ally", Some("private")).await;
    app.change_member(&admin, "beta", &pia, json!({"status": "active"}))
        .await;
    // Public, but their account is no longer active.
    let gus = app.user("Gus Gone").await;
    app.join(&gus, "alpha", "member", Some("public")).await;
    sqlx::query("UPDATE users SET active = false WHERE id = $1")
        .bind(gus.id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.settle().await;
    // beta: Mia is public here; Pat's public request is still pending.
    let bea = app.user("Bea Beta").await;
    app.join(&bea, "beta", "member", Some("public")).await;
    app.change_member(&admin, "beta", &bea, json!({"status": "active"}))
        .await;
    app.join(&mia, "beta", "member", Some("public")).await;
    app.change_member(&admin, "beta", &mia, json!({"status": "active"}))
        .await;
    let pat = app.user("Pat Pending").await;
    app.join(&pat, "beta", "member", Some("public")).await;
    // chi: a display name and a department that a spreadsheet would run as formulas.
    let sly = app.user("Sly").await;
    app.join(&sly, "chi", "member", Some("public")).await;
    set_profile(
        &app,
        &sly,
        r#"=HYPERLINK("http://evil.example","click")"#,
        Some("+Sales"),
        Some("Oslo, Norway"),
    )
    .await;
    // An archived group's roster is not reported.
    let olga = app.user("Olga Old").await;
    app.join(&olga, "old", "member", Some("public")).await;
    let (status, _) = app
        .post("/api/v1/groups/old/archive", Some(&admin.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let header = "group_slug,email,display_name,department,location,type,role,joined_at";
    let alpha_lines = [
        format!(
            "alpha,{},Al Ally,Engineering,Lisbon,ally,member,{}",
            ally.email,
            joined_at(&app, &ally, "alpha").await
        ),
        format!(
            "alpha,{},Lena Lead,Engineering,Lisbon,member,lead,{}",
            lead.email,
            joined_at(&app, &lead, "alpha").await
        ),
    ];
    let beta_lines = [
        format!(
            "beta,{},Bea Beta,Engineering,Lisbon,member,member,{}",
            bea.email,
            joined_at(&app, &bea, "beta").await
        ),
        format!(
            "beta,{},Mia Members,Engineering,Lisbon,member,member,{}",
            mia.email,
            joined_at(&app, &mia, "beta").await
        ),
    ];
    let chi_lines = [format!(
        r#"chi,{},"'=HYPERLINK(""http://evil.example"",""click"")","'+Sales","Oslo, Norway",member,member,{}"#,
        sly.email,
        joined_at(&app, &sly, "chi").await
    )];

    for token in [&hr.token, &admin.token] {
        let lines = csv_lines(&app, MEMBERSHIPS, token).await;
        let mut expected = vec![header.to_string()];
        expected.extend(alpha_lines.iter().cloned());
        expected.extend(beta_lines.iter().cloned());
        expected.extend(chi_lines.iter().cloned());
        assert_eq!(lines, expected);

        let lines = csv_lines(&app, &format!("{MEMBERSHIPS}?group=alpha"), token).await;
        let mut expected = vec![header.to_string()];
        expected.extend(alpha_lines.iter().cloned());
        assert_eq!(lines, expected);
        let body = lines.join("\n");
        for hidden in [&mia, &pia, &gus] {
            assert!(!body.contains(&hidden.email), "{body}");
        }
        for name in ["Mia Members", "Pia Private", "Gus Gone"] {
            assert!(!body.contains(name), "{body}");
        }

        let lines = csv_lines(&app, &format!("{MEMBERSHIPS}?group=beta"), token).await;
        let mut expected = vec![header.to_string()];
        expected.extend(beta_lines.iter().cloned());
        assert_eq!(lines, expected, "neither Pia (private) nor Pat (pending)");
    }

    // No membership that is not public is named, in any group, by email or by name.
    let everything = csv_lines(&app, MEMBERSHIPS, &hr.token).await.join("\n");
    for name in ["Pia Private", "Gus Gone", "Pat Pending", "Olga Old"] {
        assert!(!everything.contains(name), "{name}: {everything}");
    }
    let named: Vec<(String, String)> = everything
        .lines()
        .skip(1)
        .map(|l| {
            let mut cells = l.split(',');
            (
                cells.next().unwrap().to_string(),
                cells.next().unwrap().to_string(),
            )
        })
        .collect();
    let public: Vec<(String, String)> = sqlx::query_as(
        "SELECT g.slug, u.email FROM memberships m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id
         WHERE m.visibility = 'public' AND m.status = 'active' AND u.active AND g.archived_at IS NULL
         ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut sorted = named.clone();
    sorted.sort();
    assert_eq!(sorted, public);

    for missing in ["nope", "old", "Not-A-Slug!", ""] {
        let (status, headers, body) = download(
            &app,
            &format!("{MEMBERSHIPS}?group={missing}"),
            Some(&hr.token),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing:?}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
}

/// alpha: Engineering 6 (members and allies), Finance 7, Sales 2, and 2 with no department;
/// beta: Engineering 3, Finance 8, Legal 12; gamma: Engineering 3. Pending requests, inactive
/// employees and an archived group are not counted.
async fn breakdown_data(app: &TestApp) {
    for slug in ["alpha", "beta", "gamma"] {
        sql_group(app, slug, false).await;
    }
    sql_group(app, "old", true).await;
    crowd(
        app,
        "alpha",
        4,
        Some("Engineering"),
        "Lisbon",
        "member",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "alpha",
        2,
        Some("Engineering"),
        "Lisbon",
        "ally",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "alpha",
        7,
        Some("Finance"),
        "Lisbon",
        "member",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "alpha",
        2,
        Some("Sales"),
        "Lisbon",
        "member",
        "active",
        true,
    )
    .await;
    crowd(app, "alpha", 1, None, "Lisbon", "member", "active", true).await;
    crowd(
        app,
        "alpha",
        1,
        Some("  "),
        "Lisbon",
        "ally",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "alpha",
        3,
        Some("Sales"),
        "Lisbon",
        "member",
        "pending",
        true,
    )
    .await;
    crowd(
        app,
        "alpha",
        5,
        Some("Sales"),
        "Lisbon",
        "member",
        "active",
        false,
    )
    .await;
    crowd(
        app,
        "beta",
        3,
        Some("Engineering"),
        "Oslo",
        "member",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "beta",
        8,
        Some("Finance"),
        "Oslo",
        "ally",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "beta",
        12,
        Some("Legal"),
        "Oslo",
        "member",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "gamma",
        3,
        Some("Engineering"),
        "Lisbon",
        "member",
        "active",
        true,
    )
    .await;
    crowd(
        app,
        "old",
        9,
        Some("Legal"),
        "Lisbon",
        "member",
        "active",
        true,
    )
    .await;
}

#[tokio::test]
async fn the_breakdown_hides_small_counts_and_what_a_total_would_reveal() {
    let app = spawn_app().await;
    let hr = app.hr().await;
    breakdown_data(&app).await;
    let lines = csv_lines(&app, &format!("{BREAKDOWN}?by=department"), &hr.token).await;
    assert_eq!(
        lines,
        [
            "group_slug,department,members",
            // The whole grid: every group has a row for every department held by five active
            // employees or more (Legal through beta and the archived group; Sales through
            // pending requests), and for `(other)`: the two people with no department recorded.
            "alpha,Engineering,6",
            "alpha,Finance,7",
            // Three small cells (0, 2 and 2): their sum (4) pins none of them.
            "alpha,Legal,<5",
            "alpha,Sales,<5",
            "alpha,(other),<5",
            // Three small cells (3, 0, 0) that may each be 0 to 4: nothing is pinned, so
            // nothing more is hidden.
            "beta,Engineering,<5",
            "beta,Finance,8",
            "beta,Legal,12",
            "beta,Sales,<5",
            "beta,(other),<5",
            "gamma,Engineering,<5",
            "gamma,Finance,<5",
            "gamma,Legal,<5",
            "gamma,Sales,<5",
            "gamma,(other),<5",
        ]
    );
    let lines = csv_lines(&app, &format!("{BREAKDOWN}?by=location"), &hr.token).await;
    assert_eq!(
        lines,
        [
            "group_slug,location,members",
            // alpha has nobody in Oslo: a lone pair of `<5` cells summing to 0 would be pinned,
            // so the Lisbon count is withheld too (and likewise Oslo for beta).
            "alpha,Lisbon,suppressed",
            "alpha,Oslo,<5",
            "alpha,(other),<5",
            "beta,Lisbon,<5",
            "beta,Oslo,suppressed",
            "beta,(other),<5",
            "gamma,Lisbon,<5",
            "gamma,Oslo,<5",
            "gamma,(other),<5",
        ]
    );
    // The HR user (Engineering, Lisbon, no membership) changes nothing; nor does anyone's
    // visibility: every membership above is private.
}

#[tokio::test]
async fn the_breakdown_follows_the_configured_cell_size() {
    let app = spawn_app_with(|s| s.reports.min_cell_size = 3).await;
    let hr = app.hr().await;
    breakdown_data(&app).await;
    let lines = csv_lines(&app, &format!("{BREAKDOWN}?by=department"), &hr.token).await;
    assert_eq!(
        lines,
        [
            "group_slug,department,members",
            // Cells of 0 to 2 (Legal 0, Sales 2, `(other)` 2) summing to 4: none is pinned.
            "alpha,Engineering,6",
            "alpha,Finance,7",
            "alpha,Legal,<3",
            "alpha,Sales,<3",
            "alpha,(other),<3",
            // Two empty `<3` cells would be pinned at 0: Engineering (3) hides, then Finance,
            // since a withheld 3 beside two cells of at least 0 would be pinned in turn.
            "beta,Engineering,suppressed",
            "beta,Finance,suppressed",
            "beta,Legal,12",
            "beta,Sales,<3",
            "beta,(other),<3",
            "gamma,Engineering,suppressed",
            "gamma,Finance,<3",
            "gamma,Legal,<3",
            "gamma,Sales,<3",
            "gamma,(other),<3",
        ]
    );
    let audits = wait_for_audits(&app, 1).await;
    assert_eq!(
        audits[0].2["params"],
        json!({"by": "department", "min_cell_size": 3})
    );
}

#[tokio::test]
async fn bad_parameters_are_422_naming_the_field() {
    let app = spawn_app().await;
    let hr = app.hr().await;
    for (path, fields) in [
        (format!("{GROUPS}?from=yesterday"), vec!["from"]),
        (format!("{GROUPS}?to=2026-13-01"), vec!["to"]),
        (format!("{GROUPS}?from=2026-02-30"), vec!["from"]),
        (
            format!("{GROUPS}?from=01/02/2026&to=soon"),
            vec!["from", "to"],
        ),
        (
            format!("{GROUPS}?from=2026-05-02&to=2026-05-01"),
            vec!["from"],
        ),
        (
            format!("{GROUPS}?from=2026-05-01T10:00:00Z&to=2026-05-01T09:59:59Z"),
            vec!["from"],
        ),
        (format!("{GROUPS}?from=2999-01-01"), vec!["from"]),
        // Shorter than 28 days: an empty period, two seconds, a day short of four weeks.
        (
            format!("{GROUPS}?from=2026-01-01&to=2026-01-01"),
            vec!["from"],
        ),
        (
            format!("{GROUPS}?from=2026-05-01T10:00:00Z&to=2026-05-01T10:00:02Z"),
            vec!["from"],
        ),
        (
            format!("{GROUPS}?from=2026-01-01&to=2026-01-28"),
            vec!["from"],
        ),
        (BREAKDOWN.to_string(), vec!["by"]),
        (format!("{BREAKDOWN}?by="), vec!["by"]),
        (format!("{BREAKDOWN}?by=team"), vec!["by"]),
        (format!("{BREAKDOWN}?by=Department"), vec!["by"]),
    ] {
        let (status, headers, body) = download(&app, &path, Some(&hr.token)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        assert_eq!(
            error_fields(&serde_json::from_str(&body).unwrap()),
            fields,
            "{path}: {body}"
        );
    }
    // Both forms of a good period, the shortest one, and the default.
    for path in [
        format!("{GROUPS}?from=2026-01-01&to=2026-04-01"),
        format!("{GROUPS}?from=2026-01-01T00:00:00%2B02:00&to=2026-04-01T00:00:00Z"),
        format!("{GROUPS}?from=2026-01-01&to=2026-01-29"),
        format!("{GROUPS}?from=&to="),
    ] {
        let (status, _, body) = download(&app, &path, Some(&hr.token)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    // Nothing refused is audited.
    let audits = audits_settled(&app).await;
    assert_eq!(audits.len(), 4, "{audits:?}");
}

#[tokio::test]
async fn every_download_is_audited_with_its_parameters_and_rows() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "alpha", "Alpha", "open").await;
    for name in ["Ann", "Bob", "Cy"] {
        let user = app.user(name).await;
        app.join(&user, "alpha", "member", Some("public")).await;
    }
    let quiet = app.user("Quiet").await;
    app.join(&quiet, "alpha", "member", Some("private")).await;

    // One at a time: each record is written just after its download ends.
    let downloads = [
        (
            format!("{GROUPS}?from=2026-01-01&to=2026-04-01T12:00:00Z"),
            &hr,
        ),
        (format!("{MEMBERSHIPS}?group=alpha"), &hr),
        (MEMBERSHIPS.to_string(), &admin),
        (format!("{BREAKDOWN}?by=location"), &hr),
    ];
    for (i, (path, user)) in downloads.iter().enumerate() {
        csv_lines(&app, path, &user.token).await;
        wait_for_audits(&app, i + 1).await;
    }

    // Admins read them in the audit log, newest first.
    let (status, page) = app
        .get("/api/v1/admin/audit?limit=100", Some(&admin.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let downloads: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "report.downloaded")
        .collect();
    let seen: Vec<(Value, Value, Value)> = downloads
        .iter()
        .map(|e| {
            (
                e["actor_id"].clone(),
                e["target"].clone(),
                e["details"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                json!(hr.id),
                json!("breakdown.csv"),
                json!({"report": "breakdown", "params": {"by": "location", "min_cell_size": 5}, "rows": 2, "completed": true})
            ),
            (
                json!(admin.id),
                json!("memberships.csv"),
                json!({"report": "memberships", "params": {"group": null}, "rows": 3, "completed": true})
            ),
            (
                json!(hr.id),
                json!("memberships.csv"),
                json!({"report": "memberships", "params": {"group": "alpha"}, "rows": 3, "completed": true})
            ),
            (
                json!(hr.id),
                json!("groups.csv"),
                json!({
                    "report": "groups",
                    "params": {"from": "2026-01-01T00:00:00Z", "to": "2026-04-01T12:00:00Z", "min_cell_size": 5, "round_to": 5},
                    "rows": 1,
                    "completed": true
                })
            ),
        ]
    );
}

/// `n` employees with public memberships of `slug`, in one statement.
async fn bulk_public_members(app: &TestApp, slug: &str, n: i32) {
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (email, password_hash, display_name, department, location)
             SELECT 'bulk-' || lpad(i::text, 7, '0') || '@example.com', 'not-a-hash',
                    'Bulk Person ' || lpad(i::text, 7, '0'), 'Engineering', 'Lisbon'
             FROM generate_series(1, $1) AS i
             RETURNING id
         )
         INSERT INTO memberships (group_id, user_id, type, status, visibility)
         SELECT g.id, u.id, 'member', 'active', 'public' FROM u CROSS JOIN groups g WHERE g.slug = $2",
    )
    .bind(n)
    .bind(slug)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_large_export_streams_every_row() {
    let app = spawn_app().await;
    let hr = app.hr().await;
    sql_group(&app, "bulk", false).await;
    bulk_public_members(&app, "bulk", 50_000).await;
    let response = app
        .client
        .get(format!("{}{MEMBERSHIPS}", app.base))
        .bearer_auth(&hr.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Streamed: no length announced up front.
    assert!(response.headers().get("content-length").is_none());
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 50_001);
    assert!(
        lines[1].starts_with("bulk,bulk-0000001@example.com,Bulk Person 0000001,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[50_000].starts_with("bulk,bulk-0050000@example.com,"),
        "{}",
        lines[50_000]
    );
    let audits = wait_for_audits(&app, 1).await;
    assert_eq!(audits[0].2["rows"], 50_000);
    assert_eq!(audits[0].2["completed"], true);
}

#[tokio::test]
async fn a_download_cut_short_is_audited_with_the_rows_sent_and_its_query_stopped() {
    let app = spawn_app().await;
    let hr = app.hr().await;
    sql_group(&app, "bulk", false).await;
    // About 12 MB of CSV: more than the socket buffers between the server and the client hold,
    // so the server is still sending when the client goes away.
    bulk_public_members(&app, "bulk", 120_000).await;
    let mut response = app
        .client
        .get(format!("{}{MEMBERSHIPS}", app.base))
        .bearer_auth(&hr.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"group_slug,email,"));
    drop(response);

    let audits = wait_for_audits(&app, 1).await;
    let (actor, target, details) = &audits[0];
    assert_eq!(*actor, Some(hr.id));
    assert_eq!(target.as_deref(), Some("memberships.csv"));
    assert_eq!(details["completed"], false, "{details}");
    let rows = details["rows"].as_u64().unwrap();
    assert!(rows < 120_000, "{details}");

    // The query is not left running for nobody: its connection is closed.
    eventually("the report's query to stop", || async {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND query LIKE '%m.visibility = ''public''%' AND state <> 'idle'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (running == 0).then_some(())
    })
    .await;

    // The service is fine afterwards: the next download completes.
    let (status, _, body) =
        download(&app, &format!("{MEMBERSHIPS}?group=bulk"), Some(&hr.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.split_terminator("\r\n").count(), 120_001);
}

#[tokio::test]
async fn a_report_that_fails_mid_way_is_cut_off_not_passed_off_as_whole() {
    let app = spawn_app().await;
    let hr = app.hr().await;
    sql_group(&app, "bulk", false).await;
    bulk_public_members(&app, "bulk", 120_000).await;
    let mut response = app
        .client
        .get(format!("{}{MEMBERSHIPS}", app.base))
        .bearer_auth(&hr.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.chunk().await.unwrap().unwrap();
    // The database connection of the report dies while the client is still reading.
    eventually("the report's query, running, to be terminated", || async {
        let terminated: bool = sqlx::query_scalar(
            "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND query LIKE '%m.visibility = ''public''%' AND state = 'active'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        terminated.then_some(())
    })
    .await;
    // The client does not get a clean end of the body: the download is visibly broken.
    let mut received = 0usize;
    let ending = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(
        ending.is_err(),
        "a cut-off download ended cleanly after {received} bytes"
    );
    let audits = wait_for_audits(&app, 1).await;
    assert_eq!(audits[0].2["completed"], false, "{:?}", audits[0]);
    assert!(audits[0].2["rows"].as_u64().unwrap() < 120_000);
}

#[tokio::test]
async fn the_reports_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, param) in [
        ("/api/v1/reports/groups.csv", "from"),
        ("/api/v1/reports/memberships.csv", "group"),
        ("/api/v1/reports/breakdown.csv", "by"),
    ] {
        let get = &doc["paths"][path]["get"];
        assert!(
            get["responses"]["200"]["content"]["text/csv"].is_object(),
            "{path}: {get}"
        );
        for status in ["401", "403"] {
            assert!(
                get["responses"][status].is_object(),
                "{path} {status}: {get}"
            );
        }
        let params: Vec<&str> = get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(params.contains(&param), "{path}: {params:?}");
    }
}

#[tokio::test]
async fn the_summary_hides_how_few_joined_or_left() {
    let app = spawn_app().await; // min_cell_size 5
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "quiet", "Quiet", "open").await;
    let who = app.user("Only One").await;
    app.join(&who, "quiet", "member", Some("private")).await;
    app.delete("/api/v1/groups/quiet/membership", Some(&who.token))
        .await;
    let lines = csv_lines(&app, GROUPS, &hr.token).await;
    assert_eq!(
        lines[1], "quiet,Quiet,<5,<5,<5,<5,<5,<5,<5,<5,<5",
        "one leaver today is not singled out, nor told from nobody"
    );
}

/// The cells of one CSV record (RFC 4180: quoted cells may hold commas and doubled quotes).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().unwrap().push(c),
        }
    }
    assert!(!quoted, "an unterminated quote: {line}");
    cells
}

/// Every cell of a CSV body, with no cell that a spreadsheet would run as a formula.
fn assert_no_formula(what: &str, lines: &[String]) -> Vec<String> {
    let cells: Vec<String> = lines.iter().flat_map(|l| csv_cells(l)).collect();
    for cell in &cells {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{what}: the cell {cell:?} would run as a formula"
        );
    }
    cells
}

/// Whatever people can write (their email, department and location, a group's name) comes
/// out of every CSV as text: quoted with a leading apostrophe, in the rows and in the
/// breakdown's categories alike.
#[tokio::test]
async fn cells_people_write_cannot_run_as_formulas_in_any_export() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hr = app.hr().await;
    app.create_group(&admin, "calc", "=1+2", "open").await;
    let email = "=1+2@example.com";
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": crate::helpers::PASSWORD, "display_name": "Sly",
                   "department": "-1+1", "location": "@SUM(A1:A9)"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sly = crate::helpers::TestUser {
        id: body["id"].as_str().unwrap().parse().unwrap(),
        email: email.to_string(),
        token: app.login(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    app.join(&sly, "calc", "member", Some("public")).await;
    // Enough colleagues with the same department and location for the breakdown to show them.
    crowd(
        &app,
        "calc",
        5,
        Some("-1+1"),
        "@SUM(A1:A9)",
        "member",
        "active",
        true,
    )
    .await;

    let lines = csv_lines(&app, MEMBERSHIPS, &hr.token).await;
    let cells = assert_no_formula("memberships.csv", &lines);
    for neutralised in ["'=1+2@example.com", "'-1+1", "'@SUM(A1:A9)"] {
        assert!(cells.iter().any(|c| c == neutralised), "{lines:?}");
    }
    let lines = csv_lines(&app, GROUPS, &hr.token).await;
    let row = lines.iter().find(|l| l.starts_with("calc,")).unwrap();
    assert_eq!(csv_cells(row)[1], "'=1+2", "{row}");
    assert!(row.starts_with(r#"calc,"'=1+2","#), "{row}");
    assert_no_formula("groups.csv", &lines);
    for (by, category) in [("department", "'-1+1"), ("location", "'@SUM(A1:A9)")] {
        let lines = csv_lines(&app, &format!("{BREAKDOWN}?by={by}"), &hr.token).await;
        assert_no_formula("breakdown.csv", &lines);
        // (Its count of 6 is withheld: beside it, the empty `(other)` cell would be pinned.)
        assert!(
            lines.contains(&format!(r#"calc,"{category}",suppressed"#)),
            "{by}: {lines:?}"
        );
    }
    // The roster a lead or an admin downloads, too.
    let (status, roster) = app
        .get("/api/v1/groups/calc/members.csv", Some(&admin.token))
        .await;
    assert_eq!(status, StatusCode::OK, "{roster}");
    let roster: Vec<String> = roster
        .as_str()
        .unwrap()
        .split_terminator("\r\n")
        .map(str::to_string)
        .collect();
    let cells = assert_no_formula("members.csv", &roster);
    for neutralised in ["'=1+2@example.com", "'@SUM(A1:A9)"] {
        assert!(cells.iter().any(|c| c == neutralised), "{roster:?}");
    }
}
