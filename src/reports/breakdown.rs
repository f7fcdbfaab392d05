//! `breakdown.csv?by=department|location`: per group, how many active memberships (members and
//! allies) its people hold by department or location, with small counts suppressed (see
//! [`suppression`](crate::reports::suppression)). Active employees only, groups that are not
//! archived only: the same population as the `members` and `allies` of `groups.csv`, whose sum
//! is the total the suppression protects against. Everyone is counted whatever the visibility
//! of their membership; nobody is named.
//!
//! Nobody can be singled out by the report's shape either:
//! - a department (or location) held by fewer than `min_cell_size` active employees in the
//!   whole organisation is folded into [`OTHER`], so a value typed by one person never names
//!   that person;
//! - the grid is whole: every group has a row for every remaining value (and [`OTHER`]), so a
//!   row's presence says nothing, and an empty cell is written `<N` like any small count.
//!
//! People with no department (or location) recorded, or a blank one, form a cell of their own,
//! [`NOT_SET`] (folded into [`OTHER`] too when they are few), listed after the named ones and
//! suppressed like any other; [`OTHER`] comes last.

use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::PgConnection;

use crate::csv::Cell;
use crate::error::AppError;
use crate::reports::export::{CsvSink, Report, Stop};
use crate::reports::suppression::suppress;

/// The cell of the people with nothing recorded.
pub const NOT_SET: &str = "(not set)";
/// The cell of the values held by fewer than `min_cell_size` active employees.
pub const OTHER: &str = "(other)";

/// Which kind of cell a row is, as the query numbers them in report order: 0 a named value,
/// 1 [`NOT_SET`], 2 [`OTHER`].
const NAMED: i32 = 0;
const UNSET: i32 = 1;

fn label(kind: i32, value: &str) -> &str {
    match kind {
        NAMED => value,
        UNSET => NOT_SET,
        _ => OTHER,
    }
}

/// What the counts are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Department,
    Location,
}

impl By {
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        match raw {
            Some("department") => Ok(Self::Department),
            Some("location") => Ok(Self::Location),
            Some(_) => Err(AppError::invalid("by", "must be department or location")),
            None => Err(AppError::invalid(
                "by",
                "is required: department or location",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::Location => "location",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Breakdown {
    pub by: By,
    pub min_cell_size: i64,
}

impl Breakdown {
    async fn write_group(
        &self,
        sink: &mut CsvSink,
        slug: &str,
        cells: &[(i32, String, i64)],
    ) -> Result<(), Stop> {
        let counts: Vec<i64> = cells.iter().map(|(_, _, n)| *n).collect();
        let shown = suppress(&counts, self.min_cell_size);
        for ((kind, value, _), shown) in cells.iter().zip(shown) {
            let text = shown.text(self.min_cell_size);
            sink.row([
                Cell::Text(slug),
                Cell::Text(label(*kind, value)),
                Cell::Text(&text),
            ])
            .await?;
        }
        Ok(())
    }
}

impl Report for Breakdown {
    fn name(&self) -> &'static str {
        "breakdown"
    }

    fn file_stem(&self) -> String {
        format!("breakdown-{}", self.by.as_str())
    }

    fn params(&self) -> serde_json::Value {
        json!({ "by": self.by.as_str(), "min_cell_size": self.min_cell_size })
    }

    async fn write(&self, conn: &mut PgConnection, sink: &mut CsvSink) -> Result<(), Stop> {
        sink.header(&["group_slug", self.by.as_str(), "members"])
            .await?;
        // One group's cells at a time: suppression needs the whole group, and no more.
        let mut rows = sqlx::query!(
            r#"WITH people AS (
                   SELECT u.id, nullif(btrim(CASE WHEN $1 THEN u.department ELSE u.location END), '') AS value
                   FROM users u WHERE u.active
               ), sizes AS (
                   SELECT value, count(*) AS n FROM people GROUP BY value
               ), folded AS (
                   SELECT p.id,
                          CASE WHEN s.n < $2 THEN 2 WHEN p.value IS NULL THEN 1 ELSE 0 END AS kind,
                          CASE WHEN s.n < $2 OR p.value IS NULL THEN '' ELSE p.value END AS value
                   FROM people p JOIN sizes s ON s.value IS NOT DISTINCT FROM p.value
               ), categories AS (
                   SELECT kind, value FROM folded
                   UNION SELECT 2, ''
               ), cells AS (
                   SELECT m.group_id, f.kind, f.value, count(*) AS members
                   FROM memberships m JOIN folded f ON f.id = m.user_id
                   WHERE m.status = 'active'
                   GROUP BY m.group_id, f.kind, f.value
               )
               SELECT g.slug, c.kind AS "kind!", c.value AS "value!", coalesce(x.members, 0) AS "members!"
               FROM groups g
               CROSS JOIN categories c
               LEFT JOIN cells x ON x.group_id = g.id AND x.kind = c.kind AND x.value = c.value
               WHERE g.archived_at IS NULL
               ORDER BY g.slug, c.kind, c.value"#,
            self.by == By::Department,
            self.min_cell_size
        )
        .fetch(conn);
        let mut slug = String::new();
        let mut cells: Vec<(i32, String, i64)> = Vec::new();
        while let Some(r) = rows.try_next().await? {
            if r.slug != slug {
                if !cells.is_empty() {
                    self.write_group(sink, &slug, &cells).await?;
                    cells.clear();
                }
                slug = r.slug;
            }
            cells.push((r.kind, r.value, r.members));
        }
        if !cells.is_empty() {
            self.write_group(sink, &slug, &cells).await?;
        }
        Ok(())
    }
}
