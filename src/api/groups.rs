//! The groups API: thin adapters over `directory`, `memberships` and `roster`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::CurrentUser;
use crate::api::{Json, PageParams, Query, doc, parse_id};
use crate::error::{AppError, AppResult};
use crate::groups::directory::{self, GroupDetail, GroupListItem};
use crate::groups::editing::{self, GroupFields};
use crate::groups::memberships::{self, JoinChoice, Joined, MemberChange, MyMembership};
use crate::groups::notice::{self, NoticeEdit, PrivacyNotice};
use crate::groups::roster::{self, RosterEntry};
use crate::groups::{MembershipRole, MembershipType, Visibility};
use crate::lifecycle;
use crate::paging::Page;
use crate::reports;
use crate::state::AppState;
use crate::whole::Whole;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group))
        .routes(routes!(archive_group))
        .routes(routes!(join, leave))
        .routes(routes!(list_members))
        .routes(routes!(members_csv))
        .routes(routes!(change_member, remove_member))
        .routes(routes!(get_privacy_notice, put_privacy_notice))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupListParams {
    /// Words to look for in the name, tagline and mission (prefixes match); no control
    /// characters.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    q: Option<String>,
    /// 1 to 100, default 20.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(GroupListParams), security(("bearer" = [])),
    responses((status = 200, body = Page<GroupListItem>), (status = 401, response = doc::Unauthorized)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_groups(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<GroupListParams>,
) -> AppResult<Json<Page<GroupListItem>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .parse()?;
    Ok(Json(
        directory::list(&state.pool, &user, params.q.as_deref(), &page).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupFields, security(("bearer" = [])),
    responses((status = 201, body = GroupDetail), (status = 403, response = doc::Forbidden), (status = 409, description = "slug taken"), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_group(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<GroupFields>,
) -> AppResult<(StatusCode, Json<GroupDetail>)> {
    let slug = editing::create(&state.pool, &user.admin()?, body).await?;
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    Ok((
        StatusCode::CREATED,
        Json(directory::detail(&state.pool, &group).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/groups/{slug}", tag = "groups", params(("slug" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = GroupDetail), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn get_group(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Json<GroupDetail>> {
    let (_, detail) = directory::show(&state.pool, &user, &slug).await?;
    Ok(Json(detail))
}

#[utoipa::path(patch, path = "/api/v1/groups/{slug}", tag = "groups", params(("slug" = String, Path)), request_body = GroupFields,
    security(("bearer" = [])),
    responses((status = 200, body = GroupDetail), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn update_group(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Json(body): Json<GroupFields>,
) -> AppResult<Json<GroupDetail>> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    editing::update(&state.pool, &group, body).await?;
    Ok(Json(directory::detail(&state.pool, &group).await?))
}

#[utoipa::path(post, path = "/api/v1/groups/{slug}/archive", tag = "groups", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = GroupDetail), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn archive_group(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Json<GroupDetail>> {
    let admin = user.admin()?;
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    editing::archive(&state.pool, &admin, &group).await?;
    Ok(Json(directory::detail(&state.pool, &group).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct JoinRequest {
    /// `member` or `ally`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(member|ally)$")]
    kind: Option<String>,
    /// `public`, `members` (the default for a new membership) or `private`.
    #[schema(pattern = "^(public|members|private)$")]
    visibility: Option<String>,
    /// The version of the group's privacy notice the caller accepted: required to join a group
    /// that has one, and then equal to its current version.
    #[schema(value_type = Option<i64>)]
    consent_version: Option<Whole>,
}

#[utoipa::path(put, path = "/api/v1/groups/{slug}/membership", tag = "memberships", params(("slug" = String, Path)),
    request_body = JoinRequest, security(("bearer" = [])),
    responses((status = 201, description = "joined", body = MyMembership), (status = 200, description = "already a member; type and visibility updated", body = MyMembership),
              (status = 404, description = "no such group (or archived)"),
              (status = 409, description = "a lead changing their visibility away from `public`, or to ally, without stepping down; an archived group (only admins see it)"),
              (status = 422, description = "a bad field, or a missing or stale `consent_version` where the group has a privacy notice")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn join(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Json(body): Json<JoinRequest>,
) -> AppResult<Response> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    let kind = match body.kind.as_deref() {
        Some(raw) => MembershipType::parse_field(raw)?,
        None => return Err(AppError::invalid("type", "is required")),
    };
    let visibility = body
        .visibility
        .as_deref()
        .map(Visibility::parse_field)
        .transpose()?;
    let choice = JoinChoice {
        kind,
        visibility,
        consent_version: body.consent_version.map(|Whole(v)| v),
    };
    Ok(
        match memberships::join(&state.pool, &group, choice).await? {
            Joined::Created(m) => (StatusCode::CREATED, Json(m)).into_response(),
            Joined::Existing(m) => (StatusCode::OK, Json(m)).into_response(),
        },
    )
}

#[utoipa::path(delete, path = "/api/v1/groups/{slug}/membership", tag = "memberships", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204, description = "not a member (any more)"), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn leave(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<StatusCode> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    lifecycle::leave(&state.pool, &group).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/groups/{slug}/members", tag = "memberships", params(("slug" = String, Path), PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "the entries the caller may see; leads and admins also get email, department, location, visibility and pending requests", body = Page<RosterEntry>),
              (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<RosterEntry>>> {
    let mut conn = state.pool.acquire().await?;
    let group = directory::resolve(&mut *conn, &user, &slug).await?;
    Ok(Json(
        roster::page(&mut *conn, &group, &page.parse()?).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/groups/{slug}/members.csv", tag = "memberships", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, description = "the roster as the caller sees it in `/members`, as CSV: streamed, with `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`; every download is audited", content_type = "text/csv"), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound),
              (status = 429, description = "too many downloads running; see Retry-After")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn members_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    reports::roster::members_csv(&state.pool, &state.exports, &group).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberChangeRequest {
    /// `active` approves a pending request.
    #[schema(pattern = "^active$")]
    status: Option<String>,
    /// `lead` or `member`.
    #[schema(pattern = "^(lead|member)$")]
    role: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/groups/{slug}/members/{user_id}", tag = "memberships",
    params(("slug" = String, Path), ("user_id" = uuid::Uuid, Path)), request_body = MemberChangeRequest, security(("bearer" = [])),
    responses((status = 200, body = MyMembership), (status = 403, response = doc::Forbidden), (status = 404, description = "not a member"),
              (status = 409, description = "not pending, not yet approved, or promoting a membership that is not `public` (ask the member to make it public first)"),
              (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn change_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((slug, user_id)): Path<(String, String)>,
    Json(body): Json<MemberChangeRequest>,
) -> AppResult<Json<MyMembership>> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    group.access.require_manage()?;
    let target = parse_id(&user_id)?;
    let approve = match body.status.as_deref() {
        None => false,
        Some("active") => true,
        Some(_) => {
            return Err(AppError::invalid(
                "status",
                "can only be set to active (approving a request)",
            ));
        }
    };
    let role = body
        .role
        .as_deref()
        .map(MembershipRole::parse_field)
        .transpose()?;
    if !approve && role.is_none() {
        return Err(AppError::invalid("status", "send status or role"));
    }
    let change = MemberChange { approve, role };
    Ok(Json(
        memberships::change_member(&state.pool, &group, target, change).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/groups/{slug}/members/{user_id}", tag = "memberships",
    params(("slug" = String, Path), ("user_id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 403, response = doc::Forbidden), (status = 404, description = "not a member")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn remove_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((slug, user_id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    group.access.require_manage()?;
    let target = parse_id(&user_id)?;
    lifecycle::remove_member(&state.pool, &group, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/groups/{slug}/privacy-notice", tag = "groups", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, description = "the group's privacy notice; an empty `text` means it has none", body = PrivacyNotice),
              (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn get_privacy_notice(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Json<PrivacyNotice>> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    Ok(Json(notice::get(&state.pool, &group).await?))
}

#[utoipa::path(put, path = "/api/v1/groups/{slug}/privacy-notice", tag = "groups", params(("slug" = String, Path)),
    request_body = NoticeEdit, security(("bearer" = [])),
    responses((status = 200, description = "the notice, its version raised by one (an empty text removes it); members who accepted an older version are asked again", body = PrivacyNotice),
              (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn put_privacy_notice(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Json(body): Json<NoticeEdit>,
) -> AppResult<Json<PrivacyNotice>> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    Ok(Json(notice::put(&state.pool, &group, body).await?))
}
