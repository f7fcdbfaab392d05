//! A real headless Chromium driven over WebDriver: Debian's `chromium` and `chromium-driver`.
//! Each test starts its own chromedriver (in a process group of its own, killed with its
//! browser when the test ends, however it ends). Without the browser a test skips loudly, and
//! under `CI=true` it fails. axe-core, pinned, is installed from npm into the target folder on
//! first use and run on every page a journey visits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::npm::{in_ci, on_path};

/// The axe-core release the accessibility checks run (pinned: a new release may add rules).
pub const AXE_CORE_VERSION: &str = "4.10.3";

/// Skips (loudly) or, in CI, fails when something the browser tests need is missing.
fn missing(what: &str) -> Option<Browser> {
    if in_ci() {
        panic!(
            "{what} is missing, and CI=true: the browser tests must run (apt-get install chromium chromium-driver)"
        );
    }
    eprintln!(
        "\n*** SKIPPED browser test: {what} is missing (apt-get install chromium chromium-driver) ***\n"
    );
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver and every browser it started, ended together.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Browser {
    pub client: Client,
    pub base: String,
    _profile: PathBuf,
    _driver: Driver,
}

impl Browser {
    /// A browser on the application at `base`, with JavaScript on or off; `None` (skipped)
    /// when Chromium is not installed outside CI.
    pub async fn start(base: &str, javascript: bool) -> Option<Browser> {
        let Some(chromium) = on_path("chromium").or_else(|| on_path("chromium-browser")) else {
            return missing("chromium");
        };
        let Some(chromedriver) = on_path("chromedriver") else {
            return missing("chromedriver");
        };
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver did not start");
        let driver = Driver { child };
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("belong-chromium-{}", uuid::Uuid::new_v4()));
        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("no WebDriver session");
        Some(Browser {
            client,
            base: base.to_string(),
            _profile: profile,
            _driver: driver,
        })
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// An attribute of the element (empty when it has none).
    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// A property of the element as the page has it now (`value`, `checked`…).
    pub async fn prop(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .prop(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn main_text(&self) -> String {
        self.text("main").await
    }

    pub async fn h1(&self) -> String {
        self.text("h1").await
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the button or link whose text is exactly `label`, and waits for the page it
    /// leads to.
    pub async fn press(&self, label: &str) {
        let xpath =
            format!("//button[normalize-space()='{label}'] | //a[normalize-space()='{label}']");
        let target = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button or link '{label}': {e}"));
        self.navigating(target.click()).await;
    }

    /// Runs an action that loads a new page, and waits until the old page is gone and the new
    /// one has loaded (no page script needed: the old document's element goes stale).
    pub async fn navigating<F, T>(&self, action: F) -> T
    where
        F: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        let result = action.await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "no new page after 15 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        while self.client.find(Locator::Css("footer")).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the new page did not load in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        result
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Presses keys on whatever has the focus.
    pub async fn keys(&self, keys: &[Key]) {
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys {
            actions = actions
                .then(KeyAction::Down {
                    value: (*key).into(),
                })
                .then(KeyAction::Up {
                    value: (*key).into(),
                });
        }
        self.client.perform_actions(actions).await.unwrap();
    }

    /// The `id` (or else the text) of the focused element.
    pub async fn focused(&self) -> String {
        let element = self.client.active_element().await.unwrap();
        match element.attr("id").await.unwrap() {
            Some(id) if !id.is_empty() => format!("#{id}"),
            _ => element.text().await.unwrap(),
        }
    }

    /// Fetches a download with the browser's own session cookie (a browser saves downloads to
    /// a file, which a test cannot read back easily); answers the status, type and body.
    pub async fn download(&self, href: &str) -> (u16, String, String) {
        let cookie = self
            .client
            .get_named_cookie("belong_session")
            .await
            .unwrap();
        let response = reqwest::Client::new()
            .get(format!("{}{href}", self.base))
            .header(
                reqwest::header::COOKIE,
                format!("belong_session={}", cookie.value()),
            )
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        (status, kind, response.text().await.unwrap())
    }

    /// Runs axe-core on the page and fails on any WCAG 2.0/2.1 A or AA violation.
    pub async fn check_accessibility(&self) {
        let axe = axe_source();
        self.client.execute(axe, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                      .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                              nodes: v.nodes.slice(0, 5).map(n => n.html)}))))
                      .catch(e => done([{id: 'axe-error', help: String(e)}]));"#,
                vec![],
            )
            .await
            .unwrap();
        let violations = result.as_array().cloned().unwrap_or_default();
        assert!(
            violations.is_empty(),
            "accessibility violations on {}:\n{}",
            self.path().await,
            serde_json::to_string_pretty(&Value::Array(violations)).unwrap()
        );
    }

    /// Saves a PNG of the page for the README, under `docs/img/`, when `BELONG_SCREENSHOTS`
    /// is set (`scripts/screenshots.sh`): the pictures come from the real pages.
    pub async fn screenshot_for_docs(&self, name: &str, anchor: Option<&str>) {
        if std::env::var_os("BELONG_SCREENSHOTS").is_none() {
            return;
        }
        if let Some(id) = anchor {
            self.client
                .execute(
                    "document.getElementById(arguments[0]).scrollIntoView();",
                    vec![json!(id)],
                )
                .await
                .unwrap();
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    pub async fn finish(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

static AXE: OnceLock<String> = OnceLock::new();

/// The pinned axe-core, installed from npm into the target folder (never the repository).
fn axe_source() -> &'static str {
    AXE.get_or_init(|| {
        let dir = crate::npm::install("axe-core", AXE_CORE_VERSION, "the accessibility checks")
            .unwrap_or_else(|| panic!("npm is missing: the accessibility checks need axe-core"));
        let script = dir.join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&script)
            .unwrap_or_else(|e| panic!("axe-core is not at {}: {e}", script.display()))
    })
}
