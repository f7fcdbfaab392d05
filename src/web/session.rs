//! The session cookie and the `Signed` extractor. The cookie is `HttpOnly` and `SameSite=Lax`;
//! when the service is reached over https it is also `Secure` with the `__Host-` prefix (no
//! other host or path can set it). Only the pages read it: the JSON API takes bearer tokens
//! alone, and these pages never look at an `Authorization` header.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use std::sync::Arc;

use crate::accounts::CurrentUser;
use crate::auth::principals::Principals;
use crate::auth::web_session::{self, WebSession};
use crate::config::Settings;
use crate::web::PageError;

/// The session cookie's name (over https, with the `__Host-` prefix).
const SESSION: &str = "belong_session";

fn is_https(settings: &Settings) -> bool {
    settings.server.public_url.starts_with("https://")
}

/// A cookie's name: over https, `__Host-` and the base name, so that no other host or path can
/// set it.
pub fn cookie_name(settings: &Settings, base: &str) -> String {
    if is_https(settings) {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// A `Set-Cookie` value of the pages: `HttpOnly`, `SameSite=Lax`, the whole site, `Secure` over
/// https; without `max_age`, a cookie for the browser's session.
pub fn cookie(settings: &Settings, base: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if is_https(settings) { "; Secure" } else { "" };
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let value = format!(
        "{}={value}; Path=/{max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(settings, base)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of the cookie named from `base` that the browser sent, if any (and not empty).
pub fn read_cookie(headers: &HeaderMap, settings: &Settings, base: &str) -> Option<String> {
    let name = cookie_name(settings, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value that hands a new session to the browser. A session cookie (no
/// `Max-Age`): the server ends it on idle, at its absolute expiry, at sign-out.
pub fn set_cookie(settings: &Settings, token: &SecretString) -> HeaderValue {
    cookie(settings, SESSION, token.expose_secret(), None)
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(settings: &Settings) -> HeaderValue {
    cookie(settings, SESSION, "", Some(0))
}

/// The session token the browser sent, if any.
pub fn token_from(headers: &HeaderMap, settings: &Settings) -> Option<SecretString> {
    read_cookie(headers, settings, SESSION).map(SecretString::from)
}

/// The signed-in person of a page: a live web session and an active account, with roles as
/// PostgreSQL holds them (through the principals' cache). Without one, the page answers with the sign-in page.
#[derive(Debug, Clone)]
pub struct Signed {
    pub user: CurrentUser,
    pub session: WebSession,
}

impl Signed {
    /// The signed-in person of a request's session cookie, if it names a live session of an
    /// active account. With `take_flash` the one-time banner is handed over (and cleared).
    pub async fn find(
        pool: &PgPool,
        settings: &Settings,
        principals: &Principals,
        headers: &HeaderMap,
        take_flash: bool,
    ) -> Result<Option<Signed>, PageError> {
        let Some(token) = token_from(headers, settings) else {
            return Ok(None);
        };
        let Some(session) = web_session::find(pool, &settings.auth, &token, take_flash).await?
        else {
            return Ok(None);
        };
        let Some(user) = principals.load(pool, session.user_id, None).await? else {
            return Ok(None);
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        Ok(Some(Signed { user, session }))
    }

    /// Leaves the one-time banner for the page the next redirect shows.
    pub async fn flash(&self, pool: &PgPool, message: &str) -> Result<(), PageError> {
        web_session::set_flash(pool, self.session.id, message).await?;
        Ok(())
    }
}

impl<S> FromRequestParts<S> for Signed
where
    S: Send + Sync,
    PgPool: FromRef<S>,
    Arc<Settings>: FromRef<S>,
    Principals: FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let settings = Arc::<Settings>::from_ref(state);
        let pool = PgPool::from_ref(state);
        // The one-time banner belongs to the page shown after a redirect, never to a POST.
        let take_flash = parts.method == Method::GET;
        let principals = Principals::from_ref(state);
        Signed::find(&pool, &settings, &principals, &parts.headers, take_flash)
            .await?
            .ok_or(PageError::SignIn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    #[test]
    fn https_cookies_are_secure_and_host_prefixed() {
        let mut settings = Settings::defaults_for(Environment::Test).unwrap();
        let token = SecretString::from("abc");
        let plain = set_cookie(&settings, &token);
        assert_eq!(
            plain.to_str().unwrap(),
            "belong_session=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            clear_cookie(&settings).to_str().unwrap(),
            "belong_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        settings.server.public_url = "https://belong.example.com".into();
        let secure = set_cookie(&settings, &token);
        assert_eq!(
            secure.to_str().unwrap(),
            "__Host-belong_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            cookie(&settings, "belong_oidc", "s", Some(600))
                .to_str()
                .unwrap(),
            "__Host-belong_oidc=s; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; __Host-belong_session=abc"),
        );
        assert_eq!(
            token_from(&headers, &settings).map(|t| t.expose_secret().to_string()),
            Some("abc".into())
        );
    }
}
