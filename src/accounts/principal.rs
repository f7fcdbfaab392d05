//! The principal: the active user a request acts for, with their global roles (read by
//! `auth::principals`), and the proofs of role that admin-only and report-only functions
//! demand.
//!
//! `Admin` and `ReportReader` have private fields and are made only here, from a principal
//! that holds the role, so a function that takes one cannot be called without the check.

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;

/// A global role, granted by an admin. Every active user is also an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "global_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum GlobalRole {
    Hr,
    Admin,
}

impl GlobalRole {
    pub fn as_str(self) -> &'static str {
        match self {
            GlobalRole::Hr => "hr",
            GlobalRole::Admin => "admin",
        }
    }
}

/// Which global roles a user holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldRoles {
    pub hr: bool,
    pub admin: bool,
}

impl HeldRoles {
    /// The roles a user shows to clients: `employee` first, then the global roles.
    pub fn names(self) -> Vec<&'static str> {
        let mut roles = vec!["employee"];
        if self.hr {
            roles.push(GlobalRole::Hr.as_str());
        }
        if self.admin {
            roles.push(GlobalRole::Admin.as_str());
        }
        roles
    }
}

/// The signed-in, active user behind a request, with their roles as PostgreSQL holds them:
/// a deactivation or a revoked role takes effect at the next request, on every instance.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub display_name: String,
    pub is_hr: bool,
    pub is_admin: bool,
}

/// Proof that the caller is an admin.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    id: Uuid,
}

impl Admin {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

/// Proof that the caller may read HR's reports (HR or admin).
#[derive(Debug, Clone, Copy)]
pub struct ReportReader {
    id: Uuid,
}

impl ReportReader {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl CurrentUser {
    pub fn admin(&self) -> Result<Admin, AppError> {
        if self.is_admin {
            Ok(Admin { id: self.id })
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub fn report_reader(&self) -> Result<ReportReader, AppError> {
        if self.is_hr || self.is_admin {
            Ok(ReportReader { id: self.id })
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// What a front door shows as the caller's roles.
    pub fn role_names(&self) -> Vec<&'static str> {
        HeldRoles {
            hr: self.is_hr,
            admin: self.is_admin,
        }
        .names()
    }
}

/// Inside a write transaction: takes a share lock on the user's row and checks they are still
/// active (always from the database, never from the principals' cache). A concurrent deactivation (which updates that row) then either waits for this
/// transaction, and ends what it wrote, or has already committed, and this answers 401.
pub async fn lock_active(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<(), AppError> {
    sqlx::query_scalar!(
        "SELECT id FROM users WHERE id = $1 AND active FOR SHARE",
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|_| ())
    .ok_or(AppError::Unauthorized)
}
