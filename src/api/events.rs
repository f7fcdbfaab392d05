//! The events API: thin adapters over `store`, `rsvp` and `calendar`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::CurrentUser;
use crate::api::{Json, PageParams, Query, doc};
use crate::error::{AppError, AppResult};
use crate::events::fields::EventFields;
use crate::events::rsvp::{self, Attendee, RsvpAnswer};
use crate::events::store::{self, Event};
use crate::events::{self as events, calendar};
use crate::groups::directory;
use crate::instant;
use crate::paging::Page;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events, create_event))
        .routes(routes!(get_event, update_event))
        .routes(routes!(cancel_event))
        .routes(routes!(rsvp_put, rsvp_delete))
        .routes(routes!(attendees))
        .routes(routes!(event_ics))
        .routes(routes!(my_calendar))
        .routes(routes!(rotate_calendar))
        .routes(routes!(ical_feed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListParams {
    /// Events starting at or after (a date or RFC 3339); default: events not yet over.
    from: Option<String>,
    /// Events starting before.
    to: Option<String>,
    /// 1 to 100, default 20.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/groups/{slug}/events", tag = "events", params(("slug" = String, Path), EventListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "soonest first; `members` events only for members and leads", body = Page<Event>),
              (status = 404, response = doc::NotFound), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Query(params): Query<EventListParams>,
) -> AppResult<Json<Page<Event>>> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    let from = instant::parse_optional("from", params.from.as_deref())?;
    let to = instant::parse_optional("to", params.to.as_deref())?;
    instant::check_range(from, to)?;
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .parse()?;
    Ok(Json(
        store::list(&state.pool, &group, from, to, &page).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/groups/{slug}/events", tag = "events", params(("slug" = String, Path)),
    request_body = EventFields, security(("bearer" = [])),
    responses((status = 201, body = Event), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound),
              (status = 409, description = "the group is archived (only admins see it)"), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(slug): Path<String>,
    Json(body): Json<EventFields>,
) -> AppResult<(StatusCode, Json<Event>)> {
    let group = directory::resolve(&state.pool, &user, &slug).await?;
    let id = store::create(&state.pool, &group, body).await?;
    let event = events::resolve(&state.pool, &user, &id.to_string()).await?;
    Ok((
        StatusCode::CREATED,
        Json(store::detail(&state.pool, &event).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn get_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Event>> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    Ok(Json(store::detail(&state.pool, &event).await?))
}

#[utoipa::path(patch, path = "/api/v1/events/{id}", tag = "events", params(("id" = uuid::Uuid, Path)),
    request_body = EventFields, security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound),
              (status = 409, description = "capacity below the number going, or a cancelled event"), (status = 422, response = doc::Unprocessable)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn update_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<EventFields>,
) -> AppResult<Json<Event>> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    store::update(&state.pool, &event, body).await?;
    Ok(Json(store::detail(&state.pool, &event).await?))
}

#[utoipa::path(post, path = "/api/v1/events/{id}/cancel", tag = "events", params(("id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn cancel_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Event>> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    store::cancel(&state.pool, &event).await?;
    Ok(Json(store::detail(&state.pool, &event).await?))
}

#[utoipa::path(put, path = "/api/v1/events/{id}/rsvp", tag = "events", params(("id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = RsvpAnswer), (status = 403, description = "a `members` event and the caller is not an active member or ally"),
              (status = 404, response = doc::NotFound), (status = 409, description = "cancelled or started")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn rsvp_put(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<RsvpAnswer>> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    Ok(Json(rsvp::respond(&state.pool, &event).await?))
}

#[utoipa::path(delete, path = "/api/v1/events/{id}/rsvp", tag = "events", params(("id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "no RSVP any more; the first waitlisted may now be going"), (status = 404, response = doc::NotFound),
              (status = 409, description = "cancelled or started")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn rsvp_delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    rsvp::withdraw(&state.pool, &event).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/events/{id}/attendees", tag = "events", params(("id" = uuid::Uuid, Path), PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Attendee>), (status = 403, response = doc::Forbidden), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn attendees(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<Attendee>>> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    Ok(Json(
        rsvp::attendees(&state.pool, &event, &page.parse()?).await?,
    ))
}

fn calendar_response(body: String, filename: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/events/{id}/ics", tag = "events", params(("id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the event as iCalendar", content_type = "text/calendar"), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn event_ics(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let event = events::resolve(&state.pool, &user, &id).await?;
    let body = calendar::single(&state.pool, event.id).await?;
    Ok(calendar_response(body, &format!("{}.ics", event.id)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarAddress {
    /// Secret: whoever holds it can read the caller's calendar.
    pub url: String,
}

fn address(state: &AppState, token: &str) -> CalendarAddress {
    CalendarAddress {
        url: format!("{}/ical/{token}", state.settings.server.public_url),
    }
}

#[utoipa::path(get, path = "/api/v1/me/calendar", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = CalendarAddress), (status = 401, response = doc::Unauthorized)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn my_calendar(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<CalendarAddress>> {
    let token = calendar::token(&state.pool, &state.feeds, user.id).await?;
    Ok(Json(address(&state, &token)))
}

#[utoipa::path(post, path = "/api/v1/me/calendar/rotate", tag = "events", security(("bearer" = [])),
    responses((status = 200, description = "a new address; the old one stops working", body = CalendarAddress)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn rotate_calendar(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<CalendarAddress>> {
    let token = calendar::rotate(&state.pool, &state.feeds, user.id).await?;
    Ok(Json(address(&state, &token)))
}

#[utoipa::path(get, path = "/ical/{token}", tag = "events", params(("token" = String, Path)),
    responses((status = 200, description = "RFC 5545 calendar of the holder's groups and RSVPs", content_type = "text/calendar"), (status = 404, response = doc::NotFound)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn ical_feed(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let token = token.strip_suffix(".ics").unwrap_or(&token);
    // Tokens are 43 characters of URL-safe base64; anything else names no feed.
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(AppError::NotFound);
    }
    let body = calendar::feed(&state.pool, token).await?;
    Ok(calendar_response(body, "belong.ics"))
}
