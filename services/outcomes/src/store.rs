//! SQL for the outcome reports' own tables. Portable queries for Postgres and SQLite; each
//! change runs in one transaction with its history row and outbox event.

use std::collections::HashMap;

use axv_platform::{
    audit::{self, Actor, Change},
    columns::StoredDate,
    db::{Database, Filters, placeholders},
    events::Event,
    ids::{new_id, now_ms},
    outbox::Outbox,
};
use chrono::NaiveDate;
use sqlx::{AnyConnection, FromRow, any::AnyRow};

use crate::{
    domain::{
        CountedReport, Figures, PilotSchedule, ReportAction, ReportStatus, amend_version,
        check_editable, overlaps,
    },
    error::ReportsError,
};

pub const SERVICE: &str = "outcomes";

/// What the report is about, taken from the pilot when the report is created.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportSubject {
    pub pilot_id: String,
    pub company_id: String,
    pub sector: String,
    pub domain: String,
}

/// The firm's part of a report: its period, figures and evidence (already validated).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportDraft {
    #[sqlx(try_from = "StoredDate")]
    pub period_start: NaiveDate,
    #[sqlx(try_from = "StoredDate")]
    pub period_end: NaiveDate,
    #[sqlx(flatten)]
    pub figures: Figures,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChangeRecord {
    pub from: Option<String>,
    pub to: String,
    pub at: i64,
    pub actor: String,
    pub note: Option<String>,
}

/// A report version; its history comes from its own table.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReportRecord {
    pub id: String,
    pub lineage_id: String,
    #[sqlx(try_from = "i64")]
    pub version: u32,
    #[sqlx(flatten)]
    pub subject: ReportSubject,
    #[sqlx(flatten)]
    pub draft: ReportDraft,
    pub compute_consumed: i64,
    #[sqlx(try_from = "String")]
    pub status: ReportStatus,
    pub created_by: String,
    pub created_at: i64,
    #[sqlx(skip)]
    pub history: Vec<StatusChangeRecord>,
}

/// Which reports a listing may include.
#[derive(Debug, Clone, PartialEq)]
pub enum ListScope {
    All,
    /// Reports of these companies.
    Companies(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFilter {
    pub pilot_id: Option<String>,
    pub company_id: Option<String>,
    pub statuses: Vec<ReportStatus>,
}

const COLUMNS: &str = "id, lineage_id, version, pilot_id, company_id, sector, domain, period_start, period_end, \
     models_developed, models_improved, models_commercialized, patents_filed, patents_registered, papers, new_hires, \
     revenue_krw, investment_krw, compute_consumed, evidence, status, created_by, created_at";

fn bad(what: &str, value: &str) -> ReportsError {
    ReportsError::Internal(format!("stored {what} {value:?} is not valid"))
}

fn parse_day(column: &str, text: &str) -> Result<NaiveDate, ReportsError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad(column, text))
}

#[derive(Clone)]
pub struct Store {
    db: Database,
    outbox: Outbox,
}

impl Store {
    pub fn new(db: Database, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The releases of the public figures, in the same database.
    pub fn releases(&self) -> crate::releases::store::ReleaseStore {
        crate::releases::store::ReleaseStore::new(self.db.clone(), self.outbox.clone())
    }

    /// Refuses a period overlapping another lineage's report of the same pilot.
    async fn check_overlap(
        conn: &mut AnyConnection,
        pilot_id: &str,
        own_lineage: Option<&str>,
        period: (NaiveDate, NaiveDate),
    ) -> Result<(), ReportsError> {
        // Serializes writers of one pilot's reports (a row lock on Postgres; SQLite has one
        // writer anyway) so the check below sees every committed period.
        sqlx::query(
            "INSERT INTO pilot_report_locks (pilot_id, touched_at) VALUES ($1, $2) \
             ON CONFLICT (pilot_id) DO UPDATE SET touched_at = excluded.touched_at",
        )
        .bind(pilot_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT lineage_id, period_start, period_end FROM outcome_reports WHERE pilot_id = $1",
        )
        .bind(pilot_id)
        .fetch_all(conn)
        .await?;
        for (lineage, start, end) in rows {
            if Some(lineage.as_str()) == own_lineage {
                continue;
            }
            let other = (
                parse_day("period_start", &start)?,
                parse_day("period_end", &end)?,
            );
            if overlaps(period, other) {
                return Err(ReportsError::invalid(
                    "periodStart",
                    format!("overlaps the pilot's report for {} to {}", other.0, other.1),
                ));
            }
        }
        Ok(())
    }

    pub async fn create(
        &self,
        subject: &ReportSubject,
        draft: &ReportDraft,
        creator: &Actor,
    ) -> Result<ReportRecord, ReportsError> {
        let id = new_id();
        let creator_id = creator.history_id();
        let mut tx = self.db.pool().begin().await?;
        Self::check_overlap(
            &mut tx,
            &subject.pilot_id,
            None,
            (draft.period_start, draft.period_end),
        )
        .await?;
        insert_report(&mut tx, &id, &id, 1, subject, draft, 0, &creator_id).await?;
        record_change(&mut tx, &id, None, ReportStatus::Draft, &creator_id, None).await?;
        let change = Change::new("report.created", "report", &id)
            .company(&subject.company_id)
            .summary(format!(
                "{} ~ {}: DRAFT",
                draft.period_start, draft.period_end
            ));
        audit::record(&mut tx, creator, &change).await?;
        tx.commit().await?;
        self.report(&id)
            .await?
            .ok_or(ReportsError::NotFound("report"))
    }

    /// Replaces the firm's part of an editable report.
    pub async fn update(
        &self,
        id: &str,
        draft: &ReportDraft,
        actor: &Actor,
    ) -> Result<ReportRecord, ReportsError> {
        let current = self
            .report(id)
            .await?
            .ok_or(ReportsError::NotFound("report"))?;
        check_editable(current.status)?;
        let mut tx = self.db.pool().begin().await?;
        Self::check_overlap(
            &mut tx,
            &current.subject.pilot_id,
            Some(&current.lineage_id),
            (draft.period_start, draft.period_end),
        )
        .await?;
        let f = &draft.figures;
        let changed = sqlx::query(
            "UPDATE outcome_reports SET period_start = $1, period_end = $2, models_developed = $3, models_improved = $4, \
             models_commercialized = $5, patents_filed = $6, patents_registered = $7, papers = $8, new_hires = $9, \
             revenue_krw = $10, investment_krw = $11, evidence = $12, updated_at = $13 WHERE id = $14 AND status = $15",
        )
        .bind(draft.period_start.to_string())
        .bind(draft.period_end.to_string())
        .bind(f.models_developed)
        .bind(f.models_improved)
        .bind(f.models_commercialized)
        .bind(f.patents_filed)
        .bind(f.patents_registered)
        .bind(f.papers)
        .bind(f.new_hires)
        .bind(f.revenue_krw)
        .bind(f.investment_krw)
        .bind(&draft.evidence)
        .bind(now_ms())
        .bind(id)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(ReportsError::Conflict(
                "the report changed meanwhile; retry".into(),
            ));
        }
        let change = Change::new("report.updated", "report", id)
            .company(&current.subject.company_id)
            .summary(format!(
                "figures saved for {} to {}",
                draft.period_start, draft.period_end
            ));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await?;
        self.report(id)
            .await?
            .ok_or(ReportsError::NotFound("report"))
    }

    pub async fn report(&self, id: &str) -> Result<Option<ReportRecord>, ReportsError> {
        Ok(self
            .reports_by_ids(&[id.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    pub async fn reports_by_ids(&self, ids: &[String]) -> Result<Vec<ReportRecord>, ReportsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM outcome_reports WHERE id IN ({}) ORDER BY id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        self.with_history(query.fetch_all(self.db.reads()).await?)
            .await
    }

    /// Every version of a lineage, oldest first.
    pub async fn versions(&self, lineage_id: &str) -> Result<Vec<ReportRecord>, ReportsError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outcome_reports WHERE lineage_id = $1 ORDER BY version"
        ))
        .bind(lineage_id)
        .fetch_all(self.db.reads())
        .await?;
        self.with_history(rows).await
    }

    /// Each pilot's reports, by period then version.
    pub async fn reports_of_pilots(
        &self,
        pilot_ids: &[String],
    ) -> Result<HashMap<String, Vec<ReportRecord>>, ReportsError> {
        let mut out: HashMap<String, Vec<ReportRecord>> = HashMap::new();
        if pilot_ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM outcome_reports WHERE pilot_id IN ({}) ORDER BY period_start, version, id",
            placeholders(1, pilot_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in pilot_ids {
            query = query.bind(id);
        }
        for report in self
            .with_history(query.fetch_all(self.db.reads()).await?)
            .await?
        {
            out.entry(report.subject.pilot_id.clone())
                .or_default()
                .push(report);
        }
        Ok(out)
    }

    async fn with_history(&self, rows: Vec<AnyRow>) -> Result<Vec<ReportRecord>, ReportsError> {
        let mut reports = rows
            .iter()
            .map(ReportRecord::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if reports.is_empty() {
            return Ok(reports);
        }
        let ids: Vec<String> = reports.iter().map(|r| r.id.clone()).collect();
        let sql = format!(
            "SELECT report_id, from_status, to_status, at, actor, note FROM outcome_report_changes \
             WHERE report_id IN ({}) ORDER BY at, id",
            placeholders(1, ids.len())
        );
        let mut history = sqlx::query_as::<
            _,
            (String, Option<String>, String, i64, String, Option<String>),
        >(&sql);
        for id in &ids {
            history = history.bind(id);
        }
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| (id.clone(), n))
            .collect();
        for (report_id, from, to, at, actor, note) in history.fetch_all(self.db.reads()).await? {
            if let Some(&n) = index.get(&report_id) {
                reports[n].history.push(StatusChangeRecord {
                    from,
                    to,
                    at,
                    actor,
                    note,
                });
            }
        }
        Ok(reports)
    }

    /// The counted version of every report: its newest VERIFIED one (an amendment in review
    /// leaves the verified version counting).
    pub async fn counted_reports(&self) -> Result<Vec<CountedReport>, ReportsError> {
        let rows = sqlx::query(
            "SELECT r.pilot_id, r.company_id, r.sector, r.domain, r.period_start, r.models_developed, \
             r.models_improved, r.models_commercialized, r.patents_filed, r.patents_registered, r.papers, \
             r.new_hires, r.revenue_krw, r.investment_krw, r.compute_consumed FROM outcome_reports r \
             WHERE r.status = $1 AND r.version = (SELECT MAX(v.version) FROM outcome_reports v \
             WHERE v.lineage_id = r.lineage_id AND v.status = $1) ORDER BY r.id",
        )
        .bind(ReportStatus::Verified.as_str())
        .fetch_all(self.db.reads())
        .await?;
        Ok(rows
            .iter()
            .map(CountedReport::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Records what a pilot event says of the pilot, unless a newer event already did.
    pub async fn record_pilot(
        &self,
        schedule: &PilotSchedule,
        status: &str,
        event_at_ms: i64,
    ) -> Result<(), ReportsError> {
        sqlx::query(
            "INSERT INTO pilot_schedules (pilot_id, company_id, title, status, starts_on, ends_on, event_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pilot_id) DO UPDATE SET \
             company_id = excluded.company_id, title = excluded.title, status = excluded.status, \
             starts_on = excluded.starts_on, ends_on = excluded.ends_on, event_at = excluded.event_at \
             WHERE pilot_schedules.event_at <= excluded.event_at",
        )
        .bind(&schedule.pilot_id)
        .bind(&schedule.company_id)
        .bind(&schedule.title)
        .bind(status)
        .bind(schedule.starts_on.to_string())
        .bind(schedule.ends_on.to_string())
        .bind(event_at_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Pilots whose last known status is `status`, of `companies` when given.
    pub async fn pilots_in_status(
        &self,
        status: &str,
        companies: Option<&[String]>,
    ) -> Result<Vec<PilotSchedule>, ReportsError> {
        let mut sql = String::from(
            "SELECT pilot_id, company_id, title, starts_on, ends_on FROM pilot_schedules WHERE status = $1",
        );
        if let Some(companies) = companies {
            if companies.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(
                " AND company_id IN ({})",
                placeholders(2, companies.len())
            ));
        }
        sql.push_str(" ORDER BY pilot_id");
        let mut query =
            sqlx::query_as::<_, (String, String, String, String, String)>(&sql).bind(status);
        for company in companies.unwrap_or_default() {
            query = query.bind(company);
        }
        query
            .fetch_all(self.db.reads())
            .await?
            .into_iter()
            .map(|(pilot_id, company_id, title, starts_on, ends_on)| {
                Ok(PilotSchedule {
                    pilot_id,
                    company_id,
                    title,
                    starts_on: parse_day("starts_on", &starts_on)?,
                    ends_on: parse_day("ends_on", &ends_on)?,
                })
            })
            .collect()
    }

    /// Per pilot, the periods of its reports past DRAFT (any version): what was filed.
    pub async fn filed_periods(
        &self,
        pilot_ids: &[String],
    ) -> Result<HashMap<String, Vec<(NaiveDate, NaiveDate)>>, ReportsError> {
        let mut out: HashMap<String, Vec<(NaiveDate, NaiveDate)>> = HashMap::new();
        if pilot_ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT DISTINCT pilot_id, period_start, period_end FROM outcome_reports \
             WHERE status <> $1 AND pilot_id IN ({})",
            placeholders(2, pilot_ids.len())
        );
        let mut query =
            sqlx::query_as::<_, (String, String, String)>(&sql).bind(ReportStatus::Draft.as_str());
        for id in pilot_ids {
            query = query.bind(id);
        }
        for (pilot, start, end) in query.fetch_all(self.db.reads()).await? {
            out.entry(pilot).or_default().push((
                parse_day("period_start", &start)?,
                parse_day("period_end", &end)?,
            ));
        }
        Ok(out)
    }

    pub async fn list(
        &self,
        scope: &ListScope,
        filter: &ReportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ReportRecord>, i64), ReportsError> {
        let mut filters = Filters::default();
        match scope {
            ListScope::All => {}
            ListScope::Companies(companies) => filters.any_of("company_id", companies.clone()),
        }
        if let Some(pilot) = &filter.pilot_id {
            filters.equals("pilot_id", pilot.clone());
        }
        if let Some(company) = &filter.company_id {
            filters.equals("company_id", company.clone());
        }
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
        let (rows, total) = filters
            .page(&self.db, "outcome_reports", COLUMNS, after, limit)
            .await?;
        Ok((self.with_history(rows).await?, total))
    }

    /// Applies `action` if the report's state allows, recording the change and its event.
    /// `compute_consumed`, when given, is stored with the move (set at submission).
    pub async fn transition(
        &self,
        id: &str,
        action: ReportAction,
        actor: &Actor,
        note: Option<&str>,
        compute_consumed: Option<i64>,
    ) -> Result<ReportRecord, ReportsError> {
        let current = self
            .report(id)
            .await?
            .ok_or(ReportsError::NotFound("report"))?;
        let to = action.apply(current.status)?;
        let mut tx = self.db.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE outcome_reports SET status = $1, updated_at = $2, compute_consumed = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(to.as_str())
        .bind(now_ms())
        .bind(compute_consumed.unwrap_or(current.compute_consumed))
        .bind(id)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(ReportsError::Conflict(
                "the report changed meanwhile; retry".into(),
            ));
        }
        record_change(
            &mut tx,
            id,
            Some(current.status),
            to,
            &actor.history_id(),
            note,
        )
        .await?;
        let event = Event::new(SERVICE, action.event_kind(), id)
            .for_companies(vec![current.subject.company_id.clone()])
            .with_payload(serde_json::json!({
                "from": current.status.as_str(),
                "to": to.as_str(),
                "pilotId": current.subject.pilot_id,
                "lineageId": current.lineage_id,
                "version": current.version,
            }));
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new(action.event_kind(), "report", id)
            .company(&current.subject.company_id)
            .transition(Some(current.status.as_str()), to.as_str())
            .note(note);
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        self.report(id)
            .await?
            .ok_or(ReportsError::NotFound("report"))
    }

    /// A new DRAFT version of the lineage of `id`, copying the latest version's content; the
    /// latest version must be VERIFIED.
    pub async fn amend(&self, id: &str, actor: &Actor) -> Result<ReportRecord, ReportsError> {
        let actor_id = actor.history_id();
        let current = self
            .report(id)
            .await?
            .ok_or(ReportsError::NotFound("report"))?;
        let versions = self.versions(&current.lineage_id).await?;
        let pairs: Vec<(u32, ReportStatus)> =
            versions.iter().map(|r| (r.version, r.status)).collect();
        let next = amend_version(&pairs)?;
        let latest = versions
            .iter()
            .max_by_key(|r| r.version)
            .ok_or(ReportsError::NotFound("report"))?;
        let new = new_id();
        let mut tx = self.db.pool().begin().await?;
        // UNIQUE (lineage_id, version) makes a racing second amendment fail here.
        if let Err(e) = insert_report(
            &mut tx,
            &new,
            &current.lineage_id,
            next,
            &latest.subject,
            &latest.draft,
            latest.compute_consumed,
            &actor_id,
        )
        .await
        {
            return Err(match e {
                ReportsError::Conflict(_) => {
                    ReportsError::Conflict("the report was amended meanwhile".into())
                }
                other => other,
            });
        }
        record_change(&mut tx, &new, None, ReportStatus::Draft, &actor_id, None).await?;
        let change = Change::new("report.amended", "report", &new)
            .company(&latest.subject.company_id)
            .summary(format!(
                "version {next} of {} opened: DRAFT",
                current.lineage_id
            ));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await?;
        self.report(&new)
            .await?
            .ok_or(ReportsError::NotFound("report"))
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_report(
    conn: &mut AnyConnection,
    id: &str,
    lineage_id: &str,
    version: u32,
    subject: &ReportSubject,
    draft: &ReportDraft,
    compute_consumed: i64,
    creator: &str,
) -> Result<(), ReportsError> {
    let f = &draft.figures;
    let now = now_ms();
    sqlx::query(&format!(
        "INSERT INTO outcome_reports ({COLUMNS}, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23)"
    ))
    .bind(id)
    .bind(lineage_id)
    .bind(i64::from(version))
    .bind(&subject.pilot_id)
    .bind(&subject.company_id)
    .bind(&subject.sector)
    .bind(&subject.domain)
    .bind(draft.period_start.to_string())
    .bind(draft.period_end.to_string())
    .bind(f.models_developed)
    .bind(f.models_improved)
    .bind(f.models_commercialized)
    .bind(f.patents_filed)
    .bind(f.patents_registered)
    .bind(f.papers)
    .bind(f.new_hires)
    .bind(f.revenue_krw)
    .bind(f.investment_krw)
    .bind(compute_consumed)
    .bind(&draft.evidence)
    .bind(ReportStatus::Draft.as_str())
    .bind(creator)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

async fn record_change(
    conn: &mut AnyConnection,
    report_id: &str,
    from: Option<ReportStatus>,
    to: ReportStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<(), ReportsError> {
    sqlx::query(
        "INSERT INTO outcome_report_changes (id, report_id, from_status, to_status, at, actor, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(report_id)
    .bind(from.map(ReportStatus::as_str))
    .bind(to.as_str())
    .bind(now_ms())
    .bind(actor)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}
