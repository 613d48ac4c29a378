//! Vouchers as a firm sees them, in hours (the API keeps seconds): its applications and
//! vouchers with balances, applying in an open programme with the cap and what is left for
//! each company beside the form, and one voucher's ledger, also as CSV for Excel.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    Choice,
    documents::{self, Allowed, Documents, Kind},
    error_page, label_key, not_found_page,
};
use crate::{
    Console, Layout, Visit,
    api::{self, apply_choices, apply_for_voucher, my_application, voucher_detail, voucher_home},
    exports::{CSV, csv_field, csv_start, csv_text, download},
    format::{grouped, hours, hours_precise, kst},
    i18n::Lang,
    render,
};

/// Compute is granted in seconds; people think in hours. Storage is in GB-days as it is.
pub(crate) fn amount(lang: Lang, kind: &str, base: i64) -> String {
    if kind == "STORAGE" {
        lang.t_with("unit-gb-days", &[("n", grouped(base))])
    } else {
        // Whole hours as such; anything else keeps one decimal (8.5 hours left is not 8).
        let shown = if base % 3600 == 0 {
            hours(base)
        } else {
            hours_precise(base)
        };
        lang.t_with("unit-hours", &[("n", shown)])
    }
}

pub struct VoucherRow {
    pub id: String,
    pub code: String,
    pub company: String,
    pub program: String,
    pub granted: String,
    pub balance: String,
    pub valid_until: String,
    pub status: String,
}

pub struct ApplicationRow {
    pub id: String,
    pub created: String,
    pub company: String,
    pub program: String,
    /// The pilot it is for: (id, title).
    pub pilot: Option<(String, String)>,
    pub requested: String,
    pub status: String,
    pub note: String,
    pub voucher_id: Option<String>,
}

#[derive(Template)]
#[template(path = "vouchers.html")]
struct VouchersPage {
    layout: Layout,
    vouchers: Vec<VoucherRow>,
    applications: Vec<ApplicationRow>,
}

pub struct ProgramRow {
    pub value: String,
    pub label: String,
    pub selected: bool,
    pub period: String,
    pub cap: String,
    /// Each company, and what it may still be granted in it.
    pub left: Vec<(String, String)>,
}

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct ApplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    company_id: String,
    #[serde(default)]
    program_id: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    justification: String,
    /// A pilot the voucher's compute serves; empty for none.
    #[serde(default)]
    pilot_id: String,
}

#[derive(Deserialize, Default)]
pub struct ApplyQuery {
    /// Coming from a pilot's page: that pilot chosen.
    pilot: Option<String>,
}

#[derive(Template)]
#[template(path = "voucher_apply.html")]
struct ApplyPage {
    layout: Layout,
    error: Option<String>,
    companies: Vec<Choice>,
    programs: Vec<ProgramRow>,
    pilots: Vec<Choice>,
    form: ApplyForm,
    hours_error: Option<String>,
    justification_error: Option<String>,
}

pub struct LedgerRow {
    pub at: String,
    pub kind: String,
    pub amount: String,
    pub balance: String,
    pub reference: String,
}

#[derive(Template)]
#[template(path = "voucher.html")]
struct VoucherPage {
    layout: Layout,
    id: String,
    code: String,
    figures: Vec<(String, String)>,
    details: Vec<(String, String)>,
    ledger: Vec<LedgerRow>,
    next_page: Option<String>,
}

pub async fn list(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::VoucherHome>(Some(&token), &visit.client_address, voucher_home::Variables)
        .await;
    let data = match answer {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let vouchers = data
        .vouchers
        .edges
        .into_iter()
        .map(|e| {
            let v = e.node;
            let kind = format!("{:?}", v.kind);
            VoucherRow {
                id: v.id,
                code: v.code,
                company: v.company.name_ko,
                program: v.program.name,
                granted: amount(lang, &kind, v.granted),
                balance: amount(lang, &kind, v.balance),
                valid_until: v.valid_until,
                status: lang.t(&label_key("voucher-status", &format!("{:?}", v.status))),
            }
        })
        .collect();
    let applications = data
        .voucher_applications
        .edges
        .into_iter()
        .map(|e| {
            let a = e.node;
            let kind = format!("{:?}", a.program.pool.kind);
            ApplicationRow {
                id: a.id,
                created: kst(&a.created_at),
                company: a.company.name_ko,
                program: a.program.name,
                pilot: a.pilot.map(|p| (p.id, p.title)),
                requested: amount(lang, &kind, a.requested_amount),
                status: lang.t(&label_key("application-status", &format!("{:?}", a.status))),
                note: a.decision_note.unwrap_or_default(),
                voucher_id: a.voucher.map(|v| v.id),
            }
        })
        .collect();
    let title = lang.t("vouchers-title");
    let layout = visit.layout(&console, title, "vouchers");
    let page = VouchersPage {
        layout,
        vouchers,
        applications,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

/// What a refused application says: above the form, and beside its fields.
#[derive(Default)]
struct Refusal {
    notice: Option<String>,
    hours: Option<String>,
    justification: Option<String>,
}

async fn show_apply(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    form: ApplyForm,
    refusal: Refusal,
    status: StatusCode,
) -> Response {
    let lang = visit.lang;
    let answer = console
        .api
        .run::<api::ApplyChoices>(Some(token), &visit.client_address, apply_choices::Variables)
        .await;
    let data = match answer {
        Ok(data) => data,
        Err(error) => return error_page(console, visit, &error).await,
    };
    let today = crate::format::today_kst();
    let companies: Vec<_> = data
        .me
        .map(|me| me.companies)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| matches!(c.status, apply_choices::CompanyStatus::APPROVED))
        .collect();
    let open: Vec<_> = data
        .voucher_programs
        .into_iter()
        .filter(|p| p.opens_on.as_str() <= today.as_str() && today.as_str() <= p.closes_on.as_str())
        .collect();
    let granted = |company: &str, program: &str| -> i64 {
        data.vouchers
            .edges
            .iter()
            .filter(|e| e.node.company.id == company && e.node.program.id == program)
            .map(|e| e.node.granted)
            .sum()
    };
    let programs = open
        .iter()
        .map(|p| {
            let kind = format!("{:?}", p.pool.kind);
            ProgramRow {
                value: p.id.clone(),
                label: p.name.clone(),
                selected: p.id == form.program_id,
                period: format!("{} ~ {}", p.opens_on, p.closes_on),
                cap: amount(lang, &kind, p.max_per_company),
                left: companies
                    .iter()
                    .map(|c| {
                        let left = (p.max_per_company - granted(&c.id, &p.id)).max(0);
                        (c.name_ko.clone(), amount(lang, &kind, left))
                    })
                    .collect(),
            }
        })
        .collect();
    // Pilots one of the person's companies leads or has accepted to take part in.
    let mut pilots = vec![Choice::nothing(lang, "voucher-pilot-none", &form.pilot_id)];
    pilots.extend(
        data.pilots
            .edges
            .into_iter()
            .map(|e| e.node)
            .filter(|p| {
                p.participants.iter().any(|part| {
                    companies.iter().any(|c| c.id == part.company.id)
                        && matches!(part.state, apply_choices::ParticipantState::ACCEPTED)
                })
            })
            .map(|p| Choice {
                selected: p.id == form.pilot_id,
                value: p.id,
                label: p.title,
            }),
    );
    let companies = companies
        .into_iter()
        .map(|c| Choice {
            selected: c.id == form.company_id,
            value: c.id,
            label: c.name_ko,
        })
        .collect();
    visit.session_or_start();
    let title = lang.t("vouchers-apply");
    let page = ApplyPage {
        layout: visit.layout(console, title, "vouchers"),
        error: refusal.notice,
        companies,
        programs,
        pilots,
        form,
        hours_error: refusal.hours,
        justification_error: refusal.justification,
    };
    visit.respond(console, status, render(&page)).await
}

pub async fn apply_form(
    State(console): State<Console>,
    mut visit: Visit,
    Query(query): Query<ApplyQuery>,
) -> Response {
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    show_apply(
        &console,
        &mut visit,
        &token,
        ApplyForm {
            pilot_id: query.pilot.unwrap_or_default(),
            ..ApplyForm::default()
        },
        Refusal::default(),
        StatusCode::OK,
    )
    .await
}

pub async fn apply(
    State(console): State<Console>,
    mut visit: Visit,
    Form(form): Form<ApplyForm>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in_to_post(&console, &form).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let fresh = visit.posted_by_session(&form.csrf);
    if !fresh {
        let notice = Some(lang.t("notice-stale-form"));
        return show_apply(
            &console,
            &mut visit,
            &token,
            form,
            Refusal {
                notice,
                hours: None,
                justification: None,
            },
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let hours_typed = form.hours.trim().replace(',', "");
    let requested = match hours_typed.parse::<i64>() {
        Ok(h) if h > 0 && h <= 10_000_000 => h * 3600,
        _ => {
            let message = lang.t("voucher-hours-invalid");
            let notice = Some(lang.t("form-fix-fields"));
            return show_apply(
                &console,
                &mut visit,
                &token,
                form,
                Refusal {
                    notice,
                    hours: Some(message),
                    justification: None,
                },
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if form.justification.trim().is_empty() {
        let notice = Some(lang.t("form-fix-fields"));
        let message = Some(lang.t("field-required"));
        return show_apply(
            &console,
            &mut visit,
            &token,
            form,
            Refusal {
                notice,
                hours: None,
                justification: message,
            },
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let applied = console
        .api
        .run::<api::ApplyForVoucher>(
            Some(&token),
            &visit.client_address,
            apply_for_voucher::Variables {
                input: apply_for_voucher::VoucherApplicationInput {
                    program_id: form.program_id.clone(),
                    company_id: form.company_id.clone(),
                    requested_amount: requested,
                    justification: form.justification.trim().to_owned(),
                    pilot_id: Some(form.pilot_id.clone()).filter(|p| !p.is_empty()),
                },
            },
        )
        .await;
    match applied {
        Ok(_) => {
            visit
                .redirect_with_notice(&console, "notice-voucher-applied", "/vouchers")
                .await
        }
        Err(error)
            if matches!(
                error.code.as_str(),
                "BAD_USER_INPUT"
                    | "NOT_ELIGIBLE"
                    | "FAILED_PRECONDITION"
                    | "CONFLICT"
                    | "NOT_FOUND"
            ) =>
        {
            let message = Some(visit.explain(&error));
            let hours_error = error
                .is_about("requestedAmount")
                .then(|| error.message.clone());
            show_apply(
                &console,
                &mut visit,
                &token,
                form,
                Refusal {
                    notice: message,
                    hours: hours_error,
                    justification: None,
                },
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

#[derive(Deserialize, Default)]
pub struct LedgerPage {
    after: Option<String>,
}

async fn load(
    console: &Console,
    visit: &mut Visit,
    token: &str,
    id: &str,
    after: Option<String>,
) -> Result<voucher_detail::VoucherDetailVoucher, Response> {
    let answer = console
        .api
        .run::<api::VoucherDetail>(
            Some(token),
            &visit.client_address,
            voucher_detail::Variables {
                id: id.to_owned(),
                after,
            },
        )
        .await;
    match answer {
        Ok(data) => match data.voucher {
            Some(voucher) => Ok(voucher),
            None => Err(not_found_page(console, visit).await),
        },
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

fn ledger_kind(lang: Lang, kind: &str) -> String {
    lang.t(&label_key("ledger-kind", kind))
}

pub async fn detail(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
    Query(page): Query<LedgerPage>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let v = match load(&console, &mut visit, &token, &id, page.after).await {
        Ok(voucher) => voucher,
        Err(response) => return response,
    };
    let kind = format!("{:?}", v.kind);
    let compute = kind != "STORAGE";
    let figures = vec![
        (lang.t("voucher-granted"), amount(lang, &kind, v.granted)),
        (lang.t("voucher-held"), amount(lang, &kind, v.held)),
        (lang.t("voucher-consumed"), amount(lang, &kind, v.consumed)),
        (lang.t("voucher-balance"), amount(lang, &kind, v.balance)),
    ];
    let mut details = vec![
        (lang.t("voucher-company"), v.company.name_ko.clone()),
        (lang.t("voucher-program"), v.program.name.clone()),
        (
            lang.t("voucher-kind"),
            lang.t(&label_key("resource", &kind)),
        ),
        (
            lang.t("voucher-period"),
            format!("{} ~ {}", v.valid_from, v.valid_until),
        ),
        (
            lang.t("voucher-status"),
            lang.t(&label_key("voucher-status", &format!("{:?}", v.status))),
        ),
    ];
    if v.overage > 0 {
        details.push((lang.t("voucher-overage"), amount(lang, &kind, v.overage)));
    }
    let ledger = v
        .ledger
        .edges
        .iter()
        .map(|e| {
            let entry = &e.node;
            let value = |n: i64| {
                if compute {
                    hours_precise(n)
                } else {
                    grouped(n)
                }
            };
            LedgerRow {
                at: kst(&entry.at),
                kind: ledger_kind(lang, &entry.kind),
                amount: value(entry.amount),
                balance: value(entry.balance_after),
                reference: entry.reference.clone().unwrap_or_default(),
            }
        })
        .collect();
    let next_page = v
        .ledger
        .page_info
        .has_next_page
        .then(|| v.ledger.page_info.end_cursor.clone())
        .flatten()
        .map(|cursor| format!("/vouchers/{id}?after={cursor}"));
    let layout = visit.layout(&console, v.code.clone(), "vouchers");
    let page = VoucherPage {
        layout,
        id: v.id,
        code: v.code,
        figures,
        details,
        ledger,
        next_page,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

/// One CSV field, quoted when it must be.
/// The whole ledger as CSV: UTF-8 with a byte order mark so Excel shows Korean, hours in
/// compute vouchers, times in KST.
pub async fn ledger_csv(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let mut out = csv_start(&[
        lang.t("ledger-at"),
        lang.t("ledger-kind"),
        lang.t("ledger-amount"),
        lang.t("ledger-balance"),
        lang.t("ledger-reference"),
    ]);
    let mut after = None;
    let mut code = String::new();
    // A ledger of 100 pages (10,000 entries) is years of daily jobs; beyond it, the API's
    // CSV export is the tool.
    for _ in 0..100 {
        let v = match load(&console, &mut visit, &token, &id, after.clone()).await {
            Ok(voucher) => voucher,
            Err(response) => return response,
        };
        code = v.code.clone();
        let compute = format!("{:?}", v.kind) != "STORAGE";
        for e in &v.ledger.edges {
            let entry = &e.node;
            let value = |n: i64| {
                if compute {
                    hours_precise(n).replace(',', "")
                } else {
                    n.to_string()
                }
            };
            let row = [
                kst(&entry.at),
                ledger_kind(lang, &entry.kind),
                value(entry.amount),
                value(entry.balance_after),
                entry.reference.clone().unwrap_or_default(),
            ];
            // The reference is free text (a manager's note on a revocation): kept as text.
            let [at, kind, amount, balance, reference] = row;
            let fields = [
                csv_field(&at),
                csv_text(&kind),
                csv_field(&amount),
                csv_field(&balance),
                csv_text(&reference),
            ];
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        if !v.ledger.page_info.has_next_page {
            break;
        }
        after = v.ledger.page_info.end_cursor.clone();
    }
    download(CSV, &format!("ledger-{code}.csv"), out)
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage {
    layout: Layout,
    status: String,
    details: Vec<(String, String)>,
    pilot: Option<(String, String)>,
    voucher_id: Option<String>,
    documents: Documents,
}

/// `/vouchers/applications/<id>`: one of the firm's applications, where it attaches its plan
/// until a manager decides; another firm's is the 404 page.
pub async fn application(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let lang = visit.lang;
    let token = match visit.require_sign_in(&console).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let found = console
        .api
        .run::<api::MyApplication>(
            Some(&token),
            &visit.client_address,
            my_application::Variables { id },
        )
        .await;
    let a = match found {
        Ok(data) => match data.voucher_application {
            Some(a) => a,
            None => return not_found_page(&console, &mut visit).await,
        },
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let kind = format!("{:?}", a.program.pool.kind);
    let waiting = matches!(
        a.status,
        my_application::VoucherApplicationStatus::SUBMITTED
    );
    let documents = documents::load(
        &console,
        &visit,
        &token,
        (Kind::VoucherApplication, &a.id, None),
        Allowed::while_open(waiting),
        &format!("/vouchers/applications/{}", a.id),
    )
    .await;
    let details = vec![
        (lang.t("voucher-applied-on"), kst(&a.created_at)),
        (lang.t("voucher-company"), a.company.name_ko),
        (lang.t("voucher-program"), a.program.name),
        (
            lang.t("voucher-requested"),
            amount(lang, &kind, a.requested_amount),
        ),
        (lang.t("voucher-justification"), a.justification),
        (
            lang.t("voucher-decision-note"),
            a.decision_note.unwrap_or_else(|| "-".to_owned()),
        ),
    ];
    let page = ApplicationPage {
        layout: visit.layout(&console, lang.t("application-title"), "vouchers"),
        status: lang.t(&label_key("application-status", &format!("{:?}", a.status))),
        details,
        pilot: a.pilot.map(|p| (p.id, p.title)),
        voucher_id: a.voucher.map(|v| v.id),
        documents,
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}
