//! Background work of the documents service: removing deleted documents' bytes once their
//! retention period has passed, and scanning again what a scan could not decide. Every replica
//! may run it: both steps are safe to repeat.

use std::time::Duration;

use axv_platform::shutdown::CancellationToken;

use crate::service::Documents;

const EVERY: Duration = Duration::from_secs(60);

pub fn spawn(service: Documents, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = service.purge_deleted().await {
                tracing::warn!(%error, "deleted documents not purged this round");
            }
            if let Err(error) = service.retry_scans().await {
                tracing::warn!(%error, "pending scans not retried this round");
            }
        }
    });
}
