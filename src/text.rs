//! Free text from clients: trimmed, bounded in characters, free of control characters.

use crate::error::FieldError;

#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub required: bool,
    pub max_chars: usize,
    /// Allows line breaks and tabs (descriptions, missions).
    pub multiline: bool,
}

impl TextRule {
    /// A required single line of at most `max_chars`.
    pub const fn line(max_chars: usize) -> Self {
        Self {
            required: true,
            max_chars,
            multiline: false,
        }
    }

    /// An optional single line.
    pub const fn optional_line(max_chars: usize) -> Self {
        Self {
            required: false,
            ..Self::line(max_chars)
        }
    }

    /// Required text that may run over several lines.
    pub const fn paragraphs(max_chars: usize) -> Self {
        Self {
            multiline: true,
            ..Self::line(max_chars)
        }
    }

    /// Optional text that may run over several lines.
    pub const fn optional_paragraphs(max_chars: usize) -> Self {
        Self {
            required: false,
            ..Self::paragraphs(max_chars)
        }
    }
}

/// Names: a required line of at most 100 characters.
pub const LINE: TextRule = TextRule::line(100);
pub const OPTIONAL_LINE: TextRule = TextRule::optional_line(100);

/// Checks one field; pushes its error and answers `None` when it fails or is absent.
pub fn check(
    field: &str,
    raw: Option<&str>,
    rule: TextRule,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty());
    let bad_char = |c: char| c.is_control() && !(rule.multiline && matches!(c, '\n' | '\r' | '\t'));
    match value {
        None if rule.required => errors.push(FieldError::new(field, "is required")),
        None => {}
        Some(v) if v.chars().count() > rule.max_chars => errors.push(FieldError::new(
            field,
            format!("must be at most {} characters", rule.max_chars),
        )),
        Some(v) if v.chars().any(bad_char) => errors.push(FieldError::new(
            field,
            "must not contain control characters",
        )),
        Some(v) => return Some(v.to_string()),
    }
    None
}

/// A field of a PATCH: absent means unchanged (`None`, no error), but a field that is sent
/// must satisfy `rule` and may not be blank.
pub fn check_sent(
    field: &str,
    raw: Option<&str>,
    rule: TextRule,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match raw {
        None => None,
        Some(v) if v.trim().is_empty() => {
            errors.push(FieldError::new(field, "must not be empty"));
            None
        }
        Some(_) => check(field, raw, rule, errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        let mut errors = Vec::new();
        assert_eq!(
            check("name", Some("  Ada  "), LINE, &mut errors),
            Some("Ada".into())
        );
        assert_eq!(check("name", Some("   "), LINE, &mut errors), None);
        assert_eq!(check("dept", None, OPTIONAL_LINE, &mut errors), None);
        assert_eq!(
            check("name", Some(&"x".repeat(101)), LINE, &mut errors),
            None
        );
        assert_eq!(check("name", Some("a\u{0}b"), LINE, &mut errors), None);
        let multi = TextRule {
            required: true,
            max_chars: 50,
            multiline: true,
        };
        assert_eq!(
            check("mission", Some("a\nb"), multi, &mut errors),
            Some("a\nb".into())
        );
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "name", "name"]);
        errors.clear();
        assert_eq!(check_sent("name", None, LINE, &mut errors), None);
        assert!(errors.is_empty(), "absent is unchanged");
        assert_eq!(check_sent("name", Some(" "), LINE, &mut errors), None);
        assert_eq!(
            check_sent("name", Some("Bo"), LINE, &mut errors),
            Some("Bo".into())
        );
        assert_eq!(errors.len(), 1);
    }
}
