//! A group's management pages, for its leads and admins: members (approve, remove, promote,
//! the CSV), events (post, edit, cancel, attendees), mentoring (offers, requests), the page
//! text and the privacy notice. Anyone else finds no page here (404).

pub mod about;
pub mod events;
pub mod members;
pub mod mentoring;

use crate::error::AppError;
use crate::groups::directory::{self, GroupRef};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::session::Signed;

/// The group and its name, if the caller may manage it; otherwise there is no such page.
async fn managed(
    state: &AppState,
    signed: &Signed,
    slug: &str,
) -> Result<(GroupRef, String), PageError> {
    let (group, detail) = directory::show(&state.pool, &signed.user, slug).await?;
    if !group.access.can_manage() {
        return Err(AppError::NotFound.into());
    }
    Ok((group, detail.name))
}

/// The address of one of the group's management pages: `""` for the members, `"/events"`…
fn manage_path(group: &GroupRef, rest: &str) -> String {
    format!("/groups/{}/manage{rest}", group.slug)
}
