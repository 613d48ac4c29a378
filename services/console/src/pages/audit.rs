//! 감사 기록: the platform's audit trail for the programme office, newest first: who did what
//! to which company's item, when, with the note they wrote; filtered by subject and period,
//! and downloadable as CSV for the audit office.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{Choice, error_page, label_key, review::require_staff};
use crate::{
    Console, Lang, Visit,
    api::{self, audit_log},
    exports::{self, CSV, Cell, Table, download},
    format::kst,
    render,
};

/// What the subject filter offers: the action prefixes of each kind of object.
const SUBJECTS: [&str; 12] = [
    "company",
    "application",
    "voucher",
    "hold",
    "pilot",
    "report",
    "document",
    "account",
    "api_client",
    "pool",
    "program",
    "stats",
];

/// Entries per page, and at most this many pages in one download.
const PAGE: i64 = 50;
const DOWNLOAD_PAGES: usize = 40;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    after: Option<String>,
}

pub struct Row {
    pub at: String,
    pub who: String,
    pub what: String,
    pub company: String,
    pub summary: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: crate::Layout,
    subjects: Vec<Choice>,
    from: String,
    to: String,
    error: Option<String>,
    count: String,
    rows: Vec<Row>,
    /// The filters as a query string (`?subject=…`), for the next page and the download.
    query: String,
    next: Option<String>,
}

impl Filters {
    /// The API filter, or the sentence saying which date could not be read.
    fn to_api(&self, lang: Lang) -> Result<audit_log::AuditFilter, String> {
        let day = |text: &str| -> Result<Option<chrono::NaiveDate>, String> {
            match text.trim() {
                "" => Ok(None),
                t => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| lang.t("audit-bad-date")),
            }
        };
        let start = |date: chrono::NaiveDate| format!("{date}T00:00:00+09:00");
        let subject = SUBJECTS
            .iter()
            .find(|s| **s == self.subject)
            .map(|s| format!("{s}."));
        Ok(audit_log::AuditFilter {
            object_kind: None,
            object_id: None,
            company_id: None,
            actor_id: None,
            action: subject,
            from: day(&self.from)?.map(start),
            // The last day counts whole: until the start of the next.
            until: day(&self.to)?.and_then(|date| date.succ_opt()).map(start),
        })
    }

    fn query(&self) -> String {
        let pairs: Vec<String> = [
            ("subject", &self.subject),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, value)| format!("{name}={}", super::url_encoded(value.trim())))
        .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }
}

fn row(lang: Lang, node: audit_log::AuditLogAuditLogEdgesNode) -> Row {
    let who = match (node.actor_kind, node.actor) {
        (audit_log::AuditActorKind::ACCOUNT, Some(actor)) => format!(
            "{} · {}",
            actor.name,
            lang.t(&label_key("role", &format!("{:?}", actor.role)))
        ),
        (audit_log::AuditActorKind::API_CLIENT, _) => {
            lang.t_with("audit-api-client", &[("id", node.actor_id.clone())])
        }
        _ => lang.t("audit-system"),
    };
    let key = format!("audit-action-{}", node.action.replace(['.', '_'], "-"));
    let what = match lang.t(&key) {
        label if label == key => node.action.clone(),
        label => label,
    };
    Row {
        at: kst(&node.at),
        who,
        what,
        company: node
            .company
            .map(|c| super::review::company_name(lang, &c.name_ko, c.name_en.as_deref()))
            .unwrap_or_default(),
        summary: summary_in(lang, &node.object_kind, &node.summary),
        note: node.note.unwrap_or_default(),
    }
}

/// A transition's summary (`SUBMITTED → APPROVED`) in the person's words, as the object's own
/// page names its statuses; any other summary as recorded.
fn summary_in(lang: Lang, object_kind: &str, summary: &str) -> String {
    let prefix = match object_kind {
        "company" => "company-status",
        "application" => "application-status",
        "voucher" => "voucher-status",
        "pilot" => "status",
        "report" => "report-status",
        _ => return summary.to_owned(),
    };
    let word = |status: &str| {
        let key = label_key(prefix, status);
        let label = lang.t(&key);
        (label != key).then_some(label)
    };
    let is_status =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    let named = match summary.split_once(" → ") {
        Some((from, to)) if is_status(from) && is_status(to) => word(from)
            .zip(word(to))
            .map(|(from, to)| format!("{from} → {to}")),
        None if is_status(summary) => word(summary),
        _ => None,
    };
    named.unwrap_or_else(|| summary.to_owned())
}

async fn fetch(
    console: &Console,
    visit: &Visit,
    token: &str,
    filter: audit_log::AuditFilter,
    first: i64,
    after: Option<String>,
) -> Result<audit_log::AuditLogAuditLog, api::ApiError> {
    Ok(console
        .api
        .run::<api::AuditLog>(
            Some(token),
            &visit.client_address,
            audit_log::Variables {
                filter: Some(filter),
                first: Some(first),
                after,
            },
        )
        .await?
        .audit_log)
}

pub async fn page(
    State(console): State<Console>,
    mut visit: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let (filter, error) = match filters.to_api(lang) {
        Ok(filter) => (filter, None),
        Err(error) => (no_filter(), Some(error)),
    };
    let log = match fetch(
        &console,
        &visit,
        &token,
        filter,
        PAGE,
        filters.after.clone(),
    )
    .await
    {
        Ok(log) => log,
        Err(error) => return error_page(&console, &mut visit, &error).await,
    };
    let mut subjects = vec![Choice::nothing(lang, "audit-subject-all", &filters.subject)];
    subjects.extend(super::choices(
        lang,
        "audit-subject",
        &SUBJECTS,
        &filters.subject,
    ));
    let page = AuditPage {
        layout: visit.layout(&console, lang.t("audit-title"), "audit"),
        subjects,
        from: filters.from.clone(),
        to: filters.to.clone(),
        error,
        count: lang.t_with("audit-count", &[("count", log.total_count.to_string())]),
        next: log
            .page_info
            .has_next_page
            .then_some(log.page_info.end_cursor)
            .flatten(),
        rows: log.edges.into_iter().map(|e| row(lang, e.node)).collect(),
        query: filters.query(),
    };
    visit.respond(&console, StatusCode::OK, render(&page)).await
}

/// Every entry: what the page shows when the typed filter could not be read.
fn no_filter() -> audit_log::AuditFilter {
    audit_log::AuditFilter {
        object_kind: None,
        object_id: None,
        company_id: None,
        actor_id: None,
        action: None,
        from: None,
        until: None,
    }
}

/// The filtered entries as CSV, headers in the person's language, at most
/// `DOWNLOAD_PAGES` pages (the API's `/export/audit.csv` takes more).
pub async fn csv(
    State(console): State<Console>,
    mut visit: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let token = match require_staff(&console, &mut visit).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let lang = visit.lang;
    let Ok(filter) = filters.to_api(lang) else {
        return visit
            .redirect(&console, &format!("/audit{}", filters.query()))
            .await;
    };
    let mut table = Table {
        title: lang.t("audit-title"),
        slug: "audit-log",
        headers: [
            "audit-at",
            "audit-who",
            "audit-what",
            "audit-company",
            "audit-summary",
            "audit-note",
        ]
        .iter()
        .map(|key| lang.t(key))
        .collect(),
        rows: Vec::new(),
    };
    let mut after = None;
    for _ in 0..DOWNLOAD_PAGES {
        let log = match fetch(&console, &visit, &token, filter.clone(), 100, after).await {
            Ok(log) => log,
            Err(error) => return error_page(&console, &mut visit, &error).await,
        };
        for edge in log.edges {
            let row = row(lang, edge.node);
            table.rows.push(
                [
                    row.at,
                    row.who,
                    row.what,
                    row.company,
                    row.summary,
                    row.note,
                ]
                .into_iter()
                .map(Cell::Text)
                .collect(),
            );
        }
        if !log.page_info.has_next_page {
            break;
        }
        after = log.page_info.end_cursor;
    }
    download(
        CSV,
        &format!("audit-log-{}.csv", crate::format::today_kst()),
        exports::csv(&table),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_read_in_the_persons_words_and_the_rest_as_recorded() {
        assert_eq!(
            summary_in(Lang::Ko, "report", "SUBMITTED → RETURNED"),
            "제출됨 → 보완 요청"
        );
        assert_eq!(summary_in(Lang::Ko, "company", "DRAFT"), "작성 중");
        assert_eq!(
            summary_in(Lang::Ko, "hold", "voucher AXV-1: OPEN → COMMITTED"),
            "voucher AXV-1: OPEN → COMMITTED"
        );
        assert_eq!(
            summary_in(Lang::Ko, "pilot", "NOPE → DRAFT"),
            "NOPE → DRAFT"
        );
    }
}
