//! A lead's journey: approve a pending member, post an event, accept a mentoring request.

use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

use crate::browser::Browser;
use crate::employee::sign_in;
use crate::fixtures::person;
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_lead_approves_a_member_posts_an_event_and_accepts_a_mentoring_request() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "abilities", "Abilities Network", "approval")
        .await;
    let lead = person(&app, "Lee Lead").await;
    app.make_lead(&admin, &lead, "abilities").await;
    // Someone waiting for approval, and a member who asked for the lead's mentoring.
    let sam = person(&app, "Sam Lee").await;
    app.join(&sam, "abilities", "member", Some("private")).await;
    let kim = person(&app, "Kim Park").await;
    app.join(&kim, "abilities", "ally", Some("members")).await;
    app.change_member(&admin, "abilities", &kim, json!({"status": "active"}))
        .await;
    let (status, offer) = app
        .post(
            "/api/v1/groups/abilities/mentoring-offers",
            Some(&lead.token),
            json!({"title": "Career conversations", "slots": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{offer}");
    let (status, _) = app
        .post(
            &format!(
                "/api/v1/mentoring-offers/{}/requests",
                offer["id"].as_str().unwrap()
            ),
            Some(&kim.token),
            json!({"message": "I would like to talk about moving teams."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let Some(browser) = Browser::start(&app.base, true).await else {
        return;
    };
    sign_in(&browser, &lead.email, false).await;
    browser.goto("/groups/abilities").await;
    browser.press("Manage Abilities Network").await;
    assert_eq!(browser.path().await, "/groups/abilities/manage");
    let roster = browser.main_text().await;
    assert!(roster.contains("Sam Lee"), "{roster}");
    assert!(roster.contains(&sam.email), "leads see the email: {roster}");
    browser.check_accessibility().await;
    browser.screenshot_for_docs("lead-roster.png", None).await;

    browser.press("Approve Sam Lee").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You approved Sam Lee.")
    );
    let (_, me) = app.get("/api/v1/me", Some(&sam.token)).await;
    assert_eq!(me["memberships"][0]["status"], "active");

    // Removal goes through a confirmation page.
    browser.press("Remove Kim Park").await;
    assert_eq!(
        browser.h1().await,
        "Remove Kim Park from Abilities Network?"
    );
    browser.check_accessibility().await;
    browser.press("Keep them in the group").await;

    // Posts an event; a mistake first.
    browser.press("Events").await;
    browser.check_accessibility().await;
    browser.press("Post an event").await;
    browser.check_accessibility().await;
    browser.fill("#title", "Accessible design clinic").await;
    let start = OffsetDateTime::now_utc() + time::Duration::days(10);
    let local = |t: OffsetDateTime| {
        t.format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap()
    };
    // A datetime-local field takes keys in the browser's locale format; set its value directly.
    browser
        .client
        .execute(
            "document.getElementById('starts_at').value = arguments[0];
             document.getElementById('ends_at').value = arguments[1];",
            vec![
                json!(local(start)),
                json!(local(start - time::Duration::hours(1))),
            ],
        )
        .await
        .unwrap();
    browser.press("Post the event").await;
    assert!(browser.title().await.starts_with("Error: "));
    assert!(
        browser.text(".error-summary").await.contains("End"),
        "names the end time"
    );
    browser.check_accessibility().await;
    browser
        .client
        .execute(
            "document.getElementById('ends_at').value = arguments[0];",
            vec![json!(local(start + time::Duration::hours(2)))],
        )
        .await
        .unwrap();
    browser.fill("#capacity", "12").await;
    browser.press("Post the event").await;
    assert_eq!(browser.path().await, "/groups/abilities/manage/events");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You posted Accessible design clinic.")
    );
    let (_, events) = app
        .get("/api/v1/groups/abilities/events", Some(&lead.token))
        .await;
    assert_eq!(events["items"][0]["title"], "Accessible design clinic");
    assert_eq!(events["items"][0]["capacity"], 12);

    // Accepts the mentoring request.
    browser.press("Mentoring").await;
    let mentoring = browser.main_text().await;
    assert!(
        mentoring.contains("I would like to talk about moving teams."),
        "{mentoring}"
    );
    browser.check_accessibility().await;
    browser.press("Accept Kim Park").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You accepted Kim Park's request")
    );
    let (_, mine) = app.get("/api/v1/me/mentoring", Some(&kim.token)).await;
    assert_eq!(mine["requests"][0]["status"], "accepted");
    browser.finish().await;
}
