//! `programStats` answers cached in the shared key-value store (Redis, or in-process), so
//! dashboards polling the figures do not recompute them per request.
//!
//! Entries are keyed by a generation number. Any event that can change the figures (reports,
//! vouchers and usage, companies, pilots) and the gateway's own report mutations bump it, which
//! retires every entry at once without listing keys. The TTL bounds what no event announces
//! (single usage records).

use std::time::Duration;

use axv_auth::Caller;
use axv_platform::{events::SharedBus, kv::SharedKv, shutdown::CancellationToken};
use axv_proto::outcomes::v1 as pb;
use futures::StreamExt;
use prost::Message;

/// Kinds of events after which cached figures may be wrong.
const INVALIDATING_PREFIXES: [&str; 6] = [
    "report.",
    "voucher.",
    "usage.",
    "application.",
    "company.",
    "pilot.",
];

const GENERATION_KEY: &str = "stats:generation";
/// Outlives every entry by far, so a generation never restarts under live entries.
const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone)]
pub struct StatsCache {
    kv: SharedKv,
    ttl: Duration,
}

/// Whether an event can change `programStats`.
pub fn invalidates(kind: &str) -> bool {
    INVALIDATING_PREFIXES.iter().any(|p| kind.starts_with(p))
}

/// Who the answer was computed for: staff get per-company figures and no suppression, everyone
/// else the same public answer (the outcomes service draws the same line).
fn audience(caller: Option<&Caller>) -> &'static str {
    if caller.is_some_and(Caller::is_staff) {
        "staff"
    } else {
        "public"
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl StatsCache {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

    pub fn new(kv: SharedKv, ttl: Duration) -> Self {
        Self { kv, ttl }
    }

    async fn generation(&self) -> Option<i64> {
        match self.kv.increment(GENERATION_KEY, 0, GENERATION_TTL).await {
            Ok((generation, _)) => Some(generation),
            Err(error) => {
                tracing::warn!(%error, "stats cache unavailable; computing afresh");
                None
            }
        }
    }

    /// The cached answer for this caller class and filter, or `load`'s, which is then cached.
    /// The filter should be normalized (sorted, deduplicated) so equal questions share entries.
    pub async fn get_or_load<F>(
        &self,
        caller: Option<&Caller>,
        filter: &pb::StatsFilter,
        load: F,
    ) -> Result<pb::GetProgramStatsResponse, tonic::Status>
    where
        F: Future<Output = Result<pb::GetProgramStatsResponse, tonic::Status>>,
    {
        let Some(generation) = self.generation().await else {
            return load.await;
        };
        let key = format!(
            "stats:{generation}:{}:{}",
            audience(caller),
            hex(&filter.encode_to_vec())
        );
        match self.kv.get(&key).await {
            Ok(Some(bytes)) => match pb::GetProgramStatsResponse::decode(bytes.as_slice()) {
                Ok(stats) => {
                    axv_telemetry::metrics::global().cache_hit("program_stats");
                    return Ok(stats);
                }
                Err(error) => tracing::warn!(%error, "undecodable stats cache entry"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "stats cache read failed"),
        }
        axv_telemetry::metrics::global().cache_miss("program_stats");
        let stats = load.await?;
        if let Err(error) = self.kv.set(&key, &stats.encode_to_vec(), self.ttl).await {
            tracing::warn!(%error, "stats cache write failed");
        }
        Ok(stats)
    }

    /// Retires every cached answer.
    pub async fn invalidate(&self) {
        if let Err(error) = self.kv.increment(GENERATION_KEY, 1, GENERATION_TTL).await {
            tracing::warn!(%error, "could not invalidate the stats cache");
        }
    }

    /// Invalidates on every event that can change the figures, until `shutdown`.
    pub fn spawn_invalidator(&self, bus: SharedBus, shutdown: CancellationToken) {
        let cache = self.clone();
        tokio::spawn(async move {
            // Every gateway replica sees every event; each bump is harmless.
            let mut events = bus.subscribe();
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => return,
                    event = events.next() => match event { Some(event) => event, None => return },
                };
                if invalidates(&event.kind) {
                    cache.invalidate().await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axv_platform::kv::MemoryKv;

    use super::*;

    fn stats(companies: i64) -> pb::GetProgramStatsResponse {
        pb::GetProgramStatsResponse {
            companies,
            ..Default::default()
        }
    }

    #[test]
    fn figures_changing_events_invalidate_and_others_do_not() {
        for kind in [
            "report.verified",
            "report.returned",
            "voucher.issued",
            "usage.ingested",
            "company.approved",
            "pilot.started",
        ] {
            assert!(invalidates(kind), "{kind}");
        }
        for kind in ["user.signed_up", "session.revoked", "reports.x"] {
            assert!(!invalidates(kind), "{kind}");
        }
    }

    #[tokio::test]
    async fn answers_are_reused_until_invalidated() {
        let cache = StatsCache::new(Arc::new(MemoryKv::default()), Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        let load = |n| {
            loads.fetch_add(1, Ordering::SeqCst);
            async move { Ok(stats(n)) }
        };
        let filter = pb::StatsFilter::default();
        assert_eq!(
            cache.get_or_load(None, &filter, load(1)).await.unwrap(),
            stats(1)
        );
        // Served from the cache: the second loader's answer is never used.
        assert_eq!(
            cache.get_or_load(None, &filter, load(2)).await.unwrap(),
            stats(1)
        );
        // Another filter is another entry.
        let other = pb::StatsFilter {
            sectors: vec!["ENERGY".into()],
            ..Default::default()
        };
        assert_eq!(
            cache.get_or_load(None, &other, load(3)).await.unwrap(),
            stats(3)
        );
        cache.invalidate().await;
        assert_eq!(
            cache.get_or_load(None, &filter, load(4)).await.unwrap(),
            stats(4)
        );
        assert_eq!(loads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = StatsCache::new(Arc::new(MemoryKv::default()), Duration::from_secs(60));
        let filter = pb::StatsFilter::default();
        let failed = cache
            .get_or_load(None, &filter, async {
                Err(tonic::Status::unavailable("down"))
            })
            .await;
        assert!(failed.is_err());
        let ok = cache
            .get_or_load(None, &filter, async { Ok(stats(7)) })
            .await
            .unwrap();
        assert_eq!(ok, stats(7));
    }

    #[tokio::test]
    async fn staff_and_public_answers_are_kept_apart() {
        let cache = StatsCache::new(Arc::new(MemoryKv::default()), Duration::from_secs(60));
        let filter = pb::StatsFilter::default();
        cache
            .get_or_load(None, &filter, async { Ok(stats(1)) })
            .await
            .unwrap();
        let key = axv_auth::SigningKey::generate();
        let issuer = axv_auth::TokenIssuer::new(key, "axv", "axv", Duration::from_secs(60));
        let token = issuer
            .issue("manager", axv_auth::Role::ProgramManager, Vec::new())
            .unwrap();
        let manager = issuer.verifier().verify(&token.token).await.unwrap();
        let staff = cache
            .get_or_load(Some(&manager), &filter, async { Ok(stats(2)) })
            .await
            .unwrap();
        assert_eq!(staff, stats(2));
    }
}
