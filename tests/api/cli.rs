//! The `belong` command line, run as a real process.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;

use crate::helpers::{empty_database, spawn_app};

fn belong(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    belong_in(None, args, env, stdin)
}

/// `belong` started in the folder `dir`.
fn belong_in(dir: Option<&Path>, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_belong"));
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("BELONG_ENV")
        .env("BELONG__LOG__FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn migrate_admin_create_and_seed() {
    let database = empty_database().await;
    let env = [("DATABASE_URL", database.url.as_str())];
    let out = belong(&["migrate"], &env, "");
    assert!(out.status.success(), "{}", text(&out));

    let out = belong(
        &[
            "admin",
            "create",
            "--email",
            "Root@Example.com",
            "--display-name",
            "Root",
        ],
        &env,
        "short\n",
    );
    assert!(!out.status.success(), "a short password is refused");
    assert!(text(&out).contains("at least 12"), "{}", text(&out));
    let out = belong(
        &[
            "admin",
            "create",
            "--email",
            "Root@Example.com",
            "--display-name",
            "Root",
        ],
        &env,
        "a long enough password\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("a long enough password"),
        "the password is never echoed"
    );

    let out = belong(&["seed", "--demo"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let before = (
        count("SELECT count(*) FROM users").await,
        count("SELECT count(*) FROM memberships").await,
        count("SELECT count(*) FROM membership_history").await,
    );
    assert_eq!(count("SELECT count(*) FROM groups").await, 10);
    // The most sensitive demo groups carry a privacy notice, and their demo members accepted it.
    assert_eq!(
        count(
            "SELECT count(*) FROM groups WHERE privacy_notice <> '' AND privacy_notice_version = 1"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM memberships m JOIN groups g ON g.id = m.group_id
             WHERE consent_outdated(g.privacy_notice, g.privacy_notice_version, m.consent_version)"
        )
        .await,
        0
    );
    assert!(
        count(
            "SELECT count(*) FROM memberships m JOIN groups g ON g.id = m.group_id
             WHERE g.slug = 'pride' AND m.consent_version = 1"
        )
        .await
            > 0
    );
    let out = belong(&["seed", "--demo"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    let after = (
        count("SELECT count(*) FROM users").await,
        count("SELECT count(*) FROM memberships").await,
        count("SELECT count(*) FROM membership_history").await,
    );
    assert_eq!(before, after, "seeding twice changes nothing");
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE r.role = 'admin' AND u.email = 'root@example.com'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(admins, 1);
    // Every visibility and type is represented in the demo data.
    assert_eq!(
        count("SELECT count(DISTINCT (type, visibility)) FROM memberships").await,
        6
    );
    assert!(count("SELECT count(*) FROM memberships WHERE status = 'pending'").await > 0);
    assert!(count("SELECT count(*) FROM memberships WHERE role = 'lead'").await > 3);
}

#[tokio::test]
async fn the_bootstrapped_admin_can_sign_in() {
    let app = spawn_app().await;
    let url: String = sqlx::query_scalar("SELECT 'postgres://postgres@' || host(inet_server_addr()) || ':' || inet_server_port() || '/' || current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let out = belong(
        &[
            "admin",
            "create",
            "--email",
            "boss@example.com",
            "--display-name",
            "Boss",
        ],
        &[("DATABASE_URL", &url)],
        "correct horse battery staple\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let pair = app.login("boss@example.com").await;
    let (status, _) = app
        .get("/api/v1/admin/users", pair["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        app.audit_actions()
            .await
            .contains(&"user.admin_bootstrapped".to_string())
    );
}

#[test]
fn production_refuses_to_start_without_a_signing_secret() {
    let out = belong(
        &["migrate"],
        &[
            ("BELONG_ENV", "production"),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ],
        "",
    );
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("BELONG__AUTH__JWT_SECRET"), "{said}");
    let out = belong(
        &["migrate"],
        &[
            ("BELONG_ENV", "production"),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("BELONG__AUTH__JWT_SECRET", "too-short"),
        ],
        "",
    );
    assert!(text(&out).contains("too short"), "{}", text(&out));
    assert!(
        !text(&out).contains("too-short"),
        "the secret itself is never printed"
    );
}

#[test]
fn without_database_url_a_private_cluster_is_made_then_reused() {
    let dir = std::env::temp_dir().join(format!("belong-cli-{}", uuid::Uuid::new_v4().simple()));
    let dir_str = dir.to_str().unwrap().to_string();
    let env = [("BELONG__DATABASE__DATA_DIR", dir_str.as_str())];
    let out = belong(&["migrate"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.join("postgres/PG_VERSION").is_file());
    let port = std::fs::read_to_string(dir.join("postgres/belong.port")).unwrap();
    // The cluster was stopped when the command ended, and the next run reuses its data.
    assert!(
        !dir.join("postgres/postmaster.pid").exists(),
        "stopped cleanly"
    );
    let out = belong(&["migrate"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("postgres/belong.port")).unwrap(),
        port
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `.env.example` documents every setting once: each key of config/default.toml as
/// `BELONG__<SECTION>__<KEY>`, and the settings without a default.
#[test]
fn env_example_lists_every_setting_once() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let mut listed: Vec<String> = example
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_string)
        .collect();
    listed.sort();
    let twice: Vec<&String> = listed
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(twice.is_empty(), "listed more than once: {twice:?}");

    let defaults = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
    let mut wanted = vec![
        "BELONG_ENV".to_string(),
        "BELONG_CONFIG_DIR".to_string(),
        "DATABASE_URL".to_string(),
        "BELONG__AUTH__JWT_SECRET".to_string(),
        "BELONG__AUTH__ALLOW_REGISTRATION".to_string(),
        // Off unless set: no default to write in config/default.toml.
        "BELONG__SERVER__METRICS_BIND".to_string(),
        // Single sign-on: off unless all four are set.
        "BELONG__OIDC__ISSUER".to_string(),
        "BELONG__OIDC__CLIENT_ID".to_string(),
        "BELONG__OIDC__CLIENT_SECRET".to_string(),
        "BELONG__OIDC__DISPLAY_NAME".to_string(),
    ];
    let mut section = String::new();
    for line in defaults.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_uppercase();
        } else if let Some((key, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            wanted.push(format!("BELONG__{section}__{}", key.trim().to_uppercase()));
        }
    }
    for key in &wanted {
        assert!(listed.contains(key), "{key} is missing from .env.example");
    }
    for key in &listed {
        assert!(wanted.contains(key), "{key} in .env.example is no setting");
    }
}

/// Removes a private folder and the cluster kept for it, stopping the cluster if a failed run
/// left it running.
struct PrivateFolder {
    project: PathBuf,
    data_dir: PathBuf,
}

impl PrivateFolder {
    /// The cluster kept for this folder, if one was made.
    fn kept(&self) -> Option<PathBuf> {
        let data_dir = std::fs::canonicalize(&self.data_dir).ok()?;
        belong::db::cluster::kept_cluster_bases()
            .iter()
            .map(|base| belong::db::cluster::kept_cluster_dir(&data_dir, base))
            .find(|dir| dir.exists())
    }
}

impl Drop for PrivateFolder {
    fn drop(&mut self) {
        if let Some(kept) = self.kept() {
            if let Ok(pid) = std::fs::read_to_string(kept.join("postmaster.pid")) {
                if let Some(pid) = pid.lines().next() {
                    let _ = Command::new("kill").arg(pid.trim()).status();
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    while kept.join("postmaster.pid").exists()
                        && std::time::Instant::now() < deadline
                    {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                }
            }
            if let Some(project) = kept.parent() {
                let _ = std::fs::remove_dir_all(project);
                if let Some(base) = project.parent() {
                    // Only if empty: other checkouts may keep their clusters there.
                    let _ = std::fs::remove_dir(base);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.project);
    }
}

#[test]
fn as_root_from_a_folder_postgres_cannot_enter_the_cluster_is_kept_where_it_can() {
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        eprintln!("not root: PostgreSQL runs as ourselves and reaches any folder we can");
        return;
    }
    // A fresh folder of mode 0700 owned by root, like `mktemp -d` or a clone under /root.
    let project =
        std::env::temp_dir().join(format!("belong-private-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&project).unwrap();
    std::fs::set_permissions(&project, std::fs::Permissions::from_mode(0o700)).unwrap();
    let folder = PrivateFolder {
        data_dir: project.join(".data"),
        project: project.clone(),
    };

    // `database.data_dir` is the default `.data`, relative to the folder it starts in.
    let out = belong_in(Some(&project), &["migrate"], &[], "");
    assert!(out.status.success(), "{}", text(&out));
    let kept = folder
        .kept()
        .expect("a cluster kept outside the private folder");
    assert!(
        text(&out).contains(&kept.display().to_string()),
        "the log says where: {}",
        text(&out)
    );
    assert!(!folder.data_dir.join("postgres").exists());
    let meta = std::fs::metadata(&kept).unwrap();
    assert_ne!(meta.uid(), 0, "the cluster belongs to the postgres user");
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert!(kept.join("PG_VERSION").is_file());
    assert!(!kept.join("postmaster.pid").exists(), "stopped cleanly");
    let port = std::fs::read_to_string(kept.join("belong.port")).unwrap();

    // The next run finds the same cluster, with its data.
    let out = belong_in(Some(&project), &["migrate"], &[], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&kept.display().to_string()));
    assert_eq!(
        std::fs::read_to_string(kept.join("belong.port")).unwrap(),
        port
    );
    drop(folder);
    assert!(!kept.exists(), "the test leaves nothing behind");
}

#[tokio::test]
async fn serving_a_fresh_private_cluster_loads_the_demo_and_says_how_to_sign_in() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(format!("belong-serve-{}", uuid::Uuid::new_v4().simple()));
    let folder = PrivateFolder {
        data_dir: dir.join(".data"),
        project: dir.clone(),
    };
    std::fs::create_dir(&dir).unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_belong"))
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .env_remove("BELONG_ENV")
            .env("BELONG__LOG__FILTER", "warn")
            .env("BELONG__SERVER__BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut printed = Vec::new();
    while !printed
        .iter()
        .any(|l: &String| l.contains(belong::seed::DEMO_EMPLOYEE))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match said.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(_) => panic!("not ready within 120 s; said {printed:?}"),
        }
    }
    let all = printed.join("\n");
    let pages = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("pages:"))
        .unwrap_or_else(|| panic!("{all}"))
        .trim()
        .to_string();
    assert!(
        pages.starts_with("http://127.0.0.1:") && pages.ends_with('/'),
        "{all}"
    );
    assert!(all.contains(&format!("{pages}api/docs")), "{all}");
    for (email, _) in belong::seed::ACCOUNTS {
        assert!(all.contains(email), "{all}");
    }
    assert!(all.contains(belong::seed::DEMO_PASSWORD), "{all}");

    // Ready means ready: the API docs answer, and the demo employee has events to look at.
    let client = reqwest::Client::new();
    let docs = client.get(format!("{pages}api/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let login: serde_json::Value = client
        .post(format!("{pages}api/v1/auth/login"))
        .json(&serde_json::json!({"email": belong::seed::DEMO_EMPLOYEE, "password": belong::seed::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events: serde_json::Value = client
        .get(format!("{pages}api/v1/groups/women/events"))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!events["items"].as_array().unwrap().is_empty(), "{events}");

    let _ = Command::new("kill").arg(child.0.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(
        !folder.data_dir.join("postgres/postmaster.pid").exists(),
        "the cluster it started is stopped"
    );
}

/// A child process that is asked to stop (SIGTERM) and waited for if the test ends early.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").arg(self.0.id().to_string()).status();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn scim_tokens_are_printed_once_and_revoked_by_name() {
    let app = spawn_app().await;
    let url: String = sqlx::query_scalar("SELECT 'postgres://postgres@' || host(inet_server_addr()) || ':' || inet_server_port() || '/' || current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let env = [("DATABASE_URL", url.as_str())];
    let users = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/scim/v2/Users", app.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let out = belong(&["scim-token", "create", "--name", "entra-id"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_string();
    assert!(
        token.starts_with("belong_scim_"),
        "stdout holds the token alone"
    );
    assert!(
        text(&out).contains("/scim/v2"),
        "the address to give is said"
    );
    assert_eq!(users(token.clone()).await, StatusCode::OK);

    let out = belong(&["scim-token", "create", "--name", "entra-id"], &env, "");
    assert!(!out.status.success(), "one live token per name");
    let out = belong(&["scim-token", "revoke", "--name", "entra-id"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(users(token.clone()).await, StatusCode::UNAUTHORIZED);
    let out = belong(&["scim-token", "revoke", "--name", "entra-id"], &env, "");
    assert!(!out.status.success(), "nothing left to revoke");
    let actions = app.audit_actions().await;
    for action in ["scim.token_created", "scim.token_revoked"] {
        assert!(actions.contains(&action.to_string()), "{actions:?}");
    }
}
