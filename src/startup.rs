//! Builds the application (state, router, layers), binds, serves and shuts down gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::principals::{self, Principals};
use crate::db::notices;
use crate::error::{PROBLEM_JSON, Problem, problem_response};
pub use crate::state::AppState;

/// The whole application with its layers: every front door, merged.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.settings.server.request_timeout();
    let max_body = state.settings.server.max_body_bytes;
    let headers = Arc::new(SecurityHeaders::new(&state.settings));
    let cors = cors_layer(&state.settings.server.cors_origins);
    let router = crate::api::router()
        .merge(crate::scim::router())
        .merge(crate::web::router(&state))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(tower::util::MapRequestLayer::new(drop_unfit_request_id))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
                .layer(PropagateRequestIdLayer::new(request_id))
                // Outside the timeout and the size checks, so that their answers are problems
                // (SCIM errors under /scim).
                .layer(axum::middleware::from_fn(
                    crate::api::problem_for_bare_errors,
                ))
                .layer(axum::middleware::from_fn(crate::scim::errors_for_bare))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    pages_for_bare_errors,
                ))
                .layer(CatchPanicLayer::custom(panic_response))
                // 503 is kept for an unreachable database: a request that runs out of time,
                // whether the client is slow to send its body or we are slow to answer, is 408.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    max_body,
                    refuse_oversize,
                ))
                .layer(DefaultBodyLimit::max(max_body)),
        );
    // Outermost, so that every answer carries them: errors, timeouts and panics included.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            headers,
            security_headers,
        ))
        .with_state(state)
}

/// The longest request id taken from a client.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Whether a client's `X-Request-Id` may be echoed and logged as it is: 1 to 64 ASCII letters,
/// digits and `-`, `_`, `.`, `:` (UUIDs, ULIDs, a proxy's trace ids).
pub fn request_id_fits(raw: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&raw.len())
        && raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Drops a client's request id that is too long or holds other characters, so that a new one
/// is made; logs and answers never carry what a client chose to put there.
fn drop_unfit_request_id<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let ids = request.headers().get_all("x-request-id");
    let mut ids = ids.iter();
    let fits = match (ids.next(), ids.next()) {
        (Some(id), None) => request_id_fits(id.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !fits {
        request.headers_mut().remove("x-request-id");
    }
    request
}

/// The longest address (path and query) a request may have.
pub const MAX_URI_BYTES: usize = 8192;

/// An address over [`MAX_URI_BYTES`] is 414. A body whose declared length is over the limit is
/// refused before any of it is read (and before a client that sent `Expect: 100-continue` is
/// told to go on), and the connection is closed rather than drained.
async fn refuse_oversize(State(max_body): State<usize>, request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return problem_response(
            StatusCode::URI_TOO_LONG,
            format!("the address is too long: at most {MAX_URI_BYTES} bytes are accepted"),
            Vec::new(),
        );
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > max_body as u64 => {
            let mut response = problem_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is too large: at most {max_body} bytes are accepted"),
                Vec::new(),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        _ => next.run(request).await,
    }
}

/// The headers every answer carries (docs/guarantees.md lists them with their tests).
struct SecurityHeaders {
    hsts: Option<HeaderValue>,
}

/// No script, style, frame or form from elsewhere, no inline script, never framed. A page
/// needing more (the API reference's inline styles) sets its own policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; \
     form-action 'self'; base-uri 'self'; object-src 'none'";

impl SecurityHeaders {
    fn new(settings: &crate::config::Settings) -> Self {
        Self {
            hsts: settings
                .https()
                .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        }
    }
}

async fn security_headers(
    State(config): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Calendar feed addresses carry a secret: never send an address to another site. Not
    // `no-referrer`: under it browsers send `Origin: null` with the pages' own form posts, which
    // the pages' cross-site check must refuse.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if let Some(hsts) = &config.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    response
}

/// Cross-origin access only for the configured origins; none configured: no CORS headers, so
/// browsers keep other sites' pages from reading any answer.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    )
}

/// No route matched: a problem+json 404 for the API's addresses, a SCIM error under
/// `/scim/v2`, a page in the layout elsewhere.
async fn not_found(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if crate::api::owns(uri.path()) {
        crate::api::not_found().await
    } else if crate::scim::owns(uri.path()) {
        crate::scim::not_found().await
    } else {
        crate::web::not_found(&state, &headers).await
    }
}

/// A page address answered outside its handler (out of time, or a panic) is a page in the
/// layout too, as the pages' own errors are; the API's and SCIM's addresses have their formats.
async fn pages_for_bare_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if crate::api::owns(path) || crate::scim::owns(path) {
        return next.run(request).await;
    }
    crate::web::error_pages(State(state), request, next).await
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; it has been logged".into(),
        Vec::new(),
    )
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: Router,
    grace: Duration,
    connections: ConnectionLimits,
    /// `/metrics` on `server.metrics_bind`, when set.
    metrics: Option<(TcpListener, Router)>,
    /// What the notice listener needs: the pool to connect like, and what it keeps current.
    pool: sqlx::PgPool,
    principals: Principals,
}

/// What one connection may take: the time to send a request's head, the head's size, and how
/// many connections are served at once.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read_timeout: Duration,
    max_header_bytes: usize,
    max_connections: u32,
}

impl Application {
    pub async fn bind(state: AppState) -> anyhow::Result<Self> {
        let addr = state.settings.server.bind;
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {addr}: {e}; set BELONG__SERVER__BIND to a free address"
            )
        })?;
        let metrics = match state.settings.server.metrics_bind {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!(
                        "cannot serve metrics on {addr}: {e}; set BELONG__SERVER__METRICS_BIND \
                         to a free address, or unset it"
                    )
                })?;
                let router = crate::api::ops::metrics_router()
                    .layer(axum::middleware::from_fn_with_state(
                        Arc::new(SecurityHeaders { hsts: None }),
                        security_headers,
                    ))
                    .with_state(state.clone());
                Some((listener, router))
            }
            None => None,
        };
        let server = &state.settings.server;
        let connections = ConnectionLimits {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
            max_header_bytes: server.max_header_bytes,
            max_connections: u32::try_from(server.max_connections.min(Semaphore::MAX_PERMITS))
                .unwrap_or(u32::MAX),
        };
        Ok(Self {
            listener,
            grace: Duration::from_secs(state.settings.server.shutdown_grace_secs),
            connections,
            pool: state.pool.clone(),
            principals: state.principals.clone(),
            router: router(state),
            metrics,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (up to the grace
    /// period).
    ///
    /// Each connection holds one of `max_connections` permits: when all are taken, no further
    /// connection is accepted until one closes, so slow or idle clients cannot use up the
    /// process's file descriptors. A connection that does not send a request's head within
    /// `header_read_timeout` is closed.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = self.connections;
        let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Until it listens, the principals' cache is bypassed; it stops with the server.
        let notices = tokio::spawn({
            let (pool, principals) = (self.pool.clone(), self.principals.clone());
            async move { notices::listen(&pool, principals::CHANNEL, Arc::new(principals)).await }
        });
        let notices = notices.abort_handle();
        if let Some((listener, router)) = self.metrics {
            let mut stopping = stop_rx.clone();
            let addr = listener.local_addr().ok();
            tracing::info!(?addr, "serving /metrics");
            tokio::spawn(async move {
                let served = axum::serve(listener, router.into_make_service())
                    .with_graceful_shutdown(async move {
                        let _ = stopping.wait_for(|stopping| *stopping).await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the metrics address stopped");
                }
            });
        }
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            // One buffer per write, so that `ProblemIo` sees hyper's own answers whole.
            .writev(false);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                permit = permits.clone().acquire_owned() => permit?,
            };
            let (stream, remote) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors or a connection reset before it was accepted:
                        // the listener itself is fine; give the process a moment.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let service =
                hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    router.clone().oneshot(request)
                });
            let connection = builder
                .serve_connection(TokioIo::new(ProblemIo::new(stream)), service)
                .with_upgrades();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                tokio::pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(self.listener);
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
        let drained =
            tokio::time::timeout(self.grace, permits.acquire_many(limits.max_connections)).await;
        notices.abort();
        if drained.is_err() {
            tracing::warn!("requests still running after the grace period; stopping anyway");
        }
        Ok(())
    }
}

/// The connection's socket, with one change to what is written: the answers hyper makes on
/// its own for a request it cannot parse (400 for bad bytes, 414 for a long address, 431 for
/// oversized headers) have an empty body; they leave as problem+json like every other error.
struct ProblemIo {
    inner: TcpStream,
    pending: Vec<u8>,
    sent: usize,
}

impl ProblemIo {
    fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// Writes what is left of a rewritten answer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ProblemIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProblemIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if let Some(answer) = problem_for_parse_error(buf) {
            this.pending = answer;
            if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// When `written` is one of hyper's own answers to an unparsable request (a bare head with
/// status 400, 414 or 431, no content type and an empty body), the same answer as
/// problem+json, closing the connection.
fn problem_for_parse_error(written: &[u8]) -> Option<Vec<u8>> {
    let status = match written.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => StatusCode::BAD_REQUEST,
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => StatusCode::URI_TOO_LONG,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head = std::str::from_utf8(written).ok()?;
    let head = head.strip_suffix("\r\n\r\n")?;
    let lines: Vec<&str> = head.split("\r\n").collect();
    let empty = lines
        .iter()
        .any(|l| l.eq_ignore_ascii_case("content-length: 0"));
    let typed = lines
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("content-type:"));
    if !empty || typed || head.contains("\r\n\r\n") {
        return None;
    }
    let detail = match status {
        StatusCode::URI_TOO_LONG => "the address is too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request headers are too large",
        _ => "the request is not well-formed HTTP: its request line or a header is malformed",
    };
    let body = serde_json::to_vec(&Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail.into(),
        errors: Vec::new(),
    })
    .ok()?;
    let mut answer = Vec::with_capacity(256 + body.len());
    answer.extend_from_slice(lines.first()?.as_bytes());
    answer.extend_from_slice(b"\r\n");
    for line in &lines[1..] {
        let lower = line.to_ascii_lowercase();
        if !(lower.starts_with("content-length:") || lower.starts_with("connection:")) {
            answer.extend_from_slice(line.as_bytes());
            answer.extend_from_slice(b"\r\n");
        }
    }
    answer.extend_from_slice(
        format!(
            "content-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&body);
    Some(answer)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_taken_only_when_short_and_plain() {
        assert!(request_id_fits(b"0b6e0d6e-3c1f-4f7e-9a51-0d8c4f2d9a11"));
        assert!(request_id_fits(b"trace:abc.def_1"));
        assert!(!request_id_fits(b""));
        assert!(!request_id_fits("x".repeat(65).as_bytes()));
        assert!(!request_id_fits(b"a b"));
        assert!(!request_id_fits(b"a\"<script>"));
    }

    #[test]
    fn hyper_answers_to_bad_requests_become_problems() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 28 Nov 2026 14:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(problem_for_parse_error(bare).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert!(
            answer.contains("content-type: application/problem+json\r\n"),
            "{answer}"
        );
        assert!(answer.contains("date: Sat"), "{answer}");
        assert!(
            answer.ends_with("\"status\":431,\"detail\":\"the request headers are too large\"}"),
            "{answer}"
        );
        // Answers of the application are left alone.
        assert!(problem_for_parse_error(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(
            problem_for_parse_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\nhi")
                .is_none()
        );
        assert!(problem_for_parse_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
