//! The vouchers part of the contract: resource pools, programmes, applications, vouchers with
//! their ledgers, and usage metering. The vouchers service decides who may see and do what;
//! resolvers pass the caller's token and map its answers.

use async_graphql::{Context, ID, InputObject, Object, Result, dataloader::DataLoader};
use axv_platform::ErrorCode;
use axv_proto::{common::v1 as common_pb, vouchers::v1 as pb};

use super::{
    connection::{PageAsk, check_cursor, connection, page_size, preloaded_page},
    onboarding::{Company, Sector, require_company},
    scalars::{Date, DateTime, Long},
    support::{date, date_text, internal, mirror_enum},
    usage::UsageIngestReport,
};
use crate::{
    errors::error,
    loaders::{CompanyVouchersLoader, PoolLoader, ProgramLoader, VoucherLoader},
};

mirror_enum!(
    ResourceKind,
    pb::ResourceKind {
        GpuH100,
        Npu,
        Storage
    }
);
mirror_enum!(
    FundingSource,
    pb::FundingSource {
        National,
        City,
        Private
    }
);
mirror_enum!(
    VoucherApplicationStatus,
    pb::ApplicationStatus {
        Submitted,
        Approved,
        Rejected,
        Withdrawn
    }
);
mirror_enum!(
    VoucherStatus,
    pb::VoucherStatus {
        Active,
        Exhausted,
        Expired,
        Revoked,
        Frozen
    }
);

async fn load_program(ctx: &Context<'_>, id: &str) -> Result<VoucherProgram> {
    ctx.data::<DataLoader<ProgramLoader>>()?
        .load_one(id.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .map(VoucherProgram)
        .ok_or_else(|| internal("missing programme"))
}

pub(super) async fn load_voucher(ctx: &Context<'_>, id: &str) -> Result<Option<Voucher>> {
    Ok(ctx
        .data::<DataLoader<VoucherLoader>>()?
        .load_one(id.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .map(Voucher))
}

/// A pool of the data center's capacity; amounts in `unit`.
#[derive(Clone, Debug)]
pub struct ResourcePool(pub pb::ResourcePool);

#[Object]
impl ResourcePool {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> Result<ResourceKind> {
        ResourceKind::from_pb(self.0.kind).ok_or_else(|| internal("kind"))
    }
    /// "GPU-second", "NPU-second" or "GB-day".
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    async fn capacity(&self) -> Long {
        Long(self.0.capacity)
    }
    /// Granted to vouchers and not returned.
    async fn committed(&self) -> Long {
        Long(self.0.committed)
    }
    async fn consumed(&self) -> Long {
        Long(self.0.consumed)
    }
    async fn available(&self) -> Long {
        Long(self.0.available)
    }
    async fn funding(&self) -> Result<FundingSource> {
        FundingSource::from_pb(self.0.funding).ok_or_else(|| internal("funding"))
    }
    async fn valid_from(&self) -> Result<Date> {
        date(&self.0.valid_from, "validFrom")
    }
    async fn valid_until(&self) -> Result<Date> {
        date(&self.0.valid_until, "validUntil")
    }
}

/// A call firms apply to, drawing on one pool.
#[derive(Clone, Debug)]
pub struct VoucherProgram(pub pb::Program);

#[Object]
impl VoucherProgram {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn pool(&self, ctx: &Context<'_>) -> Result<ResourcePool> {
        ctx.data::<DataLoader<PoolLoader>>()?
            .load_one(self.0.pool_id.clone())
            .await
            .map_err(|e| (*e).clone())?
            .map(ResourcePool)
            .ok_or_else(|| internal("missing pool"))
    }
    async fn opens_on(&self) -> Result<Date> {
        date(&self.0.opens_on, "opensOn")
    }
    async fn closes_on(&self) -> Result<Date> {
        date(&self.0.closes_on, "closesOn")
    }
    async fn max_per_company(&self) -> Long {
        Long(self.0.max_per_company)
    }
    /// The industries that may apply; empty means every one.
    async fn sectors(&self) -> Vec<Sector> {
        self.0
            .sectors
            .iter()
            .filter_map(|s| Sector::from_pb(*s))
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct VoucherApplication(pub pb::Application);

#[Object]
impl VoucherApplication {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Files attached to it that the caller may read (none for dashboards and anonymous
    /// callers), oldest first.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<super::documents::Document>> {
        super::documents::documents_of(
            ctx,
            super::documents::DocumentParentKind::VoucherApplication,
            &self.0.id,
            "",
        )
        .await
    }
    async fn program(&self, ctx: &Context<'_>) -> Result<VoucherProgram> {
        load_program(ctx, &self.0.program_id).await
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        require_company(ctx, &self.0.company_id).await
    }
    /// The pilot the compute is asked for; null when none, or when the caller may not see it.
    async fn pilot(&self, ctx: &Context<'_>) -> Result<Option<super::pilots::Pilot>> {
        pilot_of(ctx, self.0.pilot_id.as_deref()).await
    }
    async fn requested_amount(&self) -> Long {
        Long(self.0.requested_amount)
    }
    async fn justification(&self) -> &str {
        &self.0.justification
    }
    async fn status(&self) -> Result<VoucherApplicationStatus> {
        VoucherApplicationStatus::from_pb(self.0.status).ok_or_else(|| internal("status"))
    }
    /// The voucher issued on approval.
    async fn voucher(&self, ctx: &Context<'_>) -> Result<Option<Voucher>> {
        match &self.0.voucher_id {
            Some(id) => load_voucher(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The manager's note with the decision.
    async fn decision_note(&self) -> Option<&str> {
        self.0.decision_note.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime::from_millis(self.0.created_at_ms)
    }
    /// Null until approved, rejected or withdrawn.
    async fn decided_at(&self) -> Option<DateTime> {
        (self.0.decided_at_ms != 0).then(|| DateTime::from_millis(self.0.decided_at_ms))
    }
}

/// An application's or a voucher's pilot, through the request's DataLoader.
async fn pilot_of(
    ctx: &Context<'_>,
    pilot_id: Option<&str>,
) -> Result<Option<super::pilots::Pilot>> {
    match pilot_id.filter(|id| !id.is_empty()) {
        Some(id) => super::pilots::load_pilot(ctx, id).await,
        None => Ok(None),
    }
}

/// Compute granted to one company.
#[derive(Clone, Debug)]
pub struct Voucher(pub pb::Voucher);

#[Object]
impl Voucher {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The Slurm account jobs are charged to.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        require_company(ctx, &self.0.company_id).await
    }
    /// The pilot the voucher serves; null when none, or when the caller may not see it.
    async fn pilot(&self, ctx: &Context<'_>) -> Result<Option<super::pilots::Pilot>> {
        pilot_of(ctx, self.0.pilot_id.as_deref()).await
    }
    async fn program(&self, ctx: &Context<'_>) -> Result<VoucherProgram> {
        load_program(ctx, &self.0.program_id).await
    }
    async fn kind(&self) -> Result<ResourceKind> {
        ResourceKind::from_pb(self.0.kind).ok_or_else(|| internal("kind"))
    }
    async fn granted(&self) -> Long {
        Long(self.0.granted)
    }
    /// Reserved for running jobs.
    async fn held(&self) -> Long {
        Long(self.0.held)
    }
    async fn consumed(&self) -> Long {
        Long(self.0.consumed)
    }
    /// What can still be spent: granted - held - consumed while the voucher lives.
    async fn balance(&self) -> Long {
        Long(self.0.balance)
    }
    /// Usage recorded beyond the balance: the jobs ran, the voucher could not pay for the
    /// rest. Never charged (the balance never goes negative); counted in the programme's
    /// consumption figures.
    async fn overage(&self) -> Long {
        Long(self.0.overage)
    }
    async fn valid_from(&self) -> Result<Date> {
        date(&self.0.valid_from, "validFrom")
    }
    async fn valid_until(&self) -> Result<Date> {
        date(&self.0.valid_until, "validUntil")
    }
    async fn status(&self) -> Result<VoucherStatus> {
        VoucherStatus::from_pb(self.0.status).ok_or_else(|| internal("status"))
    }
    /// Every movement of the balance, oldest first. No batch RPC exists for ledgers, so each
    /// voucher's ledger is one call: its fixed weight of 100 lets a query hold a few dozen
    /// ledgers at most within the complexity budget.
    #[graphql(complexity = "100 + first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LedgerEntryConnection> {
        let size = page_size(first)?;
        check_cursor(after.as_deref())?;
        let response = call!(
            ctx,
            vouchers.list_ledger_entries(pb::ListLedgerEntriesRequest {
                voucher_id: self.0.id.clone(),
                page_size: size,
                page_token: after.unwrap_or_default(),
            })
        )?;
        let nodes = response
            .entries
            .into_iter()
            .map(|e| (e.id.clone(), LedgerEntry(e)))
            .collect();
        Ok(LedgerEntryConnection::from_page(
            nodes,
            response.next_page_token,
            response.total_count,
        ))
    }
}

#[derive(Clone, Debug)]
pub struct LedgerEntry(pub pb::LedgerEntry);

#[Object]
impl LedgerEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn at(&self) -> DateTime {
        DateTime::from_millis(self.0.at_ms)
    }
    /// grant, hold, commit, release, debit, expiry or revocation.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// The signed effect on the voucher's spendable balance.
    async fn amount(&self) -> Long {
        Long(self.0.amount)
    }
    async fn balance_after(&self) -> Long {
        Long(self.0.balance_after)
    }
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
}

/// One metered job.
pub struct UsageRecord {
    id: String,
    voucher_id: String,
    amount: i64,
    duplicate: bool,
    overage: i64,
}

#[Object]
impl UsageRecord {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn voucher(&self, ctx: &Context<'_>) -> Result<Voucher> {
        load_voucher(ctx, &self.voucher_id)
            .await?
            .ok_or_else(|| error(ErrorCode::NotFound, "voucher not found"))
    }
    /// Charged to the voucher: the job's usage up to the balance.
    async fn amount(&self) -> Long {
        Long(self.amount)
    }
    /// True when this (cluster, jobId) was recorded before; nothing was charged again.
    async fn duplicate(&self) -> bool {
        self.duplicate
    }
    /// The rest of the job's usage, beyond the balance: recorded as the voucher's overage,
    /// never charged.
    async fn overage(&self) -> Long {
        Long(self.overage)
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct ResourcePoolInput {
    pub name: String,
    pub kind: ResourceKind,
    /// In the kind's base unit (GPU-seconds for GPU pools).
    pub capacity: Long,
    pub funding: FundingSource,
    pub valid_from: Date,
    pub valid_until: Date,
}

#[derive(InputObject, Debug, Clone)]
pub struct VoucherProgramInput {
    pub pool_id: ID,
    pub name: String,
    pub opens_on: Date,
    pub closes_on: Date,
    pub max_per_company: Long,
    /// Omitted or empty: every industry may apply.
    pub sectors: Option<Vec<Sector>>,
}

#[derive(InputObject, Debug, Clone)]
pub struct VoucherApplicationInput {
    pub program_id: ID,
    pub company_id: ID,
    pub requested_amount: Long,
    pub justification: String,
    pub pilot_id: Option<ID>,
}

#[derive(InputObject, Debug, Clone)]
pub struct UsageInput {
    pub cluster: String,
    pub job_id: String,
    pub voucher_code: String,
    pub amount: Long,
    pub started_at: DateTime,
    pub ended_at: DateTime,
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct VoucherApplicationFilter {
    pub statuses: Option<Vec<VoucherApplicationStatus>>,
    pub company_id: Option<ID>,
    pub program_id: Option<ID>,
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct VoucherFilter {
    pub statuses: Option<Vec<VoucherStatus>>,
    pub company_ids: Option<Vec<ID>>,
    pub program_id: Option<ID>,
}

connection!(
    VoucherApplicationConnection,
    VoucherApplicationEdge,
    VoucherApplication
);
connection!(VoucherConnection, VoucherEdge, Voucher);
connection!(LedgerEntryConnection, LedgerEntryEdge, LedgerEntry);

/// `Company.vouchers`: pages within the company's first vouchers loaded for the whole level in
/// one call; only a page reaching past them asks the service for that company alone.
pub(crate) async fn company_vouchers(
    ctx: &Context<'_>,
    company_id: &str,
    first: Option<i32>,
    after: Option<String>,
) -> Result<VoucherConnection> {
    let ask = PageAsk::parse(first, after.as_deref())?;
    let loaded = ctx
        .data::<DataLoader<CompanyVouchersLoader>>()?
        .load_one(company_id.to_owned())
        .await
        .map_err(|e| (*e).clone())?
        .unwrap_or_default();
    match preloaded_page(loaded.vouchers, loaded.total, |v| &v.id, &ask) {
        Some(page) => Ok(page.connection(Voucher, VoucherConnection::from_page)),
        None => {
            let filter = pb::VoucherFilter {
                company_ids: vec![company_id.to_owned()],
                ..pb::VoucherFilter::default()
            };
            list_vouchers(ctx, filter, first, after).await
        }
    }
}

async fn list_vouchers(
    ctx: &Context<'_>,
    filter: pb::VoucherFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<VoucherConnection> {
    let size = page_size(first)?;
    check_cursor(after.as_deref())?;
    let response = call!(
        ctx,
        vouchers.list_vouchers(pb::ListVouchersRequest {
            filter: Some(filter),
            page_size: size,
            page_token: after.unwrap_or_default(),
        })
    )?;
    let nodes = response
        .vouchers
        .into_iter()
        .map(|v| (v.id.clone(), Voucher(v)))
        .collect();
    Ok(VoucherConnection::from_page(
        nodes,
        response.next_page_token,
        response.total_count,
    ))
}

#[derive(Default)]
pub struct VouchersQuery;

#[Object]
impl VouchersQuery {
    /// The data center's capacity and what is granted and used of it.
    async fn resource_pools(&self, ctx: &Context<'_>) -> Result<Vec<ResourcePool>> {
        let response = call!(
            ctx,
            vouchers.list_resource_pools(pb::ListResourcePoolsRequest {})
        )?;
        Ok(response.pools.into_iter().map(ResourcePool).collect())
    }

    async fn voucher_programs(&self, ctx: &Context<'_>) -> Result<Vec<VoucherProgram>> {
        let response = call!(ctx, vouchers.list_programs(pb::ListProgramsRequest {}))?;
        Ok(response.programs.into_iter().map(VoucherProgram).collect())
    }

    /// Firms see their own companies' applications; managers and admins every one.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn voucher_applications(
        &self,
        ctx: &Context<'_>,
        filter: Option<VoucherApplicationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<VoucherApplicationConnection> {
        let size = page_size(first)?;
        check_cursor(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let response = call!(
            ctx,
            vouchers.list_applications(pb::ListApplicationsRequest {
                filter: Some(pb::ApplicationFilter {
                    statuses: filter
                        .statuses
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| pb::ApplicationStatus::from(s).into())
                        .collect(),
                    company_id: filter.company_id.map(|id| id.0),
                    program_id: filter.program_id.map(|id| id.0),
                }),
                page_size: size,
                page_token: after.unwrap_or_default(),
            })
        )?;
        let nodes = response
            .applications
            .into_iter()
            .map(|a| (a.id.clone(), VoucherApplication(a)))
            .collect();
        Ok(VoucherApplicationConnection::from_page(
            nodes,
            response.next_page_token,
            response.total_count,
        ))
    }

    /// One application: its company's members, managers and admins; NOT_FOUND for anyone
    /// else.
    async fn voucher_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<VoucherApplication>> {
        let response = call!(
            ctx,
            vouchers.get_application(pb::GetApplicationRequest { id: id.0 })
        )?;
        Ok(response.application.map(VoucherApplication))
    }

    /// NOT_FOUND for a voucher the caller may not see.
    async fn voucher(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Voucher>> {
        let response = call!(
            ctx,
            vouchers.get_voucher(pb::GetVoucherRequest { id: id.0 })
        )?;
        Ok(response.voucher.map(Voucher))
    }

    /// Firms see their own companies' vouchers; managers, admins and operators every one.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn vouchers(
        &self,
        ctx: &Context<'_>,
        filter: Option<VoucherFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<VoucherConnection> {
        let filter = filter.unwrap_or_default();
        list_vouchers(
            ctx,
            pb::VoucherFilter {
                statuses: filter
                    .statuses
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| pb::VoucherStatus::from(s).into())
                    .collect(),
                company_ids: filter
                    .company_ids
                    .unwrap_or_default()
                    .into_iter()
                    .map(|id| id.0)
                    .collect(),
                program_id: filter.program_id.map(|id| id.0),
                pilot_id: None,
            },
            first,
            after,
        )
        .await
    }

    /// Operators: a `sacctmgr load` file with one Slurm account per spendable voucher, limited
    /// to its balance.
    async fn slurm_accounts(&self, ctx: &Context<'_>, cluster: String) -> Result<String> {
        let response = call!(
            ctx,
            vouchers.export_slurm_accounts(pb::ExportSlurmAccountsRequest { cluster })
        )?;
        Ok(response.sacctmgr_file)
    }
}

#[derive(Default)]
pub struct VouchersMutation;

fn application_of(application: Option<pb::Application>) -> Result<VoucherApplication> {
    application
        .map(VoucherApplication)
        .ok_or_else(|| internal("missing application"))
}

fn voucher_of(voucher: Option<pb::Voucher>) -> Result<Voucher> {
    voucher
        .map(Voucher)
        .ok_or_else(|| internal("missing voucher"))
}

#[Object]
impl VouchersMutation {
    /// Admins.
    async fn create_resource_pool(
        &self,
        ctx: &Context<'_>,
        input: ResourcePoolInput,
    ) -> Result<ResourcePool> {
        let response = call!(
            ctx,
            vouchers.create_resource_pool(pb::CreateResourcePoolRequest {
                name: input.name,
                kind: pb::ResourceKind::from(input.kind).into(),
                capacity: input.capacity.0,
                funding: pb::FundingSource::from(input.funding).into(),
                valid_from: date_text(input.valid_from),
                valid_until: date_text(input.valid_until),
            })
        )?;
        response
            .pool
            .map(ResourcePool)
            .ok_or_else(|| internal("missing pool"))
    }

    /// Programme managers and admins.
    async fn create_voucher_program(
        &self,
        ctx: &Context<'_>,
        input: VoucherProgramInput,
    ) -> Result<VoucherProgram> {
        let response = call!(
            ctx,
            vouchers.create_program(pb::CreateProgramRequest {
                pool_id: input.pool_id.0,
                name: input.name,
                opens_on: date_text(input.opens_on),
                closes_on: date_text(input.closes_on),
                max_per_company: input.max_per_company.0,
                sectors: input
                    .sectors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| common_pb::Sector::from(s).into())
                    .collect(),
            })
        )?;
        response
            .program
            .map(VoucherProgram)
            .ok_or_else(|| internal("missing programme"))
    }

    /// For one of the caller's APPROVED companies, within the programme's window and cap.
    async fn apply_for_voucher(
        &self,
        ctx: &Context<'_>,
        input: VoucherApplicationInput,
    ) -> Result<VoucherApplication> {
        let response = call!(
            ctx,
            vouchers.apply_for_voucher(pb::ApplyForVoucherRequest {
                program_id: input.program_id.0,
                company_id: input.company_id.0,
                requested_amount: input.requested_amount.0,
                justification: input.justification,
                pilot_id: input.pilot_id.map(|id| id.0),
            })
        )?;
        application_of(response.application)
    }

    /// Withdraws a SUBMITTED application.
    async fn withdraw_voucher_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<VoucherApplication> {
        let response = call!(
            ctx,
            vouchers.withdraw_application(pb::WithdrawApplicationRequest { id: id.0 })
        )?;
        application_of(response.application)
    }

    /// Approves in full, or in part with `grantedAmount` (at most the requested amount), and
    /// issues the voucher.
    async fn approve_voucher_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        granted_amount: Option<Long>,
        note: Option<String>,
    ) -> Result<Voucher> {
        let request = pb::ApproveApplicationRequest {
            id: id.0.clone(),
            granted_amount: granted_amount.map(|a| a.0),
            note,
        };
        let response = super::review_claims::decide(ctx, &id, async {
            call!(ctx, vouchers.approve_application(request))
        })
        .await?;
        voucher_of(response.voucher)
    }

    async fn reject_voucher_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
    ) -> Result<VoucherApplication> {
        let request = pb::RejectApplicationRequest {
            id: id.0.clone(),
            note,
        };
        let response = super::review_claims::decide(ctx, &id, async {
            call!(ctx, vouchers.reject_application(request))
        })
        .await?;
        application_of(response.application)
    }

    async fn revoke_voucher(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Voucher> {
        let response = call!(
            ctx,
            vouchers.revoke_voucher(pb::RevokeVoucherRequest { id: id.0, note })
        )?;
        voucher_of(response.voucher)
    }

    /// Operators: one finished job; idempotent by (cluster, jobId).
    async fn record_usage(&self, ctx: &Context<'_>, input: UsageInput) -> Result<UsageRecord> {
        let r = call!(
            ctx,
            vouchers.record_usage(pb::RecordUsageRequest {
                cluster: input.cluster,
                job_id: input.job_id,
                voucher_code: input.voucher_code,
                amount: input.amount.0,
                started_at_ms: input.started_at.0.timestamp_millis(),
                ended_at_ms: input.ended_at.0.timestamp_millis(),
            })
        )?;
        Ok(UsageRecord {
            id: r.id,
            voucher_id: r.voucher_id,
            amount: r.amount,
            duplicate: r.duplicate,
            overage: r.overage,
        })
    }

    /// Operators: `sacct --parsable2` output with its header; each job is charged once, steps
    /// never on top of their job.
    async fn ingest_usage(
        &self,
        ctx: &Context<'_>,
        cluster: String,
        sacct: String,
    ) -> Result<UsageIngestReport> {
        let r = call!(
            ctx,
            vouchers.ingest_sacct(pb::IngestSacctRequest { cluster, sacct })
        )?;
        Ok(UsageIngestReport(r))
    }
}
