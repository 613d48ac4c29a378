//! 성과 보고: the firm's outcome reports. Which quarters are due or overdue, the quarterly form
//! (save a draft, submit), a returned report edited and submitted again, a verified one
//! amended, and every version of a period with its review. Another firm's report is a 404
//! page, as the API says NOT_FOUND.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    HistoryEntry, Timeline,
    documents::{self, Allowed, Documents, Kind},
    error_page,
    form::{CsrfOnly, Field, FormPage, place_error, read_number},
    label_key, not_found_page,
    review::Decision,
    vouchers::amount,
};
use crate::{
    Console, Layout, Visit,
    api::{self, ApiError, report_detail},
    format::{grouped, won},
    i18n::Lang,
    render,
};

/// The figures of a report: (form field, API input name, label key, in won).
const FIGURES: [(&str, &str, &str, bool); 9] = [
    (
        "models_developed",
        "modelsDeveloped",
        "report-models-developed",
        false,
    ),
    (
        "models_improved",
        "modelsImproved",
        "report-models-improved",
        false,
    ),
    (
        "models_commercialized",
        "modelsCommercialized",
        "report-models-commercialized",
        false,
    ),
    ("revenue_krw", "revenueKrw", "report-revenue", true),
    ("investment_krw", "investmentKrw", "report-investment", true),
    (
        "patents_filed",
        "patentsFiled",
        "report-patents-filed",
        false,
    ),
    (
        "patents_registered",
        "patentsRegistered",
        "report-patents-registered",
        false,
    ),
    ("papers", "papers", "report-papers", false),
    ("new_hires", "newHires", "report-new-hires", false),
];

/// What the person typed into the report form, kept through every refusal.
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct ReportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pilot_id: String,
    #[serde(default)]
    period_start: String,
    #[serde(default)]
    period_end: String,
    #[serde(default)]
    models_developed: String,
    #[serde(default)]
    models_improved: String,
    #[serde(default)]
    models_commercialized: String,
    #[serde(default)]
    revenue_krw: String,
    #[serde(default)]
    investment_krw: String,
    #[serde(default)]
    patents_filed: String,
    #[serde(default)]
    patents_registered: String,
    #[serde(default)]
    papers: String,
    #[serde(default)]
    new_hires: String,
    #[serde(default)]
    evidence: String,
    /// `draft` or `submit`.
    #[serde(default)]
    action: String,
}

impl ReportForm {
    fn figure(&self, name: &str) -> &str {
        match name {
            "models_developed" => &self.models_developed,
            "models_improved" => &self.models_improved,
            "models_commercialized" => &self.models_commercialized,
            "revenue_krw" => &self.revenue_krw,
            "investment_krw" => &self.investment_krw,
            "patents_filed" => &self.patents_filed,
            "patents_registered" => &self.patents_registered,
            "papers" => &self.papers,
            "new_hires" => &self.new_hires,
            _ => "",
        }
    }
}

fn report_fields(lang: Lang, form: &ReportForm) -> Vec<Field> {
    let mut fields: Vec<Field> = FIGURES
        .iter()
        .map(|(name, _, label, in_won)| {
            // Empty is 0: most quarters have no patent or paper to report.
            let field = Field::number(lang, name, label)
                .value(form.figure(name))
                .not_required();
            if *in_won {
                field.hint(lang.t("pilot-form-won-hint"))
            } else {
                field
            }
        })
        .collect();
    let mut evidence = Field::optional(lang, "evidence", "report-evidence")
        .value(&form.evidence)
        .hint(lang.t("report-evidence-hint"));
    evidence.kind = "textarea";
    fields.push(evidence);
    fields
}

/// The figures, checked; one number per [`FIGURES`] entry.
fn figures(lang: Lang, fields: &mut [Field]) -> Option<[i64; 9]> {
    let mut values = [0i64; 9];
    let mut ok = true;
    for (i, (name, _, _, _)) in FIGURES.iter().enumerate() {
        ok &= read_number(lang, fields, name, &mut values[i]);
    }
    ok.then_some(values)
}

macro_rules! report_input {
    ($($module:ident),+) => {$(
        impl api::$module::OutcomeReportInput {
            fn of(form: &ReportForm, v: [i64; 9]) -> Self {
                // Counts fit an Int; the API refuses absurd ones with BAD_USER_INPUT anyway.
                let count = |n: i64| i64::min(n, i64::from(i32::MAX));
                Self {
                    pilot_id: form.pilot_id.clone(),
                    period_start: form.period_start.clone(),
                    period_end: form.period_end.clone(),
                    models_developed: count(v[0]),
                    models_improved: count(v[1]),
                    models_commercialized: count(v[2]),
                    revenue_krw: v[3],
                    investment_krw: v[4],
                    patents_filed: count(v[5]),
                    patents_registered: count(v[6]),
                    papers: count(v[7]),
                    new_hires: count(v[8]),
                    evidence: Some(form.evidence.trim().to_owned()).filter(|e| !e.is_empty()),
                }
            }
        }
    )+};
}

report_input!(create_report, update_report);

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    due: Vec<DueRow>,
    rows: Vec<ReportRow>,
}

pub struct DueRow {
    pilot_id: String,
    pilot: String,
    company: String,
    period_start: String,
    period_end: String,
    overdue: bool,
}

pub struct ReportRow {
    id: String,
    pilot: String,
    period: String,
    version: i64,
    status: String,
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::ReportHome>(
            Some(&token),
            &visit.client_address,
            api::report_home::Variables,
        )
        .await;
    let data = match answer {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let due = data
        .due_outcome_reports
        .into_iter()
        .map(|d| DueRow {
            pilot_id: d.pilot_id,
            pilot: d.pilot_title,
            company: d.company.map(|c| c.name_ko).unwrap_or_default(),
            period_start: d.period_start,
            period_end: d.period_end,
            overdue: d.overdue,
        })
        .collect();
    let rows = data
        .outcome_reports
        .edges
        .into_iter()
        .map(|e| ReportRow {
            id: e.node.id,
            pilot: e.node.pilot.title,
            period: format!("{} ~ {}", e.node.period_start, e.node.period_end),
            version: e.node.version,
            status: lang.t(&label_key("report-status", &format!("{:?}", e.node.status))),
        })
        .collect();
    let title = lang.t("reports-title");
    let page = ReportsPage {
        layout: visit.layout(&console, title, "reports"),
        due,
        rows,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

struct FormView {
    action: String,
    heading: String,
    error: Option<String>,
    form: ReportForm,
    fields: Vec<Field>,
    status: StatusCode,
}

async fn show_form(console: &Console, visit: &mut Visit, view: FormView) -> Response {
    let lang = visit.lang;
    visit.session_or_start();
    let intro = lang.t_with(
        "report-form-intro",
        &[
            ("start", view.form.period_start.clone()),
            ("end", view.form.period_end.clone()),
        ],
    );
    let page = FormPage {
        layout: visit.layout(console, view.heading.clone(), "reports"),
        heading: view.heading,
        intro: Some(intro),
        action: view.action,
        hidden: vec![
            ("pilot_id".into(), view.form.pilot_id.clone()),
            ("period_start".into(), view.form.period_start.clone()),
            ("period_end".into(), view.form.period_end.clone()),
        ],
        submit: lang.t("report-form-submit"),
        draft: Some(lang.t("report-form-draft")),
        error: view.error,
        fields: view.fields,
        aside: Vec::new(),
    };
    visit.respond(console, view.status, render(&page)).await
}

#[derive(Deserialize, Default)]
pub struct NewReport {
    #[serde(default)]
    pilot: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
}

/// The pilot's title, or the 404 page for a pilot the person may not report on.
async fn pilot_title(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    pilot_id: &str,
) -> Result<String, Response> {
    let answer = console
        .api
        .run::<api::ReportPilot>(
            Some(token),
            &visit.client_address,
            api::report_pilot::Variables {
                id: pilot_id.to_owned(),
            },
        )
        .await;
    match answer {
        Ok(data) => match data.pilot {
            Some(pilot) => Ok(pilot.title),
            None => Err(not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

pub async fn new_form(
    State(console): State<Console>,
    mut visit: Visit,
    Query(new): Query<NewReport>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let title = match pilot_title(&console, &mut visit, &token, &new.pilot).await {
        Ok(title) => title,
        Err(response) => return response,
    };
    let zero = || "0".to_owned();
    let form = ReportForm {
        pilot_id: new.pilot,
        period_start: new.start,
        period_end: new.end,
        models_developed: zero(),
        models_improved: zero(),
        models_commercialized: zero(),
        revenue_krw: zero(),
        investment_krw: zero(),
        patents_filed: zero(),
        patents_registered: zero(),
        papers: zero(),
        new_hires: zero(),
        ..ReportForm::default()
    };
    let fields = report_fields(visit.lang, &form);
    let view = FormView {
        action: "/reports".into(),
        heading: visit.lang.t_with("report-new", &[("pilot", title)]),
        error: None,
        form,
        fields,
        status: StatusCode::OK,
    };
    show_form(&console, &mut visit, view).await
}

/// Files (or, with `id`, updates) the report as typed; then submits it when that was the
/// button pressed. A refusal shows the form again with everything typed.
async fn save(
    console: Console,
    mut visit: Visit,
    id: Option<String>,
    form: ReportForm,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let (action, heading) = match &id {
        Some(id) => (format!("/reports/{id}/edit"), lang.t("report-edit")),
        None => ("/reports".to_owned(), lang.t("reports-title")),
    };
    let mut fields = report_fields(lang, &form);
    let view = |form: &ReportForm, fields, error, status| FormView {
        action: action.clone(),
        heading: heading.clone(),
        error: Some(error),
        form: form.clone(),
        fields,
        status,
    };
    if !visit.posted_by_session(&form.csrf) {
        let view = view(
            &form,
            fields,
            lang.t("notice-stale-form"),
            StatusCode::FORBIDDEN,
        );
        return show_form(&console, &mut visit, view).await;
    }
    let Some(values) = figures(lang, &mut fields) else {
        let view = view(
            &form,
            fields,
            lang.t("form-fix-fields"),
            StatusCode::BAD_REQUEST,
        );
        return show_form(&console, &mut visit, view).await;
    };
    let saved = match &id {
        None => console
            .api
            .run::<api::CreateReport>(
                Some(&token),
                &visit.client_address,
                api::create_report::Variables {
                    input: api::create_report::OutcomeReportInput::of(&form, values),
                },
            )
            .await
            .map(|data| data.create_outcome_report.id),
        Some(id) => console
            .api
            .run::<api::UpdateReport>(
                Some(&token),
                &visit.client_address,
                api::update_report::Variables {
                    id: id.clone(),
                    input: api::update_report::OutcomeReportInput::of(&form, values),
                },
            )
            .await
            .map(|data| data.update_outcome_report.id),
    };
    let api_fields: Vec<(&str, &'static str)> = FIGURES
        .iter()
        .map(|(form, api, _, _)| (*api, *form))
        .collect();
    let report_id = match saved {
        Ok(report_id) => report_id,
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT" | "FAILED_PRECONDITION" | "CONFLICT"
            ) =>
        {
            let message = place_error(lang, &error, &mut fields, &api_fields);
            let view = view(&form, fields, message, StatusCode::BAD_REQUEST);
            return show_form(&console, &mut visit, view).await;
        }
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let notice = if form.action == "submit" {
        match submit_report(&console, &visit, &token, &report_id).await {
            Ok(()) => "notice-report-submitted",
            Err(error) => return error_page(&console, &mut visit, &error).await,
        }
    } else {
        "notice-report-saved"
    };
    visit
        .redirect_with_notice(&console, notice, &format!("/reports/{report_id}"))
        .await
}

async fn submit_report(
    console: &Console,
    visit: &Visit,
    token: &str,
    id: &str,
) -> Result<(), ApiError> {
    console
        .api
        .run::<api::SubmitReport>(
            Some(token),
            &visit.client_address,
            api::submit_report::Variables { id: id.to_owned() },
        )
        .await
        .map(|_| ())
}

pub async fn create(
    State(console): State<Console>,
    visit: Visit,
    Form(form): Form<ReportForm>,
) -> Response {
    save(console, visit, None, form).await
}

pub async fn update(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<ReportForm>,
) -> Response {
    save(console, visit, Some(id), form).await
}

pub(crate) async fn load(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
) -> Result<report_detail::ReportDetailOutcomeReport, Response> {
    let answer = console
        .api
        .run::<api::ReportDetail>(
            Some(token),
            &visit.client_address,
            report_detail::Variables { id: id.to_owned() },
        )
        .await;
    match answer {
        Ok(data) => match data.outcome_report {
            Some(report) => Ok(report),
            None => Err(not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

fn is_editable(status: &report_detail::ReportStatus) -> bool {
    matches!(
        status,
        report_detail::ReportStatus::DRAFT | report_detail::ReportStatus::RETURNED
    )
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
    let report = match load(&console, &mut visit, &token, &id).await {
        Ok(report) => report,
        Err(response) => return response,
    };
    if !is_editable(&report.status) {
        return visit.redirect(&console, &format!("/reports/{id}")).await;
    }
    let form = ReportForm {
        pilot_id: report.pilot.id,
        period_start: report.period_start,
        period_end: report.period_end,
        models_developed: report.models_developed.to_string(),
        models_improved: report.models_improved.to_string(),
        models_commercialized: report.models_commercialized.to_string(),
        revenue_krw: report.revenue_krw.to_string(),
        investment_krw: report.investment_krw.to_string(),
        patents_filed: report.patents_filed.to_string(),
        patents_registered: report.patents_registered.to_string(),
        papers: report.papers.to_string(),
        new_hires: report.new_hires.to_string(),
        evidence: report.evidence.unwrap_or_default(),
        ..ReportForm::default()
    };
    let fields = report_fields(visit.lang, &form);
    let view = FormView {
        action: format!("/reports/{id}/edit"),
        heading: visit.lang.t("report-edit"),
        error: None,
        form,
        fields,
        status: StatusCode::OK,
    };
    show_form(&console, &mut visit, view).await
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    layout: Layout,
    id: String,
    pilot_id: String,
    pilot: String,
    period: String,
    version: i64,
    status: String,
    error: Option<String>,
    /// Label, this report's value, the previous quarter's verified value.
    figures: Vec<(String, String, Option<String>)>,
    /// The previous quarter's verified report, when there is one: its period.
    previous: Option<String>,
    evidence: Option<String>,
    /// Where "back" goes: the firm's reports, or a manager's worklist.
    back: (&'static str, String),
    /// A manager's decision form, on the worklist's copy of the page.
    decision: Option<Decision>,
    editable: bool,
    amendable: bool,
    versions: Vec<VersionRow>,
    documents: Documents,
}

pub struct VersionRow {
    id: String,
    version: i64,
    status: String,
    current: bool,
    timeline: Timeline,
}

/// A report's ten figures as shown, in the order of `FIGURE_LABELS`.
fn figure_cells(lang: Lang, v: [i64; 10]) -> [String; 10] {
    let count = |n: i64| lang.t_with("unit-count", &[("n", grouped(n))]);
    [
        count(v[0]),
        count(v[1]),
        count(v[2]),
        won(v[3]),
        won(v[4]),
        count(v[5]),
        count(v[6]),
        count(v[7]),
        lang.t_with("unit-people", &[("n", grouped(v[8]))]),
        amount(lang, "GPU_H100", v[9]),
    ]
}

const FIGURE_LABELS: [&str; 10] = [
    "report-models-developed",
    "report-models-improved",
    "report-models-commercialized",
    "report-revenue",
    "report-investment",
    "report-patents-filed",
    "report-patents-registered",
    "report-papers",
    "report-new-hires",
    "report-compute",
];

/// The verified report of the quarter before `period_start` (its newest version): its period
/// and figures, for the page to show beside the report's own.
async fn previous_quarter(
    console: &Console,
    visit: &Visit,
    token: &str,
    pilot_id: &str,
    period_start: &str,
) -> Result<Option<(String, [i64; 10])>, ApiError> {
    let data = console
        .api
        .run::<api::VerifiedReports>(
            Some(token),
            &visit.client_address,
            api::verified_reports::Variables {
                pilot_id: pilot_id.to_owned(),
            },
        )
        .await?;
    Ok(data
        .outcome_reports
        .edges
        .into_iter()
        .map(|e| e.node)
        // Dates are YYYY-MM-DD, so their text orders as the days do.
        .filter(|r| r.period_end.as_str() < period_start)
        .max_by(|a, b| (&a.period_start, a.version).cmp(&(&b.period_start, b.version)))
        .map(|r| {
            (
                format!("{} ~ {}", r.period_start, r.period_end),
                [
                    r.models_developed,
                    r.models_improved,
                    r.models_commercialized,
                    r.revenue_krw,
                    r.investment_krw,
                    r.patents_filed,
                    r.patents_registered,
                    r.papers,
                    r.new_hires,
                    r.compute_consumed,
                ],
            )
        }))
}

pub(crate) async fn show_report(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    report: report_detail::ReportDetailOutcomeReport,
    error: Option<String>,
    decision: Option<Decision>,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::ReportVersions>(
            Some(token),
            &visit.client_address,
            api::report_versions::Variables {
                pilot_id: report.pilot.id.clone(),
            },
        )
        .await;
    let mut versions: Vec<VersionRow> = match answer {
        Ok(data) => data
            .outcome_reports
            .edges
            .into_iter()
            .map(|e| e.node)
            .filter(|r| r.period_start == report.period_start && r.period_end == report.period_end)
            .map(|r| VersionRow {
                current: r.id == report.id,
                status: lang.t(&label_key("report-status", &format!("{:?}", r.status))),
                timeline: Timeline {
                    history: r
                        .history
                        .iter()
                        .map(|h| {
                            HistoryEntry::new(
                                lang,
                                "report-status",
                                &h.to,
                                &h.at,
                                h.by_name.clone(),
                                h.note.clone(),
                            )
                        })
                        .collect(),
                },
                id: r.id,
                version: r.version,
            })
            .collect(),
        Err(error) => return error_page(console, visit, &error).await,
    };
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let previous = match previous_quarter(
        console,
        visit,
        token,
        &report.pilot.id,
        &report.period_start,
    )
    .await
    {
        Ok(previous) => previous,
        Err(error) => return error_page(console, visit, &error).await,
    };
    let current = figure_cells(
        lang,
        [
            report.models_developed,
            report.models_improved,
            report.models_commercialized,
            report.revenue_krw,
            report.investment_krw,
            report.patents_filed,
            report.patents_registered,
            report.papers,
            report.new_hires,
            report.compute_consumed,
        ],
    );
    let before = previous.as_ref().map(|(_, v)| figure_cells(lang, *v));
    let figures = FIGURE_LABELS
        .iter()
        .zip(current)
        .enumerate()
        .map(|(n, (label, value))| {
            let was = before.as_ref().map(|b| b[n].clone());
            (lang.t(label), value, was)
        })
        .collect();
    let (section, back) = if decision.is_some() {
        ("review", ("/review", lang.t("review-back")))
    } else {
        ("reports", ("/reports", lang.t("reports-back")))
    };
    // The firm's own steps (edit, submit, amend) are not a manager's.
    let firm_view = decision.is_none();
    // Evidence goes with this version while the firm prepares it; the manager adds papers of
    // the review while it is submitted.
    let takes_files = if firm_view {
        is_editable(&report.status)
    } else {
        matches!(report.status, report_detail::ReportStatus::SUBMITTED)
    };
    let page_path = if firm_view {
        format!("/reports/{}", report.id)
    } else {
        format!("/review/reports/{}", report.id)
    };
    let mut documents = documents::load(
        console,
        visit,
        token,
        (Kind::OutcomeReport, &report.id, None),
        Allowed::while_open(takes_files),
        &page_path,
    )
    .await;
    if !firm_view {
        documents = documents.with_note(lang.t("documents-staff-note"));
    }
    if report.version > 1 {
        // Each version keeps its own files; an amended report starts with none.
        documents = documents.with_note(lang.t("documents-earlier-versions"));
    }
    let page = ReportPage {
        layout: visit.layout(console, lang.t("report-title"), section),
        back,
        decision,
        previous: previous.map(|(period, _)| period),
        editable: firm_view && is_editable(&report.status),
        amendable: firm_view && matches!(report.status, report_detail::ReportStatus::VERIFIED),
        status: lang.t(&label_key("report-status", &format!("{:?}", report.status))),
        period: format!("{} ~ {}", report.period_start, report.period_end),
        pilot_id: report.pilot.id,
        pilot: report.pilot.title,
        version: report.version,
        id: report.id,
        error,
        figures,
        evidence: report.evidence.filter(|e| !e.is_empty()),
        versions,
        documents,
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
        Ok(report) => {
            show_report(
                &console,
                &mut visit,
                &token,
                report,
                None,
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(response) => response,
    }
}

/// Submitting or amending from the report's page.
async fn act(
    console: Console,
    mut visit: Visit,
    id: String,
    form: CsrfOnly,
    amend: bool,
) -> Response {
    let token = match visit
        .require_post_from_session(&console, &form, &form.csrf, &format!("/reports/{id}"))
        .await
    {
        Ok(token) => token,
        Err(response) => return response,
    };
    let done = if amend {
        console
            .api
            .run::<api::AmendReport>(
                Some(&token),
                &visit.client_address,
                api::amend_report::Variables { id: id.clone() },
            )
            .await
            .map(|data| (data.amend_outcome_report.id, "notice-report-amended"))
    } else {
        submit_report(&console, &visit, &token, &id)
            .await
            .map(|()| (id.clone(), "notice-report-submitted"))
    };
    match done {
        Ok((next, notice)) => {
            let to = if amend {
                format!("/reports/{next}/edit")
            } else {
                format!("/reports/{next}")
            };
            visit.redirect_with_notice(&console, notice, &to).await
        }
        Err(error) if matches!(error.code.as_str(), "FAILED_PRECONDITION" | "CONFLICT") => {
            let message = visit.explain(&error);
            match load(&console, &mut visit, &token, &id).await {
                Ok(report) => {
                    show_report(
                        &console,
                        &mut visit,
                        &token,
                        report,
                        Some(message),
                        None,
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

pub async fn submit(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    act(console, visit, id, form, false).await
}

pub async fn amend(
    State(console): State<Console>,
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    act(console, visit, id, form, true).await
}
