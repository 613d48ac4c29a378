//! Answers cached in the shared key-value store (Redis, or in-process): `programStats` and the
//! public pilot registry, which dashboards poll, so they are not recomputed per request.
//!
//! Entries are keyed by a generation number. Any event that can change them (reports,
//! vouchers and usage, companies, pilots) and the gateway's own report mutations bump it, which
//! retires every entry at once without listing keys. The TTL bounds what no event announces
//! (single usage records).

use std::time::Duration;

use axv_auth::Caller;
use axv_platform::{kv::SharedKv, shutdown::CancellationToken};
use prost::Message;
use tokio::sync::broadcast;

use crate::events::EventHub;

/// Part of every key: bumped when a cached message's fields change number or meaning, so a
/// gateway never reads an entry another version wrote (during a rollout both run side by side).
/// 2: sectors and domains became shared enums.
const CACHED_MESSAGES_VERSION: u32 = 2;

/// Kinds of events after which cached figures may be wrong.
const INVALIDATING_PREFIXES: [&str; 7] = [
    "stats.",
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
pub struct ResponseCache {
    kv: SharedKv,
    ttl: Duration,
}

/// Whether an event can change `programStats`.
pub fn invalidates(kind: &str) -> bool {
    INVALIDATING_PREFIXES.iter().any(|p| kind.starts_with(p))
}

/// Who the answer was computed for: staff see everything, everyone else the same public
/// answer (the services draw the same line). Callers whose answers are their own (firm members,
/// operators) must not be served from the cache at all; see [`is_public`].
fn audience(caller: Option<&Caller>) -> &'static str {
    if caller.is_some_and(Caller::is_staff) {
        "staff"
    } else {
        "public"
    }
}

/// Anonymous callers and dashboards: the callers every service answers alike.
pub fn is_public(caller: Option<&Caller>) -> bool {
    caller.is_none_or(|c| c.role == axv_auth::Role::Dashboard)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ResponseCache {
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

    /// The cached answer in `namespace` for this caller class and `question`, or `load`'s,
    /// which is then cached. The question should be normalized (sorted, deduplicated) so equal
    /// questions share entries; errors are never cached.
    pub async fn get_or_load<Q, A, F>(
        &self,
        namespace: &str,
        caller: Option<&Caller>,
        question: &Q,
        load: F,
    ) -> Result<A, tonic::Status>
    where
        Q: Message,
        A: Message + Default,
        F: Future<Output = Result<A, tonic::Status>>,
    {
        let Some(generation) = self.generation().await else {
            return load.await;
        };
        let key = format!(
            "{namespace}:v{CACHED_MESSAGES_VERSION}:{generation}:{}:{}",
            audience(caller),
            hex(&question.encode_to_vec())
        );
        match self.kv.get(&key).await {
            Ok(Some(bytes)) => match A::decode(bytes.as_slice()) {
                Ok(answer) => {
                    axv_telemetry::metrics::global().cache_hit(namespace);
                    return Ok(answer);
                }
                Err(error) => tracing::warn!(%error, namespace, "undecodable cache entry"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, namespace, "cache read failed"),
        }
        axv_telemetry::metrics::global().cache_miss(namespace);
        let answer = load.await?;
        if let Err(error) = self.kv.set(&key, &answer.encode_to_vec(), self.ttl).await {
            tracing::warn!(%error, namespace, "cache write failed");
        }
        Ok(answer)
    }

    /// Retires every cached answer.
    pub async fn invalidate(&self) {
        if let Err(error) = self.kv.increment(GENERATION_KEY, 1, GENERATION_TTL).await {
            tracing::warn!(%error, "could not invalidate the stats cache");
        }
    }

    /// Invalidates on every event that can change the figures, until `shutdown`.
    pub fn spawn_invalidator(&self, hub: &EventHub, shutdown: CancellationToken) {
        let cache = self.clone();
        // The gateway's one reader of the bus feeds this as it feeds subscribers.
        let mut events = hub.receiver();
        tokio::spawn(async move {
            // Every gateway replica sees every event; each bump is harmless.
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => return,
                    event = events.recv() => event,
                };
                match event {
                    Ok(event) if invalidates(&event.kind) => cache.invalidate().await,
                    Ok(_) => {}
                    // Events were skipped, any of which may have changed the figures.
                    Err(broadcast::error::RecvError::Lagged(_)) => cache.invalidate().await,
                    Err(broadcast::error::RecvError::Closed) => return,
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
    use axv_proto::outcomes::v1 as pb;

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
        let cache = ResponseCache::new(Arc::new(MemoryKv::default()), Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        let load = |n| {
            loads.fetch_add(1, Ordering::SeqCst);
            async move { Ok(stats(n)) }
        };
        let filter = pb::StatsFilter::default();
        assert_eq!(
            cache
                .get_or_load("stats", None, &filter, load(1))
                .await
                .unwrap(),
            stats(1)
        );
        // Served from the cache: the second loader's answer is never used.
        assert_eq!(
            cache
                .get_or_load("stats", None, &filter, load(2))
                .await
                .unwrap(),
            stats(1)
        );
        // Another filter is another entry.
        let other = pb::StatsFilter {
            sectors: vec![axv_proto::common::v1::Sector::Energy.into()],
            ..Default::default()
        };
        assert_eq!(
            cache
                .get_or_load("stats", None, &other, load(3))
                .await
                .unwrap(),
            stats(3)
        );
        cache.invalidate().await;
        assert_eq!(
            cache
                .get_or_load("stats", None, &filter, load(4))
                .await
                .unwrap(),
            stats(4)
        );
        assert_eq!(loads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = ResponseCache::new(Arc::new(MemoryKv::default()), Duration::from_secs(60));
        let filter = pb::StatsFilter::default();
        let failed: Result<pb::GetProgramStatsResponse, _> = cache
            .get_or_load("stats", None, &filter, async {
                Err(tonic::Status::unavailable("down"))
            })
            .await;
        assert!(failed.is_err());
        let ok = cache
            .get_or_load("stats", None, &filter, async { Ok(stats(7)) })
            .await
            .unwrap();
        assert_eq!(ok, stats(7));
    }

    #[tokio::test]
    async fn staff_and_public_answers_are_kept_apart() {
        let cache = ResponseCache::new(Arc::new(MemoryKv::default()), Duration::from_secs(60));
        let filter = pb::StatsFilter::default();
        cache
            .get_or_load("stats", None, &filter, async { Ok(stats(1)) })
            .await
            .unwrap();
        let key = axv_auth::SigningKey::generate();
        let issuer = axv_auth::TokenIssuer::new(key, "axv", "axv", Duration::from_secs(60));
        let token = issuer
            .issue("manager", axv_auth::Role::ProgramManager, Vec::new())
            .unwrap();
        let manager = issuer.verifier().verify(&token.token).await.unwrap();
        let staff = cache
            .get_or_load("stats", Some(&manager), &filter, async { Ok(stats(2)) })
            .await
            .unwrap();
        assert_eq!(staff, stats(2));
    }
}
