//! Keyset pagination as plain types: a request (`limit`, an opaque cursor) and a page of rows
//! with the cursor of the next one. Front doors parse their own query strings into these.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::AppError;

pub const DEFAULT_LIMIT: u16 = 20;
pub const MAX_LIMIT: u16 = 100;

/// Which page of a list: at most `limit` rows after the row the cursor names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: u16,
    cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl PageRequest {
    /// `limit` must be 1 to [`MAX_LIMIT`]; an empty cursor is the first page.
    pub fn new(limit: u16, cursor: Option<String>) -> Result<Self, AppError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(limit_error());
        }
        Ok(Self {
            limit,
            cursor: cursor.filter(|c| !c.is_empty()),
        })
    }

    /// Parses a client's `limit` text (absent or empty: the default).
    pub fn parse(limit: Option<&str>, cursor: Option<String>) -> Result<Self, AppError> {
        let limit = match limit {
            None | Some("") => DEFAULT_LIMIT,
            Some(raw) => raw.parse::<u16>().map_err(|_| limit_error())?,
        };
        Self::new(limit, cursor)
    }

    /// The first page of `limit` rows.
    pub fn first(limit: u16) -> Self {
        Self {
            limit: limit.clamp(1, MAX_LIMIT),
            cursor: None,
        }
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.limit)
    }

    /// Decodes the cursor into the key the list was sorted by.
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, AppError> {
        let Some(raw) = self.cursor.as_deref() else {
            return Ok(None);
        };
        let bad = || AppError::invalid("cursor", "is not a cursor this service gave out");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        // PostgreSQL text cannot hold NUL; no cursor of ours contains one.
        if bytes.windows(6).any(|w| w == b"\\u0000") {
            return Err(bad());
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
    }
}

fn limit_error() -> AppError {
    AppError::invalid(
        "limit",
        format!("must be a whole number from 1 to {MAX_LIMIT}"),
    )
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_refused() {
        for bad in ["0", "101", "-1", "ten"] {
            assert!(PageRequest::parse(Some(bad), None).is_err(), "{bad}");
        }
        assert_eq!(
            PageRequest::parse(None, None).ok().map(|p| p.limit()),
            Some(20)
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let p = PageRequest::parse(None, Some(encode_cursor(&("x", 3)))).unwrap();
        assert_eq!(
            p.cursor::<(String, i32)>().ok().flatten(),
            Some(("x".into(), 3))
        );
        let p = PageRequest::parse(None, Some("!!".into())).unwrap();
        assert!(p.cursor::<(String, i32)>().is_err());
    }
}
