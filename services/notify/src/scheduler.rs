//! Work done on a clock by one replica at a time (a lease in the database, held for a round and
//! given up after it, so whichever replica comes next does the next): the daily digests,
//! giving up e-mail that became useless unsent (a reset link past its 30 minutes), and, once an
//! hour in the daytime, the reminders (reports due or overdue, vouchers about to expire). Each
//! round is safe to repeat: what it files is taken in the same transaction, so a replica that
//! lost its lease mid-round sends nothing twice.

use std::time::Duration;

use axv_platform::{ids::now_ms, shutdown::CancellationToken};
use chrono::Timelike;

use crate::{error::NotifyError, service::Notify};

const LEASE: &str = "scheduler";
/// Longer than a round takes; a replica that dies mid-round holds it no longer than this.
const LEASE_MS: i64 = 3 * 60_000;
const REMINDERS: &str = "reminders";
/// Reminders name days, so looking once an hour is soon enough.
const REMINDERS_EVERY_MS: i64 = 3_600_000;
/// Reminders are told from this hour (Korea time) on, never at night.
pub const REMINDERS_FROM_HOUR_KST: u32 = 9;
/// How often the scheduler looks for due work.
const EVERY: Duration = Duration::from_secs(60);

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    pub digests: usize,
    /// `None` when the reminders were not this round's to run: another replica ran them this
    /// hour, it is before 09:00 in Korea, the demo is being seeded, or the run failed.
    pub reminders: Option<usize>,
}

/// One round as `holder` at `now_ms`: `None` when another replica holds the lease.
pub async fn run_once(
    service: &Notify,
    holder: &str,
    now_ms: i64,
) -> Result<Option<Ran>, NotifyError> {
    let store = service.store();
    if !store.hold_lease(LEASE, holder, LEASE_MS).await? {
        return Ok(None);
    }
    let digests = service.send_digests(now_ms).await;
    if let Ok(n @ 1..) = store.discard_stale_mail().await {
        tracing::info!(mails = n, "e-mail past its use given up");
    }
    let reminders = remind(service, now_ms).await;
    store.release_lease(LEASE, holder).await?;
    Ok(Some(Ran {
        digests: digests?,
        reminders,
    }))
}

/// The reminders, once an hour across the replicas: their lease is taken by a fresh holder
/// each time and kept the hour, unless the run failed (then it is given back, to be tried at
/// the next round).
async fn remind(service: &Notify, now_ms: i64) -> Option<usize> {
    let store = service.store();
    let korea = chrono::DateTime::from_timestamp_millis(now_ms)?
        .with_timezone(&axv_platform::calendar::KST);
    if korea.hour() < REMINDERS_FROM_HOUR_KST {
        return None;
    }
    // While the demo is seeded every event is history: reminders would be used up untold.
    match store.quiet_before().await {
        Ok(Some(quiet)) if quiet > now_ms => return None,
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "reminders not run");
            return None;
        }
    }
    let holder = axv_platform::ids::new_id();
    match store
        .hold_lease(REMINDERS, &holder, REMINDERS_EVERY_MS)
        .await
    {
        Ok(true) => {}
        Ok(false) => return None,
        Err(error) => {
            tracing::warn!(%error, "reminders' lease not taken");
            return None;
        }
    }
    match service.send_reminders(korea.date_naive()).await {
        Ok(told) => Some(told),
        Err(error) => {
            tracing::warn!(%error, "reminders stopped; tried again at the next round");
            if let Err(error) = store.release_lease(REMINDERS, &holder).await {
                tracing::warn!(%error, "reminders' lease not given back");
            }
            None
        }
    }
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
