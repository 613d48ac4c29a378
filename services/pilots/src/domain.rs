//! The pilot registry's domain: the pilot's life as a state machine, who may move it, what
//! the public may see, and validated input. Pure: no I/O.

use axv_platform::{
    columns::{StoredDate, StoredFlag},
    string_enum,
};

use axv_auth::{Caller, Role};
use chrono::NaiveDate;

use crate::error::PilotsError;

/// What a firm may not do to a pilot while its lead company is suspended: every change (edit,
/// participants, milestones, evidence, submitting, starting). Managers still decide on it
/// (suspend, cancel, complete), and everyone may still read it.
pub fn lead_suspended_refusal(lead_status: &str) -> Option<String> {
    (lead_status == "SUSPENDED").then(|| {
        "the lead company is suspended: its pilots are frozen until it is reinstated".to_owned()
    })
}

/// The most a budget line may be, in won (1,000조): bounded before SQL so sums stay in `i64`.
pub const MAX_BUDGET_KRW: i64 = 1_000_000_000_000_000;

string_enum!(PilotDomain {
    AutonomousDriving => "AUTONOMOUS_DRIVING",
    Healthcare => "HEALTHCARE",
    Energy => "ENERGY",
    Traffic => "TRAFFIC",
    PublicSafety => "PUBLIC_SAFETY",
    AiSemiconductor => "AI_SEMICONDUCTOR",
    ManufacturingRobotics => "MANUFACTURING_ROBOTICS",
    CultureContent => "CULTURE_CONTENT",
    Data => "DATA",
    Other => "OTHER",
});

string_enum!(PilotStatus {
    Draft => "DRAFT",
    Submitted => "SUBMITTED",
    Approved => "APPROVED",
    Rejected => "REJECTED",
    Active => "ACTIVE",
    Completed => "COMPLETED",
    Suspended => "SUSPENDED",
    Cancelled => "CANCELLED",
});

string_enum!(PilotAction {
    Submit => "SUBMIT",
    Approve => "APPROVE",
    Reject => "REJECT",
    Start => "START",
    Complete => "COMPLETE",
    Suspend => "SUSPEND",
    Resume => "RESUME",
    Cancel => "CANCEL",
});

string_enum!(ParticipantState {
    Invited => "INVITED",
    Accepted => "ACCEPTED",
    Declined => "DECLINED",
});

impl ParticipantState {
    /// The partner's members answer an invitation once: INVITED -> ACCEPTED or DECLINED.
    /// Anything else is refused (an answer already given stands; a new invitation asks again).
    pub fn answer(self, accept: bool) -> Result<ParticipantState, PilotsError> {
        match self {
            ParticipantState::Invited if accept => Ok(ParticipantState::Accepted),
            ParticipantState::Invited => Ok(ParticipantState::Declined),
            ParticipantState::Accepted => Err(PilotsError::Precondition(
                "the company already takes part in the pilot".into(),
            )),
            ParticipantState::Declined => Err(PilotsError::Precondition(
                "the company declined this invitation; the lead company may invite it again".into(),
            )),
        }
    }

    /// Whether the company sees the pilot as its own: invited (to decide) or taking part.
    pub fn sees_pilot(self) -> bool {
        self != ParticipantState::Declined
    }

    /// Only a company that accepted takes part: in the registry, the company's pilots, the
    /// vouchers it may link.
    pub fn takes_part(self) -> bool {
        self == ParticipantState::Accepted
    }

    pub fn event_kind(self) -> &'static str {
        match self {
            ParticipantState::Invited => "pilot.participant_invited",
            ParticipantState::Accepted => "pilot.invitation_accepted",
            ParticipantState::Declined => "pilot.invitation_declined",
        }
    }
}

impl PilotStatus {
    /// The lead company may still change what it asks for: only before it is submitted.
    pub fn is_editable(self) -> bool {
        self == PilotStatus::Draft
    }

    /// Shown in the public registry (to dashboards and anonymous callers).
    pub fn is_public(self) -> bool {
        matches!(
            self,
            PilotStatus::Approved
                | PilotStatus::Active
                | PilotStatus::Suspended
                | PilotStatus::Completed
        )
    }

    /// Counted in the programme's headcount: managers accepted it, whatever became of it since.
    pub fn is_taken_on(self) -> bool {
        matches!(
            self,
            PilotStatus::Approved
                | PilotStatus::Active
                | PilotStatus::Completed
                | PilotStatus::Suspended
        )
    }

    /// Whether the lead firm may still add participants and milestones.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            PilotStatus::Draft
                | PilotStatus::Submitted
                | PilotStatus::Approved
                | PilotStatus::Active
                | PilotStatus::Suspended
        )
    }
}

impl PilotAction {
    pub fn apply(self, from: PilotStatus) -> Result<PilotStatus, PilotsError> {
        use PilotAction as A;
        use PilotStatus as S;
        let to = match (self, from) {
            (A::Submit, S::Draft) => S::Submitted,
            (A::Approve, S::Submitted) => S::Approved,
            (A::Reject, S::Submitted) => S::Rejected,
            (A::Start, S::Approved) => S::Active,
            (A::Complete, S::Active) => S::Completed,
            (A::Suspend, S::Active) => S::Suspended,
            (A::Resume, S::Suspended) => S::Active,
            (A::Cancel, S::Draft | S::Submitted | S::Approved | S::Active | S::Suspended) => {
                S::Cancelled
            }
            _ => {
                return Err(PilotsError::refused(
                    axv_platform::error::Reason::WrongState,
                    format!(
                        "cannot {} a pilot that is {from}",
                        self.as_str().to_lowercase()
                    ),
                ));
            }
        };
        Ok(to)
    }

    /// The firm submits and starts its own pilot; every other move is a manager's decision.
    pub fn is_firm_action(self) -> bool {
        matches!(self, PilotAction::Submit | PilotAction::Start)
    }

    pub fn requires_note(self) -> bool {
        matches!(
            self,
            PilotAction::Reject | PilotAction::Suspend | PilotAction::Cancel
        )
    }

    pub fn event_kind(self) -> &'static str {
        match self {
            PilotAction::Submit => "pilot.submitted",
            PilotAction::Approve => "pilot.approved",
            PilotAction::Reject => "pilot.rejected",
            PilotAction::Start => "pilot.started",
            PilotAction::Complete => "pilot.completed",
            PilotAction::Suspend => "pilot.suspended",
            PilotAction::Resume => "pilot.resumed",
            PilotAction::Cancel => "pilot.cancelled",
        }
    }
}

/// Who may make a move on a pilot it can see.
pub fn authorize(
    caller: &Caller,
    is_lead_member: bool,
    action: PilotAction,
) -> Result<(), PilotsError> {
    let allowed = if action.is_firm_action() {
        is_lead_member || caller.is_staff()
    } else {
        caller.is_staff()
    };
    if allowed {
        Ok(())
    } else if action.is_firm_action() {
        Err(PilotsError::Forbidden(format!(
            "only the lead company may {} its pilot",
            action.as_str().to_lowercase()
        )))
    } else {
        Err(PilotsError::Forbidden(format!(
            "only programme managers may {} a pilot",
            action.as_str().to_lowercase()
        )))
    }
}

/// The note a move needs, trimmed; completing with open milestones needs the manager's word.
pub fn check_note(
    action: PilotAction,
    note: Option<&str>,
    open_milestones: usize,
) -> Result<Option<String>, PilotsError> {
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(text) = &note
        && text.chars().count() > 2000
    {
        return Err(PilotsError::invalid(
            "note",
            "must be at most 2000 characters",
        ));
    }
    if note.is_none() && action.requires_note() {
        return Err(PilotsError::invalid(
            "note",
            "is required for this decision",
        ));
    }
    if action == PilotAction::Complete && open_milestones > 0 && note.is_none() {
        return Err(PilotsError::refused(
            axv_platform::error::Reason::OpenMilestones,
            format!(
                "{open_milestones} milestone(s) are still open; complete them, or say in a note why the pilot completes anyway"
            ),
        ));
    }
    Ok(note)
}

/// How much of a pilot a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Full,
    Public,
}

/// Managers and admins see everything; a firm sees the pilots its companies lead or take part
/// in (others are NOT_FOUND); dashboards, operators and anonymous callers see the public
/// registry.
pub fn pilot_view(caller: Option<&Caller>, is_related: bool, status: PilotStatus) -> Option<View> {
    match caller.map(|c| c.role) {
        Some(Role::ProgramManager | Role::Admin) => Some(View::Full),
        Some(Role::FirmMember) => is_related.then_some(View::Full),
        Some(Role::Dashboard | Role::Operator) | None => status.is_public().then_some(View::Public),
    }
}

pub fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, PilotsError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| PilotsError::invalid(field, "must be a date YYYY-MM-DD"))
}

pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, PilotsError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(PilotsError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Clone, Default)]
pub struct PilotInput {
    pub title: String,
    pub title_en: Option<String>,
    pub summary: String,
    pub domain: Option<PilotDomain>,
    pub lead_company_id: String,
    pub site: String,
    pub starts_on: String,
    pub ends_on: String,
    pub budget_national: i64,
    pub budget_city: i64,
    pub budget_private: i64,
    pub regulatory_sandbox: bool,
    pub sandbox_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PilotDraft {
    pub title: String,
    pub title_en: Option<String>,
    pub summary: String,
    #[sqlx(try_from = "String")]
    pub domain: PilotDomain,
    pub site: String,
    #[sqlx(try_from = "StoredDate")]
    pub starts_on: NaiveDate,
    #[sqlx(try_from = "StoredDate")]
    pub ends_on: NaiveDate,
    pub budget_national: i64,
    pub budget_city: i64,
    pub budget_private: i64,
    #[sqlx(try_from = "StoredFlag")]
    pub regulatory_sandbox: bool,
    pub sandbox_reference: Option<String>,
}

impl PilotDraft {
    pub fn validate(input: &PilotInput) -> Result<Self, PilotsError> {
        let starts_on = parse_date("startsOn", &input.starts_on)?;
        let ends_on = parse_date("endsOn", &input.ends_on)?;
        if ends_on <= starts_on {
            return Err(PilotsError::invalid("endsOn", "must be after startsOn"));
        }
        for (field, amount) in [
            ("budgetNational", input.budget_national),
            ("budgetCity", input.budget_city),
            ("budgetPrivate", input.budget_private),
        ] {
            if amount < 0 {
                return Err(PilotsError::invalid(field, "must not be negative"));
            }
            if amount > MAX_BUDGET_KRW {
                return Err(PilotsError::invalid(
                    field,
                    format!("must be at most {MAX_BUDGET_KRW}"),
                ));
            }
        }
        let optional =
            |field: &'static str, value: &Option<String>| -> Result<Option<String>, PilotsError> {
                match value.as_deref().map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(v) => text(field, v, 200).map(Some),
                }
            };
        Ok(Self {
            title: text("title", &input.title, 200)?,
            title_en: optional("titleEn", &input.title_en)?,
            summary: if input.summary.trim().is_empty() {
                String::new()
            } else {
                text("summary", &input.summary, 5000)?
            },
            domain: input
                .domain
                .ok_or_else(|| PilotsError::invalid("domain", "is required"))?,
            site: text("site", &input.site, 200)?,
            starts_on,
            ends_on,
            budget_national: input.budget_national,
            budget_city: input.budget_city,
            budget_private: input.budget_private,
            regulatory_sandbox: input.regulatory_sandbox,
            sandbox_reference: optional("sandboxReference", &input.sandbox_reference)?,
        })
    }
}

/// An open milestone past its due date.
pub fn is_overdue(due_on: NaiveDate, completed: bool, today: NaiveDate) -> bool {
    !completed && due_on < today
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Arc;

    use axv_platform::{ErrorCode, error::DomainError};

    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            subject: "u".into(),
            role,
            company_ids: vec![],
            token_id: String::new(),
            expires_at: 0,
            issuer: "axv".into(),
            raw_token: Arc::from(""),
        }
    }

    const ALLOWED: &[(PilotAction, PilotStatus, PilotStatus)] = &[
        (
            PilotAction::Submit,
            PilotStatus::Draft,
            PilotStatus::Submitted,
        ),
        (
            PilotAction::Approve,
            PilotStatus::Submitted,
            PilotStatus::Approved,
        ),
        (
            PilotAction::Reject,
            PilotStatus::Submitted,
            PilotStatus::Rejected,
        ),
        (
            PilotAction::Start,
            PilotStatus::Approved,
            PilotStatus::Active,
        ),
        (
            PilotAction::Complete,
            PilotStatus::Active,
            PilotStatus::Completed,
        ),
        (
            PilotAction::Suspend,
            PilotStatus::Active,
            PilotStatus::Suspended,
        ),
        (
            PilotAction::Resume,
            PilotStatus::Suspended,
            PilotStatus::Active,
        ),
        (
            PilotAction::Cancel,
            PilotStatus::Draft,
            PilotStatus::Cancelled,
        ),
        (
            PilotAction::Cancel,
            PilotStatus::Submitted,
            PilotStatus::Cancelled,
        ),
        (
            PilotAction::Cancel,
            PilotStatus::Approved,
            PilotStatus::Cancelled,
        ),
        (
            PilotAction::Cancel,
            PilotStatus::Active,
            PilotStatus::Cancelled,
        ),
        (
            PilotAction::Cancel,
            PilotStatus::Suspended,
            PilotStatus::Cancelled,
        ),
    ];

    #[test]
    fn every_allowed_transition() {
        for (action, from, to) in ALLOWED {
            assert_eq!(action.apply(*from).unwrap(), *to, "{action} from {from}");
        }
    }

    #[test]
    fn every_other_transition_is_failed_precondition() {
        let mut refused = 0;
        for action in PilotAction::ALL {
            for from in PilotStatus::ALL {
                if ALLOWED.iter().any(|(a, f, _)| a == action && f == from) {
                    continue;
                }
                let error = action.apply(*from).unwrap_err();
                assert_eq!(
                    error.code(),
                    ErrorCode::FailedPrecondition,
                    "{action} from {from}"
                );
                assert_eq!(
                    error.reason(),
                    Some(axv_platform::error::Reason::WrongState)
                );
                refused += 1;
            }
        }
        assert_eq!(refused, 8 * 8 - ALLOWED.len());
    }

    #[test]
    fn final_states_stay_final() {
        for end in [
            PilotStatus::Rejected,
            PilotStatus::Completed,
            PilotStatus::Cancelled,
        ] {
            for action in PilotAction::ALL {
                assert!(action.apply(end).is_err(), "{action} from {end}");
            }
        }
    }

    #[test]
    fn who_moves_a_pilot() {
        let firm = caller(Role::FirmMember);
        for action in PilotAction::ALL {
            let staff = authorize(&caller(Role::ProgramManager), false, *action);
            assert!(staff.is_ok(), "{action}");
            let member = authorize(&firm, true, *action);
            assert_eq!(member.is_ok(), action.is_firm_action(), "{action}");
            if let Err(error) = member {
                assert_eq!(error.code(), ErrorCode::Forbidden);
            }
            assert!(
                authorize(&firm, false, *action).is_err(),
                "{action}: a partner is not the lead"
            );
            assert!(authorize(&caller(Role::Dashboard), false, *action).is_err());
        }
    }

    #[test]
    fn notes_and_open_milestones() {
        for action in [
            PilotAction::Reject,
            PilotAction::Suspend,
            PilotAction::Cancel,
        ] {
            assert_eq!(
                check_note(action, None, 0).unwrap_err().code(),
                ErrorCode::BadUserInput
            );
            assert!(check_note(action, Some("사유"), 0).is_ok());
        }
        let open = check_note(PilotAction::Complete, None, 2).unwrap_err();
        assert_eq!(open.code(), ErrorCode::FailedPrecondition);
        assert!(open.to_string().contains("2 milestone"));
        assert!(
            check_note(
                PilotAction::Complete,
                Some("잔여 마일스톤은 후속 사업으로 이관"),
                2
            )
            .is_ok()
        );
        assert!(check_note(PilotAction::Complete, None, 0).is_ok());
    }

    #[test]
    fn visibility() {
        let firm = caller(Role::FirmMember);
        for status in PilotStatus::ALL {
            assert_eq!(
                pilot_view(Some(&caller(Role::Admin)), false, *status),
                Some(View::Full)
            );
            assert_eq!(pilot_view(Some(&firm), true, *status), Some(View::Full));
            assert_eq!(
                pilot_view(Some(&firm), false, *status),
                None,
                "unrelated firms get NOT_FOUND"
            );
            let public = status.is_public().then_some(View::Public);
            assert_eq!(pilot_view(None, false, *status), public);
            assert_eq!(
                pilot_view(Some(&caller(Role::Dashboard)), false, *status),
                public
            );
        }
        assert!(
            !PilotStatus::Draft.is_public()
                && !PilotStatus::Rejected.is_public()
                && PilotStatus::Active.is_public()
        );
    }

    #[test]
    fn headcount_counts_what_the_programme_took_on() {
        let taken: Vec<PilotStatus> = PilotStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.is_taken_on())
            .collect();
        assert_eq!(
            taken,
            [
                PilotStatus::Approved,
                PilotStatus::Active,
                PilotStatus::Completed,
                PilotStatus::Suspended
            ]
        );
    }

    fn input() -> PilotInput {
        PilotInput {
            title: "광주 자율주행 실증".into(),
            summary: "첨단3지구 자율주행 셔틀".into(),
            domain: Some(PilotDomain::AutonomousDriving),
            lead_company_id: "c".into(),
            site: "광주 첨단3지구".into(),
            starts_on: "2026-03-01".into(),
            ends_on: "2026-12-31".into(),
            budget_national: 1_000_000_000,
            ..PilotInput::default()
        }
    }

    #[test]
    fn input_validation_names_the_field() {
        assert!(PilotDraft::validate(&input()).is_ok());
        let cases: Vec<(&str, PilotInput)> = vec![
            (
                "endsOn",
                PilotInput {
                    ends_on: "2026-03-01".into(),
                    ..input()
                },
            ),
            (
                "startsOn",
                PilotInput {
                    starts_on: "03/01/2026".into(),
                    ..input()
                },
            ),
            (
                "budgetCity",
                PilotInput {
                    budget_city: -1,
                    ..input()
                },
            ),
            (
                "title",
                PilotInput {
                    title: " ".into(),
                    ..input()
                },
            ),
            (
                "site",
                PilotInput {
                    site: String::new(),
                    ..input()
                },
            ),
            (
                "domain",
                PilotInput {
                    domain: None,
                    ..input()
                },
            ),
        ];
        for (field, bad) in cases {
            let error = PilotDraft::validate(&bad).unwrap_err();
            assert!(error.to_string().starts_with(field), "{field}: {error}");
        }
    }

    #[test]
    fn overdue_milestones() {
        let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        assert!(is_overdue(
            NaiveDate::from_ymd_opt(2026, 5, 31).unwrap(),
            false,
            today
        ));
        assert!(!is_overdue(
            NaiveDate::from_ymd_opt(2026, 5, 31).unwrap(),
            true,
            today
        ));
        assert!(!is_overdue(today, false, today));
    }

    #[test]
    fn only_a_draft_pilot_is_editable() {
        use PilotStatus as S;
        for status in [
            S::Submitted,
            S::Approved,
            S::Rejected,
            S::Active,
            S::Completed,
            S::Suspended,
            S::Cancelled,
        ] {
            assert!(!status.is_editable(), "{status}");
        }
        assert!(S::Draft.is_editable());
    }

    #[test]
    fn a_suspended_lead_freezes_its_firms_changes() {
        assert!(lead_suspended_refusal("SUSPENDED").is_some());
        for status in ["APPROVED", "DRAFT", "REJECTED"] {
            assert!(lead_suspended_refusal(status).is_none(), "{status}");
        }
    }

    #[test]
    fn an_invitation_is_answered_once() {
        use ParticipantState::*;
        assert_eq!(Invited.answer(true).ok(), Some(Accepted));
        assert_eq!(Invited.answer(false).ok(), Some(Declined));
        for answered in [Accepted, Declined] {
            for accept in [true, false] {
                assert!(
                    matches!(answered.answer(accept), Err(PilotsError::Precondition(_))),
                    "{answered} answered again"
                );
            }
        }
        assert!(Invited.sees_pilot() && Accepted.sees_pilot() && !Declined.sees_pilot());
        assert!(!Invited.takes_part() && Accepted.takes_part() && !Declined.takes_part());
    }
}
