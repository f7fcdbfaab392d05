//! A private PostgreSQL cluster made from the server binaries installed on this machine, for
//! `cargo run` and `cargo test` with no `DATABASE_URL`. As root, the binaries run as the
//! `postgres` system user, because PostgreSQL refuses to run as root.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const SUPERUSER: &str = "postgres";

/// Where `initdb`, `pg_ctl` and `postgres` live.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Looks on `PATH`, then asks `pg_config --bindir`, then tries `/usr/lib/postgresql/*/bin`
    /// (newest first).
    pub fn locate() -> anyhow::Result<Self> {
        let complete = |dir: &Path| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|b| dir.join(b).is_file())
        };
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let pg_ctl = dir.join("pg_ctl");
                if pg_ctl.is_file() {
                    // Debian links pg_ctl into /usr/local/bin; its siblings live beside the target.
                    if let Some(parent) = fs::canonicalize(&pg_ctl)
                        .ok()
                        .and_then(|p| p.parent().map(Path::to_path_buf))
                    {
                        candidates.push(parent);
                    }
                    candidates.push(dir);
                }
            }
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            if out.status.success() {
                candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
            }
        }
        if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<(u32, PathBuf)> = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((version, e.path().join("bin")))
                })
                .collect();
            versions.sort_by_key(|v| std::cmp::Reverse(v.0));
            candidates.extend(versions.into_iter().map(|(_, p)| p));
        }
        candidates
            .into_iter()
            .find(|dir| complete(dir))
            .map(|dir| Self { dir })
            .context(
                "the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, \
                 by `pg_config --bindir`, or under /usr/lib/postgresql/*/bin. Install them \
                 (Debian or Ubuntu: `apt-get install postgresql`; Fedora: `dnf install \
                 postgresql-server`; macOS: `brew install postgresql@16`) or set DATABASE_URL to a \
                 PostgreSQL server you run",
            )
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The system user the binaries run as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn run_as() -> anyhow::Result<Option<RunAs>> {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is our effective user id.
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == SUPERUSER {
            let uid = fields[2].parse().context("a uid in /etc/passwd")?;
            let gid = fields[3].parse().context("a gid in /etc/passwd")?;
            return Ok(Some(RunAs { uid, gid }));
        }
    }
    bail!(
        "belong runs as root, so it runs PostgreSQL as the `postgres` system user, which does not \
         exist here; create it (`useradd --system --home /var/lib/postgresql postgres`), run belong \
         as another user, or set DATABASE_URL"
    )
}

fn command(program: &Path, user: Option<RunAs>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir("/").env("LC_ALL", "C");
    for var in [
        "PGDATA",
        "PGPORT",
        "PGHOST",
        "PGUSER",
        "PGDATABASE",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    if let Some(user) = user {
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd
}

fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Makes an empty data folder owned by the user that will run PostgreSQL, then `initdb`.
fn init(
    binaries: &Binaries,
    dir: &Path,
    user: Option<RunAs>,
    port: u16,
    ephemeral: bool,
) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    if let Some(user) = user {
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("handing {} to the postgres user", dir.display()))?;
    }
    let mut initdb = command(&binaries.tool("initdb"), user);
    initdb
        .arg("-D")
        .arg(dir)
        .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"]);
    if ephemeral {
        initdb.arg("--no-sync");
    }
    run(initdb, "initdb")?;
    let mut conf = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("postgresql.conf"))
        .context("opening postgresql.conf")?;
    writeln!(
        conf,
        "\n# belong's private cluster\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
         unix_socket_directories = ''\nmax_connections = 300\nshared_buffers = 128MB"
    )?;
    if ephemeral {
        // A throw-away test cluster: durability buys nothing.
        writeln!(
            conf,
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off"
        )?;
    }
    Ok(())
}

/// Whether `user` can enter `dir` (every folder above it must let it through).
fn reachable(dir: &Path, user: RunAs) -> bool {
    let mut probe = command(Path::new("/bin/sh"), Some(user));
    probe
        .arg("-c")
        .arg(r#"cd "$1""#)
        .arg("sh")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    probe.status().map(|s| s.success()).unwrap_or(false)
}

/// Where the cluster of a project whose `data_dir` the `postgres` user cannot enter is kept:
/// a folder per project under the system's state directory (`/var/lib/belong`), or under the
/// temporary directory when that cannot be made. The folder's name is the project folder's
/// name and a digest of the full path of `data_dir`, so that each checkout keeps its own
/// cluster and finds it again.
pub fn kept_cluster_dir(data_dir: &Path, base: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    use std::os::unix::ffi::OsStrExt;
    let digest = Sha256::digest(data_dir.as_os_str().as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let project: String = data_dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    base.join(format!("{project}-{hex}")).join("postgres")
}

/// The state directory, and the temporary one after it, for [`kept_cluster_dir`].
pub fn kept_cluster_bases() -> [PathBuf; 2] {
    [
        PathBuf::from("/var/lib/belong"),
        std::env::temp_dir().join("belong-clusters"),
    ]
}

/// Makes the folders above the kept cluster (root's, readable by all, so that `postgres` can
/// pass through) and notes which project it belongs to. A folder somebody else owns is
/// refused: under a shared temporary directory it could have been planted.
fn kept_elsewhere(data_dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut refused = Vec::new();
    for base in kept_cluster_bases() {
        let dir = kept_cluster_dir(data_dir, &base);
        let Some(project) = dir.parent() else {
            continue;
        };
        if fs::create_dir_all(project).is_err() {
            refused.push(format!("{} cannot be made", project.display()));
            continue;
        }
        let chain = [base.as_path(), project];
        if !chain
            .iter()
            .all(|f| fs::symlink_metadata(f).is_ok_and(|m| m.is_dir() && m.uid() == 0))
        {
            refused.push(format!("{} is not root's", project.display()));
            continue;
        }
        for f in chain {
            fs::set_permissions(f, fs::Permissions::from_mode(0o755))?;
        }
        fs::write(
            project.join("data_dir"),
            format!("{}\n", data_dir.display()),
        )?;
        return Ok(dir);
    }
    bail!(
        "the postgres user cannot enter {}, and no folder for the cluster could be made ({}); \
         run belong from a folder every user can enter, or set DATABASE_URL",
        data_dir.display(),
        refused.join("; ")
    )
}

/// The development cluster under `<data_dir>/postgres`: started by the first `belong serve`,
/// reused by the next, stopped when the service that started it stops. Run as root from a
/// folder the `postgres` user cannot enter (a home folder of mode 0700, a `mktemp -d`), it is
/// kept in [`kept_cluster_dir`] instead, and the log says where.
#[derive(Debug)]
pub struct DevCluster {
    binaries: Binaries,
    user: Option<RunAs>,
    dir: PathBuf,
    port: u16,
    started_here: bool,
}

impl DevCluster {
    pub fn start_or_reuse(data_dir: &Path) -> anyhow::Result<Self> {
        let binaries = Binaries::locate()?;
        let user = run_as()?;
        fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = fs::canonicalize(data_dir)?;
        let dir = match user {
            Some(user) if !reachable(&data_dir, user) => {
                let kept = kept_elsewhere(&data_dir)?;
                tracing::warn!(
                    data_dir = %data_dir.display(),
                    cluster = %kept.display(),
                    "the postgres user cannot enter database.data_dir (a private folder?); keeping \
                     the private PostgreSQL cluster where it can, reused by the next run"
                );
                kept
            }
            _ => data_dir.join("postgres"),
        };
        let port_file = dir.join("belong.port");
        let port = if dir.join("PG_VERSION").is_file() {
            fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .with_context(|| {
                    format!(
                        "{} is missing; remove {} to start afresh",
                        port_file.display(),
                        dir.display()
                    )
                })?
        } else {
            let port = free_port()?;
            tracing::info!(dir = %dir.display(), "creating the private PostgreSQL cluster");
            init(&binaries, &dir, user, port, false)?;
            fs::write(&port_file, port.to_string())?;
            port
        };
        let mut cluster = Self {
            binaries,
            user,
            dir,
            port,
            started_here: false,
        };
        if !cluster.is_running() {
            let mut start = command(&cluster.binaries.tool("pg_ctl"), user);
            start
                .arg("start")
                .arg("-D")
                .arg(&cluster.dir)
                .arg("-l")
                .arg(cluster.dir.join("postgres.log"))
                .args(["-w", "-t", "60", "-s"])
                // Its own process group: a Ctrl-C meant for us must not stop the database
                // under requests that are still finishing.
                .process_group(0);
            run(start, "pg_ctl start").with_context(|| {
                format!(
                    "starting the private cluster; see {}",
                    cluster.dir.join("postgres.log").display()
                )
            })?;
            cluster.started_here = true;
            tracing::info!(port, "started the private PostgreSQL cluster");
        } else {
            tracing::info!(port, "reusing the running private PostgreSQL cluster");
        }
        Ok(cluster)
    }

    fn is_running(&self) -> bool {
        let mut status = command(&self.binaries.tool("pg_ctl"), self.user);
        status
            .arg("status")
            .arg("-D")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        status.status().map(|s| s.success()).unwrap_or(false)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the cluster if this process started it.
    pub fn stop(&self) -> anyhow::Result<()> {
        if !self.started_here {
            return Ok(());
        }
        let mut stop = command(&self.binaries.tool("pg_ctl"), self.user);
        stop.arg("stop")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "fast", "-w", "-s"]);
        run(stop, "pg_ctl stop")?;
        tracing::info!("stopped the private PostgreSQL cluster");
        Ok(())
    }
}

/// A throw-away cluster in a temporary folder for one test process. It stops and deletes
/// itself when the process that started it exits, however it exits: a shell watches our end
/// of a pipe and cleans up when it closes.
#[derive(Debug)]
pub struct EphemeralCluster {
    port: u16,
    _child: Child,
    _lifeline: ChildStdin,
}

impl EphemeralCluster {
    pub fn start() -> anyhow::Result<Self> {
        let binaries = Binaries::locate()?;
        let user = run_as()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("belong-pg-{}-{nanos}", std::process::id()));
        let port = free_port()?;
        init(&binaries, &dir, user, port, true)?;
        let mut sh = command(Path::new("/bin/sh"), user);
        sh.arg("-c")
            .arg(r#""$0" -D "$1" >"$1/postgres.log" 2>&1 & pid=$!; cat >/dev/null; kill -INT "$pid"; wait "$pid"; rm -rf "$1""#)
            .arg(binaries.tool("postgres"))
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = sh.spawn().context("starting postgres")?;
        let lifeline = child
            .stdin
            .take()
            .context("no pipe to the postgres watcher")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        // The port accepts connections before the server does ("the database system is
        // starting up"); like `pg_ctl -w`, wait for the status line of postmaster.pid too.
        let ready = || {
            fs::read_to_string(dir.join("postmaster.pid"))
                .map(|pid| pid.lines().nth(7).map(str::trim) == Some("ready"))
                .unwrap_or(false)
        };
        while !ready() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the test cluster in {} did not start within 60 s",
                    dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            port,
            _child: child,
            _lifeline: lifeline,
        })
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }
}
