//! Builds the application (state, router, layers), binds, serves and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_scalar::{Scalar, Servable};

use crate::auth::password::Hasher;
use crate::auth::token::AccessTokens;
use crate::config::Settings;
use crate::error::{PROBLEM_JSON, problem_response};
use crate::metrics::Metrics;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub tokens: AccessTokens,
    pub hasher: Hasher,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        Ok(Self {
            tokens: AccessTokens::new(&settings.auth),
            hasher: Hasher::new(settings.max_concurrent_hashes())?,
            metrics: Metrics::default(),
            settings: Arc::new(settings),
            pool,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "belong", description = "Business Resource Groups: directory, memberships, events, mentoring, reports."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The routes and their OpenAPI document, gathered from the handlers' annotations.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::auth::routes::router())
        .merge(crate::admin::routes::router())
        .merge(crate::groups::routes::router())
        .merge(crate::events::routes::router())
        .merge(crate::mentoring::routes::router())
        .merge(crate::reports::routes::router())
        .merge(crate::ops::router())
        .split_for_parts()
}

/// The whole application with its layers.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api_routes();
    let openapi = Arc::new(openapi);
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.settings.server.request_timeout();
    let max_body = state.settings.server.max_body_bytes;
    let doc = openapi.clone();
    api.route(
        "/api/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
    .merge(Scalar::with_url("/api/docs", openapi.as_ref().clone()))
    .fallback(not_found)
    .layer(axum::middleware::from_fn_with_state(
        state.metrics.clone(),
        crate::metrics::track,
    ))
    .layer(axum::middleware::map_response(problem_for_bare_errors))
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

async fn not_found() -> Response {
    problem_response(StatusCode::NOT_FOUND, "no such route".into(), Vec::new())
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; it has been logged".into(),
        Vec::new(),
    )
}

/// Error answers made outside our handlers (405 from the router, 413, timeouts) become
/// problem+json too, so every client sees one error format.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this route does not accept that method",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
            "the request took too long"
        }
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let mut problem = problem_response(status, detail.into(), Vec::new());
    if let Some(allow) = response.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
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
