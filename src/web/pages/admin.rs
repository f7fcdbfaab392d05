//! Administration: people (search, roles, deactivation), groups (create, edit, archive) and
//! the audit log. Only for admins; a 404 page for anyone else.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::accounts::{self, Admin, GlobalRole, User};
use crate::error::AppError;
use crate::groups::directory::{self, GroupRef};
use crate::groups::editing;
use crate::lifecycle;
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::web::form::Post;
use crate::web::pages::shared::{
    ConfirmPage, CursorQuery, FormPage, GroupForm, Nothing, done, every_group, save_group,
};
use crate::web::session::Signed;
use crate::web::{Chrome, Errors, PageError, PageResult, Section, ok, render, when};

fn admin_of(signed: &Signed) -> Result<Admin, PageError> {
    Ok(signed.user.admin().map_err(|_| AppError::NotFound)?)
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
            let message = format!(
                "{} now has the roles: {}.",
                updated.display_name,
                role_words(&updated)
            );
            done(&state, &signed, &message, "/admin/users").await
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
    let name = &user.display_name;
    ConfirmPage::new(&mut signed, Section::Admin, format!("Deactivate {name}?"))
        .consequence(format!("{name} ({}) will be signed out everywhere at once and cannot sign in again.", user.email))
        .consequence("Their memberships end, their places at future events are given to the people waiting, and their mentoring requests are withdrawn. The history that reports need is kept.")
        .button(format!("/admin/users/{}/deactivate", user.id), format!("Deactivate {name}"))
        .back("/admin/users", "Keep the account")
        .answer()
}

pub async fn deactivate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<Nothing>,
) -> PageResult {
    let admin = admin_of(&post.signed)?;
    let user = target(&state, &id).await?;
    let gone = lifecycle::deactivate(&state.pool, &admin, user.id).await?;
    let message = format!("{} is deactivated.", gone.display_name);
    done(&state, &post.signed, &message, "/admin/users").await
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
    let groups = every_group(&state, &signed).await?;
    Ok(ok(&GroupsPage {
        chrome: Chrome::signed(&mut signed, "Groups", Section::Admin),
        tab: "groups",
        groups,
    }))
}

fn new_group_form(signed: &mut Signed, form: &GroupForm, errors: Errors) -> PageResult {
    FormPage::new(signed, Section::Admin, "Create a group")
        .intro("Appoint its first lead afterwards: they join the group, and you make them a co-lead from the group's member list.")
        .button("/admin/groups/new", "Create the group")
        .back("/admin/groups")
        .fields(form.form_fields(true))
        .errors(errors)
        .answer()
}

pub async fn new_group_page(mut signed: Signed) -> PageResult {
    admin_of(&signed)?;
    new_group_form(&mut signed, &GroupForm::default(), Errors::none())
}

pub async fn new_group(State(state): State<AppState>, post: Post<GroupForm>) -> PageResult {
    let Post { mut signed, form } = post;
    let admin = admin_of(&signed)?;
    let errors = match editing::create(&state.pool, &admin, form.to_domain(true)).await {
        Ok(slug) => {
            let message = format!("You created {}.", form.name.trim());
            return done(&state, &signed, &message, &format!("/groups/{slug}")).await;
        }
        Err(AppError::Conflict(message)) => {
            let mut errors = Errors::none();
            errors.push("slug", crate::web::sentence(&message));
            errors
        }
        Err(error) => Errors::from_app(error)?,
    };
    new_group_form(&mut signed, &form, errors)
}

/// A group by its address, with its name, for an admin (archived ones included).
async fn admin_group(
    state: &AppState,
    signed: &Signed,
    slug: &str,
) -> Result<(Admin, GroupRef, String), PageError> {
    let admin = admin_of(signed)?;
    let (group, detail) = directory::show(&state.pool, &signed.user, slug).await?;
    Ok((admin, group, detail.name))
}

fn edit_group_form(
    signed: &mut Signed,
    group: &GroupRef,
    name: &str,
    form: &GroupForm,
    errors: Errors,
) -> PageResult {
    FormPage::new(signed, Section::Admin, format!("Edit {name}"))
        .intro(format!(
            "Every employee can read what you write here. The web address, /groups/{}, stays as it is.",
            group.slug
        ))
        .button(format!("/admin/groups/{}/edit", group.slug), format!("Save {name}"))
        .back("/admin/groups")
        .fields(form.form_fields(false))
        .errors(errors)
        .answer()
}

pub async fn edit_group_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (_, group, name) = admin_group(&state, &signed, &slug).await?;
    let detail = directory::detail(&state.pool, &group).await?;
    edit_group_form(
        &mut signed,
        &group,
        &name,
        &GroupForm::of(&detail),
        Errors::none(),
    )
}

pub async fn edit_group(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<GroupForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (_, group, name) = admin_group(&state, &signed, &slug).await?;
    save_group(
        &state,
        &mut signed,
        &group,
        &form,
        "/admin/groups",
        |signed, errors| edit_group_form(signed, &group, &name, &form, errors),
    )
    .await
}

pub async fn archive_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (_, group, name) = admin_group(&state, &signed, &slug).await?;
    ConfirmPage::new(&mut signed, Section::Admin, format!("Archive {name}?"))
        .consequence(format!("{name} leaves the directory and takes no new members or answers. Its history stays for the reports."))
        .button(format!("/admin/groups/{}/archive", group.slug), format!("Archive {name}"))
        .back("/admin/groups", "Keep the group")
        .answer()
}

pub async fn archive(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<Nothing>,
) -> PageResult {
    let (admin, group, name) = admin_group(&state, &post.signed, &slug).await?;
    editing::archive(&state.pool, &admin, &group).await?;
    done(
        &state,
        &post.signed,
        &format!("{name} is archived."),
        "/admin/groups",
    )
    .await
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
