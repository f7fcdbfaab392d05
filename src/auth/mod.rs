//! Who is signed in: the credentials check, single sign-on, bearer tokens, throttling, the
//! principals of recent requests, and the `CurrentUser` extractor. The extractor needs only the
//! pool, the token keys and the principals (`FromRef`), not the application's state type.

pub mod bearer;
pub mod client;
pub mod credentials;
pub mod oidc;
pub mod principals;
pub mod throttle;
pub mod token;
pub mod web_session;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sqlx::PgPool;

use crate::accounts::principal::CurrentUser;
use crate::auth::principals::Principals;
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

/// The bearer token's user, active now, in a live session, with their roles as PostgreSQL
/// holds them (through the principals' cache, which every change reaches before it is
/// answered).
impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    PgPool: FromRef<S>,
    AccessTokens: FromRef<S>,
    Principals: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(AppError::Unauthorized)?;
        let verified = AccessTokens::from_ref(state)
            .verify(token)
            .ok_or(AppError::Unauthorized)?;
        let user = Principals::from_ref(state)
            .load(
                &PgPool::from_ref(state),
                verified.user_id,
                Some(verified.session_id),
            )
            .await?
            .ok_or(AppError::Unauthorized)?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        Ok(user)
    }
}
