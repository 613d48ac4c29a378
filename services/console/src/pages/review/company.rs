//! A company's decision page: its details, holdings and history with names, and the actions
//! its state allows, each with its note.

use askama::Template;
use axum::{http::StatusCode, response::Response};

use super::{
    Action, Decide, Decision, DecisionForm, Refusal, claims::claim_view, company_name, note_field,
    picked_up_by,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, company_review},
    i18n::Lang,
    pages::{
        HistoryEntry,
        companies::{CompanyFacts, detail_rows},
        documents::{self, Allowed, Documents, Kind},
        error_page, label_key, not_found_page,
    },
    render,
};

#[derive(Template)]
#[template(path = "company_review.html")]
struct CompanyReviewPage {
    layout: Layout,
    name: String,
    status: String,
    holder: Option<String>,
    error: Option<String>,
    details: Vec<(String, String)>,
    holdings: Vec<(String, String)>,
    history: Vec<HistoryEntry>,
    decision: Decision,
    documents: Documents,
}

/// The actions a company's state allows a manager, in the order they are offered.
fn company_actions(lang: Lang, status: &company_review::CompanyStatus) -> Vec<Action> {
    use company_review::CompanyStatus as S;
    let action = |value, style| Action::new(lang, value, style);
    match status {
        S::SUBMITTED => vec![action("start", "primary")],
        S::UNDER_REVIEW => vec![
            action("approve", "primary"),
            action("request-changes", "secondary"),
            action("reject", "tertiary"),
        ],
        S::APPROVED => vec![action("suspend", "tertiary")],
        S::SUSPENDED => vec![action("reinstate", "primary")],
        _ => Vec::new(),
    }
}

async fn load_company(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
) -> Result<company_review::CompanyReviewCompany, Response> {
    let answer = console
        .api
        .run::<api::CompanyReview>(
            Some(token),
            &visit.client_address,
            company_review::Variables { id: id.to_owned() },
        )
        .await;
    match answer {
        Ok(data) => match data.company {
            Some(company) => Ok(company),
            None => Err(not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

async fn show_company(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    company: company_review::CompanyReviewCompany,
    form: &DecisionForm,
    refusal: Refusal,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let claim = claim_view(
        console,
        visit,
        token,
        &company.id,
        Company::page(&company.id),
    )
    .await;
    let details = detail_rows(
        lang,
        &CompanyFacts {
            business_number: company.business_number.as_deref(),
            name_en: company.name_en.as_deref(),
            sector: &format!("{:?}", company.sector),
            presence: &format!("{:?}", company.presence),
            employees: company.employees,
            contact_email: company.contact_email.as_deref(),
        },
    );
    let holdings = vec![
        (
            lang.t("review-company-vouchers"),
            company
                .vouchers
                .edges
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.node.code,
                        lang.t(&label_key(
                            "voucher-status",
                            &format!("{:?}", e.node.status)
                        ))
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            lang.t("review-company-pilots"),
            company
                .pilots
                .edges
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.node.title,
                        lang.t(&label_key("status", &format!("{:?}", e.node.status)))
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
    .into_iter()
    .map(|(label, value)| {
        let value = if value.is_empty() {
            lang.t("review-none")
        } else {
            value
        };
        (label, value)
    })
    .collect();
    let holder = picked_up_by(
        company
            .history
            .iter()
            .map(|h| (h.to.as_str(), h.by_name.as_ref())),
        &format!("{:?}", company.status),
        "UNDER_REVIEW",
    );
    let history = company
        .history
        .iter()
        .map(|h| {
            HistoryEntry::new(
                lang,
                "company-status",
                &h.to,
                &h.at,
                h.by_name.clone(),
                h.note.clone(),
            )
        })
        .collect();
    // The office adds its own papers (a site-visit report...) while the company is in review.
    let in_review = matches!(
        company.status,
        company_review::CompanyStatus::SUBMITTED | company_review::CompanyStatus::UNDER_REVIEW
    );
    let documents = documents::load(
        console,
        visit,
        token,
        (Kind::Company, &company.id, None),
        Allowed::while_open(in_review),
        &Company::page(&company.id),
    )
    .await
    .with_note(lang.t("documents-staff-note"));
    let name = company_name(lang, &company.name_ko, company.name_en.as_deref());
    let page = CompanyReviewPage {
        documents,
        layout: visit.layout(console, name.clone(), "review"),
        decision: Decision {
            action_url: format!("/review/companies/{}", company.id),
            fields: vec![note_field(lang, &form.note, refusal.note_error)],
            actions: company_actions(lang, &company.status),
            claim,
        },
        status: lang.t(&label_key(
            "company-status",
            &format!("{:?}", company.status),
        )),
        name,
        holder,
        error: refusal.error,
        details,
        holdings,
        history,
    };
    visit.respond(console, status, render(&page)).await
}

/// A company's registration, decided by its page.
pub struct Company;

impl Decide for Company {
    fn page(id: &str) -> String {
        format!("/review/companies/{id}")
    }

    /// Picking a company up keeps the manager on it; a decision goes back to the queue.
    fn after(form: &DecisionForm, id: &str) -> String {
        if form.action == "start" {
            Self::page(id)
        } else {
            "/review".to_owned()
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
        match load_company(console, visit, token, id).await {
            Ok(company) => {
                show_company(console, visit, token, company, form, refusal, status).await
            }
            Err(response) => response,
        }
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
            "start" => {
                api.run::<api::StartCompanyReview>(
                    Some(token),
                    at,
                    api::start_company_review::Variables { id },
                )
                .await?;
                Ok("notice-review-started")
            }
            "approve" => {
                api.run::<api::ApproveCompany>(
                    Some(token),
                    at,
                    api::approve_company::Variables { id, note: optional },
                )
                .await?;
                Ok("notice-review-approved")
            }
            "request-changes" => {
                api.run::<api::RequestCompanyChanges>(
                    Some(token),
                    at,
                    api::request_company_changes::Variables { id, note },
                )
                .await?;
                Ok("notice-review-changes-requested")
            }
            "reject" => {
                api.run::<api::RejectCompany>(
                    Some(token),
                    at,
                    api::reject_company::Variables { id, note },
                )
                .await?;
                Ok("notice-review-rejected")
            }
            "suspend" => {
                api.run::<api::SuspendCompany>(
                    Some(token),
                    at,
                    api::suspend_company::Variables { id, note },
                )
                .await?;
                Ok("notice-review-suspended")
            }
            "reinstate" => {
                api.run::<api::ReinstateCompany>(
                    Some(token),
                    at,
                    api::reinstate_company::Variables { id, note: optional },
                )
                .await?;
                Ok("notice-review-reinstated")
            }
            _ => Err(ApiError::bad_input("action")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_company_state_offers_only_the_actions_it_allows() {
        use company_review::CompanyStatus as S;
        let offered = |status: S| -> Vec<&'static str> {
            company_actions(Lang::Ko, &status)
                .iter()
                .map(|a| a.value)
                .collect()
        };
        assert_eq!(offered(S::SUBMITTED), ["start"]);
        assert_eq!(
            offered(S::UNDER_REVIEW),
            ["approve", "request-changes", "reject"]
        );
        assert_eq!(offered(S::APPROVED), ["suspend"]);
        assert_eq!(offered(S::SUSPENDED), ["reinstate"]);
        assert!(offered(S::DRAFT).is_empty());
        assert!(offered(S::REJECTED).is_empty());
        assert!(offered(S::CHANGES_REQUESTED).is_empty());
    }
}
