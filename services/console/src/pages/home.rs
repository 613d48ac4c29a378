//! The public home page: the programme's figures from the latest release, as key figures and
//! as charts with their tables (groups below the publication threshold are named, never
//! given a number); and "how to take part".

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};

use super::{error_page, label_key};
use crate::{
    Console, Layout, Visit,
    api::{self, home_stats},
    charts::bar_chart,
    format::{grouped, hours, won, won_short},
    i18n::Lang,
    render,
};

pub struct KeyFigure {
    pub label: String,
    pub value: String,
}

pub struct ChartRow {
    pub key: String,
    pub revenue: String,
    pub models: String,
}

pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub key_header: String,
    pub svg: String,
    pub rows: Vec<ChartRow>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    release: Option<String>,
    held: Option<String>,
    figures: Vec<KeyFigure>,
    suppressed: bool,
    charts: Vec<Chart>,
}

#[derive(Template)]
#[template(path = "how_to.html")]
struct HowToPage {
    layout: Layout,
}

fn figure(lang: Lang, key: &str, unit: &str, n: i64) -> KeyFigure {
    KeyFigure {
        label: lang.t(key),
        value: lang.t_with(unit, &[("n", grouped(n))]),
    }
}

/// One group's row: suppressed groups say so instead of showing a number.
fn row(lang: Lang, key: String, outcomes: Option<(i64, i64)>) -> ChartRow {
    match outcomes {
        Some((revenue, models)) => ChartRow {
            key,
            revenue: won(revenue),
            models: grouped(models),
        },
        None => ChartRow {
            key,
            revenue: lang.t("suppressed"),
            models: lang.t("suppressed"),
        },
    }
}

pub fn chart(
    id: &'static str,
    lang: Lang,
    title_key: &str,
    desc_key: &str,
    key_header: &str,
    rows: Vec<(String, Option<(i64, i64)>)>,
) -> Chart {
    let title = lang.t(title_key);
    let bars: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|(key, outcomes)| outcomes.map(|(revenue, _)| (key.clone(), revenue as f64)))
        .collect();
    let unit = |v: f64| won_short(v as i64, lang);
    Chart {
        id,
        svg: bar_chart(id, &title, &lang.t(desc_key), &bars, &unit),
        title,
        key_header: lang.t(key_header),
        rows: rows
            .into_iter()
            .map(|(key, outcomes)| row(lang, key, outcomes))
            .collect(),
    }
}

fn page_of(layout: Layout, stats: home_stats::HomeStatsProgramStats) -> HomePage {
    let lang = layout.lang;
    let o = &stats.outcomes;
    let figures = vec![
        figure(
            lang,
            "fig-companies",
            "unit-companies",
            stats.approved_companies,
        ),
        figure(lang, "fig-pilots", "unit-count", stats.pilots),
        figure(lang, "fig-vouchers", "unit-count", stats.vouchers_issued),
        KeyFigure {
            label: lang.t("fig-gpu-hours"),
            value: lang.t_with("unit-hours", &[("n", hours(stats.compute_granted))]),
        },
        figure(
            lang,
            "fig-models",
            "unit-count",
            o.models_developed + o.models_improved,
        ),
        figure(
            lang,
            "fig-commercialized",
            "unit-count",
            o.models_commercialized,
        ),
        KeyFigure {
            label: lang.t("fig-revenue"),
            value: won_short(o.revenue_krw, lang),
        },
        figure(
            lang,
            "fig-patents",
            "unit-count",
            o.patents_filed + o.patents_registered,
        ),
        figure(lang, "fig-papers", "unit-count", o.papers),
        figure(lang, "fig-hires", "unit-people", o.new_hires),
    ];
    let by_year = stats
        .time_series
        .iter()
        .map(|p| {
            (
                p.period_start.get(..4).unwrap_or_default().to_owned(),
                Some((
                    p.outcomes.revenue_krw,
                    p.outcomes.models_developed + p.outcomes.models_improved,
                )),
            )
        })
        .collect();
    let by_sector = stats
        .by_sector
        .iter()
        .map(|g| {
            (
                lang.t(&label_key("sector", &format!("{:?}", g.sector))),
                g.outcomes
                    .as_ref()
                    .map(|o| (o.revenue_krw, o.models_developed + o.models_improved)),
            )
        })
        .collect();
    let by_domain = stats
        .by_domain
        .iter()
        .map(|g| {
            (
                lang.t(&label_key("domain", &format!("{:?}", g.domain))),
                g.outcomes
                    .as_ref()
                    .map(|o| (o.revenue_krw, o.models_developed + o.models_improved)),
            )
        })
        .collect();
    let release = stats.release.as_ref().map(|r| {
        lang.t_with(
            "home-release",
            &[("number", r.number.to_string()), ("date", r.date.clone())],
        )
    });
    let held = stats
        .release
        .as_ref()
        .filter(|r| !r.held_cells.is_empty())
        .map(|r| lang.t_with("home-held", &[("count", r.held_cells.len().to_string())]));
    HomePage {
        release,
        held,
        figures,
        suppressed: stats.outcomes_suppressed,
        charts: vec![
            chart(
                "by-year",
                lang,
                "chart-by-year",
                "chart-by-year-desc",
                "col-year",
                by_year,
            ),
            chart(
                "by-sector",
                lang,
                "chart-by-sector",
                "chart-by-sector-desc",
                "col-sector",
                by_sector,
            ),
            chart(
                "by-domain",
                lang,
                "chart-by-domain",
                "chart-by-domain-desc",
                "col-domain",
                by_domain,
            ),
        ],
        layout,
    }
}

pub async fn page(State(console): State<Console>, mut visit: Visit) -> Response {
    let token = visit.token(&console).await;
    let stats = console
        .api
        .run::<api::HomeStats>(
            token.as_deref(),
            &visit.client_address,
            home_stats::Variables,
        )
        .await;
    match stats {
        Ok(data) => {
            let title = visit.lang.t("home-title");
            let layout = visit.layout(&console, title, "home");
            let page = page_of(layout, data.program_stats);
            visit.respond(&console, StatusCode::OK, render(&page)).await
        }
        Err(error) => error_page(&console, &mut visit, &error).await,
    }
}

pub async fn how_to(State(console): State<Console>, mut visit: Visit) -> Response {
    let title = visit.lang.t("how-to-title");
    let layout = visit.layout(&console, title, "how-to");
    visit
        .respond(&console, StatusCode::OK, render(&HowToPage { layout }))
        .await
}
