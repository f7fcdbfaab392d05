//! Prometheus metrics: request counts and latency histograms by route and status, and the
//! database pool's gauges. Kept per process; Prometheus scrapes each instance.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Method, route template, status.
type Key = (String, String, u16);

#[derive(Clone, Default)]
pub struct Metrics {
    requests: Arc<Mutex<BTreeMap<Key, Histogram>>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut map) = self.requests.lock() else {
            return;
        };
        let h = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, pool: &sqlx::PgPool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP belong_http_requests_total HTTP requests answered."
        );
        let _ = writeln!(out, "# TYPE belong_http_requests_total counter");
        let map = match self.requests.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        for ((method, route, status), h) in map.iter() {
            let _ = writeln!(
                out,
                "belong_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP belong_http_request_duration_seconds Time to answer HTTP requests."
        );
        let _ = writeln!(out, "# TYPE belong_http_request_duration_seconds histogram");
        for ((method, route, status), h) in map.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "belong_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "belong_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "belong_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "belong_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        drop(map);
        let _ = writeln!(
            out,
            "# HELP belong_db_pool_connections Connections in the database pool."
        );
        let _ = writeln!(out, "# TYPE belong_db_pool_connections gauge");
        let _ = writeln!(
            out,
            "belong_db_pool_connections{{state=\"open\"}} {}",
            pool.size()
        );
        let _ = writeln!(
            out,
            "belong_db_pool_connections{{state=\"idle\"}} {}",
            pool.num_idle()
        );
        let _ = writeln!(
            out,
            "# HELP belong_db_pool_max_connections The pool's upper bound."
        );
        let _ = writeln!(out, "# TYPE belong_db_pool_max_connections gauge");
        let _ = writeln!(
            out,
            "belong_db_pool_max_connections {}",
            pool.options().get_max_connections()
        );
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
