//! Speaking to the server: clients, sign-ins (bearer and web session), timed requests, and
//! closed-loop phases of N connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

use crate::report::Samples;

/// The email of synthetic employee `n` (as `belong seed --synthetic` makes them).
pub fn email(n: usize) -> String {
    format!("synthetic-{n:06}@synthetic.example")
}

/// The address employee `n` signs in from, sent as `X-Forwarded-For`: real sign-ins come from
/// many addresses, and the server counts sign-in attempts per address. The server must trust
/// the load tool's address as a proxy (`server.trusted_proxies`) for it to count; `--serve`
/// starts it so.
pub fn address(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// A client that keeps up to `connections` connections and follows no redirects (a web
/// sign-in answers 303 with the cookie).
pub fn client(connections: usize) -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(connections.max(1))
        .tcp_nodelay(true)
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .context("an HTTP client")
}

/// xorshift64*: enough randomness to pick groups, without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Where a sign-in is sent, and the credential it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `POST /api/v1/auth/login` (JSON): the access token.
    Api,
    /// The sign-in page's form, `POST /login`: the session cookie as `name=value`.
    Page,
}

/// Signs in `via` the API or the sign-in page from `from` (see [`address`]); answers the
/// credential (see [`Via`]).
pub async fn sign_in(
    http: &Client,
    url: &str,
    (email, from): (&str, &str),
    password: &str,
    via: Via,
) -> Result<String, String> {
    let path = match via {
        Via::Api => "/api/v1/auth/login",
        Via::Page => "/login",
    };
    let req = http
        .post(format!("{url}{path}"))
        .header("x-forwarded-for", from);
    let req = match via {
        Via::Api => req.json(&json!({ "email": email, "password": password })),
        Via::Page => req.form(&[("email", email), ("password", password)]),
    };
    let resp = req.send().await.map_err(|e| format!("{e}"))?;
    let status = resp.status();
    match via {
        Via::Api => {
            if status != StatusCode::OK {
                let body = resp.text().await.unwrap_or_default();
                return Err(format!("sign-in of {email}: {status} {body}"));
            }
            let body: Value = resp.json().await.map_err(|e| format!("{e}"))?;
            body["access_token"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "no access_token in the sign-in answer".into())
        }
        Via::Page => {
            let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            if status != StatusCode::SEE_OTHER || location != Some("/") {
                return Err(format!("web sign-in of {email}: {status}"));
            }
            resp.headers()
                .get(SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_string)
                .ok_or_else(|| format!("web sign-in of {email}: no session cookie"))
        }
    }
}

/// Signs in synthetic employees `numbers` four at a time (one hash per core is the server's
/// limit anyway), with `sign_in`; answers their credentials in the same order.
pub async fn sign_in_many<F, Fut>(
    numbers: Vec<usize>,
    sign_in: F,
) -> anyhow::Result<Vec<(usize, String)>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, String>> + Send,
{
    let started = Instant::now();
    let numbers = Arc::new(numbers);
    let next = Arc::new(AtomicUsize::new(0));
    let sign_in = Arc::new(sign_in);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (numbers, next, sign_in) = (numbers.clone(), next.clone(), sign_in.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&n) = numbers.get(i) else { break };
                out.push((i, n, sign_in(n).await?));
            }
            Ok::<_, String>(out)
        });
    }
    let mut all = Vec::new();
    while let Some(part) = tasks.join_next().await {
        match part.context("a sign-in task")? {
            Ok(part) => all.extend(part),
            Err(e) => bail!("{e}"),
        }
    }
    all.sort_by_key(|(i, _, _)| *i);
    println!(
        "signed in {} employees in {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(all.into_iter().map(|(_, n, c)| (n, c)).collect())
}

/// Sends a request and reads its whole answer; `Ok` with the time taken when the status is
/// one of `expect`.
pub async fn timed(
    req: reqwest::RequestBuilder,
    expect: &[StatusCode],
) -> Result<Duration, String> {
    timed_body(req, expect).await.map(|(d, _, _)| d)
}

/// As [`timed`], also answering the body.
pub async fn timed_body(
    req: reqwest::RequestBuilder,
    expect: &[StatusCode],
) -> Result<(Duration, StatusCode, Vec<u8>), String> {
    let t = Instant::now();
    let resp = req.send().await.map_err(|e| format!("{e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("{e}"))?;
    let d = t.elapsed();
    if expect.contains(&status) {
        Ok((d, status, body.to_vec()))
    } else {
        Err(format!(
            "{status} {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ))
    }
}

/// Runs `workers` copies of `step` until the deadline (after an unmeasured warm-up), and
/// merges what they measured, by kind. `step` gets the worker's number and its iteration,
/// and answers outcomes tagged with their kind (0, 1, ...).
pub async fn run_phase<F, Fut>(
    workers: usize,
    warmup: Duration,
    duration: Duration,
    step: F,
) -> anyhow::Result<(Vec<Samples>, Duration)>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
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
                for (kind, outcome) in step(w, i).await {
                    if kinds.len() <= kind {
                        kinds.resize_with(kind + 1, Samples::default);
                    }
                    // A request still running at the deadline counts: it started within it.
                    if measured {
                        kinds[kind].record(outcome);
                    }
                }
                i += 1;
            }
            kinds
        }));
    }
    let mut merged: Vec<Samples> = Vec::new();
    for h in handles {
        for (k, s) in h.await.context("a worker")?.into_iter().enumerate() {
            if merged.len() <= k {
                merged.resize_with(k + 1, Samples::default);
            }
            merged[k].merge(s);
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok((merged, elapsed.max(Duration::from_millis(1))))
}

/// The one kind a single-request phase measured.
pub fn only(mut kinds: Vec<Samples>) -> Samples {
    kinds.truncate(1);
    kinds.pop().unwrap_or_default()
}
