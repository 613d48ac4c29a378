//! An outcome report's decision page: the firm's report page (its figures beside the previous
//! quarter's verified ones, the compute the pilot consumed, the evidence, every version's
//! history) with the manager's actions: verify, or return with a note.

use axum::{http::StatusCode, response::Response};

use super::{Action, Decide, Decision, DecisionForm, Refusal, claims::claim_view, note_field};
use crate::{
    Console, Visit,
    api::{self, ApiError, report_detail::ReportStatus},
    i18n::Lang,
    pages::reports::{load, show_report},
};

fn report_actions(lang: Lang, status: &ReportStatus) -> Vec<Action> {
    match status {
        ReportStatus::SUBMITTED => vec![
            Action::new(lang, "verify", "primary"),
            Action::new(lang, "return", "secondary"),
        ],
        _ => Vec::new(),
    }
}

/// An outcome report, decided by its page.
pub struct Report;

impl Decide for Report {
    fn page(id: &str) -> String {
        format!("/review/reports/{id}")
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
            claim: claim_view(console, visit, token, id, Self::page(id)).await,
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

    async fn run(
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
