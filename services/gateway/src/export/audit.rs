//! `GET /export/audit.csv`: the audit trail as `auditLog` lists it, newest first, with the
//! same filters as query parameters (`objectKind`, `objectId`, `companyId`, `actorId`,
//! `action`, `from`, `until` as RFC 3339) and the same rules of who sees what. People and
//! companies are named; e-mail addresses are left out. At most [`MAX_ROWS`] entries: narrow
//! the period for more.

use std::{collections::HashMap, net::SocketAddr};

use axum::{
    Extension,
    extract::{ConnectInfo, Query, State},
    http::HeaderMap,
    response::Response,
};
use axv_auth::MaybeCaller;
use axv_platform::text::defuse_formula;
use axv_proto::{audit::v1 as pb, onboarding::v1 as onboarding};
use serde::Deserialize;

use super::{UTF8_BOM, bad_request, charged, csv_response};
use crate::{
    AppState,
    clients::request,
    context::RequestContext,
    http::MAX_BATCH_KEYS,
    schema::audit::{Position, load_page},
};

/// The most entries one export holds.
pub const MAX_ROWS: usize = 50_000;
/// Entries per round: one less than a service answers at most, since each is asked for one
/// more than the page to tell whether more follow.
const BATCH: usize = axv_platform::audit::MAX_PAGE - 1;
/// What an export is charged: a page of `auditLog` per round of [`BATCH`] entries, roughly.
const EXPORT_COST: i64 = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditParams {
    pub object_kind: Option<String>,
    pub object_id: Option<String>,
    pub company_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
}

impl AuditParams {
    fn to_request(&self) -> Result<pb::ListEntriesRequest, String> {
        let time = |field: &str, text: &Option<String>| match text.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|at| Some(at.timestamp_millis()))
                .map_err(|_| format!("{field} must be an RFC 3339 date-time")),
        };
        let text = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(pb::ListEntriesRequest {
            object_kind: text(&self.object_kind),
            object_id: text(&self.object_id),
            company_id: text(&self.company_id),
            actor_id: text(&self.actor_id),
            action: text(&self.action),
            from_ms: time("from", &self.from)?,
            until_ms: time("until", &self.until)?,
            ..Default::default()
        })
    }
}

const HEADER: [&str; 16] = [
    "at",
    "source",
    "seq",
    "actorKind",
    "actorId",
    "actorName",
    "actorRole",
    "action",
    "objectKind",
    "objectId",
    "companyId",
    "companyName",
    "summary",
    "note",
    "traceId",
    "hash",
];

/// The CSV document: a byte order mark (for Excel), the header, one row per entry.
pub fn to_csv(
    entries: &[pb::AuditEntry],
    people: &HashMap<String, String>,
    companies: &HashMap<String, String>,
) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(UTF8_BOM.to_vec());
    out.write_record(HEADER)?;
    for entry in entries {
        let at = chrono::DateTime::from_timestamp_millis(entry.at_ms)
            .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let company = entry.company_id.clone().unwrap_or_default();
        // Names, summaries and notes are typed by people: kept as text, never run.
        let typed = |text: &str| defuse_formula(text);
        out.write_record([
            at.as_str(),
            &entry.source,
            &entry.seq.to_string(),
            &entry.actor_kind,
            &entry.actor_id,
            &typed(people.get(&entry.actor_id).map_or("", String::as_str)),
            &entry.actor_role,
            &entry.action,
            &entry.object_kind,
            &entry.object_id,
            &company,
            &typed(companies.get(&company).map_or("", String::as_str)),
            &typed(&entry.summary),
            &typed(entry.note.as_deref().unwrap_or_default()),
            entry.trace_id.as_deref().unwrap_or_default(),
            &entry.hash,
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

pub async fn audit_csv(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<AuditParams>,
) -> Response {
    let filter = match params.to_request() {
        Ok(filter) => filter,
        Err(message) => return bad_request(&message),
    };
    let rc = match charged(&state, caller, connect, &headers, EXPORT_COST).await {
        Ok(rc) => rc,
        Err(refused) => return refused,
    };
    let mut entries: Vec<pb::AuditEntry> = Vec::new();
    let mut after: Option<Position> = None;
    loop {
        let first = BATCH.min(MAX_ROWS - entries.len());
        let (page, more, _) =
            match load_page(&state.clients, &rc, &filter, first, after.as_ref()).await {
                Ok(page) => page,
                Err(status) => return crate::http::status_error(&status),
            };
        after = page.last().map(Position::of);
        entries.extend(page);
        if !more || entries.len() >= MAX_ROWS {
            break;
        }
    }
    let (people, companies) = match names(&state, &rc, &entries).await {
        Ok(names) => names,
        Err(status) => return crate::http::status_error(&status),
    };
    match to_csv(&entries, &people, &companies) {
        Ok(body) => csv_response(body, "axv-audit-log.csv"),
        Err(error) => {
            tracing::error!(%error, "audit CSV encoding failed");
            crate::http::status_error(&tonic::Status::internal("encoding the CSV failed"))
        }
    }
}

/// The names of the accounts and companies the entries mention, by id, as the caller may see
/// them.
async fn names(
    state: &AppState,
    rc: &RequestContext,
    entries: &[pb::AuditEntry],
) -> Result<(HashMap<String, String>, HashMap<String, String>), tonic::Status> {
    let mut people: Vec<String> = entries
        .iter()
        .filter(|e| e.actor_kind == "ACCOUNT")
        .map(|e| e.actor_id.clone())
        .collect();
    people.sort();
    people.dedup();
    let mut companies: Vec<String> = entries
        .iter()
        .filter_map(|e| e.company_id.clone())
        .collect();
    companies.sort();
    companies.dedup();
    let mut person_names = HashMap::with_capacity(people.len());
    for chunk in people.chunks(MAX_BATCH_KEYS) {
        let found = state
            .clients
            .onboarding
            .clone()
            .batch_get_user_names(request(
                rc,
                onboarding::BatchGetUserNamesRequest {
                    ids: chunk.to_vec(),
                },
            ))
            .await?
            .into_inner();
        person_names.extend(found.names.into_iter().map(|n| (n.id, n.name)));
    }
    let mut company_names = HashMap::with_capacity(companies.len());
    for chunk in companies.chunks(MAX_BATCH_KEYS) {
        let found = state
            .clients
            .onboarding
            .clone()
            .batch_get_companies(request(
                rc,
                onboarding::BatchGetCompaniesRequest {
                    ids: chunk.to_vec(),
                },
            ))
            .await?
            .into_inner();
        company_names.extend(found.companies.into_iter().map(|c| (c.id, c.name_ko)));
    }
    Ok((person_names, company_names))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rows_name_people_and_companies_and_excel_reads_them_as_utf8() {
        let entry = pb::AuditEntry {
            source: "onboarding".into(),
            seq: 3,
            at_ms: 1_765_000_000_000,
            actor_kind: "ACCOUNT".into(),
            actor_id: "u1".into(),
            actor_role: "PROGRAM_MANAGER".into(),
            action: "company.approved".into(),
            object_kind: "company".into(),
            object_id: "c1".into(),
            company_id: Some("c1".into()),
            summary: "UNDER_REVIEW → APPROVED".into(),
            note: Some("=서류, 확인 \"완료\"".into()),
            trace_id: None,
            hash: "ab".repeat(32),
        };
        let people = HashMap::from([("u1".to_owned(), "이서연".to_owned())]);
        let companies = HashMap::from([("c1".to_owned(), "광주로보틱스".to_owned())]);
        let bytes = to_csv(&[entry], &people, &companies).unwrap();
        assert!(bytes.starts_with(UTF8_BOM));
        let text = String::from_utf8(bytes[UTF8_BOM.len()..].to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap().split(',').count(), HEADER.len());
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "2025-12-06T05:46:40.000Z,onboarding,3,ACCOUNT,u1,이서연,PROGRAM_MANAGER,company.approved,company,c1,c1,광주로보틱스,UNDER_REVIEW → APPROVED,\"'=서류, 확인 \"\"완료\"\"\",,{}",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn a_period_must_be_a_date_time() {
        let params = AuditParams {
            from: Some("yesterday".into()),
            ..AuditParams::default()
        };
        assert!(params.to_request().is_err());
        let params = AuditParams {
            from: Some("2026-12-01T00:00:00+09:00".into()),
            action: Some(" voucher. ".into()),
            ..AuditParams::default()
        };
        let request = params.to_request().unwrap();
        assert_eq!(request.from_ms, Some(1_796_050_800_000));
        assert_eq!(request.action.as_deref(), Some("voucher."));
    }
}
