//! A pilot's decision page: the firm's own pilot page (details, budgets, participants,
//! milestones, vouchers, reports, history with names) with the manager's actions for its state
//! (approve, reject, complete, suspend, resume, cancel), each with its note.

use axum::{http::StatusCode, response::Response};

use super::{Action, Decide, Decision, DecisionForm, Refusal, claims::claim_view, note_field};
use crate::{
    Console, Visit,
    api::{self, ApiError, pilot_work::PilotStatus},
    i18n::Lang,
    pages::my_pilots::{PageState, load, show_pilot},
};

/// The actions a pilot's state allows a manager, in the order they are offered (the firm
/// submits and starts its own pilot).
fn pilot_actions(lang: Lang, status: &PilotStatus) -> Vec<Action> {
    let action = |value, style| Action::new(lang, value, style);
    match status {
        PilotStatus::SUBMITTED => vec![
            action("approve", "primary"),
            action("reject", "secondary"),
            action("cancel", "tertiary"),
        ],
        PilotStatus::ACTIVE => vec![
            action("complete", "primary"),
            // A pilot is "중지" (paused) where a company is "정지".
            Action::labelled(lang, "suspend", "review-action-pause", "secondary"),
            action("cancel", "tertiary"),
        ],
        PilotStatus::SUSPENDED => vec![action("resume", "primary"), action("cancel", "tertiary")],
        PilotStatus::DRAFT | PilotStatus::APPROVED => vec![action("cancel", "tertiary")],
        _ => Vec::new(),
    }
}

/// A pilot, decided by its page.
pub struct Pilot;

impl Decide for Pilot {
    fn page(id: &str) -> String {
        format!("/review/pilots/{id}")
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
        let data = match load(console, visit, token, id).await {
            Ok(data) => data,
            Err(response) => return response,
        };
        let lang = visit.lang;
        let actions = data
            .pilot
            .as_ref()
            .map(|p| pilot_actions(lang, &p.status))
            .unwrap_or_default();
        let claim = claim_view(console, visit, token, id, Self::page(id)).await;
        let state = PageState {
            error: refusal.error,
            decision: Some(Decision {
                action_url: format!("/review/pilots/{id}"),
                fields: vec![note_field(lang, &form.note, refusal.note_error)],
                actions,
                claim,
            }),
            ..PageState::default()
        };
        show_pilot(console, visit, data, state, status).await
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
        let optional = (!note.is_empty()).then(|| note.clone());
        match form.action.as_str() {
            "approve" => {
                let variables = api::approve_pilot::Variables { id, note: optional };
                api.run::<api::ApprovePilot>(Some(token), at, variables)
                    .await?;
                Ok("notice-review-pilot-approved")
            }
            "reject" => {
                let variables = api::reject_pilot::Variables { id, note };
                api.run::<api::RejectPilot>(Some(token), at, variables)
                    .await?;
                Ok("notice-review-pilot-rejected")
            }
            "complete" => {
                let variables = api::complete_pilot::Variables { id, note: optional };
                api.run::<api::CompletePilot>(Some(token), at, variables)
                    .await?;
                Ok("notice-review-pilot-completed")
            }
            "suspend" => {
                let variables = api::suspend_pilot::Variables { id, note };
                api.run::<api::SuspendPilot>(Some(token), at, variables)
                    .await?;
                Ok("notice-review-pilot-suspended")
            }
            "resume" => {
                let variables = api::resume_pilot::Variables { id, note: optional };
                api.run::<api::ResumePilot>(Some(token), at, variables)
                    .await?;
                Ok("notice-review-pilot-resumed")
            }
            "cancel" => {
                let variables = api::cancel_pilot::Variables { id, note };
                api.run::<api::CancelPilot>(Some(token), at, variables)
                    .await?;
                Ok("notice-review-pilot-cancelled")
            }
            _ => Err(ApiError::bad_input("action")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pilot_state_offers_only_the_actions_it_allows() {
        let offered = |status: PilotStatus| -> Vec<&'static str> {
            pilot_actions(Lang::Ko, &status)
                .iter()
                .map(|a| a.value)
                .collect()
        };
        assert_eq!(
            offered(PilotStatus::SUBMITTED),
            ["approve", "reject", "cancel"]
        );
        assert_eq!(
            offered(PilotStatus::ACTIVE),
            ["complete", "suspend", "cancel"]
        );
        assert_eq!(offered(PilotStatus::SUSPENDED), ["resume", "cancel"]);
        assert_eq!(offered(PilotStatus::APPROVED), ["cancel"]);
        assert_eq!(offered(PilotStatus::DRAFT), ["cancel"]);
        for over in [
            PilotStatus::REJECTED,
            PilotStatus::COMPLETED,
            PilotStatus::CANCELLED,
        ] {
            assert!(offered(over).is_empty());
        }
    }
}
