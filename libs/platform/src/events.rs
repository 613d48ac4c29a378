//! Domain events and the bus that carries them: Redis Streams when `REDIS_URL` is given (so
//! every replica of every service sees them), an in-process broadcast otherwise.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; consumers deduplicate on it.
    pub id: String,
    /// `<entity>.<what happened>`, e.g. `company.approved`.
    pub kind: String,
    pub subject_id: String,
    /// The service that wrote it.
    pub source: String,
    pub occurred_at_ms: i64,
    /// Companies the event concerns, so subscribers can be shown only their own.
    #[serde(default)]
    pub company_ids: Vec<String>,
    /// Whether dashboards and anonymous subscribers may see it.
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub payload: serde_json::Value,
}

impl Event {
    pub fn new(source: &str, kind: impl Into<String>, subject_id: impl Into<String>) -> Self {
        Self {
            id: crate::ids::new_id(),
            kind: kind.into(),
            subject_id: subject_id.into(),
            source: source.to_owned(),
            occurred_at_ms: crate::ids::now_ms(),
            company_ids: Vec::new(),
            public: false,
            payload: serde_json::Value::Null,
        }
    }

    pub fn for_companies(mut self, company_ids: Vec<String>) -> Self {
        self.company_ids = company_ids;
        self
    }

    pub fn public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("event encoding: {0}")]
    Encoding(#[from] serde_json::Error),
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, event: &Event) -> Result<(), BusError>;
    /// Events published from now on. A subscriber that falls too far behind loses the oldest
    /// events rather than holding memory for them.
    fn subscribe(&self) -> BoxStream<'static, Event>;

    /// Runs `handler` on every event for the consumer group `group` until `shutdown`. An event
    /// counts as handled only once `handler` returned `Ok` (its changes committed): with Redis
    /// it is acknowledged then, so one read by a process that dies is taken over by the
    /// group's next consumer, and events published while every member was down are handled
    /// when one comes back. A failing handler is retried with backoff; after
    /// [`MAX_ATTEMPTS`] the event is parked in the dead-letter stream and counted
    /// (`events_dead_lettered_total`), never dropped silently. In-process, a group never loses
    /// an event to a slow handler. Handlers deduplicate by event id.
    async fn consume(
        &self,
        group: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    );

    /// Starts keeping events for `group` now, before its consumer task first runs (so what the
    /// outbox relay publishes at start is not missed in-process). Redis keeps a group's
    /// position itself.
    fn declare_group(&self, group: &str) {
        let _ = group;
    }
}

/// What a consumer group does with one event; `Err` means "not now" (see [`EventBus::consume`]).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &Event) -> Result<(), String>;
}

/// Attempts per event before it is parked as dead.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first retry's wait; each later one waits four times longer (0.1, 0.4, 1.6, 6.4 s).
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// `Some(Ok)` once handled, `Some(Err(last error))` after every attempt failed, `None` when
/// shutdown came first (the event stays unacknowledged for the group's next consumer).
async fn handle_with_retries(
    handler: &dyn EventHandler,
    event: &Event,
    group: &str,
    shutdown: &CancellationToken,
) -> Option<Result<(), String>> {
    let mut wait = FIRST_RETRY;
    for attempt in 1..=MAX_ATTEMPTS {
        match handler.handle(event).await {
            Ok(()) => return Some(Ok(())),
            Err(error) if attempt == MAX_ATTEMPTS => return Some(Err(error)),
            Err(error) => {
                tracing::warn!(%error, group, event = %event.id, kind = %event.kind, attempt, "event handler failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(wait) => {}
                }
                wait *= 4;
            }
        }
    }
    None
}

/// An event no handler could take, kept where an operator finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub group: String,
    pub error: String,
    pub event: Event,
}

fn count_dead_letter(group: &str, event_id: &str, kind: &str, error: &str) {
    axv_telemetry::metrics::global()
        .events_dead_lettered
        .with_label_values(&[group])
        .inc();
    tracing::error!(
        group,
        event = event_id,
        kind,
        error,
        "event parked as dead after every attempt failed"
    );
}

pub type SharedBus = Arc<dyn EventBus>;

pub async fn connect(redis: Option<redis::Client>, prefix: &str) -> Result<SharedBus, BusError> {
    Ok(match redis {
        Some(client) => Arc::new(RedisStreamBus::with_client(client, prefix).await?),
        None => Arc::new(InProcessBus::default()),
    })
}

const SUBSCRIBER_BUFFER: usize = 1024;

pub struct InProcessBus {
    sender: broadcast::Sender<Event>,
    /// Each consuming group's queue: unbounded, so a slow handler delays its events but never
    /// loses them (live subscribers, by contrast, skip what they fell behind on). The receiver
    /// waits here from `declare_group` until `consume` takes it.
    groups: std::sync::Mutex<Vec<GroupQueue>>,
    /// Events parked after every attempt failed (the newest [`MAX_DEAD_LETTERS`]).
    dead: std::sync::Mutex<std::collections::VecDeque<DeadLetter>>,
}

const MAX_DEAD_LETTERS: usize = 10_000;

struct GroupQueue {
    group: String,
    sender: mpsc::UnboundedSender<Event>,
    waiting: Option<mpsc::UnboundedReceiver<Event>>,
}

impl InProcessBus {
    /// A queue for `group` that receives from now on: one declared and not yet consumed, or a
    /// new one.
    fn queue(&self, group: &str) -> mpsc::UnboundedReceiver<Event> {
        let Ok(mut groups) = self.groups.lock() else {
            return mpsc::unbounded_channel().1;
        };
        if let Some(waiting) = groups
            .iter_mut()
            .find(|q| q.group == group && q.waiting.is_some())
            .and_then(|q| q.waiting.take())
        {
            return waiting;
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        groups.push(GroupQueue {
            group: group.to_owned(),
            sender,
            waiting: None,
        });
        receiver
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(SUBSCRIBER_BUFFER).0,
            groups: std::sync::Mutex::default(),
            dead: std::sync::Mutex::default(),
        }
    }
}

impl InProcessBus {
    /// What was parked as dead, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead
            .lock()
            .map(|dead| dead.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        // No subscriber is not an error: the event is in the outbox for the record anyway.
        let _ = self.sender.send(event.clone());
        if let Ok(mut groups) = self.groups.lock() {
            groups.retain(|queue| queue.sender.send(event.clone()).is_ok());
        }
        Ok(())
    }

    fn declare_group(&self, group: &str) {
        if let Ok(mut groups) = self.groups.lock()
            && !groups
                .iter()
                .any(|q| q.group == group && q.waiting.is_some())
        {
            let (sender, receiver) = mpsc::unbounded_channel();
            groups.push(GroupQueue {
                group: group.to_owned(),
                sender,
                waiting: Some(receiver),
            });
        }
    }

    async fn consume(
        &self,
        group: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    ) {
        let mut rx = self.queue(group);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = rx.recv() => match event { Some(event) => event, None => return },
            };
            match handle_with_retries(handler.as_ref(), &event, group, &shutdown).await {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    count_dead_letter(group, &event.id, &event.kind, &error);
                    if let Ok(mut dead) = self.dead.lock() {
                        if dead.len() >= MAX_DEAD_LETTERS {
                            dead.pop_front();
                        }
                        dead.push_back(DeadLetter {
                            group: group.to_owned(),
                            error,
                            event,
                        });
                    }
                }
                None => return,
            }
        }
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        let mut receiver = self.sender.subscribe();
        Box::pin(async_stream(move |tx: mpsc::Sender<Event>| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "event subscriber lagged; oldest events dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }))
    }
}

/// Runs `producer` in a task feeding a bounded channel and returns the channel as a stream;
/// the task ends when the stream is dropped.
fn async_stream<F, Fut>(producer: F) -> impl futures::Stream<Item = Event> + Send + 'static
where
    F: FnOnce(mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
    tokio::spawn(producer(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

pub struct RedisStreamBus {
    client: redis::Client,
    publisher: redis::aio::ConnectionManager,
    stream_key: String,
    /// A group's entry read but not acknowledged for this long is taken over by another
    /// consumer (its reader died or hangs).
    orphan_after: std::time::Duration,
    retention_ms: i64,
    published: std::sync::atomic::AtomicU64,
}

/// Events a consumer read but did not acknowledge for this long are taken over by another.
const ORPHAN_AFTER_MS: u64 = 30_000;

/// One entry read for a group: handled (with retries), then acknowledged, or parked in the
/// dead-letter stream and acknowledged. `false` when shutdown came first: the entry stays
/// pending and the group's next consumer takes it over.
async fn handle_entry(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    group: &str,
    handler: &dyn EventHandler,
    entry: &redis::streams::StreamId,
    shutdown: &CancellationToken,
) -> bool {
    let data = entry.get::<String>("event").unwrap_or_default();
    let outcome = match serde_json::from_str::<Event>(&data) {
        Ok(event) => match handle_with_retries(handler, &event, group, shutdown).await {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err((error, event.id.clone(), event.kind.clone())),
            None => return false,
        },
        Err(error) => Err((
            format!("undecodable: {error}"),
            String::new(),
            String::new(),
        )),
    };
    if let Err((error, id, kind)) = outcome {
        count_dead_letter(group, &id, &kind, &error);
        let parked: Result<String, _> = redis::cmd("XADD")
            .arg(format!("{key}:dead"))
            .arg("*")
            .arg("group")
            .arg(group)
            .arg("error")
            .arg(&error)
            .arg("event")
            .arg(&data)
            .arg("stream_id")
            .arg(&entry.id)
            .query_async(conn)
            .await;
        if let Err(park_error) = parked {
            // Not acknowledged either: it stays pending and is offered again.
            tracing::error!(%park_error, group, "could not park a dead event; it stays pending");
            return true;
        }
    }
    let acked: Result<i64, _> = redis::cmd("XACK")
        .arg(key)
        .arg(group)
        .arg(&entry.id)
        .query_async(conn)
        .await;
    if let Err(error) = acked {
        // Handled and committed; the redelivery this causes is deduplicated by the handler.
        tracing::warn!(%error, "event ack failed");
    }
    true
}

/// How long a read waits on Redis for new events before asking again.
const BLOCK_MS: usize = 1000;
/// Longer than a blocking read, so an idle read is not mistaken for a dead connection.
const READ_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Entries are kept while any consumer group still has to handle them, and at least this long
/// for readers that resume from a position.
const STREAM_RETENTION_MS: i64 = 24 * 3_600_000;
/// Past this many entries the oldest go even if a group never handled them (a group that has
/// been gone for days): loudly, counted in `events_trimmed_unread_total`.
const STREAM_HARD_CAP: usize = 2_000_000;
/// The stream is trimmed once per this many publishes from each process.
const TRIM_EVERY: u64 = 1_000;

impl RedisStreamBus {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        Self::with_client(redis::Client::open(url)?, prefix).await
    }

    pub async fn with_client(client: redis::Client, prefix: &str) -> Result<Self, BusError> {
        let publisher = redis::aio::ConnectionManager::new(client.clone()).await?;
        Ok(Self {
            client,
            publisher,
            stream_key: format!("{prefix}events"),
            orphan_after: std::time::Duration::from_millis(ORPHAN_AFTER_MS),
            retention_ms: STREAM_RETENTION_MS,
            published: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How soon a dead reader's events are taken over (tests shorten it).
    pub fn with_orphan_after(mut self, after: std::time::Duration) -> Self {
        self.orphan_after = after;
        self
    }

    /// How long entries are kept for resuming readers (tests shorten it).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention_ms = i64::try_from(retention.as_millis()).unwrap_or(STREAM_RETENTION_MS);
        self
    }

    pub fn stream_key(&self) -> &str {
        &self.stream_key
    }

    /// Drops what every group has handled and every resuming reader may still ask for; past
    /// [`STREAM_HARD_CAP`] also what a group left unread, loudly.
    pub async fn trim(&self) -> Result<(), BusError> {
        let mut conn = self.publisher.clone();
        let key = &self.stream_key;
        let groups: redis::streams::StreamInfoGroupsReply =
            redis::AsyncCommands::xinfo_groups(&mut conn, key).await?;
        let mut floor = format!("{}-0", crate::ids::now_ms() - self.retention_ms);
        for group in &groups.groups {
            let mut needed = group.last_delivered_id.clone();
            if group.pending > 0 {
                let pending: redis::streams::StreamPendingReply =
                    redis::AsyncCommands::xpending(&mut conn, key, &group.name).await?;
                if let redis::streams::StreamPendingReply::Data(data) = pending {
                    needed = data.start_id;
                }
            }
            if stream_id_before(&needed, &floor) {
                floor = needed;
            }
        }
        // Exact, not "~": it runs once per thousand publishes, and what it keeps is then known.
        let _: i64 = redis::cmd("XTRIM")
            .arg(key)
            .arg("MINID")
            .arg(&floor)
            .query_async(&mut conn)
            .await?;
        let length: usize = redis::AsyncCommands::xlen(&mut conn, key).await?;
        if length > STREAM_HARD_CAP {
            let dropped: u64 = redis::cmd("XTRIM")
                .arg(key)
                .arg("MAXLEN")
                .arg(STREAM_HARD_CAP)
                .query_async(&mut conn)
                .await?;
            axv_telemetry::metrics::global()
                .events_trimmed_unread
                .inc_by(dropped);
            tracing::error!(
                dropped,
                "event stream over its hard cap: dropped events a consumer group never handled"
            );
        }
        Ok(())
    }
}

/// Whether stream id `a` ("ms-seq") comes before `b`.
fn stream_id_before(a: &str, b: &str) -> bool {
    let parse = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parse(a) < parse(b)
}

#[async_trait]
impl EventBus for RedisStreamBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let data = serde_json::to_string(event)?;
        let mut conn = self.publisher.clone();
        redis::cmd("XADD")
            .arg(&self.stream_key)
            .arg("*")
            .arg("event")
            .arg(data)
            .query_async::<String>(&mut conn)
            .await?;
        let published = self
            .published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if published % TRIM_EVERY == TRIM_EVERY - 1
            && let Err(error) = self.trim().await
        {
            tracing::warn!(%error, "event stream not trimmed");
        }
        Ok(())
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        let client = self.client.clone();
        let key = self.stream_key.clone();
        Box::pin(async_stream(move |tx: mpsc::Sender<Event>| async move {
            // A blocking XREAD needs a connection of its own, not the shared multiplexed one.
            let mut last_id = "$".to_owned();
            loop {
                let mut conn = match client.get_multiplexed_async_connection().await {
                    Ok(mut conn) => {
                        // The client's default reply timeout (500 ms) is shorter than a
                        // blocking read waits; without this every idle read fails.
                        conn.set_response_timeout(READ_REPLY_TIMEOUT);
                        conn
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event stream connection failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        if tx.is_closed() {
                            return;
                        }
                        continue;
                    }
                };
                if last_id == "$" {
                    // "Only new events" pinned to the stream's current end, so events published
                    // while a later read reconnects are still delivered.
                    let newest: Result<redis::streams::StreamRangeReply, _> =
                        redis::AsyncCommands::xrevrange_count(&mut conn, &key, "+", "-", 1).await;
                    match newest {
                        Ok(reply) => {
                            last_id = reply
                                .ids
                                .first()
                                .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone());
                        }
                        Err(error) => {
                            tracing::warn!(%error, "event stream position unknown; reconnecting");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                }
                loop {
                    let options = redis::streams::StreamReadOptions::default()
                        .count(256)
                        .block(BLOCK_MS);
                    let reply: Result<Option<redis::streams::StreamReadReply>, _> =
                        redis::AsyncCommands::xread_options(
                            &mut conn,
                            &[&key],
                            &[&last_id],
                            &options,
                        )
                        .await;
                    if tx.is_closed() {
                        return;
                    }
                    let reply = match reply {
                        Ok(reply) => reply.unwrap_or_default(),
                        Err(error) => {
                            tracing::warn!(%error, "event stream read failed; reconnecting");
                            break;
                        }
                    };
                    for stream in reply.keys {
                        for entry in stream.ids {
                            last_id.clone_from(&entry.id);
                            let Some(data) = entry.get::<String>("event") else {
                                continue;
                            };
                            match serde_json::from_str::<Event>(&data) {
                                Ok(event) => {
                                    if tx.send(event).await.is_err() {
                                        return;
                                    }
                                }
                                Err(error) => tracing::warn!(%error, "undecodable event skipped"),
                            }
                        }
                    }
                }
            }
        }))
    }

    async fn consume(
        &self,
        group: &str,
        handler: Arc<dyn EventHandler>,
        shutdown: CancellationToken,
    ) {
        let key = self.stream_key.clone();
        let consumer = format!("{}-{}", std::process::id(), crate::ids::new_id());
        let orphan_after = u64::try_from(self.orphan_after.as_millis()).unwrap_or(ORPHAN_AFTER_MS);
        // Claims run at least this often, so a dead reader's events are not left for long.
        let claim_every = std::time::Duration::from_millis(orphan_after.clamp(100, 5_000));
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let mut conn = match self.client.get_multiplexed_async_connection().await {
                Ok(mut conn) => {
                    // The client's default reply timeout (500 ms) is shorter than a blocking
                    // read waits; without this every idle read fails.
                    conn.set_response_timeout(READ_REPLY_TIMEOUT);
                    conn
                }
                Err(error) => {
                    tracing::warn!(%error, "event group connection failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    }
                }
            };
            // The group starts at the stream's end the first time; afterwards Redis keeps its
            // position, which is what delivers events missed while down.
            let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(group)
                .arg("$")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            if let Err(error) = created
                && error.code() != Some("BUSYGROUP")
            {
                tracing::warn!(%error, "cannot create event consumer group; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            let mut last_claim = std::time::Instant::now()
                .checked_sub(claim_every)
                .unwrap_or_else(std::time::Instant::now);
            loop {
                // Now and then, take over what a consumer that died read but never acknowledged.
                if last_claim.elapsed() >= claim_every {
                    last_claim = std::time::Instant::now();
                    let options = redis::streams::StreamAutoClaimOptions::default().count(256);
                    let claimed: Result<redis::streams::StreamAutoClaimReply, _> =
                        redis::AsyncCommands::xautoclaim_options(
                            &mut conn,
                            &key,
                            group,
                            &consumer,
                            orphan_after,
                            "0-0",
                            options,
                        )
                        .await;
                    match claimed {
                        Ok(reply) => {
                            for entry in &reply.claimed {
                                if !handle_entry(
                                    &mut conn,
                                    &key,
                                    group,
                                    handler.as_ref(),
                                    entry,
                                    &shutdown,
                                )
                                .await
                                {
                                    return;
                                }
                            }
                        }
                        Err(error) => tracing::warn!(%error, "claiming orphaned events failed"),
                    }
                }
                let options = redis::streams::StreamReadOptions::default()
                    .group(group, &consumer)
                    .count(64)
                    .block(BLOCK_MS);
                let reply: Result<Option<redis::streams::StreamReadReply>, _> =
                    redis::AsyncCommands::xread_options(&mut conn, &[&key], &[">"], &options).await;
                if shutdown.is_cancelled() {
                    return;
                }
                let reply = match reply {
                    Ok(reply) => reply.unwrap_or_default(),
                    Err(error) => {
                        tracing::warn!(%error, "event group read failed; reconnecting");
                        break;
                    }
                };
                for stream in reply.keys {
                    for entry in &stream.ids {
                        if !handle_entry(&mut conn, &key, group, handler.as_ref(), entry, &shutdown)
                            .await
                        {
                            return;
                        }
                    }
                }
            }
        }
    }
}
