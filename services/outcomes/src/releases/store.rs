//! SQL for releases: each one a row with its basis as JSON, written with its event in one
//! transaction, numbered one after the other.

use axv_platform::{
    audit::{self, Actor, Change},
    db::Database,
    events::Event,
    ids::now_ms,
    outbox::Outbox,
};
use chrono::NaiveDate;
use sqlx::{Row, any::AnyRow};

use super::rules::{Basis, CellRef};
use crate::{error::ReportsError, store::SERVICE};

/// A published release, without its basis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseInfo {
    pub number: i64,
    pub date: NaiveDate,
    pub published_at: i64,
    pub published_by: String,
    pub note: String,
    /// The quarter a calendar release follows ("2026-Q3"); `None` when published early.
    pub schedule_key: Option<String>,
    pub held: Vec<CellRef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub info: ReleaseInfo,
    pub basis: Basis,
}

/// What a publication writes; the number is the next one.
#[derive(Clone, Debug)]
pub struct NewRelease {
    pub date: NaiveDate,
    pub published_by: String,
    pub note: String,
    pub schedule_key: Option<String>,
    pub held: Vec<CellRef>,
    pub basis: Basis,
}

pub const EVENT_KIND: &str = "stats.release_published";

#[derive(Clone)]
pub struct ReleaseStore {
    db: Database,
    outbox: Outbox,
}

const INFO_COLUMNS: &str =
    "number, release_date, published_at, published_by, note, schedule_key, held_cells";

fn corrupt(what: &str, error: impl std::fmt::Display) -> ReportsError {
    ReportsError::Internal(format!("release {what}: {error}"))
}

fn info_from_row(row: &AnyRow) -> Result<ReleaseInfo, ReportsError> {
    let date: String = row.try_get("release_date")?;
    let held: String = row.try_get("held_cells")?;
    Ok(ReleaseInfo {
        number: row.try_get("number")?,
        date: NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|e| corrupt("date", e))?,
        published_at: row.try_get("published_at")?,
        published_by: row.try_get("published_by")?,
        note: row.try_get("note")?,
        schedule_key: row.try_get("schedule_key")?,
        held: serde_json::from_str(&held).map_err(|e| corrupt("held cells", e))?,
    })
}

fn basis_from_row(row: &AnyRow) -> Result<Basis, ReportsError> {
    let basis: String = row.try_get("basis")?;
    serde_json::from_str(&basis).map_err(|e| corrupt("basis", e))
}

impl ReleaseStore {
    pub fn new(db: Database, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// The release public answers come from now.
    pub async fn latest(&self) -> Result<Option<Release>, ReportsError> {
        let sql = format!(
            "SELECT {INFO_COLUMNS}, basis FROM stats_releases ORDER BY number DESC LIMIT 1"
        );
        let row = sqlx::query(&sql).fetch_optional(self.db.reads()).await?;
        row.map(|row| {
            Ok(Release {
                info: info_from_row(&row)?,
                basis: basis_from_row(&row)?,
            })
        })
        .transpose()
    }

    pub async fn get(&self, number: i64) -> Result<Option<Release>, ReportsError> {
        let sql = format!("SELECT {INFO_COLUMNS}, basis FROM stats_releases WHERE number = $1");
        let row = sqlx::query(&sql)
            .bind(number)
            .fetch_optional(self.db.reads())
            .await?;
        row.map(|row| {
            Ok(Release {
                info: info_from_row(&row)?,
                basis: basis_from_row(&row)?,
            })
        })
        .transpose()
    }

    /// Every release's basis, oldest first: the next release must differ from each of them by
    /// whole cells of at least three companies.
    pub async fn all(&self) -> Result<Vec<Release>, ReportsError> {
        let sql = format!("SELECT {INFO_COLUMNS}, basis FROM stats_releases ORDER BY number");
        let rows = sqlx::query(&sql).fetch_all(self.db.reads()).await?;
        rows.iter()
            .map(|row| {
                Ok(Release {
                    info: info_from_row(row)?,
                    basis: basis_from_row(row)?,
                })
            })
            .collect()
    }

    /// Newest first, `limit` of them before release `before` (all when `None`), and how many
    /// there are in all.
    pub async fn list(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<ReleaseInfo>, i64), ReportsError> {
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM stats_releases WHERE number < $1 ORDER BY number DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.db.reads())
            .await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stats_releases")
            .fetch_one(self.db.reads())
            .await?;
        Ok((
            rows.iter().map(info_from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    pub async fn has_schedule_key(&self, key: &str) -> Result<bool, ReportsError> {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT number FROM stats_releases WHERE schedule_key = $1")
                .bind(key)
                .fetch_optional(self.db.reads())
                .await?;
        Ok(found.is_some())
    }

    /// Writes release `after + 1` with its public event. Another publication since `after` was
    /// read, or a second calendar release for the same quarter, is a CONFLICT.
    pub async fn publish(
        &self,
        after: i64,
        release: &NewRelease,
        actor: &Actor,
    ) -> Result<ReleaseInfo, ReportsError> {
        let number = after + 1;
        let basis = serde_json::to_string(&release.basis).map_err(|e| corrupt("basis", e))?;
        let held = serde_json::to_string(&release.held).map_err(|e| corrupt("held cells", e))?;
        let published_at = now_ms();
        let mut tx = self.db.pool().begin().await?;
        let (latest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(number) FROM stats_releases")
            .fetch_one(&mut *tx)
            .await?;
        if latest.unwrap_or(0) != after {
            return Err(ReportsError::Conflict(
                "another release was published meanwhile; look at it before publishing".into(),
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO stats_releases (number, release_date, published_at, published_by, note, schedule_key, held_cells, basis) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(number)
        .bind(release.date.to_string())
        .bind(published_at)
        .bind(&release.published_by)
        .bind(&release.note)
        .bind(&release.schedule_key)
        .bind(&held)
        .bind(&basis)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(ReportsError::Conflict(
                "that release was published meanwhile".into(),
            ));
        }
        let event = Event::new(SERVICE, EVENT_KIND, number.to_string())
            .public(true)
            .with_payload(serde_json::json!({
                "number": number,
                "date": release.date.to_string(),
                "scheduled": release.schedule_key.is_some(),
                "heldCells": release.held.len(),
            }));
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new(EVENT_KIND, "release", &number.to_string())
            .summary(format!(
                "release {number} of {}, {} cells held",
                release.date,
                release.held.len()
            ))
            .note(Some(&release.note));
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        Ok(ReleaseInfo {
            number,
            date: release.date,
            published_at,
            published_by: release.published_by.clone(),
            note: release.note.clone(),
            schedule_key: release.schedule_key.clone(),
            held: release.held.clone(),
        })
    }
}
