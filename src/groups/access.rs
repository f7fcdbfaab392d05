//! Who may do what with a group. Every handler asks here.
//!
//! The privacy rule for roster entries lives in the SQL function `membership_visible` (see the
//! groups migration), because every roster and every count applies it inside its query:
//! a viewer always sees their own entry; admins and active leads of the group see every entry
//! (pending and private included, with email, department and location); anyone else sees
//! active `public` entries; and an active member of type `member` whose own membership is
//! `members` or `public` also sees active `members` entries (reciprocity: you see the members
//! who can see you, so nobody can join invisibly, or as an ally, read the roster and leave).
//! Counts shown to a user count only what that user may see, so a count split by type never
//! reveals a hidden membership.
//!
//! Leading a group is a public role: a group's page names its active leads to every employee
//! (people must know whom to ask), so a lead's membership is `public` (the database holds the
//! rule as the `memberships_lead_public` constraint; `memberships` answers 409 to a promotion
//! of a hidden membership and to a lead who would hide without stepping down).

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::error::AppError;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType, Visibility};

/// The caller's standing in one group.
#[derive(Debug, Clone)]
pub struct GroupAccess {
    pub user_id: Uuid,
    pub is_admin: bool,
    pub role: Option<MembershipRole>,
    pub status: Option<MembershipStatus>,
    /// The caller's own membership type and visibility (reciprocity of `members` entries).
    pub kind: Option<MembershipType>,
    pub visibility: Option<Visibility>,
}

impl GroupAccess {
    pub fn new(
        user: &CurrentUser,
        role: Option<MembershipRole>,
        status: Option<MembershipStatus>,
    ) -> Self {
        Self {
            user_id: user.id,
            is_admin: user.is_admin,
            role,
            status,
            kind: None,
            visibility: None,
        }
    }

    /// The caller's own membership type and visibility, which the roster rule reads.
    pub fn with_own(
        mut self,
        kind: Option<MembershipType>,
        visibility: Option<Visibility>,
    ) -> Self {
        self.kind = kind;
        self.visibility = visibility;
        self
    }

    pub fn is_lead(&self) -> bool {
        self.role == Some(MembershipRole::Lead) && self.status == Some(MembershipStatus::Active)
    }

    /// An active member or ally (leads included).
    pub fn is_active_member(&self) -> bool {
        self.status == Some(MembershipStatus::Active)
    }

    /// Edit the group's page, approve, remove, promote, see the whole roster.
    pub fn can_manage(&self) -> bool {
        self.is_admin || self.is_lead()
    }

    pub fn require_manage(&self) -> Result<(), AppError> {
        if self.can_manage() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Email, department, location and visibility of roster entries, and pending requests.
    pub fn sees_contact_details(&self) -> bool {
        self.can_manage()
    }

    /// Archived groups exist only for admins.
    pub fn sees_archived(&self) -> bool {
        self.is_admin
    }

    /// 404 for anything of an archived group, unless the caller sees archived groups: to
    /// everyone else an archived group (its events, offers, roster) answers exactly as one
    /// that never existed.
    pub fn require_not_hidden(&self, archived: bool) -> Result<(), AppError> {
        if archived && !self.sees_archived() {
            Err(AppError::NotFound)
        } else {
            Ok(())
        }
    }

    /// The caller's standing read again inside the write's transaction, locking what it rests
    /// on (their membership row and admin role, `FOR SHARE`): a leave, removal, demotion or
    /// role revocation either committed before (and is seen here) or waits for the write to
    /// commit (and then undoes it as it would any other). A write checks this, not the
    /// standing read when the request arrived.
    pub async fn relock(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        group_id: Uuid,
    ) -> Result<GroupAccess, AppError> {
        let membership = sqlx::query!(
            r#"SELECT role AS "role: MembershipRole", status AS "status: MembershipStatus",
                      type AS "kind: MembershipType", visibility AS "visibility: Visibility"
               FROM memberships WHERE group_id = $1 AND user_id = $2 FOR SHARE"#,
            group_id,
            self.user_id
        )
        .fetch_optional(&mut **tx)
        .await?;
        let is_admin = sqlx::query_scalar!(
            "SELECT user_id FROM user_roles WHERE user_id = $1 AND role = 'admin' FOR SHARE",
            self.user_id
        )
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
        Ok(GroupAccess {
            user_id: self.user_id,
            is_admin,
            role: membership.as_ref().map(|m| m.role),
            status: membership.as_ref().map(|m| m.status),
            kind: membership.as_ref().map(|m| m.kind),
            visibility: membership.map(|m| m.visibility),
        })
    }

    /// For a lead's or admin's write, inside its transaction: the caller is still active and
    /// still manages the group, read under the locks that a deactivation, a demotion, a
    /// removal or a role revocation must wait for (see [`GroupAccess::relock`]).
    pub async fn relock_manager(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        group_id: Uuid,
    ) -> Result<GroupAccess, AppError> {
        crate::accounts::principal::lock_active(tx, self.user_id).await?;
        let now = self.relock(tx, group_id).await?;
        now.require_manage()?;
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(
        is_admin: bool,
        role: Option<MembershipRole>,
        status: Option<MembershipStatus>,
    ) -> GroupAccess {
        GroupAccess {
            user_id: Uuid::nil(),
            is_admin,
            role,
            status,
            kind: None,
            visibility: None,
        }
    }

    #[test]
    fn only_active_leads_and_admins_manage() {
        use MembershipRole::*;
        use MembershipStatus::*;
        assert!(access(true, None, None).can_manage());
        assert!(access(false, Some(Lead), Some(Active)).can_manage());
        assert!(!access(false, Some(Member), Some(Active)).can_manage());
        assert!(!access(false, Some(Member), Some(Pending)).can_manage());
        assert!(!access(false, None, None).can_manage());
    }

    #[test]
    fn pending_requests_are_not_members() {
        assert!(
            !access(
                false,
                Some(MembershipRole::Member),
                Some(MembershipStatus::Pending)
            )
            .is_active_member()
        );
        assert!(
            access(
                false,
                Some(MembershipRole::Member),
                Some(MembershipStatus::Active)
            )
            .is_active_member()
        );
    }
}
