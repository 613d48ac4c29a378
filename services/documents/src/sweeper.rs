//! Background work of the documents service, each on its own loop so one never holds up
//! another: removing deleted documents' bytes once their retention period has passed, scanning
//! again what a scan could not decide (with a growing wait per document, see
//! `Store::scan_failed`), and removing objects no document points to. Every replica may run
//! them: each step is safe to repeat.

use std::{future::Future, time::Duration};

use axv_platform::shutdown::CancellationToken;

use crate::service::Documents;

const EVERY: Duration = Duration::from_secs(60);
/// Objects without a document are looked for once an hour (a listing of the whole store)...
const ORPHANS_EVERY: Duration = Duration::from_secs(3600);
/// ...and removed once a day old, long after any upload could still be recording.
const ORPHAN_AGE: Duration = Duration::from_secs(86_400);

pub fn spawn(service: Documents, shutdown: CancellationToken) {
    let purging = service.clone();
    every(EVERY, shutdown.clone(), move || {
        let service = purging.clone();
        async move {
            if let Err(error) = service.purge_deleted().await {
                tracing::warn!(%error, "deleted documents not purged this round");
            }
        }
    });
    let tidying = service.clone();
    every(ORPHANS_EVERY, shutdown.clone(), move || {
        let service = tidying.clone();
        async move {
            if let Err(error) = service.remove_orphans(ORPHAN_AGE).await {
                tracing::warn!(%error, "objects without a document not looked for this round");
            }
        }
    });
    every(EVERY, shutdown, move || {
        let service = service.clone();
        async move {
            if let Err(error) = service.retry_scans().await {
                tracing::warn!(%error, "pending scans not retried this round");
            }
        }
    });
}

fn every<F: Future<Output = ()> + Send + 'static>(
    period: Duration,
    shutdown: CancellationToken,
    round: impl Fn() -> F + Send + 'static,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            round().await;
        }
    });
}
