//! Onboarding's domain: validated values, the company application state machine and who may
//! do what. Pure: no I/O, so every rule is unit-tested here.

use axv_platform::string_enum;

use axv_auth::{Caller, Role};
use chrono::NaiveDate;

use crate::error::{CompanyRefusal, OnboardingError};

/// A Korean business registration number (사업자등록번호): ten digits, the last a checksum.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BusinessNumber(String);

impl BusinessNumber {
    /// Accepts dashes or spaces between groups (`124-81-00998`).
    pub fn parse(input: &str) -> Result<Self, OnboardingError> {
        use axv_platform::business_number::{BusinessNumberError, check};
        check(input).map(Self).map_err(|error| {
            OnboardingError::invalid(
                "businessNumber",
                match error {
                    BusinessNumberError::Shape => {
                        "must be 10 digits, dashes allowed (e.g. 124-81-00998)"
                    }
                    BusinessNumberError::Checksum => {
                        "checksum does not match; check the number for typos"
                    }
                },
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `124-81-00998`, the way it is printed on a registration certificate.
    pub fn formatted(&self) -> String {
        axv_platform::business_number::formatted(&self.0)
    }
}

/// An email address, trimmed and lowercased so uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &'static str, input: &str) -> Result<Self, OnboardingError> {
        let email = input.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(OnboardingError::invalid(
                field,
                "is not a valid email address",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use axv_auth::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

pub fn validate_password(password: &str) -> Result<(), OnboardingError> {
    validate_password_of("password", password)
}

/// The password rule for the input field `field` (`newPassword` when changing one).
pub fn validate_password_of(field: &'static str, password: &str) -> Result<(), OnboardingError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(OnboardingError::invalid(
            field,
            "must be at least 12 characters",
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(OnboardingError::invalid(
            field,
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

/// The console languages a person may choose; empty clears the choice.
pub fn validate_language(language: &str) -> Result<Option<String>, OnboardingError> {
    match language.trim() {
        "" => Ok(None),
        code @ ("ko" | "en") => Ok(Some(code.to_owned())),
        _ => Err(OnboardingError::invalid("language", "must be ko or en")),
    }
}

pub fn validate_name(
    field: &'static str,
    name: &str,
    max: usize,
) -> Result<String, OnboardingError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(OnboardingError::invalid(field, "must not be empty"));
    }
    if name.chars().count() > max {
        return Err(OnboardingError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A member's user name on the data center's Slurm cluster, as `sacctmgr` and POSIX accept it:
/// a lowercase letter or `_` first, then lowercase letters, digits, `_`, `.` or `-`, at most 32.
/// Empty clears it.
pub fn validate_cluster_user(name: &str) -> Result<Option<String>, OnboardingError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !first_ok || !rest_ok || name.len() > 32 {
        return Err(OnboardingError::invalid(
            "clusterUserName",
            "must start with a lowercase letter or _ and hold only lowercase letters, digits, _, . or -, at most 32",
        ));
    }
    Ok(Some(name.to_owned()))
}

string_enum!(
    /// Gwangju's nine strategic industries.
    Sector {
        Mobility => "MOBILITY",
        ArtificialIntelligence => "ARTIFICIAL_INTELLIGENCE",
        CultureContent => "CULTURE_CONTENT",
        Energy => "ENERGY",
        Healthcare => "HEALTHCARE",
        PhotonicsAppliances => "PHOTONICS_APPLIANCES",
        SmartComponents => "SMART_COMPONENTS",
        Semiconductors => "SEMICONDUCTORS",
        Data => "DATA",
    }
);

string_enum!(GwangjuPresence {
    Headquarters => "HEADQUARTERS",
    Branch => "BRANCH",
    ResearchLab => "RESEARCH_LAB",
    Planned => "PLANNED",
    None => "NONE",
});

string_enum!(CompanyStatus {
    Draft => "DRAFT",
    Submitted => "SUBMITTED",
    UnderReview => "UNDER_REVIEW",
    ChangesRequested => "CHANGES_REQUESTED",
    Approved => "APPROVED",
    Rejected => "REJECTED",
    Suspended => "SUSPENDED",
});

string_enum!(CompanyAction {
    Submit => "SUBMIT",
    StartReview => "START_REVIEW",
    Approve => "APPROVE",
    Reject => "REJECT",
    RequestChanges => "REQUEST_CHANGES",
    Suspend => "SUSPEND",
    Reinstate => "REINSTATE",
});

impl CompanyStatus {
    /// Whether the firm may still edit its application.
    pub fn is_editable(self) -> bool {
        matches!(self, CompanyStatus::Draft | CompanyStatus::ChangesRequested)
    }

    /// Whether anyone outside the company (dashboards, the public registry) may see it.
    pub fn is_public(self) -> bool {
        matches!(self, CompanyStatus::Approved | CompanyStatus::Suspended)
    }
}

impl CompanyAction {
    /// The state this action leads to from `from`, or why it cannot.
    pub fn apply(self, from: CompanyStatus) -> Result<CompanyStatus, OnboardingError> {
        use CompanyAction as A;
        use CompanyStatus as S;
        let to = match (self, from) {
            (A::Submit, S::Draft | S::ChangesRequested) => S::Submitted,
            (A::StartReview, S::Submitted) => S::UnderReview,
            (A::Approve, S::UnderReview) => S::Approved,
            (A::Reject, S::UnderReview) => S::Rejected,
            (A::RequestChanges, S::UnderReview) => S::ChangesRequested,
            (A::Suspend, S::Approved) => S::Suspended,
            (A::Reinstate, S::Suspended) => S::Approved,
            _ => {
                return Err(OnboardingError::Domain(CompanyRefusal::InvalidTransition {
                    action: self,
                    from,
                }));
            }
        };
        Ok(to)
    }

    /// Actions whose note explains a refusal to the firm, so it must be given.
    pub fn requires_note(self) -> bool {
        matches!(
            self,
            CompanyAction::Reject | CompanyAction::RequestChanges | CompanyAction::Suspend
        )
    }

    /// The firm submits its own application; everything else is a programme manager's call.
    pub fn is_reviewer_action(self) -> bool {
        self != CompanyAction::Submit
    }

    /// The event kind recorded when this action succeeds.
    pub fn event_kind(self) -> &'static str {
        match self {
            CompanyAction::Submit => "company.submitted",
            CompanyAction::StartReview => "company.review_started",
            CompanyAction::Approve => "company.approved",
            CompanyAction::Reject => "company.rejected",
            CompanyAction::RequestChanges => "company.changes_requested",
            CompanyAction::Suspend => "company.suspended",
            CompanyAction::Reinstate => "company.reinstated",
        }
    }
}

/// How much of a company a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every field, history included.
    Full,
    /// Names, sector, presence and status only.
    Public,
}

/// Who sees a company: staff see everything; members see their own companies in full; firm
/// members see nothing of other firms (NOT_FOUND, so ids cannot be probed); dashboards,
/// operators and anonymous callers see the public fields of approved companies.
pub fn company_view(
    caller: Option<&Caller>,
    is_member: bool,
    status: CompanyStatus,
) -> Option<View> {
    match caller.map(|c| c.role) {
        Some(Role::ProgramManager | Role::Admin) => Some(View::Full),
        Some(Role::FirmMember) => is_member.then_some(View::Full),
        Some(Role::Dashboard | Role::Operator) | None => status.is_public().then_some(View::Public),
    }
}

/// Whether `caller` may move a company it can see with `action`. Visibility (NOT_FOUND) is
/// decided before this; here a visible company's wrong actor is FORBIDDEN.
pub fn authorize_transition(
    caller: &Caller,
    is_member: bool,
    action: CompanyAction,
) -> Result<(), OnboardingError> {
    let allowed = if action.is_reviewer_action() {
        caller.is_staff()
    } else {
        is_member || caller.is_staff()
    };
    if allowed {
        Ok(())
    } else {
        Err(OnboardingError::Forbidden(format!(
            "only programme managers may {}",
            action.as_str().to_lowercase().replace('_', " ")
        )))
    }
}

/// A company application as the firm fills it in, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanyDraft {
    pub business_number: BusinessNumber,
    pub name_ko: String,
    pub name_en: Option<String>,
    pub sector: Sector,
    pub presence: GwangjuPresence,
    pub employees: Option<i64>,
    pub founded_on: Option<NaiveDate>,
    pub contact_email: Email,
}

/// The raw input, before validation.
#[derive(Debug, Clone, Default)]
pub struct CompanyInput {
    pub business_number: String,
    pub name_ko: String,
    pub name_en: Option<String>,
    pub sector: Option<Sector>,
    pub presence: Option<GwangjuPresence>,
    pub employees: Option<i64>,
    pub founded_on: Option<String>,
    pub contact_email: String,
}

impl CompanyDraft {
    pub fn validate(input: CompanyInput, today: NaiveDate) -> Result<Self, OnboardingError> {
        let business_number = BusinessNumber::parse(&input.business_number)?;
        let name_ko = validate_name("nameKo", &input.name_ko, 200)?;
        let name_en = match input.name_en.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(validate_name("nameEn", name, 200)?),
        };
        let sector = input
            .sector
            .ok_or_else(|| OnboardingError::invalid("sector", "is required"))?;
        let presence = input
            .presence
            .ok_or_else(|| OnboardingError::invalid("presence", "is required"))?;
        if let Some(employees) = input.employees
            && !(0..=10_000_000).contains(&employees)
        {
            return Err(OnboardingError::invalid(
                "employees",
                "must be between 0 and 10,000,000",
            ));
        }
        let founded_on = match input.founded_on.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                    OnboardingError::invalid("foundedOn", "must be a date YYYY-MM-DD")
                })?;
                if date > today {
                    return Err(OnboardingError::invalid(
                        "foundedOn",
                        "must not be in the future",
                    ));
                }
                Some(date)
            }
        };
        let contact_email = Email::parse("contactEmail", &input.contact_email)?;
        Ok(Self {
            business_number,
            name_ko,
            name_en,
            sector,
            presence,
            employees: input.employees,
            founded_on,
            contact_email,
        })
    }
}

/// A note is trimmed; empty means none. Actions that require one refuse without it.
pub fn normalize_note(
    action: CompanyAction,
    note: Option<&str>,
) -> Result<Option<String>, OnboardingError> {
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(text) = &note
        && text.chars().count() > 2000
    {
        return Err(OnboardingError::invalid(
            "note",
            "must be at most 2000 characters",
        ));
    }
    if note.is_none() && action.requires_note() {
        return Err(OnboardingError::invalid(
            "note",
            "is required for this decision",
        ));
    }
    Ok(note)
}

/// The roles an API client may be given: machines read aggregates (DASHBOARD) or push metered
/// usage (OPERATOR); staff and firm roles belong to people.
pub fn api_client_role(role: Option<Role>) -> Result<Role, OnboardingError> {
    match role {
        Some(role @ (Role::Dashboard | Role::Operator)) => Ok(role),
        _ => Err(OnboardingError::invalid(
            "role",
            "must be DASHBOARD or OPERATOR",
        )),
    }
}

/// Only admins manage API clients (docs/architecture.md, "Who uses it").
pub fn authorize_api_client_admin(caller: &Caller) -> Result<(), OnboardingError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(OnboardingError::Forbidden(
            "only admins manage API clients".into(),
        ))
    }
}

/// The roles an admin gives people's staff accounts: the programme office, the data center's
/// operators and admins. Firms sign up themselves; machines are API clients.
pub fn staff_role(role: Option<Role>) -> Result<Role, OnboardingError> {
    match role {
        Some(role @ (Role::ProgramManager | Role::Operator | Role::Admin)) => Ok(role),
        _ => Err(OnboardingError::invalid(
            "role",
            "must be PROGRAM_MANAGER, OPERATOR or ADMIN",
        )),
    }
}

/// Only admins manage staff accounts.
pub fn authorize_staff_admin(caller: &Caller) -> Result<(), OnboardingError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(OnboardingError::Forbidden(
            "only admins manage staff accounts".into(),
        ))
    }
}

/// A staff account as a change to it sees it: its role, and whether it may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffState {
    pub role: Role,
    pub active: bool,
}

impl StaffState {
    fn is_active_admin(self) -> bool {
        self.active && self.role == Role::Admin
    }
}

/// Whether a staff account may go from `before` to `after` while `active_admins` accounts
/// (this one included, if it is one) are active admins: a firm member's account is not staff
/// (its role comes from signing up), and the platform is never left without an active admin,
/// who alone can give the role back.
pub fn staff_change_refusal(
    before: StaffState,
    after: StaffState,
    active_admins: usize,
) -> Option<OnboardingError> {
    if before.role == Role::FirmMember {
        return Some(OnboardingError::NotFound("staff account"));
    }
    if before.is_active_admin() && !after.is_active_admin() && active_admins <= 1 {
        return Some(OnboardingError::refused(
            axv_platform::error::Reason::LastAdmin,
            "this is the last active admin: make another account ADMIN first".to_owned(),
        ));
    }
    None
}

#[cfg(test)]
mod staff_tests {
    use super::*;
    use axv_platform::ErrorCode;

    fn state(role: Role, active: bool) -> StaffState {
        StaffState { role, active }
    }

    #[test]
    fn staff_roles_are_the_peoples_staff_roles() {
        for role in [Role::ProgramManager, Role::Operator, Role::Admin] {
            assert_eq!(staff_role(Some(role)).ok(), Some(role));
        }
        for refused in [None, Some(Role::FirmMember), Some(Role::Dashboard)] {
            assert_eq!(
                staff_role(refused).err().map(|e| ErrorCode::from(&e)),
                Some(ErrorCode::BadUserInput),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn the_last_active_admin_stays() {
        let admin = state(Role::Admin, true);
        let refusal = |before, after, admins| {
            staff_change_refusal(before, after, admins).map(|e| ErrorCode::from(&e))
        };
        // Demoted or deactivated while alone: refused; with another admin: allowed.
        for after in [state(Role::ProgramManager, true), state(Role::Admin, false)] {
            assert_eq!(
                refusal(admin, after, 1),
                Some(ErrorCode::FailedPrecondition)
            );
            assert_eq!(refusal(admin, after, 2), None);
        }
        // Nothing changes for an admin: allowed even alone.
        assert_eq!(refusal(admin, admin, 1), None);
        // A deactivated admin is not one of the active admins.
        assert_eq!(
            refusal(state(Role::Admin, false), state(Role::Operator, false), 1),
            None
        );
        assert_eq!(
            refusal(state(Role::Operator, true), state(Role::Operator, false), 1),
            None
        );
        // A firm member's account is not a staff account.
        assert_eq!(
            refusal(
                state(Role::FirmMember, true),
                state(Role::ProgramManager, true),
                3
            ),
            Some(ErrorCode::NotFound)
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Arc;

    use axv_platform::ErrorCode;

    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            subject: "u1".into(),
            role,
            company_ids: vec![],
            token_id: "j".into(),
            expires_at: 0,
            issuer: "axv".into(),
            raw_token: Arc::from(""),
        }
    }

    #[test]
    fn business_numbers_from_the_issue() {
        assert_eq!(
            BusinessNumber::parse("124-81-00998").unwrap().as_str(),
            "1248100998"
        );
        assert_eq!(
            BusinessNumber::parse("220-81-62517").unwrap().formatted(),
            "220-81-62517"
        );
        assert!(BusinessNumber::parse("120-81-47522").is_err());
    }

    #[test]
    fn business_number_shape_is_checked() {
        for bad in [
            "",
            "12481009",
            "124-81-009980",
            "12a-81-00998",
            "１２４-81-00998",
        ] {
            let error = BusinessNumber::parse(bad).unwrap_err();
            assert_eq!(ErrorCode::from(&error), ErrorCode::BadUserInput, "{bad}");
        }
        assert!(BusinessNumber::parse("1248100998").is_ok());
        assert!(BusinessNumber::parse("124 81 00998").is_ok());
    }

    #[test]
    fn every_single_digit_typo_is_caught() {
        let valid = "1248100998";
        for position in 0..10 {
            for digit in '0'..='9' {
                let mut chars: Vec<char> = valid.chars().collect();
                if chars[position] == digit {
                    continue;
                }
                chars[position] = digit;
                let typo: String = chars.into_iter().collect();
                assert!(BusinessNumber::parse(&typo).is_err(), "{typo}");
            }
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("e", "  Kim@Example.KR ").unwrap().as_str(),
            "kim@example.kr"
        );
        for bad in [
            "",
            "kim",
            "kim@",
            "@example.kr",
            "kim@example",
            "k m@example.kr",
            "a@b@c.kr",
            "kim@.kr",
        ] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(validate_password("elevenchars").is_err());
        assert!(validate_password("twelve chars").is_ok());
        // Counted in characters, not bytes: six Hangul syllables are 18 bytes.
        assert!(validate_password("광주광역시광").is_err());
        assert!(validate_password(&"x".repeat(257)).is_err());
    }

    const ALLOWED: &[(CompanyAction, CompanyStatus, CompanyStatus)] = &[
        (
            CompanyAction::Submit,
            CompanyStatus::Draft,
            CompanyStatus::Submitted,
        ),
        (
            CompanyAction::Submit,
            CompanyStatus::ChangesRequested,
            CompanyStatus::Submitted,
        ),
        (
            CompanyAction::StartReview,
            CompanyStatus::Submitted,
            CompanyStatus::UnderReview,
        ),
        (
            CompanyAction::Approve,
            CompanyStatus::UnderReview,
            CompanyStatus::Approved,
        ),
        (
            CompanyAction::Reject,
            CompanyStatus::UnderReview,
            CompanyStatus::Rejected,
        ),
        (
            CompanyAction::RequestChanges,
            CompanyStatus::UnderReview,
            CompanyStatus::ChangesRequested,
        ),
        (
            CompanyAction::Suspend,
            CompanyStatus::Approved,
            CompanyStatus::Suspended,
        ),
        (
            CompanyAction::Reinstate,
            CompanyStatus::Suspended,
            CompanyStatus::Approved,
        ),
    ];

    #[test]
    fn every_allowed_transition() {
        for (action, from, to) in ALLOWED {
            assert_eq!(action.apply(*from).unwrap(), *to, "{action} from {from}");
        }
    }

    #[test]
    fn every_other_transition_is_refused_as_failed_precondition() {
        let mut refused = 0;
        for action in CompanyAction::ALL {
            for from in CompanyStatus::ALL {
                if ALLOWED.iter().any(|(a, f, _)| a == action && f == from) {
                    continue;
                }
                let error = action.apply(*from).unwrap_err();
                assert_eq!(
                    ErrorCode::from(&error),
                    ErrorCode::FailedPrecondition,
                    "{action} from {from}"
                );
                assert_eq!(
                    axv_platform::error::DomainError::reason(&error),
                    Some(axv_platform::error::Reason::WrongState)
                );
                refused += 1;
            }
        }
        assert_eq!(refused, 7 * 7 - ALLOWED.len());
    }

    #[test]
    fn rejected_is_final() {
        for action in CompanyAction::ALL {
            assert!(action.apply(CompanyStatus::Rejected).is_err());
        }
    }

    #[test]
    fn reviewer_actions_need_staff() {
        for action in CompanyAction::ALL.iter().filter(|a| a.is_reviewer_action()) {
            for role in [Role::FirmMember, Role::Dashboard, Role::Operator] {
                let error = authorize_transition(&caller(role), true, *action).unwrap_err();
                assert_eq!(
                    ErrorCode::from(&error),
                    ErrorCode::Forbidden,
                    "{role} {action}"
                );
            }
            for role in [Role::ProgramManager, Role::Admin] {
                assert!(authorize_transition(&caller(role), false, *action).is_ok());
            }
        }
    }

    #[test]
    fn only_members_or_staff_submit() {
        assert!(
            authorize_transition(&caller(Role::FirmMember), true, CompanyAction::Submit).is_ok()
        );
        assert!(
            authorize_transition(&caller(Role::FirmMember), false, CompanyAction::Submit).is_err()
        );
        assert!(
            authorize_transition(&caller(Role::Dashboard), false, CompanyAction::Submit).is_err()
        );
    }

    #[test]
    fn visibility_rules() {
        use CompanyStatus::*;
        let firm = caller(Role::FirmMember);
        assert_eq!(company_view(Some(&firm), true, Draft), Some(View::Full));
        assert_eq!(company_view(Some(&firm), false, Approved), None);
        assert_eq!(
            company_view(Some(&caller(Role::ProgramManager)), false, Draft),
            Some(View::Full)
        );
        assert_eq!(
            company_view(Some(&caller(Role::Admin)), false, Rejected),
            Some(View::Full)
        );
        for public in [
            Some(caller(Role::Dashboard)),
            Some(caller(Role::Operator)),
            None,
        ] {
            assert_eq!(
                company_view(public.as_ref(), false, Approved),
                Some(View::Public)
            );
            assert_eq!(
                company_view(public.as_ref(), false, Suspended),
                Some(View::Public)
            );
            for hidden in [Draft, Submitted, UnderReview, ChangesRequested, Rejected] {
                assert_eq!(company_view(public.as_ref(), false, hidden), None);
            }
        }
    }

    #[test]
    fn notes_required_for_refusals() {
        for action in [
            CompanyAction::Reject,
            CompanyAction::RequestChanges,
            CompanyAction::Suspend,
        ] {
            assert!(normalize_note(action, None).is_err());
            assert!(normalize_note(action, Some("   ")).is_err());
            assert_eq!(
                normalize_note(action, Some(" why ")).unwrap().as_deref(),
                Some("why")
            );
        }
        assert_eq!(normalize_note(CompanyAction::Approve, None).unwrap(), None);
    }

    fn input() -> CompanyInput {
        CompanyInput {
            business_number: "124-81-00998".into(),
            name_ko: "광주에이아이".into(),
            name_en: Some("Gwangju AI".into()),
            sector: Some(Sector::ArtificialIntelligence),
            presence: Some(GwangjuPresence::Headquarters),
            employees: Some(12),
            founded_on: Some("2020-03-01".into()),
            contact_email: "ceo@gwangju-ai.kr".into(),
        }
    }

    #[test]
    fn company_input_validation_names_the_field() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert!(CompanyDraft::validate(input(), today).is_ok());
        type Change = Box<dyn Fn(&mut CompanyInput)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "businessNumber",
                Box::new(|i| i.business_number = "120-81-47522".into()),
            ),
            ("nameKo", Box::new(|i| i.name_ko = "  ".into())),
            ("sector", Box::new(|i| i.sector = None)),
            ("presence", Box::new(|i| i.presence = None)),
            ("employees", Box::new(|i| i.employees = Some(-1))),
            (
                "foundedOn",
                Box::new(|i| i.founded_on = Some("2020-13-01".into())),
            ),
            (
                "foundedOn",
                Box::new(|i| i.founded_on = Some("2027-01-01".into())),
            ),
            (
                "contactEmail",
                Box::new(|i| i.contact_email = "nope".into()),
            ),
        ];
        for (field, change) in cases {
            let mut bad = input();
            change(&mut bad);
            let error = CompanyDraft::validate(bad, today).unwrap_err();
            assert!(error.to_string().starts_with(field), "{field}: {error}");
        }
    }

    #[test]
    fn api_clients_are_dashboards_or_operators_managed_by_admins() {
        assert_eq!(
            api_client_role(Some(Role::Dashboard)).unwrap(),
            Role::Dashboard
        );
        assert_eq!(
            api_client_role(Some(Role::Operator)).unwrap(),
            Role::Operator
        );
        for role in [
            None,
            Some(Role::Admin),
            Some(Role::ProgramManager),
            Some(Role::FirmMember),
        ] {
            let error = api_client_role(role).unwrap_err();
            assert_eq!(ErrorCode::from(&error), ErrorCode::BadUserInput, "{role:?}");
            assert!(error.to_string().starts_with("role "), "{error}");
        }
        assert!(authorize_api_client_admin(&caller(Role::Admin)).is_ok());
        for role in [
            Role::ProgramManager,
            Role::FirmMember,
            Role::Dashboard,
            Role::Operator,
        ] {
            let error = authorize_api_client_admin(&caller(role)).unwrap_err();
            assert_eq!(ErrorCode::from(&error), ErrorCode::Forbidden, "{role:?}");
        }
    }

    #[test]
    fn languages_are_korean_or_english() {
        assert_eq!(validate_language(" en ").unwrap().as_deref(), Some("en"));
        assert_eq!(validate_language("ko").unwrap().as_deref(), Some("ko"));
        assert_eq!(validate_language("").unwrap(), None);
        for bad in ["EN", "ja", "ko-KR", "english"] {
            assert!(validate_language(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_password_is_refused_on_its_own_field() {
        let refused = validate_password_of("newPassword", "short").unwrap_err();
        assert!(refused.to_string().contains("newPassword"), "{refused}");
        assert!(validate_password_of("newPassword", "long enough password").is_ok());
    }

    #[test]
    fn cluster_user_names_follow_posix_and_slurm() {
        assert_eq!(
            validate_cluster_user(" kim.gj ").unwrap().as_deref(),
            Some("kim.gj")
        );
        assert_eq!(
            validate_cluster_user("_svc-01").unwrap().as_deref(),
            Some("_svc-01")
        );
        assert_eq!(validate_cluster_user("").unwrap(), None);
        for bad in [
            "Kim",
            "1kim",
            "kim gj",
            "김",
            "kim:x",
            "k'",
            &"a".repeat(33),
        ] {
            assert!(validate_cluster_user(bad).is_err(), "{bad}");
        }
    }
}
