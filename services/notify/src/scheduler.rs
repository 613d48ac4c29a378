//! Work done on a clock by one replica at a time (a lease in the database, held for a run and
//! given up after it, so whichever replica comes next does the next): the daily digests,
//! giving up e-mail that became useless unsent (a reset link past its 30 minutes), and, once an
//! hour, the reminders (reports due or overdue, vouchers about to expire). Each run is
//! safe to repeat: what it files is taken in the same transaction, so a replica that lost its
//! lease mid-run sends nothing twice.

use std::time::Duration;

use axv_platform::{ids::now_ms, shutdown::CancellationToken};

use crate::{error::NotifyError, service::Notify};

const LEASE: &str = "scheduler";
/// Longer than a run takes; a replica that dies mid-run holds it no longer than this.
const LEASE_MS: i64 = 3 * 60_000;
const REMINDERS: &str = "reminders";
/// Reminders name days, so looking once an hour is soon enough.
const REMINDERS_EVERY_MS: i64 = 3_600_000;

/// Korea's date at `now_ms` (UTC+9 all year).
pub fn korea_date(now_ms: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(now_ms + 9 * 3_600_000)
        .unwrap_or_default()
        .date_naive()
}

/// How often the scheduler looks for due work.
const EVERY: Duration = Duration::from_secs(60);

/// One round as `holder`: `None` when another replica holds the lease, else how many
/// digests were filed.
pub async fn run_once(
    service: &Notify,
    holder: &str,
    now_ms: i64,
) -> Result<Option<usize>, NotifyError> {
    let store = service.store();
    if !store.hold_lease(LEASE, holder, LEASE_MS).await? {
        return Ok(None);
    }
    let ran = service.send_digests(now_ms).await;
    let discarded = store.discard_stale_mail().await;
    // Reminders once an hour across the replicas: this lease is taken by a fresh holder each
    // time and never given back, so it is free again only when the hour is up.
    let reminding = store
        .hold_lease(REMINDERS, &axv_platform::ids::new_id(), REMINDERS_EVERY_MS)
        .await;
    if let Ok(true) = reminding
        && let Err(error) = service.send_reminders(korea_date(now_ms)).await
    {
        tracing::warn!(%error, "reminders not run");
    }
    store.release_lease(LEASE, holder).await?;
    if let Ok(n @ 1..) = discarded {
        tracing::info!(mails = n, "e-mail past its use given up");
    }
    ran.map(Some)
}

/// Runs [`run_once`] every [`EVERY`] until `shutdown`.
pub fn spawn(service: Notify, shutdown: CancellationToken) {
    let holder = axv_platform::ids::new_id();
    tokio::spawn(async move {
        loop {
            if let Err(error) = run_once(&service, &holder, now_ms()).await {
                tracing::warn!(%error, "scheduled notifications not run");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}
