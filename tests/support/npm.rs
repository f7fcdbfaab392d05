//! Packages from npm that the tests run, pinned, installed on first use into the target
//! folder's scratch directory (never the repository), and the Node.js that runs them. Without
//! npm or Node a test skips loudly, and under `CI=true` it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Fails under `CI=true`; otherwise says loudly that the test is skipped.
pub fn missing(what: &str, why: &str) {
    if in_ci() {
        panic!("{what} is missing, and CI=true: {why} must run (apt-get install nodejs npm)");
    }
    eprintln!(
        "\n*** SKIPPED: {what} is missing, so {why} did not run (apt-get install nodejs npm) ***\n"
    );
}

/// One install at a time in this process.
static INSTALLING: Mutex<()> = Mutex::new(());

/// The folder whose `node_modules` holds `package@version`, installed there on first use;
/// `None` (after [`missing`]) when npm is not installed. Installs into a folder beside it and
/// renames that into place, so that an interrupted install never looks finished.
pub fn install(package: &str, version: &str, why: &str) -> Option<PathBuf> {
    let name = format!("{package}-{version}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
    let installed = |dir: &Path| {
        dir.join("node_modules")
            .join(package)
            .join("package.json")
            .is_file()
    };
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if installed(&dir) {
        return Some(dir);
    }
    let Some(npm) = on_path("npm") else {
        missing("npm", why);
        return None;
    };
    let staging = dir.with_file_name(format!("{name}.partial-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&staging).unwrap();
    let status = Command::new(npm)
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            "--silent",
            "--prefix",
        ])
        .arg(&staging)
        .arg(format!("{package}@{version}"))
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "npm could not install {package}@{version}"
    );
    if dir.exists() && !installed(&dir) {
        // Left by an install that was interrupted before this helper renamed into place.
        let _ = std::fs::remove_dir_all(&dir);
    }
    if std::fs::rename(&staging, &dir).is_err() {
        // Another test process finished first.
        let _ = std::fs::remove_dir_all(&staging);
        assert!(
            installed(&dir),
            "{package}@{version} is not at {}",
            dir.display()
        );
    }
    Some(dir)
}
