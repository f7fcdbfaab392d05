//! A field of a partial update: left out (keep), `null` (clear) or a value (set).

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Not in the request: keep what is there.
    #[default]
    Keep,
    /// `null`: clear it.
    Clear,
    /// A new value.
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    /// The value after the update, given the current one.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current,
            Patch::Clear => None,
            Patch::Set(v) => Some(v),
        }
    }

    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(v) => Patch::Set(v),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(v) => Patch::Set(f(v)),
        }
    }
}

/// With `#[serde(default)]` on the field, an absent field stays `Keep`; present, it is
/// `Clear` for `null` and `Set` otherwise.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Clear,
            Some(v) => Patch::Set(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        capacity: Patch<i64>,
    }

    #[test]
    fn absent_null_and_value_differ() {
        let parse = |s: &str| serde_json::from_str::<Body>(s).map(|b| b.capacity).ok();
        assert_eq!(parse("{}"), Some(Patch::Keep));
        assert_eq!(parse(r#"{"capacity":null}"#), Some(Patch::Clear));
        assert_eq!(parse(r#"{"capacity":3}"#), Some(Patch::Set(3)));
        assert_eq!(Patch::Set(3).apply(Some(1)), Some(3));
        assert_eq!(Patch::<i64>::Keep.apply(Some(1)), Some(1));
        assert_eq!(Patch::<i64>::Clear.apply(Some(1)), None);
    }
}
