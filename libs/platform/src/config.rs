//! Configuration shared by every component: environment variables (`AXV_*`, `DATABASE_URL`,
//! `REDIS_URL`) with matching flags. clap names the offending flag or variable when a value is
//! bad, and [`PlatformArgs::build`] fails at start, naming the setting, when a file or URL
//! cannot be used.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use axv_auth::{OidcIssuer, SigningKey, TokenIssuer, Verifier};

use crate::{
    db::DatabaseConfig,
    events::{self, SharedBus},
    kv::{self, KvRevocations, SharedKv},
    redis_client,
};

/// A value that must never be printed (URLs with passwords, keys).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct PlatformArgs {
    /// Where the embedded default keeps its SQLite files and generated signing key.
    #[arg(long, env = "AXV_DATA_DIR", default_value = ".axv")]
    pub data_dir: PathBuf,
    /// Postgres URL; unset means the embedded SQLite default.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    #[arg(long, env = "AXV_DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// Read-only connections per SQLite file beside its one writer; default one per core (2 to
    /// 4). 0: reads share the writer's connection and wait for it.
    #[arg(long, env = "AXV_SQLITE_READERS", value_parser = clap::value_parser!(u32).range(0..=64))]
    pub sqlite_readers: Option<u32>,
    /// Redis URL; unset means in-process cache, rate limits and event bus. `rediss://` is TLS,
    /// verified against the system's trust store or `AXV_REDIS_CA_FILE`.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// PEM bundle of the CA(s) that sign a `rediss://` server's certificate, trusted instead of
    /// the system's store (e.g. a private CA).
    #[arg(long, env = "AXV_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
    /// Prefix of every Redis key this deployment writes.
    #[arg(long, env = "AXV_REDIS_PREFIX", default_value = "axv:")]
    pub redis_prefix: String,
    /// PKCS#8 PEM Ed25519 key that signs access tokens; default: generated once under the data dir.
    #[arg(long, env = "AXV_JWT_SIGNING_KEY_FILE")]
    pub jwt_signing_key_file: Option<PathBuf>,
    /// The signing key itself (PKCS#8 PEM), for secret stores that hand keys over as variables;
    /// takes precedence over the file.
    #[arg(long, env = "AXV_JWT_SIGNING_KEY", hide_env_values = true)]
    pub jwt_signing_key: Option<Secret>,
    /// Earlier signing keys (PEM files, comma-separated), still accepted for verification
    /// so a key rotation logs nobody out.
    #[arg(long, env = "AXV_JWT_PREVIOUS_KEY_FILES", value_delimiter = ',')]
    pub jwt_previous_key_files: Vec<PathBuf>,
    #[arg(long, env = "AXV_JWT_ISSUER", default_value = "axv")]
    pub jwt_issuer: String,
    #[arg(long, env = "AXV_JWT_AUDIENCE", default_value = "axv-platform")]
    pub jwt_audience: String,
    #[arg(long, env = "AXV_ACCESS_TOKEN_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub access_token_ttl_secs: u64,
    #[arg(long, env = "AXV_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400, value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub refresh_token_ttl_secs: u64,
    /// The day after each quarter's end on which the public figures' calendar release is
    /// published (the 45th by default); 0: no calendar, managers publish every release.
    #[arg(long, env = "AXV_RELEASE_DAYS_AFTER_QUARTER", default_value_t = 45, value_parser = clap::value_parser!(u32).range(0..=366))]
    pub release_days_after_quarter: u32,
    /// The SMTP server notifications are sent through: `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS) or `smtp://host:25` (a local relay).
    /// Unset: messages are written as `.eml` files under `<data dir>/mail`, listed by `axv mail`.
    #[arg(long, env = "AXV_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,
    /// The sender of notifications.
    #[arg(
        long,
        env = "AXV_MAIL_FROM",
        default_value = "AX 실증밸리 <no-reply@axv.localhost>"
    )]
    pub mail_from: String,
    /// The address people use for the platform, e.g. `https://axv.gwangju.go.kr`: links in
    /// e-mail start with it, and with `https` the console's session cookie is `__Host-` and
    /// Secure.
    #[arg(long, env = "AXV_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where documents' bytes are kept: `s3://bucket/prefix` (any S3-compatible store, with the
    /// standard `AWS_*` settings: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT` for NCP or MinIO) or `file:///absolute/dir`. Unset: `<data dir>/documents`.
    #[arg(long, env = "AXV_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,
    /// The largest document, in megabytes.
    #[arg(long, env = "AXV_DOCUMENT_MAX_MB", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=2048))]
    pub document_max_mb: u64,
    /// All the documents of one item (a company, an application, a report...), in megabytes.
    #[arg(long, env = "AXV_DOCUMENT_PARENT_MAX_MB", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub document_parent_max_mb: u64,
    /// Days a deleted document's bytes are kept before they are removed (its record stays).
    #[arg(long, env = "AXV_DOCUMENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3650))]
    pub document_retention_days: u64,
    /// A malware scanner run on every upload, reading the file on standard input: exit 0 clean,
    /// 1 infected, anything else an error (tried again later), e.g. `clamdscan --no-summary -`.
    /// Until it passes a document, the document cannot be downloaded. Unset: no scanning.
    #[arg(long, env = "AXV_DOCUMENT_SCANNER")]
    pub document_scanner: Option<String>,
    /// External OIDC issuers whose tokens are accepted, as JSON:
    /// `[{"issuer":"https://...","jwks_url":"https://.../jwks","audience":"axv"}]`.
    #[arg(long, env = "AXV_OIDC_ISSUERS", value_parser = parse_oidc_issuers)]
    pub oidc_issuers: Option<OidcIssuers>,
}

#[derive(Debug, Clone, Default)]
pub struct OidcIssuers(pub Vec<(String, String, String)>);

fn parse_oidc_issuers(raw: &str) -> Result<OidcIssuers, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        issuer: String,
        jwks_url: String,
        audience: String,
    }
    let entries: Vec<Entry> =
        serde_json::from_str(raw).map_err(|e| format!("expected a JSON list of issuers: {e}"))?;
    Ok(OidcIssuers(
        entries
            .into_iter()
            .map(|e| (e.issuer, e.jwks_url, e.audience))
            .collect(),
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

fn invalid(setting: &'static str, message: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.to_string(),
    }
}

/// What every component of one process shares: database settings, the key-value store and
/// event bus (one in-process instance for the whole `axv up`), token issuer and verifier.
#[derive(Clone)]
pub struct Platform {
    pub database: DatabaseConfig,
    pub kv: SharedKv,
    pub bus: SharedBus,
    pub issuer: Arc<TokenIssuer>,
    pub verifier: Arc<Verifier>,
    pub refresh_token_ttl: Duration,
    /// See [`PlatformArgs::release_days_after_quarter`]; 0 turns the calendar off.
    pub release_days_after_quarter: u32,
    pub mail: MailSettings,
    pub documents: DocumentSettings,
}

/// Where documents are kept and how large they may be (see [`PlatformArgs::object_store_url`]).
#[derive(Clone, Debug)]
pub struct DocumentSettings {
    /// `s3://...` or `file:///...`; `None`: `dir`.
    pub store_url: Option<String>,
    /// S3 settings given in code rather than by the `AWS_*` variables (a test's own server):
    /// `("aws_endpoint", "http://127.0.0.1:9000")`, `("aws_access_key_id", ...)`.
    pub store_options: Vec<(String, String)>,
    pub dir: PathBuf,
    pub max_file_bytes: u64,
    pub max_parent_bytes: u64,
    pub retention: Duration,
    /// A command line, split on whitespace.
    pub scanner: Option<String>,
}

impl DocumentSettings {
    /// Bytes under `dir`, the default limits, no scanner.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self {
            store_url: None,
            store_options: Vec::new(),
            dir,
            max_file_bytes: 25 * 1024 * 1024,
            max_parent_bytes: 200 * 1024 * 1024,
            retention: Duration::from_secs(30 * 86_400),
            scanner: None,
        }
    }
}

/// Where notifications' e-mail goes (see [`PlatformArgs::smtp_url`]).
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub smtp_url: Option<Secret>,
    pub from: String,
    /// Where `.eml` files are written without an SMTP server.
    pub dir: PathBuf,
    pub public_url: Option<String>,
}

impl PlatformArgs {
    pub fn database_config(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self
                .database_url
                .as_ref()
                .map(|url| url.expose().to_owned()),
            data_dir: self.data_dir.clone(),
            max_connections: self.db_max_connections,
            sqlite_readers: self.sqlite_readers,
        }
    }

    pub fn signing_key(&self) -> Result<SigningKey, ConfigError> {
        if let Some(pem) = &self.jwt_signing_key {
            return SigningKey::from_pkcs8_pem(pem.expose())
                .map_err(|e| invalid("AXV_JWT_SIGNING_KEY", e));
        }
        match &self.jwt_signing_key_file {
            Some(path) => {
                SigningKey::load(path).map_err(|e| invalid("AXV_JWT_SIGNING_KEY_FILE", e))
            }
            None => SigningKey::load_or_generate(&self.data_dir.join("jwt-signing-key.pem"))
                .map_err(|e| invalid("AXV_DATA_DIR", e)),
        }
    }

    /// The Redis client the settings describe (none: in-process primitives). Reads the CA
    /// bundle; connects nothing.
    fn redis_client(&self) -> Result<Option<redis::Client>, ConfigError> {
        let Some(url) = &self.redis_url else {
            if self.redis_ca_file.is_some() {
                return Err(invalid("AXV_REDIS_CA_FILE", "is set but REDIS_URL is not"));
            }
            return Ok(None);
        };
        check_redis_url(url.expose()).map_err(|e| invalid("REDIS_URL", e))?;
        let ca = match &self.redis_ca_file {
            Some(path) => Some(read_ca_bundle(path).map_err(|e| invalid("AXV_REDIS_CA_FILE", e))?),
            None => None,
        };
        redis_client::open(url.expose(), ca.as_deref())
            .map(Some)
            .map_err(|e| match ca {
                Some(_) => invalid("AXV_REDIS_CA_FILE", e),
                None => invalid("REDIS_URL", e),
            })
    }

    /// Checks every setting without connecting anything or writing any file: URLs parse and
    /// name a supported scheme, keys and CA bundles load, issuers' JWKS URLs are http(s). The
    /// error names the setting. Reading key and certificate files is the only I/O.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            check_database_url(url.expose()).map_err(|e| invalid("DATABASE_URL", e))?;
        }
        self.redis_client()?;
        if let Some(url) = &self.object_store_url {
            check_object_store_url(url).map_err(|e| invalid("AXV_OBJECT_STORE_URL", e))?;
        }
        if self.redis_prefix.is_empty() {
            return Err(invalid("AXV_REDIS_PREFIX", "must not be empty"));
        }
        if self.jwt_signing_key.is_some() || self.jwt_signing_key_file.is_some() {
            self.signing_key()?;
        } else {
            // Without a key setting one is generated under the data dir at start; an existing
            // one must be usable, but nothing is written here.
            let path = self.data_dir.join("jwt-signing-key.pem");
            if path.exists() {
                SigningKey::load(&path).map_err(|e| invalid("AXV_DATA_DIR", e))?;
            }
        }
        for path in &self.jwt_previous_key_files {
            SigningKey::load(path).map_err(|e| invalid("AXV_JWT_PREVIOUS_KEY_FILES", e))?;
        }
        if self.jwt_issuer.trim().is_empty() {
            return Err(invalid("AXV_JWT_ISSUER", "must not be empty"));
        }
        if self.jwt_audience.trim().is_empty() {
            return Err(invalid("AXV_JWT_AUDIENCE", "must not be empty"));
        }
        for (issuer, jwks_url, _) in &self.oidc_issuers.clone().unwrap_or_default().0 {
            check_http_url(jwks_url)
                .map_err(|e| invalid("AXV_OIDC_ISSUERS", format!("{issuer}: jwks_url {e}")))?;
        }
        Ok(())
    }

    /// Connects what the settings name and fails, naming the setting, when something is unusable.
    pub async fn build(&self) -> Result<Platform, ConfigError> {
        let redis = self.redis_client()?;
        let kv = kv::connect(redis.clone(), &self.redis_prefix)
            .await
            .map_err(|e| invalid("REDIS_URL", e))?;
        let bus = events::connect(redis, &self.redis_prefix)
            .await
            .map_err(|e| invalid("REDIS_URL", e))?;
        let key = self.signing_key()?;
        let mut verifier = Verifier::new(&self.jwt_issuer, &self.jwt_audience)
            .with_key(key.verification_key())
            .with_revocations(Arc::new(KvRevocations::new(kv.clone())));
        for path in &self.jwt_previous_key_files {
            let previous =
                SigningKey::load(path).map_err(|e| invalid("AXV_JWT_PREVIOUS_KEY_FILES", e))?;
            verifier = verifier.with_key(previous.verification_key());
        }
        for (issuer, jwks_url, audience) in self.oidc_issuers.clone().unwrap_or_default().0 {
            verifier = verifier.with_oidc_issuer(OidcIssuer {
                issuer,
                jwks_url,
                audience,
            });
        }
        let issuer = TokenIssuer::new(
            key,
            &self.jwt_issuer,
            &self.jwt_audience,
            Duration::from_secs(self.access_token_ttl_secs),
        );
        Ok(Platform {
            database: self.database_config(),
            kv,
            bus,
            issuer: Arc::new(issuer),
            verifier: Arc::new(verifier),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
            release_days_after_quarter: self.release_days_after_quarter,
            mail: MailSettings {
                smtp_url: self.smtp_url.clone(),
                from: self.mail_from.clone(),
                dir: self.data_dir.join("mail"),
                public_url: self.public_url.clone(),
            },
            documents: DocumentSettings {
                store_url: self.object_store_url.clone(),
                store_options: Vec::new(),
                dir: self.data_dir.join("documents"),
                max_file_bytes: self.document_max_mb * 1024 * 1024,
                max_parent_bytes: self.document_parent_max_mb * 1024 * 1024,
                retention: Duration::from_secs(self.document_retention_days * 86_400),
                scanner: self
                    .document_scanner
                    .clone()
                    .filter(|command| !command.trim().is_empty()),
            },
        })
    }
}

/// `s3://bucket[/prefix]` or `file:///absolute/dir`.
pub fn check_object_store_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or_default();
        if bucket.is_empty() {
            return Err("s3:// needs a bucket: s3://bucket/prefix".into());
        }
        Ok(())
    } else if let Some(path) = url.strip_prefix("file://") {
        if Path::new(path).is_absolute() {
            Ok(())
        } else {
            Err("file:// needs an absolute directory: file:///var/lib/axv/documents".into())
        }
    } else {
        Err("must start with s3:// or file://".into())
    }
}

/// `postgres://` or `postgresql://` (parsed as the driver will), or `sqlite:`. A Postgres URL's
/// `sslrootcert` file, when named, must be readable: `verify-ca`/`verify-full` trust it instead
/// of the system's store.
fn check_database_url(url: &str) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
        if let Some(path) = query_parameter(url, "sslrootcert") {
            read_ca_bundle(Path::new(&path)).map_err(|e| format!("sslrootcert {e}"))?;
        }
        Ok(())
    } else if url.starts_with("sqlite:") {
        sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        Err("must start with postgres:// (or sqlite:)".into())
    }
}

/// A PEM CA bundle that holds at least one certificate (an empty trust store would refuse
/// every server, which is better reported at start than at the first connection).
fn read_ca_bundle(path: &Path) -> Result<Vec<u8>, String> {
    const CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if pem
        .windows(CERTIFICATE.len())
        .any(|window| window == CERTIFICATE)
    {
        Ok(pem)
    } else {
        Err(format!("{}: no PEM certificate in it", path.display()))
    }
}

/// A query parameter of a URL, as written (certificate paths need no percent-decoding).
fn query_parameter(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `redis://` or `rediss://` URL the client accepts (parsing only, no connection). TLS
/// without verifying the server (`#insecure`) is refused: it would hand the cache, rate limits
/// and token revocations to whoever answers.
fn check_redis_url(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    if let redis::ConnectionAddr::TcpTls { insecure: true, .. } =
        client.get_connection_info().addr()
    {
        return Err(
            "rediss:// with #insecure does not verify the server; give AXV_REDIS_CA_FILE instead"
                .into(),
        );
    }
    Ok(())
}

/// An absolute `http://` or `https://` URL with a host.
pub fn check_http_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(()),
        _ => Err(format!("{url:?}: expected http://host:port")),
    }
}

#[cfg(test)]
mod check_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn database_urls() {
        assert!(check_database_url("postgres://u:p@db:5432/axv").is_ok());
        assert!(check_object_store_url("s3://axv-documents/prod").is_ok());
        assert!(check_object_store_url("file:///var/lib/axv/documents").is_ok());
        assert!(check_object_store_url("s3:///prefix").is_err());
        assert!(check_object_store_url("file://relative/dir").is_err());
        assert!(check_object_store_url("gs://bucket").is_err());
        assert!(check_database_url("postgresql://db/axv?sslmode=prefer").is_ok());
        assert!(check_database_url("sqlite://x.db?mode=rwc").is_ok());
        assert!(check_database_url("mysql://db/axv").is_err());
        assert!(check_database_url("postgres://db/axv?sslmode=require").is_ok());
        assert!(
            check_database_url(
                "postgres://db/axv?sslmode=verify-full&sslrootcert=/nonexistent.pem"
            )
            .is_err()
        );
    }

    #[test]
    fn database_ca_bundles_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let url = format!(
            "postgres://db/axv?sslmode=verify-full&sslrootcert={}",
            empty.display()
        );
        assert!(
            check_database_url(&url)
                .unwrap_err()
                .contains("no PEM certificate")
        );
        assert_eq!(
            query_parameter("postgres://db/axv?a=1&sslrootcert=/ca.pem", "sslrootcert").as_deref(),
            Some("/ca.pem")
        );
        assert_eq!(query_parameter("postgres://db/axv", "sslrootcert"), None);
    }

    #[test]
    fn a_ca_bundle_needs_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (junk, bundle) = (dir.path().join("junk.pem"), dir.path().join("ca.pem"));
        std::fs::write(&junk, "not a certificate").unwrap();
        std::fs::write(
            &bundle,
            "junk\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(
            read_ca_bundle(&junk)
                .unwrap_err()
                .contains("no PEM certificate")
        );
        assert!(read_ca_bundle(&bundle).is_ok());
        assert!(read_ca_bundle(&dir.path().join("missing.pem")).is_err());
    }

    #[test]
    fn redis_and_http_urls() {
        assert!(check_redis_url("redis://redis:6379").is_ok());
        assert!(check_redis_url("http://redis:6379").is_err());
        assert!(check_redis_url("rediss://cache.example:6379").is_ok());
        assert!(check_redis_url("rediss://cache.example:6379/#insecure").is_err());
        assert!(check_http_url("http://onboarding:50051").is_ok());
        assert!(check_http_url("onboarding:50051").is_err());
        assert!(check_http_url("ftp://x").is_err());
    }
}
