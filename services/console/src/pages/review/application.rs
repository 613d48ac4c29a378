//! A voucher application's decision page: the programme (window, cap per company), what the
//! company already holds under it and has used, what is left of the cap and of the pool, the
//! justification; then approve (in full, or in part in hours) or reject, with a note. A refusal
//! the API gives meanwhile (the cap reached, the pool short) is said in the person's language
//! with the figures read again.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{
    Action, Decision, DecisionForm, Refusal, company_name, note_field, refusal_of, require_staff,
    start_decision,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, application_review},
    format::{grouped, kst},
    i18n::Lang,
    pages::{
        error_page, form::Field, form::whole_number, label_key, not_found_page, vouchers::amount,
    },
    render,
};

type Application = application_review::ApplicationReviewVoucherApplication;

#[derive(Template)]
#[template(path = "application_review.html")]
struct ApplicationReviewPage {
    layout: Layout,
    company: String,
    status: String,
    error: Option<String>,
    details: Vec<(String, String)>,
    /// The company's vouchers: code, granted, consumed, status.
    holdings: Vec<[String; 4]>,
    /// The hours to grant and the note.
    decision: Decision,
}

/// What the decision weighs, in the programme's base unit (seconds of compute).
struct Figures {
    kind: String,
    requested: i64,
    cap: i64,
    /// Granted to the company under this programme already.
    granted_here: i64,
    pool_available: i64,
}

impl Figures {
    fn of(application: &Application) -> Self {
        let program = &application.program;
        let granted_here = application
            .company
            .vouchers
            .edges
            .iter()
            .filter(|e| e.node.program.id == program.id)
            .map(|e| e.node.granted)
            .sum();
        Self {
            kind: format!("{:?}", program.pool.kind),
            requested: application.requested_amount,
            cap: program.max_per_company,
            granted_here,
            pool_available: program.pool.available,
        }
    }

    fn cap_left(&self) -> i64 {
        (self.cap - self.granted_here).max(0)
    }

    /// Seconds per unit people type: an hour of compute, a GB-day of storage.
    fn unit(&self) -> i64 {
        if self.kind == "STORAGE" { 1 } else { 3600 }
    }

    fn shown(&self, lang: Lang, base: i64) -> String {
        amount(lang, &self.kind, base)
    }

    /// Why `asked` cannot be granted, read from the figures (the API's own sentence is for
    /// developers): past the cap, or more than the pool has left.
    fn shortfall(&self, lang: Lang, asked: i64) -> Option<String> {
        if asked > self.cap_left() {
            Some(lang.t_with(
                "review-over-cap",
                &[("left", self.shown(lang, self.cap_left()))],
            ))
        } else if asked > self.pool_available {
            Some(lang.t_with(
                "review-pool-short",
                &[("left", self.shown(lang, self.pool_available))],
            ))
        } else {
            None
        }
    }
}

/// The hours typed, as the base amount to grant: `Ok(None)` grants what was asked.
fn granted_amount(text: &str, unit: i64) -> Result<Option<i64>, ()> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match whole_number(text) {
        Some(n) if n > 0 => n.checked_mul(unit).map(Some).ok_or(()),
        _ => Err(()),
    }
}

async fn load(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
) -> Result<Application, Response> {
    let answer = console
        .api
        .run::<api::ApplicationReview>(
            Some(token),
            &visit.client_address,
            application_review::Variables { id: id.to_owned() },
        )
        .await;
    match answer {
        Ok(data) => match data.voucher_application {
            Some(application) => Ok(application),
            None => Err(not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

/// Why the hours were refused, beside their field.
struct HoursError(Option<String>);

async fn show(
    console: &Console,
    visit: &mut Visit,
    application: Application,
    form: DecisionForm,
    (refusal, hours_error): (Refusal, HoursError),
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let figures = Figures::of(&application);
    let dash = || "-".to_owned();
    let program = &application.program;
    let mut details = vec![
        (
            lang.t("voucher-program"),
            format!(
                "{} ({} ~ {})",
                program.name, program.opens_on, program.closes_on
            ),
        ),
        (
            lang.t("voucher-requested"),
            figures.shown(lang, figures.requested),
        ),
        (
            lang.t("voucher-justification"),
            application.justification.clone(),
        ),
        (
            lang.t("voucher-pilot"),
            application
                .pilot
                .as_ref()
                .map_or_else(dash, |p| p.title.clone()),
        ),
        (lang.t("voucher-applied-on"), kst(&application.created_at)),
        (lang.t("review-cap"), figures.shown(lang, figures.cap)),
        (
            lang.t("review-granted-here"),
            figures.shown(lang, figures.granted_here),
        ),
        (
            lang.t("review-cap-left"),
            figures.shown(lang, figures.cap_left()),
        ),
        (
            lang.t("review-pool-left"),
            format!(
                "{} ({})",
                figures.shown(lang, figures.pool_available),
                program.pool.name
            ),
        ),
    ];
    if let Some(voucher) = &application.voucher {
        details.push((
            lang.t("review-issued"),
            format!(
                "{} · {}",
                voucher.code,
                figures.shown(lang, voucher.granted)
            ),
        ));
    }
    if let Some(note) = application.decision_note.as_ref().filter(|n| !n.is_empty()) {
        details.push((lang.t("voucher-decision-note"), note.clone()));
    }
    let holdings = application
        .company
        .vouchers
        .edges
        .iter()
        .map(|e| {
            let v = &e.node;
            [
                v.code.clone(),
                figures.shown(lang, v.granted),
                figures.shown(lang, v.consumed),
                lang.t(&label_key("voucher-status", &format!("{:?}", v.status))),
            ]
        })
        .collect();
    let open = matches!(
        application.status,
        application_review::VoucherApplicationStatus::SUBMITTED
    );
    let actions = if open {
        vec![
            Action {
                value: "approve",
                label: lang.t("review-action-approve"),
                style: "primary",
            },
            Action {
                value: "reject",
                label: lang.t("review-action-reject"),
                style: "tertiary",
            },
        ]
    } else {
        Vec::new()
    };
    let mut hours = Field::number(lang, "granted_hours", "review-granted-hours")
        .not_required()
        .hint(lang.t_with(
            "review-granted-hours-hint",
            &[("requested", grouped(figures.requested / figures.unit()))],
        ))
        .value(&form.granted_hours);
    hours.error = hours_error.0;
    let page = ApplicationReviewPage {
        layout: visit.layout(console, lang.t("review-application-title"), "review"),
        company: company_name(
            lang,
            &application.company.name_ko,
            application.company.name_en.as_deref(),
        ),
        status: lang.t(&label_key(
            "application-status",
            &format!("{:?}", application.status),
        )),
        error: refusal.error,
        details,
        holdings,
        decision: Decision {
            action_url: format!("/review/applications/{}", application.id),
            fields: vec![hours, note_field(lang, &form.note, refusal.note_error)],
            actions,
        },
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn application(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    match load(&console, &mut visit, &token, &id).await {
        Ok(application) => {
            let nothing = (Refusal::default(), HoursError(None));
            show(
                &console,
                &mut visit,
                application,
                DecisionForm::default(),
                nothing,
                StatusCode::OK,
            )
            .await
        }
        Err(response) => response,
    }
}

/// Runs the chosen action with the amount already read; `Ok(notice)` names what was done.
async fn run_decision(
    console: &Console,
    visit: &Visit,
    token: &str,
    id: &str,
    form: &DecisionForm,
    granted: Option<i64>,
) -> Result<&'static str, ApiError> {
    let api = &console.api;
    let at = &visit.client_address;
    let id = id.to_owned();
    let note = form.note.trim().to_owned();
    match form.action.as_str() {
        "approve" => {
            let note = (!note.is_empty()).then_some(note);
            let variables = api::approve_voucher_application::Variables {
                id,
                granted_amount: granted,
                note,
            };
            api.run::<api::ApproveVoucherApplication>(Some(token), at, variables)
                .await?;
            Ok(if granted.is_some() {
                "notice-review-granted-in-part"
            } else {
                "notice-review-granted"
            })
        }
        "reject" => {
            let variables = api::reject_voucher_application::Variables { id, note };
            api.run::<api::RejectVoucherApplication>(Some(token), at, variables)
                .await?;
            Ok("notice-review-application-rejected")
        }
        _ => Err(ApiError::bad_input("action")),
    }
}

pub async fn decide_application(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let back = format!("/review/applications/{id}");
    let token = match start_decision(&console, &mut visit, &form, &back).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    // The unit is the programme's; the page read it, so read it again rather than trust a form.
    let application = match load(&console, &mut visit, &token, &id).await {
        Ok(application) => application,
        Err(response) => return response,
    };
    let figures = Figures::of(&application);
    let refused = match granted_amount(&form.granted_hours, figures.unit()) {
        Err(()) if form.action == "approve" => Some((
            Refusal::default(),
            HoursError(Some(lang.t("voucher-hours-invalid"))),
        )),
        granted => {
            let granted = if form.action == "approve" {
                granted.unwrap_or(None)
            } else {
                None
            };
            match run_decision(&console, &visit, &token, &id, &form, granted).await {
                Ok(notice) => {
                    return visit
                        .redirect_with_notice(&console, notice, "/review")
                        .await;
                }
                Err(error) if error.is_about("grantedAmount") => Some((
                    Refusal::default(),
                    HoursError(Some(lang.t("review-granted-too-much"))),
                )),
                Err(error) => match refusal_of(&visit, &error) {
                    Some(refusal) => Some((refusal, HoursError(None))),
                    None => return error_page(&console, &mut visit, &error).await,
                },
            }
        }
    };
    let Some((mut refusal, hours_error)) = refused else {
        return visit.redirect(&console, &back).await;
    };
    // Read again: what changed meanwhile is what the refusal is about.
    let application = match load(&console, &mut visit, &token, &id).await {
        Ok(application) => application,
        Err(response) => return response,
    };
    if refusal.error.is_some() {
        let figures = Figures::of(&application);
        let asked = granted_amount(&form.granted_hours, figures.unit())
            .ok()
            .flatten()
            .unwrap_or(figures.requested);
        if let Some(why) = figures.shortfall(lang, asked) {
            refusal.error = Some(why);
        }
    }
    show(
        &console,
        &mut visit,
        application,
        form,
        (refusal, hours_error),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(granted_here: i64, pool_available: i64) -> Figures {
        Figures {
            kind: "GPU_H100".into(),
            requested: 500 * 3600,
            cap: 1_000 * 3600,
            granted_here,
            pool_available,
        }
    }

    #[test]
    fn hours_typed_become_the_amount_granted() {
        assert_eq!(granted_amount("", 3600), Ok(None));
        assert_eq!(granted_amount(" 1,200 ", 3600), Ok(Some(1_200 * 3600)));
        assert_eq!(granted_amount("12", 1), Ok(Some(12)));
        assert_eq!(granted_amount("0", 3600), Err(()));
        assert_eq!(granted_amount("열 시간", 3600), Err(()));
        assert_eq!(granted_amount(&i64::MAX.to_string(), 3600), Err(()));
    }

    #[test]
    fn a_shortfall_is_read_from_the_figures() {
        let roomy = figures(0, 10_000 * 3600);
        assert_eq!(roomy.cap_left(), 1_000 * 3600);
        assert!(roomy.shortfall(Lang::Ko, 500 * 3600).is_none());
        let capped = figures(800 * 3600, 10_000 * 3600);
        let why = capped.shortfall(Lang::Ko, 500 * 3600).unwrap_or_default();
        assert!(why.contains("200"), "{why}");
        let short = figures(0, 100 * 3600);
        let why = short.shortfall(Lang::Ko, 500 * 3600).unwrap_or_default();
        assert!(why.contains("100"), "{why}");
        assert_eq!(figures(2_000 * 3600, 0).cap_left(), 0);
    }
}
