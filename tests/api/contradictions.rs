//! States that would contradict each other: a pending request in an open group, an offer whose
//! mentor has left, a waitlist that moves after the event started.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn opening_a_group_lets_in_whoever_was_waiting() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "approval").await;
    let lead = app.user("Lee Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let waiting = app.user("Wen Waiting").await;
    let asked = app.join(&waiting, "pride", "member", Some("members")).await;
    assert_eq!(asked["status"], "pending");
    let ally = app.user("Al Ally").await;
    app.join(&ally, "pride", "ally", None).await;

    let (status, body) = app
        .patch(
            "/api/v1/groups/pride",
            Some(&lead.token),
            json!({"join_policy": "open"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let again = app.join(&waiting, "pride", "member", Some("members")).await;
    assert_eq!(again["status"], "active", "{again}");
    let history = app.history("pride").await;
    for user in [waiting.id, ally.id] {
        let approved: Vec<_> = history
            .iter()
            .filter(|h| h.user_id == user && h.event == "approved")
            .collect();
        assert_eq!(approved.len(), 1, "{history:?}");
        assert_eq!(approved[0].actor_id, Some(lead.id));
        assert_eq!(approved[0].status, "active");
    }
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM memberships WHERE status = 'pending'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn a_mentor_who_leaves_takes_their_offers_along() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let mentor = app.user("Mina Mentor").await;
    app.join(&mentor, "pride", "member", Some("public")).await;
    let mentee = app.user("Tess Mentee").await;
    app.join(&mentee, "pride", "member", Some("members")).await;
    let late = app.user("Lou Late").await;
    app.join(&late, "pride", "ally", None).await;
    let (status, offer) = app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&admin.token),
            json!({"title": "Careers", "slots": 2, "mentor_id": mentor.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{offer}");
    let offer_id: Uuid = offer["id"].as_str().unwrap().parse().unwrap();
    let requests = format!("/api/v1/mentoring-offers/{offer_id}/requests");
    let (status, asked) = app.post(&requests, Some(&mentee.token), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");

    let (status, _) = app
        .delete("/api/v1/groups/pride/membership", Some(&mentor.token))
        .await;
    assert!(status.is_success(), "{status}");

    let closed: bool =
        sqlx::query_scalar("SELECT closed_at IS NOT NULL FROM mentoring_offers WHERE id = $1")
            .bind(offer_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(closed);
    let request_status: String =
        sqlx::query_scalar("SELECT status::text FROM mentoring_requests WHERE offer_id = $1")
            .bind(offer_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(request_status, "declined");
    let (status, problem) = app.post(&requests, Some(&late.token), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (_, mine) = app.get("/api/v1/me/mentoring", Some(&mentee.token)).await;
    assert_eq!(mine["requests"][0]["status"], "declined", "{mine}");

    // Removal by an admin does the same.
    let second = app.user("Sam Second").await;
    app.join(&second, "pride", "member", Some("public")).await;
    let (_, offer) = app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&admin.token),
            json!({"title": "Public speaking", "slots": 1, "mentor_id": second.id}),
        )
        .await;
    let offer_id: Uuid = offer["id"].as_str().unwrap().parse().unwrap();
    let (status, _) = app
        .delete(
            &format!("/api/v1/groups/pride/members/{}", second.id),
            Some(&admin.token),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let closed: bool =
        sqlx::query_scalar("SELECT closed_at IS NOT NULL FROM mentoring_offers WHERE id = $1")
            .bind(offer_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(closed);
}

#[tokio::test]
async fn after_the_start_a_new_capacity_moves_nobody() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride", "open").await;
    let first = app.user("Fay First").await;
    let second = app.user("Sid Second").await;
    for user in [&first, &second] {
        app.join(user, "pride", "member", Some("public")).await;
    }
    let start = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    let at = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (status, event) = app
        .post(
            "/api/v1/groups/pride/events",
            Some(&admin.token),
            json!({"title": "Talk", "starts_at": at(start), "ends_at": at(start + time::Duration::hours(1)),
                   "capacity": 1, "audience": "members"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let id = event["id"].as_str().unwrap();
    let rsvp = format!("/api/v1/events/{id}/rsvp");
    let (_, going) = app.put(&rsvp, Some(&first.token), json!({})).await;
    assert_eq!(going["status"], "going");
    let (_, waiting) = app.put(&rsvp, Some(&second.token), json!({})).await;
    assert_eq!(waiting["status"], "waitlisted");
    sqlx::query("UPDATE events SET starts_at = now() - interval '10 minutes' WHERE id = $1")
        .bind(id.parse::<Uuid>().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&admin.token),
            json!({"capacity": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let status_of_second: String =
        sqlx::query_scalar("SELECT status::text FROM rsvps WHERE event_id = $1 AND user_id = $2")
            .bind(id.parse::<Uuid>().unwrap())
            .bind(second.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status_of_second, "waitlisted");
    // Like an RSVP, a cancellation after the start is refused.
    let (status, problem) = app.delete(&rsvp, Some(&first.token)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
}
