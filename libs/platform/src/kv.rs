//! Short-lived shared state: Redis when `REDIS_URL` is given (shared by every replica),
//! otherwise an in-process map with the same semantics. Cache, rate limits, idempotency keys
//! and token revocations are all built on the six primitives of [`KeyValue`], so both backends
//! share their logic and only the primitives differ.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use redis::aio::ConnectionManager;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("in-process store poisoned")]
    Poisoned,
    #[error("stored value is malformed: {0}")]
    Malformed(String),
    /// Redis did not answer in time, or failed repeatedly and is not asked for a while.
    #[error("redis unavailable: {0}")]
    Unavailable(&'static str),
}

#[async_trait]
pub trait KeyValue: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), KvError>;
    /// Sets the key only when it is absent; true when this call set it.
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, KvError>;
    async fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Deletes the key only while it still holds `expected` (compare-and-delete); true when
    /// this call deleted it. What another caller wrote meanwhile stays.
    async fn delete_if(&self, key: &str, expected: &[u8]) -> Result<bool, KvError>;
    /// Adds `by` to a counter, creating it with `ttl` when absent. Returns the new value and the
    /// time the counter has left.
    async fn increment(
        &self,
        key: &str,
        by: i64,
        ttl: Duration,
    ) -> Result<(i64, Duration), KvError>;
}

pub type SharedKv = Arc<dyn KeyValue>;

/// Redis, or the in-process map when no client is given. Every key gets `prefix`, so tests and
/// deployments sharing one Redis never see each other's keys.
pub async fn connect(redis: Option<redis::Client>, prefix: &str) -> Result<SharedKv, KvError> {
    Ok(match redis {
        Some(client) => Arc::new(RedisKv::with_client(client, prefix).await?),
        None => Arc::new(MemoryKv::default()),
    })
}

#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
    breaker: Arc<Breaker>,
}

/// How long one Redis call may take: far above a healthy round trip, far below what a person
/// waits for before giving up.
pub const REDIS_CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// Consecutive failures that open the circuit.
const TRIP_AFTER: u32 = 3;
/// How long an open circuit answers at once without asking Redis; then one call tries.
const OPEN_FOR: Duration = Duration::from_secs(5);

/// A circuit breaker: while Redis is down, calls fail at once instead of each waiting out the
/// timeout, so every caller gets its answer (refused or let through, as each use decides) fast.
#[derive(Default)]
struct Breaker {
    failures: std::sync::atomic::AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    fn is_open(&self) -> bool {
        let Ok(mut open) = self.open_until.lock() else {
            return false;
        };
        match *open {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                // Half-open: let this call try.
                *open = None;
                false
            }
            None => false,
        }
    }

    fn succeeded(&self) {
        self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    fn failed(&self) {
        let failures = self
            .failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if failures >= TRIP_AFTER
            && let Ok(mut open) = self.open_until.lock()
        {
            *open = Some(Instant::now() + OPEN_FOR);
        }
    }
}

impl RedisKv {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, KvError> {
        Self::with_client(redis::Client::open(url)?, prefix).await
    }

    pub async fn with_client(client: redis::Client, prefix: &str) -> Result<Self, KvError> {
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            breaker: Arc::default(),
        })
    }

    /// Runs one Redis call under the timeout and the breaker. A call that fails on a broken
    /// connection (Redis restarted while this process was idle) is tried once more on the
    /// reconnected one, so the first caller after a restart is not the one to pay for it.
    async fn call<T, F, Fut>(&self, run: F) -> Result<T, KvError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = Result<T, redis::RedisError>>,
    {
        if self.breaker.is_open() {
            return Err(KvError::Unavailable("circuit open after repeated failures"));
        }
        for attempt in 0..2 {
            match tokio::time::timeout(REDIS_CALL_TIMEOUT, run(self.conn.clone())).await {
                Ok(Ok(value)) => {
                    self.breaker.succeeded();
                    return Ok(value);
                }
                Ok(Err(error))
                    if attempt == 0 && (error.is_io_error() || error.is_connection_dropped()) =>
                {
                    continue;
                }
                Ok(Err(error)) => {
                    self.breaker.failed();
                    return Err(KvError::Redis(error));
                }
                Err(_) => {
                    self.breaker.failed();
                    return Err(KvError::Unavailable("no answer in time"));
                }
            }
        }
        self.breaker.failed();
        Err(KvError::Unavailable("connection lost"))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl KeyValue for RedisKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.key(key);
        self.call(|mut conn| {
            let key = key.clone();
            async move { redis::cmd("GET").arg(key).query_async(&mut conn).await }
        })
        .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), KvError> {
        let key = self.key(key);
        self.call(|mut conn| {
            let key = key.clone();
            async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, KvError> {
        let key = self.key(key);
        let reply: Option<String> = self
            .call(|mut conn| {
                let key = key.clone();
                async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("NX")
                        .arg("PX")
                        .arg(millis(ttl))
                        .query_async(&mut conn)
                        .await
                }
            })
            .await?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        let key = self.key(key);
        self.call(|mut conn| {
            let key = key.clone();
            async move {
                redis::cmd("DEL")
                    .arg(key)
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await
    }

    async fn delete_if(&self, key: &str, expected: &[u8]) -> Result<bool, KvError> {
        // One script, so nothing can be written between the comparison and the deletion.
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| {
            redis::Script::new(
                r"if redis.call('GET', KEYS[1]) == ARGV[1] then
                    return redis.call('DEL', KEYS[1])
                  end
                  return 0",
            )
        });
        let key = self.key(key);
        let deleted: i64 = self
            .call(|mut conn| {
                let key = key.clone();
                async move { script.key(key).arg(expected).invoke_async(&mut conn).await }
            })
            .await?;
        Ok(deleted == 1)
    }

    async fn increment(
        &self,
        key: &str,
        by: i64,
        ttl: Duration,
    ) -> Result<(i64, Duration), KvError> {
        // One script so the counter and its expiry are set atomically: a crash between INCRBY
        // and PEXPIRE would otherwise leave a counter that never resets.
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| {
            redis::Script::new(
                r"local v = redis.call('INCRBY', KEYS[1], ARGV[1])
                  local ttl = redis.call('PTTL', KEYS[1])
                  if ttl < 0 then
                    redis.call('PEXPIRE', KEYS[1], ARGV[2])
                    ttl = tonumber(ARGV[2])
                  end
                  return {v, ttl}",
            )
        });
        let key = self.key(key);
        let (value, ttl_ms): (i64, i64) = self
            .call(|mut conn| {
                let key = key.clone();
                async move {
                    script
                        .key(key)
                        .arg(by)
                        .arg(millis(ttl))
                        .invoke_async(&mut conn)
                        .await
                }
            })
            .await?;
        Ok((
            value,
            Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
        ))
    }
}

#[derive(Default)]
pub struct MemoryKv {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl MemoryKv {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut HashMap<String, (Vec<u8>, Instant)>) -> R,
    ) -> Result<R, KvError> {
        let mut entries = self.entries.lock().map_err(|_| KvError::Poisoned)?;
        let now = Instant::now();
        // Sweep now and then so expired keys do not accumulate without bound.
        if entries.len() > 1024 && entries.len().is_power_of_two() {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        Ok(f(&mut entries))
    }
}

fn live<'a>(
    entries: &'a HashMap<String, (Vec<u8>, Instant)>,
    key: &str,
) -> Option<&'a (Vec<u8>, Instant)> {
    entries
        .get(key)
        .filter(|(_, expires)| *expires > Instant::now())
}

#[async_trait]
impl KeyValue for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.with(|entries| live(entries, key).map(|(value, _)| value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), KvError> {
        self.with(|entries| {
            entries.insert(key.to_owned(), (value.to_vec(), Instant::now() + ttl));
        })
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, KvError> {
        self.with(|entries| {
            if live(entries, key).is_some() {
                return false;
            }
            entries.insert(key.to_owned(), (value.to_vec(), Instant::now() + ttl));
            true
        })
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.with(|entries| {
            entries.remove(key);
        })
    }

    async fn delete_if(&self, key: &str, expected: &[u8]) -> Result<bool, KvError> {
        self.with(|entries| {
            if live(entries, key).is_some_and(|(value, _)| value == expected) {
                entries.remove(key);
                return true;
            }
            false
        })
    }

    async fn increment(
        &self,
        key: &str,
        by: i64,
        ttl: Duration,
    ) -> Result<(i64, Duration), KvError> {
        self.with(|entries| {
            let now = Instant::now();
            let (current, expires) = match live(entries, key) {
                Some((value, expires)) => (
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0),
                    *expires,
                ),
                None => (0, now + ttl),
            };
            let next = current.saturating_add(by);
            entries.insert(key.to_owned(), (next.to_string().into_bytes(), expires));
            (next, expires.saturating_duration_since(now))
        })
    }
}

/// Fixed-window rate limiting over [`KeyValue::increment`].
#[derive(Clone)]
pub struct RateLimiter {
    kv: SharedKv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub remaining: i64,
    /// When the window resets; what a refused caller is told to wait.
    pub retry_after: Duration,
}

impl RateLimiter {
    pub fn new(kv: SharedKv) -> Self {
        Self { kv }
    }

    /// Counts `cost` against `key`'s budget of `limit` per `window`.
    pub async fn hit(
        &self,
        key: &str,
        limit: i64,
        window: Duration,
        cost: i64,
    ) -> Result<RateDecision, KvError> {
        let (used, left) = self
            .kv
            .increment(&format!("rl:{key}"), cost, window)
            .await?;
        Ok(RateDecision {
            allowed: used <= limit,
            remaining: (limit - used).max(0),
            retry_after: left,
        })
    }

    /// Whether `key` is already over its budget, without counting anything.
    pub async fn is_exhausted(
        &self,
        key: &str,
        limit: i64,
        window: Duration,
    ) -> Result<Option<Duration>, KvError> {
        let (used, left) = self.kv.increment(&format!("rl:{key}"), 0, window).await?;
        Ok((used >= limit).then_some(left))
    }

    /// How much of `key`'s budget the current window has used (nothing is counted).
    pub async fn used(&self, key: &str, window: Duration) -> Result<i64, KvError> {
        Ok(self.kv.increment(&format!("rl:{key}"), 0, window).await?.0)
    }

    pub async fn reset(&self, key: &str) -> Result<(), KvError> {
        self.kv.delete(&format!("rl:{key}")).await
    }
}

const REVOCATION_GRACE_SECS: i64 = 300;

/// Revoked access-token ids, kept until the token would have expired anyway.
pub struct KvRevocations {
    kv: SharedKv,
}

impl KvRevocations {
    pub fn new(kv: SharedKv) -> Self {
        Self { kv }
    }
}

#[async_trait]
impl axv_auth::RevocationList for KvRevocations {
    async fn is_revoked(&self, token_id: &str) -> Result<bool, axv_auth::AuthError> {
        let found = self
            .kv
            .get(&format!("revoked:{token_id}"))
            .await
            .map_err(|e| axv_auth::AuthError::Store(e.to_string()))?;
        Ok(found.is_some())
    }

    async fn revoke(&self, token_id: &str, expires_at: i64) -> Result<(), axv_auth::AuthError> {
        // Kept past `exp` by more than the verifier's leeway, so a revoked token cannot slip
        // back in during the grace period.
        let left = (expires_at - chrono::Utc::now().timestamp()).max(0) + REVOCATION_GRACE_SECS;
        self.kv
            .set(
                &format!("revoked:{token_id}"),
                b"1",
                Duration::from_secs(u64::try_from(left).unwrap_or(1)),
            )
            .await
            .map_err(|e| axv_auth::AuthError::Store(e.to_string()))
    }
}

/// Idempotency keys (the IETF `Idempotency-Key` semantics): the first request with a key runs,
/// its result is kept and returned to retries; a retry while the first still runs is told so,
/// and the same key with a different request is refused.
#[derive(Clone)]
pub struct IdempotencyStore {
    kv: SharedKv,
    /// How long a finished result is kept for retries.
    keep: Duration,
    /// How long a started request holds its key before a crash is assumed.
    lock: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller runs the request and must call `complete` (or `abandon`).
    Started,
    /// The first request with this key is still running.
    InProgress,
    /// The first request finished; here is what it answered.
    Completed(Vec<u8>),
    /// The key was used for a different request.
    Mismatch,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IdempotencyRecord {
    fingerprint: String,
    response: Option<Vec<u8>>,
}

impl IdempotencyStore {
    pub fn new(kv: SharedKv, keep: Duration, lock: Duration) -> Self {
        Self { kv, keep, lock }
    }

    fn key(scope: &str, key: &str) -> String {
        format!("idem:{scope}:{key}")
    }

    /// `scope` separates callers (a key is per caller); `fingerprint` identifies the request.
    pub async fn begin(&self, scope: &str, key: &str, fingerprint: &str) -> Result<Claim, KvError> {
        let stored = Self::key(scope, key);
        let pending = serde_json::to_vec(&IdempotencyRecord {
            fingerprint: fingerprint.to_owned(),
            response: None,
        })
        .map_err(|e| KvError::Malformed(e.to_string()))?;
        // Two rounds: the record may expire between a failed claim and the read.
        for _ in 0..2 {
            if self.kv.set_if_absent(&stored, &pending, self.lock).await? {
                return Ok(Claim::Started);
            }
            let Some(bytes) = self.kv.get(&stored).await? else {
                continue;
            };
            let record: IdempotencyRecord =
                serde_json::from_slice(&bytes).map_err(|e| KvError::Malformed(e.to_string()))?;
            return Ok(if record.fingerprint != fingerprint {
                Claim::Mismatch
            } else {
                match record.response {
                    Some(response) => Claim::Completed(response),
                    None => Claim::InProgress,
                }
            });
        }
        Ok(Claim::InProgress)
    }

    pub async fn complete(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        response: &[u8],
    ) -> Result<(), KvError> {
        let record = serde_json::to_vec(&IdempotencyRecord {
            fingerprint: fingerprint.to_owned(),
            response: Some(response.to_vec()),
        })
        .map_err(|e| KvError::Malformed(e.to_string()))?;
        self.kv
            .set(&Self::key(scope, key), &record, self.keep)
            .await
    }

    /// Releases the key of a request that could not run, so a retry may.
    pub async fn abandon(&self, scope: &str, key: &str) -> Result<(), KvError> {
        self.kv.delete(&Self::key(scope, key)).await
    }
}
