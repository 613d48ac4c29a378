//! SQL for the vouchers service's own tables. One set of portable queries for Postgres and
//! SQLite; every change runs in one transaction with its ledger transfers and outbox events.

pub mod ledger;
pub mod spend;
pub mod uploads;

use std::collections::HashMap;

use axv_platform::{
    audit::{self, Actor, Change},
    columns::{StoredDate, StoredList},
    db::{Database, Filters},
    events::Event,
    ids::{new_id, now_ms},
    outbox::Outbox,
};
use chrono::NaiveDate;
use sqlx::{AnyConnection, FromRow, Row};

use crate::{
    domain::{
        Account, ApplicationAction, ApplicationStatus, FundingSource, KST_OFFSET_MS, ResourceKind,
        Transfer, TransferKind, VoucherStatus, cap_refusal, kst_day, kst_day_start_ms,
        quarter_start, spendable_effect, voucher_code,
    },
    error::VouchersError,
};

pub const SERVICE: &str = "vouchers";

pub use axv_platform::db::{placeholders, value_rows};

fn corrupt(what: &str, value: &str) -> VouchersError {
    VouchersError::Internal(format!("stored {what} {value:?} is not valid"))
}

/// A pool; committed, consumed and available come from the ledger, never from a counter.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PoolRecord {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: ResourceKind,
    pub unit: String,
    pub capacity: i64,
    #[sqlx(try_from = "String")]
    pub funding: FundingSource,
    #[sqlx(try_from = "StoredDate")]
    pub valid_from: NaiveDate,
    #[sqlx(try_from = "StoredDate")]
    pub valid_until: NaiveDate,
    #[sqlx(skip)]
    pub committed: i64,
    #[sqlx(skip)]
    pub consumed: i64,
    #[sqlx(skip)]
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProgramRecord {
    pub id: String,
    pub pool_id: String,
    pub name: String,
    #[sqlx(try_from = "StoredDate")]
    pub opens_on: NaiveDate,
    #[sqlx(try_from = "StoredDate")]
    pub closes_on: NaiveDate,
    pub max_per_company: i64,
    #[sqlx(try_from = "StoredList")]
    pub sectors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApplicationRecord {
    pub id: String,
    pub program_id: String,
    pub company_id: String,
    pub requested_amount: i64,
    pub justification: String,
    pub pilot_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: ApplicationStatus,
    pub voucher_id: Option<String>,
    pub decision_note: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VoucherRecord {
    pub id: String,
    pub code: String,
    pub company_id: String,
    pub pilot_id: Option<String>,
    pub program_id: String,
    pub pool_id: String,
    #[sqlx(try_from = "String")]
    pub kind: ResourceKind,
    pub granted: i64,
    #[sqlx(skip)]
    pub held: i64,
    #[sqlx(skip)]
    pub consumed: i64,
    #[sqlx(skip)]
    pub balance: i64,
    #[sqlx(try_from = "StoredDate")]
    pub valid_from: NaiveDate,
    #[sqlx(try_from = "StoredDate")]
    pub valid_until: NaiveDate,
    #[sqlx(try_from = "String")]
    pub status: VoucherStatus,
    /// Usage beyond the balance: recorded, never charged.
    pub overage: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntryRecord {
    pub id: String,
    pub at: i64,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub reference: Option<String>,
}

/// Vouchers issued to one company in one calendar quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherTotalsRecord {
    pub company_id: String,
    pub quarter_start: NaiveDate,
    pub vouchers: i64,
    pub granted: i64,
    pub consumed: i64,
    /// Usage beyond those vouchers' balances.
    pub overage: i64,
}

/// What one voucher consumed in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionRecord {
    pub voucher_id: String,
    pub consumed: i64,
    pub overage: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoucherFilter {
    pub statuses: Vec<VoucherStatus>,
    pub company_ids: Option<Vec<String>>,
    pub program_id: Option<String>,
    pub pilot_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplicationFilter {
    pub statuses: Vec<ApplicationStatus>,
    pub company_ids: Option<Vec<String>>,
    pub program_id: Option<String>,
}

const APPLICATION_COLUMNS: &str = "id, program_id, company_id, requested_amount, justification, pilot_id, status, \
     voucher_id, decision_note, created_at, decided_at";
const VOUCHER_COLUMNS: &str = "id, code, company_id, pilot_id, program_id, pool_id, kind, granted, valid_from, \
     valid_until, status, overage";

/// Fills in balances from the ledger's accounts, in one query for all of them.
async fn with_balances(
    conn: &mut AnyConnection,
    mut vouchers: Vec<VoucherRecord>,
) -> Result<Vec<VoucherRecord>, VouchersError> {
    let ids: Vec<String> = vouchers
        .iter()
        .flat_map(|v| {
            [
                Account::Voucher(v.id.clone()).id(),
                Account::Held(v.id.clone()).id(),
                Account::Consumed(v.id.clone()).id(),
            ]
        })
        .collect();
    let balances = ledger::balances(conn, &ids).await?;
    for voucher in &mut vouchers {
        let get = |account: Account| balances.get(&account.id()).copied().unwrap_or(0);
        voucher.balance = get(Account::Voucher(voucher.id.clone()));
        voucher.held = get(Account::Held(voucher.id.clone()));
        voucher.consumed = get(Account::Consumed(voucher.id.clone()));
    }
    Ok(vouchers)
}

pub struct NewPool {
    pub name: String,
    pub kind: ResourceKind,
    pub capacity: i64,
    pub funding: FundingSource,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

pub struct NewProgram {
    pub pool_id: String,
    pub name: String,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub max_per_company: i64,
    pub sectors: Vec<String>,
}

pub struct NewApplication {
    pub program_id: String,
    pub company_id: String,
    pub requested_amount: i64,
    pub justification: String,
    pub pilot_id: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    pub(crate) db: Database,
    pub(crate) outbox: Outbox,
}

impl Store {
    pub fn new(db: Database, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub async fn create_pool(
        &self,
        pool: NewPool,
        actor: &Actor,
    ) -> Result<PoolRecord, VouchersError> {
        let id = new_id();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO resource_pools (id, name, kind, unit, capacity, funding, valid_from, valid_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&pool.name)
        .bind(pool.kind.as_str())
        .bind(pool.kind.unit())
        .bind(pool.capacity)
        .bind(pool.funding.as_str())
        .bind(pool.valid_from.to_string())
        .bind(pool.valid_until.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let capacity = Account::Capacity(id.clone());
        let available = Account::Pool(id.clone());
        ledger::open_account(&mut tx, &capacity, &id, None).await?;
        ledger::open_account(&mut tx, &available, &id, None).await?;
        let operation = format!("fund:{id}");
        ledger::begin_operation(&mut tx, &operation, "fund", &pool.capacity.to_string()).await?;
        let fund = Transfer::new(TransferKind::Fund, capacity, available, pool.capacity)
            .with_reference("pool capacity");
        let transfers = [fund];
        if ledger::apply(&mut tx, &operation, &transfers, None)
            .await?
            .is_err()
        {
            return Err(VouchersError::Internal(
                "funding a new pool was refused".into(),
            ));
        }
        ledger::finish_operation(&mut tx, &operation, "funded").await?;
        let change = Change::new("pool.created", "pool", &id).summary(format!(
            "{}: {}, {} funded, {} ~ {}",
            pool.name,
            pool.kind.in_words(pool.capacity),
            pool.funding.as_str(),
            pool.valid_from,
            pool.valid_until
        ));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await?;
        crate::metrics::transfers_committed(&transfers);
        self.pool(&id)
            .await?
            .ok_or(VouchersError::NotFound("resource pool"))
    }

    pub async fn pools(&self, ids: Option<&[String]>) -> Result<Vec<PoolRecord>, VouchersError> {
        let mut filters = Filters::default();
        if let Some(ids) = ids {
            filters.any_of("id", ids.to_vec());
        }
        let sql = format!(
            "SELECT id, name, kind, unit, capacity, funding, valid_from, valid_until FROM resource_pools{} ORDER BY id",
            filters.sql()
        );
        let mut query = sqlx::query(&sql);
        for bind in filters.binds() {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        let figures: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT pool_id, kind, CAST(SUM(balance) AS BIGINT) FROM ledger_accounts WHERE kind IN ('pool', 'consumed') GROUP BY pool_id, kind",
        )
        .fetch_all(self.db.reads())
        .await?;
        let figures: HashMap<(String, String), i64> =
            figures.into_iter().map(|(p, k, s)| ((p, k), s)).collect();
        let figure = |pool_id: &str, kind: &str| {
            figures
                .get(&(pool_id.to_owned(), kind.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        rows.iter()
            .map(|row| {
                let mut pool = PoolRecord::from_row(row)?;
                pool.available = figure(&pool.id, "pool");
                pool.consumed = figure(&pool.id, "consumed");
                pool.committed = pool.capacity - pool.available;
                Ok(pool)
            })
            .collect()
    }

    pub async fn pool(&self, id: &str) -> Result<Option<PoolRecord>, VouchersError> {
        Ok(self.pools(Some(&[id.to_owned()])).await?.into_iter().next())
    }

    pub async fn create_program(
        &self,
        program: NewProgram,
        actor: &Actor,
    ) -> Result<ProgramRecord, VouchersError> {
        let id = new_id();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO programs (id, pool_id, name, opens_on, closes_on, max_per_company, sectors, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&program.pool_id)
        .bind(&program.name)
        .bind(program.opens_on.to_string())
        .bind(program.closes_on.to_string())
        .bind(program.max_per_company)
        .bind(program.sectors.join(","))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let change = Change::new("program.created", "program", &id).summary(format!(
            "pool {}, {} to {}, at most {} per company",
            program.pool_id, program.opens_on, program.closes_on, program.max_per_company
        ));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await?;
        self.program(&id)
            .await?
            .ok_or(VouchersError::NotFound("programme"))
    }

    pub async fn programs(
        &self,
        ids: Option<&[String]>,
    ) -> Result<Vec<ProgramRecord>, VouchersError> {
        let mut filters = Filters::default();
        if let Some(ids) = ids {
            filters.any_of("id", ids.to_vec());
        }
        let sql = format!(
            "SELECT id, pool_id, name, opens_on, closes_on, max_per_company, sectors FROM programs{} ORDER BY id",
            filters.sql()
        );
        let mut query = sqlx::query(&sql);
        for bind in filters.binds() {
            query = query.bind(bind);
        }
        query
            .fetch_all(self.db.reads())
            .await?
            .iter()
            .map(ProgramRecord::from_row)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    pub async fn program(&self, id: &str) -> Result<Option<ProgramRecord>, VouchersError> {
        Ok(self
            .programs(Some(&[id.to_owned()]))
            .await?
            .into_iter()
            .next())
    }

    /// What a company has been granted in a programme so far.
    pub async fn granted_to(
        &self,
        program_id: &str,
        company_id: &str,
    ) -> Result<i64, VouchersError> {
        let granted: Option<(i64,)> = sqlx::query_as(
            "SELECT granted FROM program_company_totals WHERE program_id = $1 AND company_id = $2",
        )
        .bind(program_id)
        .bind(company_id)
        .fetch_optional(self.db.reads())
        .await?;
        Ok(granted.map_or(0, |(g,)| g))
    }

    pub async fn create_application(
        &self,
        new: NewApplication,
        actor: &Actor,
    ) -> Result<ApplicationRecord, VouchersError> {
        let id = new_id();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO applications (id, program_id, company_id, requested_amount, justification, pilot_id, status, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&new.program_id)
        .bind(&new.company_id)
        .bind(new.requested_amount)
        .bind(&new.justification)
        .bind(new.pilot_id.as_deref())
        .bind(ApplicationStatus::Submitted.as_str())
        .bind(actor.history_id())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        // The programme office's worklist follows applications as they arrive and are decided.
        let event = Event::new(SERVICE, "application.submitted", &id)
            .for_companies(vec![new.company_id.clone()]);
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new("application.submitted", "application", &id)
            .company(&new.company_id)
            .summary(format!(
                "programme {}, {} requested",
                new.program_id, new.requested_amount
            ));
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        self.application(&id)
            .await?
            .ok_or(VouchersError::NotFound("application"))
    }

    pub async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, VouchersError> {
        let row = sqlx::query(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await?;
        Ok(row.as_ref().map(ApplicationRecord::from_row).transpose()?)
    }

    pub async fn list_applications(
        &self,
        filter: &ApplicationFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ApplicationRecord>, i64), VouchersError> {
        let mut filters = Filters::default();
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
        if let Some(companies) = &filter.company_ids {
            filters.any_of("company_id", companies.clone());
        }
        if let Some(program) = &filter.program_id {
            filters.equals("program_id", program.clone());
        }
        let (rows, total) = filters
            .page(&self.db, "applications", APPLICATION_COLUMNS, after, limit)
            .await?;
        Ok((
            rows.iter()
                .map(ApplicationRecord::from_row)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Rejects or withdraws a SUBMITTED application.
    pub async fn close_application(
        &self,
        id: &str,
        action: ApplicationAction,
        actor: &Actor,
        note: Option<&str>,
    ) -> Result<ApplicationRecord, VouchersError> {
        let current = self
            .application(id)
            .await?
            .ok_or(VouchersError::NotFound("application"))?;
        let to = action.apply(current.status)?;
        let mut tx = self.db.pool().begin().await?;
        decide(&mut tx, id, current.status, to, &actor.history_id(), note).await?;
        let kind = match to {
            ApplicationStatus::Withdrawn => "application.withdrawn",
            _ => "application.rejected",
        };
        let event = Event::new(SERVICE, kind, id).for_companies(vec![current.company_id.clone()]);
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new(kind, "application", id)
            .company(&current.company_id)
            .transition(Some(current.status.as_str()), to.as_str())
            .note(note);
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        self.application(id)
            .await?
            .ok_or(VouchersError::NotFound("application"))
    }

    /// Approves in full or in part: checks the programme cap and the pool's capacity, issues
    /// the voucher and grants it from the pool, all in one transaction.
    pub async fn approve_application(
        &self,
        id: &str,
        granted: i64,
        actor: &Actor,
        note: Option<&str>,
        today: NaiveDate,
    ) -> Result<(ApplicationRecord, VoucherRecord), VouchersError> {
        let application = self
            .application(id)
            .await?
            .ok_or(VouchersError::NotFound("application"))?;
        ApplicationAction::Approve.apply(application.status)?;
        let program = self
            .program(&application.program_id)
            .await?
            .ok_or(VouchersError::NotFound("programme"))?;
        let pool = self
            .pool(&program.pool_id)
            .await?
            .ok_or(VouchersError::NotFound("resource pool"))?;
        let now = now_ms();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO program_company_totals (program_id, company_id, granted) VALUES ($1, $2, 0) \
             ON CONFLICT (program_id, company_id) DO NOTHING",
        )
        .bind(&program.id)
        .bind(&application.company_id)
        .execute(&mut *tx)
        .await?;
        // Lock the company's total in this programme (a no-op write, portable), decide, write.
        let (granted_before,): (i64,) = sqlx::query_as(
            "UPDATE program_company_totals SET granted = granted WHERE program_id = $1 AND company_id = $2 \
             RETURNING granted",
        )
        .bind(&program.id)
        .bind(&application.company_id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(reason) = cap_refusal(granted_before, granted, program.max_per_company) {
            return Err(crate::error::not_eligible(reason));
        }
        sqlx::query(
            "UPDATE program_company_totals SET granted = granted + $1 WHERE program_id = $2 AND company_id = $3",
        )
        .bind(granted)
        .bind(&program.id)
        .bind(&application.company_id)
        .execute(&mut *tx)
        .await?;
        decide(
            &mut tx,
            id,
            ApplicationStatus::Submitted,
            ApplicationStatus::Approved,
            &actor.history_id(),
            note,
        )
        .await?;

        let voucher_id = new_id();
        let code = unused_code(&mut tx, pool.kind, today).await?;
        sqlx::query(
            "INSERT INTO vouchers (id, code, company_id, pilot_id, program_id, pool_id, application_id, kind, granted, \
             valid_from, valid_until, status, low_balance_notified, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13)",
        )
        .bind(&voucher_id)
        .bind(&code)
        .bind(&application.company_id)
        .bind(application.pilot_id.as_deref())
        .bind(&program.id)
        .bind(&pool.id)
        .bind(id)
        .bind(pool.kind.as_str())
        .bind(granted)
        .bind(today.to_string())
        .bind(pool.valid_until.to_string())
        .bind(VoucherStatus::Active.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE applications SET voucher_id = $1 WHERE id = $2")
            .bind(&voucher_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for account in [
            Account::Voucher(voucher_id.clone()),
            Account::Held(voucher_id.clone()),
            Account::Consumed(voucher_id.clone()),
            Account::Expired(voucher_id.clone()),
        ] {
            ledger::open_account(&mut tx, &account, &pool.id, Some(&voucher_id)).await?;
        }
        let operation = format!("grant:{id}");
        ledger::begin_operation(&mut tx, &operation, "grant", &granted.to_string()).await?;
        let grant = Transfer::new(
            TransferKind::Grant,
            Account::Pool(pool.id.clone()),
            Account::Voucher(voucher_id.clone()),
            granted,
        )
        .with_reference(format!("application {id}"));
        let transfers = [grant];
        if let Err(short) =
            ledger::apply(&mut tx, &operation, &transfers, Some(&voucher_id)).await?
        {
            return Err(VouchersError::refused(
                axv_platform::error::Reason::PoolShort,
                format!(
                    "the pool has only {} {}s left uncommitted; grant less",
                    short.balance, pool.unit
                ),
            ));
        }
        ledger::finish_operation(&mut tx, &operation, &voucher_id).await?;
        let approved = Event::new(SERVICE, "application.approved", id)
            .for_companies(vec![application.company_id.clone()]);
        self.outbox.enqueue(&mut tx, &approved).await?;
        let event = Event::new(SERVICE, "voucher.issued", &voucher_id)
            .for_companies(vec![application.company_id.clone()])
            .public(true)
            .with_payload(
                serde_json::json!({ "code": code, "granted": granted, "kind": pool.kind.as_str() }),
            );
        self.outbox.enqueue(&mut tx, &event).await?;
        let approved = Change::new("application.approved", "application", id)
            .company(&application.company_id)
            .transition(
                Some(application.status.as_str()),
                ApplicationStatus::Approved.as_str(),
            )
            .note(note);
        audit::record(&mut tx, actor, &approved).await?;
        let issued = Change::new("voucher.issued", "voucher", &voucher_id)
            .company(&application.company_id)
            .summary(format!(
                "{code}: {} granted from {}",
                pool.kind.in_words(granted),
                pool.name
            ));
        audit::record(&mut tx, actor, &issued).await?;
        self.outbox.commit(tx).await?;
        crate::metrics::transfers_committed(&transfers);
        let application = self
            .application(id)
            .await?
            .ok_or(VouchersError::NotFound("application"))?;
        let voucher = self
            .voucher(&voucher_id)
            .await?
            .ok_or(VouchersError::NotFound("voucher"))?;
        Ok((application, voucher))
    }

    pub async fn vouchers_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<VoucherRecord>, VouchersError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let mut conn = self.db.reads().acquire().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        let vouchers = rows
            .iter()
            .map(VoucherRecord::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        with_balances(&mut conn, vouchers).await
    }

    pub async fn voucher(&self, id: &str) -> Result<Option<VoucherRecord>, VouchersError> {
        Ok(self
            .vouchers_by_ids(&[id.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    pub async fn voucher_by_code(
        &self,
        code: &str,
    ) -> Result<Option<VoucherRecord>, VouchersError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM vouchers WHERE code = $1")
            .bind(code)
            .fetch_optional(self.db.reads())
            .await?;
        match found {
            Some((id,)) => self.voucher(&id).await,
            None => Ok(None),
        }
    }

    pub async fn list_vouchers(
        &self,
        filter: &VoucherFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<VoucherRecord>, i64), VouchersError> {
        let mut filters = Filters::default();
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
        if let Some(companies) = &filter.company_ids {
            filters.any_of("company_id", companies.clone());
        }
        if let Some(program) = &filter.program_id {
            filters.equals("program_id", program.clone());
        }
        if let Some(pilot) = &filter.pilot_id {
            filters.equals("pilot_id", pilot.clone());
        }
        let (rows, total) = filters
            .page(&self.db, "vouchers", VOUCHER_COLUMNS, after, limit)
            .await?;
        let vouchers = rows
            .iter()
            .map(VoucherRecord::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.db.reads().acquire().await?;
        Ok((with_balances(&mut conn, vouchers).await?, total))
    }

    /// Vouchers linked to any of these pilots.
    pub async fn vouchers_of_pilots(
        &self,
        pilot_ids: &[String],
    ) -> Result<Vec<VoucherRecord>, VouchersError> {
        if pilot_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE pilot_id IN ({}) ORDER BY id",
            placeholders(1, pilot_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in pilot_ids {
            query = query.bind(id);
        }
        let mut conn = self.db.reads().acquire().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        let vouchers = rows
            .iter()
            .map(VoucherRecord::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        with_balances(&mut conn, vouchers).await
    }

    /// The first `per_company` vouchers of each company, and each company's total.
    pub async fn vouchers_of_companies(
        &self,
        company_ids: &[String],
        per_company: usize,
    ) -> Result<(Vec<VoucherRecord>, HashMap<String, i64>), VouchersError> {
        if company_ids.is_empty() {
            return Ok((Vec::new(), HashMap::new()));
        }
        let list = placeholders(1, company_ids.len());
        let counts_sql = format!(
            "SELECT company_id, COUNT(*) FROM vouchers WHERE company_id IN ({list}) GROUP BY company_id"
        );
        let mut counts = sqlx::query_as::<_, (String, i64)>(&counts_sql);
        let rows_sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE company_id IN ({list}) ORDER BY company_id, id"
        );
        let mut rows = sqlx::query(&rows_sql);
        for id in company_ids {
            counts = counts.bind(id);
            rows = rows.bind(id);
        }
        let totals: HashMap<String, i64> = counts
            .fetch_all(self.db.reads())
            .await?
            .into_iter()
            .collect();
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut vouchers = Vec::new();
        for row in rows.fetch_all(self.db.reads()).await? {
            let voucher = VoucherRecord::from_row(&row)?;
            let seen = taken.entry(voucher.company_id.clone()).or_insert(0);
            if *seen < per_company {
                *seen += 1;
                vouchers.push(voucher);
            }
        }
        let mut conn = self.db.reads().acquire().await?;
        Ok((with_balances(&mut conn, vouchers).await?, totals))
    }

    /// Per company and quarter of issue (Seoul days), the vouchers issued between the inclusive
    /// dates, what they were granted and what has been consumed on them.
    pub async fn voucher_totals(
        &self,
        issued_from: Option<NaiveDate>,
        issued_until: Option<NaiveDate>,
        kinds: &[ResourceKind],
        fundings: &[FundingSource],
    ) -> Result<Vec<VoucherTotalsRecord>, VouchersError> {
        let from = issued_from.map_or(i64::MIN, kst_day_start_ms);
        let until = issued_until
            .and_then(|d| d.succ_opt())
            .map_or(i64::MAX, kst_day_start_ms);
        // Consumed is the voucher's consumed account: only usage debits and hold commits credit
        // it (held amounts sit in the held account; releases, expiry and revocation move the
        // spendable balance elsewhere), so it is the same figure GetVoucher shows. Each voucher
        // has exactly one such account, so the join does not multiply rows. SQL groups by Seoul
        // day (integer arithmetic, the same on both backends); quarters are folded in Rust.
        let mut pool_conditions = Vec::new();
        if !kinds.is_empty() {
            pool_conditions.push(format!("kind IN ({})", placeholders(3, kinds.len())));
        }
        if !fundings.is_empty() {
            pool_conditions.push(format!(
                "funding IN ({})",
                placeholders(3 + kinds.len(), fundings.len())
            ));
        }
        let kind_clause = if pool_conditions.is_empty() {
            String::new()
        } else {
            format!(
                " AND v.pool_id IN (SELECT id FROM resource_pools WHERE {})",
                pool_conditions.join(" AND ")
            )
        };
        let sql = format!(
            "SELECT v.company_id, (v.created_at + {KST_OFFSET_MS}) / 86400000 AS day, COUNT(*), \
             CAST(SUM(v.granted) AS BIGINT), CAST(SUM(COALESCE(c.balance, 0)) AS BIGINT), \
             CAST(SUM(v.overage) AS BIGINT) \
             FROM vouchers v LEFT JOIN ledger_accounts c ON c.id = 'consumed:' || v.id \
             WHERE v.created_at >= $1 AND v.created_at < $2{kind_clause} \
             GROUP BY v.company_id, (v.created_at + {KST_OFFSET_MS}) / 86400000"
        );
        let mut query = sqlx::query_as::<_, (String, i64, i64, i64, i64, i64)>(&sql)
            .bind(from)
            .bind(until);
        for kind in kinds {
            query = query.bind(kind.as_str());
        }
        for funding in fundings {
            query = query.bind(funding.as_str());
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        let mut totals: std::collections::BTreeMap<(String, NaiveDate), VoucherTotalsRecord> =
            std::collections::BTreeMap::new();
        for (company_id, day, vouchers, granted, consumed, overage) in rows {
            let quarter = kst_day(day)
                .map(quarter_start)
                .ok_or_else(|| corrupt("voucher issue day", &day.to_string()))?;
            let row = totals
                .entry((company_id.clone(), quarter))
                .or_insert_with(|| VoucherTotalsRecord {
                    company_id,
                    quarter_start: quarter,
                    vouchers: 0,
                    granted: 0,
                    consumed: 0,
                    overage: 0,
                });
            row.vouchers += vouchers;
            row.granted += granted;
            row.consumed += consumed;
            row.overage += overage;
        }
        Ok(totals.into_values().collect())
    }

    /// What each voucher consumed in `[from_ms, until_ms)`: debits, plus holds net of what their
    /// release returned (a commit moves held compute to consumed and leaves the spendable
    /// balance as it was), and the overage recorded then. Summed in SQL, whatever the ledger's
    /// length.
    pub async fn consumption(
        &self,
        voucher_ids: &[String],
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<ConsumptionRecord>, VouchersError> {
        let mut out = Vec::with_capacity(voucher_ids.len());
        for voucher_id in voucher_ids {
            let spendable = Account::Voucher(voucher_id.clone()).id();
            let (spent,): (Option<i64>,) = sqlx::query_as(
                "SELECT CAST(SUM(CASE WHEN debit_account = $2 THEN amount \
                 WHEN credit_account = $2 THEN -amount ELSE 0 END) AS BIGINT) \
                 FROM ledger_transfers WHERE voucher_id = $1 AND kind IN ('debit', 'hold', 'release') \
                 AND created_at >= $3 AND created_at < $4",
            )
            .bind(voucher_id)
            .bind(&spendable)
            .bind(from_ms)
            .bind(until_ms)
            .fetch_one(self.db.reads())
            .await?;
            let (overage,): (Option<i64>,) = sqlx::query_as(
                "SELECT CAST(SUM(overage) AS BIGINT) FROM usage_records \
                 WHERE voucher_id = $1 AND created_at >= $2 AND created_at < $3",
            )
            .bind(voucher_id)
            .bind(from_ms)
            .bind(until_ms)
            .fetch_one(self.db.reads())
            .await?;
            out.push(ConsumptionRecord {
                voucher_id: voucher_id.clone(),
                consumed: spent.unwrap_or(0).max(0),
                overage: overage.unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The voucher's ledger, oldest first: each entry's effect on the spendable balance.
    pub async fn ledger_entries(
        &self,
        voucher_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntryRecord>, i64), VouchersError> {
        let mut filters = Filters::default();
        filters.equals("voucher_id", voucher_id.to_owned());
        let (rows, total) = filters.page(&self.db, "ledger_transfers", "id, kind, debit_account, credit_account, amount, voucher_balance_after, reference, created_at", after, limit).await?;
        rows.iter()
            .map(|row| {
                let from: String = row.try_get("debit_account")?;
                let to: String = row.try_get("credit_account")?;
                let amount: i64 = row.try_get("amount")?;
                Ok(LedgerEntryRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("created_at")?,
                    kind: row.try_get("kind")?,
                    amount: spendable_effect(&from, &to, amount, voucher_id),
                    balance_after: row
                        .try_get::<Option<i64>, _>("voucher_balance_after")?
                        .unwrap_or(0),
                    reference: row.try_get("reference")?,
                })
            })
            .collect::<Result<Vec<_>, VouchersError>>()
            .map(|entries| (entries, total))
    }

    /// The sum of every account's balance: zero, always, in a double-entry ledger.
    pub async fn ledger_sum(&self) -> Result<i64, VouchersError> {
        let (sum,): (Option<i64>,) =
            sqlx::query_as("SELECT CAST(SUM(balance) AS BIGINT) FROM ledger_accounts")
                .fetch_one(self.db.reads())
                .await?;
        Ok(sum.unwrap_or(0))
    }

    /// Accounts whose balance differs from what their transfers add up to (none, always).
    pub async fn ledger_discrepancies(&self) -> Result<Vec<String>, VouchersError> {
        let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT a.id, a.balance, \
             (SELECT CAST(SUM(amount) AS BIGINT) FROM ledger_transfers t WHERE t.credit_account = a.id), \
             (SELECT CAST(SUM(amount) AS BIGINT) FROM ledger_transfers t WHERE t.debit_account = a.id) \
             FROM ledger_accounts a",
        )
        .fetch_all(self.db.reads())
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, balance, credits, debits)| {
                *balance != credits.unwrap_or(0) - debits.unwrap_or(0)
            })
            .map(|(id, ..)| id)
            .collect())
    }
}

/// Records a decision on an application still in `from`; a racing decision wins, this one is a
/// CONFLICT.
async fn decide(
    conn: &mut AnyConnection,
    id: &str,
    from: ApplicationStatus,
    to: ApplicationStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<(), VouchersError> {
    let changed = sqlx::query(
        "UPDATE applications SET status = $1, decision_note = $2, decided_by = $3, decided_at = $4 WHERE id = $5 AND status = $6",
    )
    .bind(to.as_str())
    .bind(note)
    .bind(actor)
    .bind(now_ms())
    .bind(id)
    .bind(from.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    if changed == 1 {
        Ok(())
    } else {
        Err(VouchersError::Conflict(
            "the application changed meanwhile; retry".into(),
        ))
    }
}

/// A fresh voucher code; checked before use so the insert does not fail inside the transaction.
async fn unused_code(
    conn: &mut AnyConnection,
    kind: ResourceKind,
    today: NaiveDate,
) -> Result<String, VouchersError> {
    use chrono::Datelike;
    for _ in 0..5 {
        let random: [u8; 6] = rand::random();
        let code = voucher_code(kind, today.year(), &random);
        let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM vouchers WHERE code = $1")
            .bind(&code)
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_none() {
            return Ok(code);
        }
    }
    Err(VouchersError::Conflict(
        "could not find a free voucher code; retry".into(),
    ))
}
