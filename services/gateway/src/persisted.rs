//! Persisted queries: Apollo's automatic persisted queries (a client sends
//! `extensions.persistedQuery.sha256Hash`, and the query text only when the gateway does not
//! know the hash yet), and a safelist mode in which only the operations of a manifest run.
//!
//! Known hashes live in the shared key-value store, so every replica learns a query once. In
//! safelist mode the manifest is the only source and nothing is learned from clients.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use axv_platform::kv::SharedKv;
use sha2::{Digest, Sha256};

/// How long a learned query is kept after it was last registered.
const LEARNED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longer documents still run but are not remembered: real operations are far shorter, and
/// every learned byte is memory (in-process) or Redis space an anonymous caller chose.
pub const MAX_LEARNED_BYTES: usize = 8 * 1024;
/// How many documents one process remembers; past it, its oldest is forgotten.
pub const MAX_LEARNED: usize = 5_000;

/// The message Apollo clients look for to resend the query text.
pub const NOT_FOUND: &str = "PersistedQueryNotFound";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// Any query runs; hashes are learned from clients (automatic persisted queries).
    #[default]
    Automatic,
    /// Only operations in the manifest run, sent by hash or in full.
    Safelist,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PersistedError {
    /// The hash is unknown: the client should send the query text with it.
    #[error("{NOT_FOUND}")]
    NotFound,
    #[error("the query's sha256 is not the hash sent with it")]
    HashMismatch,
    #[error("only registered operations run on this gateway")]
    NotSafelisted,
    #[error("persistedQuery must be {{\"version\": 1, \"sha256Hash\": \"<64 hex digits>\"}}")]
    Malformed,
    #[error("the persisted query store is unavailable")]
    Unavailable,
}

#[derive(Clone)]
pub struct PersistedQueries {
    kv: SharedKv,
    mode: Mode,
    /// sha256 (lowercase hex) -> query text.
    manifest: Arc<HashMap<String, String>>,
    /// What this process learned, oldest first, so the store stays bounded.
    learned: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

/// A document to remember once it has parsed and validated (see [`PersistedQueries::learn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToLearn {
    hash: String,
    query: String,
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Reads a manifest: Apollo's persisted query manifest (`{"operations": [{"id", "body"}]}`)
/// or a plain `{"<sha256>": "<query>"}` map. Every id must be its body's sha256.
pub fn load_manifest(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("persisted query manifest {}: {e}", path.display()))?;
    parse_manifest(&text).map_err(|e| format!("persisted query manifest {}: {e}", path.display()))
}

pub fn parse_manifest(text: &str) -> Result<HashMap<String, String>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let pairs: Vec<(String, String)> = match json.get("operations") {
        Some(serde_json::Value::Array(operations)) => operations
            .iter()
            .map(|op| {
                let field = |name: &str| {
                    op.get(name)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                        .ok_or_else(|| format!("an operation lacks {name:?}"))
                };
                Ok((field("id")?, field("body")?))
            })
            .collect::<Result<_, String>>()?,
        _ => json
            .as_object()
            .ok_or("expected an object")?
            .iter()
            .map(|(hash, query)| {
                query
                    .as_str()
                    .map(|q| (hash.clone(), q.to_owned()))
                    .ok_or_else(|| format!("{hash}: the query is not a string"))
            })
            .collect::<Result<_, String>>()?,
    };
    let mut manifest = HashMap::with_capacity(pairs.len());
    for (hash, query) in pairs {
        let hash = hash.to_ascii_lowercase();
        if sha256_hex(&query) != hash {
            return Err(format!("{hash} is not the sha256 of its query"));
        }
        manifest.insert(hash, query);
    }
    Ok(manifest)
}

fn requested_hash(
    extensions: &HashMap<String, async_graphql::Value>,
) -> Result<Option<String>, PersistedError> {
    let Some(persisted) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let json = persisted
        .clone()
        .into_json()
        .map_err(|_| PersistedError::Malformed)?;
    let version = json.get("version").and_then(|v| v.as_i64());
    let hash = json.get("sha256Hash").and_then(|v| v.as_str());
    match (version, hash) {
        (Some(1), Some(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(Some(hash.to_ascii_lowercase()))
        }
        _ => Err(PersistedError::Malformed),
    }
}

impl PersistedQueries {
    pub fn new(kv: SharedKv, mode: Mode, manifest: HashMap<String, String>) -> Self {
        Self {
            kv,
            mode,
            manifest: Arc::new(manifest),
            learned: Arc::default(),
        }
    }

    fn key(hash: &str) -> String {
        format!("apq:{hash}")
    }

    /// Fills in the query of a request sent by hash, and in safelist mode refuses anything not
    /// in the manifest. A new hash sent with its text comes back as [`ToLearn`]: the caller
    /// learns it only if the document ran (it parsed and validated), so no one can store text
    /// that is not a query of this schema.
    pub async fn resolve(
        &self,
        request: &mut async_graphql::Request,
    ) -> Result<Option<ToLearn>, PersistedError> {
        let hash = requested_hash(&request.extensions)?;
        let has_text = !request.query.trim().is_empty();
        match (hash, has_text) {
            (None, _) => {
                if self.mode == Mode::Safelist
                    && !self.manifest.contains_key(&sha256_hex(&request.query))
                {
                    return Err(PersistedError::NotSafelisted);
                }
                Ok(None)
            }
            (Some(hash), true) => {
                if sha256_hex(&request.query) != hash {
                    return Err(PersistedError::HashMismatch);
                }
                match self.mode {
                    Mode::Safelist if !self.manifest.contains_key(&hash) => {
                        Err(PersistedError::NotSafelisted)
                    }
                    Mode::Safelist => Ok(None),
                    Mode::Automatic if self.manifest.contains_key(&hash) => Ok(None),
                    Mode::Automatic => {
                        Ok((request.query.len() <= MAX_LEARNED_BYTES).then(|| ToLearn {
                            hash,
                            query: request.query.clone(),
                        }))
                    }
                }
            }
            (Some(hash), false) => {
                if let Some(query) = self.manifest.get(&hash) {
                    request.query = query.clone();
                    return Ok(None);
                }
                if self.mode == Mode::Safelist {
                    return Err(PersistedError::NotSafelisted);
                }
                let stored = self
                    .kv
                    .get(&Self::key(&hash))
                    .await
                    .map_err(|_| PersistedError::Unavailable)?
                    .ok_or(PersistedError::NotFound)?;
                request.query = String::from_utf8(stored).map_err(|_| PersistedError::NotFound)?;
                Ok(None)
            }
        }
    }

    /// Remembers a document that ran. Best effort: it runs either way.
    pub async fn learn(&self, document: ToLearn) {
        let forgotten = match self.learned.lock() {
            Ok(mut learned) => {
                learned.push_back(document.hash.clone());
                if learned.len() > MAX_LEARNED {
                    learned.pop_front()
                } else {
                    None
                }
            }
            Err(_) => return,
        };
        if let Some(oldest) = forgotten
            && let Err(error) = self.kv.delete(&Self::key(&oldest)).await
        {
            tracing::warn!(%error, "could not forget a persisted query");
        }
        if let Err(error) = self
            .kv
            .set(
                &Self::key(&document.hash),
                document.query.as_bytes(),
                LEARNED_TTL,
            )
            .await
        {
            tracing::warn!(%error, "could not remember a persisted query");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axv_platform::kv::MemoryKv;

    use super::*;

    const QUERY: &str = "{ programStats { companies } }";

    fn by_hash(hash: &str, query: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        request.extensions.insert(
            "persistedQuery".to_owned(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 1, "sha256Hash": hash }),
            )
            .unwrap(),
        );
        request
    }

    #[tokio::test]
    async fn automatic_persisted_queries_miss_then_learn_then_hit() {
        let apq = PersistedQueries::new(
            Arc::new(MemoryKv::default()),
            Mode::Automatic,
            HashMap::new(),
        );
        let hash = sha256_hex(QUERY);
        let mut miss = by_hash(&hash, "");
        assert_eq!(apq.resolve(&mut miss).await, Err(PersistedError::NotFound));
        let mut register = by_hash(&hash, QUERY);
        let learn = apq.resolve(&mut register).await.unwrap().unwrap();
        // Not remembered until the caller saw it run.
        assert_eq!(
            apq.resolve(&mut by_hash(&hash, "")).await,
            Err(PersistedError::NotFound)
        );
        apq.learn(learn).await;
        let mut hit = by_hash(&hash, "");
        assert_eq!(apq.resolve(&mut hit).await, Ok(None));
        assert_eq!(hit.query, QUERY);
        // A hash that is not the text's is refused, and so is a malformed extension.
        let mut lying = by_hash(&sha256_hex("{ other }"), QUERY);
        assert_eq!(
            apq.resolve(&mut lying).await,
            Err(PersistedError::HashMismatch)
        );
        let mut malformed = by_hash("xyz", QUERY);
        assert_eq!(
            apq.resolve(&mut malformed).await,
            Err(PersistedError::Malformed)
        );
        // Plain queries run as always.
        let mut plain = async_graphql::Request::new("{ viewer { user { id } } }");
        assert_eq!(apq.resolve(&mut plain).await, Ok(None));
    }

    #[tokio::test]
    async fn what_is_learned_is_bounded_in_size_and_number() {
        let apq = PersistedQueries::new(
            Arc::new(MemoryKv::default()),
            Mode::Automatic,
            HashMap::new(),
        );
        let long = format!(
            "{{ programStats {{ companies }} }} #{}",
            "x".repeat(MAX_LEARNED_BYTES)
        );
        let mut register = by_hash(&sha256_hex(&long), &long);
        assert_eq!(
            apq.resolve(&mut register).await,
            Ok(None),
            "runs, is not learned"
        );
        let first = "{ a0: programStats { companies } }";
        for n in 0..=MAX_LEARNED {
            let query = format!("{{ a{n}: programStats {{ companies }} }}");
            let mut register = by_hash(&sha256_hex(&query), &query);
            let learn = apq.resolve(&mut register).await.unwrap().unwrap();
            apq.learn(learn).await;
        }
        let mut oldest = by_hash(&sha256_hex(first), "");
        assert_eq!(
            apq.resolve(&mut oldest).await,
            Err(PersistedError::NotFound)
        );
        let newest = format!("{{ a{MAX_LEARNED}: programStats {{ companies }} }}");
        let mut hit = by_hash(&sha256_hex(&newest), "");
        assert_eq!(apq.resolve(&mut hit).await, Ok(None));
    }

    #[tokio::test]
    async fn the_safelist_runs_only_its_operations() {
        let manifest = parse_manifest(
            &serde_json::json!({ "operations": [{ "id": sha256_hex(QUERY), "body": QUERY, "name": "Stats" }] })
                .to_string(),
        )
        .unwrap();
        let apq = PersistedQueries::new(Arc::new(MemoryKv::default()), Mode::Safelist, manifest);
        let mut hit = by_hash(&sha256_hex(QUERY), "");
        assert_eq!(apq.resolve(&mut hit).await, Ok(None));
        assert_eq!(hit.query, QUERY);
        let mut full = async_graphql::Request::new(QUERY);
        assert_eq!(apq.resolve(&mut full).await, Ok(None));
        let other = "{ pilots { totalCount } }";
        let mut plain = async_graphql::Request::new(other);
        assert_eq!(
            apq.resolve(&mut plain).await,
            Err(PersistedError::NotSafelisted)
        );
        // Registering by hash teaches a safelisted gateway nothing.
        let mut register = by_hash(&sha256_hex(other), other);
        assert_eq!(
            apq.resolve(&mut register).await,
            Err(PersistedError::NotSafelisted)
        );
        let mut unknown = by_hash(&sha256_hex(other), "");
        assert_eq!(
            apq.resolve(&mut unknown).await,
            Err(PersistedError::NotSafelisted)
        );
    }

    #[test]
    fn manifests_must_hash_right() {
        let good = serde_json::json!({ sha256_hex(QUERY): QUERY }).to_string();
        assert_eq!(parse_manifest(&good).unwrap().len(), 1);
        let bad = serde_json::json!({ sha256_hex("{ x }"): QUERY }).to_string();
        assert!(parse_manifest(&bad).unwrap_err().contains("not the sha256"));
        assert!(parse_manifest("[").is_err());
    }
}
