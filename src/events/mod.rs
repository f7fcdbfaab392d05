//! Events: who may see and change them, RSVPs with capacity and waitlist, iCalendar feeds.

pub mod calendar;
pub mod fields;
pub mod ical;
pub mod rsvp;
pub mod store;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::error::AppError;
use crate::groups::access::GroupAccess;
use crate::groups::{MembershipRole, MembershipStatus};

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "event_audience", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Everyone,
    Members,
}

impl Audience {
    pub fn parse_field(raw: &str) -> Result<Self, AppError> {
        match raw {
            "everyone" => Ok(Self::Everyone),
            "members" => Ok(Self::Members),
            _ => Err(AppError::invalid(
                "audience",
                "must be one of everyone, members",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "rsvp_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum RsvpStatus {
    Going,
    Waitlisted,
}

/// The rules for one event and one caller.
#[derive(Debug, Clone)]
pub struct EventAccess {
    pub group: GroupAccess,
    pub audience: Audience,
}

impl EventAccess {
    /// `members` events exist only for the group's active members and allies, its leads and
    /// admins; to anyone else they are 404.
    pub fn can_view(&self) -> bool {
        match self.audience {
            Audience::Everyone => true,
            Audience::Members => self.group.is_active_member() || self.group.can_manage(),
        }
    }

    /// Who may RSVP: whoever may see it; for `members` events, active members and allies only.
    pub fn can_rsvp(&self) -> bool {
        match self.audience {
            Audience::Everyone => true,
            Audience::Members => self.group.is_active_member(),
        }
    }

    /// Edit, cancel, see attendees: admins and the group's leads.
    pub fn can_manage(&self) -> bool {
        self.group.can_manage()
    }
}

/// An event as its handlers need it, with the caller's standing.
#[derive(Debug, Clone)]
pub struct EventRef {
    pub id: Uuid,
    pub group_id: Uuid,
    pub group_slug: String,
    pub starts_at: OffsetDateTime,
    pub cancelled: bool,
    pub access: EventAccess,
}

/// Finds an event the caller may see, or 404 (also for malformed ids, events of archived
/// groups unless admin, and `members` events of groups the caller is not in).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve(
    pool: &PgPool,
    user: &CurrentUser,
    raw_id: &str,
) -> Result<EventRef, AppError> {
    let id = Uuid::parse_str(raw_id).map_err(|_| AppError::NotFound)?;
    let row = sqlx::query!(
        r#"SELECT e.id, e.group_id, g.slug, e.starts_at, e.cancelled_at IS NOT NULL AS "cancelled!",
                  e.audience AS "audience: Audience", g.archived_at IS NOT NULL AS "archived!",
                  m.role AS "role?: MembershipRole", m.status AS "status?: MembershipStatus"
           FROM events e
           JOIN groups g ON g.id = e.group_id
           LEFT JOIN memberships m ON m.group_id = e.group_id AND m.user_id = $2
           WHERE e.id = $1"#,
        id,
        user.id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)?;
    let group = GroupAccess::new(user, row.role, row.status);
    let access = EventAccess {
        group,
        audience: row.audience,
    };
    access.group.require_not_hidden(row.archived)?;
    if !access.can_view() {
        return Err(AppError::NotFound);
    }
    Ok(EventRef {
        id: row.id,
        group_id: row.group_id,
        group_slug: row.slug,
        starts_at: row.starts_at,
        cancelled: row.cancelled,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(
        audience: Audience,
        role: Option<MembershipRole>,
        status: Option<MembershipStatus>,
        admin: bool,
    ) -> EventAccess {
        EventAccess {
            group: GroupAccess {
                user_id: Uuid::nil(),
                is_admin: admin,
                role,
                status,
                kind: None,
                visibility: None,
            },
            audience,
        }
    }

    #[test]
    fn members_events_are_for_members_leads_and_admins() {
        use MembershipRole::*;
        use MembershipStatus::*;
        let outsider = access(Audience::Members, None, None, false);
        assert!(!outsider.can_view() && !outsider.can_rsvp());
        let pending = access(Audience::Members, Some(Member), Some(Pending), false);
        assert!(!pending.can_view());
        let member = access(Audience::Members, Some(Member), Some(Active), false);
        assert!(member.can_view() && member.can_rsvp() && !member.can_manage());
        let admin = access(Audience::Members, None, None, true);
        assert!(admin.can_view() && !admin.can_rsvp() && admin.can_manage());
        let everyone = access(Audience::Everyone, None, None, false);
        assert!(everyone.can_view() && everyone.can_rsvp() && !everyone.can_manage());
    }
}
