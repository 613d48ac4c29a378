//! Reporting periods: quarters, halves and years in Korean calendar days, and which are due.

use axv_platform::string_enum;
use chrono::{Datelike, NaiveDate};

use super::*;

string_enum!(PeriodKind {
    Quarter => "QUARTER",
    Half => "HALF",
    Year => "YEAR",
});

impl Default for PeriodKind {
    /// Pilots report quarterly unless agreed otherwise.
    fn default() -> Self {
        PeriodKind::Quarter
    }
}

impl PeriodKind {
    pub fn months(self) -> u32 {
        match self {
            PeriodKind::Quarter => 3,
            PeriodKind::Half => 6,
            PeriodKind::Year => 12,
        }
    }
}

/// The first day of month `month0` (0-based, may run past 11) counted from January of `year`.
pub(crate) fn month_start(year: i32, month0: u32) -> NaiveDate {
    let year = year.saturating_add_unsigned(month0 / 12);
    // Only fails past chrono's last representable year, far outside any programme.
    NaiveDate::from_ymd_opt(year, month0 % 12 + 1, 1).unwrap_or(NaiveDate::MAX)
}

/// The calendar quarter, half or year containing `date`, as (first day, last day).
pub fn period_of(date: NaiveDate, kind: PeriodKind) -> (NaiveDate, NaiveDate) {
    let len = kind.months();
    let first0 = date.month0() / len * len;
    let start = month_start(date.year(), first0);
    let end = month_start(date.year(), first0 + len)
        .pred_opt()
        .unwrap_or(NaiveDate::MAX);
    (start, end)
}

pub fn quarter_start(date: NaiveDate) -> NaiveDate {
    period_of(date, PeriodKind::Quarter).0
}

pub fn quarter_end(date: NaiveDate) -> NaiveDate {
    period_of(date, PeriodKind::Quarter).1
}

/// A report covers exactly one calendar quarter, half or year, so reports line up with the
/// quarterly cells the published figures are built from.
pub fn validate_period(start: NaiveDate, end: NaiveDate) -> Result<PeriodKind, ReportsError> {
    if end < start {
        return Err(ReportsError::invalid(
            "periodEnd",
            "must not be before periodStart",
        ));
    }
    for kind in [PeriodKind::Quarter, PeriodKind::Half, PeriodKind::Year] {
        if period_of(start, kind) == (start, end) {
            return Ok(kind);
        }
    }
    if quarter_start(start) != start {
        Err(ReportsError::invalid(
            "periodStart",
            "must be the first day of a calendar quarter, half or year",
        ))
    } else {
        Err(ReportsError::invalid(
            "periodEnd",
            format!("must be the last day of a calendar quarter, half or year starting on {start}"),
        ))
    }
}

/// Whether two periods (inclusive of both ends) share a day.
pub fn overlaps(a: (NaiveDate, NaiveDate), b: (NaiveDate, NaiveDate)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The periods of `kind` touching the pilot's life that have ended by `today`: a report is due
/// at the end of each, including the partial first and last ones.
pub fn due_periods(
    pilot_start: NaiveDate,
    pilot_end: NaiveDate,
    today: NaiveDate,
    kind: PeriodKind,
) -> Vec<(NaiveDate, NaiveDate)> {
    let mut due = Vec::new();
    if pilot_end < pilot_start {
        return due;
    }
    let mut period = period_of(pilot_start, kind);
    while period.0 <= pilot_end && period.1 <= today {
        due.push(period);
        match period.1.succ_opt() {
            Some(next) => period = period_of(next, kind),
            None => break,
        }
    }
    due
}

/// The due periods no filed report covers (a half or year report covers the quarters inside
/// it); `filed` should hold the periods of reports past DRAFT.
pub fn missing_periods(
    due: &[(NaiveDate, NaiveDate)],
    filed: &[(NaiveDate, NaiveDate)],
) -> Vec<(NaiveDate, NaiveDate)> {
    due.iter()
        .copied()
        .filter(|d| !filed.iter().any(|f| f.0 <= d.0 && d.1 <= f.1))
        .collect()
}
