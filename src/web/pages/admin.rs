//! Administration: people (search, roles, deactivation), groups (create, archive) and the
//! audit log. Only for admins; a 404 page for anyone else.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::accounts::{self, Admin, GlobalRole, User};
use crate::error::AppError;
use crate::groups::directory;
use crate::groups::editing::{self, GroupFields};
use crate::lifecycle;
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::web::form::{Field, Post};
use crate::web::pages::manage::{ConfirmPage, FormPage};
use crate::web::session::Signed;
use crate::web::{Chrome, Errors, PageError, PageResult, Section, ok, render, see_other, when};

fn admin_of(signed: &Signed) -> Result<Admin, PageError> {
    Ok(signed.user.admin().map_err(|_| AppError::NotFound)?)
}

async fn flash(state: &AppState, signed: &Signed, message: &str) -> Result<(), PageError> {
    crate::auth::web_session::set_flash(&state.pool, signed.session.id, message).await?;
    Ok(())
}

pub struct UserLine {
    id: Uuid,
    name: String,
    email: String,
    roles: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    chrome: Chrome,
    tab: &'static str,
    q: String,
    users: Vec<UserLine>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct UsersQuery {
    q: Option<String>,
    cursor: Option<String>,
}

fn role_words(user: &User) -> String {
    let mut words = vec!["Employee"];
    if user.roles.iter().any(|r| r == "hr") {
        words.push("HR");
    }
    if user.roles.iter().any(|r| r == "admin") {
        words.push("Administrator");
    }
    words.join(", ")
}

pub async fn users(
    State(state): State<AppState>,
    mut signed: Signed,
    Query(query): Query<UsersQuery>,
) -> PageResult {
    let admin = admin_of(&signed)?;
    let q = query.q.unwrap_or_default().trim().to_string();
    let page = accounts::list(
        &state.pool,
        &admin,
        (!q.is_empty()).then_some(q.as_str()),
        &PageRequest::new(50, query.cursor)?,
    )
    .await?;
    let users = page
        .items
        .iter()
        .map(|u| UserLine {
            id: u.id,
            name: u.display_name.clone(),
            email: u.email.clone(),
            roles: role_words(u),
            active: u.active,
        })
        .collect();
    Ok(ok(&UsersPage {
        chrome: Chrome::signed(&mut signed, "People", Section::Admin),
        tab: "users",
        q,
        users,
        next_cursor: page.next_cursor,
    }))
}

async fn target(state: &AppState, raw: &str) -> Result<User, PageError> {
    let id = Uuid::parse_str(raw).map_err(|_| AppError::NotFound)?;
    Ok(accounts::find(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?)
}

#[derive(Template)]
#[template(path = "admin_roles.html")]
pub struct RolesPage {
    chrome: Chrome,
    errors: Errors,
    id: Uuid,
    name: String,
    hr: bool,
    admin: bool,
}

pub async fn roles_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    admin_of(&signed)?;
    let user = target(&state, &id).await?;
    Ok(ok(&RolesPage {
        chrome: Chrome::signed(
            &mut signed,
            format!("Roles of {}", user.display_name),
            Section::Admin,
        ),
        errors: Errors::none(),
        id: user.id,
        hr: user.roles.iter().any(|r| r == "hr"),
        admin: user.roles.iter().any(|r| r == "admin"),
        name: user.display_name,
    }))
}

#[derive(Deserialize)]
pub struct RolesForm {
    hr: Option<String>,
    admin: Option<String>,
}

pub async fn set_roles(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<RolesForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let admin = admin_of(&signed)?;
    let user = target(&state, &id).await?;
    let mut roles = Vec::new();
    if form.hr.is_some() {
        roles.push(GlobalRole::Hr);
    }
    if form.admin.is_some() {
        roles.push(GlobalRole::Admin);
    }
    match accounts::set_roles(&state.pool, &admin, user.id, &roles).await {
        Ok(updated) => {
            flash(
                &state,
                &signed,
                &format!(
                    "{} now has the roles: {}.",
                    updated.display_name,
                    role_words(&updated)
                ),
            )
            .await?;
            Ok(see_other("/admin/users"))
        }
        Err(AppError::Conflict(message)) => {
            let mut errors = Errors::none();
            errors.push("roles", crate::web::sentence(&message));
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &RolesPage {
                    chrome: Chrome::signed(
                        &mut signed,
                        format!("Roles of {}", user.display_name),
                        Section::Admin,
                    )
                    .with_errors(&errors),
                    errors,
                    id: user.id,
                    hr: form.hr.is_some(),
                    admin: form.admin.is_some(),
                    name: user.display_name,
                },
            ))
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn deactivate_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    admin_of(&signed)?;
    let user = target(&state, &id).await?;
    let heading = format!("Deactivate {}?", user.display_name);
    Ok(ok(&ConfirmPage {
        chrome: Chrome::signed(&mut signed, heading.clone(), Section::Admin),
        heading,
        consequences: vec![
            format!("{} ({}) will be signed out everywhere at once and cannot sign in again.", user.display_name, user.email),
            "Their memberships end, their places at future events are given to the people waiting, and their mentoring requests are withdrawn. The history that reports need is kept.".into(),
        ],
        action: format!("/admin/users/{}/deactivate", user.id),
        button: format!("Deactivate {}", user.display_name),
        back: "/admin/users".into(),
        back_label: "Keep the account".into(),
    }))
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn deactivate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<Nothing>,
) -> PageResult {
    let admin = admin_of(&post.signed)?;
    let user = target(&state, &id).await?;
    let done = lifecycle::deactivate(&state.pool, &admin, user.id).await?;
    flash(
        &state,
        &post.signed,
        &format!("{} is deactivated.", done.display_name),
    )
    .await?;
    Ok(see_other("/admin/users"))
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
pub struct GroupsPage {
    chrome: Chrome,
    tab: &'static str,
    groups: Vec<(String, String)>,
}

pub async fn groups(State(state): State<AppState>, mut signed: Signed) -> PageResult {
    admin_of(&signed)?;
    let mut groups = Vec::new();
    let mut cursor = None;
    loop {
        let page = directory::list(
            &state.pool,
            &signed.user,
            None,
            &PageRequest::new(100, cursor)?,
        )
        .await?;
        groups.extend(page.items.into_iter().map(|g| (g.slug, g.name)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(ok(&GroupsPage {
        chrome: Chrome::signed(&mut signed, "Groups", Section::Admin),
        tab: "groups",
        groups,
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewGroupForm {
    slug: String,
    name: String,
    tagline: String,
    mission: String,
    description: String,
    join_policy: String,
}

fn new_group_page(signed: &mut Signed, form: &NewGroupForm, errors: Errors) -> FormPage {
    FormPage {
        chrome: Chrome::signed(signed, "Create a group", Section::Admin).with_errors(&errors),
        errors,
        heading: "Create a group".into(),
        intro: "Appoint its first lead afterwards: they join the group, and you make them a co-lead from the group's member list.".into(),
        action: "/admin/groups/new".into(),
        button: "Create the group".into(),
        back: "/admin/groups".into(),
        fields: vec![
            Field::new("name", "Name", "text", form.name.clone()),
            Field::new("slug", "Web address", "text", form.slug.clone())
                .hint("2 to 64 characters of a-z, 0-9 and -, for example pride-network. It cannot be changed later."),
            Field::new("tagline", "Tagline", "text", form.tagline.clone()),
            Field::new("mission", "Mission", "textarea", form.mission.clone()),
            Field::new("description", "About the group (optional)", "textarea", form.description.clone()),
            Field::new("join_policy", "How do people join?", "radios", if form.join_policy.is_empty() { "open".to_string() } else { form.join_policy.clone() })
                .options(&[("open", "At once, when they choose to"), ("approval", "A lead approves each request")]),
        ],
    }
}

pub async fn new_group_page_get(mut signed: Signed) -> PageResult {
    admin_of(&signed)?;
    Ok(ok(&new_group_page(
        &mut signed,
        &NewGroupForm::default(),
        Errors::none(),
    )))
}

pub async fn new_group(State(state): State<AppState>, post: Post<NewGroupForm>) -> PageResult {
    let Post { mut signed, form } = post;
    let admin = admin_of(&signed)?;
    let fields = GroupFields {
        slug: Some(form.slug.trim().to_string()),
        name: Some(form.name.clone()),
        tagline: Some(form.tagline.clone()),
        mission: Some(form.mission.clone()),
        description: Some(form.description.clone()),
        join_policy: (!form.join_policy.is_empty()).then(|| form.join_policy.clone()),
    };
    let errors = match editing::create(&state.pool, &admin, fields).await {
        Ok(slug) => {
            flash(
                &state,
                &signed,
                &format!("You created {}.", form.name.trim()),
            )
            .await?;
            return Ok(see_other(&format!("/groups/{slug}")));
        }
        Err(AppError::Conflict(message)) => {
            let mut errors = Errors::none();
            errors.push("slug", crate::web::sentence(&message));
            errors
        }
        Err(error) => Errors::from_app(error)?,
    };
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &new_group_page(&mut signed, &form, errors),
    ))
}

pub async fn archive_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    admin_of(&signed)?;
    let group = directory::resolve(&state.pool, &signed.user, &slug).await?;
    let name = directory::detail(&state.pool, &group).await?.name;
    let heading = format!("Archive {name}?");
    Ok(ok(&ConfirmPage {
        chrome: Chrome::signed(&mut signed, heading.clone(), Section::Admin),
        heading,
        consequences: vec![format!(
            "{name} leaves the directory and takes no new members or answers. Its history stays for the reports."
        )],
        action: format!("/admin/groups/{}/archive", group.slug),
        button: format!("Archive {name}"),
        back: "/admin/groups".into(),
        back_label: "Keep the group".into(),
    }))
}

pub async fn archive(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<Nothing>,
) -> PageResult {
    let admin = admin_of(&post.signed)?;
    let group = directory::resolve(&state.pool, &post.signed.user, &slug).await?;
    let name = directory::detail(&state.pool, &group).await?.name;
    editing::archive(&state.pool, &admin, &group).await?;
    flash(&state, &post.signed, &format!("{name} is archived.")).await?;
    Ok(see_other("/admin/groups"))
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    chrome: Chrome,
    tab: &'static str,
    entries: Vec<(String, String, String, String, String)>,
    later: bool,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    mut signed: Signed,
    Query(query): Query<CursorQuery>,
) -> PageResult {
    let admin = admin_of(&signed)?;
    let later = query.cursor.as_deref().is_some_and(|c| !c.is_empty());
    let page =
        accounts::audit_log(&state.pool, &admin, &PageRequest::new(50, query.cursor)?).await?;
    let entries = page
        .items
        .into_iter()
        .map(|e| {
            (
                when(e.at),
                e.actor_id
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "the service".into()),
                e.action,
                e.target.unwrap_or_default(),
                e.details.to_string(),
            )
        })
        .collect();
    Ok(ok(&AuditPage {
        chrome: Chrome::signed(&mut signed, "Audit log", Section::Admin),
        tab: "audit",
        entries,
        later,
        next_cursor: page.next_cursor,
    }))
}
