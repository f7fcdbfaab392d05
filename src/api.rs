//! What every JSON route shares: the body extractor with problem+json rejections, list
//! pagination with opaque cursors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AppError, FieldError};

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
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    AppError::bad_request("the request body could not be read")
                }
            })?;
        parse_json(&bytes).map(Json)
    }
}

/// Deserializes a JSON body, turning serde's complaint into the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
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
    })
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
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

impl PageParams {
    pub fn limit(&self) -> Result<i64, AppError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(DEFAULT_LIMIT),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(AppError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    /// Decodes the cursor into the key the list was sorted by.
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, AppError> {
        let Some(raw) = self.cursor.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let bad = || AppError::invalid("cursor", "is not a cursor this service gave out");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        // PostgreSQL text cannot hold NUL; no cursor of ours contains one.
        if bytes.windows(6).any(|w| w == b"\\u0000") {
            return Err(bad());
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
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
    fn broken_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Login>(b"{\"email\":"),
            Err(AppError::BadRequest { .. })
        ));
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        for bad in ["0", "101", "-1", "ten"] {
            let p = PageParams {
                limit: Some(bad.into()),
                cursor: None,
            };
            assert!(p.limit().is_err(), "{bad}");
        }
        assert_eq!(PageParams::default().limit().ok(), Some(20));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let p = PageParams {
            limit: None,
            cursor: Some(encode_cursor(&("x", 3))),
        };
        assert_eq!(
            p.cursor::<(String, i32)>().ok().flatten(),
            Some(("x".into(), 3))
        );
        let p = PageParams {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert!(p.cursor::<(String, i32)>().is_err());
    }
}

/// Parses an instant a client sent: RFC 3339 (`2026-05-01T09:00:00Z`), or a date
/// (`2026-05-01`, meaning its midnight UTC). Names the field when it is neither.
pub fn parse_instant(field: &str, raw: &str) -> Result<time::OffsetDateTime, AppError> {
    use time::format_description::well_known::Rfc3339;
    let raw = raw.trim();
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let parsed = time::OffsetDateTime::parse(raw, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .or_else(|_| time::Date::parse(raw, &date_format).map(|d| d.midnight().assume_utc()))
        .map_err(|_| {
            AppError::invalid(
                field,
                "must be a date (2026-05-01) or an RFC 3339 time (2026-05-01T09:00:00Z)",
            )
        })?;
    // Far outside any plausible calendar, and beyond what PostgreSQL's timestamps hold.
    if !(1900..=9999).contains(&parsed.year()) {
        return Err(AppError::invalid(
            field,
            "must be a year between 1900 and 9999",
        ));
    }
    Ok(parsed)
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod instant_tests {
    use super::*;

    #[test]
    fn instants_and_dates_parse_and_garbage_names_the_field() {
        assert_eq!(
            parse_instant("from", "2026-05-01")
                .unwrap()
                .unix_timestamp(),
            1_777_593_600
        );
        assert_eq!(
            parse_instant("from", "2026-05-01T02:00:00+02:00")
                .unwrap()
                .unix_timestamp(),
            1_777_593_600
        );
        match parse_instant("to", "yesterday") {
            Err(AppError::Validation(e)) => assert_eq!(e[0].field, "to"),
            other => panic!("{other:?}"),
        }
        assert!(parse_instant("to", "2026-02-30").is_err());
        assert!(parse_instant("from", "-9999-01-01").is_err());
        assert!(parse_instant("from", "+10000-01-01T00:00:00Z").is_err());
    }
}
