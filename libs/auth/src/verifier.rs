//! Verifying bearer tokens: the platform's own (keys configured locally) and those of
//! external OpenID Connect issuers (keys fetched from their JWKS).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::client::{is_client_subject, subject_revocation_key};
use crate::{AuthError, Caller, RevocationList, Role, VerificationKey};

/// Tokens longer than this are refused before any parsing (our own are ~500 bytes).
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;
const DEFAULT_LEEWAY_SECS: u64 = 30;
/// An unknown `kid` triggers at most one JWKS fetch per issuer in this interval, so that
/// a stream of tokens with made-up key ids cannot turn us into an amplifier against the
/// identity provider.
const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// A cached key set older than this is refreshed on use (so keys the provider withdrew
/// stop being accepted); if the refresh fails the cached keys keep working.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// An external OpenID Connect issuer whose tokens are accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcIssuer {
    /// Must equal the tokens' `iss` exactly.
    pub issuer: String,
    pub jwks_url: String,
    /// The `aud` this platform is known by at that issuer.
    pub audience: String,
}

/// The subject prefix of the tokens services mint for calls to each other.
pub const SERVICE_SUBJECT_PREFIX: &str = "service:";

/// Verifies bearer tokens and turns them into [`Caller`]s.
///
/// Cheap to clone (keys are shared, the JWKS caches are shared between clones); usually
/// held in an `Arc` anyway.
#[derive(Clone)]
pub struct Verifier {
    issuer: Arc<str>,
    audience: String,
    keys: HashMap<String, VerificationKey>,
    oidc: Vec<Arc<OidcSource>>,
    revocations: Option<Arc<dyn RevocationList>>,
    leeway: u64,
    jwks_refetch_interval: Duration,
    http: Arc<tokio::sync::OnceCell<reqwest::Client>>,
    /// Tokens whose signature and claims were checked already (by SHA-256 of the token), so a
    /// token used for many requests is parsed and its signature verified once. Expiry and
    /// revocation are still checked on every use.
    verified: Arc<std::sync::Mutex<VerifiedTokens>>,
}

/// SHA-256 of a token -> its caller and whether it is one of the platform's own.
type VerifiedTokens = HashMap<[u8; 32], (Caller, bool)>;

/// Verified tokens remembered at most; past this the memory is simply started afresh.
const MAX_VERIFIED: usize = 10_000;

struct OidcSource {
    config: OidcIssuer,
    issuer: Arc<str>,
    keys: RwLock<Arc<HashMap<String, VerificationKey>>>,
    /// Held across a fetch, so concurrent requests with the same unknown kid wait for one
    /// fetch instead of each starting their own.
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_success: Option<Instant>,
}

impl OidcSource {
    fn cached(&self, kid: &str) -> Option<VerificationKey> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.get(kid).cloned()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field(
                "oidc_issuers",
                &self
                    .oidc
                    .iter()
                    .map(|s| &s.config.issuer)
                    .collect::<Vec<_>>(),
            )
            .field("revocations", &self.revocations.is_some())
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl Verifier {
    /// A verifier for the platform's own tokens (`iss`/`aud` as the platform issues them).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: Arc::from(issuer.into()),
            audience: audience.into(),
            keys: HashMap::new(),
            oidc: Vec::new(),
            revocations: None,
            leeway: DEFAULT_LEEWAY_SECS,
            jwks_refetch_interval: DEFAULT_JWKS_REFETCH_INTERVAL,
            http: Arc::default(),
            verified: Arc::default(),
        }
    }

    /// Accepts the platform's tokens signed by this key (add the old and the new key
    /// while rotating).
    pub fn with_key(mut self, key: VerificationKey) -> Self {
        let key = key.bound_to(self.issuer.clone());
        self.keys.insert(key.kid().to_owned(), key);
        self
    }

    pub fn with_oidc_issuer(mut self, issuer: OidcIssuer) -> Self {
        self.oidc.push(Arc::new(OidcSource {
            issuer: Arc::from(issuer.issuer.as_str()),
            config: issuer,
            keys: RwLock::default(),
            fetch: tokio::sync::Mutex::default(),
        }));
        self
    }

    pub fn with_revocations(mut self, list: Arc<dyn RevocationList>) -> Self {
        self.revocations = Some(list);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, in seconds (default 30).
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Minimum time between two JWKS fetches for one issuer (default 30 s). Only tests
    /// have a reason to lower it.
    pub fn with_jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies `token` (the bare JWT, without `Bearer `).
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|verified| verified.get(&digest).cloned());
        let (caller, is_own) = match remembered {
            Some((caller, is_own)) => {
                let now = chrono::Utc::now().timestamp();
                let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
                if caller.expires_at.saturating_add(leeway) <= now {
                    return Err(AuthError::Expired);
                }
                (caller, is_own)
            }
            None => {
                let (caller, is_own) = self.verify_signed(token).await?;
                if let Ok(mut verified) = self.verified.lock() {
                    if verified.len() >= MAX_VERIFIED {
                        verified.clear();
                    }
                    verified.insert(digest, (caller.clone(), is_own));
                }
                (caller, is_own)
            }
        };
        // The platform's own service tokens (`service:<name>`, minted in-process for calls
        // between services and never handed out) cannot be revoked, so they need no lookup:
        // figures computed across services keep answering while Redis is down.
        let internal = is_own && caller.subject.starts_with(SERVICE_SUBJECT_PREFIX);
        if let Some(list) = &self.revocations
            && !internal
            && self.is_revoked(list.as_ref(), &caller, is_own).await?
        {
            return Err(AuthError::Revoked);
        }
        Ok(caller)
    }

    /// The signature, algorithm, issuer, audience and times of `token`, and whether it is one
    /// of the platform's own.
    async fn verify_signed(&self, token: &str) -> Result<(Caller, bool), AuthError> {
        let (header, unverified) = peek(token)?;

        // The header's alg is only ever checked against the key's pinned algorithm; it
        // never chooses how a key is interpreted. `none` and HMAC are refused outright:
        // nothing here verifies with a shared secret.
        let alg = match header.get("alg") {
            Some(Value::String(name)) => match name.parse::<Algorithm>() {
                Ok(alg) if alg.family() != AlgorithmFamily::Hmac => alg,
                _ => return Err(AuthError::DisallowedAlgorithm),
            },
            _ => return Err(AuthError::Malformed),
        };
        // We implement no JWS extensions, so any critical one must be refused (RFC 7515 4.1.11).
        if header.contains_key("crit") {
            return Err(AuthError::Malformed);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(AuthError::Malformed),
        };

        let own = kid.and_then(|kid| self.keys.get(kid));
        let (key, audience, is_own) = match own {
            Some(key) => (key.clone(), self.audience.as_str(), true),
            None => {
                // Not one of ours: the (still unverified) issuer picks whose JWKS to
                // consult; the signature check below then proves the claim.
                let iss = unverified.get("iss").and_then(Value::as_str);
                let source = iss.and_then(|iss| self.oidc.iter().find(|s| s.config.issuer == iss));
                match (source, kid) {
                    (Some(source), Some(kid)) => (
                        self.oidc_key(source, kid).await?,
                        source.config.audience.as_str(),
                        false,
                    ),
                    _ => return Err(AuthError::UnknownKey),
                }
            }
        };
        if key.algorithm() != alg {
            return Err(AuthError::DisallowedAlgorithm);
        }
        let Some(expected_issuer) = key.issuer() else {
            return Err(AuthError::Key("verification key bound to no issuer".into()));
        };

        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[expected_issuer]);
        validation.set_audience(&[audience]);
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(token, key.decoding_key(), &validation)
                .map_err(|e| map_jwt_error(e.into_kind(), &unverified))?
                .claims;

        let caller = caller_from_claims(&claims, expected_issuer, is_own, token)?;
        Ok((caller, is_own))
    }

    /// The token's own `jti`; for the platform's API clients also the client as a whole, so
    /// that revoking a client refuses the tokens it already holds. Users' tokens pay for one
    /// lookup only; a client's two lookups run concurrently (one round trip with Redis).
    async fn is_revoked(
        &self,
        list: &dyn RevocationList,
        caller: &Caller,
        is_own: bool,
    ) -> Result<bool, AuthError> {
        // External issuers' subjects are namespaced (`<issuer>|<sub>`) and never name a client.
        if is_own && is_client_subject(&caller.subject) {
            let subject_key = subject_revocation_key(&caller.subject);
            let (token, subject) = tokio::try_join!(
                list.is_revoked(&caller.token_id),
                list.is_revoked(&subject_key)
            )?;
            Ok(token || subject)
        } else {
            list.is_revoked(&caller.token_id).await
        }
    }

    async fn oidc_key(&self, source: &OidcSource, kid: &str) -> Result<VerificationKey, AuthError> {
        let cached = source.cached(kid);
        let mut state = match &cached {
            // Fast path: a known key from a recent set. `try_lock` failing means a refresh
            // is under way; the cached key is good enough meanwhile.
            Some(key) => match source.fetch.try_lock() {
                Ok(state) if is_fresh(&state) => return Ok(key.clone()),
                Ok(state) => state,
                Err(_) => return Ok(key.clone()),
            },
            None => source.fetch.lock().await,
        };
        // Someone else may have fetched while we waited for the lock.
        if let Some(key) = source.cached(kid)
            && is_fresh(&state)
        {
            return Ok(key);
        }
        let may_fetch = state
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.jwks_refetch_interval);
        if may_fetch {
            state.last_attempt = Some(Instant::now());
            match self.fetch_jwks(source).await {
                Ok(keys) => {
                    tracing::debug!(issuer = %source.config.issuer, keys = keys.len(), "fetched JWKS");
                    *source.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
                    state.last_success = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(issuer = %source.config.issuer, error = %e, "JWKS fetch failed");
                    if let Some(key) = cached {
                        return Ok(key);
                    }
                    return Err(e);
                }
            }
        }
        source.cached(kid).ok_or(AuthError::UnknownKey)
    }

    async fn fetch_jwks(
        &self,
        source: &OidcSource,
    ) -> Result<HashMap<String, VerificationKey>, AuthError> {
        let client = self
            .http
            .get_or_try_init(|| async {
                reqwest::Client::builder()
                    .timeout(JWKS_TIMEOUT)
                    .connect_timeout(JWKS_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
            })
            .await
            .map_err(|e| AuthError::Jwks(format!("building the HTTP client: {e}")))?;
        let url = &source.config.jwks_url;
        let mut response = client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AuthError::Jwks(format!("GET {url}: {e}")))?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(AuthError::Jwks(format!("{url}: document too large")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AuthError::Jwks(format!("GET {url}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(AuthError::Jwks(format!("{url}: document too large")));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body, &source.issuer).map_err(|e| AuthError::Jwks(format!("{url}: {e}")))
    }
}

fn is_fresh(state: &FetchState) -> bool {
    state
        .last_success
        .is_some_and(|at| at.elapsed() < JWKS_MAX_AGE)
}

/// Keys of a JWKS document; entries we cannot or must not use (encryption keys,
/// symmetric keys, unsupported curves) are skipped rather than failing the whole set.
fn parse_jwks(body: &[u8], issuer: &Arc<str>) -> Result<HashMap<String, VerificationKey>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no `keys` array")?;
    let mut keys = HashMap::new();
    for jwk in entries {
        match VerificationKey::from_jwk(jwk) {
            Ok(key) => {
                let key = key.bound_to(issuer.clone());
                keys.entry(key.kid().to_owned()).or_insert(key);
            }
            Err(e) => tracing::debug!(issuer = %issuer, error = %e, "skipping JWKS entry"),
        }
    }
    Ok(keys)
}

type JsonObject = Map<String, Value>;

/// Splits a compact JWS and decodes its header and payload without verifying anything.
fn peek(token: &str) -> Result<(JsonObject, JsonObject), AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let object = |part: &str| -> Result<JsonObject, AuthError> {
        let bytes = B64.decode(part).map_err(|_| AuthError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
    };
    Ok((object(header)?, object(payload)?))
}

fn map_jwt_error(kind: ErrorKind, unverified: &Map<String, Value>) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::DisallowedAlgorithm,
        // jsonwebtoken reports a claim of the wrong JSON type as missing; tell them apart.
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            _ if unverified.get(&claim).is_some_and(|v| !v.is_null()) => AuthError::Malformed,
            "exp" => AuthError::MissingClaim("exp"),
            "iss" => AuthError::MissingClaim("iss"),
            "aud" => AuthError::MissingClaim("aud"),
            _ => AuthError::Malformed,
        },
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::Key("verification key unusable".into()),
        _ => AuthError::Malformed,
    }
}

fn caller_from_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    is_own: bool,
    token: &str,
) -> Result<Caller, AuthError> {
    let string = |name: &'static str| -> Result<Option<&str>, AuthError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(AuthError::Malformed),
        }
    };
    let subject = string("sub")?
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingClaim("sub"))?;
    let role: Role = string("role")?
        .ok_or(AuthError::MissingClaim("role"))?
        .parse()
        .map_err(|_| AuthError::Malformed)?;
    let company_ids = match claims.get("companies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| c.as_str().map(str::to_owned).ok_or(AuthError::Malformed))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(AuthError::Malformed),
    };
    // jsonwebtoken also accepts an array `iss` that merely contains ours; a token speaks
    // for exactly one issuer.
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(AuthError::WrongIssuer);
    }
    let expires_at = match claims.get("exp") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .ok_or(AuthError::Malformed)?,
        _ => return Err(AuthError::MissingClaim("exp")),
    };
    let token_id = match string("jti")? {
        Some(jti) if !jti.is_empty() => jti.to_owned(),
        // Our own tokens always carry a jti (revocation depends on it). External issuers
        // need not; a digest of the token still lets such a token be revoked.
        _ if is_own => return Err(AuthError::MissingClaim("jti")),
        _ => hex::encode(Sha256::digest(token.as_bytes())),
    };
    // An external issuer's subjects live in its own namespace: its `sub` can never name one of
    // the platform's own users (whose ids are bare UUIDs).
    let subject = if is_own {
        subject.to_owned()
    } else {
        format!("{issuer}|{subject}")
    };
    Ok(Caller {
        subject,
        role,
        company_ids,
        token_id,
        expires_at,
        issuer: issuer.to_owned(),
        raw_token: Arc::from(token),
    })
}
