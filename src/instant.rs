//! Instants as clients write them, and the one rule for a range of them.

use time::OffsetDateTime;

use crate::error::AppError;

/// Parses an instant a client sent: RFC 3339 with its offset (`2026-05-01T09:00:00Z`,
/// `2026-05-01T11:00:00+02:00`). A date alone or a time without an offset names no instant
/// and is refused, naming the field.
pub fn parse_instant(field: &str, raw: &str) -> Result<OffsetDateTime, AppError> {
    use time::format_description::well_known::Rfc3339;
    let parsed = OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| {
        AppError::invalid(
            field,
            "must be an RFC 3339 time with its offset, like 2026-05-01T09:00:00Z",
        )
    })?;
    plausible(field, parsed)
}

/// Parses a bound of a range a client asks for (`from`, `to` of lists and reports): an
/// instant as [`parse_instant`], or a date (`2026-05-01`), meaning its midnight UTC.
pub fn parse_bound(field: &str, raw: &str) -> Result<OffsetDateTime, AppError> {
    let raw = raw.trim();
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(raw, &date_format) {
        Ok(date) => plausible(field, date.midnight().assume_utc()),
        Err(_) => parse_instant(field, raw).map_err(|_| {
            AppError::invalid(
                field,
                "must be a date (2026-05-01) or an RFC 3339 time with its offset (2026-05-01T09:00:00Z)",
            )
        }),
    }
}

fn plausible(field: &str, parsed: OffsetDateTime) -> Result<OffsetDateTime, AppError> {
    to_utc(parsed).ok_or_else(|| AppError::invalid(field, "must be a year between 1900 and 9999"))
}

/// The instant in UTC, or `None` when it falls outside the years 1900 to 9999 once there: far
/// outside any plausible calendar, and beyond what PostgreSQL's timestamps and the time
/// conversions hold (`9999-12-31T23:00:00-05:00` is in the year 10000 in UTC).
pub fn to_utc(t: OffsetDateTime) -> Option<OffsetDateTime> {
    t.checked_to_offset(time::UtcOffset::UTC)
        .filter(|t| (1900..=9999).contains(&t.year()))
}

/// `#[serde(with = "crate::instant::rfc3339_utc")]`: RFC 3339 in and out, and on the way in
/// only instants [`to_utc`] accepts, in UTC. For keys read back from clients (cursors), which
/// reach the database and the time conversions.
pub mod rfc3339_utc {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::serialize(t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&raw, &Rfc3339)
            .ok()
            .and_then(super::to_utc)
            .ok_or_else(|| serde::de::Error::custom("not an instant between 1900 and 9999"))
    }
}

/// The one rule for a client's `from`/`to` range: when both are given, `to` comes after
/// `from`. Answers the error naming `to`.
pub fn check_range(
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
) -> Result<(), AppError> {
    match (from, to) {
        (Some(from), Some(to)) if to <= from => Err(AppError::invalid("to", "must be after from")),
        _ => Ok(()),
    }
}

/// Parses an optional range bound from a query (absent or blank: `None`).
pub fn parse_optional(field: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, AppError> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_bound(field, s))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_dates_parse_and_garbage_names_the_field() {
        assert!(parse_instant("starts_at", "2026-05-01").is_err());
        assert!(parse_instant("starts_at", "2026-05-01T09:00:00").is_err());
        assert_eq!(
            parse_bound("from", "2026-05-01").unwrap().unix_timestamp(),
            1_777_593_600
        );
        assert_eq!(
            parse_instant("from", "2026-05-01T02:00:00+02:00")
                .unwrap()
                .unix_timestamp(),
            1_777_593_600
        );
        match parse_instant("to", "yesterday") {
            Err(AppError::Validation(e)) => assert_eq!(e[0].field, "to"),
            other => panic!("{other:?}"),
        }
        assert!(parse_bound("to", "2026-02-30").is_err());
        assert!(parse_bound("from", "-9999-01-01").is_err());
        assert!(parse_instant("from", "+10000-01-01T00:00:00Z").is_err());
        // Valid where written, in the year 10000 in UTC: refused, not a panic.
        match parse_instant("from", "9999-12-31T23:00:00-05:00") {
            Err(AppError::Validation(e)) => assert_eq!(e[0].field, "from"),
            other => panic!("{other:?}"),
        }
        assert!(parse_instant("from", "1900-01-01T00:30:00+01:00").is_err());
        assert_eq!(
            parse_instant("from", "9999-12-31T18:00:00-05:00")
                .map(|t| t.year())
                .ok(),
            Some(9999)
        );
    }

    #[derive(serde::Deserialize)]
    struct Key(#[serde(with = "rfc3339_utc")] OffsetDateTime);

    #[test]
    fn cursor_instants_past_the_range_are_refused() {
        assert!(serde_json::from_str::<Key>(r#""9999-12-31T23:00:00-05:00""#).is_err());
        let ok = serde_json::from_str::<Key>(r#""2026-05-01T09:00:00+02:00""#).map(|k| k.0);
        assert_eq!(ok.map(|t| t.offset()).ok(), Some(time::UtcOffset::UTC));
    }
}
