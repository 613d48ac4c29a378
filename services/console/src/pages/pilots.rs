//! The public pilot registry (search, filters, pages of 20; the results refresh in place with
//! htmx, and the same form works as a plain GET) and a pilot's public page.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use axum_htmx::HxRequest;
use serde::Deserialize;

use super::{Choice, choices, enum_value, error_page, label_key, not_found_page};
use crate::{
    Console, Layout, Visit,
    api::{self, public_pilot, public_pilots},
    format::grouped,
    i18n::Lang,
    render,
};

/// The API's pilot domains, in the order pages offer them.
pub const DOMAINS: [&str; 10] = [
    "AUTONOMOUS_DRIVING",
    "HEALTHCARE",
    "ENERGY",
    "TRAFFIC",
    "PUBLIC_SAFETY",
    "AI_SEMICONDUCTOR",
    "MANUFACTURING_ROBOTICS",
    "CULTURE_CONTENT",
    "DATA",
    "OTHER",
];
/// The statuses the public registry shows.
const STATUSES: [&str; 4] = ["APPROVED", "ACTIVE", "COMPLETED", "SUSPENDED"];

#[derive(Deserialize, Default)]
pub struct RegistryQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub status: String,
    pub after: Option<String>,
}

pub struct RegistryRow {
    pub id: String,
    pub title: String,
    pub domain: String,
    pub status: String,
    pub lead: String,
    pub site: String,
    pub period: String,
}

#[derive(Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    layout: Layout,
    query: RegistryQuery,
    domains: Vec<Choice>,
    statuses: Vec<Choice>,
    count: String,
    rows: Vec<RegistryRow>,
    next_page: Option<String>,
    first_page: Option<String>,
}

#[derive(Template)]
#[template(path = "registry_results.html")]
struct RegistryResults {
    layout: Layout,
    count: String,
    rows: Vec<RegistryRow>,
    next_page: Option<String>,
    first_page: Option<String>,
}

#[derive(Template)]
#[template(path = "pilot.html")]
struct PilotPage {
    layout: Layout,
    title: String,
    title_en: Option<String>,
    domain: String,
    status: String,
    lead: String,
    site: String,
    period: String,
}

/// The registry's address for these filters and page.
fn link(query: &RegistryQuery, after: Option<&str>) -> String {
    let mut params = Vec::new();
    for (key, value) in [
        ("q", &query.q),
        ("domain", &query.domain),
        ("status", &query.status),
    ] {
        if !value.is_empty() {
            params.push(format!("{key}={}", urlencode(value)));
        }
    }
    if let Some(after) = after {
        params.push(format!("after={}", urlencode(after)));
    }
    if params.is_empty() {
        "/pilots".to_owned()
    } else {
        format!("/pilots?{}", params.join("&"))
    }
}

pub(crate) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn registry(
    State(console): State<Console>,
    HxRequest(partial): HxRequest,
    mut visit: Visit,
    Query(query): Query<RegistryQuery>,
) -> Response {
    let lang = visit.lang;
    // Only values the page offers; anything else typed into the address means "any".
    let domain = enum_value::<public_pilots::PilotDomain>(&DOMAINS, &query.domain);
    let status = enum_value::<public_pilots::PilotStatus>(&STATUSES, &query.status);
    let filter = public_pilots::PilotFilter {
        domains: domain.map(|d| vec![d]),
        statuses: status.map(|s| vec![s]),
        company_id: None,
        site: None,
        active_from: None,
        active_until: None,
        text: Some(query.q.trim().to_owned()).filter(|q| !q.is_empty()),
    };
    let token = visit.token(&console).await;
    let answer = console
        .api
        .run::<api::PublicPilots>(
            token.as_deref(),
            &visit.client_address,
            public_pilots::Variables {
                filter: Some(filter),
                first: Some(20),
                after: query.after.clone().filter(|a| !a.is_empty()),
            },
        )
        .await;
    let pilots = match answer {
        Ok(data) => data.pilots,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let rows = pilots
        .edges
        .into_iter()
        .map(|edge| {
            let p = edge.node;
            RegistryRow {
                id: p.id,
                title: match (lang, p.title_en) {
                    (Lang::En, Some(english)) if !english.is_empty() => english,
                    _ => p.title,
                },
                domain: lang.t(&label_key("domain", &format!("{:?}", p.domain))),
                status: lang.t(&label_key("status", &format!("{:?}", p.status))),
                lead: p.lead_company.name_ko,
                site: p.site,
                period: format!("{} ~ {}", p.starts_on, p.ends_on),
            }
        })
        .collect();
    let count = lang.t_with("registry-count", &[("n", grouped(pilots.total_count))]);
    let next_page = pilots
        .page_info
        .has_next_page
        .then(|| {
            pilots
                .page_info
                .end_cursor
                .as_deref()
                .map(|c| link(&query, Some(c)))
        })
        .flatten();
    let first_page = query.after.is_some().then(|| link(&query, None));
    let title = lang.t("registry-title");
    let layout = visit.layout(&console, title, "pilots");
    let page = if partial {
        render(&RegistryResults {
            layout,
            count,
            rows,
            next_page,
            first_page,
        })
    } else {
        render(&RegistryPage {
            domains: choices(lang, "domain", &DOMAINS, &query.domain),
            statuses: choices(lang, "status", &STATUSES, &query.status),
            layout,
            query,
            count,
            rows,
            next_page,
            first_page,
        })
    };
    visit.respond(&console, StatusCode::OK, page).await
}

pub async fn pilot(
    State(console): State<Console>,
    mut visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let lang = visit.lang;
    let token = visit.token(&console).await;
    let answer = console
        .api
        .run::<api::PublicPilot>(
            token.as_deref(),
            &visit.client_address,
            public_pilot::Variables { id },
        )
        .await;
    let pilot = match answer {
        Ok(data) => data.pilot,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let Some(p) = pilot else {
        return not_found_page(&console, &mut visit).await;
    };
    let title = p.title.clone();
    let layout = visit.layout(&console, title.clone(), "pilots");
    let page = PilotPage {
        layout,
        title,
        title_en: p.title_en.filter(|t| !t.is_empty()),
        domain: lang.t(&label_key("domain", &format!("{:?}", p.domain))),
        status: lang.t(&label_key("status", &format!("{:?}", p.status))),
        lead: p.lead_company.name_ko,
        site: p.site,
        period: format!("{} ~ {}", p.starts_on, p.ends_on),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}
