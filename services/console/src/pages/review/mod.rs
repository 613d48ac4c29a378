//! 검토 대기함: the programme office's worklist (`worklist`) and its decision pages, one per
//! kind of item (`company`, `application`, `pilot`, `report`). Staff only: anyone else gets the 403 page, as the
//! API would refuse them.

mod application;
pub mod claims;
mod company;
mod pilot;
mod report;
mod worklist;

pub use application::Application;
pub use company::Company;
pub use pilot::Pilot;
pub use report::Report;
pub use worklist::{live, worklist};

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{error_page, form::Field};
use crate::{Console, Visit, api::ApiError, i18n::Lang};

/// A kind of item a manager decides on a page of its own (`/review/<kind>/{id}`), shown by
/// [`page`] and decided by [`decide`].
pub trait Decide {
    /// The item's decision page.
    fn page(id: &str) -> String;

    /// Runs the action the form chose; `Ok(notice)` names what was done. (The futures are
    /// `Send`, as axum's handlers need; an implementation writes `async fn`.)
    fn run(
        console: &Console,
        visit: &Visit,
        token: &str,
        id: &str,
        form: &DecisionForm,
    ) -> impl Future<Output = Result<&'static str, ApiError>> + Send;

    /// The page, keeping what was typed and saying why it was refused.
    fn show(
        console: &Console,
        visit: &mut Visit,
        token: &str,
        id: &str,
        form: &DecisionForm,
        refusal: Refusal,
        status: StatusCode,
    ) -> impl Future<Output = Response> + Send;

    /// Where the manager goes once it is done: back to the worklist.
    fn after(_form: &DecisionForm, _id: &str) -> String {
        "/review".to_owned()
    }

    /// What the page shows of an API refusal (see [`refusal_of`]).
    fn refusal(visit: &Visit, error: &ApiError) -> Option<Refusal> {
        refusal_of(visit, error)
    }
}

/// A decision page, for staff.
pub async fn page<D: Decide>(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let form = DecisionForm::default();
    let nothing = Refusal::default();
    D::show(
        &console,
        &mut visit,
        &token,
        &id,
        &form,
        nothing,
        StatusCode::OK,
    )
    .await
}

/// A decision posted from its page: done and back to the worklist with a notice, or the page
/// again with why it was refused and everything typed.
pub async fn decide<D: Decide>(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let token = match start_decision(&console, &mut visit, &form, &D::page(&id)).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let refusal = match D::run(&console, &visit, &token, &id, &form).await {
        Ok(notice) => {
            let to = D::after(&form, &id);
            return visit.redirect_with_notice(&console, notice, &to).await;
        }
        Err(error) => match D::refusal(&visit, &error) {
            Some(refusal) => refusal,
            None => return error_page(&console, &mut visit, &error).await,
        },
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    D::show(&console, &mut visit, &token, &id, &form, refusal, status).await
}

/// Staff's token, or the page that turns the visitor away: sign-in for nobody, 403 for a
/// firm member, an operator or a dashboard.
pub(super) async fn require_staff(
    console: &Console,
    visit: &mut Visit,
) -> Result<String, Response> {
    super::require_role(console, visit, &STAFF_ROLES).await
}

/// The programme office: managers and admins.
pub const STAFF_ROLES: [&str; 2] = ["PROGRAM_MANAGER", "ADMIN"];

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
    /// The review claim's button, when one of them sent the form: `pick-up`, `take-over` or
    /// `release` (see [`claims::change`]).
    #[serde(default)]
    pub what: String,
}

/// A decision page's form (`decision.html`): where it posts, its fields and its buttons.
pub struct Decision {
    pub action_url: String,
    pub fields: Vec<Field>,
    /// Empty when the state leaves nothing to decide.
    pub actions: Vec<Action>,
    /// Who holds the item for review, with the buttons to pick it up or take it over.
    pub claim: claims::ClaimView,
}

/// One button of the decision form.
pub struct Action {
    pub value: &'static str,
    pub label: String,
    /// The button's KRDS style: `primary`, `secondary` or `tertiary`.
    pub style: &'static str,
}

impl Action {
    /// A button labelled `review-action-<value>`.
    pub fn new(lang: Lang, value: &'static str, style: &'static str) -> Self {
        Self::labelled(lang, value, &format!("review-action-{value}"), style)
    }

    pub fn labelled(lang: Lang, value: &'static str, label_key: &str, style: &'static str) -> Self {
        Self {
            value,
            label: lang.t(label_key),
            style,
        }
    }
}

/// Why a decision was refused: at the top of the page, or beside a field.
#[derive(Default)]
pub struct Refusal {
    pub error: Option<String>,
    pub note_error: Option<String>,
    /// Beside the amount to grant (voucher applications).
    pub amount_error: Option<String>,
}

pub(super) fn note_field(lang: Lang, note: &str, error: Option<String>) -> Field {
    let mut field = Field::new(lang, "note", "review-note", "textarea", "off")
        .not_required()
        .hint(lang.t("review-note-hint"))
        .value(note);
    field.error = error;
    field
}

/// The token for a decision posted by this session: the same gate as every staff form (the
/// sign-in page keeping what was typed; another role's 403 page, even for a refused form; a
/// forged or stale form changes nothing and goes `back`, saying so).
async fn start_decision(
    console: &Console,
    visit: &mut Visit,
    form: &DecisionForm,
    back: &str,
) -> Result<String, Response> {
    super::require_role_to_post(console, visit, &STAFF_ROLES, (form, &form.csrf), back).await
}

/// Who picked an item up: whoever last moved it into `picked` (`UNDER_REVIEW`), when that is
/// still its state. `history` is (status entered, by whom), oldest first.
pub(super) fn picked_up_by<'a>(
    history: impl DoubleEndedIterator<Item = (&'a str, Option<&'a String>)>,
    status_now: &str,
    picked: &str,
) -> Option<String> {
    if status_now != picked {
        return None;
    }
    history
        .rev()
        .find(|(to, _)| *to == picked)
        .and_then(|(_, by)| by.cloned())
}

/// What the decision page shows of an API refusal; `None` for one only the error page can
/// show (the item is gone, the person may not decide, the platform failed).
pub(super) fn refusal_of(visit: &Visit, error: &ApiError) -> Option<Refusal> {
    if error.is_about("note") {
        // The services say "note is required..." or "note must be at most N characters".
        let key = if error.message.contains("at most") {
            "review-note-too-long"
        } else {
            "review-note-required"
        };
        return Some(Refusal {
            note_error: Some(visit.lang.t(key)),
            ..Refusal::default()
        });
    }
    // Another manager holds the item: the page shows who, with the take-over button.
    if error.code == "CONFLICT" && error.field.as_deref() == Some("reviewClaim") {
        return Some(Refusal {
            error: Some(visit.lang.t("review-held-refusal")),
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
