//! Email addresses, parsed once at the edge: trimmed, lower-cased, the domain in its ASCII
//! (IDNA) form, so that one mailbox is one account however its domain is written
//! (`bélong.example` and `xn--blong-bsa.example` are the same domain). A local part that
//! mixes Latin, Greek and Cyrillic letters is refused: it can only be there to imitate another
//! address (`ѕami.kim` with a Cyrillic `ѕ`).

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required");
        }
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must be an email address like name@example.com");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain = ascii_domain(domain);
        let domain_ok = domain.as_deref().is_some_and(|domain| {
            domain.contains('.')
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        });
        let (true, true, Some(domain)) = (local_ok, domain_ok, domain) else {
            return Err("must be an email address like name@example.com");
        };
        if mixes_scripts(local) {
            return Err("must not mix letters of different alphabets (Latin, Greek, Cyrillic)");
        }
        let email = format!("{local}@{domain}");
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// Whether the address may register, given the allowed domains (empty: any), compared in
    /// their ASCII form.
    pub fn domain_allowed(&self, allowed: &[String]) -> bool {
        allowed.is_empty()
            || allowed
                .iter()
                .any(|d| ascii_domain(d).as_deref() == Some(self.domain()))
    }
}

/// A domain in its ASCII form (IDNA, UTS #46): Unicode labels become `xn--` labels, and case
/// and compatibility forms are folded. `None` when the domain cannot be a domain.
pub fn ascii_domain(domain: &str) -> Option<String> {
    idna::domain_to_ascii(domain.trim()).ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

fn script(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' => Some(Script::Latin),
        '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' if c.is_alphabetic() => {
            Some(Script::Latin)
        }
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(Script::Greek),
        '\u{0400}'..='\u{052F}' | '\u{1C80}'..='\u{1C8F}' => Some(Script::Cyrillic),
        _ => None,
    }
}

/// Whether the letters of `text` come from more than one of Latin, Greek and Cyrillic, the
/// alphabets whose letters look alike.
fn mixes_scripts(text: &str) -> bool {
    let mut seen = None;
    for found in text.chars().filter_map(script) {
        match seen {
            None => seen = Some(found),
            Some(s) if s != found => return true,
            Some(_) => {}
        }
    }
    false
}

// Emails are personal data: keep them out of logs that print values with `{:?}`.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(..)")
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".into())
        );
    }

    #[test]
    fn unicode_domains_are_one_with_their_ascii_form() {
        let unicode = Email::parse("Sami.Kim@Bélong.example").unwrap();
        let ascii = Email::parse("sami.kim@xn--blong-bsa.example").unwrap();
        assert_eq!(unicode.as_str(), "sami.kim@xn--blong-bsa.example");
        assert_eq!(unicode, ascii);
        assert!(unicode.domain_allowed(&["bélong.example".into()]));
        assert!(ascii.domain_allowed(&["BÉLONG.example".into()]));
    }

    #[test]
    fn local_parts_mixing_alphabets_are_refused() {
        assert!(Email::parse("\u{0455}ami.kim@example.com").is_err());
        assert!(Email::parse("s\u{03bf}mi@example.com").is_err());
        assert!(Email::parse("\u{0441}\u{0430}\u{0448}\u{0430}@example.com").is_ok());
        assert!(Email::parse("zoë.müller@example.com").is_ok());
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@exa mple.com",
            ".ada@example.com",
            "ada..l@example.com",
            "ada@-example.com",
            "ada@example..com",
            "<script>@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn domains_are_checked_when_a_list_is_set() {
        let email = Email::parse("ada@example.com").unwrap();
        assert!(email.domain_allowed(&[]));
        assert!(email.domain_allowed(&["example.com".into()]));
        assert!(!email.domain_allowed(&["corp.example".into()]));
    }
}
