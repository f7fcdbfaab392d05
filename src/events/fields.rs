//! An event's fields as a client sends them, and the rules they must follow.

use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::{AppError, FieldError};
use crate::events::Audience;
use crate::instant::parse_instant;
use crate::patch::Patch;
use crate::text::{self, TextRule};
use crate::whole::Whole;

const TITLE: TextRule = TextRule::line(200);
const DESCRIPTION: TextRule = TextRule::optional_paragraphs(10000);
const LOCATION: TextRule = TextRule::optional_line(200);
pub const MAX_CAPACITY: i64 = 100_000;

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EventFields {
    pub title: Option<String>,
    pub description: Option<String>,
    /// RFC 3339.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub location: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub online_url: Patch<String>,
    /// Positive; absent or null for no limit.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub capacity: Patch<Whole>,
    /// `everyone` or `members`; required when creating.
    #[schema(pattern = "^(everyone|members)$")]
    pub audience: Option<String>,
}

/// The checked values of an event.
#[derive(Debug, Clone)]
pub struct EventValues {
    pub title: String,
    pub description: String,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub location: Option<String>,
    pub online_url: Option<String>,
    pub capacity: Option<i32>,
    pub audience: Audience,
}

/// A web address for joining online: http(s), a host, no spaces or control characters.
pub fn check_url(raw: &str) -> Result<String, &'static str> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_name = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host_name = host_name.split(':').next().unwrap_or_default();
    if host_name.is_empty()
        || !host_name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        || host_name.starts_with('.')
        || host_name.ends_with('.')
    {
        return Err("must name a host, like https://meet.example.com/room");
    }
    if url.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces");
    }
    Ok(url.to_string())
}

impl EventFields {
    /// Checks the fields over `base` (the current values, on PATCH) and reports every field at
    /// fault at once.
    pub fn apply(
        self,
        base: Option<&EventValues>,
        now: OffsetDateTime,
    ) -> Result<EventValues, AppError> {
        let mut errors = Vec::new();
        let creating = base.is_none();
        let title = if creating {
            text::check("title", self.title.as_deref(), TITLE, &mut errors)
        } else {
            text::check_sent("title", self.title.as_deref(), TITLE, &mut errors)
        };
        let description = text::check(
            "description",
            self.description.as_deref(),
            DESCRIPTION,
            &mut errors,
        );
        let mut instant =
            |field: &str, raw: &Option<String>, current: Option<OffsetDateTime>| match raw {
                Some(raw) => match parse_instant(field, raw) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        errors.push(FieldError::new(
                            field,
                            "must be an RFC 3339 time with its offset, like 2026-05-01T09:00:00Z",
                        ));
                        None
                    }
                },
                None if current.is_none() => {
                    errors.push(FieldError::new(field, "is required"));
                    None
                }
                None => current,
            };
        let starts_at = instant("starts_at", &self.starts_at, base.map(|b| b.starts_at));
        let ends_at = instant("ends_at", &self.ends_at, base.map(|b| b.ends_at));
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                errors.push(FieldError::new("ends_at", "must be after starts_at"));
            }
        }
        if let Some(start) = starts_at {
            if self.starts_at.is_some() && start <= now {
                errors.push(FieldError::new("starts_at", "must be in the future"));
            }
        }
        let location = match &self.location {
            Patch::Set(raw) => text::check("location", Some(raw), LOCATION, &mut errors),
            Patch::Clear => None,
            Patch::Keep => base.and_then(|b| b.location.clone()),
        };
        let online_url = match &self.online_url {
            Patch::Set(raw) if !raw.trim().is_empty() => match check_url(raw) {
                Ok(url) => Some(url),
                Err(message) => {
                    errors.push(FieldError::new("online_url", message));
                    None
                }
            },
            Patch::Set(_) | Patch::Clear => None,
            Patch::Keep => base.and_then(|b| b.online_url.clone()),
        };
        let capacity = match self.capacity {
            Patch::Set(Whole(n)) if (1..=MAX_CAPACITY).contains(&n) => i32::try_from(n).ok(),
            Patch::Set(_) => {
                errors.push(FieldError::new(
                    "capacity",
                    format!("must be a whole number from 1 to {MAX_CAPACITY}"),
                ));
                None
            }
            Patch::Clear => None,
            Patch::Keep => base.and_then(|b| b.capacity),
        };
        let audience = match self.audience.as_deref().map(Audience::parse_field) {
            Some(Ok(a)) => a,
            Some(Err(AppError::Validation(mut e))) => {
                errors.append(&mut e);
                Audience::Everyone
            }
            Some(Err(other)) => return Err(other),
            None => match base {
                Some(b) => b.audience,
                // Who may see an event is never guessed: a members-only event published to
                // everyone cannot be taken back.
                None => {
                    errors.push(FieldError::new(
                        "audience",
                        "is required: everyone or members",
                    ));
                    Audience::Everyone
                }
            },
        };
        match (
            title.or_else(|| base.map(|b| b.title.clone())),
            starts_at,
            ends_at,
            errors.is_empty(),
        ) {
            (Some(title), Some(starts_at), Some(ends_at), true) => Ok(EventValues {
                title,
                description: description
                    .or_else(|| {
                        if self.description.is_some() {
                            None
                        } else {
                            base.map(|b| b.description.clone())
                        }
                    })
                    .unwrap_or_default(),
                starts_at,
                ends_at,
                location,
                online_url,
                capacity,
                audience,
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn fields(v: serde_json::Value) -> EventFields {
        serde_json::from_value(v).unwrap()
    }

    fn invalid(result: Result<EventValues, AppError>) -> Vec<String> {
        match result {
            Err(AppError::Validation(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_complete_event_is_accepted() {
        let v = fields(serde_json::json!({
            "title": "Coffee", "starts_at": "2026-02-01T10:00:00Z", "ends_at": "2026-02-01T11:00:00Z",
            "capacity": 10, "online_url": "https://meet.example.com/x", "audience": "members"
        }))
        .apply(None, NOW)
        .unwrap();
        assert_eq!(v.capacity, Some(10));
        assert_eq!(v.audience, Audience::Members);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = fields(serde_json::json!({
            "title": "", "starts_at": "2026-02-01T10:00:00Z", "ends_at": "2026-02-01T09:00:00Z",
            "capacity": 0, "online_url": "javascript:alert(1)", "audience": "all", "location": "x".repeat(201)
        }));
        let mut got = invalid(bad.apply(None, NOW));
        got.sort();
        assert_eq!(
            got,
            [
                "audience",
                "capacity",
                "ends_at",
                "location",
                "online_url",
                "title"
            ]
        );
        let past = fields(
            serde_json::json!({"title": "x", "starts_at": "2025-02-01T10:00:00Z", "ends_at": "2025-02-01T11:00:00Z", "audience": "everyone"}),
        );
        assert_eq!(invalid(past.apply(None, NOW)), ["starts_at"]);
        let garbage = fields(
            serde_json::json!({"title": "x", "starts_at": "soon", "ends_at": "later", "audience": "members"}),
        );
        assert_eq!(invalid(garbage.apply(None, NOW)), ["starts_at", "ends_at"]);
        // A date or a time without its offset names no instant.
        let vague = fields(serde_json::json!({"title": "x", "starts_at": "2026-12-10",
            "ends_at": "2026-12-10T18:00:00", "audience": "members"}));
        assert_eq!(invalid(vague.apply(None, NOW)), ["starts_at", "ends_at"]);
        // Who may see an event is never guessed.
        let unsaid = fields(
            serde_json::json!({"title": "x", "starts_at": "2026-02-01T10:00:00Z",
            "ends_at": "2026-02-01T11:00:00Z"}),
        );
        assert_eq!(invalid(unsaid.apply(None, NOW)), ["audience"]);
    }

    #[test]
    fn patches_merge_over_the_current_values_and_null_clears() {
        let base = fields(serde_json::json!({
            "title": "Coffee", "starts_at": "2026-02-01T10:00:00Z", "ends_at": "2026-02-01T11:00:00Z",
            "capacity": 10, "location": "Room 1", "audience": "members"
        }))
        .apply(None, NOW)
        .unwrap();
        let v = fields(serde_json::json!({"capacity": null, "title": "Tea"}))
            .apply(Some(&base), NOW)
            .unwrap();
        assert_eq!(
            (v.capacity, v.title.as_str(), v.location.as_deref()),
            (None, "Tea", Some("Room 1"))
        );
        let moved = fields(serde_json::json!({"ends_at": "2026-02-01T09:00:00Z"}));
        assert_eq!(invalid(moved.apply(Some(&base), NOW)), ["ends_at"]);
    }

    #[test]
    fn urls() {
        for good in [
            "https://meet.example.com/room?id=1",
            "http://localhost:8080/x",
            "https://a.b",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x.com",
            "https://",
            "https:// x.com",
            "javascript:alert(1)",
            "https://exa mple.com",
            "https://.com",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
