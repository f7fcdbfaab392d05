//! The auth API: register, login, refresh, logout, me.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::registration::Registration;
use crate::accounts::{self, CurrentUser, User};
use crate::api::{Json, doc};
use crate::auth::bearer::{self, TokenPair};
use crate::auth::client::ClientAddr;
use crate::auth::credentials;
use crate::error::{AppError, AppResult};
use crate::groups::memberships::{self, MyMembership};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    email: String,
    /// 12 to 128 characters.
    #[schema(value_type = String)]
    password: SecretString,
    display_name: String,
    department: Option<String>,
    location: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = User), (status = 403, description = "registration is closed"),
              (status = 409, description = "email taken"), (status = 422, response = doc::Unprocessable),
              (status = 429, description = "too many registrations from this address; see Retry-After"),
              (status = 503, description = "the database cannot be reached, or no password hashing slot was free within `auth.max_hash_wait_ms` (not counted against the limit); see Retry-After")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<RegisterRequest>,
) -> AppResult<(StatusCode, Json<User>)> {
    let form = Registration {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        department: body.department,
        location: body.location,
    };
    let user =
        credentials::register(&state.pool, &state.hasher, &state.settings, client, form).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    #[schema(value_type = String)]
    password: SecretString,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, response = doc::Unauthorized),
              (status = 404, description = "password sign-in is turned off (`auth.password_login = false`: single sign-on only)"),
              (status = 429, description = "too many failures for this email or from this address; see Retry-After"),
              (status = 503, description = "the database cannot be reached, or no password hashing slot was free within `auth.max_hash_wait_ms`, whether the email has an account or not (not counted against the limits); see Retry-After")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<LoginRequest>,
) -> AppResult<Json<TokenPair>> {
    let user_id = credentials::check(
        &state.pool,
        &state.hasher,
        &state.settings.auth,
        client,
        &body.email,
        &body.password,
    )
    .await?;
    Ok(Json(
        bearer::start(&state.pool, &state.tokens, &state.settings, user_id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    refresh_token: SecretString,
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "unknown, expired or spent (the family is revoked)")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> AppResult<Json<TokenPair>> {
    Ok(Json(
        bearer::refresh(
            &state.pool,
            &state.tokens,
            &state.settings,
            &body.refresh_token,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "signed out")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> AppResult<StatusCode> {
    bearer::logout(&state.pool, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account and memberships.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    pub memberships: Vec<MyMembership>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, response = doc::Unauthorized)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn me(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<Me>> {
    let profile = accounts::find(&state.pool, user.id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let memberships = memberships::mine(&state.pool, user.id).await?;
    Ok(Json(Me {
        user: profile,
        memberships,
    }))
}
