//! An employee's journey on the pages, with JavaScript on and off; the keyboard; forms that
//! did not come from the site's own pages.

use fantoccini::key::Key;
use serde_json::json;

use crate::browser::Browser;
use crate::fixtures::{event, person, rsvp};
use crate::helpers::{PASSWORD, TestApp, TestUser, spawn_app};

pub struct World {
    pub app: TestApp,
    pub employee: TestUser,
    pub lead: TestUser,
}

/// Pride Network with a lead, a full event (one place, taken) and an open event; Veterans
/// Network beside it, so that the search has something to leave out.
pub async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "pride", "Pride Network", "open")
        .await;
    app.create_group(&admin, "veterans", "Veterans Network", "open")
        .await;
    let lead = person(&app, "Lee Lead").await;
    app.make_lead(&admin, &lead, "pride").await;
    let (status, notice) = app
        .put(
            "/api/v1/groups/pride/privacy-notice",
            Some(&lead.token),
            json!({"text": "Pride Network is for LGBTQIA+ colleagues and allies. Leads see every member."}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{notice}");
    let full = event(&app, &lead, "pride", "Pride Quiz Night", Some(1)).await;
    event(&app, &lead, "pride", "Pride Picnic", None).await;
    let early = person(&app, "Early Bird").await;
    let answer = rsvp(&app, &early, &full).await;
    assert_eq!(answer["status"], "going");
    let employee = person(&app, "Sam Lee").await;
    World {
        app,
        employee,
        lead,
    }
}

pub async fn sign_in(browser: &Browser, email: &str, check: bool) {
    browser.goto("/").await;
    assert_eq!(
        browser.path().await,
        "/login",
        "a signed-out visitor is sent to sign in"
    );
    if check {
        browser.check_accessibility().await;
    }
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/");
}

async fn employee_journey(javascript: bool) {
    let w = world().await;
    let Some(browser) = Browser::start(&w.app.base, javascript).await else {
        return;
    };
    if !javascript {
        // JavaScript is really off: a page's own script does not run.
        browser
            .client
            .goto("data:text/html,<title>before</title><script>document.title='after'</script>")
            .await
            .unwrap();
        assert_eq!(browser.title().await, "before");
    }
    let axe = javascript;

    // A wrong password is explained, and the form keeps the email.
    browser.goto("/login").await;
    browser.fill("#email", &w.employee.email).await;
    browser.fill("#password", "not the password").await;
    browser.press("Sign in").await;
    assert!(browser.title().await.starts_with("Error: "));
    assert!(
        browser
            .main_text()
            .await
            .contains("The email address or the password is wrong"),
        "{}",
        browser.main_text().await
    );

    sign_in(&browser, &w.employee.email, axe).await;
    assert_eq!(browser.h1().await, "Resource groups");
    if axe {
        browser.check_accessibility().await;
        browser.screenshot_for_docs("directory.png", None).await;
    }

    // Finds the group by search.
    browser.fill("#q", "pride").await;
    browser.press("Search").await;
    assert_eq!(browser.path().await, "/?q=pride");
    let results = browser.main_text().await;
    assert!(results.contains("Pride Network"), "{results}");
    assert!(!results.contains("Veterans Network"), "{results}");
    if axe {
        browser.check_accessibility().await;
    }
    browser.press("Pride Network").await;
    assert_eq!(browser.path().await, "/groups/pride");
    assert_eq!(browser.h1().await, "Pride Network");
    let page = browser.main_text().await;
    assert!(page.contains("Lee Lead"), "the leads are named: {page}");
    assert!(page.contains("Pride Quiz Night"), "{page}");
    for words in [
        "Everyone at the company can see you in this group's member list.",
        "Members of this group who are themselves visible to members can see you (allies cannot).",
        "Only the group's leads (and administrators) can see you.",
    ] {
        assert!(page.contains(words), "the join form says {words:?}: {page}");
    }
    if axe {
        browser.check_accessibility().await;
        browser
            .screenshot_for_docs("group-join.png", Some("membership"))
            .await;
    }

    // Joining without saying member or ally: the form comes back with what is wrong.
    browser.click("#visibility-private").await;
    browser.press("Join Pride Network").await;
    assert!(
        browser.title().await.starts_with("Error: "),
        "{}",
        browser.title().await
    );
    let summary = browser.text(".error-summary").await;
    assert!(summary.contains("There is a problem"), "{summary}");
    assert!(summary.contains("Select whether you join as a member or as an ally"));
    let described = browser.attr("#type", "aria-describedby").await;
    assert!(described.contains("type-error"), "{described}");
    let private_kept = browser.prop("#visibility-private", "checked").await;
    assert_eq!(private_kept, "true", "what was chosen is kept");
    if axe {
        browser.check_accessibility().await;
    }

    // Joins as an ally whom only the leads can see, after reading the notice.
    assert!(
        browser
            .main_text()
            .await
            .contains("Leads see every member.")
    );
    browser.click("#type-ally").await;
    browser.click("#consent_version").await;
    browser.press("Join Pride Network").await;
    assert_eq!(browser.path().await, "/groups/pride");
    let banner = browser.text(".banner").await;
    assert!(
        banner.contains("You joined Pride Network as an ally."),
        "{banner}"
    );
    assert!(
        banner.contains(
            "Only the group's leads (and administrators) can see that you are in this group."
        ),
        "{banner}"
    );
    let (_, me) = w.app.get("/api/v1/me", Some(&w.employee.token)).await;
    let joined = &me["memberships"][0];
    assert_eq!(
        [
            &joined["group_slug"],
            &joined["type"],
            &joined["status"],
            &joined["visibility"]
        ],
        ["pride", "ally", "active", "private"]
    );
    // The banner is shown once.
    browser.goto("/groups/pride").await;
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css(".banner"))
            .await
            .is_err()
    );

    // RSVPs to the full event: a place on the waitlist.
    browser
        .press("Join the waitlist for Pride Quiz Night")
        .await;
    let banner = browser.text(".banner").await;
    assert!(
        banner.contains("You are number 1 on the waitlist"),
        "{banner}"
    );
    browser.press("My events").await;
    assert_eq!(browser.path().await, "/me/events");
    let mine = browser.main_text().await;
    assert!(mine.contains("Pride Quiz Night"), "{mine}");
    assert!(mine.contains("You are number 1 on the waitlist."), "{mine}");
    if axe {
        browser.check_accessibility().await;
    }

    // Leaves, through a confirmation page.
    browser.press("My groups").await;
    if axe {
        browser.check_accessibility().await;
    }
    browser.press("Leave Pride Network").await;
    assert_eq!(browser.path().await, "/groups/pride/leave");
    assert_eq!(browser.h1().await, "Leave Pride Network?");
    if axe {
        browser.check_accessibility().await;
    }
    browser.press("Leave Pride Network").await;
    assert_eq!(browser.path().await, "/me/groups");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You left Pride Network.")
    );
    let (_, me) = w.app.get("/api/v1/me", Some(&w.employee.token)).await;
    assert_eq!(me["memberships"], json!([]));

    // Signs out: the pages ask to sign in again.
    browser.press("Sign out").await;
    assert_eq!(browser.path().await, "/login");
    browser.goto("/me/groups").await;
    assert_eq!(browser.path().await, "/login");
    let _ = w.lead;
    browser.finish().await;
}

#[tokio::test]
async fn an_employee_finds_joins_waits_and_leaves() {
    employee_journey(true).await;
}

#[tokio::test]
async fn the_employee_journey_works_without_javascript() {
    employee_journey(false).await;
}

#[tokio::test]
async fn the_keyboard_reaches_the_skip_link_first_and_every_control_of_the_join_form() {
    let w = world().await;
    let Some(browser) = Browser::start(&w.app.base, true).await else {
        return;
    };
    sign_in(&browser, &w.employee.email, false).await;
    browser.goto("/groups/pride").await;
    browser.keys(&[Key::Tab]).await;
    assert_eq!(browser.focused().await, "Skip to main content");
    browser.keys(&[Key::Enter]).await;
    // Tab on through the page to the join form's first control: the checked visibility.
    let mut reached = Vec::new();
    for _ in 0..60 {
        browser.keys(&[Key::Tab]).await;
        let focused = browser.focused().await;
        if focused == "#visibility-members" {
            reached.push(focused);
            break;
        }
    }
    assert_eq!(
        reached,
        ["#visibility-members"],
        "Tab reaches the visibility choice"
    );
    // Arrows choose within the radio group; Tab moves to the next group and the button.
    browser.keys(&[Key::Down]).await;
    assert_eq!(browser.focused().await, "#visibility-private");
    browser.keys(&[Key::Tab]).await;
    assert_eq!(browser.focused().await, "#type-member");
    browser.keys(&[Key::Down]).await;
    assert_eq!(browser.focused().await, "#type-ally");
    // The notice (a scrollable region) and its checkbox.
    browser.keys(&[Key::Tab]).await;
    browser.keys(&[Key::Tab]).await;
    assert_eq!(browser.focused().await, "#consent_version");
    browser.keys(&[Key::Space]).await;
    browser.keys(&[Key::Tab]).await;
    assert_eq!(browser.focused().await, "Join Pride Network");
    browser.keys(&[Key::Enter]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while browser
        .client
        .find(fantoccini::Locator::Css(".banner"))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the join did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, me) = w.app.get("/api/v1/me", Some(&w.employee.token)).await;
    assert_eq!(me["memberships"][0]["type"], "ally");
    assert_eq!(me["memberships"][0]["visibility"], "private");
    browser.finish().await;
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_are_refused() {
    let w = world().await;
    let Some(browser) = Browser::start(&w.app.base, true).await else {
        return;
    };
    sign_in(&browser, &w.employee.email, false).await;
    browser.goto("/groups/pride").await;

    // The join form without its CSRF token.
    browser
        .client
        .execute(
            "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .unwrap();
    browser.click("#type-member").await;
    browser.press("Join Pride Network").await;
    assert_eq!(browser.h1().await, "This request was refused");
    let nav = browser.text("header nav").await;
    assert!(
        nav.contains("My groups"),
        "the refusal keeps the navigation: {nav}"
    );
    browser.check_accessibility().await;
    let (_, me) = w.app.get("/api/v1/me", Some(&w.employee.token)).await;
    assert_eq!(me["memberships"], json!([]), "nothing was joined");

    // The same form, token and all, on a page of another site (127.0.0.2 is another origin).
    browser.goto("/groups/pride").await;
    let token = browser.prop("input[name=csrf]", "value").await;
    let action = format!("{}/groups/pride/join", w.app.base);
    let html = format!(
        "<!doctype html><title>Win a prize</title><form method=post action='{action}'>\
         <input name=csrf value='{token}'><input name=type value=member>\
         <input name=visibility value=public><button>Claim</button></form>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let other = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(
            listener,
            axum::Router::new().route(
                "/",
                axum::routing::get(move || {
                    let html = html.clone();
                    async move { axum::response::Html(html) }
                }),
            ),
        )
        .into_future(),
    );
    browser
        .client
        .goto(&format!("http://{other}/"))
        .await
        .unwrap();
    browser.press("Claim").await;
    assert_eq!(browser.h1().await, "This request was refused");
    let (_, me) = w.app.get("/api/v1/me", Some(&w.employee.token)).await;
    assert_eq!(me["memberships"], json!([]), "nothing was joined");
    browser.finish().await;
}

#[tokio::test]
async fn a_newcomer_registers_asks_for_mentoring_and_makes_a_new_calendar_address() {
    let w = world().await;
    let (status, offer) = w
        .app
        .post(
            "/api/v1/groups/pride/mentoring-offers",
            Some(&w.lead.token),
            json!({"title": "Coming out at work", "slots": 2}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{offer}");
    let Some(browser) = Browser::start(&w.app.base, true).await else {
        return;
    };

    // Before signing in: help, and a page that does not exist, offer to sign in.
    browser.goto("/help").await;
    assert_eq!(browser.h1().await, "Who sees what");
    browser.check_accessibility().await;
    browser.goto("/no/such/page").await;
    assert_eq!(browser.h1().await, "Page not found");
    assert_eq!(browser.text("header nav").await, "Sign in");
    browser.check_accessibility().await;

    // Registers: an empty form first.
    browser.press("Sign in").await;
    browser.press("Create an account").await;
    assert_eq!(browser.path().await, "/register");
    browser.check_accessibility().await;
    browser.press("Create account").await;
    assert!(browser.title().await.starts_with("Error: "));
    browser.check_accessibility().await;
    let email = format!("robin-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.fill("#display_name", "Robin Newcomer").await;
    browser.fill("#email", &email).await;
    browser.fill("#password", PASSWORD).await;
    browser.press("Create account").await;
    assert_eq!(browser.path().await, "/");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("Your account is ready.")
    );

    // Joins Pride Network as a member, after reading its notice, and asks for mentoring.
    browser.goto("/groups/pride/join").await;
    browser.check_accessibility().await;
    browser.click("#type-member").await;
    browser.click("#consent_version").await;
    browser.press("Join Pride Network").await;
    browser.press("Ask Lee Lead for mentoring").await;
    let page = browser.main_text().await;
    assert!(
        page.contains("The mentor and this group's leads will see your name and message."),
        "{page}"
    );
    browser.check_accessibility().await;
    browser
        .fill("#message", "I would like to talk about being out at work.")
        .await;
    browser.press("Ask Lee Lead for mentoring").await;
    assert_eq!(browser.path().await, "/me/mentoring");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("Your request for Coming out at work was sent.")
    );
    assert!(browser.main_text().await.contains("Waiting for an answer"));
    browser.check_accessibility().await;
    browser
        .press("Withdraw my request for Coming out at work")
        .await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You withdrew your request for Coming out at work.")
    );

    // The calendar feed: its address, then a new one.
    browser.press("Calendar feed").await;
    browser.check_accessibility().await;
    let old = browser.prop("#feed", "value").await;
    assert!(old.contains("/ical/"), "{old}");
    browser.press("Make a new calendar address").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You have a new calendar address.")
    );
    let new = browser.prop("#feed", "value").await;
    assert!(new.contains("/ical/") && new != old, "{old} → {new}");
    browser.finish().await;
}
