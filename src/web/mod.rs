//! The web pages, a front door beside the JSON API over the same domain functions: handlers
//! parse a form or a query string, call one domain function and render a template. This
//! module holds what every page shares: the page chrome (layout, navigation, the one-time
//! banner), rendering, HTML error pages, the cross-origin check on every POST, and the routes.

pub mod assets;
pub mod form;
pub mod pages;
pub mod session;

use askama::Template;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::config::Settings;
use crate::error::AppError;
use crate::state::AppState;

pub use form::Errors;
pub use session::Signed;

/// One link of the main navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the layout shows around every page.
pub struct Chrome {
    pub title: String,
    pub css: &'static str,
    pub user_name: Option<String>,
    pub nav: Vec<NavLink>,
    pub csrf: String,
    pub flash: Option<String>,
}

/// Which part of the site a page belongs to, for `aria-current` in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    None,
    SignIn,
    Groups,
    MyGroups,
    MyEvents,
    MyMentoring,
    Calendar,
    Reports,
    Admin,
}

/// The links every employee has, in the order the navigation shows them.
const EMPLOYEE_LINKS: [(&str, &str, Section); 5] = [
    ("/", "Groups", Section::Groups),
    ("/me/groups", "My groups", Section::MyGroups),
    ("/me/events", "My events", Section::MyEvents),
    ("/me/mentoring", "My mentoring", Section::MyMentoring),
    ("/me/calendar", "Calendar feed", Section::Calendar),
];

fn nav(links: &[(&'static str, &'static str, Section)], section: Section) -> Vec<NavLink> {
    links
        .iter()
        .map(|&(href, label, of)| NavLink {
            href,
            label,
            current: of == section,
        })
        .collect()
}

impl Chrome {
    /// The chrome of a signed-in page: the navigation shows only what this person may use.
    pub fn signed(signed: &mut Signed, title: impl Into<String>, section: Section) -> Self {
        let user = &signed.user;
        let mut links = EMPLOYEE_LINKS.to_vec();
        if user.report_reader().is_ok() {
            links.push(("/reports", "Reports", Section::Reports));
        }
        if user.admin().is_ok() {
            links.push(("/admin/users", "Admin", Section::Admin));
        }
        Self {
            title: title.into(),
            css: assets::stylesheet_path(),
            user_name: Some(user.display_name.clone()),
            nav: nav(&links, section),
            csrf: signed.session.csrf_token.clone(),
            flash: signed.session.flash.take(),
        }
    }

    /// The chrome of a page for someone not signed in: the navigation offers to sign in
    /// (except on the sign-in page itself, whose button is the one way in).
    pub fn anonymous(title: impl Into<String>, section: Section) -> Self {
        let links: &[_] = if section == Section::SignIn {
            &[]
        } else {
            &[("/login", "Sign in", Section::SignIn)]
        };
        Self {
            title: title.into(),
            css: assets::stylesheet_path(),
            user_name: None,
            nav: nav(links, section),
            csrf: String::new(),
            flash: None,
        }
    }

    /// The chrome of an error page for someone whose session could not be read (the database
    /// may be what failed): the links every employee has, without the sign-out form, whose
    /// token lives in the session.
    fn employee(title: impl Into<String>) -> Self {
        Self {
            nav: nav(&EMPLOYEE_LINKS, Section::None),
            ..Self::anonymous(title, Section::None)
        }
    }

    /// A form shown again with errors: the title starts with "Error: ".
    pub fn with_errors(mut self, errors: &Errors) -> Self {
        if !errors.is_empty() {
            self.title = format!("Error: {}", self.title);
        }
        self
    }
}

/// Renders a page with a status. Pages are never cached: they show personal data.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; it has been logged.\n",
            )
                .into_response()
        }
    }
}

/// Renders a page with 200.
pub fn ok(page: &impl Template) -> Response {
    render(StatusCode::OK, page)
}

/// Post/Redirect/Get: a 303 to the page that shows the result.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The layout's error page: 404, 403, 409, 503 and the rest, in plain words.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
}

/// What an error page says. A handler's error answer carries it, without a body, for the
/// layer [`error_pages`] to draw in the layout with the navigation of the person who asked.
#[derive(Debug, Clone)]
pub struct ErrorText {
    heading: &'static str,
    message: String,
}

impl ErrorText {
    fn of(status: StatusCode, detail: Option<String>) -> Self {
        let (heading, message) = match status {
            StatusCode::NOT_FOUND => (
                "Page not found",
                "If you typed the web address, check it is correct. If you followed a link, the page may have moved, or you may not have access to it.".to_string(),
            ),
            StatusCode::FORBIDDEN => (
                "This request was refused",
                "The form did not come from this site, or it was too old. Go back, reload the page and try again.".to_string(),
            ),
            StatusCode::CONFLICT => (
                "That could not be done",
                detail.unwrap_or_else(|| "Something changed in the meantime. Go back and try again.".into()),
            ),
            StatusCode::TOO_MANY_REQUESTS => (
                "Too many attempts",
                "Wait a few minutes, then try again.".to_string(),
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "Sorry, the service is unavailable",
                "The service cannot answer right now. Try again in a few minutes.".to_string(),
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "That took too long",
                "The service did not answer in time. Try again in a moment.".to_string(),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "This page cannot do that",
                "Go back and use the page's own buttons and links.".to_string(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "What you sent is too long",
                "Go back, shorten the text and try again.".to_string(),
            ),
            s if s.is_client_error() => (
                "That could not be done",
                detail.unwrap_or_else(|| "Go back and try again.".into()),
            ),
            _ => (
                "Sorry, there is a problem with the service",
                "Something went wrong on our side; it has been logged. Try again later.".to_string(),
            ),
        };
        Self { heading, message }
    }
}

/// An error answered by a page in the layout (drawn by [`error_pages`]).
pub fn error_page(status: StatusCode, detail: Option<String>) -> Response {
    error_with(status, ErrorText::of(status, detail))
}

/// An error answered by a page in the layout with the handler's own words: what went wrong,
/// in plain words.
pub fn problem_page(status: StatusCode, heading: &'static str, message: String) -> Response {
    error_with(status, ErrorText { heading, message })
}

fn error_with(status: StatusCode, text: ErrorText) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(text);
    response
}

/// The chrome of an error page: the navigation of the person whose session cookie came with
/// the request, or the sign-in link. A server error or a request out of time does not read the
/// session: the database may be what failed, so the page shows the links every employee has.
async fn error_chrome(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
) -> Chrome {
    let settings = &state.settings;
    if session::token_from(headers, settings).is_none() {
        return Chrome::anonymous(title, Section::None);
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Chrome::employee(title);
    }
    match Signed::find(&state.pool, settings, &state.principals, headers, false).await {
        Ok(Some(mut signed)) => Chrome::signed(&mut signed, title, Section::None),
        Ok(None) => Chrome::anonymous(title, Section::None),
        Err(_) => Chrome::employee(title),
    }
}

/// Draws an error page in the layout, keeping the headers of the answer it replaces
/// (`Retry-After`, `Allow`).
async fn draw_error(
    state: &AppState,
    headers: &HeaderMap,
    answer: &HeaderMap,
    status: StatusCode,
    text: ErrorText,
) -> Response {
    let page = ErrorPage {
        chrome: error_chrome(state, headers, status, text.heading).await,
        heading: text.heading.into(),
        message: text.message,
    };
    let mut response = render(status, &page);
    for (name, value) in answer {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !response.headers().contains_key(name)
        {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// An error answered by a page: sign in again, a page in the layout, or a plain redirect.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended, or the account was deactivated).
    SignIn,
    /// A form without this session's CSRF token.
    Csrf,
    App(AppError),
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(error: sqlx::Error) -> Self {
        Self::App(error.into())
    }
}

pub type PageResult = Result<Response, PageError>;

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn => see_other("/login"),
            PageError::Csrf => error_page(StatusCode::FORBIDDEN, None),
            PageError::App(AppError::Unauthorized) => see_other("/login"),
            // A page someone may not use does not exist for them.
            PageError::App(AppError::Forbidden) => error_page(StatusCode::NOT_FOUND, None),
            PageError::App(AppError::Conflict(detail)) => {
                error_page(StatusCode::CONFLICT, Some(sentence(&detail)))
            }
            PageError::App(AppError::Validation(errors)) => {
                let detail = errors
                    .iter()
                    .map(|e| form::message_for(&e.field, &e.message))
                    .collect::<Vec<_>>()
                    .join(" ");
                error_page(StatusCode::UNPROCESSABLE_ENTITY, Some(detail))
            }
            PageError::App(error) => {
                let status = error.status();
                let mut page = match error {
                    AppError::Busy { .. } => problem_page(
                        status,
                        "The service is busy",
                        "Too many people are signing in right now. Try again in a few seconds."
                            .to_string(),
                    ),
                    _ => error_page(status, None),
                };
                if status.is_server_error() {
                    // Logs the cause; the page says nothing of it, but keeps `Retry-After`.
                    let logged = error.into_response();
                    if let Some(retry) = logged.headers().get(header::RETRY_AFTER) {
                        page.headers_mut()
                            .insert(header::RETRY_AFTER, retry.clone());
                    }
                }
                page
            }
        }
    }
}

/// A domain message as a sentence: capitalised, with a full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A time as people read it, in UTC.
pub fn when(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// A date as people read it.
pub fn day(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_default()
}

/// No page at this address (the application's fallback outside the API's addresses).
pub async fn not_found(state: &AppState, headers: &HeaderMap) -> Response {
    let status = StatusCode::NOT_FOUND;
    let mut response = draw_error(
        state,
        headers,
        &HeaderMap::new(),
        status,
        ErrorText::of(status, None),
    )
    .await;
    add_security_headers(response.headers_mut());
    response
}

/// A POST whose `Origin` is another site's, or (without `Origin`) whose `Sec-Fetch-Site` says
/// it came from another site, is refused before any handler runs: a form elsewhere can never
/// act for someone signed in here. The CSRF token in every form is the second lock.
pub async fn same_origin_posts(
    State(settings): State<Arc<Settings>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && !same_origin(request.headers(), &settings.server.public_url)
    {
        tracing::warn!("a cross-origin form post was refused");
        return error_page(StatusCode::FORBIDDEN, None);
    }
    next.run(request).await
}

fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if origin.eq_ignore_ascii_case(public_url) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => matches!(site, "same-origin" | "none"),
        // Neither header: not a browser's cross-site form (browsers send Origin on POST).
        None => true,
    }
}

/// Every error answer of the pages becomes a page in the layout, with the navigation of the
/// person who asked: the handlers' own (which carry their [`ErrorText`]) and those made
/// outside them (405 from the router, 413, a refused cross-origin post).
pub async fn error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Only the session cookie is needed to draw the navigation.
    let mut headers = HeaderMap::new();
    for cookie in request.headers().get_all(header::COOKIE) {
        headers.append(header::COOKIE, cookie.clone());
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = match response.extensions().get::<ErrorText>() {
        Some(text) => text.clone(),
        None => {
            let is_html = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
            if is_html {
                return response;
            }
            ErrorText::of(status, None)
        }
    };
    draw_error(&state, &headers, response.headers(), status, text).await
}

/// Headers every page carries: no framing, no script or style from elsewhere.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    add_security_headers(response.headers_mut());
    response
}

fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The pages' routes, with their own error pages, headers and cross-origin check.
pub fn router(state: &AppState) -> Router<AppState> {
    pages::routes()
        .merge(assets::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.settings.clone(),
            same_origin_posts,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error_pages,
        ))
        .layer(axum::middleware::from_fn(security_headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::PgPool;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn posts_from_other_sites_are_told_apart() {
        let public = "https://belong.example.com";
        assert!(same_origin(
            &headers(&[("origin", "https://belong.example.com")]),
            public
        ));
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:9000"),
                ("host", "127.0.0.1:9000")
            ]),
            public
        ));
        assert!(!same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:9000")
            ]),
            public
        ));
        assert!(!same_origin(&headers(&[("origin", "null")]), public));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            public
        ));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "same-site")]),
            public
        ));
        assert!(same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            public
        ));
    }

    fn links(chrome: &Chrome) -> Vec<&str> {
        chrome.nav.iter().map(|l| l.label).collect()
    }

    #[tokio::test]
    async fn error_pages_show_a_sign_in_link_or_the_links_every_employee_has() {
        let settings = Settings::defaults_for(crate::config::Environment::Test).unwrap();
        // Never connected: these pages must not need the database.
        let pool = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let state = AppState::new(settings, pool).unwrap();
        let anonymous = error_chrome(
            &state,
            &HeaderMap::new(),
            StatusCode::NOT_FOUND,
            "Page not found",
        )
        .await;
        assert_eq!(links(&anonymous), ["Sign in"]);
        assert_eq!(anonymous.user_name, None);
        let cookie = headers(&[("cookie", "belong_session=abc")]);
        for status in [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            let chrome = error_chrome(&state, &cookie, status, "Sorry").await;
            assert_eq!(
                links(&chrome),
                [
                    "Groups",
                    "My groups",
                    "My events",
                    "My mentoring",
                    "Calendar feed"
                ],
                "{status}"
            );
            assert_eq!(
                chrome.csrf, "",
                "no sign-out form without the session's token"
            );
        }
    }

    #[test]
    fn domain_messages_become_sentences() {
        assert_eq!(
            sentence("this event is cancelled"),
            "This event is cancelled."
        );
        assert_eq!(sentence(""), "");
    }
}
