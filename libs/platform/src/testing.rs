//! Test support: every test gets its own database (a fresh Postgres database, or a SQLite file
//! in a temporary directory) and its own Redis key prefix, so tests run in parallel and reruns
//! never see leftovers. Where Postgres or Redis is missing, tests skip locally but fail loudly
//! under CI (`CI=true`).

use std::{path::PathBuf, str::FromStr};

use sqlx::{ConnectOptions, Connection, Executor};

use sqlx::migrate::Migrator;

use crate::db::{Backend, Database, DatabaseConfig, StoreError};

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
        Self::postgres_from(None).await
    }

    /// A brand-new Postgres database already holding each `(schema, migrations)`: copied from a
    /// template database migrated once for all tests (of every test process) that ask for the
    /// same migrations, instead of migrating every test's database again.
    pub async fn postgres_migrated(schemas: &[(&str, &Migrator)]) -> Option<TestDb> {
        let template = match migrated_template(schemas).await {
            Ok(template) => template,
            Err(error) => return skip_or_fail("Postgres template database", error),
        };
        Self::postgres_from(Some(&template)).await
    }

    async fn postgres_from(template: Option<&str>) -> Option<TestDb> {
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
        let create = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        if let Err(error) = conn.execute(create.as_str()).await {
            return skip_or_fail("Postgres CREATE DATABASE", error);
        }
        let _ = conn.close().await;
        #[allow(clippy::expect_used)]
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(TestDb {
            backend: Backend::Postgres,
            config: DatabaseConfig {
                url: Some(database_url(&admin_url, &name)),
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

/// The URL of database `name` on the server of `admin_url`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{name}{query}")
}

/// The template database holding `schemas` migrated, made by the first test process to need
/// it (the others wait on an advisory lock). Its name is a hash of every schema's name and
/// migrations, so a changed migration gets a new template rather than a stale one.
async fn migrated_template(schemas: &[(&str, &Migrator)]) -> Result<String, StoreError> {
    use std::hash::{DefaultHasher, Hash, Hasher};

    let mut hasher = DefaultHasher::new();
    // Every service's database runs the platform's migrations too (`Database::migrate`).
    for migration in crate::db::PLATFORM_MIGRATOR.iter() {
        migration.version.hash(&mut hasher);
        migration.checksum.hash(&mut hasher);
    }
    for (schema, migrator) in schemas {
        schema.hash(&mut hasher);
        for migration in migrator.iter() {
            migration.version.hash(&mut hasher);
            migration.checksum.hash(&mut hasher);
        }
    }
    let hash = hasher.finish();
    let name = format!("axv_template_{hash:016x}");
    let admin_url = postgres_admin_url();
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&admin_url)?
        .connect()
        .await?;
    // The lock's key is the hash's bits: one lock per template, held by the process making it.
    let key = i64::from_ne_bytes(hash.to_ne_bytes());
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut conn)
        .await?;
    let made = async {
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut conn)
                .await?;
        if exists.is_some() {
            return Ok(());
        }
        // Built under another name and renamed when complete, so a process killed half-way
        // leaves no template that looks finished.
        let building = format!("{name}_building");
        conn.execute(format!("DROP DATABASE IF EXISTS {building}").as_str())
            .await?;
        conn.execute(format!("CREATE DATABASE {building}").as_str())
            .await?;
        let config = DatabaseConfig {
            url: Some(database_url(&admin_url, &building)),
            data_dir: std::env::temp_dir(),
            max_connections: 1,
            sqlite_readers: None,
        };
        for (schema, migrator) in schemas {
            let db = Database::connect(&config, schema).await?;
            // A migration that fails is the code's fault, not a missing server: never a skip.
            if let Err(error) = db.migrate(migrator).await {
                panic!("migrating {schema} into the template database failed: {error}");
            }
            db.close().await;
        }
        conn.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str())
            .await?;
        Ok::<(), StoreError>(())
    }
    .await;
    // Closing the session releases the lock too; the build's own error is the one to report.
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    made?;
    unlocked?;
    Ok(name)
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
        // Files under a directory of the test's own, unless a test sets a server.
        mail: crate::config::MailSettings {
            smtp_url: None,
            from: "AX 실증밸리 <no-reply@axv.test>".into(),
            dir: std::env::temp_dir().join(format!("axv-mail-{}", crate::ids::new_id())),
            public_url: None,
        },
        documents: crate::config::DocumentSettings::in_dir(
            std::env::temp_dir().join(format!("axv-documents-{}", crate::ids::new_id())),
        ),
    }
}

pub const TEST_ISSUER: &str = "axv";
pub const TEST_AUDIENCE: &str = "axv-platform";
