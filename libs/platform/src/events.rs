//! Domain events and the bus that carries them: Redis Streams when `REDIS_URL` is given (so
//! every replica of every service sees them), an in-process broadcast otherwise.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

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

    /// Events for a named consumer group: with Redis, events published while every member of
    /// the group was down are delivered when one comes back (consumers deduplicate by id).
    /// In-process there is no "down" apart from the whole process, so it is `subscribe`.
    fn subscribe_group(&self, group: &str) -> BoxStream<'static, Event> {
        let _ = group;
        self.subscribe()
    }
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
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(SUBSCRIBER_BUFFER).0,
        }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        // No subscriber is not an error: the event is in the outbox for the record anyway.
        let _ = self.sender.send(event.clone());
        Ok(())
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
}

/// Events a consumer read but did not acknowledge for this long are taken over by another.
const ORPHAN_AFTER_MS: u64 = 30_000;

/// Hands stream entries to the subscriber and acknowledges each; false once the subscriber is
/// gone (unacknowledged entries are then claimed by the group's next consumer).
async fn deliver(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    group: &str,
    tx: &mpsc::Sender<Event>,
    entries: Vec<redis::streams::StreamId>,
) -> bool {
    for entry in entries {
        if let Some(data) = entry.get::<String>("event") {
            match serde_json::from_str::<Event>(&data) {
                Ok(event) => {
                    if tx.send(event).await.is_err() {
                        return false;
                    }
                }
                Err(error) => tracing::warn!(%error, "undecodable event skipped"),
            }
        }
        let acked: Result<i64, _> = redis::cmd("XACK")
            .arg(key)
            .arg(group)
            .arg(&entry.id)
            .query_async(conn)
            .await;
        if let Err(error) = acked {
            tracing::warn!(%error, "event ack failed");
        }
    }
    true
}

/// How long a read waits on Redis for new events before asking again.
const BLOCK_MS: usize = 1000;
/// Longer than a blocking read, so an idle read is not mistaken for a dead connection.
const READ_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Streams are trimmed to about this many entries: the bus is for live delivery, the outbox
/// tables are the record.
const STREAM_MAX_LEN: usize = 100_000;

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
        })
    }
}

#[async_trait]
impl EventBus for RedisStreamBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let data = serde_json::to_string(event)?;
        let mut conn = self.publisher.clone();
        redis::cmd("XADD")
            .arg(&self.stream_key)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_MAX_LEN)
            .arg("*")
            .arg("event")
            .arg(data)
            .query_async::<String>(&mut conn)
            .await?;
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

    fn subscribe_group(&self, group: &str) -> BoxStream<'static, Event> {
        let client = self.client.clone();
        let key = self.stream_key.clone();
        let group = group.to_owned();
        let consumer = format!("{}-{}", std::process::id(), crate::ids::new_id());
        Box::pin(async_stream(move |tx: mpsc::Sender<Event>| async move {
            loop {
                let mut conn = match client.get_multiplexed_async_connection().await {
                    Ok(mut conn) => {
                        // The client's default reply timeout (500 ms) is shorter than a
                        // blocking read waits; without this every idle read fails.
                        conn.set_response_timeout(READ_REPLY_TIMEOUT);
                        conn
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event group connection failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        if tx.is_closed() {
                            return;
                        }
                        continue;
                    }
                };
                // The group starts at the stream's end the first time; afterwards Redis keeps
                // its position, which is what delivers events missed while down.
                let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&key)
                    .arg(&group)
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
                let mut rounds: u32 = 0;
                loop {
                    // Now and then, take over what a consumer that died read but never acknowledged.
                    if rounds.is_multiple_of(30) {
                        let options = redis::streams::StreamAutoClaimOptions::default().count(256);
                        let claimed: Result<redis::streams::StreamAutoClaimReply, _> =
                            redis::AsyncCommands::xautoclaim_options(
                                &mut conn,
                                &key,
                                &group,
                                &consumer,
                                ORPHAN_AFTER_MS,
                                "0-0",
                                options,
                            )
                            .await;
                        match claimed {
                            Ok(reply) => {
                                if !deliver(&mut conn, &key, &group, &tx, reply.claimed).await {
                                    return;
                                }
                            }
                            Err(error) => tracing::warn!(%error, "claiming orphaned events failed"),
                        }
                    }
                    rounds = rounds.wrapping_add(1);
                    let options = redis::streams::StreamReadOptions::default()
                        .group(&group, &consumer)
                        .count(256)
                        .block(BLOCK_MS);
                    let reply: Result<Option<redis::streams::StreamReadReply>, _> =
                        redis::AsyncCommands::xread_options(&mut conn, &[&key], &[">"], &options)
                            .await;
                    if tx.is_closed() {
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
                        if !deliver(&mut conn, &key, &group, &tx, stream.ids).await {
                            return;
                        }
                    }
                }
            }
        }))
    }
}
