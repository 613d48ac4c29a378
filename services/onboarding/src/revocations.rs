//! Revocations that survive the cache. Every revocation is written to onboarding's database
//! first and then to the shared key-value store, where every process's verifier looks it up.
//! A marker key in that store says it holds them all; when the store comes back empty (Redis
//! restarted without persistence), the marker is gone, and onboarding refills the store from
//! the table within [`RESEED_EVERY`].

use std::{sync::Arc, time::Duration};

use axv_auth::{AuthError, RevocationList};
use axv_platform::{
    kv::{KvRevocations, SharedKv},
    shutdown::CancellationToken,
};

use crate::store::Store;

/// How often the cache is checked for having lost its revocations.
pub const RESEED_EVERY: Duration = Duration::from_secs(2);
/// Present while the cache holds every revocation of the table.
const MARKER: &str = "revocations:complete";
/// Kept after a token's `exp`, as the cache keeps it (the verifier's leeway).
const GRACE_SECS: i64 = 300;

pub struct DurableRevocations {
    store: Store,
    kv: SharedKv,
    cache: KvRevocations,
    /// A revocation this process recorded but could not cache: the next check refills the
    /// cache from the table whatever its marker says.
    cache_missed: std::sync::atomic::AtomicBool,
}

impl DurableRevocations {
    pub fn new(store: Store, kv: SharedKv) -> Self {
        Self {
            store,
            cache: KvRevocations::new(kv.clone()),
            kv,
            cache_missed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Refills the cache from the table when its marker is gone, or when this process could
    /// not cache a revocation; returns how many were put back (0 when the cache was complete).
    pub async fn reseed_if_lost(&self) -> Result<usize, AuthError> {
        use std::sync::atomic::Ordering;
        let store_error = |e: &dyn std::fmt::Display| AuthError::Store(e.to_string());
        // Taken before reading the table: a revocation missed while this runs sets it again.
        let missed = self.cache_missed.swap(false, Ordering::SeqCst);
        let complete = match self.kv.get(MARKER).await {
            Ok(marker) => marker.is_some(),
            Err(e) => {
                self.cache_missed.fetch_or(missed, Ordering::SeqCst);
                return Err(store_error(&e));
            }
        };
        if complete && !missed {
            return Ok(0);
        }
        let refilled = self.reseed().await;
        if refilled.is_err() {
            self.cache_missed.fetch_or(missed, Ordering::SeqCst);
        }
        refilled
    }

    async fn reseed(&self) -> Result<usize, AuthError> {
        let store_error = |e: &dyn std::fmt::Display| AuthError::Store(e.to_string());
        let now = chrono::Utc::now().timestamp();
        let live = self
            .store
            .live_revocations(now - GRACE_SECS)
            .await
            .map_err(|e| store_error(&e))?;
        for (token_id, expires_at) in &live {
            self.cache.revoke(token_id, *expires_at).await?;
        }
        self.kv
            .set(MARKER, b"1", Duration::from_secs(365 * 86_400))
            .await
            .map_err(|e| store_error(&e))?;
        if !live.is_empty() {
            tracing::warn!(
                count = live.len(),
                "revocations restored to an emptied cache"
            );
        }
        Ok(live.len())
    }

    /// Keeps the cache complete until `shutdown`.
    pub fn spawn_reseeder(self: Arc<Self>, shutdown: CancellationToken) {
        tokio::spawn(async move {
            loop {
                if let Err(error) = self.reseed_if_lost().await {
                    tracing::warn!(%error, "revocation cache not checked");
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RESEED_EVERY) => {}
                }
            }
        });
    }
}

#[async_trait::async_trait]
impl RevocationList for DurableRevocations {
    async fn is_revoked(&self, token_id: &str) -> Result<bool, AuthError> {
        self.cache.is_revoked(token_id).await
    }

    /// Recorded in the table, then told to the cache. When the cache does not take it, this
    /// process's reseeder refills the cache from the table at its next check (within
    /// [`RESEED_EVERY`] once the cache answers again), whatever the cache's marker says.
    async fn revoke(&self, token_id: &str, expires_at: i64) -> Result<(), AuthError> {
        self.store
            .record_revocation(token_id, expires_at)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        if let Err(error) = self.cache.revoke(token_id, expires_at).await {
            tracing::warn!(%error, "revocation recorded but not cached; the cache is refilled");
            self.cache_missed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}
