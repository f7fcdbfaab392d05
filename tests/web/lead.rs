//! A lead's journey: approve a pending member, post an event, accept a mentoring request.

use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

use crate::browser::Browser;
use crate::employee::{World, sign_in, world};
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

#[tokio::test]
async fn a_lead_publishes_a_changed_privacy_notice_and_a_member_accepts_it_again() {
    // Pride Network's notice is at version 1; Sam joins as a private ally, accepting it.
    let World {
        app,
        employee: sam,
        lead,
    } = world().await;
    let (status, joined) = app
        .put(
            "/api/v1/groups/pride/membership",
            Some(&sam.token),
            json!({"type": "ally", "visibility": "private", "consent_version": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");

    let Some(browser) = Browser::start(&app.base, true).await else {
        return;
    };
    sign_in(&browser, &lead.email, false).await;
    browser.goto("/groups/pride/manage").await;
    browser.press("Privacy notice").await;
    assert_eq!(browser.path().await, "/groups/pride/manage/notice");
    assert_eq!(browser.h1().await, "Privacy notice of Pride Network");
    assert_eq!(browser.text("dl.facts dd").await, "1", "the version now");
    let page = browser.main_text().await;
    assert!(page.contains("Published on"), "{page}");
    assert!(
        page.contains(
            "every member and ally of Pride Network is asked to read it and accept it again"
        ),
        "the consequence is said before the button: {page}"
    );
    browser.check_accessibility().await;
    browser.screenshot_for_docs("lead-notice.png", None).await;

    // Too long: the form comes back with the text and what is wrong.
    browser
        .client
        .execute(
            "document.getElementById('text').value = 'x'.repeat(10001);",
            vec![],
        )
        .await
        .unwrap();
    browser.press("Publish the notice").await;
    assert!(browser.title().await.starts_with("Error: "));
    let summary = browser.text(".error-summary").await;
    assert!(
        summary.contains("Text of the notice must be at most 10000 characters"),
        "{summary}"
    );
    let described = browser.attr("#text", "aria-describedby").await;
    assert!(described.contains("text-error"), "{described}");
    browser.check_accessibility().await;
    let (_, unchanged) = app
        .get("/api/v1/groups/pride/privacy-notice", Some(&lead.token))
        .await;
    assert_eq!(unchanged["version"], 1);

    browser
        .fill(
            "#text",
            "Leads see every member. Members who chose it see each other.",
        )
        .await;
    browser.press("Publish the notice").await;
    assert_eq!(browser.path().await, "/groups/pride/manage/notice");
    let banner = browser.text(".banner").await;
    assert!(
        banner.contains("You published version 2 of the privacy notice."),
        "{banner}"
    );
    assert_eq!(browser.text("dl.facts dd").await, "2");
    // The same text again changes nothing.
    browser.press("Publish the notice").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("The notice is unchanged")
    );
    let (_, notice) = app
        .get("/api/v1/groups/pride/privacy-notice", Some(&lead.token))
        .await;
    assert_eq!(notice["version"], 2);
    browser.press("Sign out").await;

    // The member is asked, on My groups, to accept the new notice.
    sign_in(&browser, &sam.email, false).await;
    browser.press("My groups").await;
    let mine = browser.main_text().await;
    assert!(
        mine.contains("Pride Network has a new privacy notice for you to read and accept."),
        "{mine}"
    );
    browser.check_accessibility().await;
    browser
        .press("Read and accept the new notice of Pride Network")
        .await;
    assert_eq!(browser.path().await, "/groups/pride/join");
    let join = browser.main_text().await;
    assert!(
        join.contains("Members who chose it see each other."),
        "{join}"
    );
    assert!(join.contains("This notice is new, or it changed"), "{join}");
    browser.check_accessibility().await;
    browser.click("#consent_version").await;
    browser.press("Save my choices for Pride Network").await;
    let banner = browser.text(".banner").await;
    assert!(
        banner.contains("and you accepted its privacy notice"),
        "{banner}"
    );
    let (_, me) = app.get("/api/v1/me", Some(&sam.token)).await;
    assert_eq!(me["memberships"][0]["consent_version"], 2);
    assert_eq!(me["memberships"][0]["consent_outdated"], false);
    assert_eq!(
        me["memberships"][0]["visibility"], "private",
        "accepting again keeps the choices"
    );
    browser.press("My groups").await;
    assert!(!browser.main_text().await.contains("new privacy notice"));
    browser.finish().await;
}

#[tokio::test]
async fn a_lead_edits_the_page_and_an_event_cancels_it_and_posts_and_closes_an_offer() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "abilities", "Abilities Network", "open")
        .await;
    let lead = person(&app, "Lee Lead").await;
    app.make_lead(&admin, &lead, "abilities").await;
    let kim = person(&app, "Kim Park").await;
    app.join(&kim, "abilities", "member", Some("public")).await;
    let quiz = crate::fixtures::event(&app, &lead, "abilities", "Quiz", Some(1)).await;
    crate::fixtures::rsvp(&app, &kim, &quiz).await;
    let late = person(&app, "Lou Late").await;
    let answer = crate::fixtures::rsvp(&app, &late, &quiz).await;
    assert_eq!(answer["status"], "waitlisted");

    let Some(browser) = Browser::start(&app.base, true).await else {
        return;
    };
    sign_in(&browser, &lead.email, false).await;
    browser.goto("/groups/abilities/manage").await;

    // The member list as CSV, with the browser's own session.
    let (status, kind, csv) = browser
        .download("/groups/abilities/manage/members.csv")
        .await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert!(csv.contains(&kim.email), "{csv}");

    // Promotion goes through a confirmation page.
    browser.press("Make Kim Park a co-lead").await;
    assert_eq!(
        browser.h1().await,
        "Make Kim Park a co-lead of Abilities Network?"
    );
    browser.check_accessibility().await;
    browser.press("Go back").await;
    assert_eq!(browser.path().await, "/groups/abilities/manage");

    // The page text: the mission emptied by mistake, then saved.
    browser.press("Page text").await;
    assert_eq!(browser.h1().await, "Edit the group's page");
    browser.check_accessibility().await;
    browser.fill("#mission", "").await;
    browser.press("Save the page").await;
    assert!(browser.title().await.starts_with("Error: "));
    assert!(browser.text(".error-summary").await.contains("Mission"));
    browser.check_accessibility().await;
    browser
        .fill("#mission", "Making work accessible to everyone.")
        .await;
    browser.press("Save the page").await;
    assert_eq!(browser.path().await, "/groups/abilities");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("The page of Abilities Network is saved.")
    );
    assert!(
        browser
            .main_text()
            .await
            .contains("Making work accessible to everyone.")
    );

    // The event: its attendees and waitlist, an edit, then its cancellation.
    browser.goto("/groups/abilities/manage/events").await;
    browser.press("Attendees and waitlist of Quiz").await;
    let attendees = browser.main_text().await;
    assert!(attendees.contains("Kim Park"), "{attendees}");
    assert!(attendees.contains("Waitlist, number 1"), "{attendees}");
    browser.check_accessibility().await;
    browser.press("Events").await;
    browser.press("Edit Quiz").await;
    assert_eq!(browser.h1().await, "Edit Quiz");
    browser.check_accessibility().await;
    browser.fill("#title", "Quiz night").await;
    browser.press("Save the event").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You saved Quiz night."),
        "{}",
        browser.main_text().await
    );
    browser.press("Cancel Quiz night").await;
    assert_eq!(browser.h1().await, "Cancel Quiz night?");
    assert!(
        browser
            .main_text()
            .await
            .contains("The 2 people who answered")
    );
    browser.check_accessibility().await;
    browser.press("Cancel Quiz night").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You cancelled Quiz night.")
    );
    let (_, event) = app
        .get(
            &format!("/api/v1/events/{}", quiz["id"].as_str().unwrap()),
            Some(&lead.token),
        )
        .await;
    assert_eq!(event["title"], "Quiz night");
    assert_eq!(event["cancelled"], true);

    // A mentoring offer: a wrong number first, then posted, then closed.
    browser.press("Mentoring").await;
    browser.press("Post a mentoring offer").await;
    browser.check_accessibility().await;
    browser.fill("#title", "Office hours").await;
    browser.fill("#slots", "many").await;
    browser.press("Post the offer").await;
    assert!(browser.title().await.starts_with("Error: "));
    assert!(
        browser
            .text(".error-summary")
            .await
            .contains("Enter the number of mentees as a whole number")
    );
    browser.check_accessibility().await;
    browser.fill("#slots", "3").await;
    browser.press("Post the offer").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You posted Office hours.")
    );
    browser.press("Close Office hours").await;
    assert_eq!(browser.h1().await, "Close Office hours?");
    browser.check_accessibility().await;
    browser.press("Close Office hours").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You closed Office hours.")
    );
    browser.finish().await;
}
