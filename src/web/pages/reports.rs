//! HR's reports page and its three downloads (HR and admins; a 404 page for anyone else).

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::accounts::ReportReader;
use crate::error::AppError;
use crate::reports::breakdown::{Breakdown, By};
use crate::reports::export;
use crate::reports::groups::Groups;
use crate::reports::memberships::{self, Memberships};
use crate::reports::period::Period;
use crate::state::AppState;
use crate::web::pages::shared::every_group;
use crate::web::session::Signed;
use crate::web::{Chrome, PageError, PageResult, Section, ok};

/// HR or an admin; for anyone else these pages do not exist.
fn report_reader(signed: &Signed) -> Result<ReportReader, PageError> {
    Ok(signed
        .user
        .report_reader()
        .map_err(|_| AppError::NotFound)?)
}

#[derive(Template)]
#[template(path = "reports.html")]
pub struct ReportsPage {
    chrome: Chrome,
    min_cell_size: u32,
    groups: Vec<(String, String)>,
}

pub async fn reports(State(state): State<AppState>, mut signed: Signed) -> PageResult {
    report_reader(&signed)?;
    let mut groups = every_group(&state, &signed).await?;
    groups.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(ok(&ReportsPage {
        chrome: Chrome::signed(&mut signed, "Reports", Section::Reports),
        min_cell_size: state.settings.reports.min_cell_size,
        groups,
    }))
}

fn blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[derive(Deserialize)]
pub struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

pub async fn groups_csv(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<PeriodQuery>,
) -> PageResult {
    let reader = report_reader(&signed)?;
    let period = Period::parse(
        blank(query.from).as_deref(),
        blank(query.to).as_deref(),
        time::OffsetDateTime::now_utc(),
    )?;
    let min_cell_size = i64::from(state.settings.reports.min_cell_size);
    let round_to = i64::from(state.settings.reports.round_to);
    Ok(export::start(
        &state.pool,
        &state.exports,
        &reader,
        Groups {
            period,
            min_cell_size,
            round_to,
        },
    )
    .await?)
}

#[derive(Deserialize)]
pub struct GroupQuery {
    group: Option<String>,
}

pub async fn memberships_csv(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<GroupQuery>,
) -> PageResult {
    let reader = report_reader(&signed)?;
    let group = match blank(query.group) {
        Some(slug) => Some(memberships::find_group(&state.pool, &slug).await?),
        None => None,
    };
    Ok(export::start(&state.pool, &state.exports, &reader, Memberships { group }).await?)
}

#[derive(Deserialize)]
pub struct ByQuery {
    by: Option<String>,
}

pub async fn breakdown_csv(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ByQuery>,
) -> PageResult {
    let reader = report_reader(&signed)?;
    let by = By::parse(query.by.as_deref())?;
    let min_cell_size = i64::from(state.settings.reports.min_cell_size);
    Ok(export::start(
        &state.pool,
        &state.exports,
        &reader,
        Breakdown { by, min_cell_size },
    )
    .await?)
}
