//! Registration: an employee creates their own account, where the settings allow it.

use secrecy::SecretString;
use sqlx::PgPool;

use crate::accounts::email::Email;
use crate::accounts::password::{Hasher, NewPassword};
use crate::accounts::{self, User};
use crate::config::Settings;
use crate::error::{AppError, FieldError, ResultExt};
use crate::text;

pub struct Registration {
    pub email: String,
    pub password: SecretString,
    pub display_name: String,
    pub department: Option<String>,
    pub location: Option<String>,
}

/// Creates an employee account. Every field is checked before anything is written.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn register(
    pool: &PgPool,
    hasher: &Hasher,
    settings: &Settings,
    form: Registration,
) -> Result<User, AppError> {
    if !settings.registration_open() {
        return Err(AppError::Forbidden);
    }
    let mut errors = Vec::new();
    let email = match Email::parse(&form.email) {
        Ok(email) if !email.domain_allowed(&settings.auth.allowed_email_domains) => {
            errors.push(FieldError::new(
                "email",
                "this email domain may not register here",
            ));
            None
        }
        Ok(email) => Some(email),
        Err(message) => {
            errors.push(FieldError::new("email", message));
            None
        }
    };
    let password = NewPassword::parse(form.password)
        .map_err(|message| errors.push(FieldError::new("password", message)))
        .ok();
    let display_name = text::check(
        "display_name",
        Some(&form.display_name),
        text::LINE,
        &mut errors,
    );
    let department = text::check(
        "department",
        form.department.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let location = text::check(
        "location",
        form.location.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let (Some(email), Some(password), Some(display_name), true) =
        (email, password, display_name, errors.is_empty())
    else {
        return Err(AppError::Validation(errors));
    };
    let hash = hasher.hash(&password).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO users (email, password_hash, display_name, department, location)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        email.as_str(),
        hash,
        display_name,
        department,
        location
    )
    .fetch_one(pool)
    .await
    .on_constraint("users_email_key", || {
        AppError::Conflict("an account with this email already exists".into())
    })?;
    accounts::find(pool, id).await?.ok_or(AppError::NotFound)
}
