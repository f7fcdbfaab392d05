//! Builds the application (state, router, layers), binds, serves and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::problem_response;
pub use crate::state::AppState;

/// The whole application with its layers: every front door, merged.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.settings.server.request_timeout();
    let max_body = state.settings.server.max_body_bytes;
    crate::api::router()
        .merge(crate::scim::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn(
            crate::api::problem_for_bare_errors,
        ))
        .layer(axum::middleware::from_fn(crate::scim::errors_for_bare))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    timeout,
                ))
                .layer(DefaultBodyLimit::max(max_body)),
        )
        .with_state(state)
}

/// No route matched: a problem+json 404 for the API's addresses, a SCIM error under
/// `/scim/v2`, plain text elsewhere.
async fn not_found(uri: Uri) -> Response {
    if crate::api::owns(uri.path()) {
        crate::api::not_found().await
    } else if crate::scim::owns(uri.path()) {
        crate::scim::not_found().await
    } else {
        (StatusCode::NOT_FOUND, "Page not found.\n").into_response()
    }
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
}

impl Application {
    pub async fn bind(state: AppState) -> anyhow::Result<Self> {
        let addr = state.settings.server.bind;
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {addr}: {e}; set BELONG__SERVER__BIND to a free address"
            )
        })?;
        Ok(Self {
            listener,
            grace: Duration::from_secs(state.settings.server.shutdown_grace_secs),
            router: router(state),
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (up to the grace
    /// period).
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let grace = self.grace;
        let server = axum::serve(self.listener, self.router.into_make_service())
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = tx.send(true);
            });
        let mut rx_grace = rx.clone();
        tokio::select! {
            result = server => result.map_err(anyhow::Error::from),
            _ = async move {
                let _ = rx_grace.wait_for(|stopping| *stopping).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("requests still running after the grace period; stopping anyway");
                Ok(())
            }
        }
    }
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
    tracing::info!("shutting down: finishing requests in flight");
}
