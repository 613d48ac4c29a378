//! Revoked access tokens, by `jti`; and revoked API clients, by a subject key
//! ([`crate::subject_revocation_key`]) that refuses every token of that client.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::AuthError;

/// Where revoked token ids are kept (in-process here; Redis in a multi-replica deployment).
#[async_trait::async_trait]
pub trait RevocationList: Send + Sync + 'static {
    /// `token_id` is a token's `jti`, or a [`crate::subject_revocation_key`].
    async fn is_revoked(&self, token_id: &str) -> Result<bool, AuthError>;
    /// Keeps the revocation until `expires_at` (unix secs), after which the token is dead anyway.
    ///
    /// Implementations should keep it a little longer than that (the verifier's leeway,
    /// 30 s by default, applies to `exp` too); [`InMemoryRevocations`] keeps five minutes more.
    async fn revoke(&self, token_id: &str, expires_at: i64) -> Result<(), AuthError>;
}

/// Entries outlive the token's `exp` by this much so that the verifier's clock leeway
/// cannot resurrect a revoked token.
const RETAIN_AFTER_EXPIRY_SECS: i64 = 300;

/// A process-local revocation list for single-process deployments and tests.
#[derive(Debug, Default)]
pub struct InMemoryRevocations {
    entries: Mutex<HashMap<String, i64>>,
}

impl InMemoryRevocations {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated in a
        // way that matters (single insert/retain), so keep serving rather than failing open
        // or closed forever.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl RevocationList for InMemoryRevocations {
    async fn is_revoked(&self, token_id: &str) -> Result<bool, AuthError> {
        Ok(self.entries().contains_key(token_id))
    }

    async fn revoke(&self, token_id: &str, expires_at: i64) -> Result<(), AuthError> {
        let now = chrono::Utc::now().timestamp();
        let mut entries = self.entries();
        entries.retain(|_, exp| exp.saturating_add(RETAIN_AFTER_EXPIRY_SECS) >= now);
        if expires_at.saturating_add(RETAIN_AFTER_EXPIRY_SECS) >= now {
            let entry = entries.entry(token_id.to_owned()).or_insert(expires_at);
            *entry = (*entry).max(expires_at);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revokes_and_prunes_long_expired_entries() {
        let list = InMemoryRevocations::new();
        let now = chrono::Utc::now().timestamp();
        assert!(matches!(list.is_revoked("a").await, Ok(false)));
        assert!(list.revoke("a", now + 60).await.is_ok());
        assert!(matches!(list.is_revoked("a").await, Ok(true)));
        // Already dead long ago: not worth remembering.
        assert!(list.revoke("old", now - 3600).await.is_ok());
        assert!(matches!(list.is_revoked("old").await, Ok(false)));
        assert_eq!(list.entries().len(), 1);
    }
}
