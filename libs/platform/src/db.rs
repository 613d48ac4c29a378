//! The database: Postgres when a URL is given (each service in its own schema), else a SQLite
//! file per service under the data directory. One set of portable SQL serves both through
//! sqlx's `Any` driver: TEXT ids, BIGINT amounts and unix-millisecond timestamps, `$1` binds.

use std::{path::PathBuf, str::FromStr, time::Duration};

use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

use crate::error::ErrorCode;

/// The platform's migrations, which every service's database runs beside its own.
pub(crate) static PLATFORM_MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `postgres://...`; `None` means the embedded SQLite default under `data_dir`.
    pub url: Option<String>,
    pub data_dir: PathBuf,
    pub max_connections: u32,
    /// Read-only SQLite connections; `None`: [`sqlite_readers`]; 0: reads use the writer.
    pub sqlite_readers: Option<u32>,
}

impl DatabaseConfig {
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            url: None,
            data_dir: data_dir.into(),
            max_connections: 10,
            sqlite_readers: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; carries the constraint name (Postgres) or the
    /// failing columns (SQLite), which [`StoreError::is_unique_on`] matches either way.
    #[error("unique violation: {0}")]
    UniqueViolation(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("bad database configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// Whether this is a unique violation on `table.column` (SQLite names the columns) or on the
    /// Postgres constraint `constraint`.
    pub fn is_unique_on(&self, table_column: &str, constraint: &str) -> bool {
        matches!(self, StoreError::UniqueViolation(what) if what.contains(table_column) || what.contains(constraint))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound => ErrorCode::NotFound,
            StoreError::UniqueViolation(_) => ErrorCode::Conflict,
            _ => ErrorCode::Internal,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UniqueViolation(
                db.constraint()
                    .map_or_else(|| db.message().to_owned(), str::to_owned),
            ),
            _ => StoreError::Database(error),
        }
    }
}

/// A service's connection pools, already pointed at that service's own schema or file: one for
/// writes (and reads inside them), one for reads alone. On Postgres they are the same pool; on
/// SQLite the writer is one connection (SQLite has one writer at a time, and one connection
/// makes every write transaction serialisable, so the invariants hold as on Postgres with row
/// locks) and the readers are [`sqlite_readers`] read-only connections, which WAL lets read
/// beside the writer, each seeing what was committed when its statement began.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    reads: AnyPool,
    backend: Backend,
}

/// How many read-only connections a SQLite file gets: one per core (more only queue on the
/// same cores and hold a page cache each), at least two, at most four.
pub fn sqlite_readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores.clamp(2, 4)).unwrap_or(2)
}

impl Database {
    /// Connects the database of `service` (a lowercase identifier such as `onboarding`).
    pub async fn connect(config: &DatabaseConfig, service: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        if !service.chars().all(|c| c.is_ascii_lowercase() || c == '_') || service.is_empty() {
            return Err(StoreError::Config(format!(
                "invalid service name {service:?}"
            )));
        }
        match &config.url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::connect_postgres(url, service, config.max_connections).await
            }
            Some(url) if url.starts_with("sqlite:") => {
                Self::connect_sqlite(url, config.sqlite_readers).await
            }
            Some(_) => Err(StoreError::Config(
                "DATABASE_URL must start with postgres:// or sqlite:".to_owned(),
            )),
            None => {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create data directory {}: {e}",
                        config.data_dir.display()
                    ))
                })?;
                let file = config.data_dir.join(format!("{service}.db"));
                Self::connect_sqlite(
                    &format!("sqlite://{}?mode=rwc", file.display()),
                    config.sqlite_readers,
                )
                .await
            }
        }
    }

    async fn connect_postgres(url: &str, schema: &str, max: u32) -> Result<Self, StoreError> {
        let options = AnyConnectOptions::from_str(url)?;
        {
            // A schema per service keeps ownership visible in the database itself.
            let setup = AnyPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            match setup
                .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
                .await
                .map_err(StoreError::from)
            {
                Ok(_) => {}
                // Two processes creating the same schema at once: the loser's error is harmless.
                Err(error) if error.is_unique_on("", "pg_namespace") => {}
                Err(error) => return Err(error),
            }
            setup.close().await;
        }
        let search_path = format!("SET search_path TO \"{schema}\"");
        let pool = AnyPoolOptions::new()
            .max_connections(max.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    conn.execute(search_path.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            reads: pool.clone(),
            pool,
            backend: Backend::Postgres,
        })
    }

    async fn connect_sqlite(url: &str, readers: Option<u32>) -> Result<Self, StoreError> {
        let options = AnyConnectOptions::from_str(url)?;
        let pool = Self::sqlite_pool(options.clone(), 1, "").await?;
        // The writer opened the file (and created it, with WAL) first; readers only read, and
        // `query_only` makes a write sent to them by mistake an error instead of a second writer.
        // An in-memory database is private to its connection: readers would see an empty one.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let readers = if in_memory { Some(0) } else { readers };
        let reads = match readers.unwrap_or_else(sqlite_readers) {
            0 => pool.clone(),
            n => Self::sqlite_pool(options, n, "PRAGMA query_only = ON;").await?,
        };
        Ok(Self {
            pool,
            reads,
            backend: Backend::Sqlite,
        })
    }

    async fn sqlite_pool(
        options: AnyConnectOptions,
        connections: u32,
        extra_pragmas: &'static str,
    ) -> Result<AnyPool, StoreError> {
        Ok(AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(
                        format!(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; {extra_pragmas}"
                        )
                        .as_str(),
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?)
    }

    /// Runs the service's migrations together with the platform's own (the tables every
    /// service has, such as the audit trail), in version order.
    pub async fn migrate(&self, migrator: &Migrator) -> Result<(), StoreError> {
        let mut migrations: Vec<_> = migrator
            .migrations
            .iter()
            .chain(PLATFORM_MIGRATOR.migrations.iter())
            .cloned()
            .collect();
        migrations.sort_by_key(|migration| migration.version);
        let combined = Migrator {
            migrations: migrations.into(),
            ignore_missing: migrator.ignore_missing,
            locking: migrator.locking,
            no_tx: migrator.no_tx,
        };
        combined.run(&self.pool).await?;
        Ok(())
    }

    /// For writes, and for reads that must see a transaction's own writes.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// For reads outside a transaction: on SQLite they do not wait for the writer.
    pub fn reads(&self) -> &AnyPool {
        &self.reads
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers; used by readiness checks.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
    }
}

/// WHERE clauses with their (text) binds, for list queries whose filters vary, and the one
/// way every service pages through a table: id order after a cursor, plus the total.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    clauses: Vec<String>,
    binds: Vec<String>,
}

impl Filters {
    /// `column IN (...)`; an explicit empty set matches nothing.
    pub fn any_of(&mut self, column: &str, values: Vec<String>) {
        if values.is_empty() {
            self.clauses.push("1 = 0".to_owned());
            return;
        }
        self.clauses.push(format!(
            "{column} IN ({})",
            placeholders(self.binds.len() + 1, values.len())
        ));
        self.binds.extend(values);
    }

    /// A clause whose `{}` is the placeholder list of `values` (e.g. a subquery's `IN ({})`);
    /// an empty set matches nothing.
    pub fn list_clause(&mut self, template: &str, values: Vec<String>) {
        if values.is_empty() {
            self.clauses.push("1 = 0".to_owned());
            return;
        }
        self.clauses
            .push(template.replace("{}", &placeholders(self.binds.len() + 1, values.len())));
        self.binds.extend(values);
    }

    pub fn equals(&mut self, column: &str, value: String) {
        self.clause(&format!("{column} = {{}}"), value);
    }

    /// A clause whose every `{}` is the placeholder of `value`.
    pub fn clause(&mut self, template: &str, value: String) {
        self.clauses
            .push(template.replace("{}", &format!("${}", self.binds.len() + 1)));
        self.binds.push(value);
    }

    pub fn binds(&self) -> &[String] {
        &self.binds
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Up to `limit` rows of `table` in id order after `after`, and how many match in all.
    /// `table` and `columns` are fixed names, never input.
    pub async fn page(
        mut self,
        db: &Database,
        table: &str,
        columns: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<sqlx::any::AnyRow>, i64), StoreError> {
        let count_sql = format!("SELECT COUNT(*) FROM {table}{}", self.sql());
        let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
        for bind in &self.binds {
            count = count.bind(bind);
        }
        let (total,) = count.fetch_one(db.reads()).await?;
        if let Some(after) = after {
            self.clause("id > {}", after.to_owned());
        }
        let sql = format!(
            "SELECT {columns} FROM {table}{} ORDER BY id LIMIT {}",
            self.sql(),
            limit.min(1000)
        );
        let mut query = sqlx::query(&sql);
        for bind in &self.binds {
            query = query.bind(bind);
        }
        Ok((query.fetch_all(db.reads()).await?, total))
    }
}

/// `$from, $from+1, ...` for `count` binds.
pub fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, ..., $columns), ($columns+1, ...)`: the VALUES of a multi-row INSERT of `rows` rows.
pub fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(row * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rows_number_binds_row_after_row() {
        assert_eq!(value_rows(1, 2), "($1, $2)");
        assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(value_rows(0, 3), "");
    }
}
