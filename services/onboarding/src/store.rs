//! SQL for onboarding's own tables; nothing else. One set of portable queries for Postgres
//! and SQLite (sqlx `Any`), every multi-row change in one transaction with its outbox event.

use std::collections::HashMap;

use axv_auth::Role;
use axv_platform::{
    db::{Database, Filters, StoreError, placeholders},
    events::Event,
    ids::{new_id, now_ms},
    outbox::Outbox,
};
use sqlx::{Row, any::AnyRow};

use crate::{
    domain::{CompanyAction, CompanyDraft, CompanyStatus, GwangjuPresence, Sector},
    error::{CompanyRefusal, OnboardingError},
};

pub const SERVICE: &str = "onboarding";

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    /// The member's user name on the Slurm cluster, when given.
    pub cluster_user: Option<String>,
    /// The console's language the person chose ("ko" or "en").
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompanyRecord {
    pub id: String,
    pub business_number: String,
    pub name_ko: String,
    pub name_en: Option<String>,
    pub sector: Sector,
    pub presence: GwangjuPresence,
    pub employees: Option<i64>,
    pub founded_on: Option<String>,
    pub contact_email: String,
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
#[derive(Debug, Clone, PartialEq)]
pub struct ApiClientRecord {
    pub id: String,
    pub name: String,
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

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Config(format!("stored {what} {value:?} is not valid"))
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(|_| corrupt("role", &role))?,
        password_hash: row.try_get("password_hash")?,
        cluster_user: row.try_get("cluster_user")?,
        language: row.try_get("language")?,
    })
}

const USER_COLUMNS: &str = "id, email, name, role, password_hash, cluster_user, language";

const API_CLIENT_COLUMNS: &str = "id, name, role, created_at, created_by, last_used_at, revoked_at";

fn api_client_from_row(row: &AnyRow) -> Result<ApiClientRecord, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(ApiClientRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(|_| corrupt("role", &role))?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn company_from_row(row: &AnyRow) -> Result<CompanyRecord, StoreError> {
    let sector: String = row.try_get("sector")?;
    let presence: String = row.try_get("presence")?;
    let status: String = row.try_get("status")?;
    Ok(CompanyRecord {
        id: row.try_get("id")?,
        business_number: row.try_get("business_number")?,
        name_ko: row.try_get("name_ko")?,
        name_en: row.try_get("name_en")?,
        sector: Sector::parse(&sector).ok_or_else(|| corrupt("sector", &sector))?,
        presence: GwangjuPresence::parse(&presence)
            .ok_or_else(|| corrupt("presence", &presence))?,
        employees: row.try_get("employees")?,
        founded_on: row.try_get("founded_on")?,
        contact_email: row.try_get("contact_email")?,
        status: CompanyStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub fn new(db: Database, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// Search keys for companies stored before they existed; a no-op once every row has one.
    pub async fn backfill_search_keys(&self) -> Result<usize, StoreError> {
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, name_ko, name_en FROM companies WHERE search_key IS NULL")
                .fetch_all(self.db.reads())
                .await?;
        for (id, name_ko, name_en) in &rows {
            let key = axv_platform::text::search_key(&format!(
                "{name_ko}\n{}",
                name_en.as_deref().unwrap_or_default()
            ));
            sqlx::query("UPDATE companies SET search_key = $1 WHERE id = $2")
                .bind(key)
                .bind(id)
                .execute(self.db.pool())
                .await?;
        }
        Ok(rows.len())
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRecord, OnboardingError> {
        let id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(email)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now_ms())
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => Ok(UserRecord {
                id,
                email: email.to_owned(),
                name: name.to_owned(),
                role,
                password_hash: password_hash.to_owned(),
                cluster_user: None,
                language: None,
            }),
            Err(e) if e.is_unique_on("users.email", "users_email_key") => Err(
                OnboardingError::Conflict("an account with this email already exists".into()),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, OnboardingError> {
        self.user_where("email", email).await
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, OnboardingError> {
        self.user_where("id", id).await
    }

    /// The user whose unique `column` (a fixed name, never input) equals `value`.
    async fn user_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<UserRecord>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    pub async fn company_ids_of(&self, user_id: &str) -> Result<Vec<String>, OnboardingError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT company_id FROM company_members WHERE user_id = $1 ORDER BY company_id",
        )
        .bind(user_id)
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    pub async fn insert_refresh_token(
        &self,
        token: NewRefreshToken<'_>,
    ) -> Result<(), OnboardingError> {
        let mut conn = self.db.pool().acquire().await.map_err(StoreError::from)?;
        insert_refresh(&mut conn, &token).await
    }

    /// Presents a refresh token: marks it used and lets `next` issue the next pair of the same
    /// family, all in one transaction. A token that was used or revoked before revokes its
    /// whole family, since someone holds a copy.
    pub async fn rotate_refresh_token<T>(
        &self,
        token_hash: &str,
        next: impl FnOnce(
            &UserRecord,
            Vec<String>,
            &str,
        ) -> Result<(T, String, String, i64), OnboardingError>,
    ) -> Result<RefreshOutcome<T>, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let Some((id, family_id, user_id, expires_at, used_at, revoked_at)) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let claimed = if used_at.is_some() || revoked_at.is_some() {
            0
        } else {
            sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
        };
        if claimed != 1 {
            revoke_family(&mut tx, &family_id, now).await?;
            let issued: Vec<(String,)> =
                sqlx::query_as("SELECT access_jti FROM refresh_tokens WHERE family_id = $1")
                    .bind(&family_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(RefreshOutcome::Reused(
                issued.into_iter().map(|(jti,)| jti).collect(),
            ));
        }
        if expires_at <= now {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(RefreshOutcome::Expired);
        }
        let user_row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(&user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let user = user_from_row(&user_row)?;
        let companies: Vec<(String,)> = sqlx::query_as(
            "SELECT company_id FROM company_members WHERE user_id = $1 ORDER BY company_id",
        )
        .bind(&user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let companies = companies.into_iter().map(|(id,)| id).collect();
        let (result, new_hash, access_jti, new_expires_at) = next(&user, companies, &family_id)?;
        insert_refresh(
            &mut tx,
            &NewRefreshToken {
                family_id: &family_id,
                user_id: &user_id,
                token_hash: &new_hash,
                access_jti: &access_jti,
                expires_at: new_expires_at,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(RefreshOutcome::Rotated(result))
    }

    /// A new password for `user_id`: every refresh family of the person is revoked in the same
    /// transaction. Answers the access token ids those families issued that may still be live,
    /// for the caller to refuse at once.
    pub async fn replace_password(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> Result<Vec<String>, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let live: Vec<(String,)> = sqlx::query_as(
            "SELECT access_jti FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at >= $2",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(live.into_iter().map(|(jti,)| jti).collect())
    }

    /// (id, name) of the people among `ids`; unknown ids are absent.
    pub async fn user_names(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, OnboardingError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT id, name FROM users WHERE id IN ({placeholders}) ORDER BY id");
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for id in ids {
            query = query.bind(id);
        }
        Ok(query
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?)
    }

    /// Revokes the refresh family the access token `access_jti` was issued with.
    pub async fn revoke_family_of_access(&self, access_jti: &str) -> Result<(), OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let family: Option<(String,)> =
            sqlx::query_as("SELECT family_id FROM refresh_tokens WHERE access_jti = $1")
                .bind(access_jti)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        if let Some((family_id,)) = family {
            revoke_family(&mut tx, &family_id, now_ms()).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    pub async fn create_company(
        &self,
        draft: &CompanyDraft,
        creator_id: &str,
    ) -> Result<CompanyRecord, OnboardingError> {
        let id = new_id();
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let inserted = sqlx::query(
            "INSERT INTO companies (id, business_number, name_ko, name_en, sector, presence, employees, \
             founded_on, contact_email, status, created_at, updated_at, search_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
        )
        .bind(&id)
        .bind(draft.business_number.as_str())
        .bind(&draft.name_ko)
        .bind(draft.name_en.as_deref())
        .bind(draft.sector.as_str())
        .bind(draft.presence.as_str())
        .bind(draft.employees)
        .bind(draft.founded_on.map(|d| d.to_string()))
        .bind(draft.contact_email.as_str())
        .bind(CompanyStatus::Draft.as_str())
        .bind(now)
        .bind(company_search_key(draft))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => {}
            Err(e)
                if e.is_unique_on("companies.business_number", "companies_business_number_key") =>
            {
                return Err(OnboardingError::Conflict(
                    "a company with this business registration number is already registered".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query("INSERT INTO company_members (company_id, user_id, added_at, added_by) VALUES ($1, $2, $3, $2)")
            .bind(&id)
            .bind(creator_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        record_change(
            &mut tx,
            &id,
            None,
            CompanyStatus::Draft,
            creator_id,
            None,
            now,
        )
        .await?;
        // memberIds lets live subscribers learn their new company without a lookup.
        let event = Event::new(SERVICE, "company.created", &id)
            .for_companies(vec![id.clone()])
            .with_payload(serde_json::json!({ "memberIds": [creator_id] }));
        self.outbox.enqueue(&mut tx, &event).await?;
        let company = fetch_company(&mut tx, &id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        self.outbox.commit(tx).await?;
        Ok(company)
    }

    /// Replaces the application's fields while the firm may still edit it.
    pub async fn update_company(
        &self,
        id: &str,
        draft: &CompanyDraft,
    ) -> Result<CompanyRecord, OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let current = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        if !current.status.is_editable() {
            return Err(OnboardingError::Domain(CompanyRefusal::NotEditable(
                current.status,
            )));
        }
        let updated = sqlx::query(
            "UPDATE companies SET business_number = $1, name_ko = $2, name_en = $3, sector = $4, presence = $5, \
             employees = $6, founded_on = $7, contact_email = $8, updated_at = $9, search_key = $12 \
             WHERE id = $10 AND status = $11",
        )
        .bind(draft.business_number.as_str())
        .bind(&draft.name_ko)
        .bind(draft.name_en.as_deref())
        .bind(draft.sector.as_str())
        .bind(draft.presence.as_str())
        .bind(draft.employees)
        .bind(draft.founded_on.map(|d| d.to_string()))
        .bind(draft.contact_email.as_str())
        .bind(now_ms())
        .bind(id)
        .bind(current.status.as_str())
        .bind(company_search_key(draft))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match updated {
            Ok(result) if result.rows_affected() == 1 => {}
            Ok(_) => {
                return Err(OnboardingError::Conflict(
                    "the company changed meanwhile; retry".into(),
                ));
            }
            Err(e)
                if e.is_unique_on("companies.business_number", "companies_business_number_key") =>
            {
                return Err(OnboardingError::Conflict(
                    "a company with this business registration number is already registered".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let company = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(company)
    }

    pub async fn company(&self, id: &str) -> Result<Option<CompanyRecord>, OnboardingError> {
        let mut conn = self.db.reads().acquire().await.map_err(StoreError::from)?;
        fetch_company(&mut conn, id).await
    }

    pub async fn companies_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<CompanyRecord>, OnboardingError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(company_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn company_by_business_number(
        &self,
        business_number: &str,
    ) -> Result<Option<CompanyRecord>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE business_number = $1"
        ))
        .bind(business_number)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.as_ref().map(company_from_row).transpose()?)
    }

    pub async fn is_member(
        &self,
        company_id: &str,
        user_id: &str,
    ) -> Result<bool, OnboardingError> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT company_id FROM company_members WHERE company_id = $1 AND user_id = $2",
        )
        .bind(company_id)
        .bind(user_id)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(found.is_some())
    }

    pub async fn add_member(
        &self,
        company_id: &str,
        user_id: &str,
        added_by: &str,
    ) -> Result<(), OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let added = sqlx::query(
            "INSERT INTO company_members (company_id, user_id, added_at, added_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (company_id, user_id) DO NOTHING",
        )
        .bind(company_id)
        .bind(user_id)
        .bind(now_ms())
        .bind(added_by)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if added == 1 {
            let event = Event::new(SERVICE, "company.member_added", company_id)
                .for_companies(vec![company_id.to_owned()])
                .with_payload(serde_json::json!({ "memberIds": [user_id] }));
            self.outbox.enqueue(&mut tx, &event).await?;
        }
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Keeps a revocation until `expires_at` (the longest asked for wins).
    pub async fn record_revocation(
        &self,
        token_id: &str,
        expires_at: i64,
    ) -> Result<(), OnboardingError> {
        sqlx::query(
            "INSERT INTO revocations (token_id, expires_at) VALUES ($1, $2) \
             ON CONFLICT (token_id) DO UPDATE SET expires_at = \
             CASE WHEN excluded.expires_at > revocations.expires_at THEN excluded.expires_at ELSE revocations.expires_at END",
        )
        .bind(token_id)
        .bind(expires_at)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// Revocations of tokens that expire after `after` (unix secs); older ones are dropped.
    pub async fn live_revocations(
        &self,
        after: i64,
    ) -> Result<Vec<(String, i64)>, OnboardingError> {
        sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(after)
            .execute(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT token_id, expires_at FROM revocations WHERE expires_at >= $1")
                .bind(after)
                .fetch_all(self.db.reads())
                .await
                .map_err(StoreError::from)?;
        Ok(rows)
    }

    /// Changes a person's own name, cluster user name and language.
    pub async fn update_user(
        &self,
        id: &str,
        name: &str,
        cluster_user: Option<&str>,
        language: Option<&str>,
    ) -> Result<(), OnboardingError> {
        sqlx::query("UPDATE users SET name = $1, cluster_user = $2, language = $3 WHERE id = $4")
            .bind(name)
            .bind(cluster_user)
            .bind(language)
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// (company id, cluster user name) of every member of these companies who gave one.
    pub async fn cluster_users_of(
        &self,
        company_ids: &[String],
    ) -> Result<Vec<(String, String)>, OnboardingError> {
        let mut found = Vec::new();
        for chunk in company_ids.chunks(500) {
            let sql = format!(
                "SELECT m.company_id, u.cluster_user FROM company_members m JOIN users u ON u.id = m.user_id \
                 WHERE u.cluster_user IS NOT NULL AND m.company_id IN ({}) ORDER BY m.company_id, u.cluster_user",
                axv_platform::db::placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, String)>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            found.extend(
                query
                    .fetch_all(self.db.reads())
                    .await
                    .map_err(StoreError::from)?,
            );
        }
        Ok(found)
    }

    pub async fn members_of(&self, company_id: &str) -> Result<Vec<UserRecord>, OnboardingError> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.cluster_user, u.language FROM users u \
             JOIN company_members m ON m.user_id = u.id WHERE m.company_id = $1 ORDER BY m.added_at, u.id",
        )
        .bind(company_id)
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Every recorded transition of each company, oldest first.
    pub async fn histories(
        &self,
        company_ids: &[String],
    ) -> Result<HashMap<String, Vec<StatusChangeRecord>>, OnboardingError> {
        let mut histories: HashMap<String, Vec<StatusChangeRecord>> = HashMap::new();
        if company_ids.is_empty() {
            return Ok(histories);
        }
        let sql = format!(
            "SELECT company_id, from_status, to_status, at, actor, note FROM company_status_changes \
             WHERE company_id IN ({}) ORDER BY at, id",
            placeholders(1, company_ids.len())
        );
        let mut query = sqlx::query_as::<
            _,
            (String, Option<String>, String, i64, String, Option<String>),
        >(&sql);
        for id in company_ids {
            query = query.bind(id);
        }
        for (company_id, from, to, at, actor, note) in query
            .fetch_all(self.db.reads())
            .await
            .map_err(StoreError::from)?
        {
            histories
                .entry(company_id)
                .or_default()
                .push(StatusChangeRecord {
                    from,
                    to,
                    at,
                    actor,
                    note,
                });
        }
        Ok(histories)
    }

    /// A page of companies in id (creation) order after `after`, and the total matching.
    pub async fn list_companies(
        &self,
        scope: &ListScope,
        filter: &CompanyFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CompanyRecord>, i64), OnboardingError> {
        let mut filters = Filters::default();
        match scope {
            ListScope::All => {}
            ListScope::MemberOf(user_id) => {
                filters.clause(
                    "id IN (SELECT company_id FROM company_members WHERE user_id = {})",
                    user_id.clone(),
                );
            }
            ListScope::PublicOnly => {
                let public = CompanyStatus::ALL
                    .iter()
                    .filter(|s| s.is_public())
                    .map(|s| s.as_str().to_owned());
                filters.any_of("status", public.collect());
            }
        }
        // An empty filter list means "any", not "none".
        if !filter.statuses.is_empty() {
            filters.any_of(
                "status",
                filter
                    .statuses
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            );
        }
        if !filter.sectors.is_empty() {
            filters.any_of(
                "sector",
                filter
                    .sectors
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            );
        }
        if !filter.presences.is_empty() {
            filters.any_of(
                "presence",
                filter
                    .presences
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            );
        }
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            filters.clause(
                "search_key LIKE {} ESCAPE '\\'",
                axv_platform::text::contains_pattern(text),
            );
        }
        let (rows, total) = filters
            .page(&self.db, "companies", COMPANY_COLUMNS, after, limit)
            .await?;
        Ok((
            rows.iter()
                .map(company_from_row)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// How many companies in `sectors` (empty: every sector) have applied, and how many of them
    /// are approved now; one statement, so both figures come from the same snapshot.
    pub async fn count_companies(
        &self,
        sectors: &[Sector],
    ) -> Result<CompanyCounts, OnboardingError> {
        let mut filters = Filters::default();
        // Approved companies are a subset of applied ones, so one scan counts both.
        filters.clause("status <> {}", CompanyStatus::Draft.as_str().to_owned());
        if !sectors.is_empty() {
            filters.any_of(
                "sector",
                sectors.iter().map(|s| s.as_str().to_owned()).collect(),
            );
        }
        let sql = format!(
            "SELECT COUNT(*), COUNT(CASE WHEN status = ${} THEN 1 END) FROM companies{}",
            filters.binds().len() + 1,
            filters.sql()
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for bind in filters.binds() {
            query = query.bind(bind);
        }
        let (registered, approved) = query
            .bind(CompanyStatus::Approved.as_str())
            .fetch_one(self.db.reads())
            .await
            .map_err(StoreError::from)?;
        Ok(CompanyCounts {
            registered,
            approved,
        })
    }

    /// Applies `action` if the company's current state allows it and `authorize` agrees, records
    /// the transition and its event, all in one transaction.
    pub async fn transition(
        &self,
        id: &str,
        action: CompanyAction,
        actor: &str,
        note: Option<&str>,
        authorize: impl FnOnce(&CompanyRecord) -> Result<(), OnboardingError>,
    ) -> Result<CompanyRecord, OnboardingError> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let current = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        authorize(&current)?;
        let to = action.apply(current.status)?;
        // Guarded by the state just read: two reviewers acting at once cannot both win.
        let changed = sqlx::query(
            "UPDATE companies SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(id)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed != 1 {
            return Err(OnboardingError::Conflict(
                "the company changed meanwhile; retry".into(),
            ));
        }
        record_change(&mut tx, id, Some(current.status), to, actor, note, now).await?;
        let event = Event::new(SERVICE, action.event_kind(), id)
            .for_companies(vec![id.to_owned()])
            .public(to.is_public())
            .with_payload(
                serde_json::json!({ "from": current.status.as_str(), "to": to.as_str() }),
            );
        self.outbox.enqueue(&mut tx, &event).await?;
        let company = fetch_company(&mut tx, id)
            .await?
            .ok_or(OnboardingError::NotFound("company"))?;
        self.outbox.commit(tx).await?;
        Ok(company)
    }
}

/// API clients (OAuth 2.0 client credentials).
impl Store {
    /// Registers a client whose secret has the digest `secret_hash`, with its event.
    pub async fn create_api_client(
        &self,
        name: &str,
        role: Role,
        secret_hash: &str,
        created_by: &str,
    ) -> Result<ApiClientRecord, OnboardingError> {
        let client = ApiClientRecord {
            id: new_id(),
            name: name.to_owned(),
            role,
            created_at: now_ms(),
            created_by: created_by.to_owned(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO api_clients (id, name, role, secret_hash, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.role.as_str())
        .bind(secret_hash)
        .bind(client.created_at)
        .bind(&client.created_by)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let event = Event::new(SERVICE, "api_client.registered", &client.id)
            .with_payload(serde_json::json!({ "role": client.role.as_str() }));
        self.outbox.enqueue(&mut tx, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(client)
    }

    /// Every client, revoked ones included, in registration order.
    pub async fn api_clients(&self) -> Result<Vec<ApiClientRecord>, OnboardingError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients ORDER BY created_at, id"
        ))
        .fetch_all(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(api_client_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn api_client(&self, id: &str) -> Result<Option<ApiClientRecord>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        Ok(row.as_ref().map(api_client_from_row).transpose()?)
    }

    /// The client and its secret's stored digest, for a token exchange only.
    pub async fn api_client_credentials(
        &self,
        id: &str,
    ) -> Result<Option<(ApiClientRecord, String)>, OnboardingError> {
        let row = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS}, secret_hash FROM api_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hash: String = row.try_get("secret_hash").map_err(StoreError::from)?;
        Ok(Some((api_client_from_row(&row)?, hash)))
    }

    /// Records a successful exchange; false when the client is unknown or was revoked meanwhile
    /// (the update is guarded on `revoked_at`, so no exchange succeeds after a revocation commits).
    pub async fn touch_api_client(&self, id: &str) -> Result<bool, OnboardingError> {
        let updated = sqlx::query(
            "UPDATE api_clients SET last_used_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Marks the client revoked, with its event; a client revoked before is returned unchanged.
    pub async fn revoke_api_client(
        &self,
        id: &str,
        revoked_by: &str,
    ) -> Result<ApiClientRecord, OnboardingError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        let changed = sqlx::query(
            "UPDATE api_clients SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(revoked_by)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if changed == 1 {
            let event = Event::new(SERVICE, "api_client.revoked", id);
            self.outbox.enqueue(&mut tx, &event).await?;
        }
        let row = sqlx::query(&format!(
            "SELECT {API_CLIENT_COLUMNS} FROM api_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let client = row
            .as_ref()
            .map(api_client_from_row)
            .transpose()?
            .ok_or(OnboardingError::NotFound("API client"))?;
        self.outbox.commit(tx).await?;
        Ok(client)
    }
}

async fn fetch_company(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<CompanyRecord>, OnboardingError> {
    let row = sqlx::query(&format!(
        "SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(row.as_ref().map(company_from_row).transpose()?)
}

async fn insert_refresh(
    conn: &mut sqlx::AnyConnection,
    token: &NewRefreshToken<'_>,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, access_jti, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(token.token_hash)
    .bind(token.access_jti)
    .bind(now_ms())
    .bind(token.expires_at)
    .execute(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

async fn revoke_family(
    conn: &mut sqlx::AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

async fn record_change(
    conn: &mut sqlx::AnyConnection,
    company_id: &str,
    from: Option<CompanyStatus>,
    to: CompanyStatus,
    actor: &str,
    note: Option<&str>,
    at: i64,
) -> Result<(), OnboardingError> {
    sqlx::query(
        "INSERT INTO company_status_changes (id, company_id, from_status, to_status, at, actor, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(company_id)
    .bind(from.map(CompanyStatus::as_str))
    .bind(to.as_str())
    .bind(at)
    .bind(actor)
    .bind(note)
    .execute(conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Both names in the form search compares (case-, width- and composition-blind).
fn company_search_key(draft: &CompanyDraft) -> String {
    axv_platform::text::search_key(&format!(
        "{}\n{}",
        draft.name_ko,
        draft.name_en.as_deref().unwrap_or_default()
    ))
}
