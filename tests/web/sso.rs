//! The sign-in page with single sign-on set up: the provider's button beside the password form,
//! or alone; and the page a sign-in that could not start shows. axe-core checks each.

use crate::browser::Browser;
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn the_sign_in_page_with_single_sign_on_is_accessible() {
    for password_login in [true, false] {
        // Nothing listens at this issuer: the button leads to the page that says so.
        let app = spawn_app_with(|s| {
            s.oidc.issuer = Some("http://127.0.0.1:9".into());
            s.oidc.client_id = Some("belong".into());
            s.oidc.client_secret = Some("a-client-secret".to_string().into());
            s.oidc.display_name = Some("Contoso".into());
            s.auth.password_login = password_login;
        })
        .await;
        let Some(browser) = Browser::start(&app.base, true).await else {
            return;
        };
        browser.goto("/login").await;
        assert_eq!(browser.h1().await, "Sign in");
        browser.check_accessibility().await;
        let text = browser.main_text().await;
        assert!(text.contains("Sign in with Contoso"), "{text}");
        assert_eq!(text.contains("Password"), password_login, "{text}");
        browser.press("Sign in with Contoso").await;
        assert_eq!(browser.h1().await, "Sign-in is unavailable");
        browser.check_accessibility().await;
        browser.finish().await;
    }
}
