//! `GET /export/stats.csv`: the `programStats` figures as CSV for spreadsheets, with the same
//! filters (`from`, `to`, `sectors`, `domains`, comma-separated names) and the same rules: the
//! caller's bearer token decides suppression, and per-company rows are for managers only.
//! Public exports come from the latest release: its number and date are the first row
//! (`release`) and the `X-Axv-Release` / `X-Axv-Release-Date` headers.

use std::{collections::HashMap, net::SocketAddr};

use axum::{
    Extension,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use axv_auth::MaybeCaller;
use axv_proto::{
    common::v1::{PilotDomain, Sector},
    outcomes::v1 as pb,
};
use serde::Deserialize;

use super::{UTF8_BOM, bad_request, charged, csv_response};
use crate::{AppState, context::RequestContext, schema::stats::load_stats};

#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Comma-separated sector names, e.g. `MOBILITY,ENERGY`.
    pub sectors: Option<String>,
    /// Comma-separated pilot domain names.
    pub domains: Option<String>,
    /// MONTH, QUARTER (default) or YEAR, for the time-series rows.
    pub bucket: Option<String>,
}

/// What an export is charged against the cost budget: about what the same `programStats`
/// query (totals, groups and a time series) costs through GraphQL.
const EXPORT_COST: i64 = 500;

const HEADER: [&str; 17] = [
    "group",
    "key",
    "name",
    "companies",
    "pilots",
    "suppressed",
    "modelsDeveloped",
    "modelsImproved",
    "modelsCommercialized",
    "revenueKrw",
    "patentsFiled",
    "patentsRegistered",
    "papers",
    "newHires",
    "investmentKrw",
    "computeGranted",
    "computeConsumed",
];

/// Comma-separated names (`energy, MOBILITY`) as a filter's values, sorted and deduplicated;
/// an unknown name is refused (it would otherwise count nothing and look like a real zero).
fn list(
    text: Option<&str>,
    from_name: fn(&str) -> Option<i32>,
    field: &str,
) -> Result<Vec<i32>, String> {
    let mut values = text
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .map(|name| from_name(&name).ok_or(format!("{field}: {name} is not known")))
        .collect::<Result<Vec<_>, _>>()?;
    values.sort();
    values.dedup();
    Ok(values)
}

impl ExportParams {
    fn filter(&self) -> Result<pb::StatsFilter, String> {
        let date = |field: &str, text: &Option<String>| match text.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map(|d| Some(d.to_string()))
                .map_err(|_| format!("{field} must be a date (YYYY-MM-DD)")),
        };
        Ok(pb::StatsFilter {
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
            sectors: list(
                self.sectors.as_deref(),
                |name| Sector::from_name(name).map(i32::from),
                "sectors",
            )?,
            domains: list(
                self.domains.as_deref(),
                |name| PilotDomain::from_name(name).map(i32::from),
                "domains",
            )?,
            fundings: Vec::new(),
        })
    }
}

/// One CSV record: a group's label, counts and figures; empty cells where a figure does not
/// apply or is suppressed.
fn record(
    group: &str,
    key: &str,
    name: &str,
    counts: (Option<i64>, Option<i64>),
    suppressed: bool,
    figures: Option<&pb::Figures>,
    compute: (Option<i64>, Option<i64>),
) -> Vec<String> {
    let cell = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut row = vec![
        group.to_owned(),
        key.to_owned(),
        name.to_owned(),
        cell(counts.0),
        cell(counts.1),
        suppressed.to_string(),
    ];
    let figures = figures.map(|f| {
        [
            f.models_developed,
            f.models_improved,
            f.models_commercialized,
            f.revenue_krw,
            f.patents_filed,
            f.patents_registered,
            f.papers,
            f.new_hires,
            f.investment_krw,
        ]
    });
    match figures {
        Some(values) => row.extend(values.iter().map(|v| v.to_string())),
        None => row.extend(std::iter::repeat_n(String::new(), 9)),
    }
    row.push(cell(compute.0));
    row.push(cell(compute.1));
    row
}

/// The CSV document: a byte order mark, a header, the release it comes from (public exports),
/// the totals, then sector, domain, company (managers; `names` gives each company's Korean
/// name) and time-series rows.
pub fn to_csv(
    stats: &pb::GetProgramStatsResponse,
    bucket: &str,
    names: &HashMap<String, String>,
) -> Result<Vec<u8>, csv::Error> {
    let series = match bucket {
        "MONTH" => &stats.by_month,
        "YEAR" => &stats.by_year,
        _ => &stats.by_quarter,
    };
    let mut out = csv::Writer::from_writer(UTF8_BOM.to_vec());
    out.write_record(HEADER)?;
    if let Some(release) = &stats.release {
        // `key` the release's number, `name` its date.
        out.write_record(record(
            "release",
            &release.number.to_string(),
            &release.date,
            (None, None),
            false,
            None,
            (None, None),
        ))?;
    }
    out.write_record(record(
        "total",
        "",
        "",
        (Some(stats.companies), Some(stats.pilots)),
        stats.outcomes_suppressed,
        stats.outcomes.as_ref(),
        (Some(stats.compute_granted), Some(stats.compute_consumed)),
    ))?;
    let sector = |g: &pb::GroupStats| Sector::name_of(g.sector);
    let domain = |g: &pb::GroupStats| PilotDomain::name_of(g.domain);
    type Key = dyn Fn(&pb::GroupStats) -> Option<&'static str>;
    let groups: [(&str, &Vec<pb::GroupStats>, &Key); 2] = [
        ("sector", &stats.by_sector, &sector),
        ("domain", &stats.by_domain, &domain),
    ];
    for (group, rows, key) in groups {
        for g in rows {
            out.write_record(record(
                group,
                key(g).unwrap_or_default(),
                "",
                (Some(g.companies), Some(g.pilots)),
                g.suppressed,
                g.figures.as_ref(),
                (None, None),
            ))?;
        }
    }
    for c in &stats.by_company {
        out.write_record(record(
            "company",
            &c.company_id,
            names.get(&c.company_id).map_or("", String::as_str),
            (None, None),
            false,
            c.figures.as_ref(),
            (None, None),
        ))?;
    }
    let group = bucket.to_ascii_lowercase();
    for p in series {
        out.write_record(record(
            &group,
            &p.period_start,
            "",
            (None, None),
            false,
            p.figures.as_ref(),
            (None, Some(p.compute_consumed)),
        ))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

pub async fn stats_csv(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> Response {
    let filter = match params.filter() {
        Ok(filter) => filter,
        Err(message) => return bad_request(&message),
    };
    let bucket = params
        .bucket
        .as_deref()
        .unwrap_or("QUARTER")
        .to_ascii_uppercase();
    if !matches!(bucket.as_str(), "MONTH" | "QUARTER" | "YEAR") {
        return bad_request("bucket must be MONTH, QUARTER or YEAR");
    }
    // Each export is a full programStats computation: charged as a request with that cost.
    let rc = match charged(&state, caller, connect, &headers, EXPORT_COST).await {
        Ok(rc) => rc,
        Err(refused) => return refused,
    };
    let stats = match load_stats(&state.clients, &rc, &state.stats, filter, None).await {
        Ok(stats) => stats,
        Err(status) => return crate::http::status_error(&status),
    };
    let names = match company_names(&state, &rc, &stats).await {
        Ok(names) => names,
        Err(status) => return crate::http::status_error(&status),
    };
    match to_csv(&stats, &bucket, &names) {
        Ok(body) => {
            let mut response = csv_response(body, "axv-program-stats.csv");
            if let Some(release) = &stats.release {
                let headers = response.headers_mut();
                headers.insert("x-axv-release", HeaderValue::from(release.number));
                if let Ok(date) = HeaderValue::from_str(&release.date) {
                    headers.insert("x-axv-release-date", date);
                }
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "stats CSV encoding failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// The Korean names of the companies in a manager's per-company rows, by id.
async fn company_names(
    state: &AppState,
    rc: &RequestContext,
    stats: &pb::GetProgramStatsResponse,
) -> Result<HashMap<String, String>, tonic::Status> {
    let ids: Vec<String> = stats
        .by_company
        .iter()
        .map(|c| c.company_id.clone())
        .collect();
    let mut names = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(crate::http::MAX_BATCH_KEYS) {
        let companies = state
            .clients
            .onboarding
            .clone()
            .batch_get_companies(crate::clients::request(
                rc,
                axv_proto::onboarding::v1::BatchGetCompaniesRequest {
                    ids: chunk.to_vec(),
                },
            ))
            .await?
            .into_inner()
            .companies;
        names.extend(companies.into_iter().map(|c| (c.id, c.name_ko)));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn params_become_a_normalized_filter_and_bad_dates_are_refused() {
        let params = ExportParams {
            from: Some("2021-01-01".into()),
            sectors: Some("energy, MOBILITY,,ENERGY".into()),
            ..Default::default()
        };
        let filter = params.filter().unwrap();
        assert_eq!(filter.from.as_deref(), Some("2021-01-01"));
        assert_eq!(
            filter.sectors,
            vec![Sector::Mobility as i32, Sector::Energy as i32]
        );
        let unknown = ExportParams {
            sectors: Some("SPACE".into()),
            ..Default::default()
        };
        assert!(unknown.filter().unwrap_err().contains("SPACE"));
        let bad = ExportParams {
            to: Some("2021-13-01".into()),
            ..Default::default()
        };
        assert!(bad.filter().unwrap_err().contains("to"));
    }

    #[test]
    fn suppressed_groups_have_empty_figure_cells() {
        let stats = pb::GetProgramStatsResponse {
            companies: 5,
            pilots: 2,
            outcomes: Some(pb::Figures {
                papers: 9,
                ..Default::default()
            }),
            by_sector: vec![pb::GroupStats {
                sector: Sector::Energy.into(),
                companies: 1,
                pilots: 1,
                figures: None,
                suppressed: true,
                ..Default::default()
            }],
            by_company: vec![pb::CompanyStats {
                company_id: "c-1".into(),
                figures: Some(pb::Figures::default()),
            }],
            by_quarter: vec![pb::PeriodStats {
                period_start: "2024-01-01".into(),
                figures: Some(pb::Figures::default()),
                compute_consumed: 42,
            }],
            ..Default::default()
        };
        let names = HashMap::from([("c-1".to_owned(), "광주에이아이".to_owned())]);
        let bytes = to_csv(&stats, "QUARTER", &names).unwrap();
        assert!(
            bytes.starts_with(UTF8_BOM),
            "Excel needs the BOM to read UTF-8"
        );
        let text = String::from_utf8(bytes[UTF8_BOM.len()..].to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER.join(","));
        assert_eq!(lines[1], "total,,,5,2,false,0,0,0,0,0,0,9,0,0,0,0");
        assert_eq!(lines[2], "sector,ENERGY,,1,1,true,,,,,,,,,,,");
        assert_eq!(
            lines[3],
            "company,c-1,광주에이아이,,,false,0,0,0,0,0,0,0,0,0,,"
        );
        assert_eq!(
            lines[4],
            "quarter,2024-01-01,,,,false,0,0,0,0,0,0,0,0,0,,42"
        );
        assert_eq!(lines.len(), 5);
    }
}
