//! PostgreSQL's own throughput for the statements a request runs, so that the server's
//! overhead shows as a ratio.
//!
//! The statements are not copied by hand: statement logging is turned on for a moment
//! (`ALTER SYSTEM SET log_min_duration_statement = 0`, reloaded, reset afterwards), one request
//! is sent, and the statements the server's connections (`application_name` belong) executed
//! are read back from PostgreSQL's log with their parameters. Each is looked up in `.sqlx/`
//! (the query text the code was compiled against) for its parameter types. They are written
//! into a pgbench script with the same parameters: the caller becomes a random one of the
//! signed-in employees (`\set n random(1, :users)`; employee n's id is
//! `md5('belong-synthetic-user:' || n)::uuid`), NULLs are `NULLIF(:zero, 0)` cast to the
//! parameter's type (pgbench cannot bind a NULL), every other value is a pgbench variable, so
//! that with `-M prepared` each is a bound parameter as it is from the server.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::PgPool;

use crate::report::{Row, Samples};

/// A statement the server executed, as PostgreSQL logged it.
pub struct Captured {
    pub sql: String,
    /// `None` is SQL NULL.
    pub params: Vec<Option<String>>,
    pub server_ms: f64,
}

async fn set_logging(db: &PgPool, on: bool) -> anyhow::Result<()> {
    let statements: &[&str] = if on {
        &[
            "ALTER SYSTEM SET log_min_duration_statement = 0",
            "ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '",
        ]
    } else {
        &[
            "ALTER SYSTEM RESET log_min_duration_statement",
            "ALTER SYSTEM RESET log_line_prefix",
        ]
    };
    for s in statements {
        sqlx::raw_sql(s).execute(db).await.with_context(|| {
            format!("{s} (the load tool needs a superuser on the server's database to read the statements)")
        })?;
    }
    sqlx::raw_sql("SELECT pg_reload_conf()").execute(db).await?;
    // The postmaster passes the reload on to every backend; a backend applies it before
    // the next message it reads.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// Logs every statement while `request` runs, and answers those the server executed.
pub async fn capture<F>(db: &PgPool, log: &Path, request: F) -> anyhow::Result<Vec<Captured>>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let from = std::fs::metadata(log)
        .with_context(|| format!("PostgreSQL's log {}", log.display()))?
        .len();
    set_logging(db, true).await?;
    let outcome = request.await;
    set_logging(db, false).await?;
    outcome?;
    let mut file = std::fs::File::open(log)?;
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let captured = parse_log(&String::from_utf8_lossy(&bytes), "belong");
    if captured.is_empty() {
        bail!(
            "no statements of the server in {} while the request ran (is it the server's cluster's log?)",
            log.display()
        );
    }
    Ok(captured)
}

/// One message of the log: its process, its application and its text (continuation lines
/// joined, without the tab PostgreSQL puts before each).
struct Entry<'a> {
    pid: &'a str,
    app: &'a str,
    text: String,
}

fn entries(log: &str) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry> = Vec::new();
    for line in log.lines() {
        let head = line
            .get(..5)
            .is_some_and(|h| h.as_bytes()[..4].iter().all(u8::is_ascii_digit) && h.ends_with('-'));
        let parsed = head
            .then(|| {
                let pid = line.split_once('[')?.1.split_once(']')?.0;
                let (_, rest) = line.split_once(" app=")?;
                let (app, text) = rest.split_once(' ')?;
                Some((pid, app, text))
            })
            .flatten();
        match (parsed, out.last_mut()) {
            (Some((pid, app, text)), _) => out.push(Entry {
                pid,
                app,
                text: text.to_string(),
            }),
            (None, Some(last)) => {
                last.text.push('\n');
                last.text.push_str(line.strip_prefix('\t').unwrap_or(line));
            }
            (None, None) => {}
        }
    }
    out
}

/// The `execute` messages of application `app` with their parameters (the `DETAIL` that
/// follows from the same process).
fn parse_log(log: &str, app: &str) -> Vec<Captured> {
    let entries = entries(log);
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.app != app {
            continue;
        }
        let Some(rest) = e.text.strip_prefix("LOG:  duration: ") else {
            continue;
        };
        let Some((ms, rest)) = rest.split_once(" ms  ") else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("execute ") else {
            continue;
        };
        let Some((_, sql)) = rest.split_once(": ") else {
            continue;
        };
        let params = entries[i + 1..]
            .iter()
            .find(|d| d.pid == e.pid)
            .and_then(|d| d.text.strip_prefix("DETAIL:  parameters: "))
            .map(parse_params)
            .unwrap_or_default();
        out.push(Captured {
            sql: sql.to_string(),
            params,
            server_ms: ms.parse().unwrap_or(f64::NAN),
        });
    }
    out
}

/// `$1 = 'a', $2 = NULL, $3 = 'it''s'` as values in order.
fn parse_params(text: &str) -> Vec<Option<String>> {
    let mut values = Vec::new();
    let mut rest = text;
    while let Some((_, after)) = rest.split_once(" = ") {
        if let Some(after) = after.strip_prefix("NULL") {
            values.push(None);
            rest = after;
            continue;
        }
        let Some(mut chars) = after.strip_prefix('\'') else {
            break;
        };
        let mut value = String::new();
        loop {
            match chars.find('\'') {
                Some(q) if chars[q + 1..].starts_with('\'') => {
                    value.push_str(&chars[..=q]);
                    chars = &chars[q + 2..];
                }
                Some(q) => {
                    value.push_str(&chars[..q]);
                    chars = &chars[q + 1..];
                    break;
                }
                None => {
                    value.push_str(chars);
                    chars = "";
                    break;
                }
            }
        }
        values.push(Some(value));
        rest = chars;
    }
    values
}

/// A query the code was compiled against: its `.sqlx` file and parameter types.
pub struct Known {
    pub file: String,
    pub types: Vec<Option<String>>,
}

/// Every query in `.sqlx/`, by its text.
pub fn sqlx_queries(dir: &Path) -> anyhow::Result<HashMap<String, Known>> {
    let mut map = HashMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        let Some(query) = json["query"].as_str() else {
            continue;
        };
        let types = json["describe"]["parameters"]["Left"]
            .as_array()
            .map(|ps| ps.iter().map(sql_type).collect())
            .unwrap_or_default();
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        map.insert(query.to_string(), Known { file, types });
    }
    Ok(map)
}

/// The SQL name of a parameter type as `.sqlx` records it.
fn sql_type(t: &serde_json::Value) -> Option<String> {
    if let Some(name) = t["Custom"]["name"].as_str() {
        return Some(name.to_string());
    }
    let name = match t.as_str()? {
        "Uuid" => "uuid",
        "Bool" => "boolean",
        "Text" => "text",
        "Varchar" => "varchar",
        "Float4" => "real",
        "Float8" => "double precision",
        "Int2" => "smallint",
        "Int4" => "integer",
        "Int8" => "bigint",
        "Timestamptz" => "timestamptz",
        "Timestamp" => "timestamp",
        "Date" => "date",
        "Json" => "json",
        "Jsonb" => "jsonb",
        "Bytea" => "bytea",
        "Numeric" => "numeric",
        "TextArray" => "text[]",
        "UuidArray" => "uuid[]",
        _ => return None,
    };
    Some(name.to_string())
}

/// A pgbench script of the captured statements, and its `-D` variables.
pub struct Script {
    pub text: String,
    pub variables: Vec<(String, String)>,
}

/// Writes the statements with their parameters: `caller`'s id becomes the random employee's.
pub fn script(
    statements: &[Captured],
    known: &HashMap<String, Known>,
    caller: &str,
    what: &str,
) -> Script {
    let mut text = format!(
        "-- The statements of {what}, as the server executed them (captured from PostgreSQL's log).\n\
         \\set n random(1, :users)\n"
    );
    let mut variables = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        let types = known.get(&s.sql).map(|k| k.types.as_slice()).unwrap_or(&[]);
        let value_of = |k: usize| -> String {
            match s.params.get(k - 1) {
                None => format!("${k}"),
                Some(None) => match types.get(k - 1).cloned().flatten() {
                    Some(t) => format!("(NULLIF(:zero, 0)::{t})"),
                    None => "NULL".to_string(),
                },
                Some(Some(v)) if v.eq_ignore_ascii_case(caller) => {
                    "(md5('belong-synthetic-user:' || (:n)::text)::uuid)".to_string()
                }
                Some(Some(_)) => format!(":p{}_{k}", i + 1),
            }
        };
        for (k, v) in s.params.iter().enumerate() {
            if let Some(v) = v {
                if !v.eq_ignore_ascii_case(caller) {
                    let name = format!("p{}_{}", i + 1, k + 1);
                    let _ = writeln!(text, "-- :{name} = {v}");
                    variables.push((name, v.clone()));
                }
            }
        }
        let _ = writeln!(text, "{};", substitute(&s.sql, value_of));
    }
    Script { text, variables }
}

/// Replaces each `$N` of `sql` (outside string literals) with `value(N)`.
fn substitute(sql: &str, value: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_string = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '\'' {
            in_string = !in_string;
        }
        if c == '$' && !in_string {
            let mut digits = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                digits.push(d);
                chars.next();
            }
            match digits.parse::<usize>() {
                Ok(k) if k > 0 => out.push_str(&value(k)),
                _ => {
                    out.push('$');
                    out.push_str(&digits);
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A pgbench run of a script.
pub struct Run<'a> {
    pub name: &'a str,
    pub work: &'a Path,
    pub database_url: &'a str,
    pub connections: usize,
    pub users: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Run<'_> {
    /// Runs pgbench for the warm-up and the duration; answers the row of the transactions that
    /// started within the measured window (as for the HTTP phases).
    pub async fn run(&self, script: &Script, label: &str) -> anyhow::Result<Row> {
        let file = self.work.join(format!("{}.sql", self.name));
        std::fs::write(&file, &script.text)?;
        let prefix = self.work.join(self.name);
        for old in logs(self.work, self.name)? {
            std::fs::remove_file(old)?;
        }
        let threads = self.connections.min(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        );
        let seconds = (self.warmup + self.duration).as_secs().max(1);
        let mut cmd = tokio::process::Command::new("pgbench");
        cmd.args(["-n", "-M", "prepared"])
            .args(["-c", &self.connections.to_string()])
            .args(["-j", &threads.to_string()])
            .args(["-T", &seconds.to_string()])
            .args(["-D", "zero=0"])
            .args(["-D", &format!("users={}", self.users)]);
        for (name, value) in &script.variables {
            cmd.args(["-D", &format!("{name}={value}")]);
        }
        cmd.arg("-f")
            .arg(&file)
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()))
            .arg(self.database_url)
            .current_dir(self.work);
        let output = cmd
            .output()
            .await
            .context("running pgbench (apt-get install postgresql-client)")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        std::fs::write(
            self.work.join(format!("{}.out", self.name)),
            format!("{stdout}{stderr}"),
        )?;
        let mut samples = Samples::default();
        if !output.status.success() {
            samples.error(format!(
                "pgbench {}: {}",
                output.status,
                stderr.lines().last().unwrap_or_default()
            ));
        }
        // client_id transaction_no latency_us script_no epoch_s epoch_us
        let mut transactions: Vec<(f64, Result<Duration, String>)> = Vec::new();
        for path in logs(self.work, self.name)? {
            for line in std::fs::read_to_string(&path)?.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 6 {
                    continue;
                }
                let end =
                    f[4].parse::<f64>().unwrap_or(0.0) + f[5].parse::<f64>().unwrap_or(0.0) / 1e6;
                match f[2].parse::<u64>() {
                    Ok(us) => {
                        transactions.push((end - us as f64 / 1e6, Ok(Duration::from_micros(us))))
                    }
                    Err(_) => transactions.push((end, Err(format!("transaction {}", f[2])))),
                }
            }
        }
        let start = transactions
            .iter()
            .map(|(t, _)| *t)
            .fold(f64::INFINITY, f64::min);
        let from = start + self.warmup.as_secs_f64();
        let to = from + self.duration.as_secs_f64();
        for (began, outcome) in transactions {
            if began >= from && began < to {
                samples.record(outcome);
            }
        }
        Ok(Row::new(
            self.name,
            label,
            self.connections,
            samples,
            self.duration,
        ))
    }
}

/// pgbench's per-transaction logs of a run: `<name>.<pid>` and `<name>.<pid>.<thread>`.
fn logs(work: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(work)? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if let Some(rest) = file.strip_prefix(name).and_then(|r| r.strip_prefix('.')) {
            if rest
                .split('.')
                .all(|p| p.chars().all(|c| c.is_ascii_digit()))
            {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// The first line of a statement, shortened, for the list of what pgbench runs.
pub fn describe(s: &Captured, known: &HashMap<String, Known>) -> String {
    let flat: String = s.sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = flat.chars().take(90).collect();
    let source = known.get(&s.sql).map_or_else(
        || "not in .sqlx".to_string(),
        |k| format!(".sqlx/{}", k.file),
    );
    format!(
        "{short}{} [{source}; {} parameters; {:.2} ms on the server]",
        if flat.len() > short.len() { "…" } else { "" },
        s.params.len(),
        s.server_ms
    )
}
