//! The shared plumbing against real backends: the outbox on Postgres and SQLite, the event bus
//! and key-value primitives in-process and on Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use axv_platform::{
    db::Database,
    events::{Event, InProcessBus, RedisStreamBus, SharedBus},
    kv::{Claim, IdempotencyStore, KeyValue, MemoryKv, RateLimiter, RedisKv, SharedKv},
    on_both_backends,
    outbox::{Outbox, relay_once},
    testing::{TestDb, redis_available, redis_test_url, unique_prefix},
};
use futures::StreamExt;
use sqlx::Executor;

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
    tx.commit().await.unwrap();
    outbox.committed();

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

#[tokio::test]
async fn redis_consumer_group_gets_events_missed_while_down() {
    if !redis_available().await {
        return;
    }
    let bus = redis_bus().await;
    {
        // The group is created on first subscription; then the consumer goes away.
        let mut first = bus.subscribe_group("vouchers");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = Event::new("test", "while.up", "a");
        bus.publish(&seen).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), first.next())
            .await
            .unwrap();
        assert_eq!(got, Some(seen));
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let missed = Event::new("test", "while.down", "b");
    bus.publish(&missed).await.unwrap();
    let mut again = bus.subscribe_group("vouchers");
    let got = tokio::time::timeout(Duration::from_secs(5), again.next())
        .await
        .unwrap();
    assert_eq!(
        got,
        Some(missed),
        "the event published while the group had no consumer arrives"
    );
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
