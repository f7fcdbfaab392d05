//! What the group says of itself: its page text, and its privacy notice, which members and
//! allies accept when they join and again whenever it changes. The rules are
//! `groups::editing`'s and `groups::notice`'s.

use axum::extract::{Path, State};
use serde::Deserialize;

use crate::groups::directory::{self, GroupRef};
use crate::groups::notice::{self, NoticeEdit, PrivacyNotice};
use crate::state::AppState;
use crate::web::form::{Field, Post};
use crate::web::pages::manage::{manage_path, managed};
use crate::web::pages::shared::{FormPage, GroupForm, ManageNav, done, save_group};
use crate::web::session::Signed;
use crate::web::{Errors, PageResult, Section, when};

fn page_form(
    signed: &mut Signed,
    group: &GroupRef,
    name: &str,
    form: &GroupForm,
    errors: Errors,
) -> PageResult {
    FormPage::new(signed, Section::None, "Edit the group's page")
        .within(ManageNav::new(&group.slug, name, "page"))
        .intro("Every employee can read this page.")
        .button(manage_path(group, "/page"), "Save the page")
        .back(format!("/groups/{}", group.slug))
        .fields(form.form_fields(false))
        .errors(errors)
        .answer()
}

pub async fn page_text_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let detail = directory::detail(&state.pool, &group).await?;
    page_form(
        &mut signed,
        &group,
        &name,
        &GroupForm::of(&detail),
        Errors::none(),
    )
}

pub async fn page_text(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<GroupForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, name) = managed(&state, &signed, &slug).await?;
    let to = format!("/groups/{}", group.slug);
    save_group(&state, &mut signed, &group, &form, &to, |signed, errors| {
        page_form(signed, &group, &name, &form, errors)
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeForm {
    text: String,
}

/// The notice's form, with the version published now and what publishing another does.
fn notice_form(
    signed: &mut Signed,
    group: &GroupRef,
    name: &str,
    current: &PrivacyNotice,
    text: &str,
    errors: Errors,
) -> PageResult {
    let mut page = FormPage::new(signed, Section::None, format!("Privacy notice of {name}"))
        .within(ManageNav::new(&group.slug, name, "notice"))
        .intro(format!(
            "Say in the group's own words who {name} is for and who sees what. Everyone who joins reads the notice and accepts it first."
        ));
    page = match (current.text.is_empty(), current.updated_at) {
        (false, Some(at)) => page
            .fact("Published version", current.version.to_string())
            .fact("Published on", when(at)),
        (false, None) => page.fact("Published version", current.version.to_string()),
        (true, Some(at)) => page.intro(format!(
            "{name} has no privacy notice: it was removed on {}.",
            when(at)
        )),
        (true, None) => page.intro(format!("{name} has no privacy notice yet.")),
    };
    page.warning(format!(
        "When you publish a changed notice, every member and ally of {name} is asked to read it and accept it again. Until they do, My groups and the group's page show them the new notice; their membership stays as it is."
    ))
    .button(manage_path(group, "/notice"), "Publish the notice")
    .back(manage_path(group, ""))
    .fields(vec![
        Field::new("text", "Text of the notice", "textarea", text).hint(
            "Up to 10,000 characters; line breaks are kept. Leave it empty to remove the notice: no one is then asked to accept one.",
        ),
    ])
    .errors(errors)
    .answer()
}

pub async fn notice_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let current = notice::get(&state.pool, &group).await?;
    let text = current.text.clone();
    notice_form(&mut signed, &group, &name, &current, &text, Errors::none())
}

pub async fn publish_notice(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<NoticeForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, name) = managed(&state, &signed, &slug).await?;
    let before = notice::get(&state.pool, &group).await?;
    let edit = NoticeEdit {
        text: Some(form.text.clone()),
    };
    match notice::put(&state.pool, &group, edit).await {
        Ok(after) => {
            let message = if after.version == before.version {
                "The notice is unchanged: no one is asked to accept it again.".to_string()
            } else if after.text.is_empty() {
                format!("You removed the privacy notice of {name}. No one is asked to accept one.")
            } else {
                format!(
                    "You published version {} of the privacy notice. Members and allies of {name} are asked to read it and accept it.",
                    after.version
                )
            };
            done(&state, &signed, &message, &manage_path(&group, "/notice")).await
        }
        Err(error) => {
            let errors = Errors::from_app(error)?;
            notice_form(&mut signed, &group, &name, &before, &form.text, errors)
        }
    }
}
