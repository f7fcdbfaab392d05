//! Mentoring offers and requests: who may use which route (every role, including a lead of
//! another group), the validation errors, the one-way life of a request, the slots (also under
//! a burst of simultaneous acceptances), `/me/mentoring`, and what deactivation ends.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Job, TestApp, TestUser, all_at_once, burst_settings, error_fields, spawn_app, spawn_app_with,
};

/// The group the tests look at (join policy `approval`, so that `pending` stays pending).
const SLUG: &str = "veterans";
/// Another group, led by `other_lead`.
const OTHER: &str = "women";

fn offers_path(slug: &str) -> String {
    format!("/api/v1/groups/{slug}/mentoring-offers")
}

fn close_path(offer: &str) -> String {
    format!("/api/v1/mentoring-offers/{offer}/close")
}

fn requests_path(offer: &str) -> String {
    format!("/api/v1/mentoring-offers/{offer}/requests")
}

fn request_path(request: &str) -> String {
    format!("/api/v1/mentoring-requests/{request}")
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap().to_string()
}

/// Everyone whose rights the tests compare.
struct Cast {
    admin: TestUser,
    hr: TestUser,
    /// An employee with no membership of any group.
    outsider: TestUser,
    /// Active member of `SLUG`.
    member: TestUser,
    /// Active ally of `SLUG`.
    ally: TestUser,
    /// Asked to join `SLUG`, not approved.
    pending: TestUser,
    /// Active member of `SLUG` who mentors the offers the tests make.
    mentor: TestUser,
    /// Lead of `SLUG`.
    lead: TestUser,
    /// Lead of `OTHER`, no membership of `SLUG`.
    other_lead: TestUser,
}

impl Cast {
    /// The people who may neither manage an offer of `SLUG` nor ask for it.
    fn bystanders(&self) -> Vec<(&'static str, &TestUser)> {
        vec![
            ("outsider", &self.outsider),
            ("pending member", &self.pending),
            ("lead of another group", &self.other_lead),
            ("hr", &self.hr),
        ]
    }
}

/// Joins `slug` and, where the group asks for approval, has the admin approve it.
async fn join_active(app: &TestApp, admin: &TestUser, user: &TestUser, slug: &str, kind: &str) {
    join_active_as(app, admin, user, slug, kind, None).await;
}

/// `join_active` with a visibility (a mentor must show their membership to everyone).
async fn join_active_as(
    app: &TestApp,
    admin: &TestUser,
    user: &TestUser,
    slug: &str,
    kind: &str,
    visibility: Option<&str>,
) {
    let membership = app.join(user, slug, kind, visibility).await;
    if membership["status"] == "pending" {
        let approved = app
            .change_member(admin, slug, user, json!({"status": "active"}))
            .await;
        assert_eq!(approved["status"], "active", "{approved}");
    }
}

async fn cast(app: &TestApp) -> Cast {
    let admin = app.admin().await;
    app.create_group(&admin, SLUG, "Veterans", "approval").await;
    app.create_group(&admin, OTHER, "Women", "open").await;
    let lead = app.user("Lena Lead").await;
    app.make_lead(&admin, &lead, SLUG).await;
    let other_lead = app.user("Otto Otherlead").await;
    app.make_lead(&admin, &other_lead, OTHER).await;
    let member = app.user("Mia Member").await;
    join_active(app, &admin, &member, SLUG, "member").await;
    let ally = app.user("Al Ally").await;
    join_active(app, &admin, &ally, SLUG, "ally").await;
    let mentor = app.user("Mo Mentor").await;
    join_active_as(app, &admin, &mentor, SLUG, "member", Some("public")).await;
    let pending = app.user("Pat Pending").await;
    let membership = app.join(&pending, SLUG, "member", None).await;
    assert_eq!(membership["status"], "pending", "{membership}");
    Cast {
        hr: app.hr().await,
        outsider: app.user("Olga Outsider").await,
        admin,
        member,
        ally,
        pending,
        mentor,
        lead,
        other_lead,
    }
}

/// Posts an offer as `poster`, expecting 201; answers the offer.
async fn create_offer(app: &TestApp, poster: &TestUser, slug: &str, body: Value) -> Value {
    let (status, offer) = app
        .post(&offers_path(slug), Some(&poster.token), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{offer}");
    offer
}

/// An offer of `slots` in `SLUG`, posted by the lead and mentored by `cast.mentor`; its id.
async fn mentor_offer(app: &TestApp, cast: &Cast, title: &str, slots: i64) -> String {
    let offer = create_offer(
        app,
        &cast.lead,
        SLUG,
        json!({"title": title, "slots": slots, "mentor_id": cast.mentor.id}),
    )
    .await;
    assert_eq!(offer["mentor"]["id"], json!(cast.mentor.id));
    id_of(&offer)
}

/// Asks for an offer as `mentee`, expecting 201; answers the request's id.
async fn ask(app: &TestApp, mentee: &TestUser, offer: &str) -> String {
    let (status, request) = app
        .post(&requests_path(offer), Some(&mentee.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "pending", "{request}");
    id_of(&request)
}

async fn decide(app: &TestApp, who: &TestUser, request: &str, to: &str) -> (StatusCode, Value) {
    app.patch(
        &request_path(request),
        Some(&who.token),
        json!({"status": to}),
    )
    .await
}

/// `decide`, expecting 200 and the new status in the answer.
async fn decide_ok(app: &TestApp, who: &TestUser, request: &str, to: &str) -> Value {
    let (status, body) = decide(app, who, request, to).await;
    assert_eq!(status, StatusCode::OK, "{to}: {body}");
    assert_eq!(body["status"], to, "{body}");
    body
}

/// A request's status as PostgreSQL has it.
async fn db_status(app: &TestApp, request: &str) -> String {
    sqlx::query_scalar("SELECT status::text FROM mentoring_requests WHERE id = $1::uuid")
        .bind(request)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn db_accepted(app: &TestApp, offer: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM mentoring_requests WHERE offer_id = $1::uuid AND status = 'accepted'",
    )
    .bind(offer)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn db_closed(app: &TestApp, offer: &str) -> bool {
    sqlx::query_scalar("SELECT closed_at IS NOT NULL FROM mentoring_offers WHERE id = $1::uuid")
        .bind(offer)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn db_count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The open offers of a group as `who` sees them (every page).
async fn listed_offers(app: &TestApp, slug: &str, who: &TestUser) -> Vec<Value> {
    app.all_pages(&offers_path(slug), &who.token, 100).await
}

/// `slots_taken` of an open offer in its group's list.
async fn slots_taken(app: &TestApp, slug: &str, who: &TestUser, offer: &str) -> i64 {
    listed_offers(app, slug, who)
        .await
        .iter()
        .find(|o| o["id"] == offer)
        .unwrap_or_else(|| panic!("offer {offer} is not listed"))["slots_taken"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn every_route_wants_a_valid_token_of_an_active_user() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Career talks", 2).await;
    let request = ask(&app, &cast.member, &offer).await;
    let gone = app.user("Gone Soon").await;
    join_active(&app, &cast.admin, &gone, SLUG, "member").await;
    app.deactivate(&cast.admin, &gone).await;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, offers_path(SLUG), None),
        (
            Method::POST,
            offers_path(SLUG),
            Some(json!({"title": "T", "slots": 1})),
        ),
        (Method::POST, close_path(&offer), Some(json!({}))),
        (Method::POST, requests_path(&offer), Some(json!({}))),
        (Method::GET, requests_path(&offer), None),
        (
            Method::PATCH,
            request_path(&request),
            Some(json!({"status": "accepted"})),
        ),
        (Method::GET, "/api/v1/me/mentoring".into(), None),
    ];
    let mut tampered = cast.lead.token.clone();
    tampered.pop();
    for (method, path, body) in &routes {
        for (who, token) in [
            ("anonymous", None),
            ("garbage token", Some("not-a-jwt")),
            ("tampered token", Some(tampered.as_str())),
            ("deactivated user", Some(gone.token.as_str())),
        ] {
            let (status, answer) = app.request(method.clone(), path, token, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} as {who}: {answer}"
            );
        }
    }
    // Nothing was changed by the refused calls.
    assert_eq!(db_count(&app, "mentoring_offers").await, 1);
    assert!(!db_closed(&app, &offer).await);
    assert_eq!(db_count(&app, "mentoring_requests").await, 1);
    assert_eq!(db_status(&app, &request).await, "pending");
}

#[tokio::test]
async fn every_employee_browses_the_open_offers_of_a_group() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let first = create_offer(
        &app,
        &cast.lead,
        SLUG,
        json!({
            "title": "  Leaving the service  ",
            "description": "From the forces\nto an office.",
            "topics": ["Careers", "CV writing"],
            "slots": 3,
            "mentor_id": cast.mentor.id,
        }),
    )
    .await;
    let second = create_offer(
        &app,
        &cast.lead,
        SLUG,
        json!({"title": "Leading teams", "slots": 1}),
    )
    .await;
    let closed = mentor_offer(&app, &cast, "Closed already", 1).await;
    let (status, _) = app
        .post(&close_path(&closed), Some(&cast.lead.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Another group's offer is not part of this group's list.
    join_active_as(
        &app,
        &cast.admin,
        &cast.mentor,
        OTHER,
        "member",
        Some("public"),
    )
    .await;
    create_offer(
        &app,
        &cast.other_lead,
        OTHER,
        json!({"title": "Elsewhere", "slots": 2}),
    )
    .await;

    let everyone = [
        ("outsider", &cast.outsider),
        ("member", &cast.member),
        ("ally", &cast.ally),
        ("pending member", &cast.pending),
        ("mentor", &cast.mentor),
        ("lead", &cast.lead),
        ("lead of another group", &cast.other_lead),
        ("hr", &cast.hr),
        ("admin", &cast.admin),
    ];
    for (who, user) in everyone {
        let (status, page) = app.get(&offers_path(SLUG), Some(&user.token)).await;
        assert_eq!(status, StatusCode::OK, "{who}: {page}");
        let items = page["items"].as_array().unwrap();
        let ids: Vec<&Value> = items.iter().map(|o| &o["id"]).collect();
        assert_eq!(ids, [&second["id"], &first["id"]], "{who}: newest first");
        assert!(page["next_cursor"].is_null());
        let offer = &items[1];
        assert_eq!(offer["title"], "Leaving the service");
        assert_eq!(offer["description"], "From the forces\nto an office.");
        assert_eq!(offer["topics"], json!(["Careers", "CV writing"]));
        assert_eq!(
            offer["mentor"],
            json!({"id": cast.mentor.id, "display_name": "Mo Mentor"})
        );
        assert_eq!(offer["slots"], 3);
        assert_eq!(offer["slots_taken"], 0);
        assert_eq!(offer["closed"], false);
        assert_eq!(offer["group_slug"], SLUG);
        assert_eq!(items[0]["mentor"]["id"], json!(cast.lead.id));
        assert_eq!(items[0]["description"], "");
        assert_eq!(items[0]["topics"], json!([]));
    }
    // Pages of one follow each other.
    let paged = app
        .all_pages(&offers_path(SLUG), &cast.outsider.token, 1)
        .await;
    let ids: Vec<&Value> = paged.iter().map(|o| &o["id"]).collect();
    assert_eq!(ids, [&second["id"], &first["id"]]);
    // Bad paging parameters name the parameter.
    for query in ["limit=0", "limit=101", "limit=x", "cursor=not-a-cursor"] {
        let (status, body) = app
            .get(
                &format!("{}?{query}", offers_path(SLUG)),
                Some(&cast.member.token),
            )
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{query}: {status} {body}"
        );
        let field = query.split('=').next().unwrap();
        assert_eq!(error_fields(&body), [field], "{query}: {body}");
    }
    // Unknown groups.
    for slug in ["no-such-group", "Not_A_Slug"] {
        let (status, _) = app.get(&offers_path(slug), Some(&cast.member.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{slug}");
    }
}

#[tokio::test]
async fn only_leads_of_the_group_and_admins_post_offers() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let body = json!({"title": "Career talks", "slots": 2, "mentor_id": cast.mentor.id});
    let refused = [
        ("outsider", &cast.outsider),
        ("member", &cast.member),
        ("ally", &cast.ally),
        ("pending member", &cast.pending),
        ("the would-be mentor", &cast.mentor),
        ("lead of another group", &cast.other_lead),
        ("hr", &cast.hr),
    ];
    for (who, user) in refused {
        for body in [body.clone(), json!({"title": "Mine", "slots": 1})] {
            let (status, answer) = app.post(&offers_path(SLUG), Some(&user.token), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {answer}");
        }
    }
    assert_eq!(db_count(&app, "mentoring_offers").await, 0);
    let (status, _) = app
        .post(&offers_path("no-such-group"), Some(&cast.admin.token), body)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The lead: the mentor defaults to the caller.
    let offer = create_offer(
        &app,
        &cast.lead,
        SLUG,
        json!({"title": "Leading teams", "slots": 4}),
    )
    .await;
    assert_eq!(
        offer["mentor"],
        json!({"id": cast.lead.id, "display_name": "Lena Lead"})
    );
    assert_eq!(offer["slots"], 4);
    assert_eq!(offer["slots_taken"], 0);
    assert_eq!(offer["closed"], false);
    assert_eq!(offer["group_slug"], SLUG);
    let created_by: Uuid =
        sqlx::query_scalar("SELECT created_by FROM mentoring_offers WHERE id = $1::uuid")
            .bind(id_of(&offer))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(created_by, cast.lead.id);
    // The lead naming an active member: only one who shows the membership to everyone, since
    // the offer names them to every employee.
    let (status, answer) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.lead.token),
            json!({"title": "Budgets", "slots": 1, "mentor_id": cast.member.id}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a `members` membership: {answer}"
    );
    assert_eq!(error_fields(&answer), ["mentor_id"]);
    app.join(&cast.member, SLUG, "member", Some("public")).await;
    let offer = create_offer(
        &app,
        &cast.lead,
        SLUG,
        json!({"title": "Budgets", "slots": 1, "mentor_id": cast.member.id}),
    )
    .await;
    assert_eq!(offer["mentor"]["id"], json!(cast.member.id));
    // When the mentor hides the membership again, the offer leaves the public list.
    app.join(&cast.member, SLUG, "member", Some("private"))
        .await;
    let (_, list) = app
        .get(&offers_path(SLUG), Some(&cast.outsider.token))
        .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != offer["id"]),
        "{list}"
    );
    app.join(&cast.member, SLUG, "member", Some("members"))
        .await;

    // An admin who is not a member must name a mentor.
    let (status, answer) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.admin.token),
            json!({"title": "Admin's own", "slots": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(error_fields(&answer), ["mentor_id"]);
    for (who, mentor) in [("a member", &cast.mentor), ("a lead", &cast.lead)] {
        let offer = create_offer(
            &app,
            &cast.admin,
            SLUG,
            json!({"title": "Named", "slots": 2, "mentor_id": mentor.id}),
        )
        .await;
        assert_eq!(offer["mentor"]["id"], json!(mentor.id), "{who}");
    }
    // Nobody but an active member or lead of this group mentors its offers.
    let stranger = Uuid::new_v4();
    let not_mentors = [
        ("pending member", cast.pending.id),
        ("outsider", cast.outsider.id),
        ("lead of another group", cast.other_lead.id),
        ("hr", cast.hr.id),
        ("admin", cast.admin.id),
        ("unknown user", stranger),
    ];
    for (poster_name, poster) in [("admin", &cast.admin), ("lead", &cast.lead)] {
        for (who, mentor_id) in not_mentors {
            let (status, answer) = app
                .post(
                    &offers_path(SLUG),
                    Some(&poster.token),
                    json!({"title": "Nope", "slots": 1, "mentor_id": mentor_id}),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{poster_name} naming {who}: {answer}"
            );
            assert_eq!(error_fields(&answer), ["mentor_id"], "{who}: {answer}");
        }
    }
    // A member who left is no longer a mentor.
    let leaver = app.user("Lee Leaver").await;
    join_active(&app, &cast.admin, &leaver, SLUG, "member").await;
    let (status, _) = app
        .delete(
            &format!("/api/v1/groups/{SLUG}/membership"),
            Some(&leaver.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.lead.token),
            json!({"title": "Nope", "slots": 1, "mentor_id": leaver.id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(error_fields(&answer), ["mentor_id"]);
    // A mentor id that is not a UUID is a wrong type.
    let (status, answer) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.lead.token),
            json!({"title": "Nope", "slots": 1, "mentor_id": "not-a-uuid"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(error_fields(&answer), ["mentor_id"]);
    assert_eq!(db_count(&app, "mentoring_offers").await, 4);
}

#[tokio::test]
async fn an_ally_is_not_a_mentor_but_a_lead_who_joined_as_ally_is() {
    // API.md: the mentor "must be an active member or lead" (requests, unlike offers, are for
    // "an active member or ally").
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let (status, answer) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.lead.token),
            json!({"title": "Ally-led", "slots": 1, "mentor_id": cast.ally.id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(error_fields(&answer), ["mentor_id"]);
    let ally_lead = app.user("Ari Allylead").await;
    join_active_as(&app, &cast.admin, &ally_lead, SLUG, "ally", Some("public")).await;
    app.change_member(&cast.admin, SLUG, &ally_lead, json!({"role": "lead"}))
        .await;
    let offer = create_offer(
        &app,
        &ally_lead,
        SLUG,
        json!({"title": "From a lead", "slots": 1}),
    )
    .await;
    assert_eq!(offer["mentor"]["id"], json!(ally_lead.id));
}

#[tokio::test]
async fn offers_are_validated_field_by_field() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let long = |n: usize| "é".repeat(n);
    let topics = |n: usize| (0..n).map(|i| format!("topic {i}")).collect::<Vec<_>>();
    let cases: Vec<(&str, Value, StatusCode, Vec<&str>)> = vec![
        (
            "slots 0",
            json!({"title": "T", "slots": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots"],
        ),
        (
            "slots -1",
            json!({"title": "T", "slots": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots"],
        ),
        (
            "slots 101",
            json!({"title": "T", "slots": 101}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots"],
        ),
        (
            "slots huge",
            json!({"title": "T", "slots": 1_u64 << 40}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots"],
        ),
        (
            "slots missing",
            json!({"title": "T"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots"],
        ),
        (
            "slots null",
            json!({"title": "T", "slots": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots"],
        ),
        (
            "slots a string",
            json!({"title": "T", "slots": "x"}),
            StatusCode::BAD_REQUEST,
            vec!["slots"],
        ),
        (
            "slots a fraction",
            json!({"title": "T", "slots": 1.5}),
            StatusCode::BAD_REQUEST,
            vec!["slots"],
        ),
        (
            "title missing",
            json!({"slots": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["title"],
        ),
        (
            "title blank",
            json!({"title": "   ", "slots": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["title"],
        ),
        (
            "title too long",
            json!({"title": long(201), "slots": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["title"],
        ),
        (
            "title on two lines",
            json!({"title": "a\nb", "slots": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["title"],
        ),
        (
            "title a number",
            json!({"title": 5, "slots": 1}),
            StatusCode::BAD_REQUEST,
            vec!["title"],
        ),
        (
            "description too long",
            json!({"title": "T", "slots": 1, "description": long(5001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["description"],
        ),
        (
            "description with a control character",
            json!({"title": "T", "slots": 1, "description": "a\u{7}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["description"],
        ),
        (
            "too many topics",
            json!({"title": "T", "slots": 1, "topics": topics(11)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["topics"],
        ),
        (
            "a blank topic",
            json!({"title": "T", "slots": 1, "topics": ["fine", " "]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["topics[1]"],
        ),
        (
            "a long topic",
            json!({"title": "T", "slots": 1, "topics": [long(51)]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["topics[0]"],
        ),
        (
            "topics a string",
            json!({"title": "T", "slots": 1, "topics": "careers"}),
            StatusCode::BAD_REQUEST,
            vec!["topics"],
        ),
        (
            "everything missing",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["slots", "title"],
        ),
    ];
    for (case, body, expected, expected_fields) in cases {
        let (status, answer) = app
            .post(&offers_path(SLUG), Some(&cast.lead.token), body)
            .await;
        assert_eq!(status, expected, "{case}: {answer}");
        let mut got = error_fields(&answer);
        got.sort();
        assert_eq!(got, expected_fields, "{case}: {answer}");
    }
    assert_eq!(db_count(&app, "mentoring_offers").await, 0);

    // The bounds themselves are fine; topics are trimmed and repeated ones dropped.
    for (slots, title, topic_list) in [
        (1, long(200), vec!["a".to_string()]),
        (100, "Max".to_string(), topics(10)),
    ] {
        let offer = create_offer(
            &app,
            &cast.lead,
            SLUG,
            json!({"title": title, "slots": slots, "topics": topic_list, "description": long(5000)}),
        )
        .await;
        assert_eq!(offer["slots"], slots);
        assert_eq!(offer["title"], json!(title));
        assert_eq!(offer["topics"], json!(topic_list));
    }
    let offer = create_offer(
        &app,
        &cast.lead,
        SLUG,
        json!({"title": "T", "slots": 1, "topics": [" Careers ", "Careers", "Money"]}),
    )
    .await;
    assert_eq!(offer["topics"], json!(["Careers", "Money"]));
}

#[tokio::test]
async fn archived_groups_take_no_new_offers_and_hide_theirs() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Before the archive", 2).await;
    ask(&app, &cast.member, &offer).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/groups/{SLUG}/archive"),
            Some(&cast.admin.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (who, user) in [
        ("member", &cast.member),
        ("lead", &cast.lead),
        ("mentor", &cast.mentor),
    ] {
        let (status, _) = app.get(&offers_path(SLUG), Some(&user.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} lists");
        let (status, _) = app.get(&requests_path(&offer), Some(&user.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} lists requests");
        let (status, _) = app
            .post(&requests_path(&offer), Some(&user.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} asks");
    }
    let (status, _) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.lead.token),
            json!({"title": "T", "slots": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.admin.token),
            json!({"title": "T", "slots": 1, "mentor_id": cast.mentor.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Admins still read it.
    let (status, _) = app.get(&offers_path(SLUG), Some(&cast.admin.token)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) = app
        .get(&requests_path(&offer), Some(&cast.admin.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_mentor_a_lead_and_admins_close_offers() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "To close", 2).await;
    let pending_request = ask(&app, &cast.member, &offer).await;
    let withdrawing = ask(&app, &cast.ally, &offer).await;
    for (who, user) in cast
        .bystanders()
        .into_iter()
        .chain([("member", &cast.member), ("ally", &cast.ally)])
    {
        let (status, body) = app
            .post(&close_path(&offer), Some(&user.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    assert!(!db_closed(&app, &offer).await);
    for (who, user) in [
        ("mentor", &cast.mentor),
        ("lead", &cast.lead),
        ("admin", &cast.admin),
    ] {
        let offer = mentor_offer(&app, &cast, who, 1).await;
        let (status, body) = app
            .post(&close_path(&offer), Some(&user.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(body["closed"], true);
        assert!(db_closed(&app, &offer).await, "{who}");
        // Closing twice is not an error.
        let (status, _) = app
            .post(&close_path(&offer), Some(&user.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{who} again");
    }
    let (status, _) = app
        .post(&close_path(&offer), Some(&cast.mentor.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // A closed offer leaves the list, stays in its mentor's, and takes no new requests or
    // acceptances; a mentee may still withdraw.
    assert!(listed_offers(&app, SLUG, &cast.member).await.is_empty());
    let (_, mine) = app
        .get("/api/v1/me/mentoring", Some(&cast.mentor.token))
        .await;
    let closed = mine["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == offer.as_str())
        .unwrap();
    assert_eq!(closed["closed"], true);
    let late = app.user("Lou Late").await;
    join_active(&app, &cast.admin, &late, SLUG, "member").await;
    let (status, body) = app
        .post(&requests_path(&offer), Some(&late.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for manager in [&cast.mentor, &cast.lead] {
        let (status, body) = decide(&app, manager, &pending_request, "accepted").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    assert_eq!(db_status(&app, &pending_request).await, "pending");
    decide_ok(&app, &cast.lead, &pending_request, "declined").await;
    decide_ok(&app, &cast.ally, &withdrawing, "withdrawn").await;
    // Unknown offers.
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let (status, _) = app
            .post(&close_path(&id), Some(&cast.admin.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn a_lead_who_is_demoted_loses_the_offers_at_once() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Lead's to manage", 2).await;
    let request = ask(&app, &cast.member, &offer).await;
    app.change_member(&cast.admin, SLUG, &cast.lead, json!({"role": "member"}))
        .await;
    let (status, _) = app
        .get(&requests_path(&offer), Some(&cast.lead.token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = decide(&app, &cast.lead, &request, "accepted").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(&close_path(&offer), Some(&cast.lead.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &offers_path(SLUG),
            Some(&cast.lead.token),
            json!({"title": "T", "slots": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(db_status(&app, &request).await, "pending");
    assert!(!db_closed(&app, &offer).await);
}

#[tokio::test]
async fn active_members_and_allies_ask_once() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Career talks", 3).await;
    let refused = cast.bystanders().into_iter().chain([
        ("admin who is not a member", &cast.admin),
        ("the mentor", &cast.mentor),
    ]);
    for (who, user) in refused {
        let (status, body) = app
            .post(
                &requests_path(&offer),
                Some(&user.token),
                json!({"message": "please"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    assert_eq!(db_count(&app, "mentoring_requests").await, 0);

    let (status, request) = app
        .post(
            &requests_path(&offer),
            Some(&cast.member.token),
            json!({"message": "  Could we talk about\nmy next role?  "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "pending");
    assert_eq!(request["offer_id"], offer.as_str());
    assert_eq!(request["group_slug"], SLUG);
    assert_eq!(request["offer_title"], "Career talks");
    assert_eq!(
        request["mentee"],
        json!({"id": cast.member.id, "display_name": "Mia Member"})
    );
    assert_eq!(request["message"], "Could we talk about\nmy next role?");
    assert!(request["decided_at"].is_null());
    assert!(request["id"].as_str().unwrap().parse::<Uuid>().is_ok());
    // An ally, with no message at all, and a lead of the group may ask too.
    let (status, ally_request) = app
        .post(&requests_path(&offer), Some(&cast.ally.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ally_request}");
    assert_eq!(ally_request["message"], "");
    ask(&app, &cast.lead, &offer).await;

    // Once per offer, whatever became of the first request.
    for user in [&cast.member, &cast.ally, &cast.lead] {
        let (status, body) = app
            .post(
                &requests_path(&offer),
                Some(&user.token),
                json!({"message": "again"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    decide_ok(&app, &cast.ally, &id_of(&ally_request), "withdrawn").await;
    let (status, _) = app
        .post(&requests_path(&offer), Some(&cast.ally.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(db_count(&app, "mentoring_requests").await, 3);

    // Validation of the message.
    let asker = app.user("Val Idation").await;
    join_active(&app, &cast.admin, &asker, SLUG, "member").await;
    for (case, body, expected) in [
        (
            "too long",
            json!({"message": "x".repeat(2001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "control character",
            json!({"message": "a\u{0}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("a number", json!({"message": 5}), StatusCode::BAD_REQUEST),
    ] {
        let (status, answer) = app
            .post(&requests_path(&offer), Some(&asker.token), body)
            .await;
        assert_eq!(status, expected, "{case}: {answer}");
        assert_eq!(error_fields(&answer), ["message"], "{case}: {answer}");
    }
    let (status, _) = app
        .post(
            &requests_path(&offer),
            Some(&asker.token),
            json!({"message": "x".repeat(2000)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // A member who left may no longer ask.
    let other_offer = mentor_offer(&app, &cast, "Another", 1).await;
    let (status, _) = app
        .delete(
            &format!("/api/v1/groups/{SLUG}/membership"),
            Some(&asker.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .post(&requests_path(&other_offer), Some(&asker.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Unknown offers.
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let (status, _) = app
            .post(&requests_path(&id), Some(&cast.member.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn the_mentor_a_lead_and_admins_list_the_requests() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Career talks", 3).await;
    let (_, first) = app
        .post(
            &requests_path(&offer),
            Some(&cast.member.token),
            json!({"message": "hello"}),
        )
        .await;
    let second = ask(&app, &cast.ally, &offer).await;
    // Requests to another offer are not in this list.
    let elsewhere = mentor_offer(&app, &cast, "Elsewhere", 1).await;
    ask(&app, &cast.member, &elsewhere).await;
    let refused = cast
        .bystanders()
        .into_iter()
        .chain([("a mentee", &cast.member), ("another mentee", &cast.ally)]);
    for (who, user) in refused {
        let (status, body) = app.get(&requests_path(&offer), Some(&user.token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    let expected: BTreeSet<String> = [id_of(&first), second.clone()].into();
    for (who, user) in [
        ("mentor", &cast.mentor),
        ("lead", &cast.lead),
        ("admin", &cast.admin),
    ] {
        let (status, page) = app.get(&requests_path(&offer), Some(&user.token)).await;
        assert_eq!(status, StatusCode::OK, "{who}: {page}");
        let items = page["items"].as_array().unwrap();
        let ids: BTreeSet<String> = items.iter().map(id_of).collect();
        assert_eq!(ids, expected, "{who}");
        let hello = items.iter().find(|r| r["id"] == first["id"]).unwrap();
        assert_eq!(hello["message"], "hello");
        assert_eq!(hello["status"], "pending");
        assert_eq!(hello["mentee"]["id"], json!(cast.member.id));
        let paged: BTreeSet<String> = app
            .all_pages(&requests_path(&offer), &user.token, 1)
            .await
            .iter()
            .map(id_of)
            .collect();
        assert_eq!(paged, expected, "{who} paging");
    }
    let (status, body) = app
        .get(
            &format!("{}?limit=0", requests_path(&offer)),
            Some(&cast.mentor.token),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["limit"]);
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let (status, _) = app.get(&requests_path(&id), Some(&cast.admin.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn who_may_decide_what_about_a_request() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Career talks", 5).await;
    let request = ask(&app, &cast.member, &offer).await;
    ask(&app, &cast.ally, &offer).await;

    // People with no business with the request do not learn it exists.
    let strangers = cast
        .bystanders()
        .into_iter()
        .chain([("another mentee of the offer", &cast.ally)]);
    for (who, user) in strangers {
        for to in ["accepted", "declined", "withdrawn"] {
            let (status, body) = decide(&app, user, &request, to).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who} → {to}: {body}");
        }
    }
    // The mentee cannot decide; the managers cannot withdraw.
    for to in ["accepted", "declined"] {
        let (status, body) = decide(&app, &cast.member, &request, to).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "mentee → {to}: {body}");
    }
    for (who, user) in [
        ("mentor", &cast.mentor),
        ("lead", &cast.lead),
        ("admin", &cast.admin),
    ] {
        let (status, body) = decide(&app, user, &request, "withdrawn").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} → withdrawn: {body}");
    }
    // Bad bodies.
    for (case, body, expected) in [
        (
            "pending",
            json!({"status": "pending"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown",
            json!({"status": "maybe"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "upper case",
            json!({"status": "ACCEPTED"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("missing", json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "null",
            json!({"status": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("a number", json!({"status": 1}), StatusCode::BAD_REQUEST),
    ] {
        let (status, answer) = app
            .patch(&request_path(&request), Some(&cast.mentor.token), body)
            .await;
        assert_eq!(status, expected, "{case}: {answer}");
        assert_eq!(error_fields(&answer), ["status"], "{case}: {answer}");
    }
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let (status, _) = app
            .patch(
                &request_path(&id),
                Some(&cast.admin.token),
                json!({"status": "accepted"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(db_status(&app, &request).await, "pending");
    let decided: Option<Uuid> =
        sqlx::query_scalar("SELECT decided_by FROM mentoring_requests WHERE id = $1::uuid")
            .bind(&request)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(decided, None);
}

#[tokio::test]
async fn the_mentor_and_a_lead_accept_and_decline_and_mentees_withdraw() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Career talks", 5).await;
    let mut mentees = Vec::new();
    for i in 0..5 {
        let mentee = app.user(&format!("Mentee {i}")).await;
        join_active(&app, &cast.admin, &mentee, SLUG, "member").await;
        let request = ask(&app, &mentee, &offer).await;
        mentees.push((mentee, request));
    }
    let decided_by = |request: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<Uuid>>(
                "SELECT decided_by FROM mentoring_requests WHERE id = $1::uuid",
            )
            .bind(request)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let plan = [
        (&cast.mentor, "accepted"),
        (&cast.lead, "accepted"),
        (&cast.mentor, "declined"),
        (&cast.lead, "declined"),
    ];
    for ((mentee, request), (manager, to)) in mentees.iter().zip(plan) {
        let body = decide_ok(&app, manager, request, to).await;
        assert_eq!(body["mentee"]["id"], json!(mentee.id));
        assert!(body["decided_at"].is_string(), "{body}");
        assert_eq!(db_status(&app, request).await, to);
        assert_eq!(decided_by(request.clone()).await, Some(manager.id));
    }
    assert_eq!(slots_taken(&app, SLUG, &cast.member, &offer).await, 2);
    // An admin closes offers and reads their requests, but does not decide who is mentored:
    // that is the mentor's and the group's call.
    let (_, waiting) = &mentees[4];
    for to in ["accepted", "declined"] {
        let (status, body) = decide(&app, &cast.admin, waiting, to).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "admin → {to}: {body}");
    }
    assert_eq!(db_status(&app, waiting).await, "pending");

    let accepted = &mentees[0].1;
    let declined = &mentees[3].1;
    // Deciding the same again answers the request as it is.
    decide_ok(&app, &cast.lead, accepted, "accepted").await;
    decide_ok(&app, &cast.mentor, declined, "declined").await;
    // Decisions only move forward.
    for manager in [&cast.mentor, &cast.lead] {
        let (status, body) = decide(&app, manager, declined, "accepted").await;
        assert_eq!(status, StatusCode::CONFLICT, "declined → accepted: {body}");
        let (status, body) = decide(&app, manager, accepted, "declined").await;
        assert_eq!(status, StatusCode::CONFLICT, "accepted → declined: {body}");
    }
    let (status, body) = decide(&app, &mentees[3].0, declined, "withdrawn").await;
    assert_eq!(status, StatusCode::CONFLICT, "declined → withdrawn: {body}");
    assert_eq!(db_status(&app, declined).await, "declined");
    assert_eq!(db_status(&app, accepted).await, "accepted");

    // Withdrawing after acceptance frees the slot; a withdrawn request stays withdrawn.
    decide_ok(&app, &mentees[0].0, accepted, "withdrawn").await;
    assert_eq!(decided_by(accepted.clone()).await, Some(mentees[0].0.id));
    assert_eq!(slots_taken(&app, SLUG, &cast.member, &offer).await, 1);
    decide_ok(&app, &mentees[0].0, accepted, "withdrawn").await;
    for (to, manager) in [("accepted", &cast.mentor), ("declined", &cast.lead)] {
        let (status, body) = decide(&app, manager, accepted, to).await;
        assert_eq!(status, StatusCode::CONFLICT, "withdrawn → {to}: {body}");
    }
    // A pending request may be withdrawn too.
    let late = app.user("Late Mentee").await;
    join_active(&app, &cast.admin, &late, SLUG, "ally").await;
    let pending = ask(&app, &late, &offer).await;
    decide_ok(&app, &late, &pending, "withdrawn").await;
    let (status, _) = decide(&app, &cast.mentor, &pending, "accepted").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(db_accepted(&app, &offer).await, 1);

    // The mentee sees where their requests stand.
    let (status, mine) = app
        .get("/api/v1/me/mentoring", Some(&mentees[1].0.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["requests"][0]["status"], "accepted");
}

#[tokio::test]
async fn a_lead_of_another_group_cannot_see_or_decide_this_groups_requests() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    // The other group's lead is even an ordinary member of this group.
    let member_lead = app.user("Mara Memberlead").await;
    app.make_lead(&cast.admin, &member_lead, OTHER).await;
    join_active(&app, &cast.admin, &member_lead, SLUG, "member").await;
    let offer = mentor_offer(&app, &cast, "Career talks", 2).await;
    let request = ask(&app, &cast.member, &offer).await;
    let accepted = ask(&app, &cast.ally, &offer).await;
    decide_ok(&app, &cast.mentor, &accepted, "accepted").await;
    for (who, user) in [
        ("lead of another group", &cast.other_lead),
        ("lead of another group who is a member here", &member_lead),
    ] {
        for target in [&request, &accepted] {
            for to in ["accepted", "declined", "withdrawn"] {
                let (status, body) = decide(&app, user, target, to).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{who} → {to}: {body}");
            }
        }
        let (status, _) = app.get(&requests_path(&offer), Some(&user.token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} lists");
        let (status, _) = app
            .post(&close_path(&offer), Some(&user.token), json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} closes");
        let (status, _) = app
            .post(
                &offers_path(SLUG),
                Some(&user.token),
                json!({"title": "T", "slots": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} posts");
    }
    assert_eq!(db_status(&app, &request).await, "pending");
    assert_eq!(db_status(&app, &accepted).await, "accepted");
    assert!(!db_closed(&app, &offer).await);
    // In their own group they may.
    let own = create_offer(
        &app,
        &cast.other_lead,
        OTHER,
        json!({"title": "Ours", "slots": 1}),
    )
    .await;
    let theirs = ask(&app, &member_lead, &id_of(&own)).await;
    decide_ok(&app, &cast.other_lead, &theirs, "accepted").await;
    // And the lead of this group has no say over the other group's requests.
    let (status, _) = decide(&app, &cast.lead, &theirs, "declined").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accepted_requests_never_exceed_the_slots() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Two places", 2).await;
    let mut requests = Vec::new();
    for i in 0..4 {
        let mentee = app.user(&format!("Mentee {i}")).await;
        join_active(&app, &cast.admin, &mentee, SLUG, "member").await;
        let request = ask(&app, &mentee, &offer).await;
        requests.push((mentee, request));
    }
    assert_eq!(slots_taken(&app, SLUG, &cast.outsider, &offer).await, 0);
    decide_ok(&app, &cast.mentor, &requests[0].1, "accepted").await;
    assert_eq!(slots_taken(&app, SLUG, &cast.outsider, &offer).await, 1);
    decide_ok(&app, &cast.lead, &requests[1].1, "accepted").await;
    assert_eq!(slots_taken(&app, SLUG, &cast.outsider, &offer).await, 2);
    for manager in [&cast.mentor, &cast.lead] {
        let (status, body) = decide(&app, manager, &requests[2].1, "accepted").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("slot"), "{body}");
    }
    assert_eq!(db_status(&app, &requests[2].1).await, "pending");
    // A full offer can still decline.
    decide_ok(&app, &cast.mentor, &requests[3].1, "declined").await;
    // A withdrawal frees a slot for the next.
    decide_ok(&app, &requests[0].0, &requests[0].1, "withdrawn").await;
    assert_eq!(slots_taken(&app, SLUG, &cast.outsider, &offer).await, 1);
    decide_ok(&app, &cast.lead, &requests[2].1, "accepted").await;
    assert_eq!(slots_taken(&app, SLUG, &cast.outsider, &offer).await, 2);
    assert_eq!(db_accepted(&app, &offer).await, 2);
    let (_, mine) = app
        .get("/api/v1/me/mentoring", Some(&cast.mentor.token))
        .await;
    assert_eq!(mine["offers"][0]["id"], offer.as_str());
    assert_eq!(mine["offers"][0]["slots_taken"], 2);
}

#[tokio::test]
async fn me_mentoring_shows_my_offers_and_my_requests() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    join_active_as(
        &app,
        &cast.admin,
        &cast.mentor,
        OTHER,
        "member",
        Some("public"),
    )
    .await;
    join_active(&app, &cast.admin, &cast.member, OTHER, "ally").await;
    let first = mentor_offer(&app, &cast, "First", 2).await;
    let closed = mentor_offer(&app, &cast, "Closed", 2).await;
    let elsewhere = id_of(
        &create_offer(
            &app,
            &cast.other_lead,
            OTHER,
            json!({"title": "Elsewhere", "slots": 1, "mentor_id": cast.mentor.id}),
        )
        .await,
    );
    let leads_own = id_of(
        &create_offer(
            &app,
            &cast.lead,
            SLUG,
            json!({"title": "The lead's", "slots": 1}),
        )
        .await,
    );
    let r_first = ask(&app, &cast.member, &first).await;
    let r_elsewhere = ask(&app, &cast.member, &elsewhere).await;
    let r_leads = ask(&app, &cast.member, &leads_own).await;
    ask(&app, &cast.ally, &first).await;
    decide_ok(&app, &cast.mentor, &r_first, "accepted").await;
    decide_ok(&app, &cast.lead, &r_leads, "declined").await;
    let (status, _) = app
        .post(&close_path(&closed), Some(&cast.mentor.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, mine) = app
        .get("/api/v1/me/mentoring", Some(&cast.mentor.token))
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let offers = mine["offers"].as_array().unwrap();
    let ids: Vec<&str> = offers.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&elsewhere, &closed, &first], "newest first");
    assert_eq!(offers[0]["group_slug"], OTHER);
    assert_eq!(offers[1]["closed"], true);
    assert_eq!(offers[2]["closed"], false);
    assert_eq!(offers[2]["slots_taken"], 1);
    assert_eq!(mine["requests"], json!([]));

    let (_, mine) = app
        .get("/api/v1/me/mentoring", Some(&cast.member.token))
        .await;
    assert_eq!(mine["offers"], json!([]));
    let requests = mine["requests"].as_array().unwrap();
    let by_id = |id: &str| requests.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert_eq!(by_id(&r_first)["status"], "accepted");
    assert_eq!(by_id(&r_first)["offer_title"], "First");
    assert_eq!(by_id(&r_elsewhere)["status"], "pending");
    assert_eq!(by_id(&r_elsewhere)["group_slug"], OTHER);
    assert_eq!(by_id(&r_leads)["status"], "declined");
    assert!(
        requests
            .iter()
            .all(|r| r["mentee"]["id"] == json!(cast.member.id))
    );

    let (_, mine) = app
        .get("/api/v1/me/mentoring", Some(&cast.lead.token))
        .await;
    let ids: Vec<&str> = mine["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&leads_own], "only the offers the lead mentors");
    for (who, user) in [
        ("outsider", &cast.outsider),
        ("hr", &cast.hr),
        ("admin", &cast.admin),
        ("pending member", &cast.pending),
    ] {
        let (status, mine) = app.get("/api/v1/me/mentoring", Some(&user.token)).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(mine, json!({"offers": [], "requests": []}), "{who}");
    }
}

#[tokio::test]
async fn deactivation_withdraws_requests_and_closes_offers() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    join_active_as(
        &app,
        &cast.admin,
        &cast.mentor,
        OTHER,
        "member",
        Some("public"),
    )
    .await;
    let mentors_here = mentor_offer(&app, &cast, "Mentor's here", 3).await;
    let mentors_there = id_of(
        &create_offer(
            &app,
            &cast.other_lead,
            OTHER,
            json!({"title": "Mentor's there", "slots": 1, "mentor_id": cast.mentor.id}),
        )
        .await,
    );
    let leads = id_of(
        &create_offer(
            &app,
            &cast.lead,
            SLUG,
            json!({"title": "Lead's", "slots": 1}),
        )
        .await,
    );
    let stayer = app.user("Stan Stayer").await;
    join_active(&app, &cast.admin, &stayer, SLUG, "member").await;
    // The member: pending with the mentor, accepted with the lead (the lead's only slot).
    let member_pending = ask(&app, &cast.member, &mentors_here).await;
    let member_accepted = ask(&app, &cast.member, &leads).await;
    decide_ok(&app, &cast.lead, &member_accepted, "accepted").await;
    // Others: declined and accepted requests that stay as they are.
    let ally_declined = ask(&app, &cast.ally, &mentors_here).await;
    decide_ok(&app, &cast.mentor, &ally_declined, "declined").await;
    let stayer_accepted = ask(&app, &stayer, &mentors_here).await;
    decide_ok(&app, &cast.mentor, &stayer_accepted, "accepted").await;
    let stayer_pending = ask(&app, &stayer, &leads).await;
    assert_eq!(slots_taken(&app, SLUG, &stayer, &leads).await, 1);

    app.deactivate(&cast.admin, &cast.member).await;
    assert_eq!(db_status(&app, &member_pending).await, "withdrawn");
    assert_eq!(db_status(&app, &member_accepted).await, "withdrawn");
    assert_eq!(db_status(&app, &ally_declined).await, "declined");
    assert_eq!(db_status(&app, &stayer_accepted).await, "accepted");
    assert_eq!(db_status(&app, &stayer_pending).await, "pending");
    // The lead's slot is free again, and the lead sees why.
    assert_eq!(slots_taken(&app, SLUG, &stayer, &leads).await, 0);
    let (_, page) = app
        .get(&requests_path(&leads), Some(&cast.lead.token))
        .await;
    let withdrawn = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == member_accepted.as_str())
        .unwrap()
        .clone();
    assert_eq!(withdrawn["status"], "withdrawn");
    decide_ok(&app, &cast.lead, &stayer_pending, "accepted").await;
    let (status, _) = app
        .get("/api/v1/me/mentoring", Some(&cast.member.token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!db_closed(&app, &leads).await);
    assert!(!db_closed(&app, &mentors_here).await);

    // The mentor: every offer they mentor closes, in every group; requests keep their state.
    app.deactivate(&cast.admin, &cast.mentor).await;
    assert!(db_closed(&app, &mentors_here).await);
    assert!(db_closed(&app, &mentors_there).await);
    assert!(!db_closed(&app, &leads).await);
    assert_eq!(db_status(&app, &stayer_accepted).await, "accepted");
    let here: Vec<Value> = listed_offers(&app, SLUG, &stayer).await;
    let ids: Vec<&Value> = here.iter().map(|o| &o["id"]).collect();
    assert_eq!(ids, [&json!(leads)]);
    assert!(
        listed_offers(&app, OTHER, &cast.other_lead)
            .await
            .is_empty()
    );
    let newcomer = app.user("Nia Newcomer").await;
    join_active(&app, &cast.admin, &newcomer, SLUG, "member").await;
    let (status, _) = app
        .post(
            &requests_path(&mentors_here),
            Some(&newcomer.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The lead still reads what happened on the closed offer.
    let (status, page) = app
        .get(&requests_path(&mentors_here), Some(&cast.lead.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    // The audit record counts what ended.
    let details: Vec<Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'user.deactivated' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["mentoring_requests_withdrawn"], 2);
    assert_eq!(details[0]["mentoring_offers_closed"], 0);
    assert_eq!(details[1]["mentoring_requests_withdrawn"], 0);
    assert_eq!(details[1]["mentoring_offers_closed"], 2);
}

/// Fires one PATCH per request at once, each as the given manager; answers the status of each.
async fn fire(
    app: &Arc<TestApp>,
    jobs: Vec<(String, String, &'static str)>,
) -> Vec<(String, StatusCode)> {
    let mut tasks = Vec::new();
    for (token, request, to) in jobs {
        let app = Arc::clone(app);
        tasks.push(async move {
            let (status, body) = app
                .patch(&request_path(&request), Some(&token), json!({"status": to}))
                .await;
            assert!(
                status == StatusCode::OK || status == StatusCode::CONFLICT,
                "{to}: {status} {body}"
            );
            if status == StatusCode::OK {
                assert_eq!(body["status"], to, "{body}");
            }
            (request, status)
        });
    }
    all_at_once(tasks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_acceptances_never_exceed_the_slots() {
    const MENTEES: usize = 40;
    const SLOTS: usize = 3;
    let app = Arc::new(spawn_app_with(burst_settings).await);
    let cast = cast(&app).await;
    let mut mentees = Vec::new();
    for i in 0..MENTEES {
        let mentee = app.user(&format!("Mentee {i:02}")).await;
        join_active(&app, &cast.admin, &mentee, SLUG, "member").await;
        mentees.push(mentee);
    }
    for round in 0..5 {
        let offer = mentor_offer(&app, &cast, &format!("Round {round}"), SLOTS as i64).await;
        // Everyone asks twice at the same instant: once each is taken.
        let mut tasks = Vec::new();
        for (i, mentee) in mentees.iter().chain(mentees.iter()).enumerate() {
            let app = Arc::clone(&app);
            let (token, path) = (mentee.token.clone(), requests_path(&offer));
            tasks.push(async move {
                let (status, body) = app.post(&path, Some(&token), json!({})).await;
                assert!(
                    status == StatusCode::CREATED || status == StatusCode::CONFLICT,
                    "{status} {body}"
                );
                (
                    i % MENTEES,
                    (status == StatusCode::CREATED).then(|| id_of(&body)),
                )
            });
        }
        // The request of each mentee, in the order of `mentees`.
        let mut asked: Vec<Option<String>> = vec![None; MENTEES];
        for answer in all_at_once(tasks).await {
            if let (i, Some(id)) = answer {
                assert!(asked[i].is_none(), "round {round}: mentee {i} asked twice");
                asked[i] = Some(id);
            }
        }
        let requests: Vec<String> = asked
            .into_iter()
            .map(|r| r.expect("every mentee's request was taken once"))
            .collect();
        assert_eq!(
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM mentoring_requests WHERE offer_id = $1::uuid"
            )
            .bind(&offer)
            .fetch_one(&app.pool)
            .await
            .unwrap(),
            MENTEES as i64
        );

        // Every request accepted at the same instant: by the mentor, or in the last round by
        // the mentor and the lead together.
        let managers = if round == 4 {
            vec![&cast.mentor, &cast.lead]
        } else {
            vec![&cast.mentor]
        };
        let jobs = requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    managers[i % managers.len()].token.clone(),
                    r.clone(),
                    "accepted",
                )
            })
            .collect();
        let answers = fire(&app, jobs).await;
        let won: BTreeSet<String> = answers
            .iter()
            .filter(|(_, s)| *s == StatusCode::OK)
            .map(|(r, _)| r.clone())
            .collect();
        assert_eq!(won.len(), SLOTS, "round {round}: {answers:?}");
        assert_eq!(
            answers
                .iter()
                .filter(|(_, s)| *s == StatusCode::CONFLICT)
                .count(),
            MENTEES - SLOTS,
            "round {round}"
        );
        let in_db: BTreeSet<String> = sqlx::query_scalar(
            "SELECT id::text FROM mentoring_requests WHERE offer_id = $1::uuid AND status = 'accepted'",
        )
        .bind(&offer)
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        assert_eq!(in_db, won, "round {round}");
        assert_eq!(
            slots_taken(&app, SLUG, &cast.member, &offer).await,
            SLOTS as i64
        );

        if round == 3 {
            // The accepted mentees withdraw while every other request is accepted again:
            // whatever the order, the slots hold and the answers agree with the database.
            let mut jobs: Vec<(String, String, &'static str)> = Vec::new();
            for (mentee, request) in mentees.iter().zip(&requests) {
                if won.contains(request) {
                    jobs.push((mentee.token.clone(), request.clone(), "withdrawn"));
                } else {
                    jobs.push((cast.mentor.token.clone(), request.clone(), "accepted"));
                }
            }
            let answers = fire(&app, jobs).await;
            let withdrawals = answers.iter().filter(|(r, _)| won.contains(r));
            assert!(withdrawals.clone().all(|(_, s)| *s == StatusCode::OK));
            assert_eq!(withdrawals.count(), SLOTS);
            let newly: BTreeSet<String> = answers
                .iter()
                .filter(|(r, s)| !won.contains(r) && *s == StatusCode::OK)
                .map(|(r, _)| r.clone())
                .collect();
            assert!(newly.len() <= SLOTS, "{newly:?}");
            let in_db: BTreeSet<String> = sqlx::query_scalar(
                "SELECT id::text FROM mentoring_requests WHERE offer_id = $1::uuid AND status = 'accepted'",
            )
            .bind(&offer)
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
            assert_eq!(in_db, newly);
            for request in &won {
                assert_eq!(db_status(&app, request).await, "withdrawn");
            }
            // However many acceptances ran before the withdrawals, every slot is free again:
            // accepting the requests still pending, one at a time, fills exactly the rest.
            let mut filled = newly.clone();
            for request in requests
                .iter()
                .filter(|r| !won.contains(*r) && !newly.contains(*r))
            {
                let (status, body) = decide(&app, &cast.mentor, request, "accepted").await;
                match status {
                    StatusCode::OK => assert!(filled.insert(request.clone())),
                    StatusCode::CONFLICT => assert_eq!(filled.len(), SLOTS, "{body}"),
                    other => panic!("{other}: {body}"),
                }
            }
            assert_eq!(filled.len(), SLOTS, "round {round}: {newly:?}");
            assert_eq!(db_accepted(&app, &offer).await, SLOTS as i64);
        }
    }
}

/// Mentees deactivated while the mentor accepts their requests: whoever wins each race, no
/// deactivated mentee is left with a pending or accepted request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deactivation_racing_acceptance_leaves_no_open_request() {
    const MENTEES: usize = 12;
    let app = Arc::new(spawn_app_with(burst_settings).await);
    let cast = cast(&app).await;
    for round in 0..3 {
        let offer = mentor_offer(&app, &cast, &format!("Round {round}"), 100).await;
        let mut pairs = Vec::new();
        for i in 0..MENTEES {
            let mentee = app.user(&format!("Mentee {round}-{i:02}")).await;
            join_active(&app, &cast.admin, &mentee, SLUG, "member").await;
            let request = ask(&app, &mentee, &offer).await;
            pairs.push((mentee, request));
        }
        let mut tasks: Vec<Job<()>> = Vec::new();
        for (mentee, request) in &pairs {
            let app_a = Arc::clone(&app);
            let (token, request) = (cast.mentor.token.clone(), request.clone());
            tasks.push(Box::pin(async move {
                let (status, body) = app_a
                    .patch(
                        &request_path(&request),
                        Some(&token),
                        json!({"status": "accepted"}),
                    )
                    .await;
                assert!(
                    status == StatusCode::OK || status == StatusCode::CONFLICT,
                    "{status} {body}"
                );
            }));
            let app_d = Arc::clone(&app);
            let (token, id) = (cast.admin.token.clone(), mentee.id);
            tasks.push(Box::pin(async move {
                let (status, body) = app_d
                    .post(
                        &format!("/api/v1/admin/users/{id}/deactivate"),
                        Some(&token),
                        json!({}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }));
        }
        all_at_once(tasks).await;
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mentoring_requests r JOIN users u ON u.id = r.mentee_id
             WHERE r.offer_id = $1::uuid AND NOT u.active AND r.status IN ('pending', 'accepted')",
        )
        .bind(&offer)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            open, 0,
            "round {round}: a deactivated mentee kept a request"
        );
    }
}

/// The interleaving the burst above may or may not hit, forced: the deactivation withdraws the
/// request after the mentor's acceptance has read it as pending, and before it writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acceptance_that_read_a_request_before_its_mentee_was_deactivated_does_not_revive_it() {
    let app = Arc::new(spawn_app().await);
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Race", 2).await;
    let request = ask(&app, &cast.member, &offer).await;
    // Hold the request's row so that both writers queue on it: the deactivation first.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM mentoring_requests WHERE id = $1::uuid FOR SHARE")
        .bind(&request)
        .execute(&mut *holder)
        .await
        .unwrap();
    let deactivation = {
        let app = Arc::clone(&app);
        let (admin, member) = (cast.admin.clone(), cast.member.clone());
        tokio::spawn(async move { app.deactivate(&admin, &member).await })
    };
    app.wait_for_lock_waiters(1).await;
    let acceptance = {
        let app = Arc::clone(&app);
        let (mentor, request) = (cast.mentor.clone(), request.clone());
        tokio::spawn(async move { decide(&app, &mentor, &request, "accepted").await })
    };
    app.wait_for_lock_waiters(2).await;
    holder.rollback().await.unwrap();
    deactivation.await.unwrap();
    let (status, body) = acceptance.await.unwrap();
    assert_eq!(
        db_status(&app, &request).await,
        "withdrawn",
        "{status} {body}"
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(db_accepted(&app, &offer).await, 0);
}

#[tokio::test]
async fn a_lead_who_asked_for_mentoring_cannot_accept_their_own_request() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Negotiation", 1).await;
    let (status, request) = app
        .post(
            &format!("/api/v1/mentoring-offers/{offer}/requests"),
            Some(&cast.lead.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let path = format!(
        "/api/v1/mentoring-requests/{}",
        request["id"].as_str().unwrap()
    );
    let (status, _) = app
        .patch(&path, Some(&cast.lead.token), json!({"status": "accepted"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .patch(
            &path,
            Some(&cast.mentor.token),
            json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn leaving_the_group_withdraws_the_requests_made_in_it() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let offer = mentor_offer(&app, &cast, "Speaking up", 1).await;
    let (status, request) = app
        .post(
            &format!("/api/v1/mentoring-offers/{offer}/requests"),
            Some(&cast.member.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!(
        "/api/v1/mentoring-requests/{}",
        request["id"].as_str().unwrap()
    );
    let (status, accepted) = app
        .patch(
            &path,
            Some(&cast.mentor.token),
            json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    assert_eq!(
        slots_taken(&app, SLUG, &cast.lead, &offer).await,
        1,
        "the slot is taken before the mentee leaves"
    );
    let (status, _) = app
        .delete(
            &format!("/api/v1/groups/{SLUG}/membership"),
            Some(&cast.member.token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, mine) = app
        .get("/api/v1/me/mentoring", Some(&cast.member.token))
        .await;
    assert_eq!(mine["requests"][0]["status"], "withdrawn", "{mine}");
    let (_, offers) = app.get(&offers_path(SLUG), Some(&cast.lead.token)).await;
    let listed = offers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == json!(offer))
        .cloned()
        .unwrap();
    assert_eq!(listed["slots_taken"], 0, "the slot is free again");
}
