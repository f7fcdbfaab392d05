//! Load tool: drives a `belong` server loaded with `belong seed --synthetic` through every
//! journey and prints, per journey, throughput, latency percentiles and errors, with the
//! targets of docs/performance.md beside the figures. A benchmark, not a test: it asserts
//! nothing about timings. `scripts/bench.sh` runs it end to end on a throw-away cluster.
//!
//! ```text
//! cargo bench --bench load -- [JOURNEYS] --database-url URL (--serve PATH | --url URL [--pid PID])
//!     [--duration SECS] [--warmup SECS] [--connections N] [--users N] [--pool N]
//!     [--pg-log PATH] [--work DIR] [--storm-rate N] [--rsvp-capacity N]
//!     [--export-rows N] [--export-runs N] [--ready-runs N] [--password P]
//! ```
//!
//! JOURNEYS is `all` (the default) or a comma-separated list of: ready, directory, group,
//! roster, web, storm, churn, rsvp, export, and signin (not part of `all`). They run in that
//! order whatever the order given: reads first, writes after, and the export last, because it
//! adds memberships until the export has `--export-rows` rows. See docs/performance.md for
//! what each does. Lines starting with `result ` are for scripts.

mod db;
mod http;
mod journeys;
mod pgbench;
mod report;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

/// The journeys, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Journey {
    Ready,
    Directory,
    Group,
    Roster,
    Web,
    Storm,
    Churn,
    Rsvp,
    Export,
    Signin,
}

impl Journey {
    const ALL: [Journey; 9] = [
        Journey::Ready,
        Journey::Directory,
        Journey::Group,
        Journey::Roster,
        Journey::Web,
        Journey::Storm,
        Journey::Churn,
        Journey::Rsvp,
        Journey::Export,
    ];

    fn parse(name: &str) -> Option<Journey> {
        Some(match name {
            "ready" => Journey::Ready,
            "directory" => Journey::Directory,
            "group" => Journey::Group,
            "roster" => Journey::Roster,
            "web" => Journey::Web,
            "storm" => Journey::Storm,
            "churn" => Journey::Churn,
            "rsvp" => Journey::Rsvp,
            "export" => Journey::Export,
            "signin" => Journey::Signin,
            _ => return None,
        })
    }
}

#[derive(Clone)]
pub struct Options {
    pub journeys: Vec<Journey>,
    pub url: String,
    pub serve: Option<PathBuf>,
    pub pid: Option<u32>,
    pub database_url: String,
    pub pg_log: Option<PathBuf>,
    pub sqlx_dir: PathBuf,
    pub work: PathBuf,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub users: usize,
    pub pool: u32,
    pub password: String,
    pub storm_rate: f64,
    pub rsvp_capacity: Option<usize>,
    pub export_rows: i64,
    pub export_runs: usize,
    pub ready_runs: usize,
}

const USAGE: &str = "usage: load [all | JOURNEY,JOURNEY,...] --database-url URL (--serve PATH | --url URL [--pid PID])
    [--duration SECS] [--warmup SECS] [--connections N] [--users N] [--pool N] [--pg-log PATH]
    [--work DIR] [--storm-rate N] [--rsvp-capacity N] [--export-rows N] [--export-runs N]
    [--ready-runs N] [--password P] [--sqlx-dir DIR]
journeys: ready directory group roster web storm churn rsvp export (all), signin";

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut opts = Options {
        journeys: Vec::new(),
        url: std::env::var("BELONG_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into()),
        serve: None,
        pid: None,
        database_url: std::env::var("DATABASE_URL").unwrap_or_default(),
        pg_log: std::env::var_os("SCRATCH_PG_LOG").map(PathBuf::from),
        sqlx_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.sqlx")),
        work: std::env::temp_dir().join(format!("belong-load-{}", std::process::id())),
        duration: Duration::from_secs(30),
        warmup: Duration::from_secs(3),
        connections: 64,
        users: 200,
        pool: 16,
        password: "belong-synthetic-password".into(),
        storm_rate: 40.0,
        rsvp_capacity: None,
        export_rows: 1_000_000,
        export_runs: 3,
        ready_runs: 3,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        fn number<T: std::str::FromStr>(name: &str, v: String) -> anyhow::Result<T> {
            v.parse()
                .ok()
                .with_context(|| format!("{name}: not a number: {v}\n{USAGE}"))
        }
        match arg.as_str() {
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            "--url" => opts.url = value(&arg)?,
            "--serve" => opts.serve = Some(PathBuf::from(value(&arg)?)),
            "--pid" => opts.pid = Some(number(&arg, value(&arg)?)?),
            "--database-url" => opts.database_url = value(&arg)?,
            "--pg-log" => opts.pg_log = Some(PathBuf::from(value(&arg)?)),
            "--sqlx-dir" => opts.sqlx_dir = PathBuf::from(value(&arg)?),
            "--work" => opts.work = PathBuf::from(value(&arg)?),
            "--duration" => opts.duration = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--warmup" => opts.warmup = Duration::from_secs(number(&arg, value(&arg)?)?),
            "--connections" | "--concurrency" => opts.connections = number(&arg, value(&arg)?)?,
            "--users" => opts.users = number(&arg, value(&arg)?)?,
            "--pool" => opts.pool = number(&arg, value(&arg)?)?,
            "--password" => opts.password = value(&arg)?,
            "--storm-rate" => opts.storm_rate = number(&arg, value(&arg)?)?,
            "--rsvp-capacity" => opts.rsvp_capacity = Some(number(&arg, value(&arg)?)?),
            "--export-rows" => opts.export_rows = number(&arg, value(&arg)?)?,
            "--export-runs" => opts.export_runs = number(&arg, value(&arg)?)?,
            "--ready-runs" => opts.ready_runs = number(&arg, value(&arg)?)?,
            "-h" | "--help" => bail!("{USAGE}"),
            list if !list.starts_with('-') => {
                for name in list.split(',').filter(|n| !n.is_empty()) {
                    if name == "all" {
                        opts.journeys.extend(Journey::ALL);
                    } else {
                        opts.journeys.push(
                            Journey::parse(name)
                                .with_context(|| format!("no journey {name:?}\n{USAGE}"))?,
                        );
                    }
                }
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if opts.journeys.is_empty() {
        opts.journeys.extend(Journey::ALL);
    }
    opts.journeys.sort();
    opts.journeys.dedup();
    anyhow::ensure!(
        !opts.database_url.is_empty(),
        "the server's database is needed (--database-url or DATABASE_URL)\n{USAGE}"
    );
    anyhow::ensure!(
        opts.duration > Duration::ZERO,
        "--duration must be at least 1"
    );
    opts.url = opts.url.trim_end_matches('/').to_string();
    opts.users = opts.users.max(1);
    opts.connections = opts.connections.max(1);
    opts.export_runs = opts.export_runs.max(1);
    opts.ready_runs = opts.ready_runs.max(1);
    anyhow::ensure!(opts.storm_rate > 0.0, "--storm-rate must be positive");
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(journeys::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}
