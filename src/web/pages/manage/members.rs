//! The group's members: requests to approve, the roster, removal and co-lead promotion
//! (each through a confirmation page), the roster CSV.

use askama::Template;
use axum::extract::{Path, Query, State};
use uuid::Uuid;

use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::groups::memberships::{self, MemberChange};
use crate::groups::roster;
use crate::groups::{MembershipRole, MembershipStatus, MembershipType, Visibility};
use crate::lifecycle;
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::web::form::Post;
use crate::web::pages::groups::seen_by;
use crate::web::pages::manage::{manage_path, managed};
use crate::web::pages::shared::{ConfirmPage, CursorQuery, ManageNav, Nothing, done};
use crate::web::session::Signed;
use crate::web::{Chrome, PageError, PageResult, Section, day, ok};

fn kind_words(kind: MembershipType) -> &'static str {
    match kind {
        MembershipType::Member => "a member",
        MembershipType::Ally => "an ally",
    }
}

fn visibility_words(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Public => "Everyone",
        Visibility::Members => "Members",
        Visibility::Private => "Leads only",
    }
}

pub struct Pending {
    id: Uuid,
    name: String,
    email: String,
    kind: &'static str,
    since: String,
    seen_by: &'static str,
}

pub struct Member {
    id: Uuid,
    name: String,
    email: String,
    department: String,
    role: &'static str,
    visibility: &'static str,
    is_lead: bool,
}

#[derive(Template)]
#[template(path = "manage_roster.html")]
pub struct RosterPage {
    chrome: Chrome,
    manage: ManageNav,
    pending: Vec<Pending>,
    members: Vec<Member>,
    next_cursor: Option<String>,
}

pub async fn roster(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
    Query(query): Query<CursorQuery>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let page = roster::page(&state.pool, &group, &PageRequest::new(100, query.cursor)?).await?;
    let mut pending = Vec::new();
    let mut members = Vec::new();
    for entry in page.items {
        let Some(contact) = entry.contact else {
            continue;
        };
        if entry.status == MembershipStatus::Pending {
            pending.push(Pending {
                id: entry.user_id,
                name: entry.display_name,
                email: contact.email,
                kind: kind_words(entry.kind),
                since: day(entry.joined_at),
                seen_by: seen_by(contact.visibility),
            });
        } else {
            members.push(Member {
                id: entry.user_id,
                name: entry.display_name,
                email: contact.email,
                department: contact.department.unwrap_or_default(),
                role: match (entry.role, entry.kind) {
                    (MembershipRole::Lead, _) => "Lead",
                    (_, MembershipType::Member) => "Member",
                    (_, MembershipType::Ally) => "Ally",
                },
                visibility: visibility_words(contact.visibility),
                is_lead: entry.role == MembershipRole::Lead,
            });
        }
    }
    Ok(ok(&RosterPage {
        chrome: Chrome::signed(&mut signed, format!("Members of {name}"), Section::None),
        manage: ManageNav::new(&group.slug, &name, "members"),
        pending,
        members,
        next_cursor: page.next_cursor,
    }))
}

pub async fn roster_csv(
    State(state): State<AppState>,
    signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, _) = managed(&state, &signed, &slug).await?;
    Ok(crate::reports::roster::members_csv(&state.pool, &state.exports, &group).await?)
}

/// A member of the group by id, as the roster shows it to the lead.
async fn member_name(
    state: &AppState,
    group: &GroupRef,
    raw: &str,
) -> Result<(Uuid, String), PageError> {
    let id = Uuid::parse_str(raw).map_err(|_| AppError::NotFound)?;
    let entry = roster::entry(&state.pool, group, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((id, entry.display_name))
}

/// The group, its name, and the member the address names.
async fn member_of(
    state: &AppState,
    signed: &Signed,
    slug: &str,
    id: &str,
) -> Result<(GroupRef, String, Uuid, String), PageError> {
    let (group, group_name) = managed(state, signed, slug).await?;
    let (target, name) = member_name(state, &group, id).await?;
    Ok((group, group_name, target, name))
}

pub async fn approve(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _, target, name) = member_of(&state, &post.signed, &slug, &id).await?;
    let approve = MemberChange {
        approve: true,
        role: None,
    };
    memberships::change_member(&state.pool, &group, target, approve).await?;
    let message = format!("You approved {name}.");
    done(&state, &post.signed, &message, &manage_path(&group, "")).await
}

pub async fn remove_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, group_name, target, name) = member_of(&state, &signed, &slug, &id).await?;
    ConfirmPage::new(&mut signed, Section::None, format!("Remove {name} from {group_name}?"))
        .consequence(format!("{name} will no longer be in the group, or their request to join will be declined."))
        .consequence("Their places at the group's members-only events and their mentoring requests in this group are cancelled.")
        .consequence("They can ask to join again.")
        .button(manage_path(&group, &format!("/members/{target}/remove")), format!("Remove {name}"))
        .back(manage_path(&group, ""), "Keep them in the group")
        .answer()
}

pub async fn remove(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, group_name, target, name) = member_of(&state, &post.signed, &slug, &id).await?;
    lifecycle::remove_member(&state.pool, &group, target).await?;
    let message = format!("You removed {name} from {group_name}.");
    done(&state, &post.signed, &message, &manage_path(&group, "")).await
}

pub async fn promote_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, group_name, target, name) = member_of(&state, &signed, &slug, &id).await?;
    ConfirmPage::new(&mut signed, Section::None, format!("Make {name} a co-lead of {group_name}?"))
        .consequence(format!("{name} will be able to manage the group: see every member, approve and remove members, post events and mentoring offers, and edit the group's page and privacy notice."))
        .consequence("Leading a group is a public role: every employee will see them named as a lead. Only a member who chose to be seen by everyone can be made a lead.")
        .button(manage_path(&group, &format!("/members/{target}/promote")), format!("Make {name} a co-lead"))
        .back(manage_path(&group, ""), "Go back")
        .answer()
}

pub async fn promote(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, _, target, name) = member_of(&state, &post.signed, &slug, &id).await?;
    let promote = MemberChange {
        approve: false,
        role: Some(MembershipRole::Lead),
    };
    memberships::change_member(&state.pool, &group, target, promote).await?;
    let message = format!("{name} is now a co-lead.");
    done(&state, &post.signed, &message, &manage_path(&group, "")).await
}
