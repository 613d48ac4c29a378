//! The transactional outbox: a service writes its events into its own `outbox` table in the
//! same transaction as the change, and the relay publishes committed rows to the bus. An event
//! is therefore published only if its change committed, and at least once; consumers
//! deduplicate by event id. Every service's first migration creates the table:
//!
//! ```sql
//! CREATE TABLE outbox (
//!     id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, payload TEXT NOT NULL,
//!     created_at BIGINT NOT NULL, published_at BIGINT, lease_until BIGINT);
//! CREATE INDEX outbox_pending ON outbox (published_at, created_at);
//! ```

use std::{sync::Arc, time::Duration};

use sqlx::AnyConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    db::{Database, StoreError},
    events::{Event, SharedBus},
    ids::now_ms,
};

/// How long a relay owns a claimed row before another replica may take it over.
const LEASE: Duration = Duration::from_secs(30);
const BATCH: i64 = 100;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Published rows are kept this long for the record, then pruned.
const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Writes events inside a transaction and wakes the relay once the transaction committed.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub async fn enqueue(&self, conn: &mut AnyConnection, event: &Event) -> Result<(), StoreError> {
        insert(conn, event, "").await.map(|_| ())
    }

    /// Enqueues `event` unless an event with its id already is (an id derived from what it
    /// announces makes it once per occasion, however many replicas try); whether it was new.
    pub async fn enqueue_once(
        &self,
        conn: &mut AnyConnection,
        event: &Event,
    ) -> Result<bool, StoreError> {
        let inserted = insert(conn, event, " ON CONFLICT (id) DO NOTHING").await?;
        Ok(inserted == 1)
    }

    /// Commits the transaction that enqueued events and wakes the relay, so they go out
    /// promptly instead of at the next poll: the one way a change with events commits.
    pub async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Starts the relay for `db`'s outbox; it stops when `shutdown` is cancelled.
    pub fn spawn_relay(
        &self,
        db: Database,
        bus: SharedBus,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let wake = self.wake.clone();
        tokio::spawn(async move {
            let mut last_prune = 0_i64;
            loop {
                match relay_once(&db, &bus).await {
                    Ok(sent) if sent as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "outbox relay pass failed"),
                }
                if now_ms() - last_prune > 3_600_000 {
                    last_prune = now_ms();
                    if let Err(error) = prune(&db).await {
                        tracing::warn!(%error, "outbox prune failed");
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => {
                        // One last pass so events of calls that were drained still go out.
                        let _ = relay_once(&db, &bus).await;
                        return;
                    }
                    () = wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        })
    }
}

/// Writes `event`'s row; `conflict` is an optional `ON CONFLICT` clause. Rows written.
async fn insert(
    conn: &mut AnyConnection,
    event: &Event,
    conflict: &str,
) -> Result<u64, StoreError> {
    let payload = serde_json::to_string(event)
        .map_err(|e| StoreError::Config(format!("event encoding: {e}")))?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO outbox (id, kind, subject_id, payload, created_at) VALUES ($1, $2, $3, $4, $5){conflict}"
    ))
    .bind(&event.id)
    .bind(&event.kind)
    .bind(&event.subject_id)
    .bind(payload)
    .bind(event.occurred_at_ms)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected())
}

/// Publishes up to one batch of pending events; returns how many it published.
pub async fn relay_once(db: &Database, bus: &SharedBus) -> Result<usize, StoreError> {
    let now = now_ms();
    let pending: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, payload FROM outbox WHERE published_at IS NULL \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY created_at, id LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let mut sent = 0;
    let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(30_000);
    for (id, payload) in pending {
        // Claim the row first: with several replicas only the one whose update lands publishes.
        let claimed = sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE id = $2 AND published_at IS NULL \
             AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(now + lease_ms)
        .bind(&id)
        .bind(now)
        .execute(db.pool())
        .await?
        .rows_affected();
        if claimed != 1 {
            continue;
        }
        let event: Event = match serde_json::from_str(&payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(%error, event_id = %id, "undecodable outbox row; marking published");
                mark_published(db, &id).await?;
                continue;
            }
        };
        match bus.publish(&event).await {
            Ok(()) => {
                mark_published(db, &id).await?;
                sent += 1;
            }
            Err(error) => {
                // Leave the lease to expire; the row is retried on a later pass.
                tracing::warn!(%error, event_id = %id, "event publish failed; will retry");
                break;
            }
        }
    }
    Ok(sent)
}

async fn mark_published(db: &Database, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET published_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

async fn prune(db: &Database) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1")
        .bind(now_ms() - RETENTION_MS)
        .execute(db.pool())
        .await?;
    Ok(())
}
