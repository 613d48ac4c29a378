//! 내 기업: the firm's companies. Register one (the business number checked as it is typed),
//! save a draft, submit it, follow its review on a timeline with the reviewers' notes, answer
//! "changes requested" by editing and resubmitting, and add colleagues by e-mail. Another
//! firm's company is a 404 page, as the API says NOT_FOUND.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, Response},
};
use serde::{Deserialize, Serialize};

use super::{
    Choice, HistoryEntry, choices,
    documents::{self, Allowed, Documents, Kind},
    enum_value, error_page,
    form::CsrfOnly,
    label_key, not_found_page,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, company_detail, create_company, my_companies},
    i18n::Lang,
    render,
};

pub const SECTORS: [&str; 9] = [
    "ARTIFICIAL_INTELLIGENCE",
    "MOBILITY",
    "CULTURE_CONTENT",
    "ENERGY",
    "HEALTHCARE",
    "PHOTONICS_APPLIANCES",
    "SMART_COMPONENTS",
    "SEMICONDUCTORS",
    "DATA",
];
const PRESENCES: [&str; 5] = ["HEADQUARTERS", "BRANCH", "RESEARCH_LAB", "PLANNED", "NONE"];

/// What the person typed, kept through every refusal.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct CompanyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    business_number: String,
    #[serde(default)]
    name_ko: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    sector: String,
    #[serde(default)]
    presence: String,
    #[serde(default)]
    employees: String,
    #[serde(default)]
    contact_email: String,
    /// `draft` or `submit`.
    #[serde(default)]
    action: String,
    #[serde(skip)]
    errors: FieldErrors,
}

#[derive(Default, Clone)]
pub struct FieldErrors {
    pub business_number: Option<String>,
    pub name_ko: Option<String>,
    pub employees: Option<String>,
    pub contact_email: Option<String>,
}

#[derive(Template)]
#[template(path = "companies.html")]
struct CompaniesPage {
    layout: Layout,
    rows: Vec<CompanyRow>,
}

pub struct CompanyRow {
    pub id: String,
    pub name: String,
    pub business_number: String,
    pub sector: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "company_form.html")]
struct CompanyFormPage {
    layout: Layout,
    heading: String,
    action: String,
    error: Option<String>,
    form: CompanyForm,
    sectors: Vec<Choice>,
    presences: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "business_number_check.html")]
struct BusinessNumberCheck {
    ok: bool,
    message: String,
}

#[derive(Template)]
#[template(path = "company.html")]
struct CompanyPage {
    layout: Layout,
    id: String,
    name: String,
    status: String,
    error: Option<String>,
    details: Vec<(String, String)>,
    editable: bool,
    history: Vec<HistoryEntry>,
    member_email: String,
    documents: Documents,
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::MyCompanies>(Some(&token), &visit.client_address, my_companies::Variables)
        .await;
    let companies = match answer {
        Ok(data) => data.me.map(|me| me.companies).unwrap_or_default(),
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let rows = companies
        .into_iter()
        .map(|c| CompanyRow {
            id: c.id,
            name: c.name_ko,
            business_number: c
                .business_number
                .map(|n| axv_platform::business_number::formatted(&n))
                .unwrap_or_default(),
            sector: lang.t(&label_key("sector", &format!("{:?}", c.sector))),
            status: lang.t(&label_key("company-status", &format!("{:?}", c.status))),
        })
        .collect();
    let title = lang.t("companies-title");
    let layout = visit.layout(&console, title, "companies");
    visit
        .respond(
            &console,
            StatusCode::OK,
            render(&CompaniesPage { layout, rows }),
        )
        .await
}

async fn show_form(
    console: &Console,
    visit: &mut Visit,
    form: CompanyForm,
    action: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    let heading = if action == "/companies" {
        lang.t("companies-register")
    } else {
        lang.t("company-edit")
    };
    let page = CompanyFormPage {
        sectors: choices(lang, "sector", &SECTORS, &form.sector),
        presences: choices(lang, "presence", &PRESENCES, &form.presence),
        layout: visit.layout(console, heading.clone(), "companies"),
        heading,
        action,
        error,
        form,
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn new_form(State(console): State<Console>, mut visit: Visit) -> Response {
    if let Err(response) = visit.require_sign_in(&console).await {
        return response;
    }
    let form = CompanyForm {
        sector: SECTORS[0].into(),
        presence: PRESENCES[0].into(),
        contact_email: visit
            .session
            .as_ref()
            .and_then(|s| s.user.as_ref())
            .map(|u| u.email.clone())
            .unwrap_or_default(),
        ..CompanyForm::default()
    };
    show_form(
        &console,
        &mut visit,
        form,
        "/companies".into(),
        None,
        StatusCode::OK,
    )
    .await
}

/// The sentence for a business number as typed, and whether it is valid.
fn business_number_message(lang: Lang, text: &str) -> (bool, String) {
    use axv_platform::business_number::{BusinessNumberError, check, formatted};
    match check(text) {
        Ok(digits) => (
            true,
            lang.t_with(
                "company-business-number-ok",
                &[("number", formatted(&digits))],
            ),
        ),
        Err(BusinessNumberError::Shape) => (false, lang.t("company-business-number-shape")),
        Err(BusinessNumberError::Checksum) => (false, lang.t("company-business-number-checksum")),
    }
}

/// htmx: the business number checked as it is typed (the same check the API makes).
pub async fn check_business_number(visit: Visit, Form(form): Form<CompanyForm>) -> Html<String> {
    let (ok, message) = if form.business_number.trim().is_empty() {
        (true, visit.lang.t("company-business-number-hint"))
    } else {
        business_number_message(visit.lang, &form.business_number)
    };
    render(&BusinessNumberCheck { ok, message })
}

/// The form's values as the API's input; a field the console can check itself is checked
/// here first, so the person sees every such mistake at once.
fn input_of(lang: Lang, form: &mut CompanyForm) -> Option<create_company::CompanyInput> {
    let mut ok = true;
    if let (false, message) = business_number_message(lang, &form.business_number) {
        form.errors.business_number = Some(message);
        ok = false;
    }
    if form.name_ko.trim().is_empty() {
        form.errors.name_ko = Some(lang.t("field-required"));
        ok = false;
    }
    if form.contact_email.trim().is_empty() {
        form.errors.contact_email = Some(lang.t("field-required"));
        ok = false;
    }
    let employees = match form.employees.trim().replace(',', "") {
        text if text.is_empty() => None,
        text => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                form.errors.employees = Some(lang.t("field-whole-number"));
                ok = false;
                None
            }
        },
    };
    let (Some(sector), Some(presence)) = (
        enum_value(&SECTORS, &form.sector),
        enum_value(&PRESENCES, &form.presence),
    ) else {
        return None;
    };
    ok.then(|| create_company::CompanyInput {
        business_number: form.business_number.trim().to_owned(),
        name_ko: form.name_ko.trim().to_owned(),
        name_en: Some(form.name_en.trim().to_owned()).filter(|n| !n.is_empty()),
        sector,
        presence,
        employees,
        founded_on: None,
        contact_email: form.contact_email.trim().to_owned(),
    })
}

/// Puts an API refusal beside its field when it names one.
fn place(lang: Lang, error: &ApiError, form: &mut CompanyForm) -> String {
    let sentence = lang.t_with(error.message_key(), &[("detail", error.message.clone())]);
    if error.is_about("businessNumber") {
        form.errors.business_number = Some(error.message.clone());
    } else if error.is_about("nameKo") {
        form.errors.name_ko = Some(error.message.clone());
    } else if error.is_about("contactEmail") {
        form.errors.contact_email = Some(error.message.clone());
    } else if error.is_about("employees") {
        form.errors.employees = Some(error.message.clone());
    } else if error.code == "CONFLICT" {
        form.errors.business_number = Some(lang.t("company-business-number-taken"));
    }
    sentence
}

/// After a company was saved: submits it too when that was the button pressed, then shows it
/// with a notice of what was done.
async fn saved(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
    action: &str,
) -> Response {
    let notice = if action == "submit" {
        match submit_company(console, visit, token, id).await {
            Ok(()) => "notice-company-submitted",
            Err(error) => return error_page(console, visit, &error).await,
        }
    } else {
        "notice-company-saved"
    };
    visit
        .redirect_with_notice(console, notice, &format!("/companies/{id}"))
        .await
}

async fn submit_company(
    console: &Console,
    visit: &Visit,
    token: &str,
    id: &str,
) -> Result<(), ApiError> {
    console
        .api
        .run::<api::SubmitCompany>(
            Some(token),
            &visit.client_address,
            api::submit_company::Variables { id: id.to_owned() },
        )
        .await
        .map(|_| ())
}

pub async fn create(
    State(console): State<Console>,
    mut visit: Visit,
    Form(mut form): Form<CompanyForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !visit.posted_by_session(&form.csrf) {
        let notice = Some(lang.t("notice-stale-form"));
        return show_form(
            &console,
            &mut visit,
            form,
            "/companies".into(),
            notice,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let Some(input) = input_of(lang, &mut form) else {
        let notice = Some(lang.t("form-fix-fields"));
        return show_form(
            &console,
            &mut visit,
            form,
            "/companies".into(),
            notice,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let created = console
        .api
        .run::<api::CreateCompany>(
            Some(&token),
            &visit.client_address,
            create_company::Variables { input },
        )
        .await;
    let id = match created {
        Ok(data) => data.create_company.id,
        Err(error) if matches!(error.code.as_str(), "BAD_USER_INPUT" | "CONFLICT") => {
            let message = Some(place(lang, &error, &mut form));
            return show_form(
                &console,
                &mut visit,
                form,
                "/companies".into(),
                message,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    saved(&console, &mut visit, &token, &id, &form.action).await
}

async fn load(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
) -> Result<company_detail::CompanyDetailCompany, Response> {
    let answer = console
        .api
        .run::<api::CompanyDetail>(
            Some(token),
            &visit.client_address,
            company_detail::Variables { id: id.to_owned() },
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

fn is_editable(status: &company_detail::CompanyStatus) -> bool {
    matches!(
        status,
        company_detail::CompanyStatus::DRAFT | company_detail::CompanyStatus::CHANGES_REQUESTED
    )
}

/// What a company's page shows of it, whichever query read it.
pub(crate) struct CompanyFacts<'a> {
    pub business_number: Option<&'a str>,
    pub name_en: Option<&'a str>,
    /// The API's enum names (`MOBILITY`, `HEADQUARTERS`).
    pub sector: &'a str,
    pub presence: &'a str,
    pub employees: Option<i64>,
    pub contact_email: Option<&'a str>,
}

/// A company's details as labelled rows, for the firm's page and the reviewer's.
pub(crate) fn detail_rows(lang: Lang, company: &CompanyFacts<'_>) -> Vec<(String, String)> {
    let dash = || "-".to_owned();
    vec![
        (
            lang.t("company-business-number"),
            company
                .business_number
                .map_or_else(dash, axv_platform::business_number::formatted),
        ),
        (
            lang.t("company-name-en"),
            company.name_en.map_or_else(dash, str::to_owned),
        ),
        (
            lang.t("company-sector"),
            lang.t(&label_key("sector", company.sector)),
        ),
        (
            lang.t("company-presence"),
            lang.t(&label_key("presence", company.presence)),
        ),
        (
            lang.t("company-employees"),
            company.employees.map_or_else(dash, crate::format::grouped),
        ),
        (
            lang.t("company-contact-email"),
            company.contact_email.map_or_else(dash, str::to_owned),
        ),
    ]
}

async fn show_company(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    company: company_detail::CompanyDetailCompany,
    error: Option<String>,
    member_email: String,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
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
    let editable = is_editable(&company.status);
    // The certificate and other papers go with the application while the firm prepares it.
    let documents = documents::load(
        console,
        visit,
        token,
        (Kind::Company, &company.id, None),
        Allowed::while_open(editable),
        &format!("/companies/{}", company.id),
    )
    .await;
    let page = CompanyPage {
        layout: visit.layout(console, company.name_ko.clone(), "companies"),
        editable,
        documents,
        status: lang.t(&label_key(
            "company-status",
            &format!("{:?}", company.status),
        )),
        id: company.id,
        name: company.name_ko,
        error,
        details,
        history,
        member_email,
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn detail(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    match load(&console, &mut visit, &token, &id).await {
        Ok(company) => {
            show_company(
                &console,
                &mut visit,
                &token,
                company,
                None,
                String::new(),
                StatusCode::OK,
            )
            .await
        }
        Err(response) => response,
    }
}

pub async fn edit_form(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let company = match load(&console, &mut visit, &token, &id).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let form = CompanyForm {
        business_number: company.business_number.unwrap_or_default(),
        name_ko: company.name_ko,
        name_en: company.name_en.unwrap_or_default(),
        sector: format!("{:?}", company.sector),
        presence: format!("{:?}", company.presence),
        employees: company.employees.map(|n| n.to_string()).unwrap_or_default(),
        contact_email: company.contact_email.unwrap_or_default(),
        ..CompanyForm::default()
    };
    show_form(
        &console,
        &mut visit,
        form,
        format!("/companies/{id}/edit"),
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn update(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(mut form): Form<CompanyForm>,
) -> Response {
    let lang = visit.lang;
    let action = format!("/companies/{id}/edit");
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !visit.posted_by_session(&form.csrf) {
        let notice = Some(lang.t("notice-stale-form"));
        return show_form(
            &console,
            &mut visit,
            form,
            action,
            notice,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let Some(input) = input_of(lang, &mut form) else {
        let notice = Some(lang.t("form-fix-fields"));
        return show_form(
            &console,
            &mut visit,
            form,
            action,
            notice,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    // The same GraphQL input type, generated once per operation; `input_of` checked both
    // enum values, so the fallbacks are never taken.
    let input = api::update_company::CompanyInput {
        business_number: input.business_number,
        name_ko: input.name_ko,
        name_en: input.name_en,
        sector: enum_value(&SECTORS, &form.sector)
            .unwrap_or(api::update_company::Sector::Other(form.sector.clone())),
        presence: enum_value(&PRESENCES, &form.presence).unwrap_or(
            api::update_company::GwangjuPresence::Other(form.presence.clone()),
        ),
        employees: input.employees,
        founded_on: None,
        contact_email: input.contact_email,
    };
    let updated = console
        .api
        .run::<api::UpdateCompany>(
            Some(&token),
            &visit.client_address,
            api::update_company::Variables {
                id: id.clone(),
                input,
            },
        )
        .await;
    match updated {
        Ok(_) => {}
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT" | "CONFLICT" | "FAILED_PRECONDITION"
            ) =>
        {
            let message = Some(place(lang, &error, &mut form));
            return show_form(
                &console,
                &mut visit,
                form,
                action,
                message,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        Err(error) => return error_page(&console, &mut visit, &error).await,
    }
    saved(&console, &mut visit, &token, &id, &form.action).await
}

pub async fn submit(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &format!("/companies/{id}"))
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    match submit_company(&console, &visit, &token, &id).await {
        Ok(()) => {
            visit
                .redirect_with_notice(
                    &console,
                    "notice-company-submitted",
                    &format!("/companies/{id}"),
                )
                .await
        }
        Err(error) if error.code == "FAILED_PRECONDITION" => {
            let message = visit.explain(&error);
            match load(&console, &mut visit, &token, &id).await {
                Ok(company) => {
                    show_company(
                        &console,
                        &mut visit,
                        &token,
                        company,
                        Some(message),
                        String::new(),
                        StatusCode::CONFLICT,
                    )
                    .await
                }
                Err(response) => response,
            }
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

#[derive(Deserialize, Serialize, Default)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn add_member(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &format!("/companies/{id}"))
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let added = console
        .api
        .run::<api::AddCompanyMember>(
            Some(&token),
            &visit.client_address,
            api::add_company_member::Variables {
                company_id: id.clone(),
                email: form.email.trim().to_owned(),
            },
        )
        .await;
    match added {
        Ok(data) => {
            tracing::debug!(member = %data.add_company_member.id, "member added");
            visit
                .redirect_with_notice(&console, "notice-member-added", &format!("/companies/{id}"))
                .await
        }
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT" | "CONFLICT" | "FAILED_PRECONDITION"
            ) || (error.code == "NOT_FOUND" && error.message.contains("user")) =>
        {
            let message = if error.code == "NOT_FOUND" {
                lang.t("company-member-unknown")
            } else {
                visit.explain(&error)
            };
            match load(&console, &mut visit, &token, &id).await {
                Ok(company) => {
                    show_company(
                        &console,
                        &mut visit,
                        &token,
                        company,
                        Some(message),
                        form.email,
                        StatusCode::BAD_REQUEST,
                    )
                    .await
                }
                Err(response) => response,
            }
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}
