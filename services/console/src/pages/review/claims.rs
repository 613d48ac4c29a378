//! "I'm reviewing this": who holds an item, shown on the worklist and on its decision page,
//! and the buttons to pick it up, take it over from another manager, or let it go. The API
//! keeps the claims and refuses another manager's decision on a held item.

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{Decide, DecisionForm, Refusal, start_decision};
use crate::{
    Console, Visit,
    api::{self, ApiError, pick_up_for_review, release_review, review_claims},
    format::kst,
};

/// An item's claim as its decision page shows it.
#[derive(Default)]
pub struct ClaimView {
    /// Where its buttons post: `<decision page>/claim`, with the rest of the decision form.
    pub action_url: String,
    /// Who holds it and since when, when someone does.
    pub holder: Option<(String, String)>,
    pub mine: bool,
}

/// The holders of `ids` by id: the manager's name (or "a manager" when unnamed).
pub async fn holders(
    console: &Console,
    visit: &Visit,
    token: &str,
    ids: Vec<String>,
) -> Result<HashMap<String, review_claims::ReviewClaimsReviewClaims>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let data = console
        .api
        .run::<api::ReviewClaims>(
            Some(token),
            &visit.client_address,
            review_claims::Variables { ids },
        )
        .await?;
    Ok(data
        .review_claims
        .into_iter()
        .map(|claim| (claim.subject_id.clone(), claim))
        .collect())
}

/// The claim on one item for its decision page; an item nobody holds when the claims cannot
/// be read (the page still works, the API still guards the decision).
pub async fn claim_view(
    console: &Console,
    visit: &Visit,
    token: &str,
    id: &str,
    page: String,
) -> ClaimView {
    let me = visit.user_id().unwrap_or_default().to_owned();
    let held = holders(console, visit, token, vec![id.to_owned()])
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "review claims not read");
            HashMap::new()
        })
        .remove(id);
    ClaimView {
        action_url: format!("{page}/claim"),
        mine: held.as_ref().is_some_and(|c| c.by == me),
        holder: held.map(|c| {
            (
                c.by_name
                    .unwrap_or_else(|| visit.lang.t("review-a-manager")),
                kst(&c.at),
            )
        }),
    }
}

/// Picks the item up, takes it over or lets it go from its decision page (`what` of the
/// decision form), then shows the page again with what was typed (the note, the hours) kept
/// and what happened said at the top.
pub async fn change<D: Decide>(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let token = match start_decision(&console, &mut visit, &form, &D::page(&id)).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let api = &console.api;
    let at = visit.client_address.clone();
    let done = match form.what.as_str() {
        "pick-up" | "take-over" => {
            let variables = pick_up_for_review::Variables {
                id: id.clone(),
                take_over: Some(form.what == "take-over"),
            };
            api.run::<api::PickUpForReview>(Some(&token), &at, variables)
                .await
                .map(|_| {
                    if form.what == "take-over" {
                        "notice-review-taken-over"
                    } else {
                        "notice-review-picked-up"
                    }
                })
        }
        "release" => api
            .run::<api::ReleaseReview>(
                Some(&token),
                &at,
                release_review::Variables { id: id.clone() },
            )
            .await
            .map(|_| "notice-review-released"),
        _ => Err(ApiError::bad_input("what")),
    };
    let notice = match done {
        Ok(notice) => notice,
        // Someone else picked it up first: the page now says who, with the take-over button.
        Err(error) if error.code == "CONFLICT" => "notice-review-held",
        Err(error) => return super::super::error_page(&console, &mut visit, &error).await,
    };
    if let Some(session) = visit.session.as_mut() {
        session.notice = Some(notice.to_owned());
    }
    D::show(
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
