//! Streaming a report from PostgreSQL to the client, and its audit record.
//!
//! The handler checks access and parameters and takes a connection from the pool (so that a
//! database outage is a 503, not a broken download). A task then runs the report's query on that
//! connection and encodes the rows as they arrive into chunks of about [`CHUNK_BYTES`], which go
//! through a channel of [`CHUNKS_IN_FLIGHT`] chunks into the response body. Memory is bounded by
//! those chunks, whatever the number of rows: when the client reads slowly, the channel fills,
//! the task stops reading rows, and PostgreSQL waits on its socket.
//!
//! When the client goes away, hyper drops the body; the task sees its channel closed, stops at
//! once (even in the middle of a query that has not sent a row yet), and closes its connection
//! instead of returning it to the pool, so that PostgreSQL abandons the query rather than
//! computing the rest of it for nobody.
//!
//! Downloads run at most `reports.max_concurrent_exports` at once (beyond that: 429 with
//! `Retry-After`), since each holds a pooled connection until its body ends. A client that
//! stops reading leaves the channel full: after `reports.export_stall_secs` without room the
//! task gives up as if the client had gone, closing its connection and freeing its place.
//!
//! The audit record is written when the body is dropped, that is once per download whether it
//! completed, failed or was cut short, with the number of rows handed to the connection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;
use sqlx::PgConnection;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::Instrument;
use uuid::Uuid;

use crate::accounts::ReportReader;
use crate::audit;
use crate::csv::{Cell, write_record};
use crate::error::AppError;
use crate::groups::access::GroupAccess;

/// Rows are sent in chunks of about this size.
pub const CHUNK_BYTES: usize = 32 * 1024;
/// How many chunks may wait between the query and the socket.
pub const CHUNKS_IN_FLIGHT: usize = 4;
/// Seconds a client refused a download is told to wait before trying again.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The places for downloads running at once, shared by every request of this instance.
#[derive(Clone)]
pub struct Exports {
    places: Arc<Semaphore>,
    stall: Duration,
}

impl Exports {
    /// `max` downloads at once; a client not reading for `stall` loses its download.
    pub fn new(max: usize, stall: Duration) -> Self {
        Self {
            places: Arc::new(Semaphore::new(max.max(1))),
            stall,
        }
    }

    fn take(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.places
            .clone()
            .try_acquire_owned()
            .map_err(|_| AppError::TooManyRequests {
                retry_after_secs: RETRY_AFTER_SECS,
            })
    }
}

/// Why a report stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// The client went away; nobody is left to tell.
    ClientGone,
    /// The query failed mid-way; the client sees a cut-off download.
    Failed(anyhow::Error),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Failed(e.into())
    }
}

enum Msg {
    Chunk { bytes: Bytes, rows: u64 },
    Done,
    Failed,
}

/// Where a report writes its rows: CSV records, buffered into chunks, counted.
pub struct CsvSink {
    tx: mpsc::Sender<Msg>,
    buf: Vec<u8>,
    rows: u64,
    stall: Duration,
}

impl CsvSink {
    /// The header row: sent at once, so the client sees the download start even while a
    /// slow aggregate is still being computed. Not counted as a row.
    pub async fn header(&mut self, names: &[&str]) -> Result<(), Stop> {
        write_record(&mut self.buf, names.iter().map(|n| Cell::Text(n)));
        self.flush().await
    }

    /// One data row.
    pub async fn row<'c>(&mut self, cells: impl IntoIterator<Item = Cell<'c>>) -> Result<(), Stop> {
        write_record(&mut self.buf, cells);
        self.rows += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES + 1024),
        ));
        let rows = std::mem::take(&mut self.rows);
        match tokio::time::timeout(self.stall, self.tx.send(Msg::Chunk { bytes, rows })).await {
            Ok(sent) => sent.map_err(|_| Stop::ClientGone),
            Err(_) => {
                tracing::info!("the client stopped reading; the download is given up");
                Err(Stop::ClientGone)
            }
        }
    }

    async fn finish(mut self) -> Result<(), Stop> {
        self.flush().await?;
        self.tx.send(Msg::Done).await.map_err(|_| Stop::ClientGone)
    }
}

/// One of the reports, with its parameters, as the export task runs it.
pub trait Report: Send + Sync + 'static {
    /// The report's name in the audit log (`groups`, `memberships`, `breakdown`).
    fn name(&self) -> &'static str;
    /// What the file name says after `belong-` and before the date.
    fn file_stem(&self) -> String {
        self.name().to_string()
    }
    /// The action of the download's audit record.
    fn audit_action(&self) -> audit::Action {
        audit::Action::ReportDownloaded
    }
    /// The target of the download's audit record.
    fn audit_target(&self) -> String {
        format!("{}.csv", self.name())
    }
    /// The parameters, as the audit record keeps them.
    fn params(&self) -> serde_json::Value;
    /// Writes the header and every row.
    fn write<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        sink: &'a mut CsvSink,
    ) -> impl Future<Output = Result<(), Stop>> + Send + 'a;
}

/// Starts the download of `report` for HR or an admin: the response goes out with its headers
/// while the rows are still being read.
pub async fn start<R: Report>(
    pool: &PgPool,
    exports: &Exports,
    reader: &ReportReader,
    report: R,
) -> Result<Response, AppError> {
    stream(pool, exports, reader.id(), report).await
}

/// Starts the download of a group's own roster for one of its leads or an admin (403 for
/// anyone else), through the same path, with the same headers and the same bound as HR's
/// reports.
pub async fn start_roster<R: Report>(
    pool: &PgPool,
    exports: &Exports,
    manager: &GroupAccess,
    report: R,
) -> Result<Response, AppError> {
    manager.require_manage()?;
    stream(pool, exports, manager.user_id, report).await
}

async fn stream<R: Report>(
    pool: &PgPool,
    exports: &Exports,
    actor: Uuid,
    report: R,
) -> Result<Response, AppError> {
    let place = exports.take()?;
    let conn = pool.acquire().await?;
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let stem = report.file_stem();
    let audit = AuditGuard {
        pool: pool.clone(),
        actor,
        action: report.audit_action(),
        target: report.audit_target(),
        report: report.name(),
        params: report.params(),
        rows: 0,
        completed: false,
    };
    // The task's logs stay under the request's span (and its request id).
    tokio::spawn(run(report, conn, tx, exports.stall, place).in_current_span());
    let body = ReportBody {
        rx,
        audit,
        ended: false,
    };
    let today = time::OffsetDateTime::now_utc().date();
    let disposition = format!("attachment; filename=\"belong-{stem}-{today}.csv\"");
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // Personal data: no cache along the way may keep a copy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[tracing::instrument(skip_all, fields(report = report.name()))]
async fn run<R: Report>(
    report: R,
    mut conn: PoolConnection<Postgres>,
    tx: mpsc::Sender<Msg>,
    stall: Duration,
    // Held until the task ends: the download's place among the concurrent ones.
    _place: OwnedSemaphorePermit,
) {
    let watch = tx.clone();
    let mut sink = CsvSink {
        tx,
        buf: Vec::with_capacity(CHUNK_BYTES + 1024),
        rows: 0,
        stall,
    };
    let outcome = tokio::select! {
        outcome = report.write(&mut conn, &mut sink) => outcome,
        () = watch.closed() => Err(Stop::ClientGone),
    };
    let outcome = match outcome {
        Ok(()) => sink.finish().await,
        Err(stop) => Err(stop),
    };
    match outcome {
        Ok(()) => {}
        Err(Stop::ClientGone) => {
            tracing::info!("the client went away; the report's query is abandoned");
            // A connection returned to the pool in the middle of a result would first have to
            // read the rest of it; closing it makes PostgreSQL stop instead.
            conn.close_on_drop();
        }
        Err(Stop::Failed(error)) => {
            tracing::error!(error = format!("{error:#}"), "a report failed mid-way");
            conn.close_on_drop();
            let _ = watch.send(Msg::Failed).await;
        }
    }
}

/// The response body: the chunks from the export task, counted for the audit record.
struct ReportBody {
    rx: mpsc::Receiver<Msg>,
    audit: AuditGuard,
    ended: bool,
}

/// The error that cuts a download off when the report fails after its headers went out.
#[derive(Debug, thiserror::Error)]
#[error("the report could not be completed")]
struct Incomplete;

impl Stream for ReportBody {
    type Item = Result<Bytes, Incomplete>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Msg::Chunk { bytes, rows })) => {
                this.audit.rows += rows;
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Msg::Done)) => {
                this.ended = true;
                this.audit.completed = true;
                Poll::Ready(None)
            }
            // A failed query, or a task that ended without a word: the client must not take
            // a cut-off file for a whole one, so the connection is broken off.
            Poll::Ready(Some(Msg::Failed)) | Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(Some(Err(Incomplete)))
            }
        }
    }
}

/// Writes the download's audit record when the body is dropped: after the last chunk, or when
/// the client went away, or when the server gave up on the connection.
struct AuditGuard {
    pool: PgPool,
    actor: Uuid,
    action: audit::Action,
    target: String,
    report: &'static str,
    params: serde_json::Value,
    rows: u64,
    completed: bool,
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        let pool = self.pool.clone();
        let actor = self.actor;
        let target = std::mem::take(&mut self.target);
        let action = self.action;
        let details = json!({
            "report": self.report,
            "params": std::mem::take(&mut self.params),
            "rows": self.rows,
            "completed": self.completed,
        });
        let write = async move {
            if let Err(error) =
                audit::record(&pool, Some(actor), action, Some(&target), details).await
            {
                tracing::error!(error = %error, "the audit record of a report download was not written");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(write);
            }
            Err(_) => {
                tracing::error!("no runtime left to write the audit record of a report download")
            }
        }
    }
}
