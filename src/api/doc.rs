//! The error answers of the OpenAPI document, declared once.
//!
//! Every error is `application/problem+json` with a [`Problem`] body; 401 says
//! `WWW-Authenticate: Bearer`, 429 and 503 say `Retry-After`. Each status has one reusable
//! response here (`components.responses`). A route names the errors that its own rules give
//! (`(status = 404, response = doc::NotFound)`, or `(status = 409, description = "slug taken")`
//! where it has more to say: [`Answers`] gives such an answer the same body and headers), and
//! [`Answers`] adds to every operation the errors that the shared machinery gives it:
//!
//! - every operation: 408 (the request timed out), 414 (the address is too long), 503 (the
//!   database cannot be reached; the routes that check a password describe their own 503, which
//!   also says that no hashing slot was free within `auth.max_hash_wait_ms`);
//! - with a bearer token: 401 (no token, or one that is not valid any more);
//! - with parameters: 400 (a path or query that cannot be read), 404 with path parameters
//!   (nothing by that name), 422 with query parameters (a value out of its range, a cursor
//!   this service did not give out);
//! - with a JSON body: 400 (not JSON, a wrong type), 413 (larger than `server.max_body_bytes`),
//!   415 (not `application/json`), 422 (a field missing or invalid).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Components, OpenApi, RefOr};
use utoipa::{Modify, ToResponse};

use crate::error::Problem;

/// The request cannot be read: malformed JSON, a value of the wrong type, a path or query
/// string that cannot be parsed. `errors` names the field at fault.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// No access token, or one that is not valid (any more).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized(pub Problem);

/// The caller may not do this.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// Nothing by that name, or nothing the caller may see.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The request is at odds with the current state; `detail` says how.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// The request took longer than `server.request_timeout_secs`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct RequestTimeout(pub Problem);

/// The body is larger than `server.max_body_bytes`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// The address (path and query) is longer than 8192 bytes.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UriTooLong(pub Problem);

/// The body is not sent as `application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// A value is missing or invalid; `errors` names each field at fault.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(pub Problem);

/// Too many attempts; try again after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait before trying again"))
)]
pub struct TooManyRequests(pub Problem);

/// The database cannot be reached (or, where a password is checked, the hashing slots are all
/// busy); try again after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait before trying again"))
)]
pub struct Unavailable(pub Problem);

/// The shared response of an error status, as `(component name, response)`.
fn shared(status: &str) -> Option<(&'static str, RefOr<utoipa::openapi::Response>)> {
    Some(match status {
        "400" => BadRequest::response(),
        "401" => Unauthorized::response(),
        "403" => Forbidden::response(),
        "404" => NotFound::response(),
        "408" => RequestTimeout::response(),
        "409" => Conflict::response(),
        "413" => PayloadTooLarge::response(),
        "414" => UriTooLong::response(),
        "415" => UnsupportedMediaType::response(),
        "422" => Unprocessable::response(),
        "429" => TooManyRequests::response(),
        "503" => Unavailable::response(),
        _ => return None,
    })
}

const SHARED: [&str; 12] = [
    "400", "401", "403", "404", "408", "409", "413", "414", "415", "422", "429", "503",
];

/// Registers the shared responses and completes every operation's error answers (see the
/// module's documentation).
pub struct Answers;

impl Modify for Answers {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::default);
        for status in SHARED {
            if let Some((name, response)) = shared(status) {
                components.responses.insert(name.to_string(), response);
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation);
            }
        }
    }
}

/// The statuses the shared machinery may answer `operation` with.
fn machinery(operation: &Operation) -> Vec<&'static str> {
    let params = operation.parameters.as_deref().unwrap_or_default();
    let in_path = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let mut statuses = vec!["408", "414", "503"];
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        statuses.push("401");
    }
    if !params.is_empty() || operation.request_body.is_some() {
        statuses.push("400");
    }
    if in_path {
        statuses.push("404");
    }
    if params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query))
    {
        statuses.push("422");
    }
    if operation.request_body.is_some() {
        statuses.extend(["413", "415", "422"]);
    }
    statuses
}

fn complete(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    // Answers a route describes in its own words get the shared body and headers.
    for (status, answer) in responses.iter_mut() {
        let (Some((name, RefOr::T(shared))), RefOr::T(own)) = (shared(status), &mut *answer) else {
            continue;
        };
        if own.description.is_empty() {
            *answer = RefOr::Ref(utoipa::openapi::Ref::from_response_name(name));
        } else {
            own.content = shared.content;
            own.headers = shared.headers;
        }
    }
    for status in machinery(operation) {
        let responses = &mut operation.responses.responses;
        if let Some((name, _)) = shared(status) {
            responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(utoipa::openapi::Ref::from_response_name(name)));
        }
    }
}
