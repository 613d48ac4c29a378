//! A voucher application's decision page: the programme (window, cap per company), what the
//! company already holds under it and has used, what is left of the cap and of the pool, the
//! justification; then approve (in full, or in part in hours) or reject, with a note. A refusal
//! the API gives meanwhile (the cap reached, the pool short) is said in the person's language
//! with the figures read again.

use askama::Template;
use axum::{http::StatusCode, response::Response};

use super::{
    Action, Decide, Decision, DecisionForm, Refusal, claims::claim_view, company_name, note_field,
    refusal_of,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, application_review},
    format::kst,
    i18n::Lang,
    pages::{
        documents::{self, Allowed, Documents, Kind},
        error_page,
        form::Field,
        form::whole_number,
        label_key, not_found_page,
        vouchers::amount,
    },
    render,
};

type ApplicationData = application_review::ApplicationReviewVoucherApplication;

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
    /// The firm's plan and the office's own papers.
    documents: Documents,
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
    fn of(application: &ApplicationData) -> Self {
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

async fn fetch(
    console: &Console,
    visit: &Visit,
    token: &str,
    id: &str,
) -> Result<Option<ApplicationData>, ApiError> {
    let data = console
        .api
        .run::<api::ApplicationReview>(
            Some(token),
            &visit.client_address,
            application_review::Variables { id: id.to_owned() },
        )
        .await?;
    Ok(data.voucher_application)
}

async fn show_application(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    application: ApplicationData,
    form: &DecisionForm,
    mut refusal: Refusal,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let page_path = Application::page(&application.id);
    let claim = claim_view(console, visit, token, &application.id, page_path.clone()).await;
    let waiting = matches!(
        application.status,
        application_review::VoucherApplicationStatus::SUBMITTED
    );
    let documents = documents::load(
        console,
        visit,
        token,
        (Kind::VoucherApplication, &application.id, None),
        Allowed::while_open(waiting),
        &page_path,
    )
    .await
    .with_note(lang.t("documents-staff-note"));
    let figures = Figures::of(&application);
    // Only an application still waiting can be short of cap or pool (read again just now: what
    // changed meanwhile is what the refusal is about); one decided meanwhile keeps the API's word.
    if refusal.error.is_some() && waiting {
        let asked = granted_amount(&form.granted_hours, figures.unit())
            .ok()
            .flatten()
            .unwrap_or(figures.requested);
        if let Some(why) = figures.shortfall(lang, asked) {
            refusal.error = Some(why);
        }
    }
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
    let label = if figures.unit() == 1 {
        "review-granted-amount"
    } else {
        "review-granted-hours"
    };
    let mut hours = Field::number(lang, "granted_hours", label)
        .not_required()
        .hint(lang.t_with(
            "review-granted-hint",
            &[("requested", figures.shown(lang, figures.requested))],
        ))
        .value(&form.granted_hours);
    hours.error = refusal.amount_error;
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
            claim,
        },
        documents,
    };
    visit.respond(console, status, render(&page)).await
}

/// A voucher application, decided by its page.
pub struct Application;

impl Decide for Application {
    fn page(id: &str) -> String {
        format!("/review/applications/{id}")
    }

    async fn show(
        console: &Console,
        visit: &mut Visit,
        token: &str,
        id: &str,
        form: &DecisionForm,
        refusal: Refusal,
        status: StatusCode,
    ) -> Response {
        match fetch(console, visit, token, id).await {
            Ok(Some(application)) => {
                show_application(console, visit, token, application, form, refusal, status).await
            }
            Ok(None) => not_found_page(console, visit).await,
            Err(error) => error_page(console, visit, &error).await,
        }
    }

    async fn run(
        console: &Console,
        visit: &Visit,
        token: &str,
        id: &str,
        form: &DecisionForm,
    ) -> Result<&'static str, ApiError> {
        if form.action != "approve" {
            return run_decision(console, visit, token, id, form, None).await;
        }
        // The unit is the programme's: read it again rather than trust a form.
        let application = fetch(console, visit, token, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let unit = Figures::of(&application).unit();
        let granted = granted_amount(&form.granted_hours, unit)
            .map_err(|()| ApiError::bad_input("granted_hours"))?;
        run_decision(console, visit, token, id, form, granted).await
    }

    fn refusal(visit: &Visit, error: &ApiError) -> Option<Refusal> {
        let beside_amount = |key: &str| {
            Some(Refusal {
                amount_error: Some(visit.lang.t(key)),
                ..Refusal::default()
            })
        };
        if error.is_about("granted_hours") {
            beside_amount("review-granted-invalid")
        } else if error.is_about("grantedAmount") {
            beside_amount("review-granted-too-much")
        } else {
            refusal_of(visit, error)
        }
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
