//! The audit trail: who did what, when, to which object, kept by every service in its own
//! database as one hash chain. An entry is appended in the same transaction as the change it
//! records (so a rolled-back change leaves none), and its SHA-256 covers its canonical content
//! and the previous entry's hash, so editing, deleting or reordering entries afterwards breaks
//! the chain at that entry, which [`verify`] names. Keeping [`head`] outside the platform (the
//! daily `audit.head` event) lets a third party prove later that the past was not rewritten.
//!
//! People appear by account id only, never by name or e-mail, so a person's erasure request
//! never touches hashed content. The one free text, the note someone wrote, is hashed only as
//! the digest of a random salt and the text: erasing the note and its salt later leaves the
//! chain intact (the entry reads as redacted), while editing the note breaks it. The tables come
//! from the platform's own migration, run with every service's (see
//! [`crate::db::Database::migrate`]).

use std::fmt;

use axv_auth::Caller;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use tokio_util::sync::CancellationToken;

use crate::{
    db::{Database, StoreError},
    events::Event,
    ids::now_ms,
    outbox::Outbox,
};

/// The services that keep a chain (notify changes only a person's own inbox and preferences).
pub const AUDITED_SERVICES: &[&str] =
    &["documents", "onboarding", "outcomes", "pilots", "vouchers"];

/// The link before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// Account id, API client id, or the part of the system that acted.
    pub id: String,
    /// The role acted in (`PROGRAM_MANAGER`, ...); `None` for the system.
    pub role: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Account,
    ApiClient,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Account => "ACCOUNT",
            ActorKind::ApiClient => "API_CLIENT",
            ActorKind::System => "SYSTEM",
        }
    }
}

impl Actor {
    /// The caller of a request: an account, an API client (tokens say `sub = client:<id>`), or
    /// the platform itself: another service (`service:<name>`) or an operator's command on the
    /// installation (`system:<what>`, e.g. `axv staff add`).
    pub fn of(caller: &Caller) -> Self {
        let subject = caller.subject.as_str();
        if let Some(client) = subject.strip_prefix("client:") {
            Actor {
                kind: ActorKind::ApiClient,
                id: client.to_owned(),
                role: Some(caller.role.as_str()),
            }
        } else if subject.starts_with(axv_auth::SERVICE_SUBJECT_PREFIX) {
            Actor::system(subject)
        } else if let Some(part) = subject.strip_prefix("system:") {
            Actor::system(part)
        } else {
            Actor::account(subject, caller.role)
        }
    }

    pub fn account(id: &str, role: axv_auth::Role) -> Self {
        Actor {
            kind: ActorKind::Account,
            id: id.to_owned(),
            role: Some(role.as_str()),
        }
    }

    /// The platform itself: `part` says which (`sweeper`, `events`, `sacct`).
    pub fn system(part: &str) -> Self {
        Actor {
            kind: ActorKind::System,
            id: part.to_owned(),
            role: None,
        }
    }

    /// What the records' own history columns (`actor`, `decided_by`) keep: the account id,
    /// API clients as their tokens name them, and `system` for the platform.
    pub fn history_id(&self) -> String {
        match self.kind {
            ActorKind::Account => self.id.clone(),
            ActorKind::ApiClient => format!("client:{}", self.id),
            ActorKind::System => "system".to_owned(),
        }
    }
}

/// One change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: String,
    pub object_kind: &'static str,
    pub object_id: String,
    pub company_id: Option<String>,
    /// Short before/after; no personal names.
    pub summary: String,
    pub note: Option<String>,
}

impl Change {
    /// `action` is `<object>.<what happened>`, as the event kinds are.
    pub fn new(action: impl Into<String>, object_kind: &'static str, object_id: &str) -> Self {
        Change {
            action: action.into(),
            object_kind,
            object_id: object_id.to_owned(),
            company_id: None,
            summary: String::new(),
            note: None,
        }
    }

    pub fn company(mut self, company_id: impl Into<String>) -> Self {
        self.company_id = Some(company_id.into());
        self
    }

    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// `FROM → TO`.
    pub fn transition(self, from: Option<&str>, to: &str) -> Self {
        match from {
            Some(from) => self.summary(format!("{from} → {to}")),
            None => self.summary(to),
        }
    }

    pub fn note(mut self, note: Option<&str>) -> Self {
        self.note = note.filter(|n| !n.is_empty()).map(str::to_owned);
        self
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_role: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub company_id: Option<String>,
    pub summary: String,
    /// `None` when there was none, or once it was redacted.
    pub note: Option<String>,
    /// The random salt of the note's digest; erased with the note.
    pub note_salt: Option<String>,
    /// SHA-256 (hex) of the salt and the note, which the chain covers in the note's place.
    pub note_digest: Option<String>,
    pub trace_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

const ENTRY_COLUMNS: &str = "seq, at, actor_kind, actor_id, actor_role, action, object_kind, \
     object_id, company_id, summary, note, note_salt, note_digest, trace_id, prev_hash, hash";

impl Entry {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Entry {
            seq: row.try_get("seq")?,
            at_ms: row.try_get("at")?,
            actor_kind: row.try_get("actor_kind")?,
            actor_id: row.try_get("actor_id")?,
            actor_role: row.try_get("actor_role")?,
            action: row.try_get("action")?,
            object_kind: row.try_get("object_kind")?,
            object_id: row.try_get("object_id")?,
            company_id: row.try_get("company_id")?,
            summary: row.try_get("summary")?,
            note: row.try_get("note")?,
            note_salt: row.try_get("note_salt")?,
            note_digest: row.try_get("note_digest")?,
            trace_id: row.try_get("trace_id")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// What the entry's hash must be, recomputed from its content and `prev_hash`.
    pub fn expected_hash(&self) -> String {
        chain_hash(&Canonical {
            seq: self.seq,
            at_ms: self.at_ms,
            actor_kind: &self.actor_kind,
            actor_id: &self.actor_id,
            actor_role: self.actor_role.as_deref(),
            action: &self.action,
            object_kind: &self.object_kind,
            object_id: &self.object_id,
            company_id: self.company_id.as_deref(),
            summary: &self.summary,
            note_digest: self.note_digest.as_deref(),
            trace_id: self.trace_id.as_deref(),
            prev_hash: &self.prev_hash,
        })
    }
}

/// The hashed content: a JSON array in this fixed order, so the bytes never depend on a map's
/// ordering or a library's whitespace. Documented in docs/audit.md for verifiers outside Rust.
struct Canonical<'a> {
    seq: i64,
    at_ms: i64,
    actor_kind: &'a str,
    actor_id: &'a str,
    actor_role: Option<&'a str>,
    action: &'a str,
    object_kind: &'a str,
    object_id: &'a str,
    company_id: Option<&'a str>,
    summary: &'a str,
    note_digest: Option<&'a str>,
    trace_id: Option<&'a str>,
    prev_hash: &'a str,
}

/// The digest the chain keeps of a note: SHA-256 of the salt, a newline, and the text.
pub fn note_digest(salt: &str, note: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}\n{note}").as_bytes()))
}

impl Entry {
    /// Whether the note still matches what the chain recorded: `Some(false)` when it was
    /// edited, `None` when there is no note (never one, or redacted).
    pub fn note_intact(&self) -> Option<bool> {
        let note = self.note.as_deref()?;
        let (Some(salt), Some(digest)) = (&self.note_salt, &self.note_digest) else {
            return Some(false);
        };
        Some(note_digest(salt, note) == *digest)
    }
}

fn chain_hash(content: &Canonical<'_>) -> String {
    let array = serde_json::json!([
        content.seq,
        content.at_ms,
        content.actor_kind,
        content.actor_id,
        content.actor_role,
        content.action,
        content.object_kind,
        content.object_id,
        content.company_id,
        content.summary,
        content.note_digest,
        content.trace_id,
        content.prev_hash,
    ]);
    hex::encode(Sha256::digest(array.to_string().as_bytes()))
}

/// Appends `change` by `actor` to the chain inside the caller's transaction. Call it after the
/// change's own writes: it takes the chain's lock, held until commit, and taking it last keeps
/// lock order the same in every transaction.
pub async fn record(
    conn: &mut AnyConnection,
    actor: &Actor,
    change: &Change,
) -> Result<(), StoreError> {
    let (seq, prev_hash): (i64, String) =
        sqlx::query_as("UPDATE audit_chain SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *conn)
            .await?;
    let at_ms = now_ms();
    let trace_id = axv_telemetry::current_trace_id();
    let note = change.note.as_deref().map(|note| {
        let salt = crate::ids::new_id();
        let digest = note_digest(&salt, note);
        (note, salt, digest)
    });
    let hash = chain_hash(&Canonical {
        seq,
        at_ms,
        actor_kind: actor.kind.as_str(),
        actor_id: &actor.id,
        actor_role: actor.role,
        action: &change.action,
        object_kind: change.object_kind,
        object_id: &change.object_id,
        company_id: change.company_id.as_deref(),
        summary: &change.summary,
        note_digest: note.as_ref().map(|(_, _, digest)| digest.as_str()),
        trace_id: trace_id.as_deref(),
        prev_hash: &prev_hash,
    });
    sqlx::query(&format!(
        "INSERT INTO audit_entries ({ENTRY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    ))
    .bind(seq)
    .bind(at_ms)
    .bind(actor.kind.as_str())
    .bind(&actor.id)
    .bind(actor.role)
    .bind(&change.action)
    .bind(change.object_kind)
    .bind(&change.object_id)
    .bind(change.company_id.as_deref())
    .bind(&change.summary)
    .bind(note.as_ref().map(|(note, _, _)| *note))
    .bind(note.as_ref().map(|(_, salt, _)| salt.as_str()))
    .bind(note.as_ref().map(|(_, _, digest)| digest.as_str()))
    .bind(trace_id.as_deref())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_chain SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The chain's latest link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

pub async fn head(db: &Database) -> Result<Head, StoreError> {
    let (seq, hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain WHERE id = 1")
            .fetch_one(db.reads())
            .await?;
    Ok(Head { seq, hash })
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The entry's content no longer matches its hash: it was edited.
    Altered { seq: i64 },
    /// The entry does not link to the one before it: entries were reordered, or the one
    /// before was replaced.
    Unlinked { seq: i64 },
    /// An entry is missing before `seq` (`seq` is the first one found after the gap).
    Missing { expected: i64, found: i64 },
    /// The chain ends before, or differently from, its recorded head: its latest entries were
    /// removed or the head was edited.
    HeadMismatch { head_seq: i64, last_seq: i64 },
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Altered { seq } => write!(
                f,
                "entry {seq} does not match its hash: its content was changed after it was written"
            ),
            Break::Unlinked { seq } => write!(
                f,
                "entry {seq} does not link to entry {}: entries were reordered or replaced",
                seq - 1
            ),
            Break::Missing { expected, found } => write!(
                f,
                "entry {expected} is missing: the chain jumps from {} to {found}",
                expected - 1
            ),
            Break::HeadMismatch { head_seq, last_seq } => write!(
                f,
                "the chain's head records {head_seq} entries but the last intact entry is {last_seq}: \
                 entries after it were removed or the head was changed"
            ),
        }
    }
}

/// What a walk of one chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: i64,
    /// Entries whose note was erased (an erasure request), which the chain still covers.
    pub redacted: i64,
    pub head: Head,
    /// The first broken link; `None` when the chain is intact.
    pub broken: Option<(Break, Option<Entry>)>,
}

const VERIFY_BATCH: i64 = 1000;

/// Walks the chain in order, up to the head as it was when the walk began (entries committed
/// during the walk are checked by the next one), and reports its first broken link.
pub async fn verify(db: &Database) -> Result<Verification, StoreError> {
    let head = head(db).await?;
    let mut expected_seq = 1_i64;
    let mut prev_hash = GENESIS.to_owned();
    let mut entries = 0_i64;
    let mut redacted = 0_i64;
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq >= $1 AND seq <= $3 \
             ORDER BY seq LIMIT $2"
        ))
        .bind(expected_seq)
        .bind(VERIFY_BATCH)
        .bind(head.seq)
        .fetch_all(db.reads())
        .await?;
        let batch = rows.len();
        for row in rows {
            let entry = Entry::from_row(&row)?;
            let broken = if entry.seq != expected_seq {
                Some(Break::Missing {
                    expected: expected_seq,
                    found: entry.seq,
                })
            } else if entry.expected_hash() != entry.hash || entry.note_intact() == Some(false) {
                Some(Break::Altered { seq: entry.seq })
            } else if entry.prev_hash != prev_hash {
                Some(Break::Unlinked { seq: entry.seq })
            } else {
                None
            };
            if let Some(broken) = broken {
                return Ok(Verification {
                    entries,
                    redacted,
                    head,
                    broken: Some((broken, Some(entry))),
                });
            }
            if entry.note.is_none() && entry.note_digest.is_some() {
                redacted += 1;
            }
            entries += 1;
            expected_seq += 1;
            prev_hash = entry.hash;
        }
        if i64::try_from(batch).unwrap_or(0) < VERIFY_BATCH {
            break;
        }
    }
    let last_seq = expected_seq - 1;
    let broken = (head.seq != last_seq || head.hash != prev_hash).then_some((
        Break::HeadMismatch {
            head_seq: head.seq,
            last_seq,
        },
        None,
    ));
    Ok(Verification {
        entries,
        redacted,
        head,
        broken,
    })
}

/// Which entries a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    /// Only entries about these companies.
    Companies(Vec<String>),
}

/// What to list; every filter optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub object_kind: Option<String>,
    pub object_id: Option<String>,
    pub company_id: Option<String>,
    pub actor_id: Option<String>,
    /// Exact, or a prefix when it ends in `.`.
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only entries before this (at, seq), newest first.
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

/// The most entries one call lists.
pub const MAX_PAGE: usize = 500;

/// A page of entries, newest first, and how many match the filters in all.
pub async fn list(
    db: &Database,
    query: &Query,
    visibility: &Visibility,
) -> Result<(Vec<Entry>, i64), StoreError> {
    let mut filter = Where::default();
    if let Visibility::Companies(companies) = visibility {
        if companies.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let marks = vec!["{}"; companies.len()].join(", ");
        filter.push(
            &format!("company_id IN ({marks})"),
            companies.iter().cloned().map(Bind::Text).collect(),
        );
    }
    for (column, value) in [
        ("object_kind", &query.object_kind),
        ("object_id", &query.object_id),
        ("company_id", &query.company_id),
        ("actor_id", &query.actor_id),
    ] {
        if let Some(value) = value {
            filter.push(&format!("{column} = {{}}"), vec![Bind::Text(value.clone())]);
        }
    }
    match query.action.as_deref() {
        Some(prefix) if prefix.ends_with('.') => {
            let escaped = prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            filter.push(
                "action LIKE {} ESCAPE '\\'",
                vec![Bind::Text(format!("{escaped}%"))],
            );
        }
        Some(action) => filter.push("action = {}", vec![Bind::Text(action.to_owned())]),
        None => {}
    }
    if let Some(from) = query.from_ms {
        filter.push("at >= {}", vec![Bind::Int(from)]);
    }
    if let Some(until) = query.until_ms {
        filter.push("at < {}", vec![Bind::Int(until)]);
    }
    let (total,) = filter
        .bind(sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT COUNT(*) FROM audit_entries{}",
            filter.sql()
        )))
        .fetch_one(db.reads())
        .await?;
    if let Some((at, seq)) = query.before {
        filter.push(
            "(at < {} OR (at = {} AND seq < {}))",
            vec![Bind::Int(at), Bind::Int(at), Bind::Int(seq)],
        );
    }
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_entries{} ORDER BY at DESC, seq DESC LIMIT {}",
        filter.sql(),
        query.limit.clamp(1, MAX_PAGE)
    );
    let rows = filter
        .bind_query(sqlx::query(&sql))
        .fetch_all(db.reads())
        .await?;
    let entries = rows
        .iter()
        .map(|row| Entry::from_row(row).map_err(StoreError::from))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, total))
}

/// WHERE clauses whose `{}` marks become numbered binds, text or integer.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

type AnyArguments<'q> = sqlx::any::AnyArguments<'q>;

impl Where {
    fn push(&mut self, clause: &str, values: Vec<Bind>) {
        let mut clause = clause.to_owned();
        for value in values {
            self.binds.push(value);
            clause = clause.replacen("{}", &format!("${}", self.binds.len()), 1);
        }
        self.clauses.push(clause);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn bind<'q, O>(
        &self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, AnyArguments<'q>> {
        for bind in &self.binds {
            query = match bind.clone() {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        query
    }

    fn bind_query<'q>(
        &self,
        mut query: sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>> {
        for bind in &self.binds {
            query = match bind.clone() {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        query
    }
}

/// How often the head publisher looks whether today's head went out.
const HEAD_CHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// Publishes the chain's head once a day as an `audit.head` event (public: it holds no personal
/// data), so parties outside the platform can keep it. The event's id is the service and the
/// day (KST), so however many replicas run, one event per day enters the outbox.
pub fn spawn_head_publisher(
    db: Database,
    outbox: Outbox,
    source: &'static str,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = publish_head(&db, &outbox, source).await {
                tracing::warn!(%error, "publishing the audit chain's head failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(HEAD_CHECK) => {}
            }
        }
    })
}

/// Enqueues today's `audit.head` event unless it already was; returns whether it enqueued.
pub async fn publish_head(
    db: &Database,
    outbox: &Outbox,
    source: &'static str,
) -> Result<bool, StoreError> {
    let day = crate::calendar::today_kst();
    let mut tx = db.pool().begin().await?;
    let (seq, hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
    let mut event = Event::new(source, "audit.head", source)
        .public(true)
        .with_payload(serde_json::json!({ "day": day.to_string(), "seq": seq, "hash": hash }));
    event.id = format!("audit-head-{source}-{day}");
    let fresh = outbox.enqueue_once(&mut tx, &event).await?;
    outbox.commit(tx).await?;
    Ok(fresh)
}

/// The gRPC face of one service's chain.
#[derive(Clone)]
pub struct AuditLogGrpc {
    db: Database,
    source: &'static str,
}

impl AuditLogGrpc {
    pub fn new(db: Database, source: &'static str) -> Self {
        AuditLogGrpc { db, source }
    }

    pub fn into_server(
        self,
    ) -> axv_proto::audit::v1::audit_log_server::AuditLogServer<AuditLogGrpc> {
        axv_proto::audit::v1::audit_log_server::AuditLogServer::new(self)
    }
}

/// Staff see everything; a firm member the entries about its companies; nobody else any.
pub fn visibility_of(caller: &Caller) -> Option<Visibility> {
    if caller.is_staff() {
        Some(Visibility::All)
    } else if caller.role == axv_auth::Role::FirmMember {
        Some(Visibility::Companies(caller.company_ids.clone()))
    } else {
        None
    }
}

fn to_proto(source: &str, entry: Entry) -> axv_proto::audit::v1::AuditEntry {
    axv_proto::audit::v1::AuditEntry {
        source: source.to_owned(),
        seq: entry.seq,
        at_ms: entry.at_ms,
        actor_kind: entry.actor_kind,
        actor_id: entry.actor_id,
        actor_role: entry.actor_role.unwrap_or_default(),
        action: entry.action,
        object_kind: entry.object_kind,
        object_id: entry.object_id,
        company_id: entry.company_id,
        summary: entry.summary,
        note: entry.note,
        trace_id: entry.trace_id,
        hash: entry.hash,
    }
}

fn internal(error: StoreError) -> tonic::Status {
    tracing::error!(%error, "audit trail read failed");
    crate::ErrorCode::Internal.status("the audit trail could not be read")
}

#[tonic::async_trait]
impl axv_proto::audit::v1::audit_log_server::AuditLog for AuditLogGrpc {
    async fn list_entries(
        &self,
        request: tonic::Request<axv_proto::audit::v1::ListEntriesRequest>,
    ) -> Result<tonic::Response<axv_proto::audit::v1::ListEntriesResponse>, tonic::Status> {
        let caller = axv_auth::require_caller(&request)?;
        let visibility = visibility_of(caller).ok_or_else(|| {
            crate::ErrorCode::Forbidden.status("the audit trail is for staff and firms")
        })?;
        let request = request.into_inner();
        let nonempty = |value: Option<String>| value.filter(|v| !v.is_empty());
        let query = Query {
            object_kind: nonempty(request.object_kind),
            object_id: nonempty(request.object_id),
            company_id: nonempty(request.company_id),
            actor_id: nonempty(request.actor_id),
            action: nonempty(request.action),
            from_ms: request.from_ms,
            until_ms: request.until_ms,
            before: request.before_at_ms.map(|at| (at, request.before_seq)),
            limit: usize::try_from(request.limit)
                .unwrap_or(0)
                .clamp(1, MAX_PAGE),
        };
        let (entries, total) = list(&self.db, &query, &visibility)
            .await
            .map_err(internal)?;
        Ok(tonic::Response::new(
            axv_proto::audit::v1::ListEntriesResponse {
                entries: entries
                    .into_iter()
                    .map(|entry| to_proto(self.source, entry))
                    .collect(),
                total,
            },
        ))
    }

    async fn head(
        &self,
        request: tonic::Request<axv_proto::audit::v1::HeadRequest>,
    ) -> Result<tonic::Response<axv_proto::audit::v1::ChainHead>, tonic::Status> {
        let caller = axv_auth::require_caller(&request)?;
        if !caller.is_staff() {
            return Err(crate::ErrorCode::Forbidden.status("the audit chain's head is for staff"));
        }
        let head = head(&self.db).await.map_err(internal)?;
        Ok(tonic::Response::new(axv_proto::audit::v1::ChainHead {
            source: self.source.to_owned(),
            seq: head.seq,
            hash: head.hash,
            at_ms: now_ms(),
        }))
    }
}

/// The routes' name for health and reflection.
pub const GRPC_NAME: &str = "axv.audit.v1.AuditLog";

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            seq: 1,
            at_ms: 1_765_000_000_000,
            actor_kind: "ACCOUNT".into(),
            actor_id: "u1".into(),
            actor_role: Some("PROGRAM_MANAGER".into()),
            action: "company.approved".into(),
            object_kind: "company".into(),
            object_id: "c1".into(),
            company_id: Some("c1".into()),
            summary: "UNDER_REVIEW → APPROVED".into(),
            note: None,
            note_salt: None,
            note_digest: None,
            trace_id: None,
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_link() {
        let base = entry().expected_hash();
        assert_eq!(base.len(), 64);
        assert_eq!(base, entry().expected_hash(), "deterministic");
        // The documented canonical form, so a verifier outside Rust can recompute it.
        let canonical = r#"[1,1765000000000,"ACCOUNT","u1","PROGRAM_MANAGER","company.approved","company","c1","c1","UNDER_REVIEW → APPROVED",null,null,"0000000000000000000000000000000000000000000000000000000000000000"]"#;
        assert_eq!(base, hex::encode(Sha256::digest(canonical.as_bytes())));
        let changed = [
            Entry { seq: 2, ..entry() },
            Entry {
                at_ms: 1,
                ..entry()
            },
            Entry {
                actor_id: "u2".into(),
                ..entry()
            },
            Entry {
                actor_role: None,
                ..entry()
            },
            Entry {
                action: "company.rejected".into(),
                ..entry()
            },
            Entry {
                object_id: "c2".into(),
                ..entry()
            },
            Entry {
                company_id: None,
                ..entry()
            },
            Entry {
                summary: String::new(),
                ..entry()
            },
            Entry {
                note_digest: Some(note_digest("salt", "ok")),
                ..entry()
            },
            Entry {
                trace_id: Some("t".into()),
                ..entry()
            },
            Entry {
                prev_hash: "1".repeat(64),
                ..entry()
            },
        ];
        for other in changed {
            assert_ne!(other.expected_hash(), base, "{other:?}");
        }
    }

    #[test]
    fn a_note_is_covered_by_its_digest_and_may_be_erased() {
        let salt = "0193d3c4-0000-7000-8000-00000000000a";
        let noted = Entry {
            note: Some("대표자 홍길동 확인".into()),
            note_salt: Some(salt.into()),
            note_digest: Some(note_digest(salt, "대표자 홍길동 확인")),
            ..entry()
        };
        assert_eq!(noted.note_intact(), Some(true));
        let edited = Entry {
            note: Some("문제 없음".into()),
            ..noted.clone()
        };
        assert_eq!(edited.note_intact(), Some(false));
        let erased = Entry {
            note: None,
            note_salt: None,
            ..noted.clone()
        };
        assert_eq!(erased.note_intact(), None);
        assert_eq!(
            erased.expected_hash(),
            noted.expected_hash(),
            "erasing keeps the chain"
        );
        assert_ne!(noted.expected_hash(), entry().expected_hash());
    }

    #[test]
    fn api_clients_and_the_system_act_under_their_own_kinds() {
        let caller = Caller {
            subject: "client:0193d3c4-0000-7000-8000-000000000009".into(),
            role: axv_auth::Role::Operator,
            company_ids: vec![],
            token_id: String::new(),
            expires_at: 0,
            issuer: String::new(),
            raw_token: std::sync::Arc::from(""),
        };
        let client = Actor::of(&caller);
        assert_eq!(client.kind, ActorKind::ApiClient);
        assert_eq!(client.id, "0193d3c4-0000-7000-8000-000000000009");
        assert_eq!(client.history_id(), caller.subject);
        assert_eq!(Actor::system("sweeper").history_id(), "system");
        let installation = Caller {
            subject: "system:cli".into(),
            ..caller.clone()
        };
        assert_eq!(Actor::of(&installation), Actor::system("cli"));
        let service = Caller {
            subject: "service:outcomes".into(),
            ..caller
        };
        assert_eq!(Actor::of(&service).kind, ActorKind::System);
        assert_eq!(Actor::system("sweeper").role, None);
    }

    #[test]
    fn summaries_say_from_and_to_and_empty_notes_are_none() {
        let change = Change::new("pilot.approved", "pilot", "p1")
            .transition(Some("SUBMITTED"), "APPROVED")
            .note(Some(""));
        assert_eq!(change.summary, "SUBMITTED → APPROVED");
        assert_eq!(change.note, None);
        assert_eq!(
            Change::new("pilot.registered", "pilot", "p1")
                .transition(None, "DRAFT")
                .summary,
            "DRAFT"
        );
    }
}
