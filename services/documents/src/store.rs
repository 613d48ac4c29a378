//! SQL for documents' own tables, on SQLite and Postgres alike.

use axv_platform::{
    audit::{self, Actor, Change},
    db::{Database, StoreError},
};

use crate::{
    domain::{ParentKind, ScanStatus},
    error::{DocumentsError, FileRefusal},
    parents::ParentRef,
};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DocumentRecord {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub parent_kind: ParentKind,
    pub parent_id: String,
    pub pilot_id: String,
    pub company_id: String,
    pub parent_version: i64,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub object_key: String,
    #[sqlx(try_from = "String")]
    pub scan_status: ScanStatus,
    pub uploaded_by: String,
    pub uploader_role: String,
    pub uploaded_at: i64,
}

impl DocumentRecord {
    pub fn parent(&self) -> ParentRef {
        ParentRef {
            kind: self.parent_kind,
            id: self.parent_id.clone(),
            pilot_id: self.pilot_id.clone(),
        }
    }
}

const COLUMNS: &str = "id, parent_kind, parent_id, pilot_id, company_id, parent_version, \
    file_name, content_type, size, sha256, object_key, scan_status, uploaded_by, uploader_role, \
    uploaded_at";

/// Parents named in one listing at most (a page of a list in the console or the API).
pub const MAX_PARENTS_PER_LIST: usize = 200;

/// When a document not yet decided by the scan right after its upload is tried again.
const SCAN_RETRY_AFTER_MS: i64 = 5 * 60_000;

/// Live documents one parent holds at most: its listing stays one answer.
pub const MAX_DOCUMENTS_PER_PARENT: i64 = 100;

#[derive(Clone, Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// (bytes, documents) the parent's live documents hold.
    pub async fn parent_totals(
        &self,
        kind: ParentKind,
        id: &str,
    ) -> Result<(i64, i64), StoreError> {
        let totals: Option<(i64, i64)> = sqlx::query_as(
            "SELECT total_bytes, document_count FROM document_parents \
             WHERE parent_kind = $1 AND parent_id = $2",
        )
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(self.db.reads())
        .await?;
        Ok(totals.unwrap_or((0, 0)))
    }

    /// Records an uploaded document, counting it and its bytes against its parent's totals in
    /// the same transaction: refused (and nothing recorded) when the bytes would pass
    /// `max_parent_bytes` or the documents [`MAX_DOCUMENTS_PER_PARENT`], however many uploads
    /// finish at once.
    pub async fn record(
        &self,
        document: &DocumentRecord,
        max_parent_bytes: u64,
        actor: &Actor,
    ) -> Result<(), DocumentsError> {
        let mut tx = self.db.pool().begin().await.map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO document_parents (parent_kind, parent_id, total_bytes) VALUES ($1, $2, 0) \
             ON CONFLICT (parent_kind, parent_id) DO NOTHING",
        )
        .bind(document.parent_kind.as_str())
        .bind(&document.parent_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let counted = sqlx::query(
            "UPDATE document_parents \
             SET total_bytes = total_bytes + $3, document_count = document_count + 1 \
             WHERE parent_kind = $1 AND parent_id = $2 AND total_bytes + $3 <= $4 \
             AND document_count < $5",
        )
        .bind(document.parent_kind.as_str())
        .bind(&document.parent_id)
        .bind(document.size)
        .bind(i64::try_from(max_parent_bytes).unwrap_or(i64::MAX))
        .bind(MAX_DOCUMENTS_PER_PARENT)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if counted == 0 {
            let full = self.parent_totals_in(&mut tx, document).await?;
            return Err(DocumentsError::Domain(
                if full.1 >= MAX_DOCUMENTS_PER_PARENT {
                    FileRefusal::TooMany(MAX_DOCUMENTS_PER_PARENT)
                } else {
                    FileRefusal::ParentFull(max_parent_bytes)
                },
            ));
        }
        sqlx::query(&format!(
            "INSERT INTO documents ({COLUMNS}, next_scan_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(&document.id)
        .bind(document.parent_kind.as_str())
        .bind(&document.parent_id)
        .bind(&document.pilot_id)
        .bind(&document.company_id)
        .bind(document.parent_version)
        .bind(&document.file_name)
        .bind(&document.content_type)
        .bind(document.size)
        .bind(&document.sha256)
        .bind(&document.object_key)
        .bind(document.scan_status.as_str())
        .bind(&document.uploaded_by)
        .bind(&document.uploader_role)
        .bind(document.uploaded_at)
        // The scan right after upload decides most; the sweeper takes up any left after this.
        .bind(
            (document.scan_status == ScanStatus::Pending)
                .then_some(document.uploaded_at + SCAN_RETRY_AFTER_MS),
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        // The file's name may name people, so the trail keeps its type, size and digest.
        let change = Change::new("document.uploaded", "document", &document.id)
            .company(&document.company_id)
            .summary(format!(
                "{} {} bytes, SHA-256 {}, to {} {}",
                document.content_type,
                document.size,
                document.sha256,
                document.parent_kind.as_str(),
                document.parent_id
            ));
        audit::record(&mut tx, actor, &change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// The parent's (bytes, documents) within `tx`.
    async fn parent_totals_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        document: &DocumentRecord,
    ) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT total_bytes, document_count FROM document_parents \
             WHERE parent_kind = $1 AND parent_id = $2",
        )
        .bind(document.parent_kind.as_str())
        .bind(&document.parent_id)
        .fetch_optional(&mut **tx)
        .await?
        .unwrap_or((0, 0)))
    }

    /// A live (not deleted) document.
    pub async fn get(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        if !axv_platform::ids::is_valid_id(id) {
            return Ok(None);
        }
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM documents WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await?)
    }

    /// The live documents of `parents`, oldest first.
    pub async fn list(&self, parents: &[ParentRef]) -> Result<Vec<DocumentRecord>, StoreError> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = (0..parents.len())
            .map(|i| {
                format!(
                    "(parent_kind = ${} AND parent_id = ${})",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!(
            "SELECT {COLUMNS} FROM documents WHERE deleted_at IS NULL AND ({wanted}) \
             ORDER BY uploaded_at, id"
        );
        let mut query = sqlx::query_as(&sql);
        for parent in parents {
            query = query.bind(parent.kind.as_str()).bind(parent.id.clone());
        }
        Ok(query.fetch_all(self.db.reads()).await?)
    }

    /// Marks a document deleted and gives its bytes back to its parent's total; `false` when
    /// it was deleted already.
    pub async fn delete(
        &self,
        document: &DocumentRecord,
        by: &Actor,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let deleted = sqlx::query(
            "UPDATE documents SET deleted_by = $2, deleted_at = $3 \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(&document.id)
        .bind(by.history_id())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if deleted {
            sqlx::query(
                "UPDATE document_parents \
                 SET total_bytes = total_bytes - $3, document_count = document_count - 1 \
                 WHERE parent_kind = $1 AND parent_id = $2",
            )
            .bind(document.parent_kind.as_str())
            .bind(&document.parent_id)
            .bind(document.size)
            .execute(&mut *tx)
            .await?;
            let change = Change::new("document.deleted", "document", &document.id)
                .company(&document.company_id)
                .summary(format!(
                    "from {} {}; bytes kept until the retention period ends",
                    document.parent_kind.as_str(),
                    document.parent_id
                ));
            audit::record(&mut tx, by, &change).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// The scanner's verdict, recorded with its audit entry (a quarantined file is evidence
    /// of what was uploaded).
    pub async fn set_scan_status(&self, id: &str, status: ScanStatus) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let changed: Option<(String, String)> = sqlx::query_as(
            "UPDATE documents SET scan_status = $2 WHERE id = $1 AND scan_status <> $2 \
             RETURNING company_id, content_type",
        )
        .bind(id)
        .bind(status.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((company_id, content_type)) = changed {
            let change = Change::new("document.scanned", "document", id)
                .company(company_id)
                .summary(format!("{content_type}: {}", status.as_str()));
            audit::record(&mut tx, &Actor::system("scanner"), &change).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Live documents the scanner has yet to decide whose next try is due at `now`, the
    /// longest waiting first.
    pub async fn due_scans(&self, now: i64, limit: i64) -> Result<Vec<DocumentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM documents WHERE scan_status = 'PENDING' \
             AND deleted_at IS NULL AND next_scan_at <= $1 ORDER BY next_scan_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?)
    }

    /// A scan that could not decide: tried again after a wait that doubles with each failure
    /// (a minute, two, four... at most an hour), so a file that always fails never holds up
    /// the others.
    pub async fn scan_failed(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE documents SET scan_attempts = scan_attempts + 1, \
             next_scan_at = $2 + 60000 * (CASE scan_attempts WHEN 0 THEN 1 WHEN 1 THEN 2 \
             WHEN 2 THEN 4 WHEN 3 THEN 8 WHEN 4 THEN 16 WHEN 5 THEN 32 ELSE 60 END) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Deleted documents whose bytes are still stored and were deleted before `before`:
    /// `(id, object_key)`.
    pub async fn purgeable(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, object_key FROM documents \
             WHERE deleted_at IS NOT NULL AND deleted_at < $1 AND purged_at IS NULL \
             ORDER BY deleted_at LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?)
    }

    /// Which of `keys` a document (live, deleted or purged) points to.
    pub async fn known_keys(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=keys.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT object_key FROM documents WHERE object_key IN ({placeholders})");
        let mut query = sqlx::query_scalar(&sql);
        for key in keys {
            query = query.bind(key);
        }
        Ok(query.fetch_all(self.db.reads()).await?)
    }

    pub async fn mark_purged(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let purged: Option<(String,)> = sqlx::query_as(
            "UPDATE documents SET purged_at = $2 WHERE id = $1 AND purged_at IS NULL \
             RETURNING company_id",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((company_id,)) = purged {
            let change = Change::new("document.purged", "document", id)
                .company(company_id)
                .summary("bytes removed after the retention period");
            audit::record(&mut tx, &Actor::system("sweeper"), &change).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether a document (deleted or not) still has its bytes, for tests of the purge.
    pub async fn purged_at(&self, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT purged_at FROM documents WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.reads())
                .await?
                .flatten(),
        )
    }
}
