//! Free text from clients: trimmed, bounded in characters, free of control and format
//! characters (Unicode categories Cc and Cf), so that no name can reverse the text around it
//! or hide characters from the person reading it.

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
    let bad_char = |c: char| {
        (c.is_control() && !(rule.multiline && matches!(c, '\n' | '\r' | '\t'))) || is_format(c)
    };
    match value {
        None if rule.required => errors.push(FieldError::new(field, "is required")),
        None => {}
        Some(v) if v.chars().count() > rule.max_chars => errors.push(FieldError::new(
            field,
            format!("must be at most {} characters", rule.max_chars),
        )),
        Some(v) if v.chars().any(bad_char) => errors.push(FieldError::new(
            field,
            "must not contain control or invisible formatting characters",
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

/// Whether `c` is an invisible format character (Unicode category Cf) that no script needs:
/// bidirectional overrides, embeddings and isolates, zero-width spaces, invisible operators,
/// the byte-order mark, interlinear annotations, tags. The zero-width joiner and non-joiner
/// (U+200C, U+200D) stay allowed: Persian, the Indic scripts and emoji sequences need them.
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'
        | '\u{200E}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}'
    )
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
        assert_eq!(
            check(
                "name",
                Some("\u{202e}gnp.exe\u{202c} Bob"),
                LINE,
                &mut errors
            ),
            None
        );
        assert_eq!(check("name", Some("Bo\u{200b}b"), LINE, &mut errors), None);
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
        assert_eq!(fields, ["name", "name", "name", "name", "name"]);
        // Scripts that need the joiners keep them.
        errors.clear();
        assert_eq!(
            check("name", Some("می\u{200c}خواهم"), LINE, &mut errors),
            Some("می\u{200c}خواهم".into())
        );
        assert!(errors.is_empty());
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
