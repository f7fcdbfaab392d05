//! Sign in, sign out, register, help.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use crate::accounts::registration::Registration;
use crate::auth::client::ClientAddr;
use crate::auth::{credentials, web_session};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::form::{Field, Post, PublicForm};
use crate::web::pages::shared::Nothing;
use crate::web::session::{self, Signed};
use crate::web::{Chrome, Errors, PageError, PageResult, Section, ok, render, see_other};

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    chrome: Chrome,
    errors: Errors,
    problem: Option<String>,
    email: String,
    registration_open: bool,
    /// The provider's name, when single sign-on is configured: "Sign in with <name>".
    sso: Option<String>,
    password_login: bool,
}

impl LoginPage {
    fn new(
        state: &AppState,
        chrome: Chrome,
        errors: Errors,
        problem: Option<String>,
        email: String,
    ) -> Self {
        Self {
            chrome,
            errors,
            problem,
            email,
            registration_open: state.settings.registration_open(),
            sso: state.sso.as_ref().map(|sso| sso.display_name().to_string()),
            password_login: state.settings.auth.password_login,
        }
    }
}

pub async fn login_page(State(state): State<AppState>) -> Response {
    ok(&LoginPage::new(
        &state,
        Chrome::anonymous("Sign in", Section::SignIn),
        Errors::none(),
        None,
        String::new(),
    ))
}

/// A new session for someone whose identity was just proven (password, registration, single
/// sign-on): its cookie, and the directory.
pub async fn signed_in(state: &AppState, user_id: Uuid, flash: Option<&str>) -> PageResult {
    let token = web_session::start(&state.pool, &state.settings.auth, user_id, flash).await?;
    let mut response = see_other("/");
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&state.settings, &token),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PublicForm(form): PublicForm<LoginForm>,
) -> PageResult {
    let mut errors = Errors::none();
    if form.email.trim().is_empty() {
        errors.push("email", "Enter your email address");
    }
    if form.password.is_empty() {
        errors.push("password", "Enter your password");
    }
    let mut problem = None;
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    let mut retry_after = None;
    if errors.is_empty() {
        let password = SecretString::from(form.password);
        match credentials::check(
            &state.pool,
            &state.hasher,
            &state.settings.auth,
            client,
            &form.email,
            &password,
        )
        .await
        {
            Ok(user_id) => return signed_in(&state, user_id, None).await,
            Err(AppError::BadCredentials) => {
                status = StatusCode::UNAUTHORIZED;
                problem = Some(
                    "The email address or the password is wrong. Check them and try again."
                        .to_string(),
                );
            }
            Err(error @ AppError::Busy { .. }) => {
                status = error.status();
                retry_after = error.retry_after_secs();
                problem =
                    Some("Sign-in is busy right now. Try again in a few seconds.".to_string());
            }
            Err(error @ AppError::TooManyRequests { retry_after_secs }) => {
                status = error.status();
                retry_after = error.retry_after_secs();
                let minutes = retry_after_secs.div_ceil(60).max(1);
                problem = Some(format!(
                    "There have been too many failed attempts to sign in with this email address. Wait {minutes} minute{} and try again.",
                    if minutes == 1 { "" } else { "s" }
                ));
            }
            Err(AppError::Validation(_)) => {
                errors.push(
                    "email",
                    "Enter an email address in the correct format, like name@example.com",
                );
            }
            Err(other) => return Err(other.into()),
        }
    }
    let chrome = if errors.is_empty() && problem.is_some() {
        Chrome::anonymous("Error: Sign in", Section::SignIn)
    } else {
        Chrome::anonymous("Sign in", Section::SignIn).with_errors(&errors)
    };
    let mut response = render(
        status,
        &LoginPage::new(&state, chrome, errors, problem, form.email),
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(response)
}

pub async fn logout(State(state): State<AppState>, post: Post<Nothing>) -> PageResult {
    web_session::end(&state.pool, post.signed.session.id).await?;
    let mut response = see_other("/login");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&state.settings));
    Ok(response)
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    chrome: Chrome,
    errors: Errors,
    fields: Vec<Field>,
}

#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    location: String,
}

fn register_fields(form: &RegisterForm) -> Vec<Field> {
    vec![
        Field::new("display_name", "Name", "text", form.display_name.clone())
            .hint("The name other employees will see.")
            .autocomplete("name"),
        Field::new("email", "Work email address", "email", form.email.clone())
            .autocomplete("email"),
        Field::new("password", "Password", "password", "")
            .hint("12 to 128 characters.")
            .autocomplete("new-password"),
        Field::new(
            "department",
            "Department (optional)",
            "text",
            form.department.clone(),
        ),
        Field::new(
            "location",
            "Location (optional)",
            "text",
            form.location.clone(),
        ),
    ]
}

pub async fn register_page(State(state): State<AppState>) -> PageResult {
    if !state.settings.registration_open() {
        return Err(PageError::App(AppError::NotFound));
    }
    Ok(ok(&RegisterPage {
        chrome: Chrome::anonymous("Create an account", Section::None),
        errors: Errors::none(),
        fields: register_fields(&RegisterForm::default()),
    }))
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

pub async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PublicForm(form): PublicForm<RegisterForm>,
) -> PageResult {
    if !state.settings.registration_open() {
        return Err(PageError::App(AppError::NotFound));
    }
    let registration = Registration {
        email: form.email.clone(),
        password: SecretString::from(form.password.clone()),
        display_name: form.display_name.clone(),
        department: optional(&form.department),
        location: optional(&form.location),
    };
    let errors = match credentials::register(
        &state.pool,
        &state.hasher,
        &state.settings,
        client,
        registration,
    )
    .await
    {
        Ok(user) => {
            // The person just chose this password: they are signed in at once.
            let welcome = "Your account is ready. You are signed in.";
            return signed_in(&state, user.id, Some(welcome)).await;
        }
        Err(AppError::Conflict(_)) => {
            let mut errors = Errors::none();
            errors.push(
                "email",
                "An account with this email address already exists. Sign in instead",
            );
            errors
        }
        Err(error) => Errors::from_app(error)?,
    };
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RegisterPage {
            chrome: Chrome::anonymous("Create an account", Section::None).with_errors(&errors),
            fields: register_fields(&form),
            errors,
        },
    ))
}

#[derive(Template)]
#[template(path = "help.html")]
pub struct HelpPage {
    chrome: Chrome,
}

/// Help is for everyone; a signed-in person keeps their navigation.
pub async fn help(signed: Result<Signed, PageError>) -> Response {
    let chrome = match signed {
        Ok(mut signed) => Chrome::signed(&mut signed, "Who sees what", Section::None),
        Err(_) => Chrome::anonymous("Who sees what", Section::None),
    };
    ok(&HelpPage { chrome }).into_response()
}
