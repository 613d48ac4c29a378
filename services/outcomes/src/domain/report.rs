//! States and moves, and versions: a report's life.

use axv_platform::string_enum;
use chrono::NaiveDate;

use super::*;

string_enum!(ReportStatus {
    Draft => "DRAFT",
    Submitted => "SUBMITTED",
    Verified => "VERIFIED",
    Returned => "RETURNED",
});

string_enum!(ReportAction {
    Submit => "SUBMIT",
    Verify => "VERIFY",
    Return => "RETURN",
});

impl ReportStatus {
    /// The firm may change figures only while the report is its own to work on: before the
    /// first submission, or after a manager sent it back.
    pub fn is_editable(self) -> bool {
        matches!(self, ReportStatus::Draft | ReportStatus::Returned)
    }

    /// Only verified figures reach the programme's totals.
    pub fn is_counted(self) -> bool {
        self == ReportStatus::Verified
    }
}

/// Refuses a change of figures once the report is out of the firm's hands.
pub fn check_editable(status: ReportStatus) -> Result<(), ReportsError> {
    if status.is_editable() {
        Ok(())
    } else {
        Err(ReportsError::refused(
            axv_platform::error::Reason::NotEditable,
            format!(
                "cannot edit a report that is {status}; only DRAFT or RETURNED reports can be edited"
            ),
        ))
    }
}

impl ReportAction {
    pub fn apply(self, from: ReportStatus) -> Result<ReportStatus, ReportsError> {
        use ReportAction as A;
        use ReportStatus as S;
        match (self, from) {
            (A::Submit, S::Draft | S::Returned) => Ok(S::Submitted),
            (A::Verify, S::Submitted) => Ok(S::Verified),
            (A::Return, S::Submitted) => Ok(S::Returned),
            _ => Err(ReportsError::refused(
                axv_platform::error::Reason::WrongState,
                format!(
                    "cannot {} a report that is {from}",
                    self.as_str().to_lowercase()
                ),
            )),
        }
    }

    /// The firm files its own figures; verifying and returning are the manager's judgement.
    pub fn is_firm_action(self) -> bool {
        self == ReportAction::Submit
    }

    /// A returned report must tell the firm what to fix.
    pub fn requires_note(self) -> bool {
        self == ReportAction::Return
    }

    pub fn event_kind(self) -> &'static str {
        match self {
            ReportAction::Submit => "report.submitted",
            ReportAction::Verify => "report.verified",
            ReportAction::Return => "report.returned",
        }
    }
}

/// A report states what a finished period produced, so it can be submitted from the day after
/// its period ends (Gwangju's calendar); a draft may be prepared before.
pub fn submission_refusal(period_end: NaiveDate, today: NaiveDate) -> Option<String> {
    (today <= period_end).then(|| {
        let from = period_end.succ_opt().unwrap_or(period_end);
        format!("the period ends on {period_end}: the report can be submitted from {from}")
    })
}

/// Who may make a move on a report it can see. Submitting is left to the reporting company
/// alone so that a manager never certifies figures the manager filed.
pub fn authorize(
    is_manager: bool,
    is_own_company: bool,
    action: ReportAction,
) -> Result<(), ReportsError> {
    if action.is_firm_action() {
        if is_own_company {
            Ok(())
        } else {
            Err(ReportsError::Forbidden(format!(
                "only the reporting company may {} its report",
                action.as_str().to_lowercase()
            )))
        }
    } else if is_manager {
        Ok(())
    } else {
        Err(ReportsError::Forbidden(format!(
            "only programme managers may {} a report",
            action.as_str().to_lowercase()
        )))
    }
}

/// The note a move carries, trimmed; returning needs one so the firm knows what to fix.
pub fn check_note(
    action: ReportAction,
    note: Option<&str>,
) -> Result<Option<String>, ReportsError> {
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(text) = &note
        && text.chars().count() > 2000
    {
        return Err(ReportsError::invalid(
            "note",
            "must be at most 2000 characters",
        ));
    }
    if note.is_none() && action.requires_note() {
        return Err(ReportsError::invalid(
            "note",
            "is required when returning a report",
        ));
    }
    Ok(note)
}

// ---------------------------------------------------------------------------------------------
// Versions

/// Only verified figures are amended: anything earlier can still be edited or is still being
/// reviewed, so a second version would just fork the review.
pub fn can_amend(status: ReportStatus) -> Result<(), ReportsError> {
    if status == ReportStatus::Verified {
        Ok(())
    } else {
        Err(ReportsError::Precondition(format!(
            "cannot amend a report that is {status}; only VERIFIED reports are amended"
        )))
    }
}

/// The number of the amendment to create from a lineage's versions: the latest version must be
/// verified, so a lineage never has two amendments under way at once.
pub fn amend_version(versions: &[(u32, ReportStatus)]) -> Result<u32, ReportsError> {
    let Some(&(latest, status)) = versions.iter().max_by_key(|(v, _)| *v) else {
        return Err(ReportsError::Precondition(
            "cannot amend a report that has no versions".to_owned(),
        ));
    };
    if status != ReportStatus::Verified {
        return Err(ReportsError::Precondition(format!(
            "cannot amend: version {latest} is {status}; finish that one first"
        )));
    }
    latest
        .checked_add(1)
        .ok_or_else(|| ReportsError::Precondition("too many versions".to_owned()))
}

/// The version of a lineage that counts in figures: the newest verified one. A pending
/// amendment leaves the verified figures standing until it is itself verified.
pub fn counted_version(versions: &[(u32, ReportStatus)]) -> Option<u32> {
    versions
        .iter()
        .filter(|(_, status)| status.is_counted())
        .map(|(version, _)| *version)
        .max()
}
