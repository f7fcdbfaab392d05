//! `breakdown.csv?by=department|location`: per group, how many active memberships (members and
//! allies) its people hold by department or location, with small counts suppressed (see
//! [`suppression`](crate::reports::suppression)). Active employees only, groups that are not
//! archived only: the same population as the `members` and `allies` of `groups.csv`, whose sum
//! is the total the suppression protects against. Everyone is counted whatever the visibility
//! of their membership; nobody is named.
//!
//! People with no department (or location) recorded, or a blank one, form a cell of their own,
//! [`NOT_SET`], listed after the named ones and suppressed like any other.

use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::PgConnection;

use crate::csv::Cell;
use crate::error::AppError;
use crate::reports::export::{CsvSink, Report, Stop};
use crate::reports::suppression::suppress;

/// The cell of the people with nothing recorded.
pub const NOT_SET: &str = "(not set)";

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
        cells: &[(Option<String>, i64)],
    ) -> Result<(), Stop> {
        let counts: Vec<i64> = cells.iter().map(|(_, n)| *n).collect();
        let shown = suppress(&counts, self.min_cell_size);
        for ((value, _), shown) in cells.iter().zip(shown) {
            let text = shown.text(self.min_cell_size);
            sink.row([
                Cell::Text(slug),
                Cell::Text(value.as_deref().unwrap_or(NOT_SET)),
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
            r#"SELECT g.slug AS "slug!", k.value, count(*) AS "members!"
               FROM memberships m
               JOIN groups g ON g.id = m.group_id
               JOIN users u ON u.id = m.user_id
               CROSS JOIN LATERAL (
                   SELECT nullif(btrim(CASE WHEN $1 THEN u.department ELSE u.location END), '') AS value
               ) k
               WHERE m.status = 'active' AND u.active AND g.archived_at IS NULL
               GROUP BY g.slug, k.value
               ORDER BY g.slug, k.value NULLS LAST"#,
            self.by == By::Department
        )
        .fetch(conn);
        let mut slug = String::new();
        let mut cells: Vec<(Option<String>, i64)> = Vec::new();
        while let Some(r) = rows.try_next().await? {
            if r.slug != slug {
                if !cells.is_empty() {
                    self.write_group(sink, &slug, &cells).await?;
                    cells.clear();
                }
                slug = r.slug;
            }
            cells.push((r.value, r.members));
        }
        if !cells.is_empty() {
            self.write_group(sink, &slug, &cells).await?;
        }
        Ok(())
    }
}
