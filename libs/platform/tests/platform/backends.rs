//! The shared plumbing against real backends: the outbox on Postgres and SQLite, the event bus
//! and key-value primitives in-process and on Redis.

use std::{sync::Arc, time::Duration};

use axv_platform::{
    db::Database,
    events::{Event, EventHandler, InProcessBus, MAX_ATTEMPTS, RedisStreamBus, SharedBus},
    kv::{Claim, IdempotencyStore, KeyValue, MemoryKv, RateLimiter, RedisKv, SharedKv},
    on_both_backends,
    outbox::{Outbox, relay_once},
    testing::{TestDb, redis_available, redis_test_url, unique_prefix},
};
use futures::StreamExt;
use sqlx::Executor;
use tokio_util::sync::CancellationToken;

const OUTBOX_DDL: &str = "CREATE TABLE outbox (id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, \
     payload TEXT NOT NULL, created_at BIGINT NOT NULL, published_at BIGINT, lease_until BIGINT)";

async fn outbox_db(test: &TestDb) -> Database {
    let db = Database::connect(&test.config, "outboxtest").await.unwrap();
    db.pool().execute(OUTBOX_DDL).await.unwrap();
    db
}

/// A bus on the test Redis with a key prefix of its own.
async fn redis_bus() -> SharedBus {
    Arc::new(
        RedisStreamBus::connect(&redis_test_url(), &unique_prefix())
            .await
            .unwrap(),
    )
}

async fn next_event(stream: &mut futures::stream::BoxStream<'static, Event>) -> Option<Event> {
    tokio::time::timeout(Duration::from_millis(300), stream.next())
        .await
        .ok()
        .flatten()
}

async fn event_is_published_once_after_commit(test: TestDb) {
    let db = outbox_db(&test).await;
    let bus: SharedBus = Arc::new(InProcessBus::default());
    let mut events = bus.subscribe();
    let outbox = Outbox::default();

    let event = Event::new("test", "thing.happened", "subject-1");
    let mut tx = db.pool().begin().await.unwrap();
    outbox.enqueue(&mut tx, &event).await.unwrap();
    // Not yet committed: nothing to publish. (SQLite's single connection is held by the
    // transaction, so only Postgres can look from outside meanwhile.)
    if test.backend == axv_platform::db::Backend::Postgres {
        assert_eq!(relay_once(&db, &bus).await.unwrap(), 0);
    }
    tx.commit().await.unwrap();

    assert_eq!(relay_once(&db, &bus).await.unwrap(), 1);
    assert_eq!(relay_once(&db, &bus).await.unwrap(), 0, "published twice");
    assert_eq!(next_event(&mut events).await, Some(event));
    assert_eq!(next_event(&mut events).await, None);
}

async fn rolled_back_event_is_never_published(test: TestDb) {
    let db = outbox_db(&test).await;
    let bus: SharedBus = Arc::new(InProcessBus::default());
    let mut events = bus.subscribe();
    let outbox = Outbox::default();

    let mut tx = db.pool().begin().await.unwrap();
    outbox
        .enqueue(&mut tx, &Event::new("test", "thing.undone", "subject-2"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(relay_once(&db, &bus).await.unwrap(), 0);
    assert_eq!(next_event(&mut events).await, None);
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

async fn relay_task_publishes_promptly_after_commit(test: TestDb) {
    let db = outbox_db(&test).await;
    let bus: SharedBus = Arc::new(InProcessBus::default());
    let mut events = bus.subscribe();
    let outbox = Outbox::default();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let relay = outbox.spawn_relay(db.clone(), bus.clone(), shutdown.clone());

    let event = Event::new("test", "thing.relayed", "subject-3");
    let mut tx = db.pool().begin().await.unwrap();
    outbox.enqueue(&mut tx, &event).await.unwrap();
    outbox.commit(tx).await.unwrap();

    let received = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap();
    assert_eq!(received, Some(event));
    shutdown.cancel();
    relay.await.unwrap();
}

on_both_backends!(
    outbox_publishes_once_after_commit => event_is_published_once_after_commit,
    outbox_never_publishes_rolled_back => rolled_back_event_is_never_published,
    outbox_relay_task => relay_task_publishes_promptly_after_commit,
);

async fn kv_semantics(kv: SharedKv) {
    let ttl = Duration::from_secs(60);
    assert_eq!(kv.get("a").await.unwrap(), None);
    kv.set("a", b"1", ttl).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert!(kv.set_if_absent("b", b"x", ttl).await.unwrap());
    assert!(!kv.set_if_absent("b", b"y", ttl).await.unwrap());
    assert_eq!(kv.get("b").await.unwrap(), Some(b"x".to_vec()));
    kv.delete("b").await.unwrap();
    assert_eq!(kv.get("b").await.unwrap(), None);
    // Compare-and-delete: only what is still there goes.
    kv.set("d", b"mine", ttl).await.unwrap();
    assert!(!kv.delete_if("d", b"theirs").await.unwrap());
    assert_eq!(kv.get("d").await.unwrap(), Some(b"mine".to_vec()));
    assert!(kv.delete_if("d", b"mine").await.unwrap());
    assert_eq!(kv.get("d").await.unwrap(), None);
    assert!(!kv.delete_if("d", b"mine").await.unwrap());

    let (v, left) = kv.increment("c", 2, ttl).await.unwrap();
    assert_eq!(v, 2);
    assert!(left <= ttl && left > Duration::from_secs(50));
    assert_eq!(kv.increment("c", 3, ttl).await.unwrap().0, 5);

    kv.set("short", b"1", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        kv.get("short").await.unwrap(),
        None,
        "expired keys must vanish"
    );

    let limiter = RateLimiter::new(kv.clone());
    for _ in 0..3 {
        assert!(limiter.hit("k", 3, ttl, 1).await.unwrap().allowed);
    }
    let refused = limiter.hit("k", 3, ttl, 1).await.unwrap();
    assert!(!refused.allowed);
    assert!(refused.retry_after > Duration::ZERO);
    assert!(limiter.is_exhausted("k", 3, ttl).await.unwrap().is_some());
    limiter.reset("k").await.unwrap();
    assert!(limiter.is_exhausted("k", 3, ttl).await.unwrap().is_none());

    let idempotency = IdempotencyStore::new(kv.clone(), ttl, Duration::from_secs(5));
    assert_eq!(
        idempotency.begin("user-1", "key-1", "f1").await.unwrap(),
        Claim::Started
    );
    assert_eq!(
        idempotency.begin("user-1", "key-1", "f1").await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        idempotency.begin("user-1", "key-1", "f2").await.unwrap(),
        Claim::Mismatch
    );
    // Keys are per caller.
    assert_eq!(
        idempotency.begin("user-2", "key-1", "f2").await.unwrap(),
        Claim::Started
    );
    idempotency
        .complete("user-1", "key-1", "f1", b"result")
        .await
        .unwrap();
    assert_eq!(
        idempotency.begin("user-1", "key-1", "f1").await.unwrap(),
        Claim::Completed(b"result".to_vec())
    );
    assert_eq!(
        idempotency.begin("user-1", "key-1", "other").await.unwrap(),
        Claim::Mismatch
    );
    idempotency.abandon("user-2", "key-1").await.unwrap();
    assert_eq!(
        idempotency.begin("user-2", "key-1", "f3").await.unwrap(),
        Claim::Started
    );
}

#[tokio::test]
async fn in_process_kv() {
    kv_semantics(Arc::new(MemoryKv::default())).await;
}

#[tokio::test]
async fn redis_kv() {
    if !redis_available().await {
        return;
    }
    let prefix = unique_prefix();
    kv_semantics(Arc::new(
        RedisKv::connect(&redis_test_url(), &prefix).await.unwrap(),
    ))
    .await;
    // Another prefix sees none of it.
    let other = RedisKv::connect(&redis_test_url(), &unique_prefix())
        .await
        .unwrap();
    assert_eq!(other.get("a").await.unwrap(), None);
}

async fn bus_delivers(bus: SharedBus) {
    let mut first = bus.subscribe();
    let mut second = bus.subscribe();
    // Redis subscribers start reading from "now"; give them a moment to issue their first read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let event = Event::new("test", "bus.checked", "s")
        .for_companies(vec!["c1".into()])
        .public(true);
    bus.publish(&event).await.unwrap();
    for stream in [&mut first, &mut second] {
        let got = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap();
        assert_eq!(got.as_ref(), Some(&event));
    }
}

#[tokio::test]
async fn in_process_bus_fans_out() {
    bus_delivers(Arc::new(InProcessBus::default())).await;
}

#[tokio::test]
async fn redis_stream_bus_fans_out() {
    if !redis_available().await {
        return;
    }
    bus_delivers(redis_bus().await).await;
}

/// A consumer group's handler for tests: records what it handled, after failing the first
/// `failures` attempts (`u32::MAX`: always), or hanging on the first `hangs`.
#[derive(Default)]
struct Recorder {
    handled: std::sync::Mutex<Vec<Event>>,
    attempts: std::sync::atomic::AtomicU32,
    failures: u32,
    hangs: u32,
}

#[async_trait::async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        let attempt = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if attempt < self.hangs {
            std::future::pending::<()>().await;
        }
        if attempt < self.failures {
            return Err(format!("attempt {attempt} fails"));
        }
        self.handled.lock().unwrap().push(event.clone());
        Ok(())
    }
}

impl Recorder {
    fn handled(&self) -> Vec<Event> {
        self.handled.lock().unwrap().clone()
    }

    /// Waits (at most 15 s) until `n` events were handled.
    async fn wait_for(&self, n: usize) -> Vec<Event> {
        for _ in 0..300 {
            if self.handled().len() >= n {
                return self.handled();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("handled {:?}, expected {n}", self.handled());
    }
}

fn consume(bus: &SharedBus, group: &str, handler: Arc<Recorder>) -> CancellationToken {
    bus.declare_group(group);
    let stop = CancellationToken::new();
    let (bus, group, token) = (bus.clone(), group.to_owned(), stop.clone());
    tokio::spawn(async move { bus.consume(&group, handler, token).await });
    stop
}

async fn concrete_redis_bus() -> RedisStreamBus {
    RedisStreamBus::connect(&redis_test_url(), &unique_prefix())
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_consumer_group_gets_events_missed_while_down() {
    if !redis_available().await {
        return;
    }
    let bus = redis_bus().await;
    let first = Arc::new(Recorder::default());
    // The group is created when the first consumer starts; then the consumer goes away.
    let stop = consume(&bus, "vouchers", first.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = Event::new("test", "while.up", "a");
    bus.publish(&seen).await.unwrap();
    assert_eq!(first.wait_for(1).await, vec![seen]);
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let missed = Event::new("test", "while.down", "b");
    bus.publish(&missed).await.unwrap();
    let again = Arc::new(Recorder::default());
    let stop = consume(&bus, "vouchers", again.clone());
    assert_eq!(
        again.wait_for(1).await,
        vec![missed],
        "the event published while the group had no consumer arrives"
    );
    stop.cancel();
}

/// A handler that fails is retried (with backoff) until it succeeds; only then is the event
/// acknowledged, and it is handled exactly once.
async fn failures_are_retried_until_handled(bus: SharedBus) {
    let handler = Arc::new(Recorder {
        failures: 2,
        ..Recorder::default()
    });
    let stop = consume(&bus, "retry", handler.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let event = Event::new("test", "company.suspended", "c1");
    bus.publish(&event).await.unwrap();
    assert_eq!(handler.wait_for(1).await, vec![event]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handler.handled().len(), 1);
    assert_eq!(
        handler.attempts.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    stop.cancel();
}

#[tokio::test]
async fn in_process_failures_are_retried_until_handled() {
    failures_are_retried_until_handled(Arc::new(InProcessBus::default())).await;
}

#[tokio::test]
async fn redis_failures_are_retried_until_handled() {
    if !redis_available().await {
        return;
    }
    failures_are_retried_until_handled(redis_bus().await).await;
}

/// An event every attempt fails on is parked, counted and acknowledged, and the events behind
/// it still arrive.
#[tokio::test]
async fn poison_events_are_parked_visibly_on_redis() {
    if !redis_available().await {
        return;
    }
    let concrete = concrete_redis_bus().await;
    let dead_key = format!("{}:dead", concrete.stream_key());
    let bus: SharedBus = Arc::new(concrete);
    let counter = || {
        axv_telemetry::metrics::global()
            .events_dead_lettered
            .with_label_values(&["poisoned-redis"])
            .get()
    };
    let before = counter();
    let handler = Arc::new(Recorder {
        failures: MAX_ATTEMPTS,
        ..Recorder::default()
    });
    let stop = consume(&bus, "poisoned-redis", handler.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let poison = Event::new("test", "poison", "p");
    let next = Event::new("test", "after", "q");
    bus.publish(&poison).await.unwrap();
    bus.publish(&next).await.unwrap();
    assert_eq!(handler.wait_for(1).await, vec![next]);
    assert_eq!(counter(), before + 1);
    let mut conn = redis::Client::open(redis_test_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let parked: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut conn, &dead_key)
            .await
            .unwrap();
    assert_eq!(parked.ids.len(), 1);
    let parked_event: Event =
        serde_json::from_str(&parked.ids[0].get::<String>("event").unwrap()).unwrap();
    assert_eq!(parked_event, poison);
    assert_eq!(
        parked.ids[0].get::<String>("group").as_deref(),
        Some("poisoned-redis")
    );
    stop.cancel();
}

#[tokio::test]
async fn poison_events_are_parked_visibly_in_process() {
    let concrete = Arc::new(InProcessBus::default());
    let bus: SharedBus = concrete.clone();
    let handler = Arc::new(Recorder {
        failures: MAX_ATTEMPTS,
        ..Recorder::default()
    });
    let stop = consume(&bus, "poisoned", handler.clone());
    let poison = Event::new("test", "poison", "p");
    let next = Event::new("test", "after", "q");
    bus.publish(&poison).await.unwrap();
    bus.publish(&next).await.unwrap();
    assert_eq!(handler.wait_for(1).await, vec![next]);
    let dead = concrete.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event, poison);
    stop.cancel();
}

/// A consumer that read an event and died before handling it (it hangs, then its task is gone)
/// never acknowledged it: another consumer of the group takes it over and handles it.
#[tokio::test]
async fn an_event_read_by_a_consumer_that_died_is_taken_over() {
    if !redis_available().await {
        return;
    }
    let bus: SharedBus = Arc::new(
        concrete_redis_bus()
            .await
            .with_orphan_after(Duration::from_millis(300)),
    );
    let dying = Arc::new(Recorder {
        hangs: 1,
        ..Recorder::default()
    });
    let stop_dying = consume(&bus, "takeover", dying.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let event = Event::new("test", "company.suspended", "c1");
    bus.publish(&event).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dying.attempts.load(std::sync::atomic::Ordering::SeqCst), 1);
    stop_dying.cancel();
    let survivor = Arc::new(Recorder::default());
    let stop = consume(&bus, "takeover", survivor.clone());
    assert_eq!(survivor.wait_for(1).await, vec![event]);
    assert!(dying.handled().is_empty());
    stop.cancel();
}

/// In-process, a group whose handler is slow gets every event of a burst far larger than the
/// live subscribers' buffer.
#[tokio::test]
async fn an_in_process_group_never_drops_events() {
    let bus: SharedBus = Arc::new(InProcessBus::default());
    let handler = Arc::new(Recorder::default());
    let stop = consume(&bus, "slow", handler.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 0..5_000 {
        bus.publish(&Event::new("test", "burst", n.to_string()))
            .await
            .unwrap();
    }
    let handled = handler.wait_for(5_000).await;
    assert_eq!(handled.len(), 5_000);
    assert!(
        handled
            .iter()
            .enumerate()
            .all(|(n, e)| e.subject_id == n.to_string())
    );
    stop.cancel();
}

/// Trimming drops only what every group has handled: a group that stopped keeps its unread
/// events on the stream.
#[tokio::test]
async fn trimming_keeps_what_a_group_has_not_handled() {
    if !redis_available().await {
        return;
    }
    let concrete = Arc::new(
        concrete_redis_bus()
            .await
            .with_retention(Duration::from_millis(0)),
    );
    let bus: SharedBus = concrete.clone();
    let early = Arc::new(Recorder::default());
    let stop_early = consume(&bus, "stopped", early.clone());
    let steady = Arc::new(Recorder::default());
    let stop_steady = consume(&bus, "steady", steady.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..10 {
        bus.publish(&Event::new("test", "first", n.to_string()))
            .await
            .unwrap();
    }
    early.wait_for(10).await;
    stop_early.cancel();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for n in 0..20 {
        bus.publish(&Event::new("test", "second", n.to_string()))
            .await
            .unwrap();
    }
    steady.wait_for(30).await;
    concrete.trim().await.unwrap();
    let kinds = || async {
        let mut conn = redis::Client::open(redis_test_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let kept: redis::streams::StreamRangeReply =
            redis::AsyncCommands::xrange_all(&mut conn, concrete.stream_key())
                .await
                .unwrap();
        kept.ids
            .iter()
            .filter_map(|e| e.get::<String>("event"))
            .filter_map(|data| serde_json::from_str::<Event>(&data).ok())
            .map(|e| e.kind)
            .collect::<Vec<String>>()
    };
    let kept = kinds().await;
    // Everything both groups handled goes (the stopped group's last one marks its place);
    // what the stopped group never read stays.
    assert_eq!(kept.iter().filter(|k| *k == "first").count(), 1, "{kept:?}");
    assert_eq!(
        kept.iter().filter(|k| *k == "second").count(),
        20,
        "{kept:?}"
    );
    stop_steady.cancel();
    // Once that group has caught up, they go too.
    let caught_up = Arc::new(Recorder::default());
    let stop = consume(&bus, "stopped", caught_up.clone());
    caught_up.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    concrete.trim().await.unwrap();
    assert_eq!(kinds().await.len(), 1);
    stop.cancel();
}

/// A subscriber idle for longer than several blocking reads still gets every event of a later
/// burst, in order: idle reads are not mistaken for dead connections, and its position in the
/// stream is pinned, so no event falls into a reconnect gap.
#[tokio::test]
async fn an_idle_redis_subscriber_misses_nothing() {
    if !redis_available().await {
        return;
    }
    let bus = redis_bus().await;
    let mut stream = bus.subscribe();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let burst: Vec<Event> = (0..50)
        .map(|n| Event::new("test", "burst", n.to_string()))
        .collect();
    for event in &burst {
        bus.publish(event).await.unwrap();
    }
    for expected in &burst {
        let got = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap();
        assert_eq!(got.as_ref(), Some(expected));
    }
}

/// Reads do not wait for a write in progress (on SQLite: the reader pool beside the one
/// writer, WAL), see only what was committed, and cannot write.
async fn reads_go_on_beside_an_open_write(test: TestDb) {
    let db = Database::connect(&test.config, "readstest").await.unwrap();
    db.pool()
        .execute("CREATE TABLE things (id TEXT PRIMARY KEY)")
        .await
        .unwrap();
    let mut write = db.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO things (id) VALUES ('a')")
        .execute(&mut *write)
        .await
        .unwrap();
    let count = || async {
        let (n,): (i64,) = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query_as("SELECT COUNT(*) FROM things").fetch_one(db.reads()),
        )
        .await
        .expect("a read waited for the open write")
        .unwrap();
        n
    };
    assert_eq!(count().await, 0, "a read saw an uncommitted write");
    write.commit().await.unwrap();
    assert_eq!(count().await, 1);
    if test.backend == axv_platform::db::Backend::Sqlite {
        assert_eq!(
            db.reads().options().get_max_connections(),
            axv_platform::db::sqlite_readers()
        );
        assert_eq!(db.pool().options().get_max_connections(), 1);
        assert!((2..=4).contains(&axv_platform::db::sqlite_readers()));
        // Several readers at once, each on its own connection.
        let mut held = Vec::new();
        for _ in 0..axv_platform::db::sqlite_readers() {
            held.push(db.reads().acquire().await.unwrap());
        }
        assert_eq!(db.reads().size(), axv_platform::db::sqlite_readers());
        drop(held);
        let refused = sqlx::query("INSERT INTO things (id) VALUES ('b')")
            .execute(db.reads())
            .await;
        assert!(refused.is_err(), "a reader connection wrote");
    }
    db.close().await;
}
on_both_backends!(reads_beside_a_write => reads_go_on_beside_an_open_write);
