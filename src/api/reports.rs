//! The reports API: HR and admins only. Thin adapters: take the caller's `ReportReader` proof,
//! parse the query, start the export.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::CurrentUser;
use crate::api::{Query, doc};
use crate::error::AppResult;
use crate::reports::breakdown::{Breakdown, By};
use crate::reports::export;
use crate::reports::groups::Groups;
use crate::reports::memberships::{self, Memberships};
use crate::reports::period::Period;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(groups_csv))
        .routes(routes!(memberships_csv))
        .routes(routes!(breakdown_csv))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// Start of the period, included: a date (`2026-01-01`, midnight UTC) or an RFC 3339
    /// instant, at least 28 days before `to`. Default: twelve months before `to`.
    from: Option<String>,
    /// End of the period, excluded: a date or an RFC 3339 instant. Default: now.
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/groups.csv", tag = "reports", params(PeriodParams), security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/csv",
         description = "`group_slug,group_name,members,allies,leads,pending,joined,left,events,rsvps_going,mentoring_accepted`: \
                        current memberships of every group (rounded to the nearest multiple of `reports.round_to`), and what \
                        happened within `[from, to)`. Every count below `reports.min_cell_size`, zero included, is written `<N`. \
                        Streamed; the download is audited."),
        (status = 401, response = doc::Unauthorized), (status = 403, description = "not hr or admin"),
        (status = 429, description = "too many downloads running; see Retry-After"),
        (status = 422, description = "a bad `from` or `to`, `from` after `to`, or a period shorter than 28 days (naming `from`)")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn groups_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<PeriodParams>,
) -> AppResult<Response> {
    let reader = user.report_reader()?;
    let period = Period::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        time::OffsetDateTime::now_utc(),
    )?;
    let min_cell_size = i64::from(state.settings.reports.min_cell_size);
    let round_to = i64::from(state.settings.reports.round_to);
    export::start(
        &state.pool,
        &state.exports,
        &reader,
        Groups {
            period,
            min_cell_size,
            round_to,
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembershipsParams {
    /// A group's slug; every group when left out.
    group: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/memberships.csv", tag = "reports", params(MembershipsParams), security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/csv",
         description = "`group_slug,email,display_name,department,location,type,role,joined_at`: the active memberships their \
                        holders made `public`, and no other. Streamed; the download is audited."),
        (status = 401, response = doc::Unauthorized), (status = 403, description = "not hr or admin"),
        (status = 429, description = "too many downloads running; see Retry-After"),
        (status = 404, description = "no such group (or archived)")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn memberships_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<MembershipsParams>,
) -> AppResult<Response> {
    let reader = user.report_reader()?;
    let group = match params.group.as_deref() {
        Some(slug) => Some(memberships::find_group(&state.pool, slug).await?),
        None => None,
    };
    export::start(&state.pool, &state.exports, &reader, Memberships { group }).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownParams {
    /// `department` or `location`.
    #[param(required = true, value_type = String, pattern = "^(department|location)$")]
    by: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/breakdown.csv", tag = "reports", params(BreakdownParams), security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/csv",
         description = "`group_slug,<by>,members`: active memberships (members and allies) per group and department or location. \
                        The grid is whole: a row for every group and every department or location held by at least \
                        `reports.min_cell_size` active employees; smaller ones are folded into `(other)`, people with nothing recorded are \
                        `(not set)` (folded too when they are few). A count below `reports.min_cell_size`, zero included, is written `<N`; \
                        a count hidden so that a small one cannot be worked out from the group's total is written `suppressed`. \
                        Streamed; the download is audited."),
        (status = 401, response = doc::Unauthorized), (status = 403, description = "not hr or admin"),
        (status = 429, description = "too many downloads running; see Retry-After"),
        (status = 422, description = "`by` missing or not department or location")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn breakdown_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<BreakdownParams>,
) -> AppResult<Response> {
    let reader = user.report_reader()?;
    let by = By::parse(params.by.as_deref())?;
    let min_cell_size = i64::from(state.settings.reports.min_cell_size);
    export::start(
        &state.pool,
        &state.exports,
        &reader,
        Breakdown { by, min_cell_size },
    )
    .await
}
