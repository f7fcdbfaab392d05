//! Provisioning: the identity provider (the HR system) creates, updates and finds accounts.
//!
//! A provisioning client proves itself with a bearer token made by `belong scim-token create`;
//! `authenticate` turns a live token into a [`ProvisioningClient`], the proof every function
//! here demands, and records that the token was used. Accounts made here have no password:
//! those people sign in through single sign-on, and password sign-in refuses them exactly as
//! it refuses a wrong password.
//!
//! Deactivation and reactivation are not here: they end memberships and RSVPs, so they live in
//! `lifecycle`, which calls [`update_in`] and then ends what a deactivation ends, in one
//! transaction.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::email::Email;
use crate::audit::{self, Action};
use crate::db::notices;
use crate::error::{AppError, FieldError};
use crate::text;

/// Proof that the caller holds a live provisioning token. Made only by [`authenticate`], so a
/// function that takes one cannot be called without the check; it names the token, so the
/// audit log can say which client did what.
#[derive(Clone)]
pub struct ProvisioningClient {
    token_id: Uuid,
    name: String,
}

impl ProvisioningClient {
    pub fn token_id(&self) -> Uuid {
        self.token_id
    }

    /// The name given at `belong scim-token create --name N`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What an audit record says about the actor.
    pub fn audit_details(&self) -> serde_json::Value {
        json!({ "via": "scim", "scim_token": self.name, "scim_token_id": self.token_id })
    }
}

impl fmt::Debug for ProvisioningClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisioningClient")
            .field("name", &self.name)
            .finish()
    }
}

/// The prefix of every provisioning token, so one found in a log or a paste is recognisable.
pub const TOKEN_PREFIX: &str = "belong_scim_";

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The live token presented, or `Unauthorized`. Marks it used.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(pool: &PgPool, presented: &str) -> Result<ProvisioningClient, AppError> {
    if !presented.starts_with(TOKEN_PREFIX) {
        return Err(AppError::Unauthorized);
    }
    let row = sqlx::query!(
        "UPDATE scim_tokens SET last_used_at = now()
         WHERE token_hash = $1 AND revoked_at IS NULL
         RETURNING id, name",
        digest(presented)
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::Unauthorized)?;
    Ok(ProvisioningClient {
        token_id: row.id,
        name: row.name,
    })
}

/// `belong scim-token create --name N`: a new token, answered once; only its digest is kept.
pub async fn create_token(pool: &PgPool, name: &str) -> anyhow::Result<SecretString> {
    let name = name.trim();
    anyhow::ensure!(
        (1..=100).contains(&name.chars().count()) && !name.chars().any(char::is_control),
        "--name must be 1 to 100 characters"
    );
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO scim_tokens (name, token_hash) VALUES ($1, $2)
         ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
         RETURNING id",
        name,
        digest(&token)
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "a live SCIM token named {name:?} exists; revoke it first or pick another name"
        )
    })?;
    audit::record(
        &mut *tx,
        None,
        Action::ScimTokenCreated,
        Some(&id.to_string()),
        json!({ "name": name, "via": "command line" }),
    )
    .await?;
    tx.commit().await?;
    Ok(SecretString::from(token))
}

/// `belong scim-token revoke --name N`: answers whether a live token had that name.
pub async fn revoke_token(pool: &PgPool, name: &str) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query_scalar!(
        "UPDATE scim_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
         RETURNING id",
        name.trim()
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = revoked {
        audit::record(
            &mut *tx,
            None,
            Action::ScimTokenRevoked,
            Some(&id.to_string()),
            json!({ "name": name.trim(), "via": "command line" }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(revoked.is_some())
}

/// An account as provisioning sees it.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub id: Uuid,
    /// The name the identity provider knows the person by: its own, or the email.
    pub user_name: String,
    pub email: String,
    pub external_id: Option<String>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub department: Option<String>,
    pub location: Option<String>,
    pub active: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What the identity provider says about a person, before any check: the whole of it (a
/// replacement, or the current profile with a patch applied).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub user_name: String,
    /// Addresses in order of preference (the primary one first).
    pub emails: Vec<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub department: Option<String>,
    pub location: Option<String>,
    pub active: bool,
}

impl Provisioned {
    /// The profile this account shows, to apply a patch to.
    pub fn profile(&self) -> Profile {
        Profile {
            user_name: self.user_name.clone(),
            emails: vec![self.email.clone()],
            external_id: self.external_id.clone(),
            display_name: Some(self.display_name.clone()),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            department: self.department.clone(),
            location: self.location.clone(),
            active: self.active,
        }
    }
}

/// A profile that passed every rule.
#[derive(Debug)]
pub struct Checked {
    email: Email,
    /// `None` when the user name is the email itself.
    user_name: Option<String>,
    external_id: Option<String>,
    display_name: String,
    given_name: Option<String>,
    family_name: Option<String>,
    department: Option<String>,
    location: Option<String>,
    pub active: bool,
}

/// The rules of a provisioned profile; errors name the SCIM attribute at fault. The account's
/// email is the first of `emails`, or else `userName` when that is an address. Without a
/// display name, the given and family names make one, or else the email.
pub fn check(profile: &Profile) -> Result<Checked, AppError> {
    let mut errors = Vec::new();
    let user_name = text::check(
        "userName",
        Some(&profile.user_name),
        text::TextRule::line(256),
        &mut errors,
    );
    let email = match profile.emails.first() {
        Some(first) => Email::parse(first)
            .map_err(|m| errors.push(FieldError::new("emails[0].value", m)))
            .ok(),
        None => match user_name.as_deref().map(Email::parse) {
            Some(Ok(email)) => Some(email),
            Some(Err(_)) => {
                errors.push(FieldError::new(
                    "userName",
                    "must be an email address, or the address must be given in emails",
                ));
                None
            }
            None => None,
        },
    };
    let external_id = text::check(
        "externalId",
        profile.external_id.as_deref(),
        text::TextRule::optional_line(256),
        &mut errors,
    );
    let display_name = text::check(
        "displayName",
        profile.display_name.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let given_name = text::check(
        "name.givenName",
        profile.given_name.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let family_name = text::check(
        "name.familyName",
        profile.family_name.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let department = text::check(
        "department",
        profile.department.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let location = text::check(
        "location",
        profile.location.as_deref(),
        text::OPTIONAL_LINE,
        &mut errors,
    );
    let (Some(email), Some(user_name), true) = (email, user_name, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let display_name = display_name.unwrap_or_else(|| {
        let joined = [given_name.as_deref(), family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if joined.is_empty() || joined.chars().count() > 100 {
            email.as_str().chars().take(100).collect()
        } else {
            joined
        }
    });
    let user_name = (user_name.to_lowercase() != email.as_str()).then_some(user_name);
    Ok(Checked {
        email,
        user_name,
        external_id,
        display_name,
        given_name,
        family_name,
        department,
        location,
        active: profile.active,
    })
}

/// Unique values taken by another account: 409, naming what.
fn conflict(error: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &error {
        let taken = match db.constraint() {
            Some("users_email_key") => Some("the email address"),
            Some("users_external_id_key") => Some("the externalId"),
            Some("users_scim_user_name_key") => Some("the userName"),
            _ => None,
        };
        if let Some(taken) = taken {
            return AppError::Conflict(format!("{taken} belongs to another account"));
        }
    }
    error.into()
}

/// Creates the account (without a password), or takes up again one the identity provider
/// deleted earlier with the same address. Any other account with that address: 409.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    pool: &PgPool,
    client: &ProvisioningClient,
    profile: &Profile,
) -> Result<Provisioned, AppError> {
    let checked = check(profile)?;
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO users (email, password_hash, display_name, department, location, external_id,
                            given_name, family_name, scim_user_name, active, deactivated_at)
         VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $9 THEN NULL ELSE now() END)
         ON CONFLICT (email) DO UPDATE SET
             display_name = EXCLUDED.display_name, department = EXCLUDED.department,
             location = EXCLUDED.location, external_id = EXCLUDED.external_id,
             given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name,
             scim_user_name = EXCLUDED.scim_user_name, active = EXCLUDED.active,
             deactivated_at = EXCLUDED.deactivated_at, deprovisioned_at = NULL
           WHERE users.deprovisioned_at IS NOT NULL
         RETURNING id",
        checked.email.as_str(),
        checked.display_name,
        checked.department,
        checked.location,
        checked.external_id,
        checked.given_name,
        checked.family_name,
        checked.user_name,
        checked.active
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(conflict)?
    .ok_or_else(|| AppError::Conflict("the email address belongs to another account".into()))?;
    let mut details = client.audit_details();
    details["active"] = json!(checked.active);
    audit::record(
        &mut *tx,
        None,
        Action::UserProvisioned,
        Some(&id.to_string()),
        details,
    )
    .await?;
    let created = find(&mut *tx, client, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    // An account taken up again may have been served as deactivated a moment ago.
    notices::settle(pool).await;
    Ok(created)
}

/// Inside a transaction: locks the account's row and answers it, unless it is unknown or the
/// identity provider deleted it.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    client: &ProvisioningClient,
    id: Uuid,
) -> Result<Provisioned, AppError> {
    sqlx::query!(
        "SELECT id FROM users WHERE id = $1 AND deprovisioned_at IS NULL FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)?;
    find(&mut **tx, client, id).await?.ok_or(AppError::NotFound)
}

/// Inside a transaction: writes every attribute of a checked profile but `active` (which
/// `lifecycle` handles) and records what changed.
pub async fn update_in(
    tx: &mut Transaction<'_, Postgres>,
    client: &ProvisioningClient,
    before: &Provisioned,
    checked: &Checked,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE users SET email = $2, display_name = $3, department = $4, location = $5,
             external_id = $6, given_name = $7, family_name = $8, scim_user_name = $9
         WHERE id = $1",
        before.id,
        checked.email.as_str(),
        checked.display_name,
        checked.department,
        checked.location,
        checked.external_id,
        checked.given_name,
        checked.family_name,
        checked.user_name
    )
    .execute(&mut **tx)
    .await
    .map_err(conflict)?;
    let mut changed = Vec::new();
    let pairs: [(&str, Option<&str>, Option<&str>); 8] = [
        ("email", Some(&before.email), Some(checked.email.as_str())),
        (
            "displayName",
            Some(&before.display_name),
            Some(&checked.display_name),
        ),
        (
            "department",
            before.department.as_deref(),
            checked.department.as_deref(),
        ),
        (
            "location",
            before.location.as_deref(),
            checked.location.as_deref(),
        ),
        (
            "externalId",
            before.external_id.as_deref(),
            checked.external_id.as_deref(),
        ),
        (
            "name.givenName",
            before.given_name.as_deref(),
            checked.given_name.as_deref(),
        ),
        (
            "name.familyName",
            before.family_name.as_deref(),
            checked.family_name.as_deref(),
        ),
        (
            "userName",
            Some(&before.user_name),
            Some(
                checked
                    .user_name
                    .as_deref()
                    .unwrap_or(checked.email.as_str()),
            ),
        ),
    ];
    for (name, was, now) in pairs {
        if was != now {
            changed.push(name);
        }
    }
    if !changed.is_empty() {
        let mut details = client.audit_details();
        // Names of what changed, not the values: the log is no copy of personal data.
        details["changed"] = json!(changed);
        audit::record(
            &mut **tx,
            None,
            Action::UserProvisionUpdated,
            Some(&before.id.to_string()),
            details,
        )
        .await?;
    }
    Ok(())
}

/// Inside a transaction: hides the account from provisioning (after `lifecycle` deactivated it).
pub async fn mark_deprovisioned(
    tx: &mut Transaction<'_, Postgres>,
    _client: &ProvisioningClient,
    id: Uuid,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE users SET deprovisioned_at = now() WHERE id = $1",
        id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One account, unless unknown or deleted by the identity provider.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    _client: &ProvisioningClient,
    id: Uuid,
) -> Result<Option<Provisioned>, AppError> {
    Ok(sqlx::query_as!(
        Provisioned,
        r#"SELECT id, coalesce(scim_user_name, email) AS "user_name!", email, external_id,
                  display_name, given_name, family_name, department, location, active,
                  created_at, updated_at
           FROM users WHERE id = $1 AND deprovisioned_at IS NULL"#,
        id
    )
    .fetch_optional(executor)
    .await?)
}

/// What a list is narrowed to: the two filters identity providers send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Compared case-insensitively.
    UserName(String),
    /// Compared exactly.
    ExternalId(String),
}

/// A page of a list: 1-based `start_index`, at most `count` accounts, oldest first.
#[derive(Debug)]
pub struct ListPage {
    pub total: i64,
    pub start_index: i64,
    pub items: Vec<Provisioned>,
}

/// The most accounts one page holds.
pub const MAX_PAGE: i64 = 200;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    pool: &PgPool,
    _client: &ProvisioningClient,
    filter: Option<&Filter>,
    start_index: i64,
    count: i64,
) -> Result<ListPage, AppError> {
    let start_index = start_index.max(1);
    let count = count.clamp(0, MAX_PAGE);
    let (user_name, external_id) = match filter {
        Some(Filter::UserName(name)) => (Some(name.to_lowercase()), None),
        Some(Filter::ExternalId(id)) => (None, Some(id.as_str())),
        None => (None, None),
    };
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM users
           WHERE deprovisioned_at IS NULL
             AND ($1::text IS NULL OR lower(coalesce(scim_user_name, email)) = $1)
             AND ($2::text IS NULL OR external_id = $2)"#,
        user_name,
        external_id
    )
    .fetch_one(pool)
    .await?;
    let items = sqlx::query_as!(
        Provisioned,
        r#"SELECT id, coalesce(scim_user_name, email) AS "user_name!", email, external_id,
                  display_name, given_name, family_name, department, location, active,
                  created_at, updated_at
           FROM users
           WHERE deprovisioned_at IS NULL
             AND ($1::text IS NULL OR lower(coalesce(scim_user_name, email)) = $1)
             AND ($2::text IS NULL OR external_id = $2)
           ORDER BY created_at, id
           OFFSET $3 LIMIT $4"#,
        user_name,
        external_id,
        start_index - 1,
        count
    )
    .fetch_all(pool)
    .await?;
    Ok(ListPage {
        total,
        start_index,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(user_name: &str) -> Profile {
        Profile {
            user_name: user_name.into(),
            active: true,
            ..Profile::default()
        }
    }

    #[test]
    fn the_email_is_the_first_address_or_the_user_name() {
        let checked = check(&profile("Ada@Example.com")).unwrap();
        assert_eq!(checked.email.as_str(), "ada@example.com");
        assert_eq!(checked.user_name, None);
        assert_eq!(checked.display_name, "ada@example.com");

        let mut upn = profile("ada@corp.onmicrosoft.com");
        upn.emails = vec!["ada@corp.example".into()];
        upn.given_name = Some("Ada".into());
        upn.family_name = Some("Lovelace".into());
        let checked = check(&upn).unwrap();
        assert_eq!(checked.email.as_str(), "ada@corp.example");
        assert_eq!(
            checked.user_name.as_deref(),
            Some("ada@corp.onmicrosoft.com")
        );
        assert_eq!(checked.display_name, "Ada Lovelace");
    }

    #[test]
    fn a_user_name_that_is_no_address_needs_emails() {
        match check(&profile("ada")) {
            Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "userName"),
            other => panic!("{other:?}"),
        }
        match check(&profile("  ")) {
            Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "userName"),
            other => panic!("{other:?}"),
        }
    }
}
