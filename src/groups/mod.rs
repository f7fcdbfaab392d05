//! Groups, memberships, rosters and the privacy rules that govern them.

pub mod access;
pub mod directory;
pub mod editing;
pub mod memberships;
pub mod notice;
pub mod roster;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A group's address: `[a-z0-9-]{2,64}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok = (2..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err("must be 2 to 64 characters of a-z, 0-9 and -")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! pg_enum {
    ($(#[$doc:meta])* $name:ident, $pg:literal, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
        // snake_case, like the PostgreSQL labels (`role_changed`); one-word variants are lowercase.
        #[sqlx(type_name = $pg, rename_all = "snake_case")]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a client's value, or names the field and the values it may take.
            pub fn parse_field(raw: &str) -> Result<Self, crate::error::AppError> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::error::AppError::invalid(
                        $field,
                        format!("must be one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

pg_enum!(
    /// `open`: joining is immediate; `approval`: a lead approves each request.
    JoinPolicy, "join_policy", "join_policy", { Open => "open", Approval => "approval" });
pg_enum!(
    /// A member of the community, or an ally supporting it.
    MembershipType, "membership_type", "type", { Member => "member", Ally => "ally" });
pg_enum!(MembershipRole, "membership_role", "role", { Member => "member", Lead => "lead" });
pg_enum!(MembershipStatus, "membership_status", "status", { Active => "active", Pending => "pending" });
pg_enum!(
    /// Who may see a membership: any employee, the group's members, or only its leads and admins.
    Visibility, "visibility", "visibility", { Public => "public", Members => "members", Private => "private" });
pg_enum!(
/// What happened to a membership, as the history records it.
MembershipEvent, "membership_event", "event", {
    Joined => "joined", Requested => "requested", Changed => "changed", Approved => "approved",
    Left => "left", Removed => "removed", RoleChanged => "role_changed"
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["ab", "pride", "black-employees-2", &"a".repeat(64)] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "Pride",
            "pride!",
            "pri de",
            "",
            &"a".repeat(65),
            "é-group",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_names_are_the_postgres_labels() {
        for e in MembershipEvent::ALL {
            assert_eq!(
                serde_json::to_value(e).ok(),
                Some(serde_json::Value::from(e.as_str()))
            );
        }
    }

    #[test]
    fn enums_parse_their_own_names_only() {
        for v in Visibility::ALL {
            assert_eq!(Visibility::parse_field(v.as_str()).ok(), Some(*v));
        }
        assert!(Visibility::parse_field("secret").is_err());
        assert!(MembershipType::parse_field("Member").is_err());
    }
}
