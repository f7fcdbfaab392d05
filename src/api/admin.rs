//! The admin API: thin adapters over `users` and `audit`.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{self, CurrentUser, User};
use crate::api::{Json, PageParams, Query, doc, parse_id};
use crate::audit::AuditEntry;
use crate::error::AppResult;
use crate::lifecycle;
use crate::paging::Page;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(set_roles))
        .routes(routes!(deactivate))
        .routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Part of an email or display name; no control characters.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    q: Option<String>,
    /// 1 to 100, default 20.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(UserListParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<User>), (status = 401, response = doc::Unauthorized), (status = 403, response = doc::Forbidden)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_users(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<UserListParams>,
) -> AppResult<Json<Page<User>>> {
    let admin = user.admin()?;
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .parse()?;
    Ok(Json(
        accounts::list(&state.pool, &admin, params.q.as_deref(), &page).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetRoles {
    /// Any of `employee` (implicit), `hr`, `admin`; roles left out are revoked.
    roles: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/admin/users/{id}/roles", tag = "admin", request_body = SetRoles,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound), (status = 409, description = "the last admin"), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn set_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<SetRoles>,
) -> AppResult<Json<User>> {
    let admin = user.admin()?;
    let id = parse_id(&id)?;
    let roles = accounts::parse_roles(&body.roles)?;
    Ok(Json(
        accounts::set_roles(&state.pool, &admin, id, &roles).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound), (status = 409, description = "the last admin")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn deactivate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<User>> {
    let admin = user.admin()?;
    let id = parse_id(&id)?;
    Ok(Json(lifecycle::deactivate(&state.pool, &admin, id).await?))
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<AuditEntry>), (status = 403, response = doc::Forbidden)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<AuditEntry>>> {
    let admin = user.admin()?;
    Ok(Json(
        accounts::audit_log(&state.pool, &admin, &page.parse()?).await?,
    ))
}
