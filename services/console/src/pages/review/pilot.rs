//! A pilot's decision page: the firm's own pilot page (details, budgets, participants,
//! milestones, vouchers, reports, history with names) with the manager's actions for its state
//! (approve, reject, complete, suspend, resume, cancel), each with its note.

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
    api::{self, ApiError, pilot_work::PilotStatus},
    i18n::Lang,
    pages::{
        error_page,
        my_pilots::{PageState, load, show_pilot},
    },
};

/// The actions a pilot's state allows a manager, in the order they are offered (the firm
/// submits and starts its own pilot).
fn pilot_actions(lang: Lang, status: &PilotStatus) -> Vec<Action> {
    let action = |value: &'static str, style: &'static str| Action {
        value,
        label: lang.t(&format!("review-action-{value}")),
        style,
    };
    match status {
        PilotStatus::SUBMITTED => vec![
            action("approve", "primary"),
            action("reject", "secondary"),
            action("cancel", "tertiary"),
        ],
        PilotStatus::ACTIVE => vec![
            action("complete", "primary"),
            action("suspend", "secondary"),
            action("cancel", "tertiary"),
        ],
        PilotStatus::SUSPENDED => vec![action("resume", "primary"), action("cancel", "tertiary")],
        PilotStatus::DRAFT | PilotStatus::APPROVED => vec![action("cancel", "tertiary")],
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
    let state = PageState {
        error: refusal.error,
        decision: Some(Decision {
            action_url: format!("/review/pilots/{id}"),
            fields: vec![note_field(lang, &form.note, refusal.note_error)],
            actions,
        }),
        ..PageState::default()
    };
    show_pilot(console, visit, data, state, status).await
}

pub async fn pilot(
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

/// Runs the chosen action; `Ok(notice)` names what was done.
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

pub async fn decide_pilot(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let back = format!("/review/pilots/{id}");
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
