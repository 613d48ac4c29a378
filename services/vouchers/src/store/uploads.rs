//! The history of sacct uploads: each file's answer as it was given, written in the
//! ingestion's transaction ([`record`]) and read back newest first.

use sqlx::AnyConnection;

use super::{Store, placeholders, value_rows};
use crate::{
    domain::LineRefusal,
    error::VouchersError,
    sacct::RejectedLine,
    store::spend::{IngestReport, VoucherCharge},
};

/// One upload as the history keeps it; `report.rejected` and `report.charges` are filled only
/// when one upload is read ([`Store::usage_upload`]), not in listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub cluster: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
    pub rejected_count: i64,
    pub report: IngestReport,
}

#[derive(sqlx::FromRow)]
struct UploadRow {
    id: String,
    cluster: String,
    uploaded_by: String,
    uploaded_at: i64,
    accepted: i64,
    duplicates: i64,
    skipped: i64,
    rejected: i64,
    amount: i64,
    overage: i64,
    overage_jobs: i64,
}

const UPLOAD_COLUMNS: &str = "id, cluster, uploaded_by, uploaded_at, accepted, duplicates, skipped, rejected, amount, overage, overage_jobs";

impl From<UploadRow> for UploadRecord {
    fn from(row: UploadRow) -> Self {
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Self {
            report: IngestReport {
                accepted: count(row.accepted),
                duplicates: count(row.duplicates),
                skipped: count(row.skipped),
                amount: row.amount,
                overage: row.overage,
                overage_jobs: count(row.overage_jobs),
                upload_id: row.id.clone(),
                ..IngestReport::default()
            },
            id: row.id,
            cluster: row.cluster,
            uploaded_by: row.uploaded_by,
            uploaded_at: row.uploaded_at,
            rejected_count: row.rejected,
        }
    }
}

/// The refused lines one upload's reading answers, the first in line order: a file of a whole
/// cluster's month with a wrong account on every line would otherwise be an answer of tens of
/// megabytes. The count of all of them is `rejected_count`.
pub const REFUSED_LINES_SHOWN: i64 = 1_000;

/// Rows per multi-row INSERT: well under SQLite's 32,766 binds.
const ROWS_PER_INSERT: usize = 500;

/// Keeps `report` (with its `upload_id`) in the history, inside the ingestion's transaction.
pub(super) async fn record(
    conn: &mut AnyConnection,
    cluster: &str,
    uploaded_by: &str,
    at: i64,
    report: &IngestReport,
) -> Result<(), VouchersError> {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    sqlx::query(&format!(
        "INSERT INTO usage_uploads ({UPLOAD_COLUMNS}) VALUES ({})",
        placeholders(1, 11)
    ))
    .bind(&report.upload_id)
    .bind(cluster)
    .bind(uploaded_by)
    .bind(at)
    .bind(count(report.accepted))
    .bind(count(report.duplicates))
    .bind(count(report.skipped))
    .bind(count(report.rejected.len()))
    .bind(report.amount)
    .bind(report.overage)
    .bind(count(report.overage_jobs))
    .execute(&mut *conn)
    .await?;
    for chunk in report.charges.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO usage_upload_charges (upload_id, voucher_id, jobs, amount, overage) VALUES {}",
            value_rows(chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for charge in chunk {
            query = query
                .bind(&report.upload_id)
                .bind(&charge.voucher_id)
                .bind(charge.jobs)
                .bind(charge.amount)
                .bind(charge.overage);
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in report.rejected.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO usage_upload_rejections (upload_id, line, kind, reason) VALUES {}",
            value_rows(chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for refused in chunk {
            query = query
                .bind(&report.upload_id)
                .bind(count(refused.line))
                .bind(refused.kind.as_str())
                .bind(&refused.reason);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    /// Uploads newest first: `limit` of them after the upload `before` (a cursor), and how many
    /// there are in all.
    pub async fn usage_uploads(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<UploadRecord>, i64), VouchersError> {
        let (total,) = sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM usage_uploads")
            .fetch_one(self.db.reads())
            .await?;
        // Ids are UUIDv7, so their order is the order they came in.
        let rows: Vec<UploadRow> = match before {
            Some(before) => sqlx::query_as(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM usage_uploads WHERE id < $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(before)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.db.reads())
            .await?,
            None => {
                sqlx::query_as(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM usage_uploads ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(self.db.reads())
                .await?
            }
        };
        Ok((rows.into_iter().map(UploadRecord::from).collect(), total))
    }

    /// One upload with its charges per voucher and its refused lines in line order (the first
    /// [`REFUSED_LINES_SHOWN`]; `rejected_count` counts them all).
    pub async fn usage_upload(&self, id: &str) -> Result<Option<UploadRecord>, VouchersError> {
        let row: Option<UploadRow> = sqlx::query_as(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM usage_uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reads())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut upload = UploadRecord::from(row);
        upload.report.charges = sqlx::query_as::<_, VoucherCharge>(
            "SELECT c.voucher_id, v.code AS voucher_code, c.jobs, c.amount, c.overage FROM usage_upload_charges c \
             JOIN vouchers v ON v.id = c.voucher_id WHERE c.upload_id = $1 ORDER BY v.code",
        )
        .bind(id)
        .fetch_all(self.db.reads())
        .await?;
        upload.report.rejected = sqlx::query_as::<_, (i64, String, String)>(
            "SELECT line, kind, reason FROM usage_upload_rejections WHERE upload_id = $1 ORDER BY line LIMIT $2",
        )
        .bind(id)
        .bind(REFUSED_LINES_SHOWN)
        .fetch_all(self.db.reads())
        .await?
        .into_iter()
        .map(|(line, kind, reason)| {
            Ok(RejectedLine {
                line: usize::try_from(line).unwrap_or(0),
                kind: LineRefusal::try_from(kind)
                    .map_err(|e| VouchersError::Internal(e.to_string()))?,
                reason,
            })
        })
        .collect::<Result<_, VouchersError>>()?;
        Ok(Some(upload))
    }
}
