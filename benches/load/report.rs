//! What a journey measured, and how it is printed: latency tables, the targets beside the
//! figures, the summary at the end, and `result ` lines for scripts.

use std::time::Duration;

/// Latencies of one kind of request in one phase.
#[derive(Default)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Samples {
    pub fn ok(&mut self, d: Duration) {
        self.latencies.push(d);
    }

    pub fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    pub fn record(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(d) => self.ok(d),
            Err(e) => self.error(e),
        }
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// One line of a table: a kind of request over a measured window.
pub struct Row {
    pub key: String,
    pub name: String,
    pub concurrency: usize,
    pub ok: usize,
    pub errors: u64,
    pub rps: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub first_error: Option<String>,
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    ms(sorted[rank - 1])
}

impl Row {
    /// `key` names the row in the `result` lines; `elapsed` is the measured window.
    pub fn new(
        key: &str,
        name: &str,
        concurrency: usize,
        mut s: Samples,
        elapsed: Duration,
    ) -> Row {
        s.latencies.sort_unstable();
        Row {
            key: key.to_string(),
            name: name.to_string(),
            concurrency,
            ok: s.latencies.len(),
            errors: s.errors,
            rps: s.latencies.len() as f64 / elapsed.as_secs_f64().max(1e-3),
            p50: percentile(&s.latencies, 0.50),
            p90: percentile(&s.latencies, 0.90),
            p99: percentile(&s.latencies, 0.99),
            max: s.latencies.last().map_or(f64::NAN, |d| ms(*d)),
            first_error: s.first_error,
        }
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "{:<44} {:>5} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "request", "conc", "ok", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    println!("{}", "-".repeat(44 + 6 + 9 + 8 + 10 + 9 * 4));
    for r in rows {
        // 0: an open loop, requests sent at their time rather than by a number of connections.
        let conc = match r.concurrency {
            0 => "-".to_string(),
            c => c.to_string(),
        };
        println!(
            "{:<44} {:>5} {:>8} {:>7} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            r.name, conc, r.ok, r.errors, r.rps, r.p50, r.p90, r.p99, r.max
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

/// A figure read against its target. Targets are printed, never asserted.
pub struct Check {
    pub figure: String,
    pub value: String,
    pub target: String,
    pub met: Option<bool>,
}

impl Check {
    fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        }
    }
}

/// Every check of the run, for the summary at the end.
#[derive(Default)]
pub struct Summary {
    checks: Vec<Check>,
}

impl Summary {
    /// Prints the check beside the journey's figures and keeps it for the summary.
    pub fn check(&mut self, figure: &str, value: String, target: &str, met: Option<bool>) {
        let c = Check {
            figure: figure.to_string(),
            value,
            target: target.to_string(),
            met,
        };
        println!(
            "  {:<46} {:>24}   target {:<14} {}",
            c.figure,
            c.value,
            c.target,
            c.verdict()
        );
        self.checks.push(c);
    }

    /// p99 below `limit_ms`.
    pub fn p99_below(&mut self, figure: &str, row: &Row, limit_ms: f64) {
        self.check(
            figure,
            format!("{:.2} ms", row.p99),
            &format!("< {limit_ms} ms"),
            Some(row.p99 < limit_ms),
        );
    }

    /// The writes' targets: p99 under 50 ms, and no errors.
    pub fn writes(&mut self, rows: &[Row]) {
        for r in rows {
            self.p99_below(&format!("{} p99 @{}", r.key, r.concurrency), r, 50.0);
            self.no_errors(&format!("{} errors", r.key), r.errors);
        }
    }

    /// No errors.
    pub fn no_errors(&mut self, figure: &str, errors: u64) {
        self.check(figure, errors.to_string(), "0", Some(errors == 0));
    }

    pub fn print(&self) {
        println!();
        println!("== summary (targets are read here, never asserted)");
        println!(
            "{:<46} {:>24}   {:<14} verdict",
            "figure", "value", "target"
        );
        println!("{}", "-".repeat(46 + 25 + 3 + 15 + 7));
        for c in &self.checks {
            println!(
                "{:<46} {:>24}   {:<14} {}",
                c.figure,
                c.value,
                c.target,
                c.verdict()
            );
        }
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The header of a journey's section.
pub fn section(title: &str) {
    println!();
    println!("== {title} (load average {})", loadavg());
}
