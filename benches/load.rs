//! Load tool: speaks HTTP to an already running `belong` loaded with `belong seed --synthetic`,
//! and prints latency and throughput tables. A benchmark, not a test: it asserts nothing about
//! timings. `scripts/bench.sh` runs everything end to end; see docs/performance.md.
//!
//! ```text
//! cargo bench --bench load -- <signin|groups|all> [--url URL] [--duration SECS]
//!     [--concurrency N] [--users N] [--password P]
//! ```
//!
//! - `signin`: sign-in latency at concurrency 1 and 20; `/healthz` latency, measured by a
//!   separate prober on its own thread and connection, when idle and while 20 sign-ins hash.
//! - `groups`: signs in `--users` synthetic employees (default 200), then, at `--concurrency`
//!   connections (default 64) for `--duration` seconds each: the group list, a group's detail,
//!   and join + leave (PUT then DELETE of the membership, on groups the user is not in, so the
//!   organisation is the same afterwards).
//!
//! Defaults come from the environment too: `BELONG_URL` (http://127.0.0.1:8080),
//! `BENCH_DURATION` (30), `BENCH_CONCURRENCY` (64), `BENCH_USERS` (200). Lines starting with
//! `result ` are for scripts.

// A measuring tool run by hand: when the server misbehaves it should stop and say where.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SYNTHETIC_PASSWORD: &str = "belong-synthetic-password";

#[derive(Clone)]
struct Options {
    url: String,
    duration: Duration,
    concurrency: usize,
    users: usize,
    password: String,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn usage() -> ! {
    eprintln!(
        "usage: load <signin|groups|all> [--url URL] [--duration SECS] [--concurrency N] [--users N] [--password P]"
    );
    std::process::exit(2)
}

fn parse_args() -> (String, Options) {
    let mut opts = Options {
        url: std::env::var("BELONG_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into()),
        duration: Duration::from_secs(env_or("BENCH_DURATION", 30)),
        concurrency: env_or("BENCH_CONCURRENCY", 64),
        users: env_or("BENCH_USERS", 200),
        password: SYNTHETIC_PASSWORD.into(),
    };
    let mut scenario = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            "--url" => opts.url = value(),
            "--duration" => {
                opts.duration = Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
            }
            "--concurrency" => opts.concurrency = value().parse().unwrap_or_else(|_| usage()),
            "--users" => opts.users = value().parse().unwrap_or_else(|_| usage()),
            "--password" => opts.password = value(),
            "-h" | "--help" => usage(),
            s if !s.starts_with('-') && scenario.is_none() => scenario = Some(s.to_string()),
            _ => usage(),
        }
    }
    opts.url = opts.url.trim_end_matches('/').to_string();
    opts.users = opts.users.max(1);
    opts.concurrency = opts.concurrency.max(1);
    (scenario.unwrap_or_else(|| "all".into()), opts)
}

fn email(n: usize) -> String {
    format!("synthetic-{n:06}@synthetic.example")
}

fn client(connections: usize) -> Client {
    Client::builder()
        .pool_max_idle_per_host(connections.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// xorshift64*: enough randomness to pick groups, without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Latencies of one kind of request in one phase.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    fn ok(&mut self, d: Duration) {
        self.latencies.push(d);
    }
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

struct Row {
    key: &'static str,
    name: String,
    concurrency: usize,
    ok: usize,
    errors: u64,
    rps: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    first_error: Option<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    ms(sorted[rank - 1])
}

/// `key` names the row in the `result` lines.
fn row(
    key: &'static str,
    name: &str,
    concurrency: usize,
    mut s: Samples,
    elapsed: Duration,
) -> Row {
    s.latencies.sort_unstable();
    Row {
        key,
        name: name.to_string(),
        concurrency,
        ok: s.latencies.len(),
        errors: s.errors,
        rps: s.latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&s.latencies, 0.50),
        p90: percentile(&s.latencies, 0.90),
        p99: percentile(&s.latencies, 0.99),
        max: s.latencies.last().map_or(f64::NAN, |d| ms(*d)),
        first_error: s.first_error,
    }
}

fn print_table(title: &str, rows: &[Row]) {
    println!();
    println!("{title}");
    println!(
        "{:<34} {:>5} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "request", "conc", "ok", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    println!("{}", "-".repeat(34 + 6 + 10 + 8 + 10 * 5));
    for r in rows {
        println!(
            "{:<34} {:>5} {:>9} {:>7} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            r.name, r.concurrency, r.ok, r.errors, r.rps, r.p50, r.p90, r.p99, r.max
        );
    }
    for r in rows {
        if let Some(e) = &r.first_error {
            println!("  first error of {:?}: {e}", r.name);
        }
    }
    for r in rows {
        println!(
            "result {}@{} rps={:.1} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={}",
            r.key, r.concurrency, r.rps, r.p50, r.p90, r.p99, r.max, r.errors
        );
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn sign_in(http: &Client, opts: &Options, n: usize) -> Result<String, String> {
    let resp = http
        .post(format!("{}/api/v1/auth/login", opts.url))
        .json(&json!({ "email": email(n), "password": opts.password }))
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("sign-in of {}: {status} {body}", email(n)));
    }
    let body: Value = resp.json().await.map_err(|e| format!("{e}"))?;
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no access_token in the sign-in answer".into())
}

/// Runs `workers` copies of `step` until the deadline (after an unmeasured warm-up), and
/// merges what they measured. `step` gets the worker's number and its iteration.
async fn run_phase<F, Fut>(
    workers: usize,
    warmup: Duration,
    duration: Duration,
    step: F,
) -> (Vec<Samples>, Duration)
where
    F: Fn(usize, u64, bool) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Vec<(usize, Result<Duration, String>)>> + Send,
{
    let step = Arc::new(step);
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + duration;
    let mut handles = Vec::new();
    for w in 0..workers {
        let step = step.clone();
        handles.push(tokio::spawn(async move {
            let mut kinds: Vec<Samples> = Vec::new();
            let mut i = 0u64;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let measured = now >= measure_from;
                for (kind, outcome) in step(w, i, measured).await {
                    if kinds.len() <= kind {
                        kinds.resize_with(kind + 1, Samples::default);
                    }
                    if !measured {
                        continue;
                    }
                    match outcome {
                        // A request still running at the deadline counts: it was started within it.
                        Ok(d) => kinds[kind].ok(d),
                        Err(e) => kinds[kind].error(e),
                    }
                }
                i += 1;
            }
            kinds
        }));
    }
    let mut merged: Vec<Samples> = Vec::new();
    for h in handles {
        for (k, s) in h.await.expect("a worker").into_iter().enumerate() {
            if merged.len() <= k {
                merged.resize_with(k + 1, Samples::default);
            }
            merged[k].merge(s);
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    (merged, elapsed.max(Duration::from_millis(1)))
}

async fn timed(req: reqwest::RequestBuilder, expect: &[StatusCode]) -> Result<Duration, String> {
    let t = Instant::now();
    let resp = req.send().await.map_err(|e| format!("{e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("{e}"))?;
    let d = t.elapsed();
    if expect.contains(&status) {
        Ok(d)
    } else {
        Err(format!(
            "{status} {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ))
    }
}

/// Probes `/healthz` every 10 ms on its own thread, runtime and connection until stopped.
fn start_prober(url: String) -> (Arc<AtomicBool>, std::thread::JoinHandle<Samples>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the prober");
        rt.block_on(async move {
            let http = client(1);
            let mut samples = Samples::default();
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                match timed(http.get(format!("{url}/healthz")), &[StatusCode::OK]).await {
                    Ok(d) => samples.ok(d),
                    Err(e) => samples.error(e),
                }
            }
            samples
        })
    });
    (stop, handle)
}

async fn signin(opts: &Options) {
    let warmup = Duration::from_secs(2);
    println!(
        "== signin against {} ({} s per phase, load average {})",
        opts.url,
        opts.duration.as_secs(),
        loadavg()
    );
    let mut rows = Vec::new();

    // /healthz alone, for reference.
    let (stop, prober) = start_prober(opts.url.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    let idle = prober.join().expect("the prober");
    rows.push(row(
        "healthz_idle",
        "/healthz (idle)",
        1,
        idle,
        Duration::from_secs(5),
    ));

    for concurrency in [1usize, 20] {
        let http = client(concurrency);
        let users = opts.users;
        let o = opts.clone();
        let (stop, prober) = if concurrency > 1 {
            let (s, p) = start_prober(opts.url.clone());
            (Some(s), Some(p))
        } else {
            (None, None)
        };
        let started = Instant::now();
        let (mut samples, elapsed) =
            run_phase(concurrency, warmup, opts.duration, move |w, i, _| {
                let http = http.clone();
                let o = o.clone();
                async move {
                    let n = 1 + (w + i as usize * concurrency) % users;
                    let t = Instant::now();
                    let r = sign_in(&http, &o, n).await.map(|_| t.elapsed());
                    vec![(0, r)]
                }
            })
            .await;
        let signins = samples.pop().unwrap_or_default();
        if let (Some(stop), Some(prober)) = (stop, prober) {
            stop.store(true, Ordering::Relaxed);
            let probes = prober.join().expect("the prober");
            rows.push(row(
                "signin",
                "POST /auth/login",
                concurrency,
                signins,
                elapsed,
            ));
            rows.push(row(
                "healthz_during_signin",
                "/healthz (during 20 sign-ins)",
                1,
                probes,
                started.elapsed(),
            ));
        } else {
            rows.push(row(
                "signin",
                "POST /auth/login",
                concurrency,
                signins,
                elapsed,
            ));
        }
    }
    print_table(
        &format!("sign-in (load average after: {})", loadavg()),
        &rows,
    );
}

struct Session {
    token: String,
    /// Slugs of the groups this user is not in: join and leave use these.
    outside: Vec<String>,
}

async fn all_slugs(http: &Client, opts: &Options, token: &str) -> Vec<String> {
    let mut slugs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{}/api/v1/groups", opts.url))
            .bearer_auth(token)
            .query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req
            .send()
            .await
            .expect("the group list")
            .error_for_status()
            .expect("the group list")
            .json()
            .await
            .expect("the group list as JSON");
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(s) = item["slug"].as_str() {
                slugs.push(s.to_string());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    slugs
}

async fn sessions(http: &Client, opts: &Options, slugs: &[String]) -> Vec<Session> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    for _ in 0..4 {
        let http = http.clone();
        let o = opts.clone();
        let next = next.clone();
        let slugs = slugs.to_vec();
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n > o.users {
                    break;
                }
                let token = sign_in(&http, &o, n).await.expect("signing in");
                let me: Value = http
                    .get(format!("{}/api/v1/me", o.url))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("/me")
                    .json()
                    .await
                    .expect("/me as JSON");
                let mine: Vec<&str> = me["memberships"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["group_slug"].as_str())
                    .collect();
                let outside = slugs
                    .iter()
                    .filter(|s| !mine.contains(&s.as_str()))
                    .cloned()
                    .collect();
                out.push((n, Session { token, outside }));
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(part) = tasks.join_next().await {
        all.extend(part.expect("a sign-in task"));
    }
    all.sort_by_key(|(n, _)| *n);
    println!(
        "signed in {} users in {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    all.into_iter().map(|(_, s)| s).collect()
}

async fn groups(opts: &Options) {
    let c = opts.concurrency;
    let warmup = Duration::from_secs(3);
    println!(
        "== groups against {} ({} connections, {} s per phase, {} users, load average {})",
        opts.url,
        c,
        opts.duration.as_secs(),
        opts.users,
        loadavg()
    );
    let http = client(c);
    let first = sign_in(&http, opts, 1).await.expect("signing in");
    let slugs = Arc::new(all_slugs(&http, opts, &first).await);
    assert!(
        !slugs.is_empty(),
        "no groups: run `belong seed --synthetic` first"
    );
    let sessions = Arc::new(sessions(&http, opts, &slugs).await);
    let mut rows = Vec::new();

    // The directory, first page, as the web UI asks for it.
    {
        let (http, url, s) = (http.clone(), opts.url.clone(), sessions.clone());
        let (mut samples, elapsed) = run_phase(c, warmup, opts.duration, move |w, i, _| {
            let req = http
                .get(format!("{url}/api/v1/groups"))
                .bearer_auth(&s[(w + i as usize * c) % s.len()].token);
            async move { vec![(0, timed(req, &[StatusCode::OK]).await)] }
        })
        .await;
        rows.push(row(
            "list",
            "GET /groups (list)",
            c,
            samples.pop().unwrap_or_default(),
            elapsed,
        ));
        println!("list done (load average {})", loadavg());
    }

    // A group's page, any group.
    {
        let (http, url, s, slugs) = (
            http.clone(),
            opts.url.clone(),
            sessions.clone(),
            slugs.clone(),
        );
        let (mut samples, elapsed) = run_phase(c, warmup, opts.duration, move |w, i, _| {
            let mut rng = Rng::new((w as u64) << 32 | i);
            let slug = &slugs[rng.below(slugs.len())];
            let req = http
                .get(format!("{url}/api/v1/groups/{slug}"))
                .bearer_auth(&s[(w + i as usize * c) % s.len()].token);
            async move { vec![(0, timed(req, &[StatusCode::OK]).await)] }
        })
        .await;
        rows.push(row(
            "detail",
            "GET /groups/{slug} (detail)",
            c,
            samples.pop().unwrap_or_default(),
            elapsed,
        ));
        println!("detail done (load average {})", loadavg());
    }

    // Join then leave a group the user is not in; worker w owns users w, w + c, w + 2c, ...
    // so that one user's requests never overlap.
    {
        let (http, url, s) = (http.clone(), opts.url.clone(), sessions.clone());
        let started = Instant::now();
        let (mut samples, elapsed) = run_phase(c, warmup, opts.duration, move |w, i, _| {
            let mut rng = Rng::new((w as u64) << 32 | i | 1 << 63);
            let owned = s.len().saturating_sub(w).div_ceil(c).max(1);
            let user = &s[(w + (i as usize % owned) * c) % s.len()];
            let slug = user.outside[rng.below(user.outside.len())].clone();
            let kind = if rng.below(5) == 0 { "ally" } else { "member" };
            let visibility = ["members", "members", "public", "private"][rng.below(4)];
            let put = http
                .put(format!("{url}/api/v1/groups/{slug}/membership"))
                .bearer_auth(&user.token)
                .json(&json!({ "type": kind, "visibility": visibility }));
            let delete = http
                .delete(format!("{url}/api/v1/groups/{slug}/membership"))
                .bearer_auth(&user.token);
            async move {
                let joined = timed(put, &[StatusCode::CREATED]).await;
                let left = timed(delete, &[StatusCode::NO_CONTENT]).await;
                vec![(0, joined), (1, left)]
            }
        })
        .await;
        let leave = samples.pop().unwrap_or_default();
        let join = samples.pop().unwrap_or_default();
        let pairs = join.latencies.len().min(leave.latencies.len());
        rows.push(row(
            "join",
            "PUT /groups/{slug}/membership",
            c,
            join,
            elapsed,
        ));
        rows.push(row(
            "leave",
            "DELETE /groups/{slug}/membership",
            c,
            leave,
            elapsed,
        ));
        println!(
            "join/leave done: {:.1} requests/s in all (load average {}, {:.0} s)",
            2.0 * pairs as f64 / elapsed.as_secs_f64(),
            loadavg(),
            started.elapsed().as_secs_f64()
        );
    }
    print_table(
        &format!("groups (load average after: {})", loadavg()),
        &rows,
    );
}

fn main() {
    let (scenario, opts) = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        match scenario.as_str() {
            "signin" => signin(&opts).await,
            "groups" => groups(&opts).await,
            "all" => {
                signin(&opts).await;
                groups(&opts).await;
            }
            _ => usage(),
        }
    });
}
