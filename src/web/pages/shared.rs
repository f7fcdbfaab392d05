//! What several pages share: the form page and the confirmation page (each built by saying
//! only what differs), Post/Redirect/Get with its one-time banner, a group's fields as the
//! forms edit them, and the small forms and queries many handlers take.

use askama::Template;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::groups::directory::GroupRef;
use crate::groups::editing::{self, GroupFields};
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::web::form::Field;
use crate::web::session::Signed;
use crate::web::{Chrome, Errors, PageError, PageResult, Section, ok, render, see_other};

/// A form that sends nothing but its CSRF token (a button).
#[derive(Deserialize)]
pub struct Nothing {}

/// A listing's `?cursor=` for the next page.
#[derive(Deserialize)]
pub struct CursorQuery {
    pub cursor: Option<String>,
}

/// Post/Redirect/Get: leaves the one-time banner and answers a 303 to the page that shows the
/// result.
pub async fn done(state: &AppState, signed: &Signed, message: &str, to: &str) -> PageResult {
    signed.flash(&state.pool, message).await?;
    Ok(see_other(to))
}

/// The tabs of a group's management pages, with the one a page belongs to.
pub struct ManageNav {
    pub slug: String,
    pub group_name: String,
    pub tab: &'static str,
}

impl ManageNav {
    pub fn new(slug: &str, group_name: &str, tab: &'static str) -> Self {
        Self {
            slug: slug.to_string(),
            group_name: group_name.to_string(),
            tab,
        }
    }
}

/// A page of fields in one form (`form_page.html`), shown again with what was typed and what
/// is wrong (422) when the domain refuses it.
#[derive(Template)]
#[template(path = "form_page.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub errors: Errors,
    pub heading: String,
    pub manage: Option<ManageNav>,
    pub intro: Vec<String>,
    pub facts: Vec<(String, String)>,
    pub warning: String,
    pub action: String,
    pub button: String,
    pub back: String,
    pub fields: Vec<Field>,
}

impl FormPage {
    /// A form titled `heading`; say where it posts with [`FormPage::button`] and where Cancel
    /// leads with [`FormPage::back`].
    pub fn new(signed: &mut Signed, section: Section, heading: impl Into<String>) -> Self {
        let heading = heading.into();
        Self {
            chrome: Chrome::signed(signed, heading.clone(), section),
            errors: Errors::none(),
            heading,
            manage: None,
            intro: Vec::new(),
            facts: Vec::new(),
            warning: String::new(),
            action: String::new(),
            button: String::new(),
            back: String::new(),
            fields: Vec::new(),
        }
    }

    /// The form posts to `action` with a button saying `label`.
    pub fn button(mut self, action: impl Into<String>, label: impl Into<String>) -> Self {
        self.action = action.into();
        self.button = label.into();
        self
    }

    /// Where Cancel leads.
    pub fn back(mut self, href: impl Into<String>) -> Self {
        self.back = href.into();
        self
    }

    /// A page among a group's management pages: their tabs under the heading.
    pub fn within(mut self, manage: ManageNav) -> Self {
        self.manage = Some(manage);
        self
    }

    /// A paragraph under the heading.
    pub fn intro(mut self, paragraph: impl Into<String>) -> Self {
        self.intro.push(paragraph.into());
        self
    }

    /// A term and its value, in a list under the introduction.
    pub fn fact(mut self, term: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push((term.into(), value.into()));
        self
    }

    /// What pressing the button will do to others, said just above it.
    pub fn warning(mut self, text: impl Into<String>) -> Self {
        self.warning = text.into();
        self
    }

    pub fn fields(mut self, fields: Vec<Field>) -> Self {
        self.fields = fields;
        self
    }

    /// What is wrong with the form: the title starts with "Error: " and a summary links to
    /// each field.
    pub fn errors(mut self, errors: Errors) -> Self {
        self.chrome = self.chrome.with_errors(&errors);
        self.errors = errors;
        self
    }

    /// The page: 200 when it is first shown, 422 when it comes back with errors.
    pub fn answer(self) -> PageResult {
        if self.errors.is_empty() {
            Ok(ok(&self))
        } else {
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &self))
        }
    }
}

/// The confirmation page a destructive action goes through: it names the consequences, and
/// its button posts the action; the other way out keeps things as they are.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub consequences: Vec<String>,
    pub action: String,
    pub button: String,
    pub back: String,
    pub back_label: String,
}

impl ConfirmPage {
    /// Asks `heading`; say what the button does with [`ConfirmPage::button`] and the way out
    /// with [`ConfirmPage::back`].
    pub fn new(signed: &mut Signed, section: Section, heading: impl Into<String>) -> Self {
        let heading = heading.into();
        Self {
            chrome: Chrome::signed(signed, heading.clone(), section),
            heading,
            consequences: Vec::new(),
            action: String::new(),
            button: String::new(),
            back: String::new(),
            back_label: String::new(),
        }
    }

    /// The button, saying `label`, posts to `action`.
    pub fn button(mut self, action: impl Into<String>, label: impl Into<String>) -> Self {
        self.action = action.into();
        self.button = label.into();
        self
    }

    /// The way out, `label`, leads to `href` and changes nothing.
    pub fn back(mut self, href: impl Into<String>, label: impl Into<String>) -> Self {
        self.back = href.into();
        self.back_label = label.into();
        self
    }

    /// One consequence, in a paragraph of its own.
    pub fn consequence(mut self, text: impl Into<String>) -> Self {
        self.consequences.push(text.into());
        self
    }

    pub fn answer(self) -> PageResult {
        Ok(ok(&self))
    }
}

/// A group's fields as the forms edit them: the lead's page text, the administrator's
/// "create" and "edit". The rules are `groups::editing`'s.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GroupForm {
    pub slug: String,
    pub name: String,
    pub tagline: String,
    pub mission: String,
    pub description: String,
    pub join_policy: String,
}

impl GroupForm {
    /// The form of a group as it is now.
    pub fn of(detail: &crate::groups::directory::GroupDetail) -> Self {
        Self {
            slug: detail.slug.clone(),
            name: detail.name.clone(),
            tagline: detail.tagline.clone(),
            mission: detail.mission.clone(),
            description: detail.description.clone(),
            join_policy: detail.join_policy.as_str().to_string(),
        }
    }

    /// The fields; the web address only when the group is being created (it never changes).
    pub fn form_fields(&self, with_slug: bool) -> Vec<Field> {
        let mut fields = vec![Field::new("name", "Name", "text", self.name.clone())];
        if with_slug {
            fields.push(
                Field::new("slug", "Web address", "text", self.slug.clone()).hint(
                    "2 to 64 characters of a-z, 0-9 and -, for example pride-network. It cannot be changed later.",
                ),
            );
        }
        let policy = if self.join_policy.is_empty() {
            "open".to_string()
        } else {
            self.join_policy.clone()
        };
        fields.extend([
            Field::new("tagline", "Tagline", "text", self.tagline.clone())
                .hint("One line under the name in the directory."),
            Field::new("mission", "Mission", "textarea", self.mission.clone()),
            Field::new(
                "description",
                "About the group (optional)",
                "textarea",
                self.description.clone(),
            ),
            Field::new("join_policy", "How do people join?", "radios", policy).options(&[
                ("open", "At once, when they choose to"),
                ("approval", "A lead approves each request"),
            ]),
        ]);
        fields
    }

    /// The fields as the domain takes them; the web address only when creating.
    pub fn to_domain(&self, with_slug: bool) -> GroupFields {
        GroupFields {
            slug: with_slug.then(|| self.slug.trim().to_string()),
            name: Some(self.name.clone()),
            tagline: Some(self.tagline.clone()),
            mission: Some(self.mission.clone()),
            description: Some(self.description.clone()),
            join_policy: (!self.join_policy.is_empty()).then(|| self.join_policy.clone()),
        }
    }
}

/// Saves a group's fields from either of its edit pages (a lead's page text, an admin's
/// group page): the banner and a 303 to `saved_to`, or `page` again with what is wrong.
pub async fn save_group(
    state: &AppState,
    signed: &mut Signed,
    group: &GroupRef,
    form: &GroupForm,
    saved_to: &str,
    page: impl FnOnce(&mut Signed, Errors) -> PageResult,
) -> PageResult {
    match editing::update(&state.pool, group, form.to_domain(false)).await {
        Ok(()) => {
            let message = format!("The page of {} is saved.", form.name.trim());
            done(state, signed, &message, saved_to).await
        }
        Err(error) => page(signed, Errors::from_app(error)?),
    }
}

/// Every group the person may see, by slug and name (for pickers and the admin's list).
pub async fn every_group(
    state: &AppState,
    signed: &Signed,
) -> Result<Vec<(String, String)>, PageError> {
    let mut groups = Vec::new();
    let mut cursor = None;
    loop {
        let page = crate::groups::directory::list(
            &state.pool,
            &signed.user,
            None,
            &PageRequest::new(100, cursor)?,
        )
        .await?;
        groups.extend(page.items.into_iter().map(|g| (g.slug, g.name)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(groups),
        }
    }
}
