//! 검토 대기함: the programme office's worklist (`worklist`) and its decision pages, one per
//! kind of item (`company`, `application`, `pilot`, `report`). Staff only: anyone else gets the 403 page, as the
//! API would refuse them.

mod application;
mod company;
mod pilot;
mod report;
mod worklist;

pub use application::{application, decide_application};
pub use company::{company, decide_company};
pub use pilot::{decide_pilot, pilot};
pub use report::{decide_report, report};
pub use worklist::worklist;

use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{forbidden_page, form::Field};
use crate::{Console, Visit, api::ApiError, i18n::Lang};

/// Staff's token, or the page that turns the visitor away: sign-in for nobody, 403 for a
/// firm member, an operator or a dashboard.
pub(super) async fn require_staff(
    console: &Console,
    visit: &mut Visit,
) -> Result<String, Response> {
    let token = visit.require_sign_in(console).await?;
    let role = visit
        .session
        .as_ref()
        .and_then(|s| s.user.as_ref())
        .map(|u| u.role.clone())
        .unwrap_or_default();
    if role == "PROGRAM_MANAGER" || role == "ADMIN" {
        Ok(token)
    } else {
        Err(forbidden_page(console, visit).await)
    }
}

pub(super) fn company_name(lang: Lang, name_ko: &str, name_en: Option<&str>) -> String {
    match (lang, name_en) {
        (Lang::En, Some(en)) if !en.is_empty() => en.to_owned(),
        _ => name_ko.to_owned(),
    }
}

/// A decision: which action and the note that goes with it, kept through a refusal.
#[derive(Deserialize, Serialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub note: String,
    /// A voucher approved in part: the hours granted (empty grants what was asked).
    #[serde(default)]
    pub granted_hours: String,
}

/// A decision page's form (`decision.html`): where it posts, its fields and its buttons.
pub struct Decision {
    pub action_url: String,
    pub fields: Vec<Field>,
    /// Empty when the state leaves nothing to decide.
    pub actions: Vec<Action>,
}

/// One button of the decision form.
pub struct Action {
    pub value: &'static str,
    pub label: String,
    /// The button's KRDS style: `primary`, `secondary` or `tertiary`.
    pub style: &'static str,
}

/// Why a decision was refused: at the top of the page, or beside a field.
#[derive(Default)]
pub(super) struct Refusal {
    pub error: Option<String>,
    pub note_error: Option<String>,
}

pub(super) fn note_field(lang: Lang, note: &str, error: Option<String>) -> Field {
    let mut field = Field::new(lang, "note", "review-note", "textarea", "off")
        .not_required()
        .hint(lang.t("review-note-hint"))
        .value(note);
    field.error = error;
    field
}

/// The token for a decision posted by this session; otherwise the sign-in page (keeping what was
/// typed) or, for a forged or stale form, `back` with nothing changed.
pub(super) async fn start_decision(
    console: &Console,
    visit: &mut Visit,
    form: &DecisionForm,
    back: &str,
) -> Result<String, Response> {
    let token = visit.require_sign_in_to_post(console, form).await?;
    if !visit.posted_by_session(&form.csrf) {
        return Err(visit.redirect(console, back).await);
    }
    Ok(token)
}

/// What the decision page shows of an API refusal; `None` for one only the error page can
/// show (the item is gone, the person may not decide, the platform failed).
pub(super) fn refusal_of(visit: &Visit, error: &ApiError) -> Option<Refusal> {
    if error.is_about("note") {
        return Some(Refusal {
            note_error: Some(visit.lang.t("review-note-required")),
            ..Refusal::default()
        });
    }
    matches!(
        error.code.as_str(),
        "FAILED_PRECONDITION" | "CONFLICT" | "BAD_USER_INPUT"
    )
    .then(|| Refusal {
        error: Some(visit.explain(error)),
        ..Refusal::default()
    })
}
