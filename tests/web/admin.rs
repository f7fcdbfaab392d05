//! HR downloads each report; an admin grants a role and deactivates someone, whose open page
//! then goes back to sign-in.

use serde_json::json;

use crate::browser::Browser;
use crate::employee::sign_in;
use crate::fixtures::person;
use crate::helpers::spawn_app;

#[tokio::test]
async fn hr_downloads_each_report_and_an_admin_grants_a_role_and_deactivates_someone() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create_group(&admin, "veterans", "Veterans Network", "open")
        .await;
    let hr = person(&app, "Harriet Hr").await;
    app.grant(&hr, "hr").await;
    let public = person(&app, "Pat Public").await;
    app.join(&public, "veterans", "member", Some("public"))
        .await;
    let boss = person(&app, "Ada Admin").await;
    app.grant(&boss, "admin").await;
    let leaver = person(&app, "Lou Leaving").await;

    let Some(browser) = Browser::start(&app.base, true).await else {
        return;
    };
    // HR: the reports page, and each download as the page's forms ask for it.
    sign_in(&browser, &hr.email, false).await;
    let nav = browser.text("header nav").await;
    assert!(nav.contains("Reports") && !nav.contains("Admin"), "{nav}");
    browser.press("Reports").await;
    assert_eq!(browser.h1().await, "Reports");
    browser.check_accessibility().await;
    for (form, expect) in [
        ("/reports/groups.csv", "group_slug,group_name,members"),
        ("/reports/memberships.csv", "group_slug,email,display_name"),
        ("/reports/breakdown.csv", "group_slug,department,members"),
    ] {
        let action = format!("form[action='{form}']");
        let query: String = browser
            .client
            .execute(
                "return new URLSearchParams(new FormData(document.querySelector(arguments[0]))).toString();",
                vec![json!(action)],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let (status, kind, body) = browser.download(&format!("{form}?{query}")).await;
        assert_eq!(status, 200, "{form}: {body}");
        assert_eq!(kind, "text/csv; charset=utf-8");
        assert!(body.starts_with(expect), "{form}: {body}");
    }
    let (_, _, memberships) = browser
        .download("/reports/memberships.csv?group=veterans")
        .await;
    assert!(
        memberships.contains(&public.email),
        "public memberships are named: {memberships}"
    );
    // The audit record is written when the stream ends: poll for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let downloads = loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log WHERE action = 'report.downloaded' AND actor_id = $1",
        )
        .bind(hr.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if n >= 4 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(downloads, 4, "every download is audited");
    // An admin page is no page for HR; the 404 page keeps HR's own navigation.
    browser.goto("/admin/users").await;
    assert_eq!(browser.h1().await, "Page not found");
    let nav = browser.text("header nav").await;
    assert!(nav.contains("Reports") && !nav.contains("Admin"), "{nav}");
    assert!(browser.text("header").await.contains("Sign out"));
    browser.check_accessibility().await;
    browser.goto("/").await;
    browser.press("Sign out").await;

    // The person to be deactivated has a page open in a browser of their own.
    let Some(theirs) = Browser::start(&app.base, true).await else {
        return;
    };
    sign_in(&theirs, &leaver.email, false).await;
    theirs.goto("/me/groups").await;
    assert_eq!(theirs.h1().await, "My groups");

    // The admin grants HR to Pat, then deactivates Lou through the confirmation page.
    sign_in(&browser, &boss.email, false).await;
    browser.press("Admin").await;
    assert_eq!(browser.path().await, "/admin/users");
    browser.check_accessibility().await;
    browser.fill("#q", "Pat").await;
    browser.press("Search").await;
    browser.press("Change roles of Pat Public").await;
    browser.check_accessibility().await;
    browser.click("#role-hr").await;
    browser.press("Save the roles of Pat Public").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("Pat Public now has the roles: Employee, HR.")
    );
    let (_, me) = app.get("/api/v1/me", Some(&public.token)).await;
    assert_eq!(me["roles"], json!(["employee", "hr"]));

    browser.fill("#q", "Lou").await;
    browser.press("Search").await;
    browser.press("Deactivate Lou Leaving").await;
    assert_eq!(browser.h1().await, "Deactivate Lou Leaving?");
    browser.check_accessibility().await;
    browser.press("Deactivate Lou Leaving").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("Lou Leaving is deactivated.")
    );

    // Lou's open page, reloaded, is the sign-in page.
    theirs.client.refresh().await.unwrap();
    assert_eq!(theirs.path().await, "/login");
    theirs.finish().await;

    browser.press("Audit log").await;
    assert!(browser.main_text().await.contains("user.deactivated"));
    browser.check_accessibility().await;
    browser.finish().await;
}

#[tokio::test]
async fn an_admin_creates_edits_and_archives_a_group() {
    let app = spawn_app().await;
    let boss = person(&app, "Ada Admin").await;
    app.grant(&boss, "admin").await;
    let Some(browser) = Browser::start(&app.base, true).await else {
        return;
    };
    sign_in(&browser, &boss.email, false).await;
    browser.goto("/admin/groups").await;
    browser.check_accessibility().await;

    // Creates a group; an empty form first.
    browser.press("Create a group").await;
    assert_eq!(browser.h1().await, "Create a group");
    browser.check_accessibility().await;
    browser.press("Create the group").await;
    assert!(browser.title().await.starts_with("Error: "));
    let summary = browser.text(".error-summary").await;
    assert!(summary.contains("Name is required"), "{summary}");
    browser.check_accessibility().await;
    browser.fill("#name", "Parents Network").await;
    browser.fill("#slug", "parents").await;
    browser
        .fill("#tagline", "For parents and carers at work")
        .await;
    browser
        .fill("#mission", "Support for working parents and carers.")
        .await;
    browser.press("Create the group").await;
    assert_eq!(browser.path().await, "/groups/parents");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("You created Parents Network.")
    );

    // Edits it: the name emptied by mistake, then a new name and approval to join.
    browser.goto("/admin/groups").await;
    browser.press("Edit Parents Network").await;
    assert_eq!(browser.path().await, "/admin/groups/parents/edit");
    assert_eq!(browser.h1().await, "Edit Parents Network");
    assert!(
        browser.main_text().await.contains("/groups/parents"),
        "the address that stays"
    );
    browser.check_accessibility().await;
    browser.fill("#name", "").await;
    browser.press("Save Parents Network").await;
    assert!(browser.title().await.starts_with("Error: "));
    let summary = browser.text(".error-summary").await;
    assert!(summary.contains("Name"), "{summary}");
    browser.check_accessibility().await;
    browser.fill("#name", "Parents and Carers Network").await;
    browser.click("#join_policy-approval").await;
    browser.press("Save Parents Network").await;
    assert_eq!(browser.path().await, "/admin/groups");
    assert!(
        browser
            .text(".banner")
            .await
            .contains("The page of Parents and Carers Network is saved.")
    );
    let (_, group) = app.get("/api/v1/groups/parents", Some(&boss.token)).await;
    assert_eq!(group["name"], "Parents and Carers Network");
    assert_eq!(group["join_policy"], "approval");
    assert_eq!(group["mission"], "Support for working parents and carers.");

    // Archives it through the confirmation page.
    browser.press("Archive Parents and Carers Network").await;
    assert_eq!(browser.h1().await, "Archive Parents and Carers Network?");
    browser.check_accessibility().await;
    browser.press("Archive Parents and Carers Network").await;
    assert!(
        browser
            .text(".banner")
            .await
            .contains("Parents and Carers Network is archived.")
    );
    let (_, group) = app.get("/api/v1/groups/parents", Some(&boss.token)).await;
    assert_eq!(group["archived"], true);

    // A page that does not exist keeps the admin's navigation.
    browser.goto("/admin/no-such-page").await;
    assert_eq!(browser.h1().await, "Page not found");
    let nav = browser.text("header nav").await;
    assert!(nav.contains("My groups") && nav.contains("Admin"), "{nav}");
    browser.check_accessibility().await;
    browser.finish().await;
}
