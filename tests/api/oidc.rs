//! Single sign-on against a real OpenID provider: `oidc-provider` from npm (pinned below),
//! installed into the target folder on first use and run by Node.js with
//! `tests/api/oidc_provider.mjs`, on 127.0.0.1 over http (allowed for a loopback issuer). The
//! test configures it with clients and accounts and walks the flow as a browser would: an HTTP
//! client with a cookie jar that follows no redirect by itself, so every hop is seen.
//! Without Node or npm these tests skip loudly; under `CI=true` they fail.

use std::process::Stdio;

use belong::config::Settings;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::helpers::{REQUEST_TIMEOUT, TestApp, TestUser, client, spawn_app_with};
use crate::npm;

/// The provider's release (pinned: the tests see one behaviour).
const OIDC_PROVIDER_VERSION: &str = "9.13.3";
const CLIENT_ID: &str = "belong-test";
const CLIENT_SECRET: &str = "belong-test-client-secret-0123456789";
/// A second application registered at the same provider, with the same redirect address.
const OTHER_CLIENT_ID: &str = "another-app";
const PROVIDER_NAME: &str = "Test Identity";

/// The provider: a Node process, ended with the test.
struct Idp {
    issuer: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
}

impl Idp {
    /// Starts the provider, or `None` (skipped) without Node or npm outside CI.
    async fn start() -> Option<Idp> {
        const WHY: &str = "the single sign-on tests";
        let dir = npm::install("oidc-provider", OIDC_PROVIDER_VERSION, WHY)?;
        let Some(node) = npm::on_path("node") else {
            npm::missing("node", WHY);
            return None;
        };
        // oidc-provider 9 and its `jose` need Node.js 20 or later.
        let version = std::process::Command::new(&node)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 20 {
            npm::missing(&format!("Node.js 20 or later (found {version:?})"), WHY);
            return None;
        }
        // Beside the package, so that its `import 'oidc-provider'` finds it.
        let script = dir.join("oidc_provider.mjs");
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/oidc_provider.mjs"),
            &script,
        )
        .unwrap();
        let mut process = tokio::process::Command::new(node)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its notices, with OIDC_PROVIDER_LOG set.
            .stderr(if std::env::var_os("OIDC_PROVIDER_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("node did not start");
        let stdout = process.stdout.take().unwrap();
        let first =
            tokio::time::timeout(REQUEST_TIMEOUT, BufReader::new(stdout).lines().next_line())
                .await
                .expect("the provider did not start in time")
                .unwrap()
                .expect("the provider ended before it listened");
        let port = serde_json::from_str::<Value>(&first).unwrap()["port"]
            .as_u64()
            .unwrap();
        Some(Idp {
            issuer: format!("http://127.0.0.1:{port}"),
            http: client(),
            _process: process,
        })
    }

    async fn post(&self, path: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// (Re)builds the provider with our client and another application, both sending people
    /// back to `app`'s callback, and a new signing key (a second call rotates the key).
    async fn setup(&self, app: &TestApp, accounts: Value) {
        self.setup_with(app, accounts, false).await;
    }

    /// As [`Idp::setup`]; with `id_token_claims` the provider puts the claims in the ID token
    /// and has no user info endpoint.
    async fn setup_with(&self, app: &TestApp, accounts: Value, id_token_claims: bool) {
        let callback = format!("{}/auth/oidc/callback", app.base);
        let client = |id: &str| {
            json!({
                "client_id": id,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [callback],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            })
        };
        self.post(
            "/__test/setup",
            json!({
                "clients": [client(CLIENT_ID), client(OTHER_CLIENT_ID)],
                "accounts": accounts,
                "id_token_claims": id_token_claims,
            }),
        )
        .await;
    }

    async fn accounts(&self, accounts: Value) {
        self.post("/__test/accounts", json!({ "accounts": accounts }))
            .await;
    }

    async fn tamper_audience(&self, audience: Option<&str>) {
        self.post("/__test/tamper", json!({ "audience": audience }))
            .await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn configure_sso(settings: &mut Settings, issuer: &str) {
    settings.oidc.issuer = Some(issuer.to_string());
    settings.oidc.client_id = Some(CLIENT_ID.into());
    settings.oidc.client_secret = Some(CLIENT_SECRET.to_string().into());
    settings.oidc.display_name = Some(PROVIDER_NAME.into());
}

/// The application with single sign-on at `issuer`. The redirect address is built from
/// `server.public_url`, so the server's port is chosen before it starts.
async fn sso_app(issuer: &str, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let port = free_port();
    spawn_app_with(|s| {
        s.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        s.server.public_url = format!("http://127.0.0.1:{port}");
        configure_sso(s, issuer);
        configure(s);
    })
    .await
}

/// A provider and an application using it, with these accounts at the provider.
async fn start(accounts: Value, configure: impl FnOnce(&mut Settings)) -> Option<(Idp, TestApp)> {
    let idp = Idp::start().await?;
    let app = sso_app(&idp.issuer, configure).await;
    idp.setup(&app, accounts).await;
    Some((idp, app))
}

/// A provider and an application where Ada has an account, and the provider knows her as
/// `ada-sub` with her email, verified.
async fn start_with_ada() -> Option<(Idp, TestApp, TestUser)> {
    let (idp, app) = start(json!({}), |_| {}).await?;
    let ada = app.user("Ada Lovelace").await;
    idp.accounts(json!({ "ada-sub": account(&ada.email, true, "Ada") }))
        .await;
    Some((idp, app, ada))
}

/// A page of the application, as someone not signed in sees it.
async fn page(app: &TestApp, path: &str) -> String {
    app.client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn account(email: &str, verified: bool, name: &str) -> Value {
    json!({ "email": email, "email_verified": verified, "name": name })
}

/// A browser: its own cookie jar (ours and the provider's), no redirect followed by itself.
struct Browser {
    http: reqwest::Client,
    base: String,
}

/// What the browser got back from our callback.
struct Landing {
    status: StatusCode,
    /// Our session cookie, when one was set.
    session: Option<String>,
    /// Every `Set-Cookie` of the answer.
    cookies: Vec<String>,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Self::with_headers(app, reqwest::header::HeaderMap::new())
    }

    /// A browser whose every request comes through a proxy that names it `address` in
    /// `X-Forwarded-For` (counted as `address` when the proxy, 127.0.0.1, is trusted).
    fn behind_proxy(app: &TestApp, address: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Self::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: reqwest::header::HeaderMap) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    /// `GET /auth/oidc/login`: the provider's authorization address it redirects to.
    async fn start(&self) -> (String, Vec<String>) {
        let r = self
            .http
            .get(format!("{}/auth/oidc/login", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap()
        );
        let cookies = set_cookies(&r);
        (location(&r, &self.base), cookies)
    }

    /// Signs in at the provider as `sub` from its authorization address, through its login
    /// form (and its consent form, should it ask), up to the redirect back to our callback,
    /// which is answered without being followed.
    async fn at_provider(&self, authorize: &str, sub: &str) -> String {
        let callback = format!("{}/auth/oidc/callback", self.base);
        let mut url = authorize.to_string();
        for _ in 0..12 {
            if url.starts_with(&callback) {
                return url;
            }
            let r = self.http.get(&url).send().await.unwrap();
            if r.status().is_redirection() {
                url = location(&r, &url);
                continue;
            }
            let status = r.status();
            let page = r.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{url}: {page}");
            let prompt = if page.contains(r#"name="prompt" value="login""#) {
                "login"
            } else if page.contains(r#"name="prompt" value="consent""#) {
                "consent"
            } else {
                panic!("an unexpected page at the provider, {url}: {page}")
            };
            let r = self
                .http
                .post(&url)
                .form(&[("prompt", prompt), ("login", sub), ("password", "any")])
                .send()
                .await
                .unwrap();
            assert!(r.status().is_redirection(), "{}", r.text().await.unwrap());
            url = location(&r, &url);
        }
        panic!("no redirect to our callback after 12 steps at the provider (last: {url})")
    }

    /// Visits our callback (or any of our addresses) with this browser's cookies.
    async fn land(&self, url: &str) -> Landing {
        let r = self.http.get(url).send().await.unwrap();
        let cookies = set_cookies(&r);
        let session = cookies
            .iter()
            .find(|c| c.starts_with("belong_session=") && !c.starts_with("belong_session=;"))
            .map(|c| c.split(';').next().unwrap().to_string());
        let status = r.status();
        if status == StatusCode::SEE_OTHER {
            assert_eq!(location(&r, url), format!("{}/", self.base));
        }
        Landing {
            status,
            session,
            cookies,
            body: r.text().await.unwrap(),
        }
    }

    /// The whole sign-in as `sub`, from our sign-in button to the page after.
    async fn sign_in(&self, sub: &str) -> Landing {
        let (authorize, _) = self.start().await;
        let callback = self.at_provider(&authorize, sub).await;
        self.land(&callback).await
    }

    /// The directory page as this browser sees it (its display name shows in the header).
    async fn home(&self) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}/", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn location(r: &reqwest::Response, base: &str) -> String {
    let to = r.headers()[LOCATION].to_str().unwrap();
    Url::parse(base).unwrap().join(to).unwrap().to_string()
}

/// Replaces (or adds) one query parameter of an address.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    url.to_string()
}

fn param(url: &str, name: &str) -> String {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// The account an identity at the provider is linked to, if any.
async fn linked(app: &TestApp, idp: &Idp, sub: &str) -> Option<Uuid> {
    sqlx::query_scalar("SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2")
        .bind(&idp.issuer)
        .bind(sub)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp, user: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY id")
        .bind(user.to_string())
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn sessions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM web_sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A refusal: a page in the layout (with the navigation of whoever asked: the sign-in link, or a
/// session's own from before) with this status and words, and no new session.
fn assert_refused(landing: &Landing, status: StatusCode, words: &str) {
    assert_eq!(landing.status, status, "{}", landing.body);
    assert!(landing.session.is_none(), "{:?}", landing.cookies);
    assert!(landing.body.contains(words), "{}", landing.body);
    assert!(
        landing.body.contains("<main"),
        "a page in the layout: {}",
        landing.body
    );
    assert!(landing.body.contains("<h1>"), "{}", landing.body);
}

#[tokio::test]
async fn the_first_sign_in_links_by_verified_email_and_the_next_by_subject() {
    let Some((idp, app)) = start(json!({}), |_| {}).await else {
        return;
    };
    let ada: TestUser = app.user("Ada Lovelace").await;
    let bob = app.user("Bob Babbage").await;
    idp.accounts(json!({ "ada-sub": account(&ada.email, true, "Ada at the provider") }))
        .await;

    let browser = Browser::new(&app);
    let (authorize, cookies) = browser.start().await;
    // The attempt is tied to this browser by a cookie scripts cannot read, sent only by
    // top-level navigations from elsewhere (the provider's redirect), for ten minutes.
    let state_cookie = cookies
        .iter()
        .find(|c| c.starts_with("belong_oidc="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    for part in ["; HttpOnly", "; SameSite=Lax", "; Path=/", "; Max-Age=600"] {
        assert!(state_cookie.contains(part), "{state_cookie}");
    }
    assert!(
        !state_cookie.contains("Secure"),
        "plain http: {state_cookie}"
    );
    assert!(
        state_cookie.starts_with(&format!("belong_oidc={};", param(&authorize, "state"))),
        "{state_cookie}"
    );
    // The authorization request: code flow, PKCE with S256, a nonce, our redirect address.
    assert!(authorize.starts_with(&idp.issuer), "{authorize}");
    assert_eq!(param(&authorize, "response_type"), "code");
    assert_eq!(param(&authorize, "client_id"), CLIENT_ID);
    assert_eq!(param(&authorize, "code_challenge_method"), "S256");
    assert!(param(&authorize, "nonce").len() >= 16);
    assert_eq!(
        param(&authorize, "redirect_uri"),
        format!("{}/auth/oidc/callback", app.base)
    );
    let scope = param(&authorize, "scope");
    assert!(
        scope.contains("openid") && scope.contains("email"),
        "{scope}"
    );

    let callback = browser.at_provider(&authorize, "ada-sub").await;
    let landing = browser.land(&callback).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert!(landing.session.is_some(), "{:?}", landing.cookies);
    assert!(
        landing
            .cookies
            .iter()
            .any(|c| c.starts_with("belong_oidc=;") && c.contains("Max-Age=0")),
        "the attempt's cookie is removed: {:?}",
        landing.cookies
    );
    let (status, page) = browser.home().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ada Lovelace"), "signed in as Ada: {page}");
    assert_eq!(linked(&app, &idp, "ada-sub").await, Some(ada.id));
    assert!(
        audit_actions(&app, ada.id)
            .await
            .contains(&"user.identity_linked".to_string())
    );

    // The provider now gives Ada another address, Bob's even: she is still found by her
    // subject, and Bob's account is not touched.
    idp.accounts(json!({ "ada-sub": account(&bob.email, true, "Ada") }))
        .await;
    let again = Browser::new(&app);
    let landing = again.sign_in("ada-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let (_, page) = again.home().await;
    assert!(page.contains("Ada Lovelace"), "{page}");
    assert!(!page.contains("Bob Babbage"), "{page}");
    assert_eq!(linked(&app, &idp, "ada-sub").await, Some(ada.id));
    // The person's email here is not the provider's to change (provisioning does that).
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(ada.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(email, ada.email);

    // Another subject with Ada's address cannot take her account.
    idp.accounts(json!({ "impostor": account(&ada.email, true, "Not Ada") }))
        .await;
    let landing = Browser::new(&app).sign_in("impostor").await;
    assert_refused(
        &landing,
        StatusCode::FORBIDDEN,
        "already linked to a different",
    );
    assert_eq!(linked(&app, &idp, "impostor").await, None);
}

#[tokio::test]
async fn a_wrong_state_a_missing_cookie_or_a_cancelled_sign_in_signs_no_one_in() {
    let Some((_idp, app, _ada)) = start_with_ada().await else {
        return;
    };
    let browser = Browser::new(&app);
    let (authorize, _) = browser.start().await;
    let callback = browser.at_provider(&authorize, "ada-sub").await;

    // Another state than this browser's: refused, and the attempt is left as it was.
    let landing = browser
        .land(&with_param(&callback, "state", "an-attackers-state"))
        .await;
    assert_refused(&landing, StatusCode::BAD_REQUEST, "Start again");
    // The right state from a browser that did not start the sign-in (a code planted in
    // someone else's browser): refused.
    let landing = Browser::new(&app).land(&callback).await;
    assert_refused(
        &landing,
        StatusCode::BAD_REQUEST,
        "not started in this browser",
    );
    // No state at all.
    let no_state = Url::parse(&callback)
        .map(|mut u| {
            let code = param(&callback, "code");
            u.set_query(Some(&format!("code={code}")));
            u.to_string()
        })
        .unwrap();
    assert_refused(
        &browser.land(&no_state).await,
        StatusCode::BAD_REQUEST,
        "Start again",
    );
    assert_eq!(sessions(&app).await, 0);
    // The browser that started it, with its state: signed in.
    let landing = browser.land(&callback).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert!(landing.session.is_some());

    // Cancelled at the provider: it sends the browser back with an error.
    let cancelling = Browser::new(&app);
    let (authorize, _) = cancelling.start().await;
    let r = cancelling.http.get(&authorize).send().await.unwrap();
    let interaction = location(&r, &authorize);
    let r = cancelling
        .http
        .get(format!("{interaction}/abort"))
        .send()
        .await
        .unwrap();
    let mut url = location(&r, &interaction);
    while !url.contains("/auth/oidc/callback") {
        let r = cancelling.http.get(&url).send().await.unwrap();
        url = location(&r, &url);
    }
    assert_eq!(param(&url, "error"), "access_denied");
    let landing = cancelling.land(&url).await;
    assert_refused(&landing, StatusCode::FORBIDDEN, "did not sign you in");
}

async fn waiting_attempts(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM oidc_logins")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_starts_waiting_for_the_provider_are_limited_per_client_address() {
    let Some((idp, app)) = start(json!({}), |s| {
        s.auth.max_pending_sso_logins_per_client = 2;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let ada = app.user("Ada Lovelace").await;
    idp.accounts(json!({ "ada-sub": account(&ada.email, true, "Ada") }))
        .await;
    let office = Browser::behind_proxy(&app, "203.0.113.1");
    office.start().await;
    // The browser's cookie holds the state of its latest start.
    let (latest, _) = office.start().await;
    assert_eq!(waiting_attempts(&app).await, 2);

    // A third start from the same address, while both wait: 429 with Retry-After, a page in
    // the layout, no cookie, and nothing written.
    let refused = || async {
        let r = office
            .http
            .get(format!("{}/auth/oidc/login", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=600).contains(&retry), "{retry}");
        assert!(r.headers().get(SET_COOKIE).is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("Too many sign-ins"), "{body}");
        assert!(body.contains("<main") && body.contains("<h1>"), "{body}");
    };
    refused().await;
    assert_eq!(waiting_attempts(&app).await, 2);
    // Another address is not slowed.
    Browser::behind_proxy(&app, "198.51.100.1").start().await;
    assert_eq!(waiting_attempts(&app).await, 3);

    // An attempt that comes back gives its place back: the office may start one more.
    let callback = office.at_provider(&latest, "ada-sub").await;
    let landing = office.land(&callback).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    office.start().await;
    refused().await;

    // Attempts and their count last ten minutes: once they are older, the address is free.
    sqlx::query("UPDATE oidc_logins SET created_at = created_at - interval '601 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE client_attempts SET window_started_at = window_started_at - interval '601 seconds'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    office.start().await;
    assert_eq!(
        waiting_attempts(&app).await,
        1,
        "the old attempts are pruned"
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let Some((_idp, app, _ada)) = start_with_ada().await else {
        return;
    };
    let browser = Browser::new(&app);
    let (authorize, _) = browser.start().await;
    let callback = browser.at_provider(&authorize, "ada-sub").await;
    let landing = browser.land(&callback).await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert_eq!(sessions(&app).await, 1);

    // The same redirect again, cookie and all: the attempt was used up.
    let state = param(&callback, "state");
    let r = client()
        .get(&callback)
        .header("cookie", format!("belong_oidc={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("belong_session="))
    );
    assert!(r.text().await.unwrap().contains("already used"));

    // The used code inside a fresh attempt of the same browser: the provider refuses it, and
    // the fresh attempt is spent.
    let (fresh, _) = browser.start().await;
    let replay = with_param(&callback, "state", &param(&fresh, "state"));
    let landing = browser.land(&replay).await;
    assert_refused(&landing, StatusCode::BAD_REQUEST, "could not be verified");
    assert_eq!(
        waiting_attempts(&app).await,
        0,
        "each attempt is single use"
    );
    assert_eq!(sessions(&app).await, 1);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let Some((idp, app, _ada)) = start_with_ada().await else {
        return;
    };

    // A code the provider issued to another application, brought to our callback with this
    // browser's own state: the provider will not exchange it for us.
    let browser = Browser::new(&app);
    let (authorize, _) = browser.start().await;
    let elsewhere = with_param(&authorize, "client_id", OTHER_CLIENT_ID);
    let callback = browser.at_provider(&elsewhere, "ada-sub").await;
    let landing = browser.land(&callback).await;
    assert_refused(&landing, StatusCode::BAD_REQUEST, "could not be verified");

    // An ID token signed by the provider's own key for another audience: refused by us.
    idp.tamper_audience(Some(OTHER_CLIENT_ID)).await;
    let landing = Browser::new(&app).sign_in("ada-sub").await;
    assert_refused(&landing, StatusCode::BAD_REQUEST, "could not be verified");
    assert_eq!(linked(&app, &idp, "ada-sub").await, None);
    assert_eq!(sessions(&app).await, 0);

    // The same provider, untampered: the same person gets in (the refusal was the audience).
    idp.tamper_audience(None).await;
    let landing = Browser::new(&app).sign_in("ada-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
}

#[tokio::test]
async fn a_deactivated_person_is_refused() {
    let Some((idp, app)) = start(json!({}), |_| {}).await else {
        return;
    };
    let admin = app.admin().await;
    let ada = app.user("Ada Lovelace").await;
    let cy = app.user("Cy Gone").await;
    idp.accounts(json!({
        "ada-sub": account(&ada.email, true, "Ada"),
        "cy-sub": account(&cy.email, true, "Cy"),
    }))
    .await;
    let landing = Browser::new(&app).sign_in("ada-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);

    // Linked, then deactivated: refused (and her session of before was ended).
    app.deactivate(&admin, &ada).await;
    let landing = Browser::new(&app).sign_in("ada-sub").await;
    assert_refused(&landing, StatusCode::FORBIDDEN, "deactivated");
    // Deactivated before the first sign-in: not linked either.
    app.deactivate(&admin, &cy).await;
    let landing = Browser::new(&app).sign_in("cy-sub").await;
    assert_refused(&landing, StatusCode::FORBIDDEN, "deactivated");
    assert_eq!(linked(&app, &idp, "cy-sub").await, None);
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn an_email_the_provider_did_not_verify_links_nothing() {
    let Some((idp, app)) = start(json!({}), |s| s.oidc.create_users = true).await else {
        return;
    };
    let ada = app.user("Ada Lovelace").await;
    idp.accounts(json!({
        "unverified": account(&ada.email, false, "Mallory"),
        "no-email": { "name": "Nobody" },
        "new-unverified": account("new.person@example.com", false, "New"),
    }))
    .await;
    for sub in ["unverified", "no-email", "new-unverified"] {
        let landing = Browser::new(&app).sign_in(sub).await;
        assert_refused(
            &landing,
            StatusCode::FORBIDDEN,
            "did not confirm your email",
        );
        assert_eq!(linked(&app, &idp, sub).await, None, "{sub}");
    }
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind("new.person@example.com")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn entra_ids_xms_edov_vouches_for_the_email_as_email_verified_does() {
    let Some((idp, app)) = start(json!({}), |_| {}).await else {
        return;
    };
    let ada = app.user("Ada Lovelace").await;
    let bob = app.user("Bob Babbage").await;
    idp.accounts(json!({
        "ada-oid": { "email": ada.email, "xms_edov": true, "name": "Ada" },
        "bob-oid": { "email": bob.email, "xms_edov": false, "name": "Bob" },
    }))
    .await;
    let landing = Browser::new(&app).sign_in("ada-oid").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert_eq!(linked(&app, &idp, "ada-oid").await, Some(ada.id));
    let landing = Browser::new(&app).sign_in("bob-oid").await;
    assert_refused(
        &landing,
        StatusCode::FORBIDDEN,
        "did not confirm your email",
    );
}

#[tokio::test]
async fn an_email_only_in_the_id_token_signs_the_person_in() {
    let Some(idp) = Idp::start().await else {
        return;
    };
    let app = sso_app(&idp.issuer, |_| {}).await;
    let ada = app.user("Ada Lovelace").await;
    idp.setup_with(
        &app,
        json!({ "ada-sub": account(&ada.email, true, "Ada") }),
        true,
    )
    .await;
    let discovery: Value = idp
        .http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery.get("userinfo_endpoint").is_none(),
        "no user info at this provider: {discovery}"
    );
    let browser = Browser::new(&app);
    let landing = browser.sign_in("ada-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert_eq!(linked(&app, &idp, "ada-sub").await, Some(ada.id));
    let (_, page) = browser.home().await;
    assert!(page.contains("Ada Lovelace"), "{page}");
}

#[tokio::test]
async fn accounts_are_created_only_when_the_settings_say_so() {
    let Some((idp, app)) = start(json!({}), |_| {}).await else {
        return;
    };
    idp.accounts(json!({ "grace-sub": account("grace.hopper@example.com", true, "Grace Hopper") }))
        .await;
    let landing = Browser::new(&app).sign_in("grace-sub").await;
    assert_refused(&landing, StatusCode::FORBIDDEN, "no account here");

    let Some((idp, app)) = start(
        json!({ "grace-sub": account("Grace.Hopper@Example.com", true, "Grace Hopper") }),
        |s| {
            s.oidc.create_users = true;
            s.auth.allowed_email_domains = vec!["example.com".into()];
        },
    )
    .await
    else {
        return;
    };
    let browser = Browser::new(&app);
    let landing = browser.sign_in("grace-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let (_, page) = browser.home().await;
    assert!(page.contains("Grace Hopper"), "{page}");
    let (id, email, has_password): (Uuid, String, bool) = sqlx::query_as(
        "SELECT id, email, password_hash IS NOT NULL FROM users WHERE email = 'grace.hopper@example.com'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(email, "grace.hopper@example.com");
    assert!(!has_password, "a single sign-on account has no password");
    assert_eq!(linked(&app, &idp, "grace-sub").await, Some(id));
    assert_eq!(audit_actions(&app, id).await, ["user.created_by_sso"]);

    // Outside the allowed domains no account is made.
    idp.accounts(json!({ "guest": account("guest@partner.example.org", true, "Guest") }))
        .await;
    let landing = Browser::new(&app).sign_in("guest").await;
    assert_refused(&landing, StatusCode::FORBIDDEN, "own domains");
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_again() {
    let Some((idp, app)) = start(json!({}), |_| {}).await else {
        return;
    };
    let ada = app.user("Ada Lovelace").await;
    let accounts = json!({ "ada-sub": account(&ada.email, true, "Ada") });
    idp.accounts(accounts.clone()).await;
    let landing = Browser::new(&app).sign_in("ada-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    // The provider starts signing with a new key; ours knows only the old one until it asks.
    idp.setup(&app, accounts).await;
    let landing = Browser::new(&app).sign_in("ada-sub").await;
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    assert_eq!(sessions(&app).await, 2);
}

#[tokio::test]
async fn without_password_sign_in_only_single_sign_on_is_offered() {
    // No provider needed: nothing here talks to it.
    let app = sso_app("http://127.0.0.1:9/", |s| s.auth.password_login = false).await;
    let user = app.user("Ada Lovelace").await;
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": user.email, "password": crate::helpers::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "new@example.com", "password": crate::helpers::PASSWORD, "display_name": "New"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let page = page(&app, "/login").await;
    assert!(
        page.contains(&format!(
            r#"href="/auth/oidc/login">Sign in with {PROVIDER_NAME}<"#
        )),
        "{page}"
    );
    assert!(!page.contains(r#"type="password""#), "{page}");
    assert!(!page.contains(r#"href="/register""#), "{page}");
    let r = app
        .client
        .post(format!("{}/login", app.base))
        .form(&[
            ("email", user.email.as_str()),
            ("password", crate::helpers::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let r = app
        .client
        .get(format!("{}/register", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn both_ways_in_are_offered_and_an_unreachable_provider_is_said_so() {
    // Nothing listens on the discard port: discovery fails, and each sign-in is told so.
    let app = sso_app("http://127.0.0.1:9", |_| {}).await;
    let page = page(&app, "/login").await;
    assert!(
        page.contains(&format!("Sign in with {PROVIDER_NAME}")),
        "{page}"
    );
    assert!(page.contains(r#"type="password""#), "{page}");
    for _ in 0..2 {
        let r = Browser::new(&app)
            .http
            .get(format!("{}/auth/oidc/login", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(SET_COOKIE).is_none());
        let body = r.text().await.unwrap();
        assert!(
            body.contains(&format!("We could not reach {PROVIDER_NAME}")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn without_single_sign_on_its_addresses_do_not_exist() {
    let app = spawn_app_with(|_| {}).await;
    for path in ["/auth/oidc/login", "/auth/oidc/callback?code=x&state=y"] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let page = page(&app, "/login").await;
    assert!(!page.contains("/auth/oidc/login"), "{page}");
}
