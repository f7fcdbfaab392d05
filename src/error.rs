//! One error type for the whole service, answered as `application/problem+json` (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A field at fault in a request, by its JSON name.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed JSON, a wrong type, a bad query string.
    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed but invalid values.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unauthorized")]
    Unauthorized,
    /// A sign-in whose email or password is wrong (or whose account is deactivated).
    #[error("bad credentials")]
    BadCredentials,
    /// A refresh token that is unknown, expired, spent or of a deactivated account.
    #[error("bad refresh token")]
    BadRefreshToken,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many attempts")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The database cannot be reached or has no free connection.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// More passwords to check than the hashing slots could take within `auth.max_hash_wait_ms`:
    /// the request was refused before any hashing. Says nothing of the account.
    #[error("too busy to check a password")]
    Busy { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

/// What a 503 tells the client to wait before trying again (the database is away, or the
/// request took too long; a busy password hasher says its own).
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::BadRequest {
            detail: format!("`{}`: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized | Self::BadCredentials | Self::BadRefreshToken => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The seconds an answer tells its client to wait before trying again (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } | Self::Busy { retry_after_secs } => {
                Some((*retry_after_secs).max(1))
            }
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest { detail, .. } => detail.clone(),
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("invalid value for: {}", fields.join(", "))
            }
            Self::Unauthorized => "a valid access token is required".into(),
            Self::BadCredentials => "the email or the password is wrong".into(),
            Self::BadRefreshToken => {
                "the refresh token is unknown, expired or already used; sign in again".into()
            }
            Self::Forbidden => "you are not allowed to do this".into(),
            Self::NotFound => "no such resource".into(),
            Self::Conflict(detail) => detail.clone(),
            Self::TooManyRequests { retry_after_secs } => {
                format!("too many attempts; try again in {retry_after_secs} seconds")
            }
            Self::PayloadTooLarge => "the request body is too large".into(),
            Self::UnsupportedMediaType => "send the body as application/json".into(),
            Self::Unavailable(_) => "the service cannot reach its database; try again".into(),
            Self::Busy { .. } => {
                "too many passwords are being checked right now; try again in a few seconds".into()
            }
            Self::Internal(_) => "something went wrong on our side; it has been logged".into(),
        }
    }
}

/// Builds a problem answer for a status that has no richer error behind it.
pub fn problem_response(status: StatusCode, detail: String, errors: Vec<FieldError>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_string();
    let body = Problem {
        kind: "about:blank".into(),
        title,
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable")
            }
            _ => {}
        }
        let detail = self.detail();
        let retry_after = self.retry_after_secs();
        let unauthorized = matches!(self, Self::Unauthorized);
        let errors = match self {
            Self::Validation(errors) | Self::BadRequest { errors, .. } => errors,
            _ => Vec::new(),
        };
        let mut response = problem_response(status, detail, errors);
        let headers = response.headers_mut();
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error.into()),
            // Two writes that waited on each other (a deadlock, such as two leads demoting each
            // other at the same moment) or a serialisation failure: PostgreSQL rolled one back.
            // Nothing was written; the client may try again.
            sqlx::Error::Database(ref db)
                if matches!(db.code().as_deref(), Some("40P01") | Some("40001")) =>
            {
                Self::Conflict("a simultaneous change to the same data won; try again".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// Turns a violated constraint, by name, into the client's error.
pub trait ResultExt<T> {
    fn on_constraint(self, name: &str, to_error: impl FnOnce() -> AppError) -> Result<T, AppError>;
}

impl<T, E: Into<AppError>> ResultExt<T> for Result<T, E> {
    fn on_constraint(self, name: &str, to_error: impl FnOnce() -> AppError) -> Result<T, AppError> {
        self.map_err(|e| match e.into() {
            AppError::Internal(cause) => match cause.downcast_ref::<sqlx::Error>() {
                Some(sqlx::Error::Database(db)) if db.constraint() == Some(name) => to_error(),
                _ => AppError::Internal(cause),
            },
            other => other,
        })
    }
}
