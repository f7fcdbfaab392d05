//! `groups.csv`: one row per group, with its current memberships and what happened in a period.
//!
//! - `members`, `allies`, `leads`, `pending` count the current memberships of active employees,
//!   whatever their visibility (aggregates count everyone and name nobody): `members` every
//!   active membership of type member (leads included), `allies` every active one of type ally,
//!   `leads` the active leads, `pending` the requests waiting for a lead.
//! - Nobody can be singled out by time. Every count below `reports.min_cell_size`, flow or
//!   stock, zero included, is written `<N` (so `<N` never means "at least one"); the current
//!   counts are rounded to the nearest multiple of `reports.round_to`, so that two downloads
//!   either side of one person's departure rarely differ; and the period is at least 28 days
//!   long ([`Period`]), so "one person left the Pride network today" cannot be asked.
//! - `joined` counts the history events that made a membership active within the period:
//!   `joined` (an open group) and `approved` (an approval group). A request (`requested`) is
//!   not counted, so a request approved later counts once, when it is approved.
//! - `left` counts `left` and `removed` events within the period of memberships that were
//!   active (a withdrawn or declined request never joined, so it never leaves); deactivations
//!   are recorded as `removed` and count here.
//! - `events` counts the group's events starting within the period and not cancelled;
//!   `rsvps_going` the `going` RSVPs of those events.
//! - `mentoring_accepted` counts the requests to the group's mentoring offers accepted within
//!   the period (by `decided_at`) and still accepted (a mentee who withdrew is not counted).
//!
//! Archived groups are listed while the period overlaps their life: a group archived before the
//! period starts is left out, one archived during or after it is in, with its counts.

use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::PgConnection;
use time::format_description::well_known::Rfc3339;

use crate::csv::Cell;
use crate::reports::export::{CsvSink, Report, Stop};
use crate::reports::period::Period;
use crate::reports::suppression::{primary, rounded};

pub const HEADER: [&str; 11] = [
    "group_slug",
    "group_name",
    "members",
    "allies",
    "leads",
    "pending",
    "joined",
    "left",
    "events",
    "rsvps_going",
    "mentoring_accepted",
];

/// The summary of every group over a period.
#[derive(Debug, Clone)]
pub struct Groups {
    pub period: Period,
    pub min_cell_size: i64,
    pub round_to: i64,
}

impl Report for Groups {
    fn name(&self) -> &'static str {
        "groups"
    }

    fn params(&self) -> serde_json::Value {
        json!({
            "from": self.period.from.format(&Rfc3339).unwrap_or_default(),
            "to": self.period.to.format(&Rfc3339).unwrap_or_default(),
            "min_cell_size": self.min_cell_size,
            "round_to": self.round_to,
        })
    }

    async fn write(&self, conn: &mut PgConnection, sink: &mut CsvSink) -> Result<(), Stop> {
        sink.header(&HEADER).await?;
        let mut rows = sqlx::query!(
            r#"WITH current AS (
                   SELECT m.group_id,
                          count(*) FILTER (WHERE m.status = 'active' AND m.type = 'member') AS members,
                          count(*) FILTER (WHERE m.status = 'active' AND m.type = 'ally') AS allies,
                          count(*) FILTER (WHERE m.status = 'active' AND m.role = 'lead') AS leads,
                          count(*) FILTER (WHERE m.status = 'pending') AS pending
                   FROM memberships m JOIN users u ON u.id = m.user_id
                   WHERE u.active
                   GROUP BY m.group_id
               ), history AS (
                   SELECT h.group_id,
                          count(*) FILTER (WHERE h.event IN ('joined', 'approved')) AS joined,
                          count(*) FILTER (WHERE h.event IN ('left', 'removed') AND h.status = 'active') AS gone
                   FROM membership_history h
                   WHERE h.at >= $1 AND h.at < $2
                   GROUP BY h.group_id
               ), happened AS (
                   SELECT e.group_id, count(DISTINCT e.id) AS events, count(r.event_id) AS going
                   FROM events e LEFT JOIN rsvps r ON r.event_id = e.id AND r.status = 'going'
                   WHERE e.starts_at >= $1 AND e.starts_at < $2 AND e.cancelled_at IS NULL
                   GROUP BY e.group_id
               ), mentoring AS (
                   SELECT o.group_id, count(*) AS accepted
                   FROM mentoring_requests q JOIN mentoring_offers o ON o.id = q.offer_id
                   WHERE q.status = 'accepted' AND q.decided_at >= $1 AND q.decided_at < $2
                   GROUP BY o.group_id
               )
               SELECT g.slug, g.name,
                      coalesce(c.members, 0) AS "members!", coalesce(c.allies, 0) AS "allies!",
                      coalesce(c.leads, 0) AS "leads!", coalesce(c.pending, 0) AS "pending!",
                      coalesce(h.joined, 0) AS "joined!", coalesce(h.gone, 0) AS "left!",
                      coalesce(e.events, 0) AS "events!", coalesce(e.going, 0) AS "rsvps_going!",
                      coalesce(t.accepted, 0) AS "mentoring_accepted!"
               FROM groups g
               LEFT JOIN current c ON c.group_id = g.id
               LEFT JOIN history h ON h.group_id = g.id
               LEFT JOIN happened e ON e.group_id = g.id
               LEFT JOIN mentoring t ON t.group_id = g.id
               WHERE g.archived_at IS NULL OR g.archived_at >= $1
               ORDER BY g.slug"#,
            self.period.from,
            self.period.to
        )
        .fetch(conn);
        while let Some(r) = rows.try_next().await? {
            let min = self.min_cell_size;
            let stock = |n: i64| rounded(n, min, self.round_to).text(min);
            let flow = |n: i64| primary(n, min).text(min);
            let cells = [
                stock(r.members),
                stock(r.allies),
                stock(r.leads),
                stock(r.pending),
                flow(r.joined),
                flow(r.left),
                flow(r.events),
                flow(r.rsvps_going),
                flow(r.mentoring_accepted),
            ];
            sink.row(
                [Cell::Text(&r.slug), Cell::Text(&r.name)]
                    .into_iter()
                    .chain(cells.iter().map(|c| Cell::Text(c))),
            )
            .await?;
        }
        Ok(())
    }
}
