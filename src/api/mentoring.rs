//! The mentoring API: thin adapters over the `mentoring` domain functions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::CurrentUser;
use crate::api::{Json, OptionalJson, PageParams, Query, doc};
use crate::error::{AppError, AppResult};
use crate::groups::directory;
use crate::mentoring::{self, MentoringRequest, MyMentoring, Offer, OfferFields, RequestStatus};
use crate::paging::Page;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_offers, create_offer))
        .routes(routes!(close_offer))
        .routes(routes!(list_requests, create_request))
        .routes(routes!(decide))
        .routes(routes!(mine))
}

#[utoipa::path(get, path = "/api/v1/groups/{slug}/mentoring-offers", tag = "mentoring", params(("slug" = String, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, description = "open offers, newest first", body = Page<Offer>), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_offers(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<Offer>>> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    Ok(Json(
        mentoring::list_offers(&state.pool, &group, &page.parse()?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/groups/{slug}/mentoring-offers", tag = "mentoring", params(("slug" = String, Path)),
    request_body = OfferFields, security(("bearer" = [])),
    responses((status = 201, body = Offer), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound),
              (status = 409, description = "the group is archived (only admins see it)"), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_offer(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Json(body): Json<OfferFields>,
) -> AppResult<(StatusCode, Json<Offer>)> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    let id = mentoring::create_offer(&state.pool, &group, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(mentoring::offer(&state.pool, id).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/mentoring-offers/{id}/close", tag = "mentoring", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, description = "closed"), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn close_offer(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let offer = mentoring::resolve_offer(&state.pool, &user, &id).await?;
    mentoring::close_offer(&state.pool, &offer).await?;
    Ok(Json(serde_json::json!({ "id": offer.id, "closed": true })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RequestBody {
    message: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/mentoring-offers/{id}/requests", tag = "mentoring", params(("id" = uuid::Uuid, Path)),
    request_body = RequestBody, security(("bearer" = [])),
    responses((status = 201, body = MentoringRequest), (status = 403, description = "not an active member or ally of the group"),
              (status = 404, response = doc::NotFound), (status = 409, description = "asked already, or the offer is closed")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_request(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RequestBody>,
) -> AppResult<(StatusCode, Json<MentoringRequest>)> {
    let offer = mentoring::resolve_offer(&state.pool, &user, &id).await?;
    let request = mentoring::request(&state.pool, &offer, body.message.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[utoipa::path(get, path = "/api/v1/mentoring-offers/{id}/requests", tag = "mentoring", params(("id" = uuid::Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<MentoringRequest>), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_requests(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<MentoringRequest>>> {
    let offer = mentoring::resolve_offer(&state.pool, &user, &id).await?;
    Ok(Json(
        mentoring::list_requests(&state.pool, &offer, &page.parse()?).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Decision {
    /// `accepted` or `declined` (the mentor, a lead of the group); `withdrawn` (the mentee).
    #[schema(pattern = "^(accepted|declined|withdrawn)$")]
    status: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/mentoring-requests/{id}", tag = "mentoring", params(("id" = uuid::Uuid, Path)),
    request_body = Decision, security(("bearer" = [])),
    responses((status = 200, body = MentoringRequest), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound),
              (status = 409, description = "every slot taken, or not a forward move"), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<Decision>,
) -> AppResult<Json<MentoringRequest>> {
    let to = match body.status.as_deref() {
        Some(raw) => RequestStatus::parse_field(raw)?,
        None => return Err(AppError::invalid("status", "is required")),
    };
    Ok(Json(mentoring::decide(&state.pool, &user, &id, to).await?))
}

#[utoipa::path(get, path = "/api/v1/me/mentoring", tag = "mentoring", security(("bearer" = [])),
    responses((status = 200, body = MyMentoring), (status = 401, response = doc::Unauthorized)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn mine(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<MyMentoring>> {
    Ok(Json(mentoring::mine(&state.pool, user.id).await?))
}
