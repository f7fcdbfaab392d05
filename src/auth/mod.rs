//! Who is signed in: the credentials check, bearer tokens, throttling, and the `CurrentUser`
//! extractor. The extractor needs only the pool and the token keys (`FromRef`), not the
//! application's state type.

pub mod bearer;
pub mod client;
pub mod credentials;
pub mod throttle;
pub mod token;
pub mod web_session;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sqlx::PgPool;

use crate::accounts::principal::{self, CurrentUser};
use crate::auth::token::AccessTokens;
use crate::error::AppError;

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The bearer token's user, active now, with roles read from PostgreSQL on every request.
impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    PgPool: FromRef<S>,
    AccessTokens: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(AppError::Unauthorized)?;
        let user_id = AccessTokens::from_ref(state)
            .verify(token)
            .ok_or(AppError::Unauthorized)?;
        let user = principal::load_active(&PgPool::from_ref(state), user_id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        Ok(user)
    }
}
