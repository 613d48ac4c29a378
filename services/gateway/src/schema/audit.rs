//! `auditLog`: every service's audit trail, merged newest first. Each service answers for its
//! own chain and decides what the caller may see (staff all, a firm its companies' entries,
//! nobody else any); the gateway asks them all for a page and merges.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use axv_proto::audit::v1 as pb;
use base64::Engine as _;

use super::{
    connection::{PageInfo, page_size},
    onboarding::{Company, User, user_for},
    scalars::DateTime,
};
use crate::{
    clients::{Clients, request},
    context::RequestContext,
    errors::{bad_input, from_status},
    loaders::CompanyLoader,
};
use async_graphql::dataloader::DataLoader;

/// Who made a change.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuditActorKind {
    /// A person signed in with an account.
    Account,
    /// A machine signed in with client credentials.
    ApiClient,
    /// The platform itself (a sweeper, a reaction to another service's event, a calendar).
    System,
}

/// What to list; every field optional, all given ones must match.
#[derive(InputObject, Default, Debug)]
pub struct AuditFilter {
    /// `company`, `account`, `api_client`, `pool`, `program`, `application`, `voucher`,
    /// `hold`, `pilot`, `report`, `release` or `document`.
    pub object_kind: Option<String>,
    pub object_id: Option<ID>,
    pub company_id: Option<ID>,
    /// An account's or API client's id, or the system's part (`sweeper`).
    pub actor_id: Option<ID>,
    /// An action (`voucher.revoked`) or every action on a kind of object (`voucher.`).
    pub action: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime>,
    /// Before this time (exclusive).
    pub until: Option<DateTime>,
}

/// One recorded change, as its service's chain holds it.
#[derive(Clone, Debug)]
pub struct AuditEntry(pub pb::AuditEntry);

#[Object]
impl AuditEntry {
    /// `<service>:<position in its chain>`.
    async fn id(&self) -> ID {
        ID(format!("{}:{}", self.0.source, self.0.seq))
    }
    /// The service whose chain holds the entry.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// The entry's position in its service's chain, from 1.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn at(&self) -> DateTime {
        DateTime::from_millis(self.0.at_ms)
    }
    async fn actor_kind(&self) -> AuditActorKind {
        match self.0.actor_kind.as_str() {
            "ACCOUNT" => AuditActorKind::Account,
            "API_CLIENT" => AuditActorKind::ApiClient,
            _ => AuditActorKind::System,
        }
    }
    /// The account's or API client's id, or which part of the system acted.
    async fn actor_id(&self) -> ID {
        ID(self.0.actor_id.clone())
    }
    /// Who acted, with a name to show; `null` for the system. `email` only where the caller
    /// may see it.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let subject = match self.0.actor_kind.as_str() {
            "ACCOUNT" => self.0.actor_id.clone(),
            "API_CLIENT" => format!("client:{}", self.0.actor_id),
            _ => return Ok(None),
        };
        user_for(ctx, &subject, &self.0.actor_role).await.map(Some)
    }
    /// `<object>.<what happened>`, e.g. `company.approved`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn object_kind(&self) -> &str {
        &self.0.object_kind
    }
    async fn object_id(&self) -> ID {
        ID(self.0.object_id.clone())
    }
    async fn company_id(&self) -> Option<ID> {
        self.0.company_id.clone().map(ID)
    }
    /// The company the object belongs to, as the caller may see it.
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<Company>> {
        let Some(id) = &self.0.company_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<DataLoader<CompanyLoader>>()?
            .load_one(id.clone())
            .await
            .map_err(|e| (*e).clone())?
            .map(Company))
    }
    /// Short before/after, e.g. `SUBMITTED → APPROVED`.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// The request's trace, to find its logs and spans.
    async fn trace_id(&self) -> Option<&str> {
        self.0.trace_id.as_deref()
    }
    /// SHA-256 (hex) linking this entry to the one before it in its chain; `axv audit verify`
    /// recomputes it.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

#[derive(async_graphql::SimpleObject)]
pub struct AuditEntryEdge {
    pub cursor: String,
    pub node: AuditEntry,
}

#[derive(async_graphql::SimpleObject)]
pub struct AuditEntryConnection {
    pub edges: Vec<AuditEntryEdge>,
    pub page_info: PageInfo,
    pub total_count: i32,
}

/// Where a page ends: the last entry's (time, service, position). Entries are ordered newest
/// first by that triple, so the next page is every entry below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    at_ms: i64,
    source: String,
    seq: i64,
}

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Position {
    pub fn of(entry: &pb::AuditEntry) -> Self {
        Position {
            at_ms: entry.at_ms,
            source: entry.source.clone(),
            seq: entry.seq,
        }
    }

    fn cursor(&self) -> String {
        CURSOR.encode(format!("audit:{}:{}:{}", self.at_ms, self.source, self.seq))
    }

    fn parse(cursor: &str) -> Option<Self> {
        let text = String::from_utf8(CURSOR.decode(cursor).ok()?).ok()?;
        let mut parts = text.strip_prefix("audit:")?.splitn(3, ':');
        Some(Position {
            at_ms: parts.next()?.parse().ok()?,
            source: parts.next()?.to_owned(),
            seq: parts.next()?.parse().ok()?,
        })
    }

    /// What `source` is asked for to list only entries after this position: entries at the
    /// same millisecond of a service sorting before it come after it, of one after it never.
    fn before_in(&self, source: &str) -> (i64, i64) {
        match source.cmp(self.source.as_str()) {
            std::cmp::Ordering::Less => (self.at_ms, i64::MAX),
            std::cmp::Ordering::Equal => (self.at_ms, self.seq),
            std::cmp::Ordering::Greater => (self.at_ms, 0),
        }
    }

    /// Newest first: the later time, then the later service name, then the later position.
    fn newest_first(a: &pb::AuditEntry, b: &pb::AuditEntry) -> std::cmp::Ordering {
        (b.at_ms, &b.source, b.seq).cmp(&(a.at_ms, &a.source, a.seq))
    }
}

/// The services' answers merged: up to `first` entries after `after`, newest first, whether
/// more follow, and how many match in all. Used by `auditLog` and the CSV export.
pub async fn load_page(
    clients: &Clients,
    caller: &RequestContext,
    filter: &pb::ListEntriesRequest,
    first: usize,
    after: Option<&Position>,
) -> std::result::Result<(Vec<pb::AuditEntry>, bool, i64), tonic::Status> {
    let calls = clients.audit_logs.iter().map(|(source, client)| {
        let before = after.map(|position| position.before_in(source));
        let message = pb::ListEntriesRequest {
            before_at_ms: before.map(|(at, _)| at),
            before_seq: before.map_or(0, |(_, seq)| seq),
            limit: i32::try_from(first + 1).unwrap_or(i32::MAX),
            ..filter.clone()
        };
        let mut client = client.clone();
        async move { client.list_entries(request(caller, message)).await }
    });
    let mut entries = Vec::new();
    let mut total = 0_i64;
    for answer in futures::future::join_all(calls).await {
        let answer = answer?.into_inner();
        total += answer.total;
        entries.extend(answer.entries);
    }
    entries.sort_by(Position::newest_first);
    let has_next_page = entries.len() > first;
    entries.truncate(first);
    Ok((entries, has_next_page, total))
}

impl AuditFilter {
    /// The request every service gets, before paging is added.
    pub fn to_request(&self) -> pb::ListEntriesRequest {
        pb::ListEntriesRequest {
            object_kind: self.object_kind.clone(),
            object_id: self.object_id.as_ref().map(|id| id.0.clone()),
            company_id: self.company_id.as_ref().map(|id| id.0.clone()),
            actor_id: self.actor_id.as_ref().map(|id| id.0.clone()),
            action: self.action.clone(),
            from_ms: self.from.as_ref().map(|at| at.0.timestamp_millis()),
            until_ms: self.until.as_ref().map(|at| at.0.timestamp_millis()),
            ..Default::default()
        }
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Who did what, when, across the platform, newest first. Staff see every entry; a firm's
    /// members the entries about their own companies; dashboards and operators are FORBIDDEN,
    /// anonymous callers UNAUTHENTICATED. `GET /export/audit.csv` gives the same with the
    /// same filters as a spreadsheet.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditEntryConnection> {
        let first = usize::try_from(page_size(first)?).unwrap_or(20);
        let after = match after.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(
                Position::parse(cursor)
                    .ok_or_else(|| bad_input("after is not a cursor from this API"))?,
            ),
        };
        let request = filter.unwrap_or_default().to_request();
        let (caller, clients) = (ctx.data::<RequestContext>()?, ctx.data::<Clients>()?);
        let (entries, has_next_page, total) =
            load_page(clients, caller, &request, first, after.as_ref())
                .await
                .map_err(from_status)?;
        let edges: Vec<AuditEntryEdge> = entries
            .into_iter()
            .map(|entry| AuditEntryEdge {
                cursor: Position::of(&entry).cursor(),
                node: AuditEntry(entry),
            })
            .collect();
        Ok(AuditEntryConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            edges,
            total_count: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: i64, source: &str, seq: i64) -> pb::AuditEntry {
        pb::AuditEntry {
            at_ms,
            source: source.to_owned(),
            seq,
            ..Default::default()
        }
    }

    #[test]
    fn a_cursor_round_trips_and_foreign_ones_are_refused() {
        let position = Position {
            at_ms: 1_765_000_000_000,
            source: "vouchers".into(),
            seq: 42,
        };
        assert_eq!(Position::parse(&position.cursor()), Some(position));
        assert_eq!(Position::parse("bm90LWEtY3Vyc29y"), None);
        assert_eq!(Position::parse("%%%"), None);
    }

    #[test]
    fn the_next_page_starts_exactly_after_the_last_entry_of_any_service() {
        // Three services wrote at the same millisecond; the page ended at onboarding's 7.
        let last = Position::of(&entry(100, "onboarding", 7));
        let mut all = [
            entry(100, "documents", 3),
            entry(100, "onboarding", 8),
            entry(100, "onboarding", 7),
            entry(100, "onboarding", 6),
            entry(100, "vouchers", 1),
            entry(99, "vouchers", 0),
        ];
        all.sort_by(Position::newest_first);
        let after: Vec<_> = all
            .iter()
            .filter(|e| {
                let (at, seq) = last.before_in(&e.source);
                e.at_ms < at || (e.at_ms == at && e.seq < seq)
            })
            .map(|e| (e.source.as_str(), e.seq))
            .collect();
        assert_eq!(
            after,
            vec![("onboarding", 6), ("documents", 3), ("vouchers", 0)]
        );
    }
}
