//! 사업 성과 for the programme office: the programme's live figures (not a release: staff see
//! every company), filtered by period, industry, pilot domain and funding source, with the
//! pools, the groups and the drill-down by company; each table downloads as CSV, and all of them as one `.xlsx`
//! workbook, with the rows the page shows.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::NaiveDate;
use serde::Deserialize;

use super::{
    Choice, choices_or_nothing, companies::SECTORS, enum_value, error_page, home::Chart,
    home::chart, label_key, pilots::DOMAINS, programmes::FUNDING, require_role,
    review::STAFF_ROLES, url_encoded,
};
use crate::{
    Console, Layout, Visit,
    api::{self, staff_figures},
    exports::{self, CSV, Cell, Table, XLSX, download},
    format::{hours, won_short},
    i18n::Lang,
    render,
};

/// The filters as they arrive in the address (`?from=2026-01-01&sector=MOBILITY`), so a
/// filtered page can be bookmarked and its downloads carry the same filter.
#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    sector: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    funding: String,
}

impl Filters {
    /// The same filters as a query string, for the download links.
    fn query(&self) -> String {
        let pairs: Vec<String> = [
            ("from", &self.from),
            ("to", &self.to),
            ("sector", &self.sector),
            ("domain", &self.domain),
            ("funding", &self.funding),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encoded(v)))
        .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }

    /// The API's filter, or the Fluent key of what is wrong with the filters.
    fn to_api(&self) -> Result<staff_figures::StatsFilter, &'static str> {
        let date = |text: &str| -> Result<Option<String>, &'static str> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| Some(d.to_string()))
                .map_err(|_| "figures-bad-date")
        };
        let (from, to) = (date(&self.from)?, date(&self.to)?);
        if let (Some(from), Some(to)) = (&from, &to)
            && from > to
        {
            return Err("figures-bad-period");
        }
        let sector = match self.sector.as_str() {
            "" => None,
            chosen => Some(enum_value(&SECTORS, chosen).ok_or("figures-bad-filter")?),
        };
        let domain = match self.domain.as_str() {
            "" => None,
            chosen => Some(enum_value(&DOMAINS, chosen).ok_or("figures-bad-filter")?),
        };
        let funding = match self.funding.as_str() {
            "" => None,
            chosen => Some(enum_value(&FUNDING, chosen).ok_or("figures-bad-filter")?),
        };
        Ok(staff_figures::StatsFilter {
            from,
            to,
            sectors: sector.map(|s| vec![s]),
            domains: domain.map(|d| vec![d]),
            funding_sources: funding.map(|f| vec![f]),
        })
    }
}

fn outcome_headers(lang: Lang) -> Vec<String> {
    [
        "figures-col-models-developed",
        "figures-col-models-improved",
        "figures-col-commercialized",
        "figures-col-revenue",
        "figures-col-patents-filed",
        "figures-col-patents-registered",
        "figures-col-papers",
        "figures-col-hires",
        "figures-col-investment",
    ]
    .iter()
    .map(|key| lang.t(key))
    .collect()
}

fn outcome_cells(o: &staff_figures::Outcomes) -> Vec<Cell> {
    vec![
        Cell::Whole(o.models_developed),
        Cell::Whole(o.models_improved),
        Cell::Whole(o.models_commercialized),
        Cell::Whole(o.revenue_krw),
        Cell::Whole(o.patents_filed),
        Cell::Whole(o.patents_registered),
        Cell::Whole(o.papers),
        Cell::Whole(o.new_hires),
        Cell::Whole(o.investment_krw),
    ]
}

fn headed(lang: Lang, first: &[&str], outcomes: bool) -> Vec<String> {
    let mut headers: Vec<String> = first.iter().map(|key| lang.t(key)).collect();
    if outcomes {
        headers.extend(outcome_headers(lang));
    }
    headers
}

/// Every table of the page, in its order: the downloads are these rows. `funding` (the API's
/// name, empty for all) keeps the pools of that source only, as the figures are.
pub fn tables(lang: Lang, data: &staff_figures::ResponseData, funding: &str) -> Vec<Table> {
    let s = &data.program_stats;
    let o = &s.outcomes;
    let line = |key: &str, cell: Cell| vec![Cell::Text(lang.t(key)), cell];
    let summary = Table {
        title: lang.t("figures-summary"),
        slug: "summary",
        headers: headed(lang, &["figures-col-figure", "figures-col-value"], false),
        rows: vec![
            line("figures-companies", Cell::Whole(s.companies)),
            line("figures-approved", Cell::Whole(s.approved_companies)),
            line("figures-pilots", Cell::Whole(s.pilots)),
            line("figures-active-pilots", Cell::Whole(s.active_pilots)),
            line("figures-vouchers", Cell::Whole(s.vouchers_issued)),
            line("figures-granted", Cell::Hours(s.compute_granted)),
            line("figures-consumed", Cell::Hours(s.compute_consumed)),
            line("figures-overage", Cell::Hours(s.compute_overage)),
            line(
                "figures-col-models-developed",
                Cell::Whole(o.models_developed),
            ),
            line(
                "figures-col-models-improved",
                Cell::Whole(o.models_improved),
            ),
            line(
                "figures-col-commercialized",
                Cell::Whole(o.models_commercialized),
            ),
            line("figures-col-revenue", Cell::Whole(o.revenue_krw)),
            line("figures-col-patents-filed", Cell::Whole(o.patents_filed)),
            line(
                "figures-col-patents-registered",
                Cell::Whole(o.patents_registered),
            ),
            line("figures-col-papers", Cell::Whole(o.papers)),
            line("figures-col-hires", Cell::Whole(o.new_hires)),
            line("figures-col-investment", Cell::Whole(o.investment_krw)),
        ],
    };
    let pools = Table {
        title: lang.t("figures-pools"),
        slug: "pools",
        headers: headed(
            lang,
            &[
                "pool-name",
                "pool-kind",
                "pool-funding",
                "figures-col-capacity",
                "figures-col-committed",
                "figures-col-pool-consumed",
                "figures-col-available",
            ],
            false,
        ),
        rows: data
            .resource_pools
            .iter()
            .filter(|p| funding.is_empty() || format!("{:?}", p.funding) == funding)
            .map(|p| {
                let kind = format!("{:?}", p.kind);
                // Storage is counted in GB-days; compute in seconds, shown as hours.
                let amount = |n: i64| {
                    if kind == "STORAGE" {
                        Cell::Whole(n)
                    } else {
                        Cell::Hours(n)
                    }
                };
                vec![
                    Cell::Text(p.name.clone()),
                    Cell::Text(lang.t(&label_key("resource", &kind))),
                    Cell::Text(lang.t(&label_key("funding", &format!("{:?}", p.funding)))),
                    amount(p.capacity),
                    amount(p.committed),
                    amount(p.consumed),
                    amount(p.available),
                ]
            })
            .collect(),
    };
    let sectors = Table {
        title: lang.t("figures-by-sector"),
        slug: "sectors",
        headers: headed(lang, &["col-sector", "col-companies"], true),
        rows: s
            .by_sector
            .iter()
            .map(|g| {
                let mut row = vec![
                    Cell::Text(lang.t(&label_key("sector", &format!("{:?}", g.sector)))),
                    Cell::Whole(g.companies),
                ];
                // Staff's live figures are never suppressed; a group without figures is 0.
                row.extend(g.outcomes.as_ref().map(outcome_cells).unwrap_or_default());
                row
            })
            .collect(),
    };
    let domains = Table {
        title: lang.t("figures-by-domain"),
        slug: "domains",
        headers: headed(lang, &["col-domain", "col-pilots"], true),
        rows: s
            .by_domain
            .iter()
            .map(|g| {
                let mut row = vec![
                    Cell::Text(lang.t(&label_key("domain", &format!("{:?}", g.domain)))),
                    Cell::Whole(g.pilots),
                ];
                row.extend(g.outcomes.as_ref().map(outcome_cells).unwrap_or_default());
                row
            })
            .collect(),
    };
    let mut companies_rows: Vec<Vec<Cell>> = s
        .by_company
        .iter()
        .flatten()
        .map(|c| {
            let (name, number, sector) = match &c.company {
                Some(company) => (
                    super::review::company_name(lang, &company.name_ko, company.name_en.as_deref()),
                    company.business_number.clone().unwrap_or_default(),
                    lang.t(&label_key("sector", &format!("{:?}", company.sector))),
                ),
                None => (c.company_id.clone(), String::new(), String::new()),
            };
            let mut row = vec![Cell::Text(name), Cell::Text(number), Cell::Text(sector)];
            row.extend(outcome_cells(&c.outcomes));
            row
        })
        .collect();
    // The largest revenue first: where a manager looks first.
    companies_rows.sort_by_key(|row| match row.get(6) {
        Some(Cell::Whole(revenue)) => std::cmp::Reverse(*revenue),
        _ => std::cmp::Reverse(0),
    });
    let companies = Table {
        title: lang.t("figures-by-company"),
        slug: "companies",
        headers: headed(
            lang,
            &[
                "figures-col-company",
                "figures-col-business-number",
                "col-sector",
            ],
            true,
        ),
        rows: companies_rows,
    };
    let quarters = Table {
        title: lang.t("figures-by-quarter"),
        slug: "quarters",
        headers: headed(
            lang,
            &["figures-col-quarter", "figures-col-reported-compute"],
            true,
        ),
        rows: s
            .time_series
            .iter()
            .map(|p| {
                let mut row = vec![
                    Cell::Text(quarter_name(lang, &p.period_start)),
                    Cell::Hours(p.compute_consumed),
                ];
                row.extend(outcome_cells(&p.outcomes));
                row
            })
            .collect(),
    };
    vec![summary, pools, sectors, domains, companies, quarters]
}

/// `2026-04-01` as "2026년 2분기" / "2026 Q2".
fn quarter_name(lang: Lang, start: &str) -> String {
    let year = start.get(..4).unwrap_or(start);
    let quarter = start
        .get(5..7)
        .and_then(|m| m.parse::<u32>().ok())
        .map_or(0, |m| m.div_ceil(3));
    lang.t_with(
        "figures-quarter",
        &[("year", year.to_owned()), ("quarter", quarter.to_string())],
    )
}

#[derive(Template)]
#[template(path = "figures.html")]
struct FiguresPage {
    layout: Layout,
    from: String,
    to: String,
    sectors: Vec<Choice>,
    domains: Vec<Choice>,
    fundings: Vec<Choice>,
    error: Option<String>,
    figures: Vec<(String, String)>,
    charts: Vec<Chart>,
    tables: Vec<Table>,
    query: String,
}

async fn fetch(
    console: &Console,
    visit: &Visit,
    token: &str,
    filter: staff_figures::StatsFilter,
) -> Result<staff_figures::ResponseData, api::ApiError> {
    console
        .api
        .run::<api::StaffFigures>(
            Some(token),
            &visit.client_address,
            staff_figures::Variables {
                filter: Some(filter),
            },
        )
        .await
}

pub async fn page(
    State(console): State<Console>,
    mut visit: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let token = match require_role(&console, &mut visit, &STAFF_ROLES).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let (data, error) = match filters.to_api() {
        Ok(filter) => match fetch(&console, &visit, &token, filter).await {
            Ok(data) => (Some(data), None),
            Err(error) => return error_page(&console, &mut visit, &error).await,
        },
        Err(key) => (None, Some(lang.t(key))),
    };
    let (figures, charts, tables) = match &data {
        Some(data) => {
            let s = &data.program_stats;
            let gpu = |n: i64| lang.t_with("unit-hours", &[("n", hours(n))]);
            let figures = vec![
                (lang.t("figures-approved"), s.approved_companies.to_string()),
                (lang.t("figures-pilots"), s.pilots.to_string()),
                (lang.t("figures-vouchers"), s.vouchers_issued.to_string()),
                (lang.t("figures-granted"), gpu(s.compute_granted)),
                (lang.t("figures-consumed"), gpu(s.compute_consumed)),
                (
                    lang.t("figures-col-revenue"),
                    won_short(s.outcomes.revenue_krw, lang),
                ),
            ];
            let revenue = |o: &staff_figures::Outcomes| {
                Some((o.revenue_krw, o.models_developed + o.models_improved))
            };
            let charts = vec![
                chart(
                    "by-sector",
                    lang,
                    "chart-by-sector",
                    "figures-chart-desc",
                    "col-sector",
                    s.by_sector
                        .iter()
                        .map(|g| {
                            (
                                lang.t(&label_key("sector", &format!("{:?}", g.sector))),
                                g.outcomes.as_ref().and_then(revenue),
                            )
                        })
                        .collect(),
                ),
                chart(
                    "by-domain",
                    lang,
                    "chart-by-domain",
                    "figures-chart-desc",
                    "col-domain",
                    s.by_domain
                        .iter()
                        .map(|g| {
                            (
                                lang.t(&label_key("domain", &format!("{:?}", g.domain))),
                                g.outcomes.as_ref().and_then(revenue),
                            )
                        })
                        .collect(),
                ),
            ];
            (figures, charts, tables(lang, data, &filters.funding))
        }
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = FiguresPage {
        layout: visit.layout(&console, lang.t("figures-title"), "figures"),
        from: filters.from.clone(),
        to: filters.to.clone(),
        sectors: choices_or_nothing(
            lang,
            "sector",
            &SECTORS,
            &filters.sector,
            "figures-any-sector",
        ),
        domains: choices_or_nothing(
            lang,
            "domain",
            &DOMAINS,
            &filters.domain,
            "figures-any-domain",
        ),
        fundings: choices_or_nothing(
            lang,
            "funding",
            &FUNDING,
            &filters.funding,
            "figures-any-funding",
        ),
        error,
        figures,
        charts,
        tables,
        query: filters.query(),
    };
    visit.respond(&console, status, render(&page)).await
}

/// The tables for a download, or the page that says why not.
async fn download_tables(
    console: &Console,
    visit: &mut Visit,
    filters: &Filters,
) -> Result<Vec<Table>, Response> {
    let token = require_role(console, visit, &STAFF_ROLES).await?;
    let filter = match filters.to_api() {
        Ok(filter) => filter,
        Err(_) => {
            return Err(error_page(console, visit, &api::ApiError::bad_input("filter")).await);
        }
    };
    match fetch(console, visit, &token, filter).await {
        Ok(data) => Ok(tables(visit.lang, &data, &filters.funding)),
        Err(error) => Err(error_page(console, visit, &error).await),
    }
}

/// One table as CSV: `/figures/companies.csv?from=...`.
pub async fn csv(
    State(console): State<Console>,
    mut visit: Visit,
    Path(file): Path<String>,
    Query(filters): Query<Filters>,
) -> Response {
    let Some(slug) = file.strip_suffix(".csv") else {
        return super::not_found_page(&console, &mut visit).await;
    };
    let tables = match download_tables(&console, &mut visit, &filters).await {
        Ok(tables) => tables,
        Err(response) => return response,
    };
    match tables.iter().find(|t| t.slug == slug) {
        Some(table) => download(
            CSV,
            &format!("figures-{}-{}.csv", table.slug, crate::format::today_kst()),
            exports::csv(table),
        ),
        None => super::not_found_page(&console, &mut visit).await,
    }
}

/// Every table as one workbook, a sheet each.
pub async fn xlsx(
    State(console): State<Console>,
    mut visit: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let tables = match download_tables(&console, &mut visit, &filters).await {
        Ok(tables) => tables,
        Err(response) => return response,
    };
    match exports::xlsx(&tables) {
        Ok(bytes) => download(
            XLSX,
            &format!("figures-{}.xlsx", crate::format::today_kst()),
            bytes,
        ),
        Err(error) => {
            tracing::error!(%error, "the figures workbook was not written");
            let error = api::ApiError {
                code: "INTERNAL".into(),
                message: "the workbook could not be written".into(),
                ..api::ApiError::default()
            };
            error_page(&console, &mut visit, &error).await
        }
    }
}
