//! Identities at a single sign-on provider: the provider's issuer and subject (`sub`) name one
//! account. The first sign-in links them, to the account whose email the provider says it
//! verified, or to a new account when `oidc.create_users` is on; every later sign-in finds the
//! account by them alone, whatever the provider's email says by then. A deactivated account is
//! refused however it is found, and an account keeps the first identity linked to it: another
//! subject with the same email (an address the provider gave to someone new) is refused.
//!
//! Only `auth::oidc` calls [`sign_in`], after it verified the provider's ID token.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::email::Email;
use crate::audit::{self, Action};
use crate::config::Settings;
use crate::error::{AppError, ResultExt};
use crate::text;

/// What the provider vouched for, from a verified ID token (and its user info).
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says the email is the person's (`email_verified`); absent: no.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a verified identity does not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The account is deactivated (or was deleted by provisioning).
    Deactivated,
    /// No account has the provider's email, and accounts are not created here.
    NoAccount,
    /// The provider gave no email it verified, so no account can be matched or made by it.
    NoVerifiedEmail,
    /// The email's domain may not have an account here (`auth.allowed_email_domains`).
    DomainNotAllowed,
    /// The account with this email is linked to another identity at this provider.
    LinkedToAnother,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    User(Uuid),
    Refused(Refusal),
}

/// The account a provider's identity signs in, linking (or creating) it the first time.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn sign_in(
    pool: &PgPool,
    settings: &Settings,
    identity: &ProviderIdentity,
) -> Result<SignIn, AppError> {
    if identity.subject.is_empty() || identity.subject.len() > 255 {
        return Err(AppError::bad_request(
            "the provider's subject must be 1 to 255 characters",
        ));
    }
    let mut tx = pool.begin().await?;
    let known = sqlx::query!(
        r#"SELECT u.id, u.active FROM user_identities i JOIN users u ON u.id = i.user_id
           WHERE i.issuer = $1 AND i.subject = $2
           FOR UPDATE OF i"#,
        identity.issuer,
        identity.subject
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(known) = known {
        if !known.active {
            return Ok(SignIn::Refused(Refusal::Deactivated));
        }
        sqlx::query!(
            "UPDATE user_identities SET last_login_at = now() WHERE issuer = $1 AND subject = $2",
            identity.issuer,
            identity.subject
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(SignIn::User(known.id));
    }

    // The first sign-in: only an email the provider verified may match or make an account.
    let email = match identity.email.as_deref().map(Email::parse) {
        Some(Ok(email)) if identity.email_verified => email,
        _ => return Ok(SignIn::Refused(Refusal::NoVerifiedEmail)),
    };
    let account = sqlx::query!(
        "SELECT id, active FROM users WHERE email = $1 FOR UPDATE",
        email.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, action) = match account {
        Some(account) if !account.active => return Ok(SignIn::Refused(Refusal::Deactivated)),
        Some(account) => (account.id, Action::IdentityLinked),
        None if !settings.oidc.create_users => return Ok(SignIn::Refused(Refusal::NoAccount)),
        None if !email.domain_allowed(&settings.auth.allowed_email_domains) => {
            return Ok(SignIn::Refused(Refusal::DomainNotAllowed));
        }
        None => {
            let display_name = display_name(identity.name.as_deref(), &email);
            let id = sqlx::query_scalar!(
                "INSERT INTO users (email, password_hash, display_name) VALUES ($1, NULL, $2)
                 RETURNING id",
                email.as_str(),
                display_name
            )
            .fetch_one(&mut *tx)
            .await
            .on_constraint("users_email_key", || {
                AppError::Conflict("an account with this email was made at the same time".into())
            })?;
            (id, Action::UserCreatedBySso)
        }
    };
    // One identity per provider and account; a concurrent first sign-in of the same subject
    // makes this insert wait and then find the row.
    let linked = sqlx::query_scalar!(
        "INSERT INTO user_identities (issuer, subject, user_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING user_id",
        identity.issuer,
        identity.subject,
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if linked.is_none() {
        let holder = sqlx::query_scalar!(
            "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
            identity.issuer,
            identity.subject
        )
        .fetch_optional(&mut *tx)
        .await?;
        return Ok(match holder {
            Some(holder) if holder == user_id => SignIn::User(user_id),
            _ => SignIn::Refused(Refusal::LinkedToAnother),
        });
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        action,
        Some(&user_id.to_string()),
        json!({ "via": "oidc", "issuer": identity.issuer }),
    )
    .await?;
    tx.commit().await?;
    Ok(SignIn::User(user_id))
}

/// The provider's name for the person when it is a fit name, or else their email.
fn display_name(name: Option<&str>, email: &Email) -> String {
    let mut errors = Vec::new();
    text::check("name", name, text::OPTIONAL_LINE, &mut errors)
        .unwrap_or_else(|| email.as_str().chars().take(100).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_does_not_fit_gives_way_to_the_email() {
        let email = Email::parse("ada@example.com").unwrap();
        assert_eq!(display_name(Some(" Ada Lovelace "), &email), "Ada Lovelace");
        assert_eq!(display_name(None, &email), "ada@example.com");
        assert_eq!(display_name(Some("\u{202e}x"), &email), "ada@example.com");
        assert_eq!(
            display_name(Some(&"n".repeat(101)), &email),
            "ada@example.com"
        );
    }
}
