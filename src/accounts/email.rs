//! Email addresses, parsed once at the edge: trimmed, lower-cased (one account per address).

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
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err("must be an email address like name@example.com");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// Whether the address may register, given the allowed domains (empty: any).
    pub fn domain_allowed(&self, allowed: &[String]) -> bool {
        allowed.is_empty() || allowed.iter().any(|d| d == self.domain())
    }
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
