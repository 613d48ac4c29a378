//! The reports ACTIVE pilots owe.

use chrono::NaiveDate;

use super::*;

/// What outcomes knows of an ACTIVE pilot, learned from the pilots service's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PilotSchedule {
    pub pilot_id: String,
    pub company_id: String,
    pub title: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueReport {
    pub pilot_id: String,
    pub company_id: String,
    pub title: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The period ended without a filed report.
    pub overdue: bool,
}

/// The reports `pilot` owes on `today`: each period that ended before today without a filed
/// report (overdue), and the running period unless already filed (due on its last day).
/// `filed` holds the periods of the pilot's reports past DRAFT.
pub fn due_reports(
    pilot: &PilotSchedule,
    filed: &[(NaiveDate, NaiveDate)],
    today: NaiveDate,
    kind: PeriodKind,
) -> Vec<DueReport> {
    let due = |(period_start, period_end): (NaiveDate, NaiveDate), overdue| DueReport {
        pilot_id: pilot.pilot_id.clone(),
        company_id: pilot.company_id.clone(),
        title: pilot.title.clone(),
        period_start,
        period_end,
        overdue,
    };
    let mut out: Vec<DueReport> = match today.pred_opt() {
        Some(yesterday) => {
            let ended = due_periods(pilot.starts_on, pilot.ends_on, yesterday, kind);
            missing_periods(&ended, filed)
                .into_iter()
                .map(|period| due(period, true))
                .collect()
        }
        None => Vec::new(),
    };
    if pilot.starts_on <= today && today <= pilot.ends_on {
        let running = period_of(today, kind);
        if !missing_periods(&[running], filed).is_empty() {
            out.push(due(running, false));
        }
    }
    out
}
