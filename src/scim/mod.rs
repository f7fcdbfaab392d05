//! Provisioning with SCIM 2.0 (RFC 7643, RFC 7644): the front door the HR system's identity
//! provider (Entra ID, Okta, …) uses to create, update, find and deactivate accounts.
//!
//! A thin adapter: it checks the provisioning token, parses SCIM's JSON and PATCH operations,
//! calls one function of `accounts::provisioning` or `lifecycle`, and shapes the SCIM answer.
//! Every answer, errors included, is `application/scim+json`, in SCIM's error format.

pub mod discovery;
pub mod patch;
pub mod users;

use axum::Router;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::accounts::provisioning::{self, ProvisioningClient};
use crate::error::AppError;
use crate::state::AppState;

pub const SCIM_JSON: &str = "application/scim+json";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Where this front door lives.
pub const PREFIX: &str = "/scim/v2";

/// The addresses this front door answers.
pub fn owns(path: &str) -> bool {
    path == PREFIX || path.starts_with("/scim/v2/")
}

/// An error in SCIM's format (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, None, "no such resource")
    }
}

impl From<AppError> for ScimError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::BadRequest { detail, .. } => Self::bad("invalidSyntax", detail),
            AppError::Validation(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::bad("invalidValue", detail)
            }
            AppError::Conflict(detail) => {
                let scim_type = detail
                    .contains("belongs to another account")
                    .then_some("uniqueness");
                Self::new(StatusCode::CONFLICT, scim_type, detail)
            }
            AppError::Unauthorized | AppError::BadCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                None,
                "a valid SCIM bearer token is required",
            ),
            AppError::NotFound => Self::not_found(),
            AppError::UnsupportedMediaType => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "send the body as application/scim+json",
            ),
            other => {
                let status = other.status();
                // The problem answer logs internal causes; here we only need its words.
                let detail = match &other {
                    AppError::Internal(cause) => {
                        tracing::error!(error = format!("{cause:#}"), "SCIM request failed");
                        "something went wrong on our side; it has been logged".to_string()
                    }
                    AppError::Unavailable(cause) => {
                        tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                        "the service cannot reach its database; try again".to_string()
                    }
                    _ => status.canonical_reason().unwrap_or("error").to_string(),
                };
                Self::new(status, None, detail)
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = Scim(self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

/// A SCIM answer: a status and a body, as `application/scim+json`.
pub struct Scim<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Scim<T> {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(self.1)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        response
    }
}

/// The provisioning client behind a request, from its bearer token.
pub struct Client(pub ProvisioningClient);

impl<S> FromRequestParts<S> for Client
where
    PgPool: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| ScimError::from(AppError::Unauthorized))?;
        let pool = PgPool::from_ref(state);
        Ok(Client(provisioning::authenticate(&pool, token).await?))
    }
}

/// A JSON body (`application/scim+json` or `application/json`), as a value to walk: SCIM
/// attribute names are case-insensitive, and identity providers differ in how they write them.
pub struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime == SCIM_JSON
            })
            .unwrap_or(false);
        if !is_json {
            return Err(AppError::UnsupportedMediaType.into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ScimError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        None,
                        "the request body is too large",
                    )
                } else {
                    ScimError::bad("invalidSyntax", "the request body could not be read")
                }
            })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            ScimError::bad(
                "invalidSyntax",
                format!("the body is not valid JSON: {message}"),
            )
        })?;
        if !value.is_object() {
            return Err(ScimError::bad(
                "invalidSyntax",
                "the body must be a JSON object",
            ));
        }
        Ok(Body(value))
    }
}

/// The member of a JSON object whose name matches `name` ignoring case.
pub fn get_ci<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The base of the addresses handed out in `meta.location`.
pub fn base_url(state: &AppState) -> String {
    format!("{}{PREFIX}", state.settings.server.public_url)
}

/// Error answers made outside the handlers (a timeout, a body over the limit) become SCIM
/// errors too under `/scim/v2`, so the identity provider sees one error format.
pub async fn errors_for_bare(request: Request, next: axum::middleware::Next) -> Response {
    let scim = owns(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !scim || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_scim = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(SCIM_JSON.as_bytes()));
    if is_scim {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
            "the request took too long"
        }
        _ => status.canonical_reason().unwrap_or("error"),
    };
    ScimError::new(status, None, detail).into_response()
}

/// No route under `/scim/v2`: a SCIM 404.
pub async fn not_found() -> Response {
    ScimError::new(StatusCode::NOT_FOUND, None, "no such endpoint").into_response()
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this endpoint does not accept that method",
    )
}

/// A search across every resource type: there is one type, searched at `/Users`.
async fn search_everything() -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "search the users at /Users with a filter",
    )
}

/// The routes of `/scim/v2`.
pub fn router() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route(
            "/scim/v2/Users",
            get(users::list)
                .post(users::create)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Users/{id}",
            get(users::read)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/.search",
            axum::routing::post(search_everything).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes",
            get(discovery::resource_types).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes/{id}",
            get(discovery::resource_type).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Schemas",
            get(discovery::schemas).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Schemas/{id}",
            get(discovery::schema).fallback(method_not_allowed),
        )
}
