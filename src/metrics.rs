//! Prometheus metrics: request counts and latency histograms by route and status, and the
//! database pool's gauges. Kept per process; Prometheus scrapes each instance.
//!
//! The `prometheus-client` crate keeps the series and writes the exposition format; a series is
//! found under a read lock, so concurrent requests do not queue on one mutex. Labels stay
//! bounded: the route template (never the raw path), a standard method, the status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    outcome: &'static str,
}

/// How a request's principal was found: in the cache, read after a miss, or read because the
/// cache could not be trusted (its listener was down, or it is turned off).
#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    Hit,
    Miss,
    Bypass,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    lookups: [Counter; 3],
    listener_up: Gauge,
    listener_sessions: Counter,
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("belong");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations =
            Family::<RequestLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        let pool = Family::<PoolLabels, Gauge>::default();
        let pool_max = Gauge::default();
        let lookup_family = Family::<LookupLabels, Counter>::default();
        let lookups = ["hit", "miss", "bypass"].map(|outcome| {
            lookup_family
                .get_or_create(&LookupLabels { outcome })
                .clone()
        });
        let listener_up = Gauge::default();
        let listener_sessions = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            durations.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Connections in the database pool",
            pool.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The pool's upper bound",
            pool_max.clone(),
        );
        registry.register(
            "principal_lookups",
            "Principals of requests, by where they were found",
            lookup_family,
        );
        registry.register(
            "notice_listener_up",
            "Whether this instance listens for changes made through others (1) or not (0)",
            listener_up.clone(),
        );
        registry.register(
            "notice_listener_connections",
            "Connections the notice listener made",
            listener_sessions.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                durations,
                pool,
                pool_max,
                lookups,
                listener_up,
                listener_sessions,
            }),
        }
    }
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_string(),
            route: route.to_string(),
            status: status.to_string(),
        };
        self.inner.requests.get_or_create(&labels).inc();
        self.inner.durations.get_or_create(&labels).observe(seconds);
    }

    pub fn principal_lookup(&self, outcome: Lookup) {
        self.inner.lookups[outcome as usize].inc();
    }

    /// The notice listener started (`true`: once more) or stopped listening.
    pub fn notice_listener(&self, up: bool) {
        self.inner.listener_up.set(i64::from(up));
        if up {
            self.inner.listener_sessions.inc();
        }
    }

    /// The exposition text, with the pool's gauges read now.
    pub fn render(&self, pool: &sqlx::PgPool) -> String {
        let inner = &self.inner;
        let gauge = |state| inner.pool.get_or_create(&PoolLabels { state }).clone();
        gauge("open").set(i64::from(pool.size()));
        gauge("idle").set(i64::try_from(pool.num_idle()).unwrap_or(i64::MAX));
        inner
            .pool_max
            .set(i64::from(pool.options().get_max_connections()));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &inner.registry).is_err() {
            tracing::warn!("the metrics could not be written");
        }
        out
    }
}

/// Middleware that times every request under its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only standard methods become labels: made-up ones must not grow the series without end.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    tracing::Span::current().record("status", status);
    metrics.observe(&method, &route, status, started.elapsed().as_secs_f64());
    response
}
