//! The JSON API, one front door over the domains: handlers parse the request, call one domain
//! function and shape its answer as JSON. This module holds what every handler shares (the
//! body and query extractors with problem+json rejections, list parameters) and assembles the
//! routes with their OpenAPI document.

pub mod admin;
pub mod auth;
pub mod doc;
pub mod events;
pub mod groups;
pub mod mentoring;
pub mod ops;
pub mod reports;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_scalar::Scalar;

use crate::error::{AppError, AppResult, FieldError, PROBLEM_JSON, Problem, problem_response};
use crate::paging::PageRequest;
use crate::state::AppState;
use uuid::Uuid;

/// A JSON body. Unlike `axum::Json`, every rejection is a problem+json answer that names the
/// field at fault: syntax errors and wrong types are 400, missing fields 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body the client may leave out: no body at all (or an empty one) is `T::default()`.
/// A body that is sent follows every rule of [`Json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(&req);
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) && (json || !has_type) {
            return Ok(OptionalJson(T::default()));
        }
        if !json {
            return Err(AppError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, AppError> {
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::bad_request("the request body could not be read")
            }
        })
}

/// Deserializes a JSON body, turning serde's complaint into the field at fault. The body is
/// one JSON object and nothing after it: an array (which serde would take field by field, in
/// order) or trailing data is a 400, and messages speak of JSON, never of the Rust types.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b) if *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(AppError::BadRequest {
            detail: "the body must be a JSON object with named fields, like {\"field\": \"value\"}"
                .into(),
            errors: vec![FieldError::new("body", "must be a JSON object")],
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut *deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = client_terms(&inner.to_string());
        use serde_json::error::Category;
        match inner.classify() {
            Category::Data => {
                if let Some(field) = missing_field(&message) {
                    let field = if path == "." {
                        field
                    } else {
                        format!("{path}.{field}")
                    };
                    AppError::Validation(vec![FieldError::new(field, "is required")])
                } else {
                    let field = if path == "." {
                        "body".to_string()
                    } else {
                        path
                    };
                    AppError::bad_field(field, message)
                }
            }
            Category::Syntax | Category::Eof | Category::Io => AppError::BadRequest {
                detail: format!("the body is not valid JSON: {message}"),
                errors: vec![FieldError::new("body", "is not valid JSON")],
            },
        }
    })?;
    deserializer.end().map_err(|_| AppError::BadRequest {
        detail: "the body must hold one JSON value and nothing after it".into(),
        errors: vec![FieldError::new("body", "has data after the JSON value")],
    })?;
    Ok(value)
}

/// serde's message without its position and without the names of Rust types.
fn client_terms(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    match message.find("expected struct ") {
        Some(at) => format!("{}expected a JSON object", &message[..at]),
        None if message.starts_with("invalid length") => "must be a JSON object".to_string(),
        None => message.to_string(),
    }
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Clone, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 100, default 20.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn parse(self) -> Result<PageRequest, AppError> {
        PageRequest::parse(self.limit.as_deref(), self.cursor)
    }
}

/// A query string parsed into `T`, or a 400 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| AppError::bad_field("query", e.to_string()))
    }
}

/// Parses a path segment as a UUID, or 404: a malformed id names nothing that exists.
pub fn parse_id(raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

/// The addresses this front door answers: `/api/…`, the operations routes and calendar feeds.
pub fn owns(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path.starts_with("/ical/")
        || matches!(path, "/healthz" | "/readyz")
}

pub async fn not_found() -> Response {
    problem_response(StatusCode::NOT_FOUND, "no such route".into(), Vec::new())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "belong", description = "Business Resource Groups: directory, memberships, events, mentoring, reports."),
    components(schemas(Problem, FieldError)),
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

/// The routes and their OpenAPI document, gathered from the handlers' annotations and
/// completed with the error answers every route shares ([`doc::Answers`]).
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(admin::router())
        .merge(groups::router())
        .merge(events::router())
        .merge(mentoring::router())
        .merge(reports::router())
        .merge(ops::router())
        .split_for_parts();
    utoipa::Modify::modify(&doc::Answers, &mut openapi);
    (routes, openapi)
}

/// The API's routes, its OpenAPI document at `/api/openapi.json` and the interactive
/// documentation at `/api/docs`.
pub fn router() -> Router<AppState> {
    let (api, openapi) = routes();
    let doc = Arc::new(openapi);
    let served = doc.clone();
    let docs_page: Arc<str> = Scalar::new(doc.as_ref().clone())
        .custom_html(DOCS_HTML)
        .to_html()
        .into();
    api.route(
        "/api/openapi.json",
        get(move || async move { axum::Json(served.as_ref().clone()) }),
    )
    .route(
        "/api/docs",
        get(move || async move {
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CONTENT_SECURITY_POLICY, DOCS_POLICY),
                ],
                docs_page.to_string(),
            )
        }),
    )
    .route("/api/docs/scalar.js", get(docs_script))
}

/// The interactive reference: the document as inert JSON and the script from this service
/// (`assets/scalar/`), so the page runs under a policy without inline or outside scripts; the
/// browser's own fonts rather than the reference's default ones from elsewhere.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<title>belong API reference</title>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<script id="api-reference" type="application/json" data-configuration='{"withDefaultFonts":false}'>
$spec
</script>
<script src="/api/docs/scalar.js"></script>
</body>
</html>
"#;

/// The service's policy, plus the inline styles and data: images and fonts the reference
/// draws itself with. Scripts stay `'self'` only.
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'self'; object-src 'none'";

static DOCS_SCRIPT: &[u8] = include_bytes!("../../assets/scalar/api-reference.js");

async fn docs_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        DOCS_SCRIPT,
    )
        .into_response()
}

/// Error answers made outside our handlers (405 from the router, 413, timeouts) become
/// problem+json too, so every client of the API sees one error format. Other front doors
/// (the pages) answer their own errors.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let api = owns(request.uri().path());
    let response = next.run(request).await;
    if !api {
        return response;
    }
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
    if status == StatusCode::SERVICE_UNAVAILABLE {
        problem.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    #[test]
    fn a_missing_field_is_named() {
        match parse_json::<Login>(br#"{"email":"a@b.c"}"#) {
            Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "password"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_is_a_bad_request_naming_the_field() {
        match parse_json::<Login>(br#"{"email":1,"password":"x"}"#) {
            Err(AppError::BadRequest { errors, .. }) => assert_eq!(errors[0].field, "email"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_object_and_nothing_else() {
        for body in [
            &br#"{"email":"a@b.c","password":"x"} xx"#[..],
            br#"{"email":"a@b.c","password":"x"}{"email":"d@e.f","password":"y"}"#,
            br#"["a@b.c","x"]"#,
            b"[]",
            b"\"text\"",
        ] {
            match parse_json::<Login>(body) {
                Err(AppError::BadRequest { errors, detail }) => {
                    assert_eq!(errors[0].field, "body");
                    assert!(!detail.contains("Login"), "{detail}");
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(parse_json::<Login>(b" {\"email\":\"a\",\"password\":\"b\"}\n ").is_ok());
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Login>(b"{\"email\":"),
            Err(AppError::BadRequest { .. })
        ));
    }
}
