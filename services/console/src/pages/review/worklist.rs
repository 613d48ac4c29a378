//! The worklist: every queue with its count, the firm's name, what is asked, how long it has
//! waited and who has picked it up, oldest first, filtered by industry and searched by name.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;
use serde::Deserialize;

use super::{claims, company_name, picked_up_by, require_staff};
use crate::pages::url_encoded;
use crate::{
    Console, Layout, Visit,
    api::{
        self, ApiError, worklist_applications, worklist_companies, worklist_overdue,
        worklist_pilots, worklist_reports, worklist_vouchers,
    },
    format::{days_since, grouped},
    i18n::Lang,
    pages::{
        Choice, choices_or_nothing, companies::SECTORS, error_page, label_key, vouchers::amount,
    },
    render,
};

/// A voucher is running low below this share of its grant left (the firm was warned at 80% used).
const LOW_BALANCE_PERCENT: i64 = 20;
/// A voucher expiring within this many days is listed.
const EXPIRING_WITHIN_DAYS: i64 = 30;

/// The worklist's filters, from the address (`/review?sector=ENERGY&q=광주`).
#[derive(Deserialize, Default)]
pub struct WorklistFilter {
    #[serde(default)]
    sector: String,
    #[serde(default)]
    q: String,
}

impl WorklistFilter {
    fn is_set(&self) -> bool {
        !self.sector.is_empty() || !self.q.trim().is_empty()
    }

    /// The filter as a query string (`?sector=...&q=...`), for the live counts' address.
    fn query(&self) -> String {
        if !self.is_set() {
            return String::new();
        }
        format!(
            "?sector={}&q={}",
            url_encoded(&self.sector),
            url_encoded(self.q.trim())
        )
    }

    fn admits(&self, item: &Item) -> bool {
        let sector_ok = self.sector.is_empty() || item.sector == self.sector;
        let text = self.q.trim().to_lowercase();
        let text_ok = text.is_empty()
            || item.name_ko.to_lowercase().contains(&text)
            || item
                .name_en
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&text))
            || item.asked.to_lowercase().contains(&text);
        sector_ok && text_ok
    }
}

/// One waiting item, whatever its queue.
struct Item {
    sector: String,
    name_ko: String,
    name_en: Option<String>,
    asked: String,
    /// Days waited (or overdue); for vouchers, days left.
    days: i64,
    holder: Option<String>,
    status: String,
    href: Option<String>,
}

pub struct Row {
    pub company: String,
    pub asked: String,
    pub days: String,
    pub holder: String,
    pub status: String,
    pub href: Option<String>,
}

pub struct Queue {
    pub id: &'static str,
    pub title: String,
    pub count: i64,
    pub days_header: String,
    pub rows: Vec<Row>,
    /// "The oldest 100 of 140 are shown."
    pub partial: Option<String>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct WorklistPage {
    layout: Layout,
    live_query: String,
    queues: Vec<Queue>,
    sectors: Vec<Choice>,
    q: String,
    filtered: bool,
}

fn queue(
    lang: Lang,
    id: &'static str,
    total: i64,
    days_header: &str,
    mut items: Vec<Item>,
    filter: &WorklistFilter,
) -> Queue {
    let fetched = items.len();
    items.retain(|item| filter.admits(item));
    // Oldest first; for vouchers, the soonest to run out first.
    if id == "vouchers" {
        items.sort_by_key(|item| item.days);
    } else {
        items.sort_by_key(|item| std::cmp::Reverse(item.days));
    }
    let count = if filter.is_set() {
        i64::try_from(items.len()).unwrap_or(i64::MAX)
    } else {
        total
    };
    let partial = (i64::try_from(fetched).unwrap_or(i64::MAX) < total).then(|| {
        lang.t_with(
            "review-partial",
            &[
                ("shown", grouped(fetched as i64)),
                ("total", grouped(total)),
            ],
        )
    });
    let rows = items
        .into_iter()
        .map(|item| Row {
            company: company_name(lang, &item.name_ko, item.name_en.as_deref()),
            asked: item.asked,
            days: lang.t_with("review-days", &[("days", grouped(item.days))]),
            holder: item.holder.unwrap_or_else(|| "-".to_owned()),
            status: item.status,
            href: item.href,
        })
        .collect();
    Queue {
        id,
        title: lang.t(&format!("review-queue-{id}")),
        count,
        days_header: lang.t(days_header),
        rows,
        partial,
    }
}

/// Every queue's answer from the API.
struct Waiting {
    companies: worklist_companies::ResponseData,
    applications: worklist_applications::ResponseData,
    pilots: worklist_pilots::ResponseData,
    reports: worklist_reports::ResponseData,
    overdue: worklist_overdue::ResponseData,
    vouchers: worklist_vouchers::ResponseData,
}

/// The queues' six queries, side by side.
async fn waiting(console: &Console, visit: &Visit, token: &str) -> Result<Waiting, ApiError> {
    let api = &console.api;
    let at = visit.client_address.as_str();
    let (companies, applications, pilots, reports, overdue, vouchers) = tokio::try_join!(
        api.run::<api::WorklistCompanies>(Some(token), at, worklist_companies::Variables {}),
        api.run::<api::WorklistApplications>(Some(token), at, worklist_applications::Variables {}),
        api.run::<api::WorklistPilots>(Some(token), at, worklist_pilots::Variables {}),
        api.run::<api::WorklistReports>(Some(token), at, worklist_reports::Variables {}),
        api.run::<api::WorklistOverdue>(Some(token), at, worklist_overdue::Variables {}),
        api.run::<api::WorklistVouchers>(Some(token), at, worklist_vouchers::Variables {}),
    )?;
    Ok(Waiting {
        companies,
        applications,
        pilots,
        reports,
        overdue,
        vouchers,
    })
}

/// The items a manager may pick up, by id: companies, applications, pilots and reports.
fn reviewable_ids(data: &Waiting) -> Vec<String> {
    let companies = data.companies.companies.edges.iter().map(|e| &e.node.id);
    let applications = (data.applications.voucher_applications.edges.iter()).map(|e| &e.node.id);
    let pilots = data.pilots.pilots.edges.iter().map(|e| &e.node.id);
    let reports = data
        .reports
        .outcome_reports
        .edges
        .iter()
        .map(|e| &e.node.id);
    companies
        .chain(applications)
        .chain(pilots)
        .chain(reports)
        .cloned()
        .collect()
}

/// `holders`: who holds which item for review, by id (see [`reviewable_ids`]).
fn queues(
    lang: Lang,
    data: Waiting,
    filter: &WorklistFilter,
    holders: &HashMap<String, String>,
) -> Vec<Queue> {
    let today = axv_platform::calendar::today_kst();
    let held = |id: &str| holders.get(id).cloned();
    let days = |at: &str| days_since(at, today).unwrap_or(0);
    let companies_total = data.companies.companies.total_count;
    let applications_total = data.applications.voucher_applications.total_count;
    let pilots_total = data.pilots.pilots.total_count;
    let reports_total = data.reports.outcome_reports.total_count;
    let companies = data
        .companies
        .companies
        .edges
        .into_iter()
        .map(|edge| {
            let c = edge.node;
            let submitted = c.history.iter().rev().find(|h| h.to == "SUBMITTED");
            let status = format!("{:?}", c.status);
            // Starting the review picks a company up; a lapsed claim leaves who started it.
            let holder = held(&c.id).or_else(|| {
                picked_up_by(
                    c.history
                        .iter()
                        .map(|h| (h.to.as_str(), h.by_name.as_ref())),
                    &status,
                    "UNDER_REVIEW",
                )
            });
            Item {
                sector: format!("{:?}", c.sector),
                asked: lang.t("review-asked-company"),
                days: submitted.map_or(0, |h| days(&h.at)),
                holder,
                status: lang.t(&label_key("company-status", &status)),
                href: Some(format!("/review/companies/{}", c.id)),
                name_ko: c.name_ko,
                name_en: c.name_en,
            }
        })
        .collect();
    let applications = data
        .applications
        .voucher_applications
        .edges
        .into_iter()
        .map(|edge| {
            let a = edge.node;
            let kind = format!("{:?}", a.program.pool.kind);
            Item {
                sector: format!("{:?}", a.company.sector),
                asked: format!(
                    "{} · {}",
                    a.program.name,
                    amount(lang, &kind, a.requested_amount)
                ),
                days: days(&a.created_at),
                holder: held(&a.id),
                status: lang.t("application-status-submitted"),
                href: Some(format!("/review/applications/{}", a.id)),
                name_ko: a.company.name_ko,
                name_en: a.company.name_en,
            }
        })
        .collect();
    let pilots = data
        .pilots
        .pilots
        .edges
        .into_iter()
        .map(|edge| {
            let p = edge.node;
            let submitted = p.history.iter().rev().find(|h| h.to == "SUBMITTED");
            Item {
                sector: format!("{:?}", p.lead_company.sector),
                asked: format!(
                    "{} ({})",
                    p.title,
                    lang.t(&label_key("domain", &format!("{:?}", p.domain)))
                ),
                days: submitted.map_or(0, |h| days(&h.at)),
                holder: held(&p.id),
                status: lang.t("status-submitted"),
                href: Some(format!("/review/pilots/{}", p.id)),
                name_ko: p.lead_company.name_ko,
                name_en: p.lead_company.name_en,
            }
        })
        .collect();
    let reports = data
        .reports
        .outcome_reports
        .edges
        .into_iter()
        .map(|edge| {
            let r = edge.node;
            let submitted = r.history.iter().rev().find(|h| h.to == "SUBMITTED");
            Item {
                sector: format!("{:?}", r.company.sector),
                asked: format!("{} · {} ~ {}", r.pilot.title, r.period_start, r.period_end),
                days: submitted.map_or(0, |h| days(&h.at)),
                holder: held(&r.id),
                status: lang.t("report-status-submitted"),
                href: Some(format!("/review/reports/{}", r.id)),
                name_ko: r.company.name_ko,
                name_en: r.company.name_en,
            }
        })
        .collect();
    let overdue_total = i64::try_from(data.overdue.due_outcome_reports.len()).unwrap_or(i64::MAX);
    let overdue = data
        .overdue
        .due_outcome_reports
        .into_iter()
        .map(|d| {
            let (sector, name_ko, name_en) = d.company.map_or_else(
                || (String::new(), "-".to_owned(), None),
                |c| (format!("{:?}", c.sector), c.name_ko, c.name_en),
            );
            Item {
                sector,
                asked: format!("{} · {} ~ {}", d.pilot_title, d.period_start, d.period_end),
                days: days(&d.period_end),
                holder: None,
                status: lang.t("review-overdue"),
                href: Some(format!("/review/pilots/{}", d.pilot_id)),
                name_ko,
                name_en,
            }
        })
        .collect();
    // Running low or expiring is read from the active vouchers fetched, not counted by the API.
    let active_total = data.vouchers.vouchers.total_count;
    let active_scanned = data.vouchers.vouchers.edges.len();
    let vouchers: Vec<Item> = data
        .vouchers
        .vouchers
        .edges
        .into_iter()
        .filter_map(|edge| {
            let v = edge.node;
            let left = -days(&v.valid_until);
            let low = v.balance * 100 < v.granted * LOW_BALANCE_PERCENT;
            let expiring = left <= EXPIRING_WITHIN_DAYS;
            if !low && !expiring {
                return None;
            }
            let kind = format!("{:?}", v.kind);
            let reason = match (low, expiring) {
                (true, true) => lang.t("review-voucher-low-and-expiring"),
                (true, false) => lang.t("review-voucher-low"),
                _ => lang.t("review-voucher-expiring"),
            };
            Some(Item {
                sector: format!("{:?}", v.company.sector),
                asked: format!(
                    "{} · {} / {}",
                    v.code,
                    amount(lang, &kind, v.balance),
                    amount(lang, &kind, v.granted)
                ),
                days: left,
                holder: None,
                status: reason,
                href: Some(format!("/vouchers/{}", v.id)),
                name_ko: v.company.name_ko,
                name_en: v.company.name_en,
            })
        })
        .collect();
    let vouchers_total = i64::try_from(vouchers.len()).unwrap_or(i64::MAX);
    let mut queues = vec![
        queue(
            lang,
            "companies",
            companies_total,
            "review-col-waited",
            companies,
            filter,
        ),
        queue(
            lang,
            "applications",
            applications_total,
            "review-col-waited",
            applications,
            filter,
        ),
        queue(
            lang,
            "pilots",
            pilots_total,
            "review-col-waited",
            pilots,
            filter,
        ),
        queue(
            lang,
            "reports",
            reports_total,
            "review-col-waited",
            reports,
            filter,
        ),
        queue(
            lang,
            "overdue",
            overdue_total,
            "review-col-overdue",
            overdue,
            filter,
        ),
        queue(
            lang,
            "vouchers",
            vouchers_total,
            "review-col-left",
            vouchers,
            filter,
        ),
    ];
    let scanned = i64::try_from(active_scanned).unwrap_or(i64::MAX);
    if scanned < active_total
        && let Some(queue) = queues.last_mut()
    {
        queue.partial = Some(lang.t_with(
            "review-partial-scanned",
            &[
                ("shown", grouped(scanned)),
                ("total", grouped(active_total)),
            ],
        ));
    }
    queues
}

#[derive(Template)]
#[template(path = "review_counts.html")]
struct CountsFragment {
    queues: Vec<Queue>,
}

/// The counts as they are now, as the worklist shows them for `filter`.
async fn counts_now(
    console: &Console,
    visit: &Visit,
    token: &str,
    filter: &WorklistFilter,
) -> Result<String, ApiError> {
    let data = waiting(console, visit, token).await?;
    let queues = queues(visit.lang, data, filter, &HashMap::new());
    CountsFragment { queues }
        .render()
        .map_err(|e| ApiError::unavailable(format!("the counts were not rendered: {e}")))
}

/// How long to gather events before counting again: a decision moves several at once.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);
/// The longest a steady stream of events holds the counts back.
const SETTLE_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);
/// The events that move the worklist's queues.
const QUEUE_EVENTS: &str = "company.*,application.*,pilot.*,report.*,voucher.*";

/// `/review/live`: the worklist's counts as server-sent events, sent again whenever the
/// gateway reports a change, while the page stays open. Anyone but staff, or a session that
/// ended, gets 204 (nothing to swap; the page keeps its counts).
pub async fn live(
    State(console): State<Console>,
    mut visit: Visit,
    Query(filter): Query<WorklistFilter>,
) -> Response {
    let Some(token) = visit.token(&console).await else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if !visit.is_staff() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let events = match console
        .api
        .events(&token, &visit.client_address, QUEUE_EVENTS)
        .await
    {
        Ok(events) => events.bytes_stream(),
        Err(error) => {
            tracing::warn!(%error, "the worklist's live counts have no events");
            return StatusCode::NO_CONTENT.into_response();
        }
    };
    let updates = futures::stream::unfold(
        (events, console, visit, token, filter),
        |(mut events, console, visit, token, filter)| async move {
            // Wait for the next event; the stream ends when the gateway's does.
            loop {
                let chunk = events.next().await?.ok()?;
                // An event ends with a blank line; keep-alive comments are not changes.
                let text = String::from_utf8_lossy(&chunk);
                if text.lines().any(|line| line.starts_with("data:")) {
                    break;
                }
            }
            let settled_by = tokio::time::Instant::now() + SETTLE_AT_MOST;
            while tokio::time::Instant::now() < settled_by
                && let Ok(Some(Ok(_))) = tokio::time::timeout(SETTLE, events.next()).await
            {
            }
            let counts = counts_now(&console, &visit, &token, &filter).await.ok()?;
            let message: String = counts
                .lines()
                .map(|line| format!("data: {line}\n"))
                .collect();
            let message = format!("{message}\n");
            Some((
                Ok::<_, std::convert::Infallible>(message),
                (events, console, visit, token, filter),
            ))
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(updates),
    )
        .into_response()
}

pub async fn worklist(
    State(console): State<Console>,
    mut visit: Visit,
    Query(filter): Query<WorklistFilter>,
) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let data = match waiting(&console, &visit, &token).await {
        Ok(data) => data,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let lang = visit.lang;
    // Without the claims the worklist still shows every item, only without who holds it.
    let holders = claims::holders(&console, &visit, &token, reviewable_ids(&data))
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "review claims not read");
            HashMap::new()
        })
        .into_iter()
        .map(|(id, claim)| {
            let name = claim.by_name.unwrap_or_else(|| lang.t("review-a-manager"));
            (id, name)
        })
        .collect();
    let sectors = choices_or_nothing(
        lang,
        "sector",
        &SECTORS,
        &filter.sector,
        "review-filter-all",
    );
    let page = WorklistPage {
        layout: visit.layout(&console, lang.t("review-title"), "review"),
        live_query: filter.query(),
        queues: queues(lang, data, &filter, &holders),
        sectors,
        q: filter.q.clone(),
        filtered: filter.is_set(),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sector: &str, name: &str, days: i64) -> Item {
        Item {
            sector: sector.to_owned(),
            name_ko: name.to_owned(),
            name_en: Some(format!("{name} Inc.")),
            asked: "기업 등록 심사".to_owned(),
            days,
            holder: None,
            status: String::new(),
            href: None,
        }
    }

    #[test]
    fn queues_put_the_oldest_first_and_filter_by_sector_and_name() {
        let items = vec![
            item("ENERGY", "빛고을에너지", 2),
            item("MOBILITY", "광주모빌리티", 9),
            item("ENERGY", "에너지밸리", 5),
        ];
        let all = queue(
            Lang::Ko,
            "companies",
            3,
            "review-col-waited",
            items,
            &WorklistFilter::default(),
        );
        let names: Vec<_> = all.rows.iter().map(|r| r.company.as_str()).collect();
        assert_eq!(names, ["광주모빌리티", "에너지밸리", "빛고을에너지"]);
        assert_eq!(all.count, 3);
        assert!(all.partial.is_none());

        let energy = WorklistFilter {
            sector: "ENERGY".into(),
            q: "밸리".into(),
        };
        let items = vec![
            item("ENERGY", "빛고을에너지", 2),
            item("ENERGY", "에너지밸리", 5),
        ];
        let some = queue(
            Lang::Ko,
            "companies",
            140,
            "review-col-waited",
            items,
            &energy,
        );
        assert_eq!(some.count, 1);
        assert_eq!(some.rows[0].company, "에너지밸리");
        assert!(some.partial.is_some(), "140 waiting, 2 fetched");
        let by_english = WorklistFilter {
            sector: String::new(),
            q: "valley".into(),
        };
        let items = vec![item("DATA", "Valley", 1)];
        let english = queue(
            Lang::En,
            "companies",
            1,
            "review-col-waited",
            items,
            &by_english,
        );
        assert_eq!(english.rows[0].company, "Valley Inc.");
    }
}
