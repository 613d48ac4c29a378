//! The tonic service: maps protobuf to the use cases in `service` and errors to `Status`.

use std::time::Duration;

use axv_auth::caller;
use axv_platform::pagination::PageRequest;
use axv_proto::{common::v1::Sector, vouchers::v1 as pb};
use tonic::{Request, Response, Status};

use crate::{
    domain::{ApplicationStatus, FundingSource, LineRefusal, ResourceKind, VoucherStatus},
    error::VouchersError,
    service::{PoolInput, ProgramInput, Vouchers},
    store::{
        ApplicationFilter, ApplicationRecord, PoolRecord, ProgramRecord, VoucherFilter,
        VoucherRecord,
        spend::{HoldRecord, IngestReport, UsageInput},
        uploads::UploadRecord,
    },
};

/// The largest request accepted (sacct batches); other RPCs are far smaller.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub struct VouchersGrpc {
    service: Vouchers,
}

impl VouchersGrpc {
    pub fn new(service: Vouchers) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::vouchers_service_server::VouchersServiceServer<Self> {
        // A week of Slurm accounting for a busy cluster runs to tens of megabytes.
        pb::vouchers_service_server::VouchersServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }
}

pub fn kind_to_pb(kind: ResourceKind) -> pb::ResourceKind {
    match kind {
        ResourceKind::GpuH100 => pb::ResourceKind::GpuH100,
        ResourceKind::Npu => pb::ResourceKind::Npu,
        ResourceKind::Storage => pb::ResourceKind::Storage,
    }
}

fn kind_from_pb(value: i32) -> Option<ResourceKind> {
    match pb::ResourceKind::try_from(value).ok()? {
        pb::ResourceKind::GpuH100 => Some(ResourceKind::GpuH100),
        pb::ResourceKind::Npu => Some(ResourceKind::Npu),
        pb::ResourceKind::Storage => Some(ResourceKind::Storage),
        pb::ResourceKind::Unspecified => None,
    }
}

fn funding_from_pb(value: i32) -> Option<FundingSource> {
    match pb::FundingSource::try_from(value).ok()? {
        pb::FundingSource::National => Some(FundingSource::National),
        pb::FundingSource::City => Some(FundingSource::City),
        pb::FundingSource::Private => Some(FundingSource::Private),
        pb::FundingSource::Unspecified => None,
    }
}

fn funding_to_pb(funding: FundingSource) -> pb::FundingSource {
    match funding {
        FundingSource::National => pb::FundingSource::National,
        FundingSource::City => pb::FundingSource::City,
        FundingSource::Private => pb::FundingSource::Private,
    }
}

fn application_status_to_pb(status: ApplicationStatus) -> pb::ApplicationStatus {
    match status {
        ApplicationStatus::Submitted => pb::ApplicationStatus::Submitted,
        ApplicationStatus::Approved => pb::ApplicationStatus::Approved,
        ApplicationStatus::Rejected => pb::ApplicationStatus::Rejected,
        ApplicationStatus::Withdrawn => pb::ApplicationStatus::Withdrawn,
    }
}

fn application_status_from_pb(value: i32) -> Result<ApplicationStatus, VouchersError> {
    match pb::ApplicationStatus::try_from(value) {
        Ok(pb::ApplicationStatus::Submitted) => Ok(ApplicationStatus::Submitted),
        Ok(pb::ApplicationStatus::Approved) => Ok(ApplicationStatus::Approved),
        Ok(pb::ApplicationStatus::Rejected) => Ok(ApplicationStatus::Rejected),
        Ok(pb::ApplicationStatus::Withdrawn) => Ok(ApplicationStatus::Withdrawn),
        _ => Err(VouchersError::invalid(
            "filter.statuses",
            "has an unknown status",
        )),
    }
}

fn voucher_status_to_pb(status: VoucherStatus) -> pb::VoucherStatus {
    match status {
        VoucherStatus::Active => pb::VoucherStatus::Active,
        VoucherStatus::Exhausted => pb::VoucherStatus::Exhausted,
        VoucherStatus::Expired => pb::VoucherStatus::Expired,
        VoucherStatus::Revoked => pb::VoucherStatus::Revoked,
        VoucherStatus::Frozen => pb::VoucherStatus::Frozen,
    }
}

fn voucher_status_from_pb(value: i32) -> Result<VoucherStatus, VouchersError> {
    match pb::VoucherStatus::try_from(value) {
        Ok(pb::VoucherStatus::Active) => Ok(VoucherStatus::Active),
        Ok(pb::VoucherStatus::Exhausted) => Ok(VoucherStatus::Exhausted),
        Ok(pb::VoucherStatus::Expired) => Ok(VoucherStatus::Expired),
        Ok(pb::VoucherStatus::Revoked) => Ok(VoucherStatus::Revoked),
        Ok(pb::VoucherStatus::Frozen) => Ok(VoucherStatus::Frozen),
        _ => Err(VouchersError::invalid(
            "filter.statuses",
            "has an unknown status",
        )),
    }
}

fn pool_to_pb(pool: PoolRecord) -> pb::ResourcePool {
    pb::ResourcePool {
        id: pool.id,
        name: pool.name,
        kind: kind_to_pb(pool.kind).into(),
        unit: pool.unit,
        capacity: pool.capacity,
        committed: pool.committed,
        consumed: pool.consumed,
        available: pool.available,
        funding: funding_to_pb(pool.funding).into(),
        valid_from: pool.valid_from.to_string(),
        valid_until: pool.valid_until.to_string(),
    }
}

fn program_to_pb(program: ProgramRecord) -> pb::Program {
    pb::Program {
        id: program.id,
        name: program.name,
        pool_id: program.pool_id,
        opens_on: program.opens_on.to_string(),
        closes_on: program.closes_on.to_string(),
        max_per_company: program.max_per_company,
        sectors: program
            .sectors
            .iter()
            .map(|s| Sector::value_of(s))
            .collect(),
    }
}

fn application_to_pb(a: ApplicationRecord) -> pb::Application {
    pb::Application {
        id: a.id,
        program_id: a.program_id,
        company_id: a.company_id,
        requested_amount: a.requested_amount,
        justification: a.justification,
        pilot_id: a.pilot_id,
        status: application_status_to_pb(a.status).into(),
        voucher_id: a.voucher_id,
        decision_note: a.decision_note,
        created_at_ms: a.created_at,
        decided_at_ms: a.decided_at.unwrap_or(0),
    }
}

fn voucher_to_pb(v: VoucherRecord) -> pb::Voucher {
    pb::Voucher {
        id: v.id,
        code: v.code,
        company_id: v.company_id,
        pilot_id: v.pilot_id,
        program_id: v.program_id,
        pool_id: v.pool_id,
        kind: kind_to_pb(v.kind).into(),
        granted: v.granted,
        held: v.held,
        consumed: v.consumed,
        balance: v.balance,
        valid_from: v.valid_from.to_string(),
        valid_until: v.valid_until.to_string(),
        status: voucher_status_to_pb(v.status).into(),
        overage: v.overage,
    }
}

fn hold_to_pb(h: HoldRecord) -> pb::Hold {
    pb::Hold {
        id: h.id,
        voucher_id: h.voucher_id,
        amount: h.amount,
        state: h.state.as_str().to_owned(),
        expires_at_ms: h.expires_at,
        committed_amount: h.committed_amount,
    }
}

/// The most a streamed sacct file may hold, uncompressed: a month of a large cluster's jobs is
/// a few tens of megabytes.
pub const MAX_SACCT_BYTES: usize = 512 * 1024 * 1024;

fn refusal_to_pb(kind: LineRefusal) -> pb::LineRefusal {
    match kind {
        LineRefusal::Malformed => pb::LineRefusal::Malformed,
        LineRefusal::UnknownVoucher => pb::LineRefusal::UnknownVoucher,
        LineRefusal::NotGpuVoucher => pb::LineRefusal::NotGpuVoucher,
        LineRefusal::VoucherNotSpendable => pb::LineRefusal::VoucherNotSpendable,
        LineRefusal::CompanyNotInGoodStanding => pb::LineRefusal::CompanyNotInGoodStanding,
    }
}

fn ingest_report_to_pb(report: IngestReport) -> pb::IngestSacctResponse {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    pb::IngestSacctResponse {
        accepted: count(report.accepted),
        duplicates: count(report.duplicates),
        rejected: report
            .rejected
            .into_iter()
            .map(|r| pb::RejectedLine {
                line: count(r.line),
                reason: r.reason,
                kind: refusal_to_pb(r.kind).into(),
            })
            .collect(),
        amount: report.amount,
        skipped: count(report.skipped),
        overage: report.overage,
        overage_jobs: count(report.overage_jobs),
        upload_id: report.upload_id,
        charges: report
            .charges
            .into_iter()
            .map(|c| pb::VoucherCharge {
                voucher_id: c.voucher_id,
                voucher_code: c.voucher_code,
                jobs: i32::try_from(c.jobs).unwrap_or(i32::MAX),
                amount: c.amount,
                overage: c.overage,
            })
            .collect(),
    }
}

fn upload_to_pb(upload: UploadRecord) -> pb::UsageUpload {
    pb::UsageUpload {
        id: upload.id,
        cluster: upload.cluster,
        uploaded_by: upload.uploaded_by,
        uploaded_at_ms: upload.uploaded_at,
        rejected_count: i32::try_from(upload.rejected_count).unwrap_or(i32::MAX),
        report: Some(ingest_report_to_pb(upload.report)),
    }
}

fn paging(size: i32, token: &str) -> Result<PageRequest, VouchersError> {
    PageRequest::parse(size, token).map_err(|e| VouchersError::invalid(e.field(), e.to_string()))
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::vouchers_service_server::VouchersService for VouchersGrpc {
    async fn create_resource_pool(
        &self,
        request: Request<pb::CreateResourcePoolRequest>,
    ) -> Reply<pb::CreateResourcePoolResponse> {
        let r = request.get_ref();
        let pool = self
            .service
            .create_pool(
                caller(&request),
                PoolInput {
                    name: r.name.clone(),
                    kind: kind_from_pb(r.kind),
                    capacity: r.capacity,
                    funding: funding_from_pb(r.funding),
                    valid_from: r.valid_from.clone(),
                    valid_until: r.valid_until.clone(),
                },
            )
            .await?;
        Ok(Response::new(pb::CreateResourcePoolResponse {
            pool: Some(pool_to_pb(pool)),
        }))
    }

    async fn list_resource_pools(
        &self,
        _request: Request<pb::ListResourcePoolsRequest>,
    ) -> Reply<pb::ListResourcePoolsResponse> {
        let pools = self.service.pools(None).await?;
        Ok(Response::new(pb::ListResourcePoolsResponse {
            pools: pools.into_iter().map(pool_to_pb).collect(),
        }))
    }

    async fn batch_get_resource_pools(
        &self,
        request: Request<pb::BatchGetResourcePoolsRequest>,
    ) -> Reply<pb::BatchGetResourcePoolsResponse> {
        let pools = self.service.pools(Some(&request.get_ref().ids)).await?;
        Ok(Response::new(pb::BatchGetResourcePoolsResponse {
            pools: pools.into_iter().map(pool_to_pb).collect(),
        }))
    }

    async fn create_program(
        &self,
        request: Request<pb::CreateProgramRequest>,
    ) -> Reply<pb::CreateProgramResponse> {
        let r = request.get_ref();
        let program = self
            .service
            .create_program(
                caller(&request),
                ProgramInput {
                    pool_id: r.pool_id.clone(),
                    name: r.name.clone(),
                    opens_on: r.opens_on.clone(),
                    closes_on: r.closes_on.clone(),
                    max_per_company: r.max_per_company,
                    sectors: r.sectors.clone(),
                },
            )
            .await?;
        Ok(Response::new(pb::CreateProgramResponse {
            program: Some(program_to_pb(program)),
        }))
    }

    async fn list_programs(
        &self,
        _request: Request<pb::ListProgramsRequest>,
    ) -> Reply<pb::ListProgramsResponse> {
        let programs = self.service.programs(None).await?;
        Ok(Response::new(pb::ListProgramsResponse {
            programs: programs.into_iter().map(program_to_pb).collect(),
        }))
    }

    async fn batch_get_programs(
        &self,
        request: Request<pb::BatchGetProgramsRequest>,
    ) -> Reply<pb::BatchGetProgramsResponse> {
        let programs = self.service.programs(Some(&request.get_ref().ids)).await?;
        Ok(Response::new(pb::BatchGetProgramsResponse {
            programs: programs.into_iter().map(program_to_pb).collect(),
        }))
    }

    async fn apply_for_voucher(
        &self,
        request: Request<pb::ApplyForVoucherRequest>,
    ) -> Reply<pb::ApplyForVoucherResponse> {
        let r = request.get_ref();
        let application = self
            .service
            .apply(
                caller(&request),
                &r.program_id,
                &r.company_id,
                r.requested_amount,
                &r.justification,
                r.pilot_id.clone(),
            )
            .await?;
        Ok(Response::new(pb::ApplyForVoucherResponse {
            application: Some(application_to_pb(application)),
        }))
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Reply<pb::WithdrawApplicationResponse> {
        let application = self
            .service
            .withdraw(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::WithdrawApplicationResponse {
            application: Some(application_to_pb(application)),
        }))
    }

    async fn approve_application(
        &self,
        request: Request<pb::ApproveApplicationRequest>,
    ) -> Reply<pb::ApproveApplicationResponse> {
        let r = request.get_ref();
        let (application, voucher) = self
            .service
            .approve(caller(&request), &r.id, r.granted_amount, r.note.as_deref())
            .await?;
        Ok(Response::new(pb::ApproveApplicationResponse {
            application: Some(application_to_pb(application)),
            voucher: Some(voucher_to_pb(voucher)),
        }))
    }

    async fn reject_application(
        &self,
        request: Request<pb::RejectApplicationRequest>,
    ) -> Reply<pb::RejectApplicationResponse> {
        let r = request.get_ref();
        let application = self
            .service
            .reject(caller(&request), &r.id, &r.note)
            .await?;
        Ok(Response::new(pb::RejectApplicationResponse {
            application: Some(application_to_pb(application)),
        }))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Reply<pb::ListApplicationsResponse> {
        let r = request.get_ref();
        let f = r.filter.clone().unwrap_or_default();
        let filter = ApplicationFilter {
            statuses: f
                .statuses
                .into_iter()
                .map(application_status_from_pb)
                .collect::<Result<_, _>>()?,
            company_ids: f.company_id.map(|c| vec![c]),
            program_id: f.program_id,
        };
        let page = paging(r.page_size, &r.page_token)?;
        let (rows, total) = self
            .service
            .applications(caller(&request), filter, &page)
            .await?;
        let (rows, next_page_token) = page.finish(rows, |a| &a.id);
        Ok(Response::new(pb::ListApplicationsResponse {
            applications: rows.into_iter().map(application_to_pb).collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Reply<pb::GetApplicationResponse> {
        let application = self
            .service
            .application(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::GetApplicationResponse {
            application: Some(application_to_pb(application)),
        }))
    }

    async fn get_voucher(
        &self,
        request: Request<pb::GetVoucherRequest>,
    ) -> Reply<pb::GetVoucherResponse> {
        let voucher = self
            .service
            .voucher(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::GetVoucherResponse {
            voucher: Some(voucher_to_pb(voucher)),
        }))
    }

    async fn list_vouchers(
        &self,
        request: Request<pb::ListVouchersRequest>,
    ) -> Reply<pb::ListVouchersResponse> {
        let r = request.get_ref();
        let f = r.filter.clone().unwrap_or_default();
        let filter = VoucherFilter {
            statuses: f
                .statuses
                .into_iter()
                .map(voucher_status_from_pb)
                .collect::<Result<_, _>>()?,
            company_ids: (!f.company_ids.is_empty()).then_some(f.company_ids),
            program_id: f.program_id,
            pilot_id: f.pilot_id,
        };
        let page = paging(r.page_size, &r.page_token)?;
        let (rows, total) = self
            .service
            .vouchers(caller(&request), filter, &page)
            .await?;
        let (rows, next_page_token) = page.finish(rows, |v| &v.id);
        Ok(Response::new(pb::ListVouchersResponse {
            vouchers: rows.into_iter().map(voucher_to_pb).collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn batch_get_vouchers(
        &self,
        request: Request<pb::BatchGetVouchersRequest>,
    ) -> Reply<pb::BatchGetVouchersResponse> {
        let vouchers = self
            .service
            .vouchers_by_ids(caller(&request), &request.get_ref().ids)
            .await?;
        Ok(Response::new(pb::BatchGetVouchersResponse {
            vouchers: vouchers.into_iter().map(voucher_to_pb).collect(),
        }))
    }

    async fn list_company_vouchers(
        &self,
        request: Request<pb::ListCompanyVouchersRequest>,
    ) -> Reply<pb::ListCompanyVouchersResponse> {
        let r = request.get_ref();
        let per_company = usize::try_from(r.per_company).unwrap_or(0).max(1);
        let (vouchers, totals) = self
            .service
            .vouchers_of_companies(caller(&request), &r.company_ids, per_company)
            .await?;
        Ok(Response::new(pb::ListCompanyVouchersResponse {
            vouchers: vouchers.into_iter().map(voucher_to_pb).collect(),
            totals: totals.into_iter().collect(),
        }))
    }

    async fn list_pilot_vouchers(
        &self,
        request: Request<pb::ListPilotVouchersRequest>,
    ) -> Reply<pb::ListPilotVouchersResponse> {
        let vouchers = self
            .service
            .vouchers_of_pilots(caller(&request), &request.get_ref().pilot_ids)
            .await?;
        Ok(Response::new(pb::ListPilotVouchersResponse {
            vouchers: vouchers.into_iter().map(voucher_to_pb).collect(),
        }))
    }

    async fn revoke_voucher(
        &self,
        request: Request<pb::RevokeVoucherRequest>,
    ) -> Reply<pb::RevokeVoucherResponse> {
        let r = request.get_ref();
        let voucher = self
            .service
            .revoke(caller(&request), &r.id, &r.note)
            .await?;
        Ok(Response::new(pb::RevokeVoucherResponse {
            voucher: Some(voucher_to_pb(voucher)),
        }))
    }

    async fn voucher_consumption(
        &self,
        request: Request<pb::VoucherConsumptionRequest>,
    ) -> Reply<pb::VoucherConsumptionResponse> {
        let r = request.get_ref();
        let rows = self
            .service
            .consumption(caller(&request), &r.voucher_ids, r.from_ms, r.until_ms)
            .await?;
        Ok(Response::new(pb::VoucherConsumptionResponse {
            vouchers: rows
                .into_iter()
                .map(|c| pb::VoucherConsumption {
                    voucher_id: c.voucher_id,
                    consumed: c.consumed,
                    overage: c.overage,
                })
                .collect(),
        }))
    }

    async fn list_ledger_entries(
        &self,
        request: Request<pb::ListLedgerEntriesRequest>,
    ) -> Reply<pb::ListLedgerEntriesResponse> {
        let r = request.get_ref();
        let page = paging(r.page_size, &r.page_token)?;
        let (rows, total) = self
            .service
            .ledger(caller(&request), &r.voucher_id, &page)
            .await?;
        let (rows, next_page_token) = page.finish(rows, |e| &e.id);
        Ok(Response::new(pb::ListLedgerEntriesResponse {
            entries: rows
                .into_iter()
                .map(|e| pb::LedgerEntry {
                    id: e.id,
                    at_ms: e.at,
                    kind: e.kind,
                    amount: e.amount,
                    balance_after: e.balance_after,
                    reference: e.reference,
                })
                .collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Reply<pb::RecordUsageResponse> {
        let r = request.get_ref();
        let outcome = self
            .service
            .record_usage(
                caller(&request),
                UsageInput {
                    cluster: &r.cluster,
                    job_id: &r.job_id,
                    voucher_code: &r.voucher_code,
                    amount: r.amount,
                    started_at: (r.started_at_ms != 0).then_some(r.started_at_ms),
                    ended_at: (r.ended_at_ms != 0).then_some(r.ended_at_ms),
                },
            )
            .await?;
        Ok(Response::new(pb::RecordUsageResponse {
            id: outcome.id,
            voucher_id: outcome.voucher_id,
            amount: outcome.amount,
            duplicate: outcome.duplicate,
            overage: outcome.overage,
        }))
    }

    async fn ingest_sacct(
        &self,
        request: Request<pb::IngestSacctRequest>,
    ) -> Reply<pb::IngestSacctResponse> {
        let r = request.get_ref();
        let report = self
            .service
            .ingest(caller(&request), &r.cluster, &r.sacct)
            .await?;
        Ok(Response::new(ingest_report_to_pb(report)))
    }

    async fn list_usage_uploads(
        &self,
        request: Request<pb::ListUsageUploadsRequest>,
    ) -> Reply<pb::ListUsageUploadsResponse> {
        let r = request.get_ref();
        let page = paging(r.page_size, &r.page_token)?;
        let (uploads, total) = self.service.usage_uploads(caller(&request), &page).await?;
        let (uploads, next_page_token) = page.finish(uploads, |u| &u.id);
        Ok(Response::new(pb::ListUsageUploadsResponse {
            uploads: uploads.into_iter().map(upload_to_pb).collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn get_usage_upload(
        &self,
        request: Request<pb::GetUsageUploadRequest>,
    ) -> Reply<pb::GetUsageUploadResponse> {
        let upload = self
            .service
            .usage_upload(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::GetUsageUploadResponse {
            upload: Some(upload_to_pb(upload)),
        }))
    }

    async fn ingest_sacct_stream(
        &self,
        request: Request<tonic::Streaming<pb::IngestSacctChunk>>,
    ) -> Reply<pb::IngestSacctResponse> {
        let who = caller(&request).cloned();
        let mut chunks = request.into_inner();
        let first = chunks
            .message()
            .await?
            .ok_or_else(|| VouchersError::invalid("sacct", "the upload is empty"))?;
        let cluster = first.cluster.clone();
        // Refused before reading the rest.
        Vouchers::may_ingest(who.as_ref(), &cluster)?;
        let mut reader = crate::sacct::SacctReader::default();
        let sacct_error =
            |e: crate::sacct::SacctError| VouchersError::invalid("sacct", e.to_string());
        let mut received = first.data.len();
        let mut complete = first.complete;
        reader.push_bytes(&first.data).map_err(sacct_error)?;
        while let Some(chunk) = chunks.message().await? {
            complete |= chunk.complete;
            received = received.saturating_add(chunk.data.len());
            if received > MAX_SACCT_BYTES {
                return Err(VouchersError::invalid(
                    "sacct",
                    format!(
                        "is over {} MiB; split the file",
                        MAX_SACCT_BYTES / (1024 * 1024)
                    ),
                )
                .into());
            }
            reader.push_bytes(&chunk.data).map_err(sacct_error)?;
        }
        if !complete {
            return Err(VouchersError::invalid(
                "sacct",
                "the upload ended before the end of the file; nothing was charged",
            )
            .into());
        }
        let parsed = reader.finish().map_err(sacct_error)?;
        let report = self
            .service
            .ingest_read(who.as_ref(), &cluster, parsed)
            .await?;
        Ok(Response::new(ingest_report_to_pb(report)))
    }

    async fn create_hold(
        &self,
        request: Request<pb::CreateHoldRequest>,
    ) -> Reply<pb::CreateHoldResponse> {
        let r = request.get_ref();
        let job = (!r.cluster.is_empty() && !r.job_id.is_empty())
            .then_some((r.cluster.as_str(), r.job_id.as_str()));
        let timeout = Duration::from_secs(u64::try_from(r.timeout_secs).unwrap_or(0));
        let hold = self
            .service
            .create_hold(
                caller(&request),
                &r.hold_id,
                &r.voucher_code,
                r.amount,
                timeout,
                job,
            )
            .await?;
        Ok(Response::new(pb::CreateHoldResponse {
            hold: Some(hold_to_pb(hold)),
        }))
    }

    async fn commit_hold(
        &self,
        request: Request<pb::CommitHoldRequest>,
    ) -> Reply<pb::CommitHoldResponse> {
        let r = request.get_ref();
        let hold = self
            .service
            .commit_hold(caller(&request), &r.hold_id, r.amount)
            .await?;
        Ok(Response::new(pb::CommitHoldResponse {
            hold: Some(hold_to_pb(hold)),
        }))
    }

    async fn release_hold(
        &self,
        request: Request<pb::ReleaseHoldRequest>,
    ) -> Reply<pb::ReleaseHoldResponse> {
        let hold = self
            .service
            .release_hold(caller(&request), &request.get_ref().hold_id)
            .await?;
        Ok(Response::new(pb::ReleaseHoldResponse {
            hold: Some(hold_to_pb(hold)),
        }))
    }

    async fn export_slurm_accounts(
        &self,
        request: Request<pb::ExportSlurmAccountsRequest>,
    ) -> Reply<pb::ExportSlurmAccountsResponse> {
        let file = self
            .service
            .export_slurm_accounts(caller(&request), &request.get_ref().cluster)
            .await?;
        Ok(Response::new(pb::ExportSlurmAccountsResponse {
            sacctmgr_file: file,
        }))
    }

    async fn voucher_totals(
        &self,
        request: Request<pb::VoucherTotalsRequest>,
    ) -> Reply<pb::VoucherTotalsResponse> {
        let r = request.get_ref();
        let kinds = r
            .kinds
            .iter()
            .map(|k| {
                kind_from_pb(*k)
                    .ok_or_else(|| VouchersError::invalid("kinds", "has an unknown kind"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fundings = r
            .fundings
            .iter()
            .map(|f| {
                funding_from_pb(*f)
                    .ok_or_else(|| VouchersError::invalid("fundings", "has an unknown source"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows = self
            .service
            .voucher_totals(
                caller(&request),
                r.issued_from.as_deref(),
                r.issued_until.as_deref(),
                &kinds,
                &fundings,
            )
            .await?;
        Ok(Response::new(pb::VoucherTotalsResponse {
            rows: rows
                .into_iter()
                .map(|t| pb::VoucherTotalsRow {
                    company_id: t.company_id,
                    quarter_start: t.quarter_start.to_string(),
                    vouchers: t.vouchers,
                    granted: t.granted,
                    consumed: t.consumed,
                    overage: t.overage,
                })
                .collect(),
        }))
    }
}
