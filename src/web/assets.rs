//! The one stylesheet, served under a name that carries a hash of its content, so that it can
//! be cached for a year and a changed stylesheet is a new address.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::state::AppState;

const STYLESHEET: &str = include_str!("../../static/belong.css");

static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    let hash = Sha256::digest(STYLESHEET.as_bytes());
    let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("/assets/belong-{hex}.css")
});

/// The stylesheet's address, for the layout.
pub fn stylesheet_path() -> &'static str {
    STYLESHEET_PATH.as_str()
}

async fn asset(Path(name): Path<String>) -> Response {
    if format!("/assets/{name}") != stylesheet_path() {
        return super::error_page(StatusCode::NOT_FOUND, None);
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(asset))
}
