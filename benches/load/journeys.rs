//! The journeys: what each sends, what it measures, and the targets printed beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::db::{self, Largest};
use crate::http::{
    Rng, Via, address, client, email, only, run_phase, sign_in, sign_in_many, timed, timed_body,
};
use crate::pgbench;
use crate::report::{Row, Samples, Summary, loadavg, ms, print_table, section};
use crate::server::{RssSampler, ServeCommand, Server, memory, mib, random_hex};
use crate::{Journey, Options};

/// Access tokens are signed in again after this long (they live 15 minutes by default).
const TOKEN_REUSE: Duration = Duration::from_secs(600);

struct Ctx {
    opts: Options,
    /// How to start the server again, when this tool started it.
    serve: Option<ServeCommand>,
    server: Server,
    url: String,
    pid: Option<u32>,
    http: Client,
    db: PgPool,
    largest: Largest,
    employees: usize,
    summary: Summary,
    tokens: Option<(Instant, Arc<Vec<String>>)>,
}

impl Ctx {
    fn c(&self) -> usize {
        self.opts.connections
    }

    /// Stops the server this tool started and starts it again, for a journey that measures
    /// a fresh process.
    async fn restart(&mut self, why: &str) -> anyhow::Result<()> {
        let Some(cmd) = &self.serve else {
            return Ok(());
        };
        self.server.stop().await?;
        let (server, ready) = Server::start(cmd).await?;
        println!(
            "restarted belong serve on {} (pid {}, ready in {:.0} ms) {why}",
            server.url,
            server.pid.map_or("?".into(), |p| p.to_string()),
            ms(ready)
        );
        self.url = server.url.clone();
        self.pid = server.pid;
        self.server = server;
        Ok(())
    }

    /// Access tokens of synthetic employees 1 to `--users`, in that order.
    async fn tokens(&mut self) -> anyhow::Result<Arc<Vec<String>>> {
        if let Some((at, tokens)) = &self.tokens {
            if at.elapsed() < TOKEN_REUSE {
                return Ok(tokens.clone());
            }
        }
        let tokens = self.sign_in_range(1..=self.opts.users, Via::Api).await?;
        self.tokens = Some((Instant::now(), tokens.clone()));
        Ok(tokens)
    }

    /// Signs in employees `range` on the API (tokens) or the sign-in page (cookies).
    async fn sign_in_range(
        &self,
        range: std::ops::RangeInclusive<usize>,
        via: Via,
    ) -> anyhow::Result<Arc<Vec<String>>> {
        let (http, url, password) = (
            self.http.clone(),
            self.url.clone(),
            self.opts.password.clone(),
        );
        let signed = sign_in_many(range.collect(), move |n| {
            let (http, url, password) = (http.clone(), url.clone(), password.clone());
            async move {
                let (who, from) = (email(n), address(n));
                sign_in(&http, &url, (&who, &from), &password, via).await
            }
        })
        .await?;
        Ok(Arc::new(signed.into_iter().map(|(_, c)| c).collect()))
    }

    /// Signs in someone outside the numbered employees (a lead, the HR reader).
    async fn sign_in_as(&self, email: &str) -> anyhow::Result<String> {
        sign_in(
            &self.http,
            &self.url,
            (email, &address(0)),
            &self.opts.password,
            Via::Api,
        )
        .await
        .map_err(anyhow::Error::msg)
    }

    /// `GET path` at `--connections`, the credentials taken in turn; 200 expected.
    async fn read_phase(
        &self,
        key: &str,
        name: &str,
        path: &str,
        creds: Arc<Vec<String>>,
        cookie: bool,
    ) -> anyhow::Result<Row> {
        let c = self.c();
        let (http, target) = (self.http.clone(), format!("{}{path}", self.url));
        let (kinds, elapsed) = run_phase(c, self.opts.warmup, self.opts.duration, move |w, i| {
            let cred = &creds[(w + i as usize * c) % creds.len()];
            let req = if cookie {
                http.get(&target).header(COOKIE, cred)
            } else {
                http.get(&target).bearer_auth(cred)
            };
            async move { vec![(0, timed(req, &[StatusCode::OK]).await)] }
        })
        .await?;
        Ok(Row::new(key, name, c, only(kinds), elapsed))
    }
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work)
        .with_context(|| format!("creating {}", opts.work.display()))?;
    let db = db::connect(&opts.database_url).await?;
    let largest = db::largest_group(&db).await?;
    let employees = db::synthetic_employees(&db).await?;
    anyhow::ensure!(
        opts.users + 2 <= employees,
        "--users {} needs more synthetic employees than the {employees} there are",
        opts.users
    );
    println!(
        "belong load tool: journeys {:?}; {} connections; {} s per phase after a {} s warm-up; \
         {} signed-in employees of {employees}; the largest group is {} ({} active memberships); \
         {} cores, load average {}; work folder {}",
        opts.journeys,
        opts.connections,
        opts.duration.as_secs(),
        opts.warmup.as_secs(),
        opts.users,
        largest.slug,
        largest.members,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        opts.work.display()
    );
    let mut summary = Summary::default();
    let measure_ready = opts.journeys.contains(&Journey::Ready);
    let serve = match &opts.serve {
        Some(binary) => Some(ServeCommand {
            binary: binary.clone(),
            secret: random_hex(32)?,
            database_url: opts.database_url.clone(),
            pool: opts.pool,
            log: opts.work.join("server.log"),
        }),
        None => None,
    };
    let (server, readies) = match &serve {
        Some(cmd) => {
            let starts = if measure_ready { opts.ready_runs } else { 1 };
            let mut readies = Vec::new();
            let mut kept = None;
            for k in 0..starts {
                let (mut server, ready) = Server::start(cmd).await?;
                readies.push(ready);
                if k + 1 < starts {
                    server.stop().await?;
                } else {
                    kept = Some(server);
                }
            }
            let server = kept.context("no server started")?;
            println!(
                "belong serve on {} (pid {}, pool {}), log {}",
                server.url,
                server.pid.map_or("?".into(), |p| p.to_string()),
                opts.pool,
                cmd.log.display()
            );
            (server, readies)
        }
        None => (Server::running(opts.url.clone(), opts.pid), Vec::new()),
    };
    if measure_ready {
        ready(&server, &readies, &mut summary).await;
    }
    let mut ctx = Ctx {
        url: server.url.clone(),
        pid: server.pid,
        server,
        serve,
        http: client(opts.connections)?,
        db,
        largest,
        employees,
        summary,
        tokens: None,
        opts,
    };
    let mut failed = Vec::new();
    for journey in ctx.opts.journeys.clone() {
        let outcome = match journey {
            Journey::Ready => Ok(()),
            Journey::Directory => directory(&mut ctx).await,
            Journey::Group => group(&mut ctx).await,
            Journey::Roster => roster(&mut ctx).await,
            Journey::Web => web(&mut ctx).await,
            Journey::Storm => storm(&mut ctx).await,
            Journey::Churn => churn(&mut ctx).await,
            Journey::Rsvp => rsvp(&mut ctx).await,
            Journey::Export => export(&mut ctx).await,
            Journey::Signin => signin(&mut ctx).await,
        };
        if let Some(m) = ctx.server.memory() {
            println!(
                "server memory after {journey:?}: RSS {:.1} MiB, VmHWM {:.1} MiB",
                mib(m.rss),
                mib(m.hwm)
            );
        }
        if let Err(e) = outcome {
            println!("journey {journey:?} FAILED: {e:#}");
            ctx.summary.check(
                &format!("{journey:?} journey"),
                "failed".into(),
                "runs",
                Some(false),
            );
            failed.push(journey);
        }
    }
    if let Some(m) = ctx.server.memory() {
        println!();
        println!(
            "server memory after the journeys: RSS {:.1} MiB, VmHWM {:.1} MiB",
            mib(m.rss),
            mib(m.hwm)
        );
    }
    ctx.summary.print();
    ctx.server.stop().await?;
    if !failed.is_empty() {
        bail!("journeys that failed: {failed:?}");
    }
    Ok(())
}

/// Time from the process's start to `/readyz` 200, and memory once it has settled.
async fn ready(server: &Server, readies: &[Duration], summary: &mut Summary) {
    section("ready: time from process start to /readyz 200, idle memory");
    if readies.is_empty() {
        println!("skipped: the time to ready is measured only with --serve");
    } else {
        let mut sorted = readies.to_vec();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        println!(
            "starts: {} ms",
            readies
                .iter()
                .map(|d| format!("{:.0}", ms(*d)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("result ready_ms={:.1}", ms(median));
        summary.check(
            "ready after start (median)",
            format!("{:.0} ms", ms(median)),
            "< 1000 ms",
            Some(median < Duration::from_secs(1)),
        );
    }
    // What a just-started server holds: let its start-up work finish first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match server.memory() {
        Some(m) => {
            println!(
                "idle: RSS {:.1} MiB, VmHWM {:.1} MiB",
                mib(m.rss),
                mib(m.hwm)
            );
            println!("result idle_rss_mib={:.1}", mib(m.rss));
            summary.check(
                "idle memory (RSS)",
                format!("{:.1} MiB", mib(m.rss)),
                "< 40 MiB",
                Some(mib(m.rss) < 40.0),
            );
        }
        None => println!("idle memory: unknown (--serve, or --pid of the running server)"),
    }
}

/// The directory's first page, then pgbench with the statements it ran.
async fn directory(ctx: &mut Ctx) -> anyhow::Result<()> {
    read_vs_pgbench(
        ctx,
        "directory",
        "GET /api/v1/groups (first page)",
        "/api/v1/groups".into(),
    )
    .await
}

/// The largest group's page, then pgbench with the statements it ran.
async fn group(ctx: &mut Ctx) -> anyhow::Result<()> {
    let path = format!("/api/v1/groups/{}", ctx.largest.slug);
    read_vs_pgbench(ctx, "group", "GET /api/v1/groups/{largest}", path).await
}

async fn read_vs_pgbench(ctx: &mut Ctx, key: &str, name: &str, path: String) -> anyhow::Result<()> {
    let c = ctx.c();
    section(&format!(
        "{key}: {name} at {c} connections, then pgbench with the same statements at {c}"
    ));
    let tokens = ctx.tokens().await?;
    let http_row = ctx
        .read_phase(key, name, &path, tokens.clone(), false)
        .await?;
    let pg_row = match pgbench_same(ctx, key, &path, &tokens[0]).await {
        Ok(row) => Some(row),
        Err(e) => {
            println!("pgbench not run: {e:#}");
            None
        }
    };
    let mut rows = vec![http_row];
    rows.extend(pg_row);
    print_table(&rows);
    let http_row = &rows[0];
    ctx.summary
        .p99_below(&format!("{key} p99 @{c}"), http_row, 25.0);
    ctx.summary
        .no_errors(&format!("{key} errors"), http_row.errors);
    if let Some(pg) = rows.get(1) {
        let ratio = http_row.rps / pg.rps;
        println!("result {key}_ratio={ratio:.3}");
        ctx.summary.check(
            &format!("{key} throughput / pgbench's"),
            format!("{ratio:.2} ({:.0}/{:.0})", http_row.rps, pg.rps),
            ">= 0.70",
            Some(ratio >= 0.7),
        );
    }
    Ok(())
}

/// Captures the statements one `GET path` runs, and runs them with pgbench.
async fn pgbench_same(ctx: &Ctx, key: &str, path: &str, token: &str) -> anyhow::Result<Row> {
    let log = ctx
        .opts
        .pg_log
        .clone()
        .context("PostgreSQL's log is needed to read the statements (--pg-log)")?;
    let known = pgbench::sqlx_queries(&ctx.opts.sqlx_dir)?;
    let caller = db::user_id(&ctx.db, &email(1)).await?.to_string();
    let target = format!("{}{path}", ctx.url);
    // Once first, so that whatever a first request fills (a cache) is filled.
    timed(ctx.http.get(&target).bearer_auth(token), &[StatusCode::OK])
        .await
        .map_err(anyhow::Error::msg)?;
    let statements = pgbench::capture(&ctx.db, &log, async {
        timed(ctx.http.get(&target).bearer_auth(token), &[StatusCode::OK])
            .await
            .map(|_| ())
            .map_err(anyhow::Error::msg)
    })
    .await?;
    println!("the request ran {} statements:", statements.len());
    for (i, s) in statements.iter().enumerate() {
        println!("  {}. {}", i + 1, pgbench::describe(s, &known));
    }
    let script = pgbench::script(&statements, &known, &caller, &format!("GET {path}"));
    let run = pgbench::Run {
        name: &format!("pgbench_{key}"),
        work: &ctx.opts.work,
        database_url: &ctx.opts.database_url,
        connections: ctx.c(),
        users: ctx.opts.users,
        warmup: ctx.opts.warmup,
        duration: ctx.opts.duration,
    };
    run.run(
        &script,
        &format!("pgbench, the same {} statements", statements.len()),
    )
    .await
}

/// The lead's roster of the largest group: its first page at full concurrency, the whole
/// roster page by page, and its CSV.
async fn roster(ctx: &mut Ctx) -> anyhow::Result<()> {
    let c = ctx.c();
    let slug = ctx.largest.slug.clone();
    section(&format!(
        "roster: the largest group ({slug}) as its lead {}, at {c} connections",
        ctx.largest.lead_email
    ));
    let lead = ctx.sign_in_as(&ctx.largest.lead_email.clone()).await?;
    let row = ctx
        .read_phase(
            "roster",
            "GET /api/v1/groups/{largest}/members",
            &format!("/api/v1/groups/{slug}/members"),
            Arc::new(vec![lead.clone()]),
            false,
        )
        .await?;
    print_table(std::slice::from_ref(&row));
    ctx.summary.check(
        "roster first page p99",
        format!("{:.2} ms", row.p99),
        "(none)",
        None,
    );
    ctx.summary.no_errors("roster errors", row.errors);

    // The whole roster, 100 at a time.
    let started = Instant::now();
    let (mut entries, mut pages, mut cursor) = (0usize, 0usize, None::<String>);
    loop {
        let mut req = ctx
            .http
            .get(format!("{}/api/v1/groups/{slug}/members", ctx.url))
            .bearer_auth(&lead)
            .query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req.send().await?.error_for_status()?.json().await?;
        pages += 1;
        entries += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let walk = started.elapsed();
    println!(
        "the whole roster, 100 a page: {entries} entries in {pages} pages, {:.2} s ({:.0} entries/s)",
        walk.as_secs_f64(),
        entries as f64 / walk.as_secs_f64()
    );

    let started = Instant::now();
    let csv = ctx
        .http
        .get(format!("{}/api/v1/groups/{slug}/members.csv", ctx.url))
        .bearer_auth(&lead)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let took = started.elapsed();
    let rows = csv
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1);
    println!(
        "members.csv: {rows} rows, {:.1} MiB in {:.2} s ({:.0} rows/s)",
        csv.len() as f64 / 1048576.0,
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );
    println!(
        "result roster_walk entries={entries} s={:.3} csv_rows={rows} csv_s={:.3}",
        walk.as_secs_f64(),
        took.as_secs_f64()
    );
    Ok(())
}

/// The main pages, as HTML, with session cookies.
async fn web(ctx: &mut Ctx) -> anyhow::Result<()> {
    let c = ctx.c();
    section(&format!(
        "web: the directory page and the largest group's page (HTML, session cookies) at {c} connections"
    ));
    let cookies = ctx.sign_in_range(1..=ctx.opts.users, Via::Page).await?;
    // A page, not an error page in the layout: the directory must answer HTML with 200.
    let probe = ctx
        .http
        .get(format!("{}/", ctx.url))
        .header(COOKIE, &cookies[0])
        .send()
        .await?;
    let html = probe
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    anyhow::ensure!(
        probe.status() == StatusCode::OK && html,
        "the directory page answered {} ({:?})",
        probe.status(),
        probe.headers().get(CONTENT_TYPE)
    );
    let slug = ctx.largest.slug.clone();
    let directory = ctx
        .read_phase(
            "web_directory",
            "GET / (directory page)",
            "/",
            cookies.clone(),
            true,
        )
        .await?;
    let group = ctx
        .read_phase(
            "web_group",
            "GET /groups/{largest} (group page)",
            &format!("/groups/{slug}"),
            cookies,
            true,
        )
        .await?;
    let rows = [directory, group];
    print_table(&rows);
    for r in &rows {
        ctx.summary.check(
            &format!("{} p99", r.key),
            format!("{:.2} ms", r.p99),
            "(none)",
            None,
        );
        ctx.summary
            .no_errors(&format!("{} errors", r.key), r.errors);
    }
    Ok(())
}

/// The directory quiet, then the directory while sign-ins arrive at `--storm-rate` a second.
async fn storm(ctx: &mut Ctx) -> anyhow::Result<()> {
    let c = ctx.c();
    let rate = ctx.opts.storm_rate;
    section(&format!(
        "storm: the directory at {c} connections, quiet, then beside {rate} sign-ins a second"
    ));
    let tokens = ctx.tokens().await?;
    let quiet = ctx
        .read_phase(
            "storm_quiet",
            "GET /api/v1/groups (quiet)",
            "/api/v1/groups",
            tokens.clone(),
            false,
        )
        .await?;

    // Sign-ins of employees outside the directory's set, each at its time whatever the
    // others are doing (an open loop), for the same warm-up and window as the directory.
    let first = ctx.opts.users + 1;
    let span = (ctx.employees - 1 - ctx.opts.users).clamp(1, 5000);
    let (http, url, password) = (ctx.http.clone(), ctx.url.clone(), ctx.opts.password.clone());
    let (warmup, duration) = (ctx.opts.warmup, ctx.opts.duration);
    let storm = tokio::spawn(async move {
        let started = Instant::now();
        let (from, to) = (started + warmup, started + warmup + duration);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0usize.. {
            tick.tick().await;
            let now = Instant::now();
            if now >= to {
                break;
            }
            let (http, url, password) = (http.clone(), url.clone(), password.clone());
            let (who, addr) = (email(first + k % span), address(first + k % span));
            tasks.spawn(async move {
                let t = Instant::now();
                let outcome = sign_in(&http, &url, (&who, &addr), &password, Via::Api)
                    .await
                    .map(|_| ());
                (now >= from, outcome, t.elapsed())
            });
        }
        // A sign-in that found no hashing slot within `auth.max_hash_wait_ms` is answered 503
        // (a documented answer, as the rush's 409s are): counted apart, not as an error.
        let (mut answered, mut busy) = (Samples::default(), Samples::default());
        while let Some(done) = tasks.join_next().await {
            if let Ok((true, outcome, t)) = done {
                match outcome {
                    Err(e) if e.contains(": 503 ") => busy.ok(t),
                    outcome => answered.record(outcome.map(|()| t)),
                }
            }
        }
        (answered, busy)
    });
    let during = ctx
        .read_phase(
            "storm_directory",
            &format!("GET /api/v1/groups ({rate} sign-ins/s)"),
            "/api/v1/groups",
            tokens,
            false,
        )
        .await?;
    let (signins, busy) = storm.await.context("the sign-in storm")?;
    let signins = Row::new(
        "storm_signin",
        "POST /api/v1/auth/login (storm)",
        0,
        signins,
        duration,
    );
    let busy = Row::new(
        "storm_signin_busy",
        "  the same, answered 503 (busy)",
        0,
        busy,
        duration,
    );
    let rows = [quiet, during, signins, busy];
    print_table(&rows);
    let [quiet, during, signins, busy] = &rows;
    let factor = during.p99 / quiet.p99;
    ctx.summary.check(
        "storm: directory p99 during / quiet",
        format!("{factor:.2}× ({:.1}/{:.1} ms)", during.p99, quiet.p99),
        "<= 2×",
        Some(factor <= 2.0),
    );
    ctx.summary.check(
        "storm: sign-ins a second achieved",
        format!("{:.1}", signins.rps),
        &format!("{rate} asked"),
        None,
    );
    ctx.summary.check(
        "storm: sign-ins answered 503 (busy)",
        format!(
            "{} of {}",
            busy.ok,
            busy.ok + signins.ok + signins.errors as usize
        ),
        "(none)",
        None,
    );
    ctx.summary.no_errors(
        "storm errors (directory and sign-ins)",
        during.errors + signins.errors,
    );
    Ok(())
}

/// Join then leave groups the employee is not in, at `--connections`.
async fn churn(ctx: &mut Ctx) -> anyhow::Result<()> {
    let c = ctx.c();
    section(&format!(
        "churn: join then leave a group at {c} connections"
    ));
    let tokens = ctx.tokens().await?;
    let slugs = all_slugs(&ctx.http, &ctx.url, &tokens[0]).await?;
    anyhow::ensure!(!slugs.is_empty(), "no groups");
    // For each employee, the groups they are not in.
    let mut outside = Vec::with_capacity(tokens.len());
    for token in tokens.iter() {
        let me: Value = ctx
            .http
            .get(format!("{}/api/v1/me", ctx.url))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mine: Vec<&str> = me["memberships"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["group_slug"].as_str())
            .collect();
        let theirs: Vec<String> = slugs
            .iter()
            .filter(|s| !mine.contains(&s.as_str()))
            .cloned()
            .collect();
        anyhow::ensure!(!theirs.is_empty(), "an employee is in every group");
        outside.push(theirs);
    }
    let outside = Arc::new(outside);
    let (http, url) = (ctx.http.clone(), ctx.url.clone());
    // Worker w owns employees w, w + c, w + 2c, ..., so one employee's requests never overlap.
    let (mut kinds, elapsed) = run_phase(c, ctx.opts.warmup, ctx.opts.duration, move |w, i| {
        let mut rng = Rng::new((w as u64) << 32 | i | 1 << 63);
        let n = tokens.len();
        let owned = n.saturating_sub(w).div_ceil(c).max(1);
        let who = (w + (i as usize % owned) * c) % n;
        let slug = outside[who][rng.below(outside[who].len())].clone();
        let kind = if rng.below(5) == 0 { "ally" } else { "member" };
        let visibility = ["members", "members", "public", "private"][rng.below(4)];
        let put = http
            .put(format!("{url}/api/v1/groups/{slug}/membership"))
            .bearer_auth(&tokens[who])
            .json(&json!({ "type": kind, "visibility": visibility }));
        let delete = http
            .delete(format!("{url}/api/v1/groups/{slug}/membership"))
            .bearer_auth(&tokens[who]);
        async move {
            let joined = timed(put, &[StatusCode::CREATED]).await;
            let left = timed(delete, &[StatusCode::NO_CONTENT]).await;
            vec![(0, joined), (1, left)]
        }
    })
    .await?;
    let leave = kinds.pop().unwrap_or_default();
    let join = kinds.pop().unwrap_or_default();
    let rows = [
        Row::new(
            "join",
            "PUT /api/v1/groups/{slug}/membership",
            c,
            join,
            elapsed,
        ),
        Row::new(
            "leave",
            "DELETE /api/v1/groups/{slug}/membership",
            c,
            leave,
            elapsed,
        ),
    ];
    print_table(&rows);
    ctx.summary.writes(&rows);
    Ok(())
}

async fn all_slugs(http: &Client, url: &str, token: &str) -> anyhow::Result<Vec<String>> {
    let mut slugs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{url}/api/v1/groups"))
            .bearer_auth(token)
            .query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req.send().await?.error_for_status()?.json().await?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(s) = item["slug"].as_str() {
                slugs.push(s.to_string());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(slugs),
        }
    }
}

/// What one wave of an RSVP rush saw.
#[derive(Default)]
struct Wave {
    samples: Samples,
    going: usize,
    waitlisted: usize,
    conflicts: usize,
}

/// Every signed-in employee sends `method` for the event at once, through `--connections`
/// connections; 409 is a documented answer, counted apart.
async fn wave(ctx: &Ctx, tokens: &Arc<Vec<String>>, event: &str, put: bool) -> (Wave, Duration) {
    let gate = Arc::new(Semaphore::new(ctx.c()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens.iter() {
        let target = format!("{}/api/v1/events/{event}/rsvp", ctx.url);
        let req = if put {
            ctx.http.put(target)
        } else {
            ctx.http.delete(target)
        }
        .bearer_auth(token);
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let expect = if put {
                [StatusCode::OK, StatusCode::CONFLICT]
            } else {
                [StatusCode::NO_CONTENT, StatusCode::CONFLICT]
            };
            timed_body(req, &expect).await
        });
    }
    let mut w = Wave::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok((_, StatusCode::CONFLICT, _))) => w.conflicts += 1,
            Ok(Ok((d, _, body))) => {
                w.samples.ok(d);
                if put {
                    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
                    match answer["status"].as_str() {
                        Some("going") => w.going += 1,
                        Some("waitlisted") => w.waitlisted += 1,
                        other => w.samples.error(format!("an RSVP answered {other:?}")),
                    }
                }
            }
            Ok(Err(e)) => w.samples.error(e),
            Err(e) => w.samples.error(format!("{e}")),
        }
    }
    (w, started.elapsed())
}

/// Rounds of a rush on one capacity-limited event: everyone RSVPs at once, then everyone
/// cancels at once (each freed place promotes the waitlist).
async fn rsvp(ctx: &mut Ctx) -> anyhow::Result<()> {
    let c = ctx.c();
    let tokens = ctx.tokens().await?;
    let capacity = ctx
        .opts
        .rsvp_capacity
        .unwrap_or(tokens.len() / 4)
        .clamp(1, 100_000);
    section(&format!(
        "rsvp: {} employees RSVP at once to one event of capacity {capacity}, then cancel at once, \
         through {c} connections",
        tokens.len()
    ));
    let lead = ctx.sign_in_as(&ctx.largest.lead_email.clone()).await?;
    let starts = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let format = &time::format_description::well_known::Rfc3339;
    let created: Value = ctx
        .http
        .post(format!(
            "{}/api/v1/groups/{}/events",
            ctx.url, ctx.largest.slug
        ))
        .bearer_auth(&lead)
        .json(&json!({
            "title": "Load test: RSVP rush",
            "starts_at": starts.format(format)?,
            "ends_at": (starts + time::Duration::hours(1)).format(format)?,
            "capacity": capacity,
            "audience": "everyone",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let event = created["id"]
        .as_str()
        .context("no id in the created event")?
        .to_string();
    let (mut puts, mut deletes) = (Wave::default(), Wave::default());
    let (mut put_time, mut delete_time) = (Duration::ZERO, Duration::ZERO);
    let (mut rounds, mut wrong_rounds) = (0usize, 0usize);
    let started = Instant::now();
    let until = started + ctx.opts.warmup + ctx.opts.duration;
    while rounds == 0 || Instant::now() < until {
        let measured = Instant::now() >= started + ctx.opts.warmup;
        let (p, pt) = wave(ctx, &tokens, &event, true).await;
        let (d, dt) = wave(ctx, &tokens, &event, false).await;
        if !measured {
            continue;
        }
        rounds += 1;
        // The capacity holds: exactly that many answered `going`, the rest `waitlisted`.
        if p.going != capacity.min(tokens.len())
            || p.going + p.waitlisted + p.conflicts != tokens.len()
        {
            wrong_rounds += 1;
            puts.samples.error(format!(
                "round {rounds}: {} going, {} waitlisted for a capacity of {capacity}",
                p.going, p.waitlisted
            ));
        }
        for (sum, w) in [(&mut puts, p), (&mut deletes, d)] {
            sum.samples.merge(w.samples);
            sum.going += w.going;
            sum.waitlisted += w.waitlisted;
            sum.conflicts += w.conflicts;
        }
        put_time += pt;
        delete_time += dt;
    }
    let _ = ctx
        .http
        .post(format!("{}/api/v1/events/{event}/cancel", ctx.url))
        .bearer_auth(&lead)
        .send()
        .await;
    println!(
        "{rounds} measured rounds: {} going and {} waitlisted answers in all; rounds where the \
         capacity did not hold: {wrong_rounds}; 409 answers: {} to RSVPs, {} to cancellations",
        puts.going, puts.waitlisted, puts.conflicts, deletes.conflicts
    );
    let rows = [
        Row::new(
            "rsvp",
            "PUT /api/v1/events/{id}/rsvp (rush)",
            c,
            puts.samples,
            put_time,
        ),
        Row::new(
            "rsvp_cancel",
            "DELETE /api/v1/events/{id}/rsvp (rush)",
            c,
            deletes.samples,
            delete_time,
        ),
    ];
    print_table(&rows);
    ctx.summary.writes(&rows);
    Ok(())
}

/// The HR export of every public membership: rows a second, and the server's memory.
async fn export(ctx: &mut Ctx) -> anyhow::Result<()> {
    section("export: GET /api/v1/reports/memberships.csv");
    // Memory the earlier journeys left (freed, but still resident) could hide the export's.
    ctx.restart("so that the export's memory is that of a fresh process")
        .await?;
    let hr = email(ctx.employees);
    db::grant_hr(&ctx.db, &hr).await?;
    if ctx.opts.export_rows > 0 {
        db::top_up_export(&ctx.db, ctx.opts.export_rows).await?;
    }
    let expected = db::exportable_rows(&ctx.db).await?;
    let token = ctx.sign_in_as(&hr).await?;
    let target = format!("{}/api/v1/reports/memberships.csv", ctx.url);
    // A small export first, so that the first measured one does not pay for first use.
    timed(
        ctx.http
            .get(&target)
            .bearer_auth(&token)
            .query(&[("group", ctx.largest.slug.as_str())]),
        &[StatusCode::OK],
    )
    .await
    .map_err(anyhow::Error::msg)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if ctx.pid.is_none() {
        println!("memory: unknown (--serve, or --pid of the running server)");
    }
    let (mut rates, mut growths, mut incomplete) = (Vec::new(), Vec::new(), 0u64);
    for run in 1..=ctx.opts.export_runs {
        let before = ctx.pid.and_then(memory);
        let sampler = ctx.pid.map(RssSampler::start);
        let started = Instant::now();
        let mut resp = ctx
            .http
            .get(&target)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
        let headers = started.elapsed();
        let (mut bytes, mut lines, mut first_row) = (0usize, 0usize, None);
        while let Some(chunk) = resp.chunk().await? {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
            if first_row.is_none() && lines >= 2 {
                first_row = Some(started.elapsed());
            }
        }
        let took = started.elapsed();
        let peak = sampler.map(RssSampler::finish);
        let after = ctx.pid.and_then(memory);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let audited = db::last_download(&ctx.db).await?;
        let rows = audited.map_or(lines.saturating_sub(1) as i64, |(r, _)| r);
        if audited.is_none_or(|(r, done)| !done || r != expected) {
            incomplete += 1;
        }
        let rate = rows as f64 / took.as_secs_f64();
        rates.push(rate);
        print!(
            "run {run}: {rows} rows (expected {expected}; audit record: {audited:?}), {:.1} MiB in {:.2} s: \
             {rate:.0} rows/s; headers after {:.1} ms, first row after {:.1} ms",
            bytes as f64 / 1048576.0,
            took.as_secs_f64(),
            ms(headers),
            first_row.map_or(f64::NAN, ms),
        );
        if let (Some(b), Some(a), Some(peak)) = (before, after, peak) {
            // The kernel's peak covers what 10 ms samples might miss, when it rose.
            let top = if a.hwm > b.hwm { peak.max(a.hwm) } else { peak };
            let growth = mib(top.saturating_sub(b.rss));
            growths.push(growth);
            print!(
                "; RSS {:.1} MiB before, {:.1} MiB peak, {:.1} MiB after; VmHWM {:.1} -> {:.1} MiB; growth {growth:.1} MiB",
                mib(b.rss),
                mib(peak),
                mib(a.rss),
                mib(b.hwm),
                mib(a.hwm)
            );
        }
        println!();
        println!(
            "result export run={run} rows={rows} rows_per_s={rate:.0} growth_mib={:.1}",
            growths.last().copied().unwrap_or(f64::NAN)
        );
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    ctx.summary.check(
        &format!("export rows/s (median of {})", rates.len()),
        format!("{median:.0}"),
        ">= 100000",
        Some(median >= 100_000.0),
    );
    if let Some(worst) = growths.iter().copied().reduce(f64::max) {
        ctx.summary.check(
            "export memory growth (largest)",
            format!("{worst:.1} MiB"),
            "<= 20 MiB",
            Some(worst <= 20.0),
        );
    }
    ctx.summary
        .no_errors("export downloads short or not audited", incomplete);
    Ok(())
}

/// Sign-in latency alone, one at a time and 20 at a time, with `/healthz` probed every 10 ms
/// on its own connection meanwhile (not part of `all`).
async fn signin(ctx: &mut Ctx) -> anyhow::Result<()> {
    section("signin: POST /api/v1/auth/login at 1 and 20 connections, /healthz probed beside");
    let mut rows = Vec::new();
    let probe = |url: String| {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let http = client(1)?;
            let mut samples = Samples::default();
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let started = Instant::now();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                samples.record(timed(http.get(format!("{url}/healthz")), &[StatusCode::OK]).await);
            }
            Ok::<_, anyhow::Error>((samples, started.elapsed()))
        });
        (stop, handle)
    };
    let (stop, handle) = probe(ctx.url.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (idle, took) = handle.await??;
    rows.push(Row::new("healthz_idle", "/healthz (idle)", 1, idle, took));
    for concurrency in [1usize, 20] {
        let probing = (concurrency > 1).then(|| probe(ctx.url.clone()));
        let (http, url, password, users) = (
            client(concurrency)?,
            ctx.url.clone(),
            ctx.opts.password.clone(),
            ctx.opts.users,
        );
        let (kinds, elapsed) = run_phase(
            concurrency,
            ctx.opts.warmup,
            ctx.opts.duration,
            move |w, i| {
                let (http, url, password) = (http.clone(), url.clone(), password.clone());
                async move {
                    let n = 1 + (w + i as usize * concurrency) % users;
                    let (who, from) = (email(n), address(n));
                    let t = Instant::now();
                    vec![(
                        0,
                        sign_in(&http, &url, (&who, &from), &password, Via::Api)
                            .await
                            .map(|_| t.elapsed()),
                    )]
                }
            },
        )
        .await?;
        rows.push(Row::new(
            "signin",
            "POST /api/v1/auth/login",
            concurrency,
            only(kinds),
            elapsed,
        ));
        if let Some((stop, handle)) = probing {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let (probes, took) = handle.await??;
            rows.push(Row::new(
                "healthz_during_signin",
                "/healthz (during 20 sign-ins)",
                1,
                probes,
                took,
            ));
        }
    }
    print_table(&rows);
    Ok(())
}
