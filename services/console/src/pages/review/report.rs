//! An outcome report's decision page: the firm's report page (its figures beside the previous
//! quarter's verified ones, the compute the pilot consumed, the evidence, every version's
//! history) with the manager's actions: verify, or return with a note.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{
    Action, Decision, DecisionForm, Refusal, note_field, refusal_of, require_staff, start_decision,
};
use crate::{
    Console, Visit,
    api::{self, ApiError, report_detail::ReportStatus},
    i18n::Lang,
    pages::{
        error_page,
        reports::{load, show_report},
    },
};

fn report_actions(lang: Lang, status: &ReportStatus) -> Vec<Action> {
    match status {
        ReportStatus::SUBMITTED => vec![
            Action {
                value: "verify",
                label: lang.t("review-action-verify"),
                style: "primary",
            },
            Action {
                value: "return",
                label: lang.t("review-action-return"),
                style: "secondary",
            },
        ],
        _ => Vec::new(),
    }
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
    let report = match load(console, visit, token, id).await {
        Ok(report) => report,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let decision = Decision {
        action_url: format!("/review/reports/{id}"),
        fields: vec![note_field(lang, &form.note, refusal.note_error)],
        actions: report_actions(lang, &report.status),
    };
    show_report(
        console,
        visit,
        token,
        report,
        refusal.error,
        Some(decision),
        status,
    )
    .await
}

pub async fn report(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let form = DecisionForm::default();
    show(
        &console,
        &mut visit,
        &token,
        &id,
        &form,
        Refusal::default(),
        StatusCode::OK,
    )
    .await
}

async fn run_decision(
    console: &Console,
    visit: &Visit,
    token: &str,
    id: &str,
    form: &DecisionForm,
) -> Result<&'static str, ApiError> {
    let api = &console.api;
    let at = &visit.client_address;
    let id = id.to_owned();
    let note = form.note.trim().to_owned();
    match form.action.as_str() {
        "verify" => {
            let note = (!note.is_empty()).then_some(note);
            let variables = api::verify_outcome_report::Variables { id, note };
            api.run::<api::VerifyOutcomeReport>(Some(token), at, variables)
                .await?;
            Ok("notice-review-report-verified")
        }
        "return" => {
            let variables = api::return_outcome_report::Variables { id, note };
            api.run::<api::ReturnOutcomeReport>(Some(token), at, variables)
                .await?;
            Ok("notice-review-report-returned")
        }
        _ => Err(ApiError::bad_input("action")),
    }
}

pub async fn decide_report(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let back = format!("/review/reports/{id}");
    let token = match start_decision(&console, &mut visit, &form, &back).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let refusal = match run_decision(&console, &visit, &token, &id, &form).await {
        Ok(notice) => {
            return visit
                .redirect_with_notice(&console, notice, "/review")
                .await;
        }
        Err(error) => match refusal_of(&visit, &error) {
            Some(refusal) => refusal,
            None => return error_page(&console, &mut visit, &error).await,
        },
    };
    show(
        &console,
        &mut visit,
        &token,
        &id,
        &form,
        refusal,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_submitted_report_is_decided() {
        let offered = |status: ReportStatus| -> Vec<&'static str> {
            report_actions(Lang::Ko, &status)
                .iter()
                .map(|a| a.value)
                .collect()
        };
        assert_eq!(offered(ReportStatus::SUBMITTED), ["verify", "return"]);
        for other in [
            ReportStatus::DRAFT,
            ReportStatus::VERIFIED,
            ReportStatus::RETURNED,
        ] {
            assert!(offered(other).is_empty());
        }
    }
}
