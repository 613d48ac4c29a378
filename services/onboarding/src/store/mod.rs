//! SQL for onboarding's own tables; nothing else. One set of portable queries for Postgres
//! and SQLite (sqlx `Any`), every multi-row change in one transaction with its outbox event.

use std::collections::HashMap;

use axv_auth::Role;
use axv_platform::{
    audit::{self, Actor, Change},
    db::{Database, Filters, StoreError, placeholders},
    events::Event,
    ids::{new_id, now_ms},
    outbox::Outbox,
};
use sqlx::{FromRow, Row};

use crate::{
    domain::{CompanyAction, CompanyDraft, CompanyStatus, GwangjuPresence, Sector},
    error::{CompanyRefusal, OnboardingError},
};

pub const SERVICE: &str = "onboarding";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub password_hash: String,
    /// The member's user name on the Slurm cluster, when given.
    pub cluster_user: Option<String>,
    /// The console's language the person chose ("ko" or "en").
    pub language: Option<String>,
    /// When an admin deactivated the (staff) account; it cannot sign in.
    pub deactivated_at: Option<i64>,
}

/// Who an account id is, for "who did this" wherever it is shown.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserName {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CompanyRecord {
    pub id: String,
    pub business_number: String,
    pub name_ko: String,
    pub name_en: Option<String>,
    #[sqlx(try_from = "String")]
    pub sector: Sector,
    #[sqlx(try_from = "String")]
    pub presence: GwangjuPresence,
    pub employees: Option<i64>,
    pub founded_on: Option<String>,
    pub contact_email: String,
    #[sqlx(try_from = "String")]
    pub status: CompanyStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChangeRecord {
    pub from: Option<String>,
    pub to: String,
    pub at: i64,
    pub actor: String,
    pub note: Option<String>,
}

/// Which companies a listing may include.
#[derive(Debug, Clone, PartialEq)]
pub enum ListScope {
    All,
    MemberOf(String),
    PublicOnly,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyFilter {
    pub statuses: Vec<CompanyStatus>,
    pub sectors: Vec<Sector>,
    pub presences: Vec<GwangjuPresence>,
    pub text: Option<String>,
}

/// Public headcounts of companies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompanyCounts {
    /// Companies that have applied: any status but DRAFT.
    pub registered: i64,
    /// Companies APPROVED now.
    pub approved: i64,
}

/// An API client as admins see it. Its secret's digest is deliberately not part of it, so no
/// listing can carry it by accident; only [`Store::api_client_credentials`] reads the digest.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiClientRecord {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// id, family_id, user_id, expires_at, used_at, revoked_at
type RefreshRow = (String, String, String, i64, Option<i64>, Option<i64>);

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshOutcome<T> {
    Rotated(T),
    /// Already used or revoked: the whole family is now revoked. Carries the ids of the access
    /// tokens issued in the family, which must be refused too.
    Reused(Vec<String>),
    Expired,
    Unknown,
}

pub struct NewRefreshToken<'a> {
    pub family_id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a str,
    pub access_jti: &'a str,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct Store {
    db: Database,
    outbox: Outbox,
}

const COMPANY_COLUMNS: &str = "id, business_number, name_ko, name_en, sector, presence, employees, \
     founded_on, contact_email, status, created_at, updated_at";

const USER_COLUMNS: &str =
    "id, email, name, role, password_hash, cluster_user, language, deactivated_at";

const API_CLIENT_COLUMNS: &str = "id, name, role, created_at, created_by, last_used_at, revoked_at";

impl Store {
    pub fn new(db: Database, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// The database, for tests that set what no request can (a link already expired).
    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn database(&self) -> &Database {
        &self.db
    }
}

mod accounts;
mod api_clients;
mod companies;
mod password_resets;
