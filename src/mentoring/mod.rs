//! Mentoring offers and requests. Accepted requests never exceed an offer's slots: accepting
//! locks the offer's row, so concurrent acceptances queue and the last ones find it full.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::groups::access::GroupAccess;

pub mod offers;
pub mod requests;

pub use offers::{
    Offer, OfferFields, OfferRef, close_offer, create_offer, list_offers, offer, resolve_offer,
};
pub(crate) use requests::withdraw_in_group;
pub use requests::{MentoringRequest, decide, list_requests, request};

use offers::OfferRow;
use requests::RequestRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "mentoring_request_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Accepted,
    Declined,
    Withdrawn,
}

impl RequestStatus {
    pub fn parse_field(raw: &str) -> Result<Self, AppError> {
        match raw {
            "accepted" => Ok(Self::Accepted),
            "declined" => Ok(Self::Declined),
            "withdrawn" => Ok(Self::Withdrawn),
            _ => Err(AppError::invalid(
                "status",
                "must be one of accepted, declined, withdrawn",
            )),
        }
    }
}

/// Who may do what with an offer and its requests.
#[derive(Debug, Clone)]
pub struct OfferAccess {
    pub group: GroupAccess,
    pub mentor_id: Uuid,
}

impl OfferAccess {
    /// The offer's mentor, while an active member of its group.
    fn is_mentor(&self) -> bool {
        self.group.user_id == self.mentor_id && self.group.is_active_member()
    }

    /// Close the offer and read its requests: the mentor, the group's leads, admins.
    pub fn can_manage(&self) -> bool {
        self.is_mentor() || self.group.can_manage()
    }

    /// Accept or decline a request: the mentor or a lead of the group, and never for their
    /// own request (a lead who asked for a colleague's mentoring does not get to accept
    /// themselves). Not an admin as such: who is mentored is the mentor's and the group's
    /// call; an admin may close the offer.
    pub fn can_decide(&self, mentee_id: Uuid) -> bool {
        (self.is_mentor() || self.group.is_lead()) && self.group.user_id != mentee_id
    }

    /// Ask for mentoring: an active member or ally of the group who is not the mentor.
    pub fn can_request(&self) -> bool {
        self.group.is_active_member() && self.group.user_id != self.mentor_id
    }

    /// The caller's standing read again under lock inside a write's transaction, with the
    /// caller still active (see `GroupAccess::relock`).
    pub async fn relock(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        group_id: Uuid,
    ) -> Result<OfferAccess, AppError> {
        crate::accounts::principal::lock_active(tx, self.group.user_id).await?;
        Ok(OfferAccess {
            group: self.group.relock(tx, group_id).await?,
            mentor_id: self.mentor_id,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyMentoring {
    /// Offers the caller mentors.
    pub offers: Vec<Offer>,
    /// Requests the caller made.
    pub requests: Vec<MentoringRequest>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn mine(pool: &PgPool, user_id: Uuid) -> Result<MyMentoring, AppError> {
    let offers = sqlx::query_as!(
        OfferRow,
        r#"SELECT c.id AS "id!", c.group_slug AS "group_slug!", c.title AS "title!", c.description AS "description!",
                  c.topics AS "topics!", c.mentor_id AS "mentor_id!", c.mentor_name AS "mentor_name!", c.slots AS "slots!",
                  c.slots_taken AS "slots_taken!", c.closed AS "closed!", c.created_at AS "created_at!"
           FROM offer_cards c
           WHERE c.mentor_id = $1 AND NOT c.group_archived
           ORDER BY c.created_at DESC, c.id DESC"#,
        user_id
    )
    .fetch_all(pool)
    .await?;
    let requests = sqlx::query_as!(
        RequestRow,
        r#"SELECT c.id AS "id!", c.offer_id AS "offer_id!", c.offer_title AS "offer_title!", c.group_slug AS "group_slug!",
                  c.mentee_id AS "mentee_id!", c.mentee_name AS "mentee_name!", c.message AS "message!",
                  c.status AS "status!: RequestStatus", c.created_at AS "created_at!", c.decided_at
           FROM request_cards c
           WHERE c.mentee_id = $1
           ORDER BY c.created_at DESC, c.id"#,
        user_id
    )
    .fetch_all(pool)
    .await?;
    Ok(MyMentoring {
        offers: offers.into_iter().map(Offer::from).collect(),
        requests: requests.into_iter().map(MentoringRequest::from).collect(),
    })
}

pub struct Ended {
    pub requests_withdrawn: u64,
    pub offers_closed: u64,
}

/// Withdraws a deactivated person's open requests and closes the offers they mentor, inside
/// the deactivation's transaction.
pub(crate) async fn end_all_for_deactivated(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<Ended, AppError> {
    let withdrawn = sqlx::query!(
        "UPDATE mentoring_requests SET status = 'withdrawn', decided_at = now(), decided_by = $1
         WHERE mentee_id = $1 AND status IN ('pending', 'accepted')",
        user_id
    )
    .execute(&mut **tx)
    .await?;
    let closed = sqlx::query!(
        "UPDATE mentoring_offers SET closed_at = now() WHERE mentor_id = $1 AND closed_at IS NULL",
        user_id
    )
    .execute(&mut **tx)
    .await?;
    Ok(Ended {
        requests_withdrawn: withdrawn.rows_affected(),
        offers_closed: closed.rows_affected(),
    })
}

/// Closes the open offers of a mentor who no longer belongs to the group, and declines their
/// pending requests, inside the transaction that ends the membership: an offer nobody can
/// honour must not take requests. Answers how many offers were closed.
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn close_for_departed_mentor(
    tx: &mut Transaction<'_, Postgres>,
    group_id: Uuid,
    mentor_id: Uuid,
) -> Result<u64, AppError> {
    let closed = sqlx::query_scalar!(
        "UPDATE mentoring_offers SET closed_at = now()
         WHERE group_id = $1 AND mentor_id = $2 AND closed_at IS NULL
         RETURNING id",
        group_id,
        mentor_id
    )
    .fetch_all(&mut **tx)
    .await?;
    if !closed.is_empty() {
        sqlx::query!(
            "UPDATE mentoring_requests SET status = 'declined', decided_at = now(), decided_by = $2
             WHERE offer_id = ANY($1) AND status = 'pending'",
            &closed,
            mentor_id
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(closed.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{MembershipRole, MembershipStatus};

    fn access(
        user: Uuid,
        mentor: Uuid,
        role: Option<MembershipRole>,
        status: Option<MembershipStatus>,
    ) -> OfferAccess {
        OfferAccess {
            group: GroupAccess {
                user_id: user,
                is_admin: false,
                role,
                status,
                kind: None,
                visibility: None,
            },
            mentor_id: mentor,
        }
    }

    #[test]
    fn mentors_and_leads_manage_members_request() {
        let (me, mentor) = (Uuid::new_v4(), Uuid::new_v4());
        let member = access(
            me,
            mentor,
            Some(MembershipRole::Member),
            Some(MembershipStatus::Active),
        );
        assert!(member.can_request() && !member.can_manage());
        let pending = access(
            me,
            mentor,
            Some(MembershipRole::Member),
            Some(MembershipStatus::Pending),
        );
        assert!(!pending.can_request());
        let the_mentor = access(
            mentor,
            mentor,
            Some(MembershipRole::Member),
            Some(MembershipStatus::Active),
        );
        assert!(the_mentor.can_manage() && !the_mentor.can_request());
        let lead = access(
            me,
            mentor,
            Some(MembershipRole::Lead),
            Some(MembershipStatus::Active),
        );
        assert!(lead.can_manage());
        assert!(!access(me, mentor, None, None).can_request());
        assert!(
            lead.can_decide(Uuid::new_v4()) && !lead.can_decide(me),
            "not their own request"
        );
        assert!(the_mentor.can_decide(me));
        let mut admin = access(me, mentor, None, None);
        admin.group.is_admin = true;
        assert!(admin.can_manage() && !admin.can_decide(Uuid::new_v4()));
    }

    #[test]
    fn statuses_parse() {
        assert_eq!(
            RequestStatus::parse_field("accepted").ok(),
            Some(RequestStatus::Accepted)
        );
        assert!(RequestStatus::parse_field("pending").is_err());
    }
}
