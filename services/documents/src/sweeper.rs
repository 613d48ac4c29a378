//! Background work of the documents service, each on its own loop so one never holds up the
//! other: removing deleted documents' bytes once their retention period has passed, and
//! scanning again what a scan could not decide (with a growing wait per document, see
//! `Store::scan_failed`). Every replica may run both: each step is safe to repeat.

use std::{future::Future, time::Duration};

use axv_platform::shutdown::CancellationToken;

use crate::service::Documents;

const EVERY: Duration = Duration::from_secs(60);

pub fn spawn(service: Documents, shutdown: CancellationToken) {
    let purging = service.clone();
    every_minute(shutdown.clone(), move || {
        let service = purging.clone();
        async move {
            if let Err(error) = service.purge_deleted().await {
                tracing::warn!(%error, "deleted documents not purged this round");
            }
        }
    });
    every_minute(shutdown, move || {
        let service = service.clone();
        async move {
            if let Err(error) = service.retry_scans().await {
                tracing::warn!(%error, "pending scans not retried this round");
            }
        }
    });
}

fn every_minute<F: Future<Output = ()> + Send + 'static>(
    shutdown: CancellationToken,
    round: impl Fn() -> F + Send + 'static,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
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
