//! Test support: every test gets its own database (a fresh Postgres database, or a SQLite file
//! in a temporary directory) and its own Redis key prefix, so tests run in parallel and reruns
//! never see leftovers. Where Postgres or Redis is missing, tests skip locally but fail loudly
//! under CI (`CI=true`).

use std::{path::PathBuf, str::FromStr};

use sqlx::{ConnectOptions, Connection, Executor};

use crate::db::{Backend, DatabaseConfig};

pub mod tls;

pub struct TestDb {
    pub backend: Backend,
    pub config: DatabaseConfig,
    // Keeps the SQLite directory alive for the test's duration.
    _dir: tempfile::TempDir,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The Postgres server tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("AXV_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_test_url() -> String {
    std::env::var("AXV_TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("axvtest:{}:", uuid::Uuid::now_v7().simple())
}

fn skip_or_fail(what: &str, error: impl std::fmt::Display) -> Option<TestDb> {
    assert!(
        !in_ci(),
        "{what} is required in CI but unavailable: {error}"
    );
    eprintln!("skipping: {what} unavailable ({error})");
    None
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        #[allow(clippy::expect_used)]
        let dir = tempfile::tempdir().expect("temporary directory");
        TestDb {
            backend: Backend::Sqlite,
            config: DatabaseConfig::embedded(PathBuf::from(dir.path())),
            _dir: dir,
        }
    }

    /// A brand-new Postgres database, or `None` (outside CI) when Postgres is not reachable.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = postgres_admin_url();
        let options = match sqlx::postgres::PgConnectOptions::from_str(&admin_url) {
            Ok(options) => options,
            Err(error) => return skip_or_fail("Postgres", error),
        };
        let mut conn = match options.connect().await {
            Ok(conn) => conn,
            Err(error) => return skip_or_fail("Postgres", error),
        };
        let name = format!("axv_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(error) = conn
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
        {
            return skip_or_fail("Postgres CREATE DATABASE", error);
        }
        let _ = conn.close().await;
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base.to_owned(), format!("?{query}")),
            None => (admin_url.clone(), String::new()),
        };
        let server = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(server, _)| server);
        #[allow(clippy::expect_used)]
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(TestDb {
            backend: Backend::Postgres,
            config: DatabaseConfig {
                url: Some(format!("{server}/{name}{query}")),
                data_dir: dir.path().to_path_buf(),
                max_connections: 5,
                sqlite_readers: None,
            },
            _dir: dir,
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }
}

/// Whether a Redis server answers at the test URL; panics in CI when it does not.
pub async fn redis_available() -> bool {
    let url = redis_test_url();
    let result = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    }
    .await;
    match result {
        Ok(_) => true,
        Err(error) => {
            assert!(!in_ci(), "Redis is required in CI but unavailable: {error}");
            eprintln!("skipping: Redis unavailable ({error})");
            false
        }
    }
}

/// Generates `<name>::sqlite` and `<name>::postgres` tests running `$body(TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$body($crate::testing::TestDb::sqlite()).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(db) = $crate::testing::TestDb::postgres().await {
                        super::$body(db).await;
                    }
                }
            }
        )+
    };
}

/// A platform for one test: fresh signing key, in-process cache and bus, the given database.
pub fn platform(database: DatabaseConfig) -> crate::config::Platform {
    platform_with(
        database,
        std::sync::Arc::new(crate::kv::MemoryKv::default()),
        std::sync::Arc::new(crate::events::InProcessBus::default()),
    )
}

pub fn platform_with(
    database: DatabaseConfig,
    kv: crate::kv::SharedKv,
    bus: crate::events::SharedBus,
) -> crate::config::Platform {
    use std::{sync::Arc, time::Duration};
    let key = axv_auth::SigningKey::generate();
    let verifier = axv_auth::Verifier::new(TEST_ISSUER, TEST_AUDIENCE)
        .with_key(key.verification_key())
        .with_revocations(Arc::new(crate::kv::KvRevocations::new(kv.clone())));
    crate::config::Platform {
        database,
        kv,
        bus,
        issuer: Arc::new(axv_auth::TokenIssuer::new(
            key,
            TEST_ISSUER,
            TEST_AUDIENCE,
            Duration::from_secs(900),
        )),
        verifier: Arc::new(verifier),
        refresh_token_ttl: Duration::from_secs(3600),
        // Tests publish releases themselves, so none appears mid-test.
        release_days_after_quarter: 0,
    }
}

pub const TEST_ISSUER: &str = "axv";
pub const TEST_AUDIENCE: &str = "axv-platform";
