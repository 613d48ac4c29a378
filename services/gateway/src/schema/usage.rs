//! Metered usage as operators read it back: what an ingested sacct file charged (per voucher)
//! and refused, and the history of uploads. The vouchers service keeps the history and decides
//! who may read it (operators and admins).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use axv_platform::ErrorCode;
use axv_proto::vouchers::v1 as pb;

use super::{
    connection::{check_cursor, connection, page_size},
    onboarding::{User, user_for, user_name},
    scalars::{DateTime, Long},
    support::{internal, mirror_enum},
    vouchers::{Voucher, load_voucher},
};
use crate::errors::error;

mirror_enum!(
    LineRefusal,
    pb::LineRefusal {
        Malformed,
        UnknownVoucher,
        NotGpuVoucher,
        VoucherNotSpendable,
        CompanyNotInGoodStanding
    }
);

#[derive(SimpleObject, Clone, Debug)]
pub struct RejectedLine {
    /// 1-based line number in the submitted text.
    pub line: i32,
    /// What is wrong with the line, in words, with its particulars (English).
    pub reason: String,
    /// Why the line was not charged, for a reader to say in its own language.
    pub kind: LineRefusal,
}

fn rejected_lines(lines: &[pb::RejectedLine]) -> Result<Vec<RejectedLine>> {
    lines
        .iter()
        .map(|l| {
            Ok(RejectedLine {
                line: l.line,
                reason: l.reason.clone(),
                kind: LineRefusal::from_pb(l.kind)
                    .ok_or_else(|| internal("a refused line without its kind"))?,
            })
        })
        .collect()
}

/// What an ingested sacct file did.
#[derive(Clone, Debug)]
pub struct UsageIngestReport(pub pb::IngestSacctResponse);

#[Object]
impl UsageIngestReport {
    async fn accepted(&self) -> i32 {
        self.0.accepted
    }
    /// Jobs recorded before (or twice in the text); charged once.
    async fn duplicates(&self) -> i32 {
        self.0.duplicates
    }
    async fn rejected(&self) -> Result<Vec<RejectedLine>> {
        rejected_lines(&self.0.rejected)
    }
    /// Total charged by the accepted lines.
    async fn amount(&self) -> Long {
        Long(self.0.amount)
    }
    /// Lines not chargeable: job steps, running or pending jobs, jobs without GPUs.
    async fn skipped(&self) -> i32 {
        self.0.skipped
    }
    /// Usage of accepted jobs beyond their vouchers' balances: recorded as each voucher's
    /// overage, not charged (not in `amount`).
    async fn overage(&self) -> Long {
        Long(self.0.overage)
    }
    /// Accepted jobs charged only in part, or not at all, for want of balance.
    async fn overage_jobs(&self) -> i32 {
        self.0.overage_jobs
    }
    /// The upload in the history (`usageUpload(id)`).
    async fn upload_id(&self) -> ID {
        ID(self.0.upload_id.clone())
    }
    /// What the accepted jobs charged, per voucher.
    async fn charges(&self) -> Vec<VoucherCharge> {
        self.0.charges.iter().cloned().map(VoucherCharge).collect()
    }
}

/// What one upload's accepted jobs charged to one voucher.
#[derive(Clone, Debug)]
pub struct VoucherCharge(pb::VoucherCharge);

#[Object]
impl VoucherCharge {
    async fn voucher(&self, ctx: &Context<'_>) -> Result<Voucher> {
        load_voucher(ctx, &self.0.voucher_id)
            .await?
            .ok_or_else(|| error(ErrorCode::NotFound, "voucher not found"))
    }
    /// Jobs charged to it.
    async fn jobs(&self) -> i32 {
        self.0.jobs
    }
    /// Charged to the voucher, in its unit (GPU-seconds).
    async fn amount(&self) -> Long {
        Long(self.0.amount)
    }
    /// Used beyond its balance, kept as its overage.
    async fn overage(&self) -> Long {
        Long(self.0.overage)
    }
}

/// One sacct file as the history keeps it.
#[derive(Clone, Debug)]
pub struct UsageUpload {
    upload: pb::UsageUpload,
    /// Whether `upload` came with its refused lines and charges (one upload read), not only its
    /// counts (a listing).
    whole: bool,
}

impl UsageUpload {
    fn report(&self) -> Option<&pb::IngestSacctResponse> {
        self.upload.report.as_ref()
    }

    /// The upload with its lines and charges: this one, or read again when it came from a listing.
    async fn whole(&self, ctx: &Context<'_>) -> Result<pb::IngestSacctResponse> {
        if self.whole {
            return Ok(self.report().cloned().unwrap_or_default());
        }
        let response = call!(
            ctx,
            vouchers.get_usage_upload(pb::GetUsageUploadRequest {
                id: self.upload.id.clone(),
            })
        )?;
        Ok(response.upload.and_then(|u| u.report).unwrap_or_default())
    }
}

#[Object]
impl UsageUpload {
    async fn id(&self) -> ID {
        ID(self.upload.id.clone())
    }
    /// The cluster the jobs ran on.
    async fn cluster(&self) -> &str {
        &self.upload.cluster
    }
    async fn uploaded_at(&self) -> DateTime {
        DateTime::from_millis(self.upload.uploaded_at_ms)
    }
    /// Who sent it: a person's id, or an API client's subject.
    async fn uploaded_by(&self) -> ID {
        ID(self.upload.uploaded_by.clone())
    }
    /// The sender's name when a person sent it; `null` for an API client.
    async fn uploaded_by_name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        user_name(ctx, &self.upload.uploaded_by).await
    }
    /// Who sent it, with name and role: a person, or an API client by its subject.
    async fn uploaded_by_user(&self, ctx: &Context<'_>) -> Result<User> {
        user_for(ctx, &self.upload.uploaded_by, "OPERATOR").await
    }
    async fn accepted(&self) -> i32 {
        self.report().map_or(0, |r| r.accepted)
    }
    async fn duplicates(&self) -> i32 {
        self.report().map_or(0, |r| r.duplicates)
    }
    async fn skipped(&self) -> i32 {
        self.report().map_or(0, |r| r.skipped)
    }
    /// Total charged, in GPU-seconds.
    async fn amount(&self) -> Long {
        Long(self.report().map_or(0, |r| r.amount))
    }
    async fn overage(&self) -> Long {
        Long(self.report().map_or(0, |r| r.overage))
    }
    async fn overage_jobs(&self) -> i32 {
        self.report().map_or(0, |r| r.overage_jobs)
    }
    /// How many lines were refused.
    async fn rejected_count(&self) -> i32 {
        self.upload.rejected_count
    }
    /// The refused lines in line order, the first 1,000 of them (`rejectedCount` counts all).
    /// Read per upload: ask for it on one upload, not on a long listing.
    #[graphql(complexity = "50 * child_complexity")]
    async fn rejected(&self, ctx: &Context<'_>) -> Result<Vec<RejectedLine>> {
        rejected_lines(&self.whole(ctx).await?.rejected)
    }
    /// What the accepted jobs charged, per voucher.
    #[graphql(complexity = "50 * child_complexity")]
    async fn charges(&self, ctx: &Context<'_>) -> Result<Vec<VoucherCharge>> {
        Ok(self
            .whole(ctx)
            .await?
            .charges
            .into_iter()
            .map(VoucherCharge)
            .collect())
    }
}

connection!(UsageUploadConnection, UsageUploadEdge, UsageUpload);

#[derive(Default)]
pub struct UsageQuery;

#[Object]
impl UsageQuery {
    /// Operators and admins: the sacct files charged so far, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn usage_uploads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UsageUploadConnection> {
        let size = page_size(first)?;
        check_cursor(after.as_deref())?;
        let response = call!(
            ctx,
            vouchers.list_usage_uploads(pb::ListUsageUploadsRequest {
                page_size: size,
                page_token: after.unwrap_or_default(),
            })
        )?;
        let nodes = response
            .uploads
            .into_iter()
            .map(|upload| {
                (
                    upload.id.clone(),
                    UsageUpload {
                        upload,
                        whole: false,
                    },
                )
            })
            .collect();
        Ok(UsageUploadConnection::from_page(
            nodes,
            response.next_page_token,
            response.total_count,
        ))
    }

    /// Operators and admins: one upload with its charges and every refused line.
    async fn usage_upload(&self, ctx: &Context<'_>, id: ID) -> Result<Option<UsageUpload>> {
        let response = call!(
            ctx,
            vouchers.get_usage_upload(pb::GetUsageUploadRequest { id: id.0 })
        )?;
        Ok(response.upload.map(|upload| UsageUpload {
            upload,
            whole: true,
        }))
    }
}
