//! The period of the summary report: `from` and `to`, dates or RFC 3339 instants.

use time::OffsetDateTime;

use crate::error::AppError;

/// The shortest period a report of flows covers: over a shorter one, "one person left the
/// Pride network" would single out the colleague HR knows left that day.
pub const MIN_DAYS: i64 = 28;

/// A half-open period `[from, to)`, in UTC, at least [`MIN_DAYS`] long. A date means its midnight UTC, so
/// `from=2026-01-01&to=2026-04-01` is the first quarter of 2026.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Period {
    /// Parses the query's `from` and `to` (absent or empty: the default). Without `to` the
    /// period ends `now`; without `from` it starts twelve months before its end.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Self, AppError> {
        let to_parsed = crate::instant::parse_optional("to", to);
        let from_parsed = crate::instant::parse_optional("from", from);
        // Both fields are checked, so that one answer names every field at fault.
        let (from, to) = match (from_parsed, to_parsed) {
            (Ok(from), Ok(to)) => (from, to),
            (Err(a), Err(b)) => return Err(merge(a, b)),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let to = to.unwrap_or(now);
        let from = from.unwrap_or_else(|| twelve_months_before(to));
        // One rule covers order and length: a `from` after `to` is not 28 days before it.
        if to - from < time::Duration::days(MIN_DAYS) {
            return Err(AppError::invalid(
                "from",
                format!(
                    "must be at least {MIN_DAYS} days before `to`: a shorter period could single out one person"
                ),
            ));
        }
        Ok(Self { from, to })
    }
}

fn merge(a: AppError, b: AppError) -> AppError {
    match (a, b) {
        (AppError::Validation(mut a), AppError::Validation(b)) => {
            a.extend(b);
            AppError::Validation(a)
        }
        (a, _) => a,
    }
}

/// The same day and time a year earlier (the 29th of February goes to the 28th).
fn twelve_months_before(t: OffsetDateTime) -> OffsetDateTime {
    let year = t.year() - 1;
    t.replace_year(year)
        .or_else(|_| t.replace_day(28).and_then(|t28| t28.replace_year(year)))
        .unwrap_or(t - time::Duration::days(365))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn fields(e: AppError) -> Vec<String> {
        match e {
            AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-28 10:30 UTC);

    #[test]
    fn defaults_to_the_last_twelve_months() {
        let p = Period::parse(None, None, NOW).unwrap();
        assert_eq!(p.from, datetime!(2025-11-28 10:30 UTC));
        assert_eq!(p.to, NOW);
        let p = Period::parse(Some(""), Some(" "), NOW).unwrap();
        assert_eq!((p.from, p.to), (datetime!(2025-11-28 10:30 UTC), NOW));
        let p = Period::parse(None, Some("2028-02-29"), NOW).unwrap();
        assert_eq!(p.from, datetime!(2027-02-28 0:00 UTC));
    }

    #[test]
    fn dates_are_midnight_utc_and_instants_keep_their_offset() {
        let p = Period::parse(Some("2026-01-01"), Some("2026-04-01T02:00:00+02:00"), NOW).unwrap();
        assert_eq!(p.from, datetime!(2026-01-01 0:00 UTC));
        assert_eq!(p.to, datetime!(2026-04-01 0:00 UTC));
        // Only `from`: up to now.
        let p = Period::parse(Some("2026-06-01"), None, NOW).unwrap();
        assert_eq!(p.to, NOW);
        // Exactly 28 days is long enough.
        assert!(Period::parse(Some("2026-01-01"), Some("2026-01-29"), NOW).is_ok());
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(
            fields(Period::parse(Some("yesterday"), None, NOW).unwrap_err()),
            ["from"]
        );
        assert_eq!(
            fields(Period::parse(None, Some("2026-02-30"), NOW).unwrap_err()),
            ["to"]
        );
        assert_eq!(
            fields(Period::parse(Some("x"), Some("y"), NOW).unwrap_err()),
            ["from", "to"]
        );
        assert_eq!(
            fields(Period::parse(Some("2026-05-02"), Some("2026-05-01"), NOW).unwrap_err()),
            ["from"]
        );
        // Shorter than 28 days, down to an empty period or two seconds: `from` is at fault.
        for (from, to) in [
            ("2026-01-01", "2026-01-28T23:59:59Z"),
            ("2026-01-01", "2026-01-01"),
            ("2026-03-01T10:00:00Z", "2026-03-01T10:00:02Z"),
        ] {
            assert_eq!(
                fields(Period::parse(Some(from), Some(to), NOW).unwrap_err()),
                ["from"],
                "{from} to {to}"
            );
        }
        assert_eq!(
            fields(Period::parse(Some("2026-11-20"), None, NOW).unwrap_err()),
            ["from"]
        );
        // Without `to`, a `from` in the future is after the end too.
        assert_eq!(
            fields(Period::parse(Some("2027-01-01"), None, NOW).unwrap_err()),
            ["from"]
        );
    }
}
