//! The directory of groups: resolving a slug for a caller, the list with search, the detail.

use serde::{Deserialize, Serialize};
use sqlx::types::Json as PgJson;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::error::AppError;
use crate::groups::access::GroupAccess;
use crate::groups::{
    JoinPolicy, MembershipRole, MembershipStatus, MembershipType, Slug, Visibility,
};
use crate::paging::{Page, PageRequest};

/// A group as its handlers need it, with the caller's standing in it.
#[derive(Debug, Clone)]
pub struct GroupRef {
    pub id: Uuid,
    pub slug: String,
    pub join_policy: JoinPolicy,
    pub archived: bool,
    pub access: GroupAccess,
}

/// Finds a group by slug for this caller. Unknown slugs, malformed slugs and, except for
/// admins, archived groups are all 404, on every route: an archived group answers exactly as
/// one that never existed, so nobody can learn that it did, or that they were in it.
///
/// On the pool, or on a connection the request holds for its next query too: every pooled
/// query costs a second round trip when its connection goes back (sqlx pings it on release).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resolve<'c>(
    db: impl PgExecutor<'c>,
    user: &CurrentUser,
    slug: &str,
) -> Result<GroupRef, AppError> {
    let slug = Slug::parse(slug).map_err(|_| AppError::NotFound)?;
    let row = sqlx::query!(
        r#"SELECT g.id, g.slug, g.join_policy AS "join_policy: JoinPolicy",
                  g.archived_at IS NOT NULL AS "archived!",
                  m.role AS "role?: MembershipRole", m.status AS "status?: MembershipStatus",
                  m.type AS "kind?: MembershipType", m.visibility AS "visibility?: Visibility"
           FROM groups g
           LEFT JOIN memberships m ON m.group_id = g.id AND m.user_id = $2
           WHERE g.slug = $1"#,
        slug.as_str(),
        user.id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    let access = GroupAccess::new(user, row.role, row.status).with_own(row.kind, row.visibility);
    access.require_not_hidden(row.archived)?;
    Ok(GroupRef {
        id: row.id,
        slug: row.slug,
        join_policy: row.join_policy,
        archived: row.archived,
        access,
    })
}

/// The caller's own membership of a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MembershipSummary {
    #[serde(rename = "type")]
    pub kind: MembershipType,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub visibility: Visibility,
    /// The group's privacy notice changed since the caller accepted it (or they never did):
    /// show it again and ask for consent to its current version.
    pub consent_outdated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeadRef {
    pub id: Uuid,
    pub display_name: String,
}

/// One entry of the directory. Counts include only the memberships the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupListItem {
    pub slug: String,
    pub name: String,
    pub tagline: String,
    pub join_policy: JoinPolicy,
    pub member_count: i64,
    pub ally_count: i64,
    pub leads: Vec<LeadRef>,
    pub my_membership: Option<MembershipSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDetail {
    pub slug: String,
    pub name: String,
    pub tagline: String,
    pub mission: String,
    pub description: String,
    pub join_policy: JoinPolicy,
    pub member_count: i64,
    pub ally_count: i64,
    pub leads: Vec<LeadRef>,
    pub my_membership: Option<MembershipSummary>,
    pub archived: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn summary(
    kind: Option<MembershipType>,
    role: Option<MembershipRole>,
    status: Option<MembershipStatus>,
    visibility: Option<Visibility>,
    consent_outdated: Option<bool>,
) -> Option<MembershipSummary> {
    Some(MembershipSummary {
        kind: kind?,
        role: role?,
        status: status?,
        visibility: visibility?,
        consent_outdated: consent_outdated.unwrap_or(false),
    })
}

/// Turns what a person types into a prefix query for full-text search: every word must
/// match the start of a word (stemmed) in the name, tagline or mission.
pub fn search_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// Where the previous page ended: its rank (0 without a search), name and slug.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ListCursor(f32, String, String);

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    pool: &PgPool,
    user: &CurrentUser,
    q: Option<&str>,
    page: &PageRequest,
) -> Result<Page<GroupListItem>, AppError> {
    let limit = page.limit();
    let cursor: Option<ListCursor> = page.cursor()?;
    let tsquery = q.and_then(search_query);
    let (after_rank, after_name, after_slug) = match cursor {
        Some(ListCursor(r, n, s)) => (Some(r), Some(n), Some(s)),
        None => (None, None, None),
    };
    let rows = sqlx::query!(
        r#"WITH ranked AS (
               SELECT g.id, g.slug, g.name, g.tagline, g.join_policy, g.privacy_notice, g.privacy_notice_version,
                      CASE WHEN $3::text IS NULL THEN 0::real
                           ELSE ts_rank(g.search, to_tsquery('english', $3)) END AS rank
               FROM groups g
               WHERE g.archived_at IS NULL
                 AND ($3::text IS NULL OR g.search @@ to_tsquery('english', $3))
           ),
           -- The page is chosen first, so that the counts below are computed for its groups
           -- only (a generic plan would otherwise count every group before sorting).
           page AS MATERIALIZED (
               SELECT * FROM ranked g
               WHERE $4::real IS NULL
                  OR g.rank < $4
                  OR (g.rank = $4 AND (g.name, g.slug) > ($5::text, $6::text))
               ORDER BY g.rank DESC, g.name, g.slug
               LIMIT $7
           )
           SELECT g.slug, g.name, g.tagline, g.join_policy AS "join_policy: JoinPolicy",
                  g.rank AS "rank!",
                  mm.type AS "my_type?: MembershipType", mm.role AS "my_role?: MembershipRole",
                  mm.status AS "my_status?: MembershipStatus", mm.visibility AS "my_visibility?: Visibility",
                  consent_outdated(g.privacy_notice, g.privacy_notice_version, mm.consent_version) AS "my_consent_outdated?",
                  counts.members AS "member_count!", counts.allies AS "ally_count!",
                  coalesce((SELECT json_agg(json_build_object('id', u.id, 'display_name', u.display_name)
                                            ORDER BY u.display_name, u.id)
                            FROM memberships l JOIN users u ON u.id = l.user_id
                            WHERE l.group_id = g.id AND l.role = 'lead' AND l.status = 'active'),
                           '[]') AS "leads!: PgJson<Vec<LeadRef>>"
           FROM page g
           LEFT JOIN memberships mm ON mm.group_id = g.id AND mm.user_id = $1
           CROSS JOIN LATERAL visible_member_counts(g.id, $1, $2, mm.role, mm.status, mm.type, mm.visibility) counts
           ORDER BY g.rank DESC, g.name, g.slug"#,
        user.id,
        user.is_admin,
        tsquery,
        after_rank,
        after_name,
        after_slug,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let keyed: Vec<(ListCursor, GroupListItem)> = rows
        .into_iter()
        .map(|r| {
            let key = ListCursor(r.rank, r.name.clone(), r.slug.clone());
            let item = GroupListItem {
                slug: r.slug,
                name: r.name,
                tagline: r.tagline,
                join_policy: r.join_policy,
                member_count: r.member_count,
                ally_count: r.ally_count,
                leads: r.leads.0,
                my_membership: summary(
                    r.my_type,
                    r.my_role,
                    r.my_status,
                    r.my_visibility,
                    r.my_consent_outdated,
                ),
            };
            (key, item)
        })
        .collect();
    let page = Page::from_rows(keyed, limit, |(key, _)| key.clone());
    Ok(Page {
        items: page.items.into_iter().map(|(_, item)| item).collect(),
        next_cursor: page.next_cursor,
    })
}

/// A group's page as one row: the group, the caller's own membership, the counts the caller
/// may see, the leads. By slug, so that resolving a group and reading its page is one query.
struct DetailRow {
    id: Uuid,
    slug: String,
    name: String,
    tagline: String,
    mission: String,
    description: String,
    created_at: OffsetDateTime,
    join_policy: JoinPolicy,
    archived: bool,
    my_type: Option<MembershipType>,
    my_role: Option<MembershipRole>,
    my_status: Option<MembershipStatus>,
    my_visibility: Option<Visibility>,
    my_consent_outdated: Option<bool>,
    member_count: i64,
    ally_count: i64,
    leads: PgJson<Vec<LeadRef>>,
}

async fn detail_row<'c>(
    db: impl PgExecutor<'c>,
    slug: &str,
    user_id: Uuid,
    is_admin: bool,
) -> Result<Option<DetailRow>, AppError> {
    Ok(sqlx::query_as!(
        DetailRow,
        r#"SELECT g.id, g.slug, g.name, g.tagline, g.mission, g.description, g.created_at,
                  g.join_policy AS "join_policy: JoinPolicy", g.archived_at IS NOT NULL AS "archived!",
                  mm.type AS "my_type?: MembershipType", mm.role AS "my_role?: MembershipRole",
                  mm.status AS "my_status?: MembershipStatus", mm.visibility AS "my_visibility?: Visibility",
                  consent_outdated(g.privacy_notice, g.privacy_notice_version, mm.consent_version) AS "my_consent_outdated?",
                  counts.members AS "member_count!", counts.allies AS "ally_count!",
                  coalesce((SELECT json_agg(json_build_object('id', u.id, 'display_name', u.display_name)
                                            ORDER BY u.display_name, u.id)
                            FROM memberships l JOIN users u ON u.id = l.user_id
                            WHERE l.group_id = g.id AND l.role = 'lead' AND l.status = 'active'),
                           '[]') AS "leads!: PgJson<Vec<LeadRef>>"
           FROM groups g
           LEFT JOIN memberships mm ON mm.group_id = g.id AND mm.user_id = $2
           CROSS JOIN LATERAL visible_member_counts(g.id, $2, $3, mm.role, mm.status, mm.type, mm.visibility) counts
           WHERE g.slug = $1"#,
        slug,
        user_id,
        is_admin
    )
    .fetch_optional(db)
    .await?)
}

impl DetailRow {
    fn into_detail(self) -> GroupDetail {
        GroupDetail {
            slug: self.slug,
            name: self.name,
            tagline: self.tagline,
            mission: self.mission,
            description: self.description,
            join_policy: self.join_policy,
            member_count: self.member_count,
            ally_count: self.ally_count,
            leads: self.leads.0,
            my_membership: summary(
                self.my_type,
                self.my_role,
                self.my_status,
                self.my_visibility,
                self.my_consent_outdated,
            ),
            archived: self.archived,
            created_at: self.created_at,
        }
    }
}

/// [`resolve`] and [`detail`] in one query: the group's page for this caller, and the group
/// with the caller's standing for what the handler does next. The same 404s as `resolve`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn show<'c>(
    db: impl PgExecutor<'c>,
    user: &CurrentUser,
    slug: &str,
) -> Result<(GroupRef, GroupDetail), AppError> {
    let slug = Slug::parse(slug).map_err(|_| AppError::NotFound)?;
    let row = detail_row(db, slug.as_str(), user.id, user.is_admin)
        .await?
        .ok_or(AppError::NotFound)?;
    let access =
        GroupAccess::new(user, row.my_role, row.my_status).with_own(row.my_type, row.my_visibility);
    access.require_not_hidden(row.archived)?;
    let group = GroupRef {
        id: row.id,
        slug: row.slug.clone(),
        join_policy: row.join_policy,
        archived: row.archived,
        access,
    };
    Ok((group, row.into_detail()))
}

/// The page of a group already resolved (after a change to it, say).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn detail<'c>(
    db: impl PgExecutor<'c>,
    group: &GroupRef,
) -> Result<GroupDetail, AppError> {
    detail_row(db, &group.slug, group.access.user_id, group.access.is_admin)
        .await?
        .map(DetailRow::into_detail)
        .ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_become_prefix_queries() {
        assert_eq!(search_query("vet"), Some("vet:*".into()));
        assert_eq!(
            search_query("  Black  Employees! "),
            Some("black:* & employees:*".into())
        );
        assert_eq!(search_query("' & | ! :*"), None);
        assert_eq!(search_query(""), None);
    }
}
