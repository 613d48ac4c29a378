//! Drawing on vouchers: usage debits (single and Slurm batches), holds and their commits and
//! releases, and the ends of a voucher (revocation, expiry) and its freezing. Each runs in one
//! transaction that first locks the voucher's row, so everything done to one voucher is
//! serialised while different vouchers proceed in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axv_platform::{
    audit::{self, Actor, Change},
    columns::{StoredDate, StoredFlag},
    events::Event,
    ids::{new_id, now_ms},
};
use chrono::NaiveDate;
use sqlx::{AnyConnection, FromRow};

use super::{SERVICE, Store, ledger, placeholders, value_rows};
use crate::{
    domain::{
        Account, AccountedJob, ChargeableVoucher, HoldState, JobVerdict, ResourceKind, Transfer,
        TransferKind, VoucherStatus, crossed_low_balance, judge_jobs, spend_refusal, split_usage,
    },
    error::VouchersError,
    sacct::{self, RejectedLine},
};

/// A voucher row locked for the rest of the transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Locked {
    pub id: String,
    pub code: String,
    pub company_id: String,
    pub pool_id: String,
    #[sqlx(try_from = "String")]
    pub status: VoucherStatus,
    #[sqlx(try_from = "StoredDate")]
    pub valid_from: NaiveDate,
    #[sqlx(try_from = "StoredDate")]
    pub valid_until: NaiveDate,
    pub granted: i64,
    #[sqlx(try_from = "StoredFlag")]
    pub low_balance_notified: bool,
    #[sqlx(try_from = "String")]
    pub kind: ResourceKind,
}

const LOCKED_COLUMNS: &str = "id, code, company_id, pool_id, kind, status, valid_from, valid_until, granted, low_balance_notified";

/// Locks the voucher whose `column` (`id` or `code`, never input) is `value`.
async fn lock(
    conn: &mut AnyConnection,
    column: &'static str,
    value: &str,
) -> Result<Option<Locked>, VouchersError> {
    // A no-op write takes the row lock on Postgres; SQLite's single writer serialises anyway.
    let row = sqlx::query(&format!(
        "UPDATE vouchers SET updated_at = $1 WHERE {column} = $2 RETURNING {LOCKED_COLUMNS}"
    ))
    .bind(now_ms())
    .bind(value)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(Locked::from_row).transpose()?)
}

/// After spending: status follows the balance, and the company hears about 80% used and
/// about exhaustion, once each. `spendable_after` saves a read when the caller knows it.
async fn settle(
    store: &Store,
    conn: &mut AnyConnection,
    voucher: &Locked,
    spendable_before: i64,
    spendable_after: Option<i64>,
) -> Result<(), VouchersError> {
    let spendable = match spendable_after {
        Some(spendable) => spendable,
        None => ledger::balances(conn, &[Account::Voucher(voucher.id.clone()).id()])
            .await?
            .values()
            .sum(),
    };
    // Held amounts matter only at zero: a voucher with a balance is ACTIVE whatever it holds.
    let held = if spendable == 0 {
        ledger::balances(conn, &[Account::Held(voucher.id.clone()).id()])
            .await?
            .values()
            .sum()
    } else {
        0
    };
    let status = voucher.status.settle(spendable, held);
    let companies = vec![voucher.company_id.clone()];
    if status != voucher.status {
        sqlx::query("UPDATE vouchers SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(&voucher.id)
            .execute(&mut *conn)
            .await?;
        if status == VoucherStatus::Exhausted {
            let event = Event::new(SERVICE, "voucher.exhausted", &voucher.id)
                .for_companies(companies.clone())
                .with_payload(serde_json::json!({ "code": voucher.code }));
            store.outbox.enqueue(conn, &event).await?;
        }
    }
    let used_before = voucher.granted - spendable_before;
    let used_after = voucher.granted - spendable;
    if !voucher.low_balance_notified
        && crossed_low_balance(voucher.granted, used_before, used_after)
    {
        sqlx::query("UPDATE vouchers SET low_balance_notified = 1 WHERE id = $1")
            .bind(&voucher.id)
            .execute(&mut *conn)
            .await?;
        let event = Event::new(SERVICE, "voucher.low_balance", &voucher.id)
            .for_companies(companies)
            .with_payload(serde_json::json!({ "code": voucher.code, "granted": voucher.granted, "balance": spendable }));
        store.outbox.enqueue(conn, &event).await?;
    }
    Ok(())
}

/// What ingestion decides by, of a locked voucher with `balance` spendable.
fn chargeable(voucher: &Locked, balance: i64, standing: &Standing) -> ChargeableVoucher {
    ChargeableVoucher {
        id: voucher.id.clone(),
        code: voucher.code.clone(),
        kind: voucher.kind,
        status: voucher.status,
        valid_from: voucher.valid_from,
        valid_until: voucher.valid_until,
        balance,
        barred: standing.refusal(&voucher.company_id),
    }
}

fn refuse_spending(voucher: &Locked, today: NaiveDate) -> Result<(), VouchersError> {
    match spend_refusal(
        voucher.status,
        today,
        voucher.valid_from,
        voucher.valid_until,
    ) {
        Some(reason) => Err(VouchersError::Precondition(format!(
            "{}: {reason}",
            voucher.code
        ))),
        None => Ok(()),
    }
}

async fn add_overage(
    conn: &mut AnyConnection,
    voucher_id: &str,
    overage: i64,
) -> Result<(), VouchersError> {
    sqlx::query("UPDATE vouchers SET overage = overage + $1 WHERE id = $2")
        .bind(overage)
        .bind(voucher_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn overdraw(voucher: &Locked, short: &ledger::Insufficient, amount: i64) -> VouchersError {
    VouchersError::Precondition(format!(
        "{} would be overdrawn: {amount} requested, {} available; nothing was charged",
        voucher.code, short.balance
    ))
}

/// A GPU voucher as the Slurm export sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmVoucher {
    pub code: String,
    pub company_id: String,
    pub status: VoucherStatus,
    pub granted: i64,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageOutcome {
    pub id: String,
    pub voucher_id: String,
    /// Charged to the voucher.
    pub amount: i64,
    pub duplicate: bool,
    /// The job's usage beyond the balance.
    pub overage: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub id: String,
    pub voucher_id: String,
    pub amount: i64,
    pub state: HoldState,
    pub expires_at: i64,
    pub committed_amount: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub skipped: usize,
    /// In line order.
    pub rejected: Vec<RejectedLine>,
    /// Charged to vouchers.
    pub amount: i64,
    /// Usage of accepted jobs beyond their vouchers' balances.
    pub overage: i64,
    /// Accepted jobs charged only in part, or not at all.
    pub overage_jobs: usize,
    /// The upload's id in the history ([`Store::usage_upload`]).
    pub upload_id: String,
    /// Per voucher, by id: what its jobs were charged.
    pub charges: Vec<VoucherCharge>,
}

/// What one upload's accepted jobs did to one voucher.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct VoucherCharge {
    pub voucher_id: String,
    pub voucher_code: String,
    pub jobs: i64,
    pub amount: i64,
    pub overage: i64,
}

pub struct UsageInput<'a> {
    pub cluster: &'a str,
    pub job_id: &'a str,
    pub voucher_code: &'a str,
    pub amount: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

async fn hold_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<HoldRecord>, VouchersError> {
    let row: Option<(String, String, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, voucher_id, amount, state, expires_at, committed_amount FROM holds WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(
        |(id, voucher_id, amount, state, expires_at, committed_amount)| {
            Ok(HoldRecord {
                state: HoldState::parse(&state)
                    .ok_or_else(|| VouchersError::Internal(format!("bad hold state {state}")))?,
                id,
                voucher_id,
                amount,
                expires_at,
                committed_amount,
            })
        },
    )
    .transpose()
}

/// What onboarding said, before the transaction, about the companies whose vouchers a request
/// names: which companies were asked about, and which of them are not in good standing. A
/// voucher whose company was not asked about (issued after the question) is not charged.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    /// `None`: nothing was asked (paths that check nothing): every company may spend.
    asked: Option<HashSet<String>>,
    barred: HashSet<String>,
}

impl Standing {
    /// Onboarding was asked about `companies`; `barred` are those not in good standing.
    pub fn asked(companies: &[String], barred: HashSet<String>) -> Self {
        Self {
            asked: Some(companies.iter().cloned().collect()),
            barred,
        }
    }

    /// Nothing asked; `barred` are known not to be in good standing.
    pub fn barring(barred: impl IntoIterator<Item = String>) -> Self {
        Self {
            asked: None,
            barred: barred.into_iter().collect(),
        }
    }

    /// Why `company`'s voucher may not be charged now, if it may not.
    pub fn refusal(&self, company: &str) -> Option<&'static str> {
        if self.barred.contains(company) {
            Some("its company is not in good standing (suspended)")
        } else if self
            .asked
            .as_ref()
            .is_some_and(|asked| !asked.contains(company))
        {
            Some(
                "its company's standing was not checked yet (a voucher issued a moment ago); retry",
            )
        } else {
            None
        }
    }
}

/// Tries of a batch of usage whose jobs other requests were recording at the same moment.
const RACE_RETRIES: usize = 3;

/// Rows per multi-row INSERT of usage records (11 values each).
const USAGE_ROWS_PER_INSERT: usize = 200;

/// The ledger operation of one job's usage: what makes it charged once.
fn usage_operation(usage: &UsageInput<'_>) -> String {
    format!("usage:{}:{}", usage.cluster, usage.job_id)
}

/// Vouchers one locking statement names.
const LOCK_CHUNK: usize = 500;

/// Locks the vouchers carrying `codes`, in id order on Postgres (the order every path locks
/// vouchers in, so no two transactions wait on each other in a cycle): one statement for up to
/// [`LOCK_CHUNK`] codes; beyond, every id is looked up first and locked in sorted chunks, so the
/// order holds across chunks too. SQLite's one writer needs no row locks. By code; unknown
/// codes are left out.
async fn lock_codes<'a>(
    conn: &mut AnyConnection,
    codes: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Locked>, VouchersError> {
    let codes: Vec<&str> = codes.collect();
    if codes.len() <= LOCK_CHUNK {
        return lock_where(conn, "code", &codes).await;
    }
    let mut ids: Vec<String> = Vec::new();
    for chunk in codes.chunks(LOCK_CHUNK) {
        let sql = format!(
            "SELECT id FROM vouchers WHERE code IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for code in chunk {
            query = query.bind(*code);
        }
        ids.extend(
            query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id),
        );
    }
    ids.sort();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut vouchers = HashMap::new();
    for chunk in ids.chunks(LOCK_CHUNK) {
        vouchers.extend(lock_where(conn, "id", chunk).await?);
    }
    Ok(vouchers)
}

/// Locks, in one statement, the vouchers whose `column` (`id` or `code`, never input) is one of
/// `values`, in id order on Postgres; by code.
async fn lock_where(
    conn: &mut AnyConnection,
    column: &'static str,
    values: &[&str],
) -> Result<HashMap<String, Locked>, VouchersError> {
    let among = placeholders(2, values.len());
    let which = if conn.backend_name() == "PostgreSQL" {
        format!(
            "id IN (SELECT id FROM vouchers WHERE {column} IN ({among}) ORDER BY id FOR UPDATE)"
        )
    } else {
        format!("{column} IN ({among})")
    };
    let sql =
        format!("UPDATE vouchers SET updated_at = $1 WHERE {which} RETURNING {LOCKED_COLUMNS}");
    let mut query = sqlx::query(&sql).bind(now_ms());
    for value in values {
        query = query.bind(*value);
    }
    let mut vouchers = HashMap::new();
    for row in query.fetch_all(&mut *conn).await? {
        let voucher = Locked::from_row(&row)?;
        vouchers.insert(voucher.code.clone(), voucher);
    }
    Ok(vouchers)
}

/// What was recorded before for the (cluster, job) pairs of `usages`: one query per cluster, so
/// the (cluster, job_id) index answers it (job ids alone would scan every record).
async fn recorded_usage(
    conn: &mut AnyConnection,
    usages: &[UsageInput<'_>],
) -> Result<HashMap<(String, String), UsageOutcome>, VouchersError> {
    let mut jobs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for usage in usages {
        jobs.entry(usage.cluster).or_default().insert(usage.job_id);
    }
    let mut recorded = HashMap::new();
    for (cluster, jobs) in jobs {
        let jobs: Vec<&str> = jobs.into_iter().collect();
        for chunk in jobs.chunks(500) {
            let sql = format!(
                "SELECT id, job_id, voucher_id, amount, overage FROM usage_records WHERE cluster = $1 AND job_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query =
                sqlx::query_as::<_, (String, String, String, i64, i64)>(&sql).bind(cluster);
            for job in chunk {
                query = query.bind(*job);
            }
            for (id, job_id, voucher_id, amount, overage) in query.fetch_all(&mut *conn).await? {
                recorded.insert(
                    (cluster.to_owned(), job_id),
                    UsageOutcome {
                        id,
                        voucher_id,
                        amount,
                        duplicate: true,
                        overage,
                    },
                );
            }
        }
    }
    Ok(recorded)
}

impl Store {
    /// One job's usage, idempotent by (cluster, job id): the same job again is a duplicate and
    /// charges nothing; the same job with other content is a CONFLICT.
    /// `standing`: what onboarding said of the companies; a company not in good standing is not
    /// charged (a retry of a job recorded before is still answered as a duplicate).
    pub async fn record_usage(
        &self,
        usage: UsageInput<'_>,
        today: NaiveDate,
        standing: &Standing,
    ) -> Result<UsageOutcome, VouchersError> {
        self.record_usages(std::slice::from_ref(&usage), today, standing)
            .await?
            .pop()
            .unwrap_or_else(|| Err(VouchersError::Internal("a usage went unanswered".into())))
    }

    /// Jobs' usage in one transaction and one commit, each answered, in order, as
    /// [`Self::record_usage`] answers it alone: a later job in the batch sees the balance the
    /// earlier ones left, and the same job twice is charged once.
    pub async fn record_usages(
        &self,
        usages: &[UsageInput<'_>],
        today: NaiveDate,
        standing: &Standing,
    ) -> Result<Vec<Result<UsageOutcome, VouchersError>>, VouchersError> {
        for _ in 0..RACE_RETRIES {
            if let Some(outcomes) = self.try_record_usages(usages, today, standing).await? {
                return Ok(outcomes);
            }
        }
        Err(VouchersError::Conflict(
            "the same jobs are being recorded by other requests; retry".into(),
        ))
    }

    /// `None` when a job was recorded meanwhile by a request this one could not see (another
    /// voucher's lock): everything is rolled back and the caller tries again, when that job is
    /// visible and answered as a duplicate.
    async fn try_record_usages(
        &self,
        usages: &[UsageInput<'_>],
        today: NaiveDate,
        standing: &Standing,
    ) -> Result<Option<Vec<Result<UsageOutcome, VouchersError>>>, VouchersError> {
        let mut tx = self.db.pool().begin().await?;
        let codes: BTreeSet<&str> = usages.iter().map(|u| u.voucher_code).collect();
        let vouchers = lock_codes(&mut tx, codes.into_iter()).await?;
        let mut spendable = ledger::balances(
            &mut tx,
            &vouchers
                .values()
                .map(|v| Account::Voucher(v.id.clone()).id())
                .collect::<Vec<_>>(),
        )
        .await?;
        let before = spendable.clone();
        let mut recorded = recorded_usage(&mut tx, usages).await?;

        let mut outcomes = Vec::with_capacity(usages.len());
        let mut accepted: Vec<(&UsageInput<'_>, &Locked, UsageOutcome)> = Vec::new();
        for usage in usages {
            let Some(voucher) = vouchers.get(usage.voucher_code) else {
                outcomes.push(Err(VouchersError::NotFound("voucher")));
                continue;
            };
            let key = (usage.cluster.to_owned(), usage.job_id.to_owned());
            if let Some(earlier) = recorded.get(&key) {
                outcomes.push(
                    if earlier.voucher_id != voucher.id
                        || earlier.amount.saturating_add(earlier.overage) != usage.amount
                    {
                        Err(VouchersError::Conflict(format!(
                            "job {} on {} was recorded before with different content",
                            usage.job_id, usage.cluster
                        )))
                    } else {
                        Ok(UsageOutcome {
                            duplicate: true,
                            ..earlier.clone()
                        })
                    },
                );
                continue;
            }
            if let Err(refused) = refuse_spending(voucher, today) {
                outcomes.push(Err(refused));
                continue;
            }
            if let Some(reason) = standing.refusal(&voucher.company_id) {
                outcomes.push(Err(VouchersError::Precondition(format!(
                    "{}: {reason}; nothing was charged",
                    voucher.code
                ))));
                continue;
            }
            let left = spendable
                .entry(Account::Voucher(voucher.id.clone()).id())
                .or_insert(0);
            let (charged, overage) = split_usage(usage.amount, *left);
            *left -= charged;
            let outcome = UsageOutcome {
                id: new_id(),
                voucher_id: voucher.id.clone(),
                amount: charged,
                duplicate: false,
                overage,
            };
            recorded.insert(key, outcome.clone());
            accepted.push((usage, voucher, outcome.clone()));
            outcomes.push(Ok(outcome));
        }
        if accepted.is_empty() {
            return Ok(Some(outcomes));
        }

        let now = now_ms();
        // Rows go in in (cluster, job) order, as sacct ingestion's do, so two transactions
        // inserting some of the same jobs wait on each other's keys in one order, never a cycle.
        let mut rows: Vec<&(&UsageInput<'_>, &Locked, UsageOutcome)> = accepted.iter().collect();
        rows.sort_by_key(|(usage, _, _)| (usage.cluster, usage.job_id));
        for chunk in rows.chunks(USAGE_ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO usage_records (id, cluster, job_id, voucher_id, amount, overage, started_at, ended_at, source, operation_id, created_at) \
                 VALUES {} ON CONFLICT (cluster, job_id) DO NOTHING",
                value_rows(chunk.len(), 11)
            );
            let mut query = sqlx::query(&sql);
            for (usage, _, outcome) in chunk {
                query = query
                    .bind(&outcome.id)
                    .bind(usage.cluster)
                    .bind(usage.job_id)
                    .bind(&outcome.voucher_id)
                    .bind(outcome.amount)
                    .bind(outcome.overage)
                    .bind(usage.started_at)
                    .bind(usage.ended_at)
                    .bind("api")
                    .bind(usage_operation(usage))
                    .bind(now);
            }
            if query.execute(&mut *tx).await?.rows_affected() != chunk.len() as u64 {
                return Ok(None);
            }
        }
        let debits: Vec<(String, [Transfer; 1], &str)> = accepted
            .iter()
            .filter(|(_, _, outcome)| outcome.amount > 0)
            .map(|(usage, voucher, outcome)| {
                let debit = Transfer::new(
                    TransferKind::Debit,
                    Account::Voucher(voucher.id.clone()),
                    Account::Consumed(voucher.id.clone()),
                    outcome.amount,
                )
                .with_reference(format!("job {} on {}", usage.job_id, usage.cluster));
                (usage_operation(usage), [debit], voucher.id.as_str())
            })
            .collect();
        let operations: Vec<ledger::Operation<'_>> = debits
            .iter()
            .map(|(id, transfers, voucher)| ledger::Operation {
                id,
                transfers,
                voucher_id: Some(voucher),
            })
            .collect();
        if ledger::apply_all(&mut tx, &operations).await?.is_err() {
            // Balances were read under the vouchers' locks, so this cannot happen.
            return Err(VouchersError::Conflict(
                "a balance changed while usage was recorded; nothing was charged, retry".into(),
            ));
        }
        // Per voucher charged: its overage, then its status and warnings.
        let mut overages: BTreeMap<&str, (i64, &Locked)> = BTreeMap::new();
        for (_, voucher, outcome) in &accepted {
            overages
                .entry(voucher.id.as_str())
                .or_insert((0, voucher))
                .0 += outcome.overage;
        }
        for (voucher_id, (overage, voucher)) in overages {
            if overage > 0 {
                add_overage(&mut tx, voucher_id, overage).await?;
            }
            let account = Account::Voucher(voucher_id.to_owned()).id();
            let balance =
                |balances: &HashMap<String, i64>| balances.get(&account).copied().unwrap_or(0);
            settle(
                self,
                &mut tx,
                voucher,
                balance(&before),
                Some(balance(&spendable)),
            )
            .await?;
        }
        self.outbox.commit(tx).await?;
        let transfers: Vec<Transfer> = debits.into_iter().map(|(_, [t], _)| t).collect();
        crate::metrics::transfers_committed(&transfers);
        Ok(Some(outcomes))
    }

    /// Charges a `sacct --parsable2` text: each finished job once (steps and running jobs are
    /// not charges; a job seen before is a duplicate), in file order, refusing per line what
    /// cannot be charged. One transaction; one debit transfer per voucher.
    pub async fn ingest_sacct(
        &self,
        cluster: &str,
        text: &str,
        today: NaiveDate,
    ) -> Result<IngestReport, VouchersError> {
        let parsed =
            sacct::parse(text).map_err(|e| VouchersError::invalid("sacct", e.to_string()))?;
        self.ingest_parsed(cluster, parsed, today, &Standing::default(), "")
            .await
    }

    /// [`Self::ingest_sacct`] for a file already read (streamed in by [`sacct::SacctReader`]).
    /// `standing`: what onboarding said of the companies; jobs of companies not in good standing
    /// are refused line by line. `uploaded_by`: the sender's subject, kept in the history.
    pub async fn ingest_parsed(
        &self,
        cluster: &str,
        parsed: sacct::ParsedSacct,
        today: NaiveDate,
        standing: &Standing,
        uploaded_by: &str,
    ) -> Result<IngestReport, VouchersError> {
        let mut report = IngestReport {
            skipped: parsed.skipped,
            duplicates: parsed.in_file_duplicates,
            rejected: parsed.rejected.clone(),
            ..IngestReport::default()
        };
        let mut tx = self.db.pool().begin().await?;
        let codes: BTreeSet<&str> = parsed.jobs.iter().map(|j| j.account.as_str()).collect();
        let vouchers = lock_codes(&mut tx, codes.into_iter()).await?;
        let before = ledger::balances(
            &mut tx,
            &vouchers
                .values()
                .map(|v| Account::Voucher(v.id.clone()).id())
                .collect::<Vec<_>>(),
        )
        .await?;

        // Jobs recorded before, by any path.
        let mut recorded: HashSet<String> = HashSet::new();
        for chunk in parsed.jobs.chunks(500) {
            let sql = format!(
                "SELECT job_id FROM usage_records WHERE cluster = $1 AND job_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(cluster);
            for job in chunk {
                query = query.bind(&job.job_id);
            }
            recorded.extend(query.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id));
        }

        // Locked and read: decide each job, then write what was decided.
        let chargeable: HashMap<String, ChargeableVoucher> = vouchers
            .values()
            .map(|v| {
                let balance = before
                    .get(&Account::Voucher(v.id.clone()).id())
                    .copied()
                    .unwrap_or(0);
                (v.code.clone(), chargeable(v, balance, standing))
            })
            .collect();
        let jobs: Vec<AccountedJob<'_>> = parsed
            .jobs
            .iter()
            .map(|job| AccountedJob {
                job_id: &job.job_id,
                account: &job.account,
                gpu_seconds: job.gpu_seconds,
            })
            .collect();
        let verdicts = judge_jobs(&jobs, &chargeable, &recorded, today);

        let mut accepted: Vec<(&sacct::SacctJob, String, i64, i64)> = Vec::new();
        // Per voucher: charged, jobs, overage.
        let mut per_voucher: BTreeMap<String, (i64, usize, i64)> = BTreeMap::new();
        for (job, verdict) in parsed.jobs.iter().zip(verdicts) {
            match verdict {
                JobVerdict::Duplicate => report.duplicates += 1,
                JobVerdict::Rejected(kind, reason) => report.rejected.push(RejectedLine {
                    line: job.line,
                    kind,
                    reason,
                }),
                JobVerdict::Charged {
                    voucher_id,
                    charged,
                    overage,
                } => {
                    let entry = per_voucher.entry(voucher_id.clone()).or_insert((0, 0, 0));
                    entry.0 += charged;
                    entry.1 += 1;
                    entry.2 += overage;
                    report.accepted += 1;
                    report.amount += charged;
                    if overage > 0 {
                        report.overage += overage;
                        report.overage_jobs += 1;
                    }
                    accepted.push((job, voucher_id, charged, overage));
                }
            }
        }
        report.rejected.sort_by_key(|r| r.line);

        let batch = new_id();
        report.upload_id = batch.clone();
        report.charges = per_voucher
            .iter()
            .map(|(voucher_id, (amount, jobs, overage))| VoucherCharge {
                voucher_id: voucher_id.clone(),
                voucher_code: vouchers
                    .values()
                    .find(|v| &v.id == voucher_id)
                    .map(|v| v.code.clone())
                    .unwrap_or_default(),
                jobs: i64::try_from(*jobs).unwrap_or(i64::MAX),
                amount: *amount,
                overage: *overage,
            })
            .collect();
        // In the order the history reads them back.
        report
            .charges
            .sort_by(|a, b| a.voucher_code.cmp(&b.voucher_code));
        let mut debits = 0;
        for (voucher_id, (amount, jobs, overage)) in &per_voucher {
            if *overage > 0 {
                add_overage(&mut tx, voucher_id, *overage).await?;
            }
            if *amount == 0 {
                continue;
            }
            debits += 1;
            let operation = format!("sacct:{batch}:{voucher_id}");
            let debit = Transfer::new(
                TransferKind::Debit,
                Account::Voucher(voucher_id.clone()),
                Account::Consumed(voucher_id.clone()),
                *amount,
            )
            .with_reference(format!("{jobs} jobs from sacct on {cluster}"));
            if ledger::apply(&mut tx, &operation, &[debit], Some(voucher_id))
                .await?
                .is_err()
            {
                // Balances were read under the voucher locks, so this cannot happen; refuse whole.
                return Err(VouchersError::Conflict(
                    "a balance changed during ingestion; retry".into(),
                ));
            }
        }
        let now = now_ms();
        // In job order, as usage batches insert theirs: no two inserts wait in a cycle.
        accepted.sort_by(|a, b| a.0.job_id.cmp(&b.0.job_id));
        for chunk in accepted.chunks(400) {
            // A job recorded meanwhile by another path for a voucher this file does not name is
            // the one race the voucher locks cannot see: refuse the batch rather than charge twice.
            let sql = format!(
                "INSERT INTO usage_records (id, cluster, job_id, voucher_id, amount, overage, source, operation_id, created_at) VALUES {} \
                 ON CONFLICT (cluster, job_id) DO NOTHING",
                value_rows(chunk.len(), 9)
            );
            let mut query = sqlx::query(&sql);
            for (job, voucher_id, charged, overage) in chunk {
                query = query
                    .bind(new_id())
                    .bind(cluster)
                    .bind(&job.job_id)
                    .bind(voucher_id)
                    .bind(charged)
                    .bind(overage)
                    .bind("sacct")
                    .bind(format!("sacct:{batch}:{voucher_id}"))
                    .bind(now);
            }
            let inserted = query.execute(&mut *tx).await?.rows_affected();
            if inserted != chunk.len() as u64 {
                return Err(VouchersError::Conflict(
                    "some jobs were recorded meanwhile by another request; retry the batch".into(),
                ));
            }
        }
        for voucher in vouchers
            .values()
            .filter(|v| per_voucher.contains_key(&v.id))
        {
            let spendable_before = before
                .get(&Account::Voucher(voucher.id.clone()).id())
                .copied()
                .unwrap_or(0);
            settle(self, &mut tx, voucher, spendable_before, None).await?;
        }
        let companies: Vec<String> = vouchers
            .values()
            .filter(|v| per_voucher.contains_key(&v.id))
            .map(|v| v.company_id.clone())
            .collect();
        let event = Event::new(SERVICE, "usage.ingested", &batch)
            .for_companies(companies)
            .with_payload(serde_json::json!({ "cluster": cluster, "accepted": report.accepted, "amount": report.amount, "overage": report.overage }));
        self.outbox.enqueue(&mut tx, &event).await?;
        super::uploads::record(&mut tx, cluster, uploaded_by, now, &report).await?;
        self.outbox.commit(tx).await?;
        crate::metrics::transfers_of_kind_committed(TransferKind::Debit, debits);
        Ok(report)
    }

    /// Reserves `amount` before a job starts; released by itself after `expires_at`.
    // What a hold is (id, voucher, amount, expiry, job), the day and who asks: each a caller's.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_hold(
        &self,
        hold_id: &str,
        voucher_code: &str,
        amount: i64,
        expires_at: i64,
        job: Option<(&str, &str)>,
        today: NaiveDate,
        actor: &Actor,
    ) -> Result<HoldRecord, VouchersError> {
        let mut tx = self.db.pool().begin().await?;
        let voucher = lock(&mut tx, "code", voucher_code)
            .await?
            .ok_or(VouchersError::NotFound("voucher"))?;
        if let Some(existing) = hold_by_id(&mut tx, hold_id).await? {
            if existing.voucher_id != voucher.id || existing.amount != amount {
                return Err(VouchersError::Conflict(format!(
                    "hold {hold_id} exists with different content"
                )));
            }
            return Ok(existing);
        }
        refuse_spending(&voucher, today)?;
        let operation = format!("hold:{hold_id}");
        ledger::begin_operation(
            &mut tx,
            &operation,
            "hold",
            &format!("{}:{amount}", voucher.id),
        )
        .await?;
        let hold = Transfer::new(
            TransferKind::Hold,
            Account::Voucher(voucher.id.clone()),
            Account::Held(voucher.id.clone()),
            amount,
        )
        .with_reference(format!("hold {hold_id}"));
        let transfers = [hold];
        let balances =
            match ledger::apply(&mut tx, &operation, &transfers, Some(&voucher.id)).await? {
                Ok(balances) => balances,
                Err(short) => return Err(overdraw(&voucher, &short, amount)),
            };
        ledger::finish_operation(&mut tx, &operation, "open").await?;
        sqlx::query(
            "INSERT INTO holds (id, voucher_id, amount, state, expires_at, committed_amount, cluster, job_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)",
        )
        .bind(hold_id)
        .bind(&voucher.id)
        .bind(amount)
        .bind(HoldState::Open.as_str())
        .bind(expires_at)
        .bind(job.map(|(cluster, _)| cluster))
        .bind(job.map(|(_, job)| job))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let after = balances
            .get(&Account::Voucher(voucher.id.clone()).id())
            .copied()
            .unwrap_or(0);
        settle(self, &mut tx, &voucher, after + amount, Some(after)).await?;
        let hold = hold_by_id(&mut tx, hold_id)
            .await?
            .ok_or(VouchersError::NotFound("hold"))?;
        let change = Change::new("hold.opened", "hold", hold_id)
            .company(&voucher.company_id)
            .summary(format!("voucher {}: {amount} held", voucher.code));
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        crate::metrics::transfers_committed(&transfers);
        Ok(hold)
    }

    /// Charges the actual amount of a held job (at most what was held); the rest goes back.
    pub async fn commit_hold(
        &self,
        hold_id: &str,
        actual: i64,
        actor: &Actor,
    ) -> Result<HoldRecord, VouchersError> {
        self.close_hold(hold_id, Some(actual), HoldState::Committed, actor)
            .await
    }

    pub async fn release_hold(
        &self,
        hold_id: &str,
        actor: &Actor,
    ) -> Result<HoldRecord, VouchersError> {
        self.close_hold(hold_id, None, HoldState::Released, actor)
            .await
    }

    async fn close_hold(
        &self,
        hold_id: &str,
        actual: Option<i64>,
        to: HoldState,
        actor: &Actor,
    ) -> Result<HoldRecord, VouchersError> {
        let voucher_id = {
            let mut conn = self.db.reads().acquire().await?;
            hold_by_id(&mut conn, hold_id)
                .await?
                .ok_or(VouchersError::NotFound("hold"))?
                .voucher_id
        };
        let mut tx = self.db.pool().begin().await?;
        let voucher = lock(&mut tx, "id", &voucher_id)
            .await?
            .ok_or(VouchersError::NotFound("voucher"))?;
        let hold = hold_by_id(&mut tx, hold_id)
            .await?
            .ok_or(VouchersError::NotFound("hold"))?;
        if hold.state != HoldState::Open {
            let same =
                hold.state == to && (actual.is_none() || actual == Some(hold.committed_amount));
            // Releasing a hold that expired meanwhile is the same outcome.
            let released = to == HoldState::Released && hold.state == HoldState::Expired;
            if same || released {
                return Ok(hold);
            }
            return Err(VouchersError::Precondition(format!(
                "hold {hold_id} is already {}",
                hold.state
            )));
        }
        let mut used = actual.unwrap_or(0);
        if used < 0 || used > hold.amount {
            return Err(VouchersError::invalid(
                "amount",
                format!("must be between 0 and the held {}", hold.amount),
            ));
        }
        // A held job is a job like any other: recorded once by (cluster, job id), so a later
        // sacct line or usage record for it is a duplicate, and one charged already through
        // another path is not charged again here.
        if to == HoldState::Committed && used > 0 {
            let job: Option<(Option<String>, Option<String>)> =
                sqlx::query_as("SELECT cluster, job_id FROM holds WHERE id = $1")
                    .bind(hold_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((Some(cluster), Some(job_id))) = job {
                let recorded: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO usage_records (id, cluster, job_id, voucher_id, amount, source, operation_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'hold', $6, $7) ON CONFLICT (cluster, job_id) DO NOTHING RETURNING id",
                )
                .bind(new_id())
                .bind(&cluster)
                .bind(&job_id)
                .bind(&voucher.id)
                .bind(used)
                .bind(format!("close:{hold_id}"))
                .bind(now_ms())
                .fetch_optional(&mut *tx)
                .await?;
                if recorded.is_none() {
                    tracing::info!(hold = hold_id, job = %job_id, "held job was already charged; the hold is released instead");
                    used = 0;
                }
            }
        }
        let held = Account::Held(voucher.id.clone());
        let mut transfers = Vec::new();
        if used > 0 {
            transfers.push(
                Transfer::new(
                    TransferKind::Commit,
                    held.clone(),
                    Account::Consumed(voucher.id.clone()),
                    used,
                )
                .with_reference(format!("hold {hold_id}: {used} used")),
            );
        }
        if hold.amount > used {
            transfers.push(
                Transfer::new(
                    TransferKind::Release,
                    held,
                    Account::Voucher(voucher.id.clone()),
                    hold.amount - used,
                )
                .with_reference(format!("hold {hold_id}: {} returned", hold.amount - used)),
            );
        }
        let operation = format!("close:{hold_id}");
        if let ledger::Begun::Done(_) =
            ledger::begin_operation(&mut tx, &operation, to.as_str(), &format!("{to}:{used}"))
                .await?
        {
            return Err(VouchersError::Conflict(format!(
                "hold {hold_id} was closed by another request"
            )));
        }
        let spendable_before =
            ledger::balances(&mut tx, &[Account::Voucher(voucher.id.clone()).id()])
                .await?
                .values()
                .sum::<i64>();
        if ledger::apply(&mut tx, &operation, &transfers, Some(&voucher.id))
            .await?
            .is_err()
        {
            return Err(VouchersError::Internal(format!(
                "hold {hold_id} holds less than recorded"
            )));
        }
        ledger::finish_operation(&mut tx, &operation, to.as_str()).await?;
        sqlx::query("UPDATE holds SET state = $1, committed_amount = $2 WHERE id = $3")
            .bind(to.as_str())
            .bind(used)
            .bind(hold_id)
            .execute(&mut *tx)
            .await?;
        settle(self, &mut tx, &voucher, spendable_before, None).await?;
        let hold = hold_by_id(&mut tx, hold_id)
            .await?
            .ok_or(VouchersError::NotFound("hold"))?;
        let change = Change::new(
            format!("hold.{}", to.as_str().to_lowercase()),
            "hold",
            hold_id,
        )
        .company(&voucher.company_id)
        .summary(format!(
            "voucher {}: OPEN → {}, {used} of {} charged",
            voucher.code,
            to.as_str(),
            hold.amount
        ));
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        crate::metrics::transfers_committed(&transfers);
        Ok(hold)
    }

    /// Releases holds whose time ran out; returns how many.
    pub async fn expire_holds(&self, now: i64) -> Result<usize, VouchersError> {
        let due: Vec<(String,)> = sqlx::query_as("SELECT id FROM holds WHERE state = $1 AND expires_at < $2 ORDER BY expires_at LIMIT 500")
            .bind(HoldState::Open.as_str())
            .bind(now)
            .fetch_all(self.db.reads())
            .await?;
        let mut expired = 0;
        for (id,) in due {
            match self
                .close_hold(&id, None, HoldState::Expired, &Actor::system("sweeper"))
                .await
            {
                Ok(hold) if hold.state == HoldState::Expired => expired += 1,
                Ok(_) => {}
                Err(error) => tracing::warn!(hold = %id, %error, "could not expire hold"),
            }
        }
        Ok(expired)
    }

    /// Ends a voucher: open holds are released, the spendable rest goes back to the pool
    /// (revocation) or to the voucher's expired account (expiry).
    pub async fn end_voucher(
        &self,
        voucher_id: &str,
        to: VoucherStatus,
        note: Option<&str>,
        actor: &Actor,
    ) -> Result<(), VouchersError> {
        let mut tx = self.db.pool().begin().await?;
        let voucher = lock(&mut tx, "id", voucher_id)
            .await?
            .ok_or(VouchersError::NotFound("voucher"))?;
        let status = voucher.status.end(to)?;
        let open: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, amount FROM holds WHERE voucher_id = $1 AND state = $2")
                .bind(&voucher.id)
                .bind(HoldState::Open.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let mut transfers: Vec<Transfer> = open
            .iter()
            .map(|(hold, amount)| {
                Transfer::new(
                    TransferKind::Release,
                    Account::Held(voucher.id.clone()),
                    Account::Voucher(voucher.id.clone()),
                    *amount,
                )
                .with_reference(format!(
                    "hold {hold} released: voucher {}",
                    status.as_str().to_lowercase()
                ))
            })
            .collect();
        let spendable = ledger::balances(&mut tx, &[Account::Voucher(voucher.id.clone()).id()])
            .await?
            .values()
            .sum::<i64>()
            + open.iter().map(|(_, amount)| amount).sum::<i64>();
        if spendable > 0 {
            let (kind, target) = match status {
                VoucherStatus::Revoked => (
                    TransferKind::Revocation,
                    Account::Pool(voucher.pool_id.clone()),
                ),
                _ => (TransferKind::Expiry, Account::Expired(voucher.id.clone())),
            };
            let mut transfer = Transfer::new(
                kind,
                Account::Voucher(voucher.id.clone()),
                target,
                spendable,
            );
            if let Some(note) = note {
                transfer = transfer.with_reference(note);
            }
            transfers.push(transfer);
        }
        let operation = format!("end:{}", voucher.id);
        ledger::begin_operation(&mut tx, &operation, status.as_str(), status.as_str()).await?;
        if ledger::apply(&mut tx, &operation, &transfers, Some(&voucher.id))
            .await?
            .is_err()
        {
            return Err(VouchersError::Internal(format!(
                "ending voucher {} was refused by the ledger",
                voucher.code
            )));
        }
        ledger::finish_operation(&mut tx, &operation, status.as_str()).await?;
        let hold_state = if status == VoucherStatus::Expired {
            HoldState::Expired
        } else {
            HoldState::Released
        };
        sqlx::query("UPDATE holds SET state = $1 WHERE voucher_id = $2 AND state = $3")
            .bind(hold_state.as_str())
            .bind(&voucher.id)
            .bind(HoldState::Open.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE vouchers SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(&voucher.id)
            .execute(&mut *tx)
            .await?;
        let kind = if status == VoucherStatus::Revoked {
            "voucher.revoked"
        } else {
            "voucher.expired"
        };
        let event = Event::new(SERVICE, kind, &voucher.id)
            .for_companies(vec![voucher.company_id.clone()])
            .with_payload(
                serde_json::json!({ "code": voucher.code, "returned": spendable, "note": note }),
            );
        self.outbox.enqueue(&mut tx, &event).await?;
        let change = Change::new(kind, "voucher", &voucher.id)
            .company(&voucher.company_id)
            .summary(format!(
                "{}: {} → {}, {spendable} returned",
                voucher.code,
                voucher.status.as_str(),
                status.as_str()
            ))
            .note(note);
        audit::record(&mut tx, actor, &change).await?;
        self.outbox.commit(tx).await?;
        crate::metrics::transfers_committed(&transfers);
        Ok(())
    }

    /// Vouchers whose validity ended before `today` and that have not ended yet.
    pub async fn vouchers_due_to_expire(
        &self,
        today: NaiveDate,
    ) -> Result<Vec<String>, VouchersError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM vouchers WHERE valid_until < $1 AND status IN ('ACTIVE', 'EXHAUSTED', 'FROZEN') ORDER BY id LIMIT 500",
        )
        .bind(today.to_string())
        .fetch_all(self.db.reads())
        .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Freezes (or thaws) every voucher of a company, once per event id.
    pub async fn set_company_frozen(
        &self,
        event_id: &str,
        company_id: &str,
        frozen: bool,
    ) -> Result<usize, VouchersError> {
        let mut tx = self.db.pool().begin().await?;
        let first = sqlx::query("INSERT INTO processed_events (id, processed_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(event_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if first == 0 {
            return Ok(0);
        }
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM vouchers WHERE company_id = $1 ORDER BY id")
                .bind(company_id)
                .fetch_all(&mut *tx)
                .await?;
        let mut changes = Vec::new();
        for (id,) in ids {
            let Some(voucher) = lock(&mut tx, "id", &id).await? else {
                continue;
            };
            let next = if frozen {
                voucher.status.freeze()
            } else {
                let balances = ledger::balances(
                    &mut tx,
                    &[
                        Account::Voucher(id.clone()).id(),
                        Account::Held(id.clone()).id(),
                    ],
                )
                .await?;
                voucher.status.unfreeze(
                    balances
                        .get(&Account::Voucher(id.clone()).id())
                        .copied()
                        .unwrap_or(0),
                    balances
                        .get(&Account::Held(id.clone()).id())
                        .copied()
                        .unwrap_or(0),
                )
            };
            // Vouchers already ended (or already in the wanted state) stay as they are.
            if let Ok(status) = next {
                sqlx::query("UPDATE vouchers SET status = $1 WHERE id = $2")
                    .bind(status.as_str())
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                let action = if frozen {
                    "voucher.frozen"
                } else {
                    "voucher.thawed"
                };
                changes.push(
                    Change::new(action, "voucher", &id)
                        .company(company_id)
                        .summary(format!(
                            "{}: {} → {} with the company's standing",
                            voucher.code,
                            voucher.status.as_str(),
                            status.as_str()
                        )),
                );
            }
        }
        // After every voucher's lock, so the chain's lock is the last one taken.
        for change in &changes {
            audit::record(&mut tx, &Actor::system("events"), change).await?;
        }
        tx.commit().await?;
        Ok(changes.len())
    }

    /// Active vouchers with what they have left, for the Slurm accounts export.
    /// The companies whose vouchers carry these codes (unknown codes are left out).
    pub async fn companies_of_codes(&self, codes: &[String]) -> Result<Vec<String>, VouchersError> {
        let mut companies = HashSet::new();
        for chunk in codes.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT company_id FROM vouchers WHERE code IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String,)>(&sql);
            for code in chunk {
                query = query.bind(code);
            }
            companies.extend(
                query
                    .fetch_all(self.db.reads())
                    .await?
                    .into_iter()
                    .map(|(c,)| c),
            );
        }
        Ok(companies.into_iter().collect())
    }

    /// Every GPU voucher ever issued, by code, as the sacctmgr export needs it: an account the
    /// cluster knows stays there until it is limited to zero.
    pub async fn gpu_vouchers_for_slurm(&self) -> Result<Vec<SlurmVoucher>, VouchersError> {
        let rows: Vec<(String, String, String, i64, String, String)> = sqlx::query_as(
            "SELECT code, company_id, status, granted, valid_from, valid_until FROM vouchers \
             WHERE kind = $1 ORDER BY code",
        )
        .bind(ResourceKind::GpuH100.as_str())
        .fetch_all(self.db.reads())
        .await?;
        rows.into_iter()
            .map(|(code, company_id, status, granted, from, until)| {
                let day = |text: &str| {
                    NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| VouchersError::Internal(format!("bad validity date {text}")))
                };
                Ok(SlurmVoucher {
                    status: VoucherStatus::parse(&status)
                        .ok_or_else(|| VouchersError::Internal(format!("bad status {status}")))?,
                    valid_from: day(&from)?,
                    valid_until: day(&until)?,
                    code,
                    company_id,
                    granted,
                })
            })
            .collect()
    }
}
