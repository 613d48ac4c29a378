//! 내 실증사업: the firm's pilots. Register one for an approved company (save a draft, edit it,
//! submit it), find partner companies by name and invite them, answer an invitation, start an
//! approved pilot, add milestones and record their evidence, and follow the vouchers and
//! reports tied to it. Another firm's pilot is a 404 page, as the API says NOT_FOUND (or shows
//! it only in the public registry).

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, Response},
};
use axum_htmx::HxRequest;
use serde::{Deserialize, Serialize};

use super::{
    Choice, HistoryEntry, choices,
    documents::{self, Allowed, Documents, Kind},
    enum_value, error_page,
    form::{CsrfOnly, Field, FormPage, check_required, place_error, read_number},
    label_key, not_found_page,
    pilots::DOMAINS,
    review::Decision,
    vouchers::amount,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, pilot_work},
    format::{kst, won},
    i18n::Lang,
    render,
};

/// The API's input names beside the form's, to put a refusal beside its field.
const API_FIELDS: [(&str, &str); 11] = [
    ("title", "title"),
    ("titleEn", "title_en"),
    ("leadCompanyId", "lead_company_id"),
    ("site", "site"),
    ("startsOn", "starts_on"),
    ("endsOn", "ends_on"),
    ("budgetNational", "budget_national"),
    ("budgetCity", "budget_city"),
    ("budgetPrivate", "budget_private"),
    ("sandboxReference", "sandbox_reference"),
    ("summary", "summary"),
];

/// What the person typed into the pilot form, kept through every refusal.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct PilotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    lead_company_id: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    budget_national: String,
    #[serde(default)]
    budget_city: String,
    #[serde(default)]
    budget_private: String,
    /// `on` when ticked.
    #[serde(default)]
    regulatory_sandbox: String,
    #[serde(default)]
    sandbox_reference: String,
    #[serde(default)]
    summary: String,
    /// `draft` or `submit`.
    #[serde(default)]
    action: String,
}

/// A pilot's values, checked; one conversion per operation's generated input type.
struct PilotValues {
    title: String,
    title_en: Option<String>,
    lead_company_id: String,
    domain: String,
    site: String,
    starts_on: String,
    ends_on: String,
    budget: [i64; 3],
    regulatory_sandbox: bool,
    sandbox_reference: Option<String>,
    summary: Option<String>,
}

macro_rules! pilot_input {
    ($($module:ident),+) => {$(
        impl From<&PilotValues> for api::$module::PilotInput {
            fn from(v: &PilotValues) -> Self {
                Self {
                    title: v.title.clone(),
                    title_en: v.title_en.clone(),
                    domain: enum_value(&DOMAINS, &v.domain)
                        .unwrap_or(api::$module::PilotDomain::OTHER),
                    lead_company_id: v.lead_company_id.clone(),
                    site: v.site.clone(),
                    starts_on: v.starts_on.clone(),
                    ends_on: v.ends_on.clone(),
                    budget_national: v.budget[0],
                    budget_city: v.budget[1],
                    budget_private: v.budget[2],
                    regulatory_sandbox: v.regulatory_sandbox,
                    sandbox_reference: v.sandbox_reference.clone(),
                    summary: v.summary.clone(),
                }
            }
        }
    )+};
}

pilot_input!(register_pilot, update_pilot);

fn optional_text(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The form's fields, as typed; `companies`: (id, name) of the person's approved companies.
fn pilot_fields(lang: Lang, form: &PilotForm, companies: &[(String, String)]) -> Vec<Field> {
    let leads = companies
        .iter()
        .map(|(id, name)| Choice {
            value: id.clone(),
            label: name.clone(),
            selected: *id == form.lead_company_id,
        })
        .collect();
    vec![
        Field::new(lang, "title", "pilot-form-title", "text", "off").value(&form.title),
        Field::optional(lang, "title_en", "pilot-form-title-en").value(&form.title_en),
        Field::select(lang, "lead_company_id", "pilot-lead", leads),
        Field::select(
            lang,
            "domain",
            "pilot-domain",
            choices(lang, "domain", &DOMAINS, &form.domain),
        ),
        Field::new(lang, "site", "pilot-site", "text", "off")
            .value(&form.site)
            .hint(lang.t("pilot-form-site-hint")),
        Field::new(lang, "starts_on", "pilot-form-starts-on", "date", "off").value(&form.starts_on),
        Field::new(lang, "ends_on", "pilot-form-ends-on", "date", "off").value(&form.ends_on),
        Field::number(lang, "budget_national", "pilot-budget-national")
            .value(&form.budget_national)
            .not_required()
            .hint(lang.t("pilot-form-won-hint")),
        Field::number(lang, "budget_city", "pilot-budget-city")
            .value(&form.budget_city)
            .not_required()
            .hint(lang.t("pilot-form-won-hint")),
        Field::number(lang, "budget_private", "pilot-budget-private")
            .value(&form.budget_private)
            .not_required()
            .hint(lang.t("pilot-form-won-hint")),
        Field::new(
            lang,
            "regulatory_sandbox",
            "pilot-sandbox",
            "checkbox",
            "off",
        )
        .value(&form.regulatory_sandbox)
        .hint(lang.t("pilot-form-sandbox-hint")),
        Field::optional(lang, "sandbox_reference", "pilot-sandbox-reference")
            .value(&form.sandbox_reference),
        {
            let mut summary =
                Field::optional(lang, "summary", "pilot-summary").value(&form.summary);
            summary.kind = "textarea";
            summary
        },
    ]
}

/// Checks what the console can check itself (every mistake at once); the values when none.
fn pilot_values(lang: Lang, form: &PilotForm, fields: &mut [Field]) -> Option<PilotValues> {
    let mut ok = check_required(lang, fields);
    let mut budget = [0i64; 3];
    for (i, name) in ["budget_national", "budget_city", "budget_private"]
        .iter()
        .enumerate()
    {
        ok &= read_number(lang, fields, name, &mut budget[i]);
    }
    for name in ["starts_on", "ends_on"] {
        let value = fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.trim().to_owned())
            .unwrap_or_default();
        if !value.is_empty() && chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d").is_err() {
            if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
                field.error = Some(lang.t("field-date"));
            }
            ok = false;
        }
    }
    let dates = (
        chrono::NaiveDate::parse_from_str(form.starts_on.trim(), "%Y-%m-%d"),
        chrono::NaiveDate::parse_from_str(form.ends_on.trim(), "%Y-%m-%d"),
    );
    if let (Ok(start), Ok(end)) = dates
        && end <= start
    {
        if let Some(field) = fields.iter_mut().find(|f| f.name == "ends_on") {
            field.error = Some(lang.t("pilot-form-ends-after-start"));
        }
        ok = false;
    }
    if !DOMAINS.contains(&form.domain.as_str()) {
        ok = false;
    }
    ok.then(|| PilotValues {
        title: form.title.trim().to_owned(),
        title_en: optional_text(&form.title_en),
        lead_company_id: form.lead_company_id.clone(),
        domain: form.domain.clone(),
        site: form.site.trim().to_owned(),
        starts_on: form.starts_on.trim().to_owned(),
        ends_on: form.ends_on.trim().to_owned(),
        budget,
        regulatory_sandbox: !form.regulatory_sandbox.is_empty(),
        sandbox_reference: optional_text(&form.sandbox_reference),
        summary: optional_text(&form.summary),
    })
}

#[derive(Template)]
#[template(path = "my_pilots.html")]
struct MyPilotsPage {
    layout: Layout,
    can_register: bool,
    invitations: Vec<InvitationRow>,
    rows: Vec<MyPilotRow>,
}

pub struct MyPilotRow {
    id: String,
    title: String,
    lead: String,
    ours: String,
    domain: String,
    status: String,
    period: String,
}

pub struct InvitationRow {
    pilot_id: String,
    pilot_title: String,
    company_id: String,
    company_name: String,
    lead: String,
    role: String,
}

/// The person's companies: (id, name, approved).
fn own_companies<'a>(
    companies: impl Iterator<Item = (&'a str, &'a str, bool)>,
) -> Vec<(String, String, bool)> {
    companies
        .map(|(id, name, approved)| (id.to_owned(), name.to_owned(), approved))
        .collect()
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::MyPilots>(
            Some(&token),
            &visit.client_address,
            api::my_pilots::Variables,
        )
        .await;
    let data = match answer {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let mine = own_companies(data.me.iter().flat_map(|me| &me.companies).map(|c| {
        (
            c.id.as_str(),
            c.name_ko.as_str(),
            matches!(c.status, api::my_pilots::CompanyStatus::APPROVED),
        )
    }));
    let is_mine = |id: &str| mine.iter().any(|(own, _, _)| own == id);
    let mut invitations = Vec::new();
    let mut rows = Vec::new();
    for pilot in data.pilots.edges.into_iter().map(|e| e.node) {
        let invited = pilot.participants.iter().find(|p| {
            is_mine(&p.company.id) && matches!(p.state, api::my_pilots::ParticipantState::INVITED)
        });
        if let Some(invited) = invited {
            invitations.push(InvitationRow {
                pilot_id: pilot.id.clone(),
                pilot_title: pilot.title.clone(),
                company_id: invited.company.id.clone(),
                company_name: mine
                    .iter()
                    .find(|(id, _, _)| *id == invited.company.id)
                    .map(|(_, name, _)| name.clone())
                    .unwrap_or_default(),
                lead: pilot.lead_company.name_ko.clone(),
                role: String::new(),
            });
            continue;
        }
        let ours = if is_mine(&pilot.lead_company.id) {
            lang.t("pilot-ours-lead")
        } else {
            lang.t("pilot-ours-partner")
        };
        rows.push(MyPilotRow {
            id: pilot.id,
            title: pilot.title,
            lead: pilot.lead_company.name_ko,
            ours,
            domain: lang.t(&label_key("domain", &format!("{:?}", pilot.domain))),
            status: lang.t(&label_key("status", &format!("{:?}", pilot.status))),
            period: format!("{} ~ {}", pilot.starts_on, pilot.ends_on),
        });
    }
    let title = lang.t("my-pilots-title");
    let page = MyPilotsPage {
        layout: visit.layout(&console, title, "my-pilots"),
        can_register: mine.iter().any(|(_, _, approved)| *approved),
        invitations,
        rows,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

/// The person's approved companies, which may lead a pilot: (id, name).
async fn approved_companies(
    console: &Console,
    visit: &mut Visit,
    token: &str,
) -> Result<Vec<(String, String)>, Response> {
    let answer = console
        .api
        .run::<api::MyCompanies>(
            Some(token),
            &visit.client_address,
            api::my_companies::Variables,
        )
        .await;
    match answer {
        Ok(data) => Ok(data
            .me
            .map(|me| me.companies)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| matches!(c.status, api::my_companies::CompanyStatus::APPROVED))
            .map(|c| (c.id, c.name_ko))
            .collect()),
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

struct FormView {
    action: String,
    heading_key: &'static str,
    error: Option<String>,
    fields: Vec<Field>,
    status: StatusCode,
}

async fn show_form(console: &Console, visit: &mut Visit, view: FormView) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    let heading = lang.t(view.heading_key);
    let page = FormPage {
        layout: visit.layout(console, heading.clone(), "my-pilots"),
        heading,
        intro: Some(lang.t("pilot-form-intro")),
        action: view.action,
        hidden: Vec::new(),
        submit: lang.t("pilot-form-submit"),
        draft: Some(lang.t("pilot-form-draft")),
        error: view.error,
        fields: view.fields,
        aside: Vec::new(),
    };
    visit.respond(console, view.status, render(&page)).await
}

pub async fn new_form(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let companies = match approved_companies(&console, &mut visit, &token).await {
        Ok(companies) => companies,
        Err(response) => return response,
    };
    if companies.is_empty() {
        return visit
            .redirect_with_notice(&console, "pilot-needs-approved-company", "/my-pilots")
            .await;
    }
    let form = PilotForm {
        lead_company_id: companies[0].0.clone(),
        domain: DOMAINS[0].into(),
        ..PilotForm::default()
    };
    let fields = pilot_fields(visit.lang, &form, &companies);
    let view = FormView {
        action: "/my-pilots".into(),
        heading_key: "pilot-register",
        error: None,
        fields,
        status: StatusCode::OK,
    };
    show_form(&console, &mut visit, view).await
}

/// Registers (or, with `id`, updates) the pilot as typed; then submits it when that was the
/// button pressed. A refusal shows the form again with everything typed.
async fn save(console: Console, mut visit: Visit, id: Option<String>, form: PilotForm) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let companies = match approved_companies(&console, &mut visit, &token).await {
        Ok(companies) => companies,
        Err(response) => return response,
    };
    let (action, heading_key) = match &id {
        Some(id) => (format!("/my-pilots/{id}/edit"), "pilot-edit"),
        None => ("/my-pilots".to_owned(), "pilot-register"),
    };
    let mut fields = pilot_fields(lang, &form, &companies);
    let refused = |fields, error, status| FormView {
        action: action.clone(),
        heading_key,
        error: Some(error),
        fields,
        status,
    };
    if !visit.posted_by_session(&form.csrf) {
        let view = refused(fields, lang.t("notice-stale-form"), StatusCode::FORBIDDEN);
        return show_form(&console, &mut visit, view).await;
    }
    let Some(values) = pilot_values(lang, &form, &mut fields) else {
        let view = refused(fields, lang.t("form-fix-fields"), StatusCode::BAD_REQUEST);
        return show_form(&console, &mut visit, view).await;
    };
    let saved = match &id {
        None => console
            .api
            .run::<api::RegisterPilot>(
                Some(&token),
                &visit.client_address,
                api::register_pilot::Variables {
                    input: (&values).into(),
                },
            )
            .await
            .map(|data| data.register_pilot.id),
        Some(id) => console
            .api
            .run::<api::UpdatePilot>(
                Some(&token),
                &visit.client_address,
                api::update_pilot::Variables {
                    id: id.clone(),
                    input: (&values).into(),
                },
            )
            .await
            .map(|data| data.update_pilot.id),
    };
    let pilot_id = match saved {
        Ok(pilot_id) => pilot_id,
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT" | "FAILED_PRECONDITION" | "NOT_ELIGIBLE" | "CONFLICT"
            ) =>
        {
            let message = place_error(lang, &error, &mut fields, &API_FIELDS);
            let view = refused(fields, message, StatusCode::BAD_REQUEST);
            return show_form(&console, &mut visit, view).await;
        }
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let notice = if form.action == "submit" {
        let submitted = console
            .api
            .run::<api::SubmitPilot>(
                Some(&token),
                &visit.client_address,
                api::submit_pilot::Variables {
                    id: pilot_id.clone(),
                },
            )
            .await;
        match submitted {
            Ok(_) => "notice-pilot-submitted",
            Err(error) => return error_page(&console, &mut visit, &error).await,
        }
    } else {
        "notice-pilot-saved"
    };
    visit
        .redirect_with_notice(&console, notice, &format!("/my-pilots/{pilot_id}"))
        .await
}

pub async fn create(
    State(console): State<Console>,
    visit: Visit,
    Form(form): Form<PilotForm>,
) -> Response {
    save(console, visit, None, form).await
}

pub async fn update(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<PilotForm>,
) -> Response {
    save(console, visit, Some(id), form).await
}

/// The pilot as the firm works on it; 404 for a pilot the person sees only in the public
/// registry, or not at all.
pub(crate) async fn load(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
) -> Result<pilot_work::ResponseData, Response> {
    let answer = console
        .api
        .run::<api::PilotWork>(
            Some(token),
            &visit.client_address,
            pilot_work::Variables { id: id.to_owned() },
        )
        .await;
    match answer {
        Ok(data) if data.pilot.is_some() => Ok(data),
        Ok(_) => Err(not_found_page(console, visit).await),
        // Budgets are FORBIDDEN to whoever sees only the registry's public fields.
        Err(error) if error.code == "FORBIDDEN" => Err(not_found_page(console, visit).await),
        Err(error) => Err(error_page(console, visit, &error).await),
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
    let data = match load(&console, &mut visit, &token, &id).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let Some(pilot) = data.pilot else {
        return not_found_page(&console, &mut visit).await;
    };
    let companies = match approved_companies(&console, &mut visit, &token).await {
        Ok(companies) => companies,
        Err(response) => return response,
    };
    let form = PilotForm {
        title: pilot.title,
        title_en: pilot.title_en.unwrap_or_default(),
        lead_company_id: pilot.lead_company.id,
        domain: format!("{:?}", pilot.domain),
        site: pilot.site,
        starts_on: pilot.starts_on,
        ends_on: pilot.ends_on,
        budget_national: pilot.budget_national.to_string(),
        budget_city: pilot.budget_city.to_string(),
        budget_private: pilot.budget_private.to_string(),
        regulatory_sandbox: if pilot.regulatory_sandbox {
            "on".into()
        } else {
            String::new()
        },
        sandbox_reference: pilot.sandbox_reference.unwrap_or_default(),
        summary: pilot.summary.unwrap_or_default(),
        ..PilotForm::default()
    };
    let fields = pilot_fields(visit.lang, &form, &companies);
    let view = FormView {
        action: format!("/my-pilots/{id}/edit"),
        heading_key: "pilot-edit",
        error: None,
        fields,
        status: StatusCode::OK,
    };
    show_form(&console, &mut visit, view).await
}

#[derive(Template)]
#[template(path = "my_pilot.html")]
struct PilotPage {
    layout: Layout,
    /// Where "back" goes: the firm's list, or a manager's worklist.
    back: (&'static str, String),
    /// A manager's decision form, on the worklist's copy of the page.
    decision: Option<Decision>,
    id: String,
    title: String,
    status: String,
    error: Option<String>,
    details: Vec<(String, String)>,
    can_edit: bool,
    can_start: bool,
    /// The lead company may invite partners and add milestones.
    can_manage: bool,
    invitations: Vec<InvitationRow>,
    participants: Vec<ParticipantRow>,
    partners: PartnerResults,
    milestones: Vec<MilestoneRow>,
    milestone: MilestoneForm,
    vouchers: Vec<VoucherRow>,
    reports: Vec<ReportRow>,
    history: Vec<HistoryEntry>,
    /// Plans, agreements and the office's papers.
    documents: Documents,
}

pub struct ParticipantRow {
    name: String,
    role: String,
    state: String,
}

pub struct MilestoneRow {
    id: String,
    title: String,
    due: String,
    done: Option<String>,
    evidence: Option<String>,
    overdue: bool,
    /// Its evidence files, and the field to add one while it is open.
    files: Documents,
}

pub struct VoucherRow {
    id: String,
    code: String,
    granted: String,
    balance: String,
    status: String,
}

pub struct ReportRow {
    id: String,
    period: String,
    version: i64,
    status: String,
}

/// The partner search and its results (also the htmx fragment).
#[derive(Template, Default)]
#[template(path = "partner_results.html")]
pub struct PartnerResults {
    pilot_id: String,
    query: String,
    searched: bool,
    rows: Vec<PartnerRow>,
    csrf: String,
    lang: Lang,
}

impl PartnerResults {
    fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }
}

pub struct PartnerRow {
    id: String,
    name: String,
    name_en: Option<String>,
    sector: String,
}

/// The milestone form as typed.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct MilestoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    due_on: String,
    #[serde(skip)]
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PilotQuery {
    /// A partner company's name to look for.
    q: Option<String>,
}

/// What differs when the page is shown again after an action.
#[derive(Default)]
pub(crate) struct PageState {
    pub error: Option<String>,
    pub partners: Option<PartnerResults>,
    pub milestone: MilestoneForm,
    /// Shown to a manager deciding on the pilot (`/review/pilots/{id}`).
    pub decision: Option<Decision>,
}

pub(crate) async fn show_pilot(
    console: &Console,
    visit: &mut Visit,
    data: pilot_work::ResponseData,
    state: PageState,
    status: StatusCode,
) -> Response {
    use pilot_work::{ParticipantState, PilotStatus};
    let lang = visit.lang;
    let Some(pilot) = data.pilot else {
        return not_found_page(console, visit).await;
    };
    let mine: Vec<(String, String)> = data
        .me
        .map(|me| me.companies)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.id, c.name_ko))
        .collect();
    let is_mine = |id: &str| mine.iter().any(|(own, _)| own == id);
    let is_lead = is_mine(&pilot.lead_company.id);
    let not_over = matches!(
        pilot.status,
        PilotStatus::DRAFT
            | PilotStatus::SUBMITTED
            | PilotStatus::APPROVED
            | PilotStatus::ACTIVE
            | PilotStatus::SUSPENDED
    );
    let dash = || "-".to_owned();
    let details = vec![
        (
            lang.t("pilot-domain"),
            lang.t(&label_key("domain", &format!("{:?}", pilot.domain))),
        ),
        (lang.t("pilot-lead"), pilot.lead_company.name_ko.clone()),
        (lang.t("pilot-site"), pilot.site.clone()),
        (
            lang.t("pilot-period"),
            format!("{} ~ {}", pilot.starts_on, pilot.ends_on),
        ),
        (lang.t("pilot-budget-national"), won(pilot.budget_national)),
        (lang.t("pilot-budget-city"), won(pilot.budget_city)),
        (lang.t("pilot-budget-private"), won(pilot.budget_private)),
        (
            lang.t("pilot-sandbox"),
            match (pilot.regulatory_sandbox, &pilot.sandbox_reference) {
                (true, Some(reference)) => format!("{} ({reference})", lang.t("yes")),
                (true, None) => lang.t("yes"),
                (false, _) => lang.t("no"),
            },
        ),
        (
            lang.t("pilot-summary"),
            pilot.summary.clone().unwrap_or_else(dash),
        ),
    ];
    let invitations = pilot
        .participants
        .iter()
        .filter(|p| is_mine(&p.company.id) && matches!(p.state, ParticipantState::INVITED))
        .map(|p| InvitationRow {
            pilot_id: pilot.id.clone(),
            pilot_title: pilot.title.clone(),
            company_id: p.company.id.clone(),
            company_name: p.company.name_ko.clone(),
            lead: pilot.lead_company.name_ko.clone(),
            role: p.role.clone(),
        })
        .collect();
    let participants = pilot
        .participants
        .iter()
        .map(|p| ParticipantRow {
            name: p.company.name_ko.clone(),
            // A role is free text; the two the platform itself writes are shown in words.
            role: match p.role.as_str() {
                "lead" => lang.t("pilot-ours-lead"),
                "partner" => lang.t("pilot-invite-role-default"),
                other => other.to_owned(),
            },
            state: lang.t(&label_key("participant-state", &format!("{:?}", p.state))),
        })
        .collect();
    // Documents: the firm's while it prepares the pilot (and agreements once it runs), the
    // office's while it reviews; a milestone's evidence while it is open and the pilot runs.
    let manager_view = state.decision.is_some();
    let page_path = if manager_view {
        format!("/review/pilots/{}", pilot.id)
    } else {
        format!("/my-pilots/{}", pilot.id)
    };
    let allowed = if manager_view {
        Allowed {
            upload: matches!(
                pilot.status,
                PilotStatus::SUBMITTED | PilotStatus::APPROVED | PilotStatus::ACTIVE
            ),
            delete_own: matches!(pilot.status, PilotStatus::SUBMITTED),
        }
    } else {
        Allowed {
            upload: matches!(
                pilot.status,
                PilotStatus::DRAFT | PilotStatus::APPROVED | PilotStatus::ACTIVE
            ),
            delete_own: matches!(pilot.status, PilotStatus::DRAFT),
        }
    };
    let found = |documents: &[pilot_work::DocumentFields]| -> Vec<documents::Found> {
        documents.iter().map(documents::Found::from).collect()
    };
    let mut documents = documents::from_found(
        console,
        visit,
        found(&pilot.documents),
        (Kind::Pilot, &pilot.id, None),
        allowed,
        &page_path,
    );
    if manager_view {
        documents = documents.with_note(lang.t("documents-staff-note"));
    }
    let milestones = pilot
        .milestones
        .iter()
        .map(|m| {
            let open = m.completed_at.is_none() && matches!(pilot.status, PilotStatus::ACTIVE);
            MilestoneRow {
                id: m.id.clone(),
                title: m.title.clone(),
                due: m.due_on.clone(),
                done: m.completed_at.as_deref().map(kst),
                evidence: m.evidence.clone().filter(|e| !e.is_empty()),
                overdue: m.overdue,
                files: documents::from_found(
                    console,
                    visit,
                    found(&m.documents),
                    (Kind::Milestone, &m.id, Some(&pilot.id)),
                    Allowed::while_open(open && !manager_view),
                    &page_path,
                ),
            }
        })
        .collect();
    let vouchers = pilot
        .vouchers
        .iter()
        .map(|v| {
            let kind = format!("{:?}", v.kind);
            VoucherRow {
                id: v.id.clone(),
                code: v.code.clone(),
                granted: format!(
                    "{} · {}",
                    lang.t(&label_key("resource", &kind)),
                    amount(lang, &kind, v.granted)
                ),
                balance: amount(lang, &kind, v.balance),
                status: lang.t(&label_key("voucher-status", &format!("{:?}", v.status))),
            }
        })
        .collect();
    let reports = pilot
        .outcome_reports
        .iter()
        .map(|r| ReportRow {
            id: r.id.clone(),
            period: format!("{} ~ {}", r.period_start, r.period_end),
            version: r.version,
            status: lang.t(&label_key("report-status", &format!("{:?}", r.status))),
        })
        .collect();
    let history = pilot
        .history
        .iter()
        .map(|h| {
            HistoryEntry::new(
                lang,
                "status",
                &h.to,
                &h.at,
                h.by_name.clone(),
                h.note.clone(),
            )
        })
        .collect();
    let csrf = visit.session_or_start().csrf.clone();
    let partners = state.partners.unwrap_or_else(|| PartnerResults {
        pilot_id: pilot.id.clone(),
        lang,
        csrf: csrf.clone(),
        ..PartnerResults::default()
    });
    let (section, back) = if state.decision.is_some() {
        ("review", ("/review", lang.t("review-back")))
    } else {
        ("my-pilots", ("/my-pilots", lang.t("my-pilots-back")))
    };
    let page = PilotPage {
        layout: visit.layout(console, pilot.title.clone(), section),
        back,
        decision: state.decision,
        status: lang.t(&label_key("status", &format!("{:?}", pilot.status))),
        can_edit: is_lead && matches!(pilot.status, PilotStatus::DRAFT),
        can_start: is_lead && matches!(pilot.status, PilotStatus::APPROVED),
        can_manage: is_lead && not_over,
        id: pilot.id,
        title: pilot.title,
        error: state.error,
        details,
        invitations,
        participants,
        partners,
        milestones,
        milestone: state.milestone,
        vouchers,
        reports,
        history,
        documents,
    };
    visit.respond(console, status, render(&page)).await
}

/// Directory search for partners by name (at least two characters, so a single letter does
/// not list the whole directory).
async fn search_partners(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    pilot_id: &str,
    query: &str,
) -> Result<PartnerResults, ApiError> {
    let query = query.trim();
    let csrf = visit.session_or_start().csrf.clone();
    let mut results = PartnerResults {
        pilot_id: pilot_id.to_owned(),
        query: query.to_owned(),
        searched: query.chars().count() >= 2,
        rows: Vec::new(),
        csrf,
        lang: visit.lang,
    };
    if !results.searched {
        return Ok(results);
    }
    let data = console
        .api
        .run::<api::PartnerSearch>(
            Some(token),
            &visit.client_address,
            api::partner_search::Variables {
                text: query.to_owned(),
            },
        )
        .await?;
    results.rows = data
        .company_directory
        .edges
        .into_iter()
        .map(|e| PartnerRow {
            id: e.node.id,
            name: e.node.name_ko,
            name_en: e.node.name_en,
            sector: visit
                .lang
                .t(&label_key("sector", &format!("{:?}", e.node.sector))),
        })
        .collect();
    Ok(results)
}

pub async fn detail(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Query(query): Query<PilotQuery>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let data = match load(&console, &mut visit, &token, &id).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let mut state = PageState::default();
    if let Some(q) = query.q {
        match search_partners(&console, &mut visit, &token, &id, &q).await {
            Ok(results) => state.partners = Some(results),
            Err(error) => return error_page(&console, &mut visit, &error).await,
        }
    }
    show_pilot(&console, &mut visit, data, state, StatusCode::OK).await
}

/// htmx: the partner search's results as the name is typed.
pub async fn partners(
    State(console): State<Console>,
    mut visit: Visit,
    HxRequest(htmx): HxRequest,
    Path(id): Path<String>,
    Query(query): Query<PilotQuery>,
) -> Response {
    if !htmx {
        let q = query.q.unwrap_or_default();
        let back = format!(
            "/my-pilots/{id}?q={}#participants",
            super::pilots::urlencode(&q)
        );
        return visit.redirect(&console, &back).await;
    }
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let q = query.q.unwrap_or_default();
    match search_partners(&console, &mut visit, &token, &id, &q).await {
        Ok(results) => {
            let fragment: Html<String> = render(&results);
            visit.respond(&console, StatusCode::OK, fragment).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

/// After an action on the pilot page: back to the page with a notice, or the page again with
/// why the API refused (in the person's language).
async fn after_action(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
    result: Result<(), ApiError>,
    notice: &str,
    mut state: PageState,
) -> Response {
    match result {
        Ok(()) => {
            visit
                .redirect_with_notice(console, notice, &format!("/my-pilots/{id}"))
                .await
        }
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT" | "FAILED_PRECONDITION" | "CONFLICT" | "NOT_ELIGIBLE"
            ) =>
        {
            let message = visit.explain(&error);
            if state.milestone.error.is_none() && !state.milestone.title.is_empty() {
                state.milestone.error = Some(message.clone());
            }
            state.error = Some(message);
            match load(console, visit, token, id).await {
                Ok(data) => show_pilot(console, visit, data, state, StatusCode::BAD_REQUEST).await,
                Err(response) => response,
            }
        }
        Err(error) => error_page(console, visit, &error).await,
    }
}

/// A step the lead company takes from its pilot's page.
enum Step {
    Submit,
    Start,
}

async fn take_step(
    console: Console,
    mut visit: Visit,
    id: String,
    form: CsrfOnly,
    step: Step,
) -> Response {
    let back = format!("/my-pilots/{id}");
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &back)
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let address = visit.client_address.as_str();
    let (result, notice) = match step {
        Step::Submit => (
            console
                .api
                .run::<api::SubmitPilot>(
                    Some(&token),
                    address,
                    api::submit_pilot::Variables { id: id.clone() },
                )
                .await
                .map(|_| ()),
            "notice-pilot-submitted",
        ),
        Step::Start => (
            console
                .api
                .run::<api::StartPilot>(
                    Some(&token),
                    address,
                    api::start_pilot::Variables { id: id.clone() },
                )
                .await
                .map(|_| ()),
            "notice-pilot-started",
        ),
    };
    after_action(
        &console,
        &mut visit,
        &token,
        &id,
        result,
        notice,
        PageState::default(),
    )
    .await
}

pub async fn submit(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    take_step(console, visit, id, form, Step::Submit).await
}

pub async fn start(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    take_step(console, visit, id, form, Step::Start).await
}

#[derive(Deserialize, Serialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    company_id: String,
    #[serde(default)]
    role: String,
    /// The search the invitation came from, to show it again after a refusal.
    #[serde(default)]
    q: String,
}

pub async fn invite(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<InviteForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &format!("/my-pilots/{id}"))
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let role = match form.role.trim() {
        "" => lang.t("pilot-invite-role-default"),
        role => role.to_owned(),
    };
    let result = console
        .api
        .run::<api::InvitePartner>(
            Some(&token),
            &visit.client_address,
            api::invite_partner::Variables {
                pilot_id: id.clone(),
                company_id: form.company_id.clone(),
                role,
            },
        )
        .await
        .map(|_| ());
    let mut state = PageState::default();
    if result.is_err() {
        state.partners = search_partners(&console, &mut visit, &token, &id, &form.q)
            .await
            .ok();
    }
    after_action(
        &console,
        &mut visit,
        &token,
        &id,
        result,
        "notice-partner-invited",
        state,
    )
    .await
}

#[derive(Deserialize, Serialize, Default)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    company_id: String,
    /// `accept` or `decline`.
    #[serde(default)]
    answer: String,
    #[serde(default)]
    note: String,
}

/// A member of an invited company answers the invitation.
pub async fn answer(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, "/my-pilots")
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let (result, notice, back) = if form.answer == "accept" {
        let result = console
            .api
            .run::<api::AcceptInvitation>(
                Some(&token),
                &visit.client_address,
                api::accept_invitation::Variables {
                    pilot_id: id.clone(),
                    company_id: form.company_id.clone(),
                },
            )
            .await
            .map(|_| ());
        (
            result,
            "notice-invitation-accepted",
            format!("/my-pilots/{id}"),
        )
    } else {
        let result = console
            .api
            .run::<api::DeclineInvitation>(
                Some(&token),
                &visit.client_address,
                api::decline_invitation::Variables {
                    pilot_id: id.clone(),
                    company_id: form.company_id.clone(),
                    note: optional_text(&form.note),
                },
            )
            .await
            .map(|_| ());
        (
            result,
            "notice-invitation-declined",
            "/my-pilots".to_owned(),
        )
    };
    match result {
        Ok(()) => visit.redirect_with_notice(&console, notice, &back).await,
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

pub async fn add_milestone(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Form(mut form): Form<MilestoneForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &format!("/my-pilots/{id}"))
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let due = chrono::NaiveDate::parse_from_str(form.due_on.trim(), "%Y-%m-%d");
    let problem = if form.title.trim().is_empty() {
        Some(lang.t("pilot-milestone-needs-title"))
    } else if due.is_err() {
        Some(lang.t("field-date"))
    } else {
        None
    };
    if let Some(problem) = problem {
        form.error = Some(problem.clone());
        let state = PageState {
            error: Some(problem),
            milestone: form,
            ..PageState::default()
        };
        return match load(&console, &mut visit, &token, &id).await {
            Ok(data) => {
                show_pilot(&console, &mut visit, data, state, StatusCode::BAD_REQUEST).await
            }
            Err(response) => response,
        };
    }
    let result = console
        .api
        .run::<api::AddMilestone>(
            Some(&token),
            &visit.client_address,
            api::add_milestone::Variables {
                pilot_id: id.clone(),
                input: api::add_milestone::MilestoneInput {
                    title: form.title.trim().to_owned(),
                    due_on: form.due_on.trim().to_owned(),
                },
            },
        )
        .await
        .map(|_| ());
    let state = PageState {
        milestone: form,
        ..PageState::default()
    };
    after_action(
        &console,
        &mut visit,
        &token,
        &id,
        result,
        "notice-milestone-added",
        state,
    )
    .await
}

#[derive(Deserialize, Serialize, Default)]
pub struct EvidenceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    evidence: String,
}

pub async fn complete_milestone(
    State(console): State<Console>,
    mut visit: Visit,
    Path((id, milestone_id)): Path<(String, String)>,
    Form(form): Form<EvidenceForm>,
) -> Response {
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &format!("/my-pilots/{id}"))
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let result = console
        .api
        .run::<api::CompleteMilestone>(
            Some(&token),
            &visit.client_address,
            api::complete_milestone::Variables {
                pilot_id: id.clone(),
                milestone_id,
                evidence: optional_text(&form.evidence),
            },
        )
        .await
        .map(|_| ());
    after_action(
        &console,
        &mut visit,
        &token,
        &id,
        result,
        "notice-milestone-completed",
        PageState::default(),
    )
    .await
}

impl From<&pilot_work::DocumentFields> for documents::Found {
    fn from(d: &pilot_work::DocumentFields) -> Self {
        Self {
            id: d.id.clone(),
            file_name: d.file_name.clone(),
            size: d.size,
            uploaded_at: d.uploaded_at.clone(),
            scan_status: format!("{:?}", d.scan_status),
            uploaded_by_id: d.uploaded_by.id.clone(),
            uploaded_by_name: d.uploaded_by.name.clone(),
        }
    }
}
