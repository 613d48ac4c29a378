//! The vouchers domain: pools, programmes, applications and vouchers as validated values and
//! state machines, and the ledger's accounts and transfers. Pure: no I/O.

use axv_platform::string_enum;
use axv_proto::common::v1::Sector;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::error::VouchersError;

string_enum!(ResourceKind { GpuH100 => "GPU_H100", Npu => "NPU", Storage => "STORAGE" });
string_enum!(FundingSource { National => "NATIONAL", City => "CITY", Private => "PRIVATE" });
string_enum!(ApplicationStatus {
    Submitted => "SUBMITTED",
    Approved => "APPROVED",
    Rejected => "REJECTED",
    Withdrawn => "WITHDRAWN",
});
string_enum!(VoucherStatus {
    Active => "ACTIVE",
    Exhausted => "EXHAUSTED",
    Expired => "EXPIRED",
    Revoked => "REVOKED",
    Frozen => "FROZEN",
});
// Why a line of an accounting file was not charged, for a reader in any language; the line's
// reason says the same in words, with the particulars.
string_enum!(LineRefusal {
    Malformed => "MALFORMED",
    UnknownVoucher => "UNKNOWN_VOUCHER",
    NotGpuVoucher => "NOT_GPU_VOUCHER",
    VoucherNotSpendable => "VOUCHER_NOT_SPENDABLE",
    CompanyNotInGoodStanding => "COMPANY_NOT_IN_GOOD_STANDING",
});
string_enum!(HoldState { Open => "OPEN", Committed => "COMMITTED", Released => "RELEASED", Expired => "EXPIRED" });

impl ResourceKind {
    /// The base unit amounts are counted in.
    pub fn unit(self) -> &'static str {
        match self {
            ResourceKind::GpuH100 => "GPU-second",
            ResourceKind::Npu => "NPU-second",
            ResourceKind::Storage => "GB-day",
        }
    }

    /// An amount in this kind's base unit as people count it: compute in hours
    /// (`6000 GPU-hours`, `1.5 NPU-hours`), storage in GB-days.
    pub fn in_words(self, amount: i64) -> String {
        let hours = |name: &str| {
            if amount % 3600 == 0 {
                format!("{} {name}-hours", amount / 3600)
            } else {
                format!("{:.1} {name}-hours", amount as f64 / 3600.0)
            }
        };
        match self {
            ResourceKind::GpuH100 => hours("GPU"),
            ResourceKind::Npu => hours("NPU"),
            ResourceKind::Storage => format!("{amount} GB-days"),
        }
    }

    /// The first part of a voucher code.
    pub fn code_prefix(self) -> &'static str {
        match self {
            ResourceKind::GpuH100 => "gpu",
            ResourceKind::Npu => "npu",
            ResourceKind::Storage => "sto",
        }
    }
}

pub fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, VouchersError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| VouchersError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// Korea's offset from UTC; the programme's calendar days (validity, issue dates) are Seoul's,
/// and Korea keeps no daylight saving time.
pub const KST_OFFSET_MS: i64 = 9 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The first millisecond of `day` in Seoul.
pub fn kst_day_start_ms(day: NaiveDate) -> i64 {
    day.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
        - KST_OFFSET_MS
}

/// The Seoul calendar day of a number of days since 1970-01-01, as `kst_day_number` counts.
pub fn kst_day(day_number: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(day_number.checked_mul(86_400)?, 0).map(|t| t.date_naive())
}

/// Days since 1970-01-01 in Seoul of a unix-milliseconds instant (what the store groups by).
pub fn kst_day_number(at_ms: i64) -> i64 {
    (at_ms + KST_OFFSET_MS).div_euclid(DAY_MS)
}

/// The first day of the calendar quarter `day` falls in.
pub fn quarter_start(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    let month = (day.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day)
}

/// Optional inclusive issue-date bounds; the end must not be before the start.
pub fn validate_issue_window(
    from: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), VouchersError> {
    let from = from.map(|t| parse_date("issuedFrom", t)).transpose()?;
    let until = until.map(|t| parse_date("issuedUntil", t)).transpose()?;
    if let (Some(from), Some(until)) = (from, until)
        && until < from
    {
        return Err(VouchersError::invalid(
            "issuedUntil",
            "must not be before issuedFrom",
        ));
    }
    Ok((from, until))
}

pub fn validate_name(field: &'static str, name: &str) -> Result<String, VouchersError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(VouchersError::invalid(field, "must be 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

/// A window whose end is not before its start.
pub fn validate_window(
    from_field: &'static str,
    from: &str,
    until_field: &'static str,
    until: &str,
) -> Result<(NaiveDate, NaiveDate), VouchersError> {
    let from = parse_date(from_field, from)?;
    let until = parse_date(until_field, until)?;
    if until < from {
        return Err(VouchersError::invalid(
            until_field,
            format!("must not be before {from_field}"),
        ));
    }
    Ok((from, until))
}

/// The most any amount of compute may be, in base units: 10^13 GPU-seconds is about 2.8
/// billion GPU-hours, beyond the National AI Data Center's whole life. Bounded before SQL, so
/// sums stay far inside `i64`.
pub const MAX_AMOUNT: i64 = 10_000_000_000_000;

pub fn validate_positive(field: &'static str, amount: i64) -> Result<i64, VouchersError> {
    if amount <= 0 {
        return Err(VouchersError::invalid(field, "must be greater than zero"));
    }
    if amount > MAX_AMOUNT {
        return Err(VouchersError::invalid(
            field,
            format!("must be at most {MAX_AMOUNT}"),
        ));
    }
    Ok(amount)
}

/// The names a programme keeps of the sectors it is restricted to (`Sector` values as a request
/// carries them), without repeats; an unset or unknown one is refused.
pub fn validate_sectors(values: &[i32]) -> Result<Vec<String>, VouchersError> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let sector = Sector::name_of(*value).ok_or_else(|| {
            VouchersError::invalid(
                "sectors",
                format!("{value} is not one of the nine industries"),
            )
        })?;
        if !out.iter().any(|s| s == sector) {
            out.push(sector.to_owned());
        }
    }
    Ok(out)
}

/// What the programme says about a company applying on `today`, or why it cannot.
pub struct Eligibility<'a> {
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub sectors: &'a [String],
    pub max_per_company: i64,
}

impl Eligibility<'_> {
    pub fn check(
        &self,
        today: NaiveDate,
        company_status: &str,
        company_sector: &str,
        requested: i64,
        already_granted: i64,
    ) -> Result<(), VouchersError> {
        if today < self.opens_on {
            return Err(crate::error::not_eligible(format!(
                "the programme opens on {}",
                self.opens_on
            )));
        }
        if today > self.closes_on {
            return Err(crate::error::not_eligible(format!(
                "the programme closed on {}",
                self.closes_on
            )));
        }
        if company_status != "APPROVED" {
            return Err(crate::error::not_eligible(format!(
                "the company is {company_status}; only APPROVED companies may apply"
            )));
        }
        if !self.sectors.is_empty() && !self.sectors.iter().any(|s| s == company_sector) {
            return Err(crate::error::not_eligible(format!(
                "the programme is open to {} only, not {company_sector}",
                self.sectors.join(", ")
            )));
        }
        let left = self.max_per_company - already_granted;
        if requested > left {
            return Err(crate::error::not_eligible(format!(
                "the request exceeds the programme's cap: {left} of {} left for this company",
                self.max_per_company
            )));
        }
        Ok(())
    }
}

/// The only moves an application makes; all from SUBMITTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationAction {
    Approve,
    Reject,
    Withdraw,
}

impl ApplicationAction {
    pub fn apply(self, from: ApplicationStatus) -> Result<ApplicationStatus, VouchersError> {
        match (self, from) {
            (ApplicationAction::Approve, ApplicationStatus::Submitted) => {
                Ok(ApplicationStatus::Approved)
            }
            (ApplicationAction::Reject, ApplicationStatus::Submitted) => {
                Ok(ApplicationStatus::Rejected)
            }
            (ApplicationAction::Withdraw, ApplicationStatus::Submitted) => {
                Ok(ApplicationStatus::Withdrawn)
            }
            _ => Err(VouchersError::refused(
                axv_platform::error::Reason::WrongState,
                format!(
                    "the application is {from}; only SUBMITTED applications can be decided or withdrawn"
                ),
            )),
        }
    }
}

/// The amount an approval grants: the request in full, or less (in part), never more.
pub fn granted_amount(requested: i64, granted: Option<i64>) -> Result<i64, VouchersError> {
    match granted {
        None => Ok(requested),
        Some(amount) if amount <= 0 => Err(VouchersError::invalid(
            "grantedAmount",
            "must be greater than zero",
        )),
        Some(amount) if amount > requested => Err(VouchersError::invalid(
            "grantedAmount",
            format!("must not exceed the requested {requested}"),
        )),
        Some(amount) => Ok(amount),
    }
}

impl VoucherStatus {
    /// Whether holds and debits may draw on the voucher (the balance decides the rest).
    pub fn can_spend(self) -> bool {
        matches!(self, VoucherStatus::Active | VoucherStatus::Exhausted)
    }

    /// Whether the voucher is over for good.
    pub fn is_final(self) -> bool {
        matches!(self, VoucherStatus::Expired | VoucherStatus::Revoked)
    }

    /// ACTIVE or EXHAUSTED as the spendable balance says, for vouchers that can spend.
    pub fn settle(self, balance: i64, held: i64) -> VoucherStatus {
        if !self.can_spend() {
            return self;
        }
        if balance == 0 && held == 0 {
            VoucherStatus::Exhausted
        } else {
            VoucherStatus::Active
        }
    }

    pub fn freeze(self) -> Result<VoucherStatus, VouchersError> {
        match self {
            VoucherStatus::Active | VoucherStatus::Exhausted => Ok(VoucherStatus::Frozen),
            other => Err(VouchersError::refused(
                axv_platform::error::Reason::WrongState,
                format!("a {other} voucher cannot be frozen"),
            )),
        }
    }

    pub fn unfreeze(self, balance: i64, held: i64) -> Result<VoucherStatus, VouchersError> {
        match self {
            VoucherStatus::Frozen => Ok(VoucherStatus::Active.settle(balance, held)),
            other => Err(VouchersError::refused(
                axv_platform::error::Reason::WrongState,
                format!("a {other} voucher is not frozen"),
            )),
        }
    }

    /// Revocation and expiry end any voucher that has not ended yet.
    pub fn end(self, to: VoucherStatus) -> Result<VoucherStatus, VouchersError> {
        if self.is_final() {
            return Err(VouchersError::refused(
                axv_platform::error::Reason::WrongState,
                format!("the voucher is already {self}"),
            ));
        }
        Ok(to)
    }
}

/// Why a voucher refuses to be drawn on, in the words an operator sees.
pub fn spend_refusal(
    status: VoucherStatus,
    today: NaiveDate,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
) -> Option<String> {
    match status {
        VoucherStatus::Revoked => Some("the voucher was revoked".to_owned()),
        VoucherStatus::Expired => Some("the voucher expired".to_owned()),
        VoucherStatus::Frozen => {
            Some("the voucher is frozen while its company is suspended".to_owned())
        }
        _ if today > valid_until => Some(format!("the voucher expired on {valid_until}")),
        _ if today < valid_from => Some(format!("the voucher is valid from {valid_from}")),
        _ => None,
    }
}

/// A job's usage against what the voucher can still spend: the part charged (up to the balance,
/// never below zero) and the overage, the rest that ran without funding. The job is recorded
/// whole either way; the data center's machines ran it whether or not the voucher could pay.
pub fn split_usage(amount: i64, spendable: i64) -> (i64, i64) {
    let charged = amount.min(spendable.max(0)).max(0);
    (charged, amount - charged)
}

/// Whether spending moved the voucher past 80% used, the point its company is warned.
pub fn crossed_low_balance(granted: i64, used_before: i64, used_after: i64) -> bool {
    let threshold = granted.saturating_mul(8) / 10;
    granted > 0 && used_before < threshold && used_after >= threshold
}

/// The ledger's accounts. Every transfer moves an amount from one to another, so the sum of
/// all balances is always zero: the pool's capacity account is the only one that goes negative.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    /// Where a pool's capacity comes from (the data center's allocation to the programme).
    Capacity(String),
    /// A pool's capacity not yet granted.
    Pool(String),
    /// A voucher's spendable balance.
    Voucher(String),
    /// Reserved for jobs that have not finished.
    Held(String),
    Consumed(String),
    /// What was left when the voucher ended.
    Expired(String),
}

impl Account {
    pub fn id(&self) -> String {
        match self {
            Account::Capacity(pool) => format!("capacity:{pool}"),
            Account::Pool(pool) => format!("pool:{pool}"),
            Account::Voucher(v) => format!("voucher:{v}"),
            Account::Held(v) => format!("held:{v}"),
            Account::Consumed(v) => format!("consumed:{v}"),
            Account::Expired(v) => format!("expired:{v}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Account::Capacity(_) => "capacity",
            Account::Pool(_) => "pool",
            Account::Voucher(_) => "voucher",
            Account::Held(_) => "held",
            Account::Consumed(_) => "consumed",
            Account::Expired(_) => "expired",
        }
    }

    /// Only the capacity source may go below zero.
    pub fn may_go_negative(&self) -> bool {
        matches!(self, Account::Capacity(_))
    }
}

string_enum!(TransferKind {
    Fund => "fund",
    Grant => "grant",
    Hold => "hold",
    Commit => "commit",
    Release => "release",
    Debit => "debit",
    Expiry => "expiry",
    Revocation => "revocation",
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub kind: TransferKind,
    pub from: Account,
    pub to: Account,
    pub amount: i64,
    pub reference: Option<String>,
}

impl Transfer {
    pub fn new(kind: TransferKind, from: Account, to: Account, amount: i64) -> Self {
        Self {
            kind,
            from,
            to,
            amount,
            reference: None,
        }
    }

    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

/// The net change of each account over a set of transfers, in account-id order: the store
/// applies them in this order, so two operations never wait on each other's rows in opposite
/// orders (no deadlocks), and applies each decrease only if the balance covers it.
pub fn net_deltas(transfers: &[Transfer]) -> Vec<(Account, i64)> {
    let mut deltas: std::collections::BTreeMap<String, (Account, i64)> =
        std::collections::BTreeMap::new();
    for transfer in transfers {
        deltas
            .entry(transfer.from.id())
            .or_insert_with(|| (transfer.from.clone(), 0))
            .1 -= transfer.amount;
        deltas
            .entry(transfer.to.id())
            .or_insert_with(|| (transfer.to.clone(), 0))
            .1 += transfer.amount;
    }
    deltas
        .into_values()
        .filter(|(_, delta)| *delta != 0)
        .collect()
}

/// The signed effect of a transfer on a voucher's spendable balance (what ledger entries show).
pub fn spendable_effect(
    transfer_from: &str,
    transfer_to: &str,
    amount: i64,
    voucher_id: &str,
) -> i64 {
    let spendable = format!("voucher:{voucher_id}");
    match (transfer_from == spendable, transfer_to == spendable) {
        (true, false) => -amount,
        (false, true) => amount,
        _ => 0,
    }
}

/// A voucher code: resource, year and six random characters, e.g. `gpu-2026-k3m9qa`. Only
/// lowercase letters, digits and '-', so it is a valid Slurm account name as it stands.
pub fn voucher_code(kind: ResourceKind, year: i32, random: &[u8; 6]) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let suffix: String = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{year}-{suffix}", kind.code_prefix())
}

pub fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !code.starts_with('-')
}

/// Why granting `amount` more to a company already granted `granted_before` in a programme
/// capped at `cap` per company is refused, if it is.
pub fn cap_refusal(granted_before: i64, amount: i64, cap: i64) -> Option<String> {
    // A total past i64 is past any cap.
    let over = granted_before
        .checked_add(amount)
        .is_none_or(|total| total > cap);
    over.then(|| {
        format!("granting {amount} would take the company past the programme's cap of {cap}")
    })
}

/// A voucher that accounted usage names, as ingestion sees it under the voucher's lock.
#[derive(Debug, Clone)]
pub struct ChargeableVoucher {
    pub id: String,
    pub code: String,
    pub kind: ResourceKind,
    pub status: VoucherStatus,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// Its spendable balance before the file.
    pub balance: i64,
    /// Why its company may not spend now (suspended, or not yet asked about), if it may not.
    pub barred: Option<&'static str>,
}

/// One job of an accounting file: its id (the dedup key), the voucher code it is charged to
/// and what it used.
#[derive(Debug, Clone, Copy)]
pub struct AccountedJob<'a> {
    pub job_id: &'a str,
    pub account: &'a str,
    pub gpu_seconds: i64,
}

/// What becomes of one accounted job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobVerdict {
    /// Recorded before, by any path, or charged earlier in the same file.
    Duplicate,
    /// Not charged, for the reason given.
    Rejected(LineRefusal, String),
    /// `charged` drawn from the voucher `voucher_id`; `overage` used beyond its balance.
    Charged {
        voucher_id: String,
        charged: i64,
        overage: i64,
    },
}

/// Each job's verdict, in file order. A job recorded before (`recorded`) or charged earlier in
/// the file is a duplicate; a job naming no voucher of `vouchers` (by code), a voucher that is not
/// a GPU voucher, one that may not be spent today, or one whose company is barred, is
/// rejected; any other is charged what its voucher's balance still covers, the rest being
/// overage, so a later job sees what the earlier ones left.
pub fn judge_jobs(
    jobs: &[AccountedJob<'_>],
    vouchers: &HashMap<String, ChargeableVoucher>,
    recorded: &HashSet<String>,
    today: NaiveDate,
) -> Vec<JobVerdict> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut left: HashMap<&str, i64> = HashMap::new();
    jobs.iter()
        .map(|job| {
            if recorded.contains(job.job_id) || seen.contains(job.job_id) {
                return JobVerdict::Duplicate;
            }
            let Some(voucher) = vouchers.get(job.account) else {
                return JobVerdict::Rejected(
                    LineRefusal::UnknownVoucher,
                    format!("unknown voucher {:?}", job.account),
                );
            };
            // sacct charges GPU-seconds; an NPU or storage voucher is not drawn on by it.
            if voucher.kind != ResourceKind::GpuH100 {
                return JobVerdict::Rejected(
                    LineRefusal::NotGpuVoucher,
                    format!(
                        "{} is a {} voucher, not a GPU voucher",
                        voucher.code, voucher.kind
                    ),
                );
            }
            let refusal = spend_refusal(
                voucher.status,
                today,
                voucher.valid_from,
                voucher.valid_until,
            )
            .map(|reason| (LineRefusal::VoucherNotSpendable, reason))
            .or_else(|| {
                voucher
                    .barred
                    .map(|reason| (LineRefusal::CompanyNotInGoodStanding, reason.to_owned()))
            });
            if let Some((kind, reason)) = refusal {
                return JobVerdict::Rejected(kind, format!("{}: {reason}", voucher.code));
            }
            seen.insert(job.job_id);
            let balance = left.entry(voucher.id.as_str()).or_insert(voucher.balance);
            let (charged, overage) = split_usage(job.gpu_seconds, *balance);
            *balance -= charged;
            JobVerdict::Charged {
                voucher_id: voucher.id.clone(),
                charged,
                overage,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axv_platform::ErrorCode;
    use axv_platform::error::DomainError;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn amounts_read_in_hours_or_gb_days() {
        assert_eq!(ResourceKind::GpuH100.in_words(21_600_000), "6000 GPU-hours");
        assert_eq!(ResourceKind::Npu.in_words(5_400), "1.5 NPU-hours");
        assert_eq!(ResourceKind::Storage.in_words(30), "30 GB-days");
    }

    #[test]
    fn quarters_and_seoul_days() {
        for (d, q) in [
            ("2026-01-01", "2026-01-01"),
            ("2026-03-31", "2026-01-01"),
            ("2026-04-01", "2026-04-01"),
            ("2026-08-15", "2026-07-01"),
            ("2026-12-31", "2026-10-01"),
        ] {
            assert_eq!(quarter_start(day(d)), day(q), "{d}");
        }
        // 2026-03-31T15:00Z is already 2026-04-01 in Seoul: the next quarter.
        let start = kst_day_start_ms(day("2026-04-01"));
        assert_eq!(start, 1_774_969_200_000);
        assert_eq!(kst_day(kst_day_number(start)), Some(day("2026-04-01")));
        assert_eq!(kst_day(kst_day_number(start - 1)), Some(day("2026-03-31")));
    }

    #[test]
    fn issue_windows_name_the_bad_field() {
        assert_eq!(validate_issue_window(None, None).unwrap(), (None, None));
        assert_eq!(
            validate_issue_window(Some("2026-01-01"), Some("2026-01-01")).unwrap(),
            (Some(day("2026-01-01")), Some(day("2026-01-01")))
        );
        for (from, until, field) in [
            (Some("2026-13-01"), None, "issuedFrom"),
            (Some(""), None, "issuedFrom"),
            (None, Some("31/12/2026"), "issuedUntil"),
            (Some("2026-02-01"), Some("2026-01-31"), "issuedUntil"),
        ] {
            match validate_issue_window(from, until) {
                Err(VouchersError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{from:?}..{until:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn application_moves_only_from_submitted() {
        use ApplicationAction as A;
        use ApplicationStatus as S;
        assert_eq!(A::Approve.apply(S::Submitted).unwrap(), S::Approved);
        assert_eq!(A::Reject.apply(S::Submitted).unwrap(), S::Rejected);
        assert_eq!(A::Withdraw.apply(S::Submitted).unwrap(), S::Withdrawn);
        for action in [A::Approve, A::Reject, A::Withdraw] {
            for from in [S::Approved, S::Rejected, S::Withdrawn] {
                let error = action.apply(from).unwrap_err();
                assert_eq!(
                    error.code(),
                    ErrorCode::FailedPrecondition,
                    "{action:?} {from}"
                );
                assert_eq!(
                    error.reason(),
                    Some(axv_platform::error::Reason::WrongState)
                );
            }
        }
    }

    #[test]
    fn partial_approval_never_exceeds_the_request() {
        assert_eq!(granted_amount(100, None).unwrap(), 100);
        assert_eq!(granted_amount(100, Some(40)).unwrap(), 40);
        assert!(granted_amount(100, Some(101)).is_err());
        assert!(granted_amount(100, Some(0)).is_err());
    }

    #[test]
    fn eligibility_says_why() {
        let sectors = vec!["ENERGY".to_owned()];
        let program = Eligibility {
            opens_on: day("2026-01-01"),
            closes_on: day("2026-12-31"),
            sectors: &sectors,
            max_per_company: 1000,
        };
        let today = day("2026-06-01");
        assert!(program.check(today, "APPROVED", "ENERGY", 600, 400).is_ok());
        let cases = [
            (day("2025-12-31"), "APPROVED", "ENERGY", 1, 0, "opens"),
            (day("2027-01-01"), "APPROVED", "ENERGY", 1, 0, "closed"),
            (today, "SUBMITTED", "ENERGY", 1, 0, "APPROVED"),
            (today, "APPROVED", "DATA", 1, 0, "ENERGY only"),
            (today, "APPROVED", "ENERGY", 601, 400, "cap"),
        ];
        for (when, status, sector, requested, granted, why) in cases {
            let error = program
                .check(when, status, sector, requested, granted)
                .unwrap_err();
            assert_eq!(error.code(), ErrorCode::FailedPrecondition);
            assert!(error.to_string().contains(why), "{error}");
        }
        let open = Eligibility {
            sectors: &[],
            ..program
        };
        assert!(open.check(today, "APPROVED", "DATA", 1, 0).is_ok());
    }

    #[test]
    fn voucher_status_machine() {
        use VoucherStatus as V;
        assert_eq!(V::Active.freeze().unwrap(), V::Frozen);
        assert_eq!(V::Exhausted.freeze().unwrap(), V::Frozen);
        for refused in [V::Frozen, V::Expired, V::Revoked] {
            assert!(refused.freeze().is_err(), "{refused}");
        }
        assert_eq!(V::Frozen.unfreeze(10, 0).unwrap(), V::Active);
        assert_eq!(V::Frozen.unfreeze(0, 0).unwrap(), V::Exhausted);
        for refused in [V::Active, V::Exhausted, V::Expired, V::Revoked] {
            assert!(refused.unfreeze(1, 0).is_err(), "{refused}");
        }
        for from in [V::Active, V::Exhausted, V::Frozen] {
            assert_eq!(from.end(V::Revoked).unwrap(), V::Revoked);
            assert_eq!(from.end(V::Expired).unwrap(), V::Expired);
        }
        for from in [V::Expired, V::Revoked] {
            assert!(from.end(V::Revoked).is_err());
            assert!(from.end(V::Expired).is_err());
            assert_eq!(from.settle(5, 0), from, "final states do not settle");
        }
        assert_eq!(V::Active.settle(0, 0), V::Exhausted);
        assert_eq!(
            V::Active.settle(0, 5),
            V::Active,
            "a hold may still be released"
        );
        assert_eq!(V::Exhausted.settle(3, 0), V::Active);
        assert_eq!(V::Frozen.settle(0, 0), V::Frozen);
    }

    #[test]
    fn spending_refusals() {
        let (from, until) = (day("2026-01-01"), day("2026-12-31"));
        assert_eq!(
            spend_refusal(VoucherStatus::Active, day("2026-06-01"), from, until),
            None
        );
        assert_eq!(
            spend_refusal(VoucherStatus::Exhausted, day("2026-06-01"), from, until),
            None
        );
        assert!(
            spend_refusal(VoucherStatus::Active, day("2027-01-01"), from, until)
                .unwrap()
                .contains("expired")
        );
        assert!(
            spend_refusal(VoucherStatus::Active, day("2025-12-31"), from, until)
                .unwrap()
                .contains("valid from")
        );
        assert!(
            spend_refusal(VoucherStatus::Frozen, day("2026-06-01"), from, until)
                .unwrap()
                .contains("frozen")
        );
        assert!(spend_refusal(VoucherStatus::Revoked, day("2026-06-01"), from, until).is_some());
        assert!(spend_refusal(VoucherStatus::Expired, day("2026-06-01"), from, until).is_some());
    }

    #[test]
    fn low_balance_is_crossed_once() {
        assert!(crossed_low_balance(1000, 700, 800));
        assert!(!crossed_low_balance(1000, 800, 900));
        assert!(!crossed_low_balance(1000, 100, 200));
        assert!(!crossed_low_balance(0, 0, 0));
    }

    #[test]
    fn deltas_net_out_and_sort() {
        let v = "v1".to_owned();
        let transfers = vec![
            Transfer::new(
                TransferKind::Commit,
                Account::Held(v.clone()),
                Account::Consumed(v.clone()),
                80,
            ),
            Transfer::new(
                TransferKind::Release,
                Account::Held(v.clone()),
                Account::Voucher(v.clone()),
                20,
            ),
        ];
        let deltas = net_deltas(&transfers);
        let ids: Vec<(String, i64)> = deltas.iter().map(|(a, d)| (a.id(), *d)).collect();
        assert_eq!(
            ids,
            vec![
                ("consumed:v1".into(), 80),
                ("held:v1".into(), -100),
                ("voucher:v1".into(), 20)
            ]
        );
        assert_eq!(
            deltas.iter().map(|(_, d)| d).sum::<i64>(),
            0,
            "double entry sums to zero"
        );
        // A transfer and its reverse cancel out entirely.
        let there_and_back = vec![
            Transfer::new(
                TransferKind::Hold,
                Account::Voucher(v.clone()),
                Account::Held(v.clone()),
                5,
            ),
            Transfer::new(
                TransferKind::Release,
                Account::Held(v.clone()),
                Account::Voucher(v.clone()),
                5,
            ),
        ];
        assert!(net_deltas(&there_and_back).is_empty());
    }

    #[test]
    fn codes_are_slurm_account_names() {
        for seed in 0..=255u8 {
            let code = voucher_code(
                ResourceKind::GpuH100,
                2026,
                &[seed, seed.wrapping_mul(7), 3, 200, 9, seed],
            );
            assert!(is_valid_code(&code), "{code}");
            assert!(code.starts_with("gpu-2026-"));
            assert_eq!(code.len(), "gpu-2026-".len() + 6);
        }
        for bad in ["", "GPU-1", "gpu_1", "-gpu", "gpu 1"] {
            assert!(!is_valid_code(bad), "{bad}");
        }
    }

    #[test]
    fn ledger_entry_signs() {
        assert_eq!(spendable_effect("pool:p", "voucher:v", 10, "v"), 10);
        assert_eq!(spendable_effect("voucher:v", "held:v", 10, "v"), -10);
        assert_eq!(spendable_effect("held:v", "consumed:v", 10, "v"), 0);
    }

    #[test]
    fn validation_names_fields() {
        assert!(
            validate_window("validFrom", "2026-01-01", "validUntil", "2025-12-31")
                .unwrap_err()
                .to_string()
                .contains("validUntil")
        );
        assert!(validate_positive("capacity", 0).is_err());
        let energy = Sector::Energy as i32;
        assert!(validate_sectors(&[energy, energy]).unwrap() == vec!["ENERGY".to_owned()]);
        assert!(validate_sectors(&[0]).is_err());
        assert!(validate_sectors(&[99]).is_err());
    }

    #[test]
    fn usage_is_charged_up_to_the_balance_and_the_rest_is_overage() {
        assert_eq!(split_usage(100, 500), (100, 0));
        assert_eq!(split_usage(500, 500), (500, 0));
        assert_eq!(split_usage(700, 500), (500, 200));
        assert_eq!(split_usage(700, 0), (0, 700));
        // A negative balance is never produced, but if one were read it charges nothing.
        assert_eq!(split_usage(700, -5), (0, 700));
        assert_eq!(split_usage(0, 10), (0, 0));
    }

    #[test]
    fn amounts_are_bounded_before_they_reach_the_database() {
        assert_eq!(validate_positive("amount", MAX_AMOUNT).unwrap(), MAX_AMOUNT);
        for bad in [0, -1, MAX_AMOUNT + 1, i64::MAX] {
            let refused = validate_positive("amount", bad).unwrap_err();
            assert!(refused.to_string().contains("amount"), "{refused}");
        }
    }

    fn voucher(code: &str, kind: ResourceKind, balance: i64) -> ChargeableVoucher {
        ChargeableVoucher {
            id: format!("id-{code}"),
            code: code.into(),
            kind,
            status: VoucherStatus::Active,
            valid_from: day("2026-01-01"),
            valid_until: day("2026-12-31"),
            balance,
            barred: None,
        }
    }

    #[test]
    fn accounted_jobs_are_judged_in_file_order() {
        let mut vouchers: HashMap<String, ChargeableVoucher> = HashMap::new();
        for v in [
            voucher("V1", ResourceKind::GpuH100, 100),
            voucher("N1", ResourceKind::Npu, 100),
            ChargeableVoucher {
                valid_until: day("2026-05-31"),
                ..voucher("E1", ResourceKind::GpuH100, 100)
            },
            ChargeableVoucher {
                barred: Some("its company is not in good standing (suspended)"),
                ..voucher("B1", ResourceKind::GpuH100, 100)
            },
        ] {
            vouchers.insert(v.code.clone(), v);
        }
        let job = |job_id, account, gpu_seconds| AccountedJob {
            job_id,
            account,
            gpu_seconds,
        };
        let jobs = [
            job("1", "V1", 60),
            job("2", "V1", 60),
            job("1", "V1", 10),
            job("old", "V1", 5),
            job("3", "X", 1),
            job("4", "N1", 1),
            job("5", "E1", 1),
            job("6", "B1", 1),
            job("6", "V1", 1),
        ];
        let recorded = HashSet::from(["old".to_owned()]);
        let charged = |charged, overage| JobVerdict::Charged {
            voucher_id: "id-V1".into(),
            charged,
            overage,
        };
        let rejected = |kind, reason: &str| JobVerdict::Rejected(kind, reason.into());
        assert_eq!(
            judge_jobs(&jobs, &vouchers, &recorded, day("2026-06-01")),
            [
                charged(60, 0),
                // The balance the first job left: 40 charged, 20 beyond it.
                charged(40, 20),
                JobVerdict::Duplicate,
                JobVerdict::Duplicate,
                rejected(LineRefusal::UnknownVoucher, "unknown voucher \"X\""),
                rejected(
                    LineRefusal::NotGpuVoucher,
                    "N1 is a NPU voucher, not a GPU voucher"
                ),
                rejected(
                    LineRefusal::VoucherNotSpendable,
                    "E1: the voucher expired on 2026-05-31"
                ),
                rejected(
                    LineRefusal::CompanyNotInGoodStanding,
                    "B1: its company is not in good standing (suspended)"
                ),
                // A refused job is not recorded: the same job on another voucher is charged.
                charged(0, 1),
            ]
        );
    }

    #[test]
    fn a_grant_stays_within_the_programmes_cap() {
        assert_eq!(cap_refusal(0, 600, 600), None);
        assert_eq!(cap_refusal(400, 200, 600), None);
        assert_eq!(
            cap_refusal(400, 201, 600).as_deref(),
            Some("granting 201 would take the company past the programme's cap of 600")
        );
        assert!(cap_refusal(i64::MAX, 1, i64::MAX).is_some());
    }
}
