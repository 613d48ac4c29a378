//! "I'm reviewing this": who holds an item, shown on the worklist and on its decision page,
//! and the buttons to pick it up, take it over from another manager, or let it go. The API
//! keeps the claims and refuses another manager's decision on a held item.

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Path, State},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::require_staff_to_post;
use crate::{
    Console, Visit,
    api::{self, ApiError, pick_up_for_review, release_review, review_claims},
    format::kst,
};

/// An item's claim as its decision page shows it.
#[derive(Default)]
pub struct ClaimView {
    /// Where the buttons post (`/review/claims/<id>`) and come back to.
    pub action_url: String,
    pub back: String,
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
    back: String,
) -> ClaimView {
    let me = visit
        .session
        .as_ref()
        .and_then(|s| s.user.as_ref())
        .map(|u| u.user_id.clone())
        .unwrap_or_default();
    let held = holders(console, visit, token, vec![id.to_owned()])
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "review claims not read");
            HashMap::new()
        })
        .remove(id);
    ClaimView {
        action_url: format!("/review/claims/{id}"),
        back,
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

#[derive(Deserialize, Serialize, Default)]
pub struct ClaimForm {
    #[serde(default)]
    csrf: String,
    /// `pick-up`, `take-over` or `release`.
    #[serde(default)]
    what: String,
    /// The decision page to come back to.
    #[serde(default)]
    back: String,
}

/// Picks the item up, takes it over or lets it go, then back to its page with what happened.
pub async fn change(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<ClaimForm>,
) -> Response {
    // Only back to one of the console's own review pages.
    let back = if form.back.starts_with("/review/") && !form.back.starts_with("//") {
        form.back.clone()
    } else {
        "/review".to_owned()
    };
    let token = match require_staff_to_post(&console, &mut visit, (&form, &form.csrf), &back).await
    {
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
            .run::<api::ReleaseReview>(Some(&token), &at, release_review::Variables { id })
            .await
            .map(|_| "notice-review-released"),
        _ => Err(ApiError::bad_input("what")),
    };
    match done {
        Ok(notice) => visit.redirect_with_notice(&console, notice, &back).await,
        // Someone else picked it up first: the page now says who, with the take-over button.
        Err(error) if error.code == "CONFLICT" => {
            visit
                .redirect_with_notice(&console, "notice-review-held", &back)
                .await
        }
        Err(error) => super::super::error_page(&console, &mut visit, &error).await,
    }
}
