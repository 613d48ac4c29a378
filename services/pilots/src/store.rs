//! SQL for the pilot registry's own tables. Portable queries for Postgres and SQLite; each
//! change runs in one transaction with its history row and outbox event.

use std::collections::HashMap;

use axv_platform::{
    audit::{self, Actor, Change},
    db::{Database, Filters, placeholders},
    events::Event,
    ids::{new_id, now_ms},
    outbox::Outbox,
    text::{contains_pattern, search_key},
};
use chrono::NaiveDate;
use sqlx::{AnyConnection, FromRow, Row, any::AnyRow};

use crate::{
    domain::{ParticipantState, PilotAction, PilotDomain, PilotDraft, PilotStatus},
    error::PilotsError,
};

pub const SERVICE: &str = "pilots";

/// A company's public fields as the pilot keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompanySnapshot {
    pub id: String,
    pub name_ko: String,
    pub sector: String,
    pub presence: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantRecord {
    pub company: CompanySnapshot,
    pub role: String,
    pub state: ParticipantState,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MilestoneRecord {
    pub id: String,
    pub title: String,
    pub due_on: NaiveDate,
    pub completed_at: Option<i64>,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChangeRecord {
    pub from: Option<String>,
    pub to: String,
    pub at: i64,
    pub actor: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PilotRecord {
    pub id: String,
    #[sqlx(flatten)]
    pub draft: PilotDraft,
    /// From the `lead_company_*` columns (see `pilot_from_row`).
    #[sqlx(skip)]
    pub lead: CompanySnapshot,
    #[sqlx(try_from = "String")]
    pub status: PilotStatus,
    pub created_at: i64,
    #[sqlx(skip)]
    pub participants: Vec<ParticipantRecord>,
    #[sqlx(skip)]
    pub milestones: Vec<MilestoneRecord>,
    #[sqlx(skip)]
    pub history: Vec<StatusChangeRecord>,
}

impl PilotRecord {
    pub fn open_milestones(&self) -> usize {
        self.milestones
            .iter()
            .filter(|m| m.completed_at.is_none())
            .count()
    }

    /// The companies that see the pilot as their own: the lead, those taking part and those
    /// invited (a company that declined is out).
    pub fn company_ids(&self) -> Vec<String> {
        self.participants
            .iter()
            .filter(|p| p.state.sees_pilot())
            .map(|p| p.company.id.clone())
            .collect()
    }

    pub fn participant(&self, company_id: &str) -> Option<&ParticipantRecord> {
        self.participants
            .iter()
            .find(|p| p.company.id == company_id)
    }
}

/// Which pilots a listing may include.
#[derive(Debug, Clone, PartialEq)]
pub enum ListScope {
    All,
    /// Pilots any of these companies lead or take part in.
    Related(Vec<String>),
    PublicOnly,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PilotFilter {
    pub domains: Vec<PilotDomain>,
    pub statuses: Vec<PilotStatus>,
    pub company_id: Option<String>,
    pub site: Option<String>,
    pub active_from: Option<NaiveDate>,
    pub active_until: Option<NaiveDate>,
    pub text: Option<String>,
}

/// What a public headcount of pilots counts; every empty list means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PilotCountFilter {
    /// The lead company's sector snapshot (onboarding's names, MOBILITY...).
    pub lead_sectors: Vec<String>,
    pub domains: Vec<PilotDomain>,
    pub active_from: Option<NaiveDate>,
    pub active_until: Option<NaiveDate>,
    /// Empty counts every lead.
    pub lead_company_ids: Vec<String>,
}

/// Public headcounts of pilots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PilotCounts {
    /// Pilots the programme took on ([`PilotStatus::is_taken_on`]).
    pub pilots: i64,
    /// Of those, the ones ACTIVE now.
    pub active: i64,
}

/// The payload of every pilot event: the move, and what a consumer needs to keep its own view
/// of the pilot (outcomes schedules reports of ACTIVE pilots) without calling back.
/// An invitation or its answer, told to the lead and the invited company (never public).
fn participant_event(
    pilot: &PilotRecord,
    company_id: &str,
    role: &str,
    state: ParticipantState,
    actor: &str,
    note: Option<&str>,
) -> Event {
    let mut companies = vec![pilot.lead.id.clone(), company_id.to_owned()];
    companies.dedup();
    Event::new(SERVICE, state.event_kind(), &pilot.id)
        .for_companies(companies)
        .public(false)
        .with_payload(serde_json::json!({
            "companyId": company_id,
            "role": role,
            "state": state.as_str(),
            "by": actor,
            "note": note,
            "title": pilot.draft.title,
            "leadCompanyId": pilot.lead.id,
        }))
}

fn event_payload(
    from: Option<PilotStatus>,
    to: PilotStatus,
    draft: &PilotDraft,
    lead: &CompanySnapshot,
) -> serde_json::Value {
    serde_json::json!({
        "from": from.map(PilotStatus::as_str),
        "to": to.as_str(),
        "domain": draft.domain.as_str(),
        "leadCompanyId": lead.id,
        "sector": lead.sector,
        "startsOn": draft.starts_on.to_string(),
        "endsOn": draft.ends_on.to_string(),
        "title": draft.title,
    })
}

/// Overlap of [starts_on, ends_on] with the asked period; ISO dates compare as text.
fn overlapping(filters: &mut Filters, from: Option<NaiveDate>, until: Option<NaiveDate>) {
    if let Some(from) = from {
        filters.clause("ends_on >= {}", from.to_string());
    }
    if let Some(until) = until {
        filters.clause("starts_on <= {}", until.to_string());
    }
}

const COLUMNS: &str = "id, title, title_en, summary, domain, lead_company_id, lead_company_name_ko, lead_company_sector, \
     lead_company_presence, site, starts_on, ends_on, budget_national, budget_city, budget_private, regulatory_sandbox, \
     sandbox_reference, status, created_at";

fn bad(what: &str, value: &str) -> PilotsError {
    PilotsError::Internal(format!("stored {what} {value:?} is not valid"))
}

/// A pilot without its participants, milestones and history, which come from their tables.
fn pilot_from_row(row: &AnyRow) -> Result<PilotRecord, sqlx::Error> {
    Ok(PilotRecord {
        lead: CompanySnapshot {
            id: row.try_get("lead_company_id")?,
            name_ko: row.try_get("lead_company_name_ko")?,
            sector: row.try_get("lead_company_sector")?,
            presence: row.try_get("lead_company_presence")?,
        },
        ..PilotRecord::from_row(row)?
    })
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

    /// Search keys for pilots stored before they existed; a no-op once every row has one.
    pub async fn backfill_search_keys(&self) -> Result<usize, PilotsError> {
        let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, title, title_en, site FROM pilots WHERE search_key IS NULL OR site_key IS NULL",
        )
        .fetch_all(self.db.reads())
        .await?;
        for (id, title, title_en, site) in &rows {
            let titles = search_key(&format!(
                "{title}\n{}",
                title_en.as_deref().unwrap_or_default()
            ));
            sqlx::query("UPDATE pilots SET search_key = $1, site_key = $2 WHERE id = $3")
                .bind(titles)
                .bind(search_key(site))
                .bind(id)
                .execute(self.db.pool())
                .await?;
        }
        Ok(rows.len())
    }

    pub async fn create(
        &self,
        draft: &PilotDraft,
        lead: &CompanySnapshot,
        creator: &Actor,
    ) -> Result<PilotRecord, PilotsError> {
        let creator_id = creator.history_id();
        let id = new_id();
        let now = now_ms();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(&format!(
            "INSERT INTO pilots ({COLUMNS}, created_by, updated_at, search_key, site_key) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $19, $21, $22)"
        ))
        .bind(&id)
        .bind(&draft.title)
        .bind(draft.title_en.as_deref())
        .bind(&draft.summary)
        .bind(draft.domain.as_str())
        .bind(&lead.id)
        .bind(&lead.name_ko)
        .bind(&lead.sector)
        .bind(&lead.presence)
        .bind(&draft.site)
        .bind(draft.starts_on.to_string())
        .bind(draft.ends_on.to_string())
        .bind(draft.budget_national)
        .bind(draft.budget_city)
        .bind(draft.budget_private)
        .bind(i64::from(draft.regulatory_sandbox))
        .bind(draft.sandbox_reference.as_deref())
        .bind(PilotStatus::Draft.as_str())
        .bind(now)
        .bind(&creator_id)
        .bind(title_search_key(draft))
        .bind(search_key(&draft.site))
        .execute(&mut *tx)
        .await?;
        insert_participant(&mut tx, &id, lead, "lead").await?;
        record_change(&mut tx, &id, None, PilotStatus::Draft, &creator_id, None).await?;
        let event = Event::new(SERVICE, "pilot.registered", &id)
            .for_companies(vec![lead.id.clone()])
            .with_payload(event_payload(None, PilotStatus::Draft, draft, lead));
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new("pilot.registered", "pilot", &id)
            .company(&lead.id)
            .transition(None, PilotStatus::Draft.as_str());
        audit::record(&mut tx, creator, &change).await?;
        self.outbox.commit(tx).await?;
        self.pilot(&id).await?.ok_or(PilotsError::NotFound("pilot"))
    }

    /// Replaces a DRAFT pilot's fields (the lead company stays). Refused once it was
    /// submitted, even by a request racing the submission.
    pub async fn update(
        &self,
        id: &str,
        draft: &PilotDraft,
        lead: &CompanySnapshot,
        actor: &Actor,
    ) -> Result<PilotRecord, PilotsError> {
        let mut tx = self.db.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE pilots SET title = $2, title_en = $3, summary = $4, domain = $5, site = $6, \
             starts_on = $7, ends_on = $8, budget_national = $9, budget_city = $10, \
             budget_private = $11, regulatory_sandbox = $12, sandbox_reference = $13, updated_at = $14, \
             search_key = $16, site_key = $17 WHERE id = $1 AND status = $15",
        )
        .bind(id)
        .bind(&draft.title)
        .bind(draft.title_en.as_deref())
        .bind(&draft.summary)
        .bind(draft.domain.as_str())
        .bind(&draft.site)
        .bind(draft.starts_on.to_string())
        .bind(draft.ends_on.to_string())
        .bind(draft.budget_national)
        .bind(draft.budget_city)
        .bind(draft.budget_private)
        .bind(i64::from(draft.regulatory_sandbox))
        .bind(draft.sandbox_reference.as_deref())
        .bind(now_ms())
        .bind(PilotStatus::Draft.as_str())
        .bind(title_search_key(draft))
        .bind(search_key(&draft.site))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            let current = self
                .pilot(id)
                .await?
                .ok_or(PilotsError::NotFound("pilot"))?;
            return Err(PilotsError::refused(
                axv_platform::error::Reason::NotEditable,
                format!(
                    "only a DRAFT pilot can be edited; this one is {}",
                    current.status
                ),
            ));
        }
        let event = Event::new(SERVICE, "pilot.updated", id)
            .for_companies(vec![lead.id.clone()])
            .with_payload(event_payload(
                Some(PilotStatus::Draft),
                PilotStatus::Draft,
                draft,
                lead,
            ));
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new("pilot.updated", "pilot", id)
            .company(&lead.id)
            .summary("application saved (DRAFT)");
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        self.pilot(id).await?.ok_or(PilotsError::NotFound("pilot"))
    }

    pub async fn pilot(&self, id: &str) -> Result<Option<PilotRecord>, PilotsError> {
        Ok(self
            .pilots_by_ids(&[id.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    /// Pilots with their participants, milestones and history, in three queries for all.
    pub async fn pilots_by_ids(&self, ids: &[String]) -> Result<Vec<PilotRecord>, PilotsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM pilots WHERE id IN ({}) ORDER BY id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        let pilots = rows
            .iter()
            .map(pilot_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.with_details(pilots).await
    }

    async fn with_details(
        &self,
        mut pilots: Vec<PilotRecord>,
    ) -> Result<Vec<PilotRecord>, PilotsError> {
        if pilots.is_empty() {
            return Ok(pilots);
        }
        let ids: Vec<String> = pilots.iter().map(|p| p.id.clone()).collect();
        let list = placeholders(1, ids.len());
        let participants_sql = format!(
            "SELECT pilot_id, company_id, role, name_ko, sector, presence, state FROM pilot_participants WHERE pilot_id IN ({list}) \
             ORDER BY added_at, company_id"
        );
        let milestones_sql = format!(
            "SELECT id, pilot_id, title, due_on, completed_at, evidence FROM pilot_milestones WHERE pilot_id IN ({list}) \
             ORDER BY due_on, id"
        );
        let history_sql = format!(
            "SELECT pilot_id, from_status, to_status, at, actor, note FROM pilot_status_changes WHERE pilot_id IN ({list}) \
             ORDER BY at, id"
        );
        let mut participants = sqlx::query_as::<
            _,
            (String, String, String, String, String, String, String),
        >(&participants_sql);
        let mut milestones = sqlx::query_as::<
            _,
            (String, String, String, String, Option<i64>, Option<String>),
        >(&milestones_sql);
        let mut history = sqlx::query_as::<
            _,
            (String, Option<String>, String, i64, String, Option<String>),
        >(&history_sql);
        for id in &ids {
            participants = participants.bind(id);
            milestones = milestones.bind(id);
            history = history.bind(id);
        }
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| (id.clone(), n))
            .collect();
        for (pilot_id, company_id, role, name_ko, sector, presence, state) in
            participants.fetch_all(self.db.reads()).await?
        {
            if let Some(&n) = index.get(&pilot_id) {
                let state = ParticipantState::parse(&state).ok_or_else(|| bad("state", &state))?;
                pilots[n].participants.push(ParticipantRecord {
                    company: CompanySnapshot {
                        id: company_id,
                        name_ko,
                        sector,
                        presence,
                    },
                    role,
                    state,
                });
            }
        }
        for (id, pilot_id, title, due_on, completed_at, evidence) in
            milestones.fetch_all(self.db.reads()).await?
        {
            if let Some(&n) = index.get(&pilot_id) {
                let due_on = NaiveDate::parse_from_str(&due_on, "%Y-%m-%d")
                    .map_err(|_| bad("due_on", &due_on))?;
                pilots[n].milestones.push(MilestoneRecord {
                    id,
                    title,
                    due_on,
                    completed_at,
                    evidence,
                });
            }
        }
        for (pilot_id, from, to, at, actor, note) in history.fetch_all(self.db.reads()).await? {
            if let Some(&n) = index.get(&pilot_id) {
                pilots[n].history.push(StatusChangeRecord {
                    from,
                    to,
                    at,
                    actor,
                    note,
                });
            }
        }
        Ok(pilots)
    }

    pub async fn list(
        &self,
        scope: &ListScope,
        filter: &PilotFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<PilotRecord>, i64), PilotsError> {
        let mut filters = Filters::default();
        match scope {
            ListScope::All => {}
            ListScope::Related(companies) => {
                filters.list_clause(
                    "id IN (SELECT pilot_id FROM pilot_participants WHERE company_id IN ({}) AND state <> 'DECLINED')",
                    companies.clone(),
                );
            }
            ListScope::PublicOnly => {
                filters.any_of(
                    "status",
                    PilotStatus::ALL
                        .iter()
                        .filter(|s| s.is_public())
                        .map(|s| s.as_str().to_owned())
                        .collect(),
                );
            }
        }
        if !filter.domains.is_empty() {
            filters.any_of(
                "domain",
                filter
                    .domains
                    .iter()
                    .map(|d| d.as_str().to_owned())
                    .collect(),
            );
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
        if let Some(company) = &filter.company_id {
            filters.clause(
                "id IN (SELECT pilot_id FROM pilot_participants WHERE company_id = {} AND state = 'ACCEPTED')",
                company.clone(),
            );
        }
        if let Some(site) = filter.site.as_deref().filter(|s| !s.trim().is_empty()) {
            filters.clause("site_key LIKE {} ESCAPE '\\'", contains_pattern(site));
        }
        if let Some(text) = filter.text.as_deref().filter(|s| !s.trim().is_empty()) {
            filters.clause("search_key LIKE {} ESCAPE '\\'", contains_pattern(text));
        }
        overlapping(&mut filters, filter.active_from, filter.active_until);
        let (rows, total) = filters
            .page(&self.db, "pilots", COLUMNS, after, limit)
            .await?;
        let pilots = rows
            .iter()
            .map(pilot_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.with_details(pilots).await?, total))
    }

    /// How many pilots matching `filter` the programme took on, and how many of them are ACTIVE
    /// now; one statement, so both figures come from the same snapshot.
    pub async fn count(&self, filter: &PilotCountFilter) -> Result<PilotCounts, PilotsError> {
        let mut filters = Filters::default();
        // ACTIVE is one of the statuses taken on, so one scan counts both.
        filters.any_of(
            "status",
            PilotStatus::ALL
                .iter()
                .filter(|s| s.is_taken_on())
                .map(|s| s.as_str().to_owned())
                .collect(),
        );
        if !filter.lead_sectors.is_empty() {
            filters.any_of("lead_company_sector", filter.lead_sectors.clone());
        }
        if !filter.lead_company_ids.is_empty() {
            filters.any_of("lead_company_id", filter.lead_company_ids.clone());
        }
        if !filter.domains.is_empty() {
            filters.any_of(
                "domain",
                filter
                    .domains
                    .iter()
                    .map(|d| d.as_str().to_owned())
                    .collect(),
            );
        }
        overlapping(&mut filters, filter.active_from, filter.active_until);
        let sql = format!(
            "SELECT COUNT(*), COUNT(CASE WHEN status = ${} THEN 1 END) FROM pilots{}",
            filters.binds().len() + 1,
            filters.sql()
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for bind in filters.binds() {
            query = query.bind(bind);
        }
        let (pilots, active) = query
            .bind(PilotStatus::Active.as_str())
            .fetch_one(self.db.reads())
            .await?;
        Ok(PilotCounts { pilots, active })
    }

    /// Each company's pilots (lead or participant), at most `per_company` each, and its total.
    pub async fn pilots_of_companies(
        &self,
        company_ids: &[String],
        per_company: usize,
    ) -> Result<HashMap<String, (Vec<PilotRecord>, i64)>, PilotsError> {
        let mut out: HashMap<String, (Vec<PilotRecord>, i64)> = HashMap::new();
        if company_ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT company_id, pilot_id FROM pilot_participants WHERE company_id IN ({}) AND state = 'ACCEPTED' \
             ORDER BY company_id, pilot_id",
            placeholders(1, company_ids.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for id in company_ids {
            query = query.bind(id);
        }
        let links = query.fetch_all(self.db.reads()).await?;
        let mut wanted: Vec<String> = Vec::new();
        let mut per: HashMap<String, Vec<String>> = HashMap::new();
        for (company, pilot) in links {
            let entry = out.entry(company.clone()).or_default();
            entry.1 += 1;
            let list = per.entry(company).or_default();
            if list.len() < per_company {
                list.push(pilot.clone());
                wanted.push(pilot);
            }
        }
        wanted.sort();
        wanted.dedup();
        let pilots: HashMap<String, PilotRecord> = self
            .pilots_by_ids(&wanted)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        for (company, ids) in per {
            let entry = out.entry(company).or_default();
            entry.0 = ids
                .iter()
                .filter_map(|id| pilots.get(id).cloned())
                .collect();
        }
        Ok(out)
    }

    /// Applies `action` if the pilot's state allows and `check` agrees, recording the change and
    /// its event. `check` sees the pilot as read just before the transaction; the status update
    /// is guarded by that status, so a racing move makes this one a CONFLICT (milestone counts
    /// may be a moment old, which is harmless for the note rule).
    pub async fn transition(
        &self,
        id: &str,
        action: PilotAction,
        actor: &Actor,
        check: impl FnOnce(&PilotRecord) -> Result<Option<String>, PilotsError>,
    ) -> Result<PilotRecord, PilotsError> {
        let current = self
            .pilot(id)
            .await?
            .ok_or(PilotsError::NotFound("pilot"))?;
        let to = action.apply(current.status)?;
        let note = check(&current)?;
        let mut tx = self.db.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE pilots SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now_ms())
        .bind(id)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(PilotsError::Conflict(
                "the pilot changed meanwhile; retry".into(),
            ));
        }
        record_change(
            &mut tx,
            id,
            Some(current.status),
            to,
            &actor.history_id(),
            note.as_deref(),
        )
        .await?;
        let event = Event::new(SERVICE, action.event_kind(), id)
            .for_companies(current.company_ids())
            .public(to.is_public())
            .with_payload(event_payload(
                Some(current.status),
                to,
                &current.draft,
                &current.lead,
            ));
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new(action.event_kind(), "pilot", id)
            .company(&current.lead.id)
            .transition(Some(current.status.as_str()), to.as_str())
            .note(note.as_deref());
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        self.pilot(id).await?.ok_or(PilotsError::NotFound("pilot"))
    }

    /// Adds `company` to the consortium in `state` (a firm's partner is INVITED until it
    /// answers), with its event, in one transaction. A company that declined may be invited
    /// again; any other company already there is a CONFLICT.
    pub async fn add_participant(
        &self,
        pilot: &PilotRecord,
        company: &CompanySnapshot,
        role: &str,
        state: ParticipantState,
        actor: &Actor,
    ) -> Result<(), PilotsError> {
        let mut tx = self.db.pool().begin().await?;
        // One statement, so two people adding the same company at once get one row and a CONFLICT.
        let added = sqlx::query(
            "INSERT INTO pilot_participants (pilot_id, company_id, role, name_ko, sector, presence, added_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (pilot_id, company_id) DO UPDATE SET role = excluded.role, added_at = excluded.added_at, \
             state = excluded.state, answered_at = NULL, answered_by = NULL, note = NULL \
             WHERE pilot_participants.state = 'DECLINED'",
        )
        .bind(&pilot.id)
        .bind(&company.id)
        .bind(role)
        .bind(&company.name_ko)
        .bind(&company.sector)
        .bind(&company.presence)
        .bind(now_ms())
        .bind(state.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            let (role, current): (String, String) = sqlx::query_as(
                "SELECT role, state FROM pilot_participants WHERE pilot_id = $1 AND company_id = $2",
            )
            .bind(&pilot.id)
            .bind(&company.id)
            .fetch_one(&mut *tx)
            .await?;
            return Err(PilotsError::Conflict(if current == "INVITED" {
                format!("the company is already invited, as {role}")
            } else {
                format!("the company already takes part, as {role}")
            }));
        }
        let event = participant_event(pilot, &company.id, role, state, &actor.history_id(), None);
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new(state.event_kind(), "pilot", &pilot.id)
            .company(&pilot.lead.id)
            .summary(format!(
                "company {} as {role}: {}",
                company.id,
                state.as_str()
            ));
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Records the partner's answer to its invitation, guarded by the INVITED state so a racing
    /// answer makes this one a CONFLICT.
    pub async fn answer_invitation(
        &self,
        pilot: &PilotRecord,
        company_id: &str,
        answer: ParticipantState,
        actor: &Actor,
        note: Option<&str>,
    ) -> Result<(), PilotsError> {
        let actor_id = actor.history_id();
        let mut tx = self.db.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE pilot_participants SET state = $1, answered_at = $2, answered_by = $3, note = $4 \
             WHERE pilot_id = $5 AND company_id = $6 AND state = 'INVITED'",
        )
        .bind(answer.as_str())
        .bind(now_ms())
        .bind(&actor_id)
        .bind(note)
        .bind(&pilot.id)
        .bind(company_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(PilotsError::Conflict(
                "the invitation was answered meanwhile".into(),
            ));
        }
        let role = pilot
            .participant(company_id)
            .map(|p| p.role.as_str())
            .unwrap_or_default();
        let event = participant_event(pilot, company_id, role, answer, &actor_id, note);
        self.outbox.enqueue(&mut tx, &event).await?;
        // Under the answering company: the invitation is its own to see.
        let change = Change::new(answer.event_kind(), "pilot", &pilot.id)
            .company(company_id)
            .summary(format!(
                "company {company_id} as {role}: INVITED → {}",
                answer.as_str()
            ))
            .note(note);
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    pub async fn add_milestone(
        &self,
        pilot_id: &str,
        title: &str,
        due_on: NaiveDate,
        company_id: &str,
        actor: &Actor,
    ) -> Result<(), PilotsError> {
        let id = new_id();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("INSERT INTO pilot_milestones (id, pilot_id, title, due_on, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(pilot_id)
            .bind(title)
            .bind(due_on.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let change = Change::new("pilot.milestone_added", "pilot", pilot_id)
            .company(company_id)
            .summary(format!("milestone {id}, due {due_on}"));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn complete_milestone(
        &self,
        pilot_id: &str,
        milestone_id: &str,
        evidence: Option<&str>,
        company_id: &str,
        actor: &Actor,
    ) -> Result<(), PilotsError> {
        let mut tx = self.db.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE pilot_milestones SET completed_at = $1, evidence = $2 WHERE id = $3 AND pilot_id = $4 AND completed_at IS NULL",
        )
        .bind(now_ms())
        .bind(evidence)
        .bind(milestone_id)
        .bind(pilot_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            let change = Change::new("pilot.milestone_completed", "pilot", pilot_id)
                .company(company_id)
                .summary(format!("milestone {milestone_id} completed"));
            audit::record(&mut tx, actor, &change).await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.rollback().await?;
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT id FROM pilot_milestones WHERE id = $1 AND pilot_id = $2")
                .bind(milestone_id)
                .bind(pilot_id)
                .fetch_optional(self.db.reads())
                .await?;
        match exists {
            Some(_) => Err(PilotsError::Precondition(
                "the milestone is already completed".into(),
            )),
            None => Err(PilotsError::NotFound("milestone")),
        }
    }
}

/// The lead company's row, written with the pilot.
async fn insert_participant(
    conn: &mut AnyConnection,
    pilot_id: &str,
    company: &CompanySnapshot,
    role: &str,
) -> Result<u64, PilotsError> {
    Ok(sqlx::query(
        "INSERT INTO pilot_participants (pilot_id, company_id, role, name_ko, sector, presence, added_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pilot_id, company_id) DO NOTHING",
    )
    .bind(pilot_id)
    .bind(&company.id)
    .bind(role)
    .bind(&company.name_ko)
    .bind(&company.sector)
    .bind(&company.presence)
    .bind(now_ms())
    .execute(conn)
    .await?
    .rows_affected())
}

async fn record_change(
    conn: &mut AnyConnection,
    pilot_id: &str,
    from: Option<PilotStatus>,
    to: PilotStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<(), PilotsError> {
    sqlx::query(
        "INSERT INTO pilot_status_changes (id, pilot_id, from_status, to_status, at, actor, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(pilot_id)
    .bind(from.map(PilotStatus::as_str))
    .bind(to.as_str())
    .bind(now_ms())
    .bind(actor)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Both titles in the form search compares (case-, width- and composition-blind).
fn title_search_key(draft: &PilotDraft) -> String {
    search_key(&format!(
        "{}\n{}",
        draft.title,
        draft.title_en.as_deref().unwrap_or_default()
    ))
}
