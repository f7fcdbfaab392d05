//! Instants as clients write them, and the one rule for a range of them.

use time::OffsetDateTime;

use crate::error::AppError;

/// Parses an instant a client sent: RFC 3339 (`2026-05-01T09:00:00Z`), or a date
/// (`2026-05-01`, meaning its midnight UTC). Names the field when it is neither.
pub fn parse_instant(field: &str, raw: &str) -> Result<time::OffsetDateTime, AppError> {
    use time::format_description::well_known::Rfc3339;
    let raw = raw.trim();
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let parsed = time::OffsetDateTime::parse(raw, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .or_else(|_| time::Date::parse(raw, &date_format).map(|d| d.midnight().assume_utc()))
        .map_err(|_| {
            AppError::invalid(
                field,
                "must be a date (2026-05-01) or an RFC 3339 time (2026-05-01T09:00:00Z)",
            )
        })?;
    // Far outside any plausible calendar, and beyond what PostgreSQL's timestamps hold.
    if !(1900..=9999).contains(&parsed.year()) {
        return Err(AppError::invalid(
            field,
            "must be a year between 1900 and 9999",
        ));
    }
    Ok(parsed)
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

/// Parses an optional query value (absent or blank: `None`).
pub fn parse_optional(field: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, AppError> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_instant(field, s))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_dates_parse_and_garbage_names_the_field() {
        assert_eq!(
            parse_instant("from", "2026-05-01")
                .unwrap()
                .unix_timestamp(),
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
        assert!(parse_instant("to", "2026-02-30").is_err());
        assert!(parse_instant("from", "-9999-01-01").is_err());
        assert!(parse_instant("from", "+10000-01-01T00:00:00Z").is_err());
    }
}
