//! SQL for documents' own tables, on SQLite and Postgres alike.

use axv_platform::db::{Database, StoreError};

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

#[derive(Clone, Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Bytes the parent's live documents hold.
    pub async fn parent_total(&self, kind: ParentKind, id: &str) -> Result<i64, StoreError> {
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT total_bytes FROM document_parents WHERE parent_kind = $1 AND parent_id = $2",
        )
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(self.db.reads())
        .await?;
        Ok(total.unwrap_or(0))
    }

    /// Records an uploaded document, counting its bytes against its parent's total in the same
    /// transaction: refused (and nothing recorded) when the total would pass `max_parent_bytes`,
    /// however many uploads finish at once.
    pub async fn record(
        &self,
        document: &DocumentRecord,
        max_parent_bytes: u64,
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
            "UPDATE document_parents SET total_bytes = total_bytes + $3 \
             WHERE parent_kind = $1 AND parent_id = $2 AND total_bytes + $3 <= $4",
        )
        .bind(document.parent_kind.as_str())
        .bind(&document.parent_id)
        .bind(document.size)
        .bind(i64::try_from(max_parent_bytes).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if counted == 0 {
            return Err(DocumentsError::Domain(FileRefusal::ParentFull(
                max_parent_bytes,
            )));
        }
        sqlx::query(&format!(
            "INSERT INTO documents ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
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
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
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
        by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let deleted = sqlx::query(
            "UPDATE documents SET deleted_by = $2, deleted_at = $3 \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(&document.id)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if deleted {
            sqlx::query(
                "UPDATE document_parents SET total_bytes = total_bytes - $3 \
                 WHERE parent_kind = $1 AND parent_id = $2",
            )
            .bind(document.parent_kind.as_str())
            .bind(&document.parent_id)
            .bind(document.size)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    pub async fn set_scan_status(&self, id: &str, status: ScanStatus) -> Result<(), StoreError> {
        sqlx::query("UPDATE documents SET scan_status = $2 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Live documents the scanner has not yet passed, oldest first.
    pub async fn pending_scans(&self, limit: i64) -> Result<Vec<DocumentRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM documents WHERE scan_status = 'PENDING' \
             AND deleted_at IS NULL ORDER BY uploaded_at LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.db.reads())
        .await?)
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

    pub async fn mark_purged(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE documents SET purged_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.db.pool())
            .await?;
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
