//! The vouchers service's use cases: who may do what, what onboarding says about companies,
//! and the store doing it.

use axv_platform::calendar::today_kst;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use axv_auth::{Caller, Role};
use axv_platform::{
    audit::Actor,
    ids::is_valid_id,
    pagination::{MAX_PAGE_SIZE, PageRequest},
};
use axv_proto::{common::v1::Sector, onboarding::v1 as onboarding};

use tonic::transport::Channel;

use crate::{
    domain::{
        ApplicationAction, Eligibility, FundingSource, ResourceKind, VoucherStatus, granted_amount,
        is_valid_code, spend_refusal, validate_issue_window, validate_name, validate_positive,
        validate_sectors, validate_window,
    },
    error::VouchersError,
    slurm_export,
    store::{
        ApplicationFilter, ApplicationRecord, ConsumptionRecord, LedgerEntryRecord, NewApplication,
        NewPool, NewProgram, PoolRecord, ProgramRecord, Store, VoucherFilter, VoucherRecord,
        VoucherTotalsRecord,
        spend::{HoldRecord, IngestReport, Standing, UsageInput, UsageOutcome},
        uploads::UploadRecord,
    },
    usage_queue::{QueuedUsage, UsageQueue},
};

pub type OnboardingClient = onboarding::onboarding_service_client::OnboardingServiceClient<Channel>;
pub type PilotsClient = axv_proto::pilots::v1::pilots_service_client::PilotsServiceClient<Channel>;

fn require(caller: Option<&Caller>) -> Result<&Caller, VouchersError> {
    caller.ok_or_else(|| VouchersError::Unauthenticated("authentication required".into()))
}

fn require_role(caller: Option<&Caller>, roles: &[Role], what: &str) -> Result<(), VouchersError> {
    let caller = require(caller)?;
    if roles.contains(&caller.role) {
        Ok(())
    } else {
        Err(VouchersError::Forbidden(format!(
            "only {} may {what}",
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        )))
    }
}

const STAFF: &[Role] = &[Role::ProgramManager, Role::Admin];
/// Ids per batch call, as onboarding allows.
pub const MAX_BATCH: usize = 500;
const METERING: &[Role] = &[Role::Operator, Role::Admin];

/// A new resource pool as an admin describes it.
pub struct PoolInput {
    pub name: String,
    pub kind: Option<ResourceKind>,
    pub capacity: i64,
    pub funding: Option<FundingSource>,
    pub valid_from: String,
    pub valid_until: String,
}

/// A new programme (call) as a manager describes it.
pub struct ProgramInput {
    pub pool_id: String,
    pub name: String,
    pub opens_on: String,
    pub closes_on: String,
    pub max_per_company: i64,
    /// `Sector` values, as the request carries them.
    pub sectors: Vec<i32>,
}

/// What a caller may see of vouchers and applications.
enum Scope {
    Everything,
    Companies(Vec<String>),
}

#[derive(Clone)]
pub struct Vouchers {
    store: Store,
    onboarding: OnboardingClient,
    pilots: PilotsClient,
    usage_queue: Arc<UsageQueue>,
    /// Faults to inject into the company-standing handler (fault tests only; none by default).
    event_faults: Arc<crate::EventFaults>,
}

impl Vouchers {
    pub fn new(store: Store, onboarding: OnboardingClient, pilots: PilotsClient) -> Self {
        Self {
            store,
            onboarding,
            pilots,
            usage_queue: Arc::default(),
            event_faults: Arc::default(),
        }
    }

    pub fn event_faults(&self) -> &Arc<crate::EventFaults> {
        &self.event_faults
    }

    /// A voucher may name a pilot only if the applying company takes part in it; the caller must
    /// be able to see the pilot (another firm's pilot is NOT_FOUND).
    async fn check_pilot(
        &self,
        caller: &Caller,
        pilot_id: &str,
        company_id: &str,
    ) -> Result<(), VouchersError> {
        if !is_valid_id(pilot_id) {
            return Err(VouchersError::NotFound("pilot"));
        }
        let request = axv_proto::pilots::v1::BatchGetPilotsRequest {
            ids: vec![pilot_id.to_owned()],
        };
        let response = self
            .pilots
            .clone()
            .batch_get_pilots(VouchersError::request(Some(&caller.raw_token), request)?)
            .await
            .map_err(VouchersError::upstream("pilot"))?;
        let pilot = response
            .into_inner()
            .pilots
            .into_iter()
            .next()
            .ok_or(VouchersError::NotFound("pilot"))?;
        if !pilot.participants.iter().any(|p| {
            p.company_id == company_id
                && p.state() == axv_proto::pilots::v1::ParticipantState::Accepted
        }) {
            // An invited company takes part only once it has accepted.
            return Err(crate::error::not_eligible(
                "the company does not take part in that pilot",
            ));
        }
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The caller's companies, from onboarding (membership changes after a token is issued).
    async fn scope(
        &self,
        caller: Option<&Caller>,
        allowed: &[Role],
    ) -> Result<Scope, VouchersError> {
        let caller = require(caller)?;
        match caller.role {
            role if allowed.contains(&role) => Ok(Scope::Everything),
            Role::FirmMember => {
                let me = self
                    .onboarding
                    .clone()
                    .get_me(VouchersError::request(
                        Some(&caller.raw_token),
                        onboarding::GetMeRequest {},
                    )?)
                    .await
                    .map_err(VouchersError::upstream("company"))?;
                Ok(Scope::Companies(me.into_inner().company_ids))
            }
            _ => Err(VouchersError::Forbidden(
                "dashboards see the programme's figures, not vouchers".into(),
            )),
        }
    }

    fn in_scope(scope: &Scope, company_id: &str) -> bool {
        match scope {
            Scope::Everything => true,
            Scope::Companies(ids) => ids.iter().any(|id| id == company_id),
        }
    }

    pub async fn create_pool(
        &self,
        caller: Option<&Caller>,
        input: PoolInput,
    ) -> Result<PoolRecord, VouchersError> {
        require_role(caller, &[Role::Admin], "create resource pools")?;
        let (valid_from, valid_until) = validate_window(
            "validFrom",
            &input.valid_from,
            "validUntil",
            &input.valid_until,
        )?;
        self.store
            .create_pool(
                NewPool {
                    name: validate_name("name", &input.name)?,
                    kind: input
                        .kind
                        .ok_or_else(|| VouchersError::invalid("kind", "is required"))?,
                    capacity: validate_positive("capacity", input.capacity)?,
                    funding: input
                        .funding
                        .ok_or_else(|| VouchersError::invalid("funding", "is required"))?,
                    valid_from,
                    valid_until,
                },
                &Actor::of(require(caller)?),
            )
            .await
    }

    /// Pools are the programme's public figures.
    pub async fn pools(&self, ids: Option<&[String]>) -> Result<Vec<PoolRecord>, VouchersError> {
        self.store.pools(ids).await
    }

    pub async fn create_program(
        &self,
        caller: Option<&Caller>,
        input: ProgramInput,
    ) -> Result<ProgramRecord, VouchersError> {
        require_role(caller, STAFF, "open programmes")?;
        let pool = self
            .store
            .pool(&input.pool_id)
            .await?
            .ok_or_else(|| VouchersError::invalid("poolId", "names no resource pool"))?;
        let (opens_on, closes_on) =
            validate_window("opensOn", &input.opens_on, "closesOn", &input.closes_on)?;
        if opens_on < pool.valid_from {
            return Err(VouchersError::invalid(
                "opensOn",
                format!("must not be before the pool's start, {}", pool.valid_from),
            ));
        }
        if closes_on > pool.valid_until {
            return Err(VouchersError::invalid(
                "closesOn",
                format!("must not be after the pool's end, {}", pool.valid_until),
            ));
        }
        self.store
            .create_program(
                NewProgram {
                    pool_id: pool.id,
                    name: validate_name("name", &input.name)?,
                    opens_on,
                    closes_on,
                    max_per_company: validate_positive("maxPerCompany", input.max_per_company)?,
                    sectors: validate_sectors(&input.sectors)?,
                },
                &Actor::of(require(caller)?),
            )
            .await
    }

    pub async fn programs(
        &self,
        ids: Option<&[String]>,
    ) -> Result<Vec<ProgramRecord>, VouchersError> {
        self.store.programs(ids).await
    }

    /// A firm applies for one of its companies; the programme's window, the company's status
    /// and industry, and the cap decide, and the refusal says which.
    pub async fn apply(
        &self,
        caller: Option<&Caller>,
        program_id: &str,
        company_id: &str,
        requested: i64,
        justification: &str,
        pilot_id: Option<String>,
    ) -> Result<ApplicationRecord, VouchersError> {
        let who = require(caller)?;
        if !matches!(who.role, Role::FirmMember | Role::Admin) {
            return Err(VouchersError::Forbidden(
                "firms apply for vouchers for their own companies".into(),
            ));
        }
        let requested = validate_positive("requestedAmount", requested)?;
        let justification = justification.trim();
        if justification.is_empty() || justification.chars().count() > 5000 {
            return Err(VouchersError::invalid(
                "justification",
                "must be 1 to 5000 characters",
            ));
        }
        if !is_valid_id(program_id) {
            return Err(VouchersError::NotFound("programme"));
        }
        let program = self
            .store
            .program(program_id)
            .await?
            .ok_or(VouchersError::NotFound("programme"))?;
        // Onboarding answers NOT_FOUND for a company the caller does not belong to.
        let company = self
            .onboarding
            .clone()
            .get_company(VouchersError::request(
                Some(&who.raw_token),
                onboarding::GetCompanyRequest {
                    id: company_id.to_owned(),
                },
            )?)
            .await
            .map_err(VouchersError::upstream("company"))?
            .into_inner()
            .company
            .ok_or(VouchersError::NotFound("company"))?;
        let status = onboarding::CompanyStatus::try_from(company.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("COMPANY_STATUS_")
                    .to_owned()
            })
            .unwrap_or_default();
        let sector = Sector::name_of(company.sector)
            .unwrap_or_default()
            .to_owned();
        let pilot_id = pilot_id.filter(|p| !p.is_empty());
        if let Some(pilot) = &pilot_id {
            self.check_pilot(who, pilot, company_id).await?;
        }
        let already = self.store.granted_to(&program.id, company_id).await?;
        Eligibility {
            opens_on: program.opens_on,
            closes_on: program.closes_on,
            sectors: &program.sectors,
            max_per_company: program.max_per_company,
        }
        .check(today_kst(), &status, &sector, requested, already)?;
        self.store
            .create_application(
                NewApplication {
                    program_id: program.id,
                    company_id: company_id.to_owned(),
                    requested_amount: requested,
                    justification: justification.to_owned(),
                    pilot_id,
                },
                &Actor::of(who),
            )
            .await
    }

    async fn visible_application(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<(ApplicationRecord, Scope), VouchersError> {
        let scope = self.scope(caller, STAFF).await?;
        let application = if is_valid_id(id) {
            self.store.application(id).await?
        } else {
            None
        };
        let application = application
            .filter(|a| Self::in_scope(&scope, &a.company_id))
            .ok_or(VouchersError::NotFound("application"))?;
        Ok((application, scope))
    }

    pub async fn withdraw(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<ApplicationRecord, VouchersError> {
        let (application, _) = self.visible_application(caller, id).await?;
        let who = require(caller)?;
        self.store
            .close_application(
                &application.id,
                ApplicationAction::Withdraw,
                &Actor::of(who),
                None,
            )
            .await
    }

    pub async fn approve(
        &self,
        caller: Option<&Caller>,
        id: &str,
        granted: Option<i64>,
        note: Option<&str>,
    ) -> Result<(ApplicationRecord, VoucherRecord), VouchersError> {
        let (application, _) = self.visible_application(caller, id).await?;
        require_role(caller, STAFF, "approve applications")?;
        let who = require(caller)?;
        let granted = granted_amount(application.requested_amount, granted)?;
        // The company may have been suspended since it applied: no voucher for it then.
        let company = self
            .onboarding
            .clone()
            .get_company(VouchersError::request(
                Some(&who.raw_token),
                onboarding::GetCompanyRequest {
                    id: application.company_id.clone(),
                },
            )?)
            .await
            .map_err(VouchersError::upstream("company"))?
            .into_inner()
            .company
            .ok_or(VouchersError::NotFound("company"))?;
        if company.status() != onboarding::CompanyStatus::Approved {
            let status = company
                .status()
                .as_str_name()
                .trim_start_matches("COMPANY_STATUS_")
                .to_owned();
            return Err(crate::error::not_eligible(format!(
                "the company is {status} now; vouchers go to APPROVED companies only"
            )));
        }
        self.store
            .approve_application(&application.id, granted, &Actor::of(who), note, today_kst())
            .await
    }

    pub async fn reject(
        &self,
        caller: Option<&Caller>,
        id: &str,
        note: &str,
    ) -> Result<ApplicationRecord, VouchersError> {
        let (application, _) = self.visible_application(caller, id).await?;
        require_role(caller, STAFF, "reject applications")?;
        let note = note.trim();
        if note.is_empty() {
            return Err(VouchersError::invalid("note", "is required when rejecting"));
        }
        let who = require(caller)?;
        self.store
            .close_application(
                &application.id,
                ApplicationAction::Reject,
                &Actor::of(who),
                Some(note),
            )
            .await
    }

    pub async fn applications(
        &self,
        caller: Option<&Caller>,
        mut filter: ApplicationFilter,
        page: &PageRequest,
    ) -> Result<(Vec<ApplicationRecord>, i64), VouchersError> {
        if let Scope::Companies(own) = self.scope(caller, STAFF).await? {
            filter.company_ids = Some(match filter.company_ids.take() {
                Some(asked) => asked.into_iter().filter(|c| own.contains(c)).collect(),
                None => own,
            });
        }
        self.store
            .list_applications(&filter, page.after(), page.fetch_limit())
            .await
    }

    /// One application, for those who may list it; NOT_FOUND for anyone else, as for an id
    /// that does not exist.
    pub async fn application(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<ApplicationRecord, VouchersError> {
        let scope = self.scope(caller, STAFF).await?;
        let application = if is_valid_id(id) {
            self.store.application(id).await?
        } else {
            None
        };
        application
            .filter(|a| Self::in_scope(&scope, &a.company_id))
            .ok_or(VouchersError::NotFound("application"))
    }

    const VOUCHER_READERS: &'static [Role] = &[Role::ProgramManager, Role::Admin, Role::Operator];

    pub async fn voucher(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<VoucherRecord, VouchersError> {
        let scope = self.scope(caller, Self::VOUCHER_READERS).await?;
        let voucher = if is_valid_id(id) {
            self.store.voucher(id).await?
        } else {
            None
        };
        voucher
            .filter(|v| Self::in_scope(&scope, &v.company_id))
            .ok_or(VouchersError::NotFound("voucher"))
    }

    pub async fn vouchers_by_ids(
        &self,
        caller: Option<&Caller>,
        ids: &[String],
    ) -> Result<Vec<VoucherRecord>, VouchersError> {
        let scope = self.scope(caller, Self::VOUCHER_READERS).await?;
        if ids.len() > MAX_BATCH {
            return Err(VouchersError::invalid(
                "ids",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let ids: Vec<String> = ids.iter().filter(|id| is_valid_id(id)).cloned().collect();
        Ok(self
            .store
            .vouchers_by_ids(&ids)
            .await?
            .into_iter()
            .filter(|v| Self::in_scope(&scope, &v.company_id))
            .collect())
    }

    pub async fn vouchers_of_companies(
        &self,
        caller: Option<&Caller>,
        company_ids: &[String],
        per_company: usize,
    ) -> Result<(Vec<VoucherRecord>, std::collections::HashMap<String, i64>), VouchersError> {
        let scope = self.scope(caller, Self::VOUCHER_READERS).await?;
        if company_ids.len() > MAX_BATCH {
            return Err(VouchersError::invalid(
                "companyIds",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let visible: Vec<String> = company_ids
            .iter()
            .filter(|c| Self::in_scope(&scope, c))
            .cloned()
            .collect();
        self.store
            .vouchers_of_companies(&visible, per_company.clamp(1, MAX_PAGE_SIZE + 1))
            .await
    }

    pub async fn vouchers_of_pilots(
        &self,
        caller: Option<&Caller>,
        pilot_ids: &[String],
    ) -> Result<Vec<VoucherRecord>, VouchersError> {
        let scope = self.scope(caller, Self::VOUCHER_READERS).await?;
        if pilot_ids.len() > MAX_BATCH {
            return Err(VouchersError::invalid(
                "pilotIds",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let ids: Vec<String> = pilot_ids
            .iter()
            .filter(|id| is_valid_id(id))
            .cloned()
            .collect();
        Ok(self
            .store
            .vouchers_of_pilots(&ids)
            .await?
            .into_iter()
            .filter(|v| Self::in_scope(&scope, &v.company_id))
            .collect())
    }

    pub async fn vouchers(
        &self,
        caller: Option<&Caller>,
        mut filter: VoucherFilter,
        page: &PageRequest,
    ) -> Result<(Vec<VoucherRecord>, i64), VouchersError> {
        if let Scope::Companies(own) = self.scope(caller, Self::VOUCHER_READERS).await? {
            filter.company_ids = Some(match filter.company_ids.take() {
                Some(asked) => asked.into_iter().filter(|c| own.contains(c)).collect(),
                None => own,
            });
        }
        self.store
            .list_vouchers(&filter, page.after(), page.fetch_limit())
            .await
    }

    pub async fn ledger(
        &self,
        caller: Option<&Caller>,
        voucher_id: &str,
        page: &PageRequest,
    ) -> Result<(Vec<LedgerEntryRecord>, i64), VouchersError> {
        let voucher = self.voucher(caller, voucher_id).await?;
        self.store
            .ledger_entries(&voucher.id, page.after(), page.fetch_limit())
            .await
    }

    /// What the vouchers consumed in `[from_ms, until_ms)`, for those the caller may see (the
    /// compute a report states). Vouchers it may not see are left out, as in a batch get.
    pub async fn consumption(
        &self,
        caller: Option<&Caller>,
        voucher_ids: &[String],
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<ConsumptionRecord>, VouchersError> {
        if from_ms > until_ms {
            return Err(VouchersError::invalid(
                "untilMs",
                "must not be before fromMs",
            ));
        }
        let visible: Vec<String> = self
            .vouchers_by_ids(caller, voucher_ids)
            .await?
            .into_iter()
            .map(|v| v.id)
            .collect();
        let asked: Vec<String> = voucher_ids
            .iter()
            .filter(|id| visible.contains(id))
            .cloned()
            .collect();
        self.store.consumption(&asked, from_ms, until_ms).await
    }

    pub async fn revoke(
        &self,
        caller: Option<&Caller>,
        id: &str,
        note: &str,
    ) -> Result<VoucherRecord, VouchersError> {
        let voucher = self.voucher(caller, id).await?;
        require_role(caller, STAFF, "revoke vouchers")?;
        let note = note.trim();
        if note.is_empty() {
            return Err(VouchersError::invalid("note", "is required when revoking"));
        }
        self.store
            .end_voucher(
                &voucher.id,
                VoucherStatus::Revoked,
                Some(note),
                &Actor::of(require(caller)?),
            )
            .await?;
        self.store
            .voucher(&voucher.id)
            .await?
            .ok_or(VouchersError::NotFound("voucher"))
    }

    fn metering_input(cluster: &str, job_id: &str) -> Result<(), VouchersError> {
        for (field, value) in [("cluster", cluster), ("jobId", job_id)] {
            if value.trim().is_empty() || value.len() > 128 {
                return Err(VouchersError::invalid(field, "must be 1 to 128 characters"));
            }
        }
        Ok(())
    }

    pub async fn record_usage(
        &self,
        caller: Option<&Caller>,
        usage: UsageInput<'_>,
    ) -> Result<UsageOutcome, VouchersError> {
        require_role(caller, METERING, "meter usage")?;
        Self::metering_input(usage.cluster, usage.job_id)?;
        validate_positive("amount", usage.amount)?;
        if let (Some(start), Some(end)) = (usage.started_at, usage.ended_at)
            && end < start
        {
            return Err(VouchersError::invalid(
                "endedAt",
                "must not be before startedAt",
            ));
        }
        if !is_valid_code(usage.voucher_code) {
            return Err(VouchersError::NotFound("voucher"));
        }
        let caller = caller
            .ok_or_else(|| VouchersError::Unauthenticated("authentication required".into()))?;
        let ticket = self.usage_queue.push(caller.clone(), usage);
        self.usage_queue
            .wait(ticket, |batch| {
                let this = self.clone();
                async move { this.commit_usages(batch).await }
            })
            .await
    }

    /// One batch of [`Self::record_usage`]s: every company's standing asked once, then one
    /// transaction. Whoever may meter sees every company alike (visibility follows the role, not
    /// the person), so the first caller's view stands for the batch. A batch that fails as a
    /// whole (that caller's token expired, say) is tried again usage by usage, so each caller
    /// hears its own answer.
    async fn commit_usages(&self, batch: Vec<QueuedUsage>) {
        match self.record_batch(&batch).await {
            Ok(outcomes) => {
                for (queued, outcome) in batch.into_iter().zip(outcomes) {
                    queued.answer(outcome);
                }
            }
            Err(error) if batch.len() == 1 => {
                for queued in batch {
                    queued.answer(Err(error.clone()));
                }
            }
            Err(_) => {
                for queued in batch {
                    let outcome = self
                        .record_batch(std::slice::from_ref(&queued))
                        .await
                        .and_then(|mut outcomes| {
                            outcomes.pop().unwrap_or_else(|| {
                                Err(VouchersError::Internal("a usage went unanswered".into()))
                            })
                        });
                    queued.answer(outcome);
                }
            }
        }
    }

    async fn record_batch(
        &self,
        batch: &[QueuedUsage],
    ) -> Result<Vec<Result<UsageOutcome, VouchersError>>, VouchersError> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let standing = self
            .standing_of_codes(
                Some(&first.caller),
                batch.iter().map(|q| q.voucher_code.as_str()),
            )
            .await?;
        let inputs: Vec<UsageInput<'_>> = batch.iter().map(QueuedUsage::input).collect();
        self.store
            .record_usages(&inputs, today_kst(), &standing)
            .await
    }

    /// The company whose voucher carries `code`.
    async fn company_of_code(&self, code: &str) -> Result<String, VouchersError> {
        self.store
            .voucher_by_code(code)
            .await?
            .map(|v| v.company_id)
            .ok_or(VouchersError::NotFound("voucher"))
    }

    /// The companies among `ids` that onboarding shows `who`, in batches as it allows.
    async fn companies(
        &self,
        who: &Caller,
        ids: &[String],
    ) -> Result<Vec<onboarding::Company>, VouchersError> {
        let mut found = Vec::with_capacity(ids.len());
        let mut onboarding = self.onboarding.clone();
        for chunk in ids.chunks(MAX_BATCH) {
            found.extend(
                onboarding
                    .batch_get_companies(VouchersError::request(
                        Some(&who.raw_token),
                        onboarding::BatchGetCompaniesRequest {
                            ids: chunk.to_vec(),
                        },
                    )?)
                    .await
                    .map_err(VouchersError::upstream("company"))?
                    .into_inner()
                    .companies,
            );
        }
        Ok(found)
    }

    /// What onboarding says now of the companies holding the vouchers `codes` names, asked once
    /// before the transaction that charges them.
    async fn standing_of_codes<'a>(
        &self,
        caller: Option<&Caller>,
        codes: impl Iterator<Item = &'a str>,
    ) -> Result<Standing, VouchersError> {
        let codes: Vec<String> = codes
            .collect::<HashSet<_>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let companies = self.store.companies_of_codes(&codes).await?;
        let barred = self.barred_companies(caller, &companies).await?;
        Ok(Standing::asked(&companies, barred))
    }

    /// Which of `company_ids` onboarding does not show as APPROVED now. Spending checks the
    /// company's standing itself, not only the voucher's FROZEN flag (set by an event that may
    /// still be on its way), so a suspension stops spending the moment it commits.
    async fn barred_companies(
        &self,
        caller: Option<&Caller>,
        company_ids: &[String],
    ) -> Result<HashSet<String>, VouchersError> {
        let who = caller
            .ok_or_else(|| VouchersError::Unauthenticated("authentication required".into()))?;
        let mut barred: HashSet<String> = company_ids.iter().cloned().collect();
        let unique: Vec<String> = barred.iter().cloned().collect();
        for company in self.companies(who, &unique).await? {
            if company.status() == onboarding::CompanyStatus::Approved {
                barred.remove(&company.id);
            }
        }
        Ok(barred)
    }

    pub async fn ingest(
        &self,
        caller: Option<&Caller>,
        cluster: &str,
        sacct: &str,
    ) -> Result<IngestReport, VouchersError> {
        require_role(caller, METERING, "meter usage")?;
        Self::metering_input(cluster, "batch")?;
        let parsed = crate::sacct::parse(sacct)
            .map_err(|e| VouchersError::invalid("sacct", e.to_string()))?;
        self.ingest_read(caller, cluster, parsed).await
    }

    /// Who may stream a sacct file in, checked before a byte of it is read.
    pub fn may_ingest(caller: Option<&Caller>, cluster: &str) -> Result<(), VouchersError> {
        require_role(caller, METERING, "meter usage")?;
        Self::metering_input(cluster, "batch")
    }

    /// A sacct file read while it streamed in; the caller checked [`Self::may_ingest`].
    pub async fn ingest_read(
        &self,
        caller: Option<&Caller>,
        cluster: &str,
        parsed: crate::sacct::ParsedSacct,
    ) -> Result<IngestReport, VouchersError> {
        Self::may_ingest(caller, cluster)?;
        let standing = self
            .standing_of_codes(caller, parsed.jobs.iter().map(|j| j.account.as_str()))
            .await?;
        let uploaded_by = caller.map(|c| c.subject.as_str()).unwrap_or_default();
        self.store
            .ingest_parsed(cluster, parsed, today_kst(), &standing, uploaded_by)
            .await
    }

    /// Operators and admins: the uploads so far, newest first.
    pub async fn usage_uploads(
        &self,
        caller: Option<&Caller>,
        page: &PageRequest,
    ) -> Result<(Vec<UploadRecord>, i64), VouchersError> {
        require_role(caller, METERING, "see the usage uploads")?;
        self.store
            .usage_uploads(page.after(), page.fetch_limit())
            .await
    }

    /// Operators and admins: one upload with its charges and every refused line.
    pub async fn usage_upload(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<UploadRecord, VouchersError> {
        require_role(caller, METERING, "see the usage uploads")?;
        if !is_valid_id(id) {
            return Err(VouchersError::NotFound("usage upload"));
        }
        self.store
            .usage_upload(id)
            .await?
            .ok_or(VouchersError::NotFound("usage upload"))
    }

    pub async fn create_hold(
        &self,
        caller: Option<&Caller>,
        hold_id: &str,
        voucher_code: &str,
        amount: i64,
        timeout: Duration,
        job: Option<(&str, &str)>,
    ) -> Result<HoldRecord, VouchersError> {
        require_role(caller, METERING, "reserve compute")?;
        Self::metering_input("hold", hold_id)?;
        validate_positive("amount", amount)?;
        if timeout.is_zero() || timeout > Duration::from_secs(30 * 86_400) {
            return Err(VouchersError::invalid(
                "timeoutSecs",
                "must be between 1 second and 30 days",
            ));
        }
        if !is_valid_code(voucher_code) {
            return Err(VouchersError::NotFound("voucher"));
        }
        let company = self.company_of_code(voucher_code).await?;
        if !self
            .barred_companies(caller, std::slice::from_ref(&company))
            .await?
            .is_empty()
        {
            return Err(VouchersError::Precondition(format!(
                "{voucher_code}: its company is not in good standing (suspended); nothing was reserved"
            )));
        }
        let expires_at = axv_platform::ids::now_ms()
            + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
        self.store
            .create_hold(
                hold_id,
                voucher_code,
                amount,
                expires_at,
                job,
                today_kst(),
                &Actor::of(require(caller)?),
            )
            .await
    }

    pub async fn commit_hold(
        &self,
        caller: Option<&Caller>,
        hold_id: &str,
        amount: i64,
    ) -> Result<HoldRecord, VouchersError> {
        require_role(caller, METERING, "meter usage")?;
        self.store
            .commit_hold(hold_id, amount, &Actor::of(require(caller)?))
            .await
    }

    pub async fn release_hold(
        &self,
        caller: Option<&Caller>,
        hold_id: &str,
    ) -> Result<HoldRecord, VouchersError> {
        require_role(caller, METERING, "meter usage")?;
        self.store
            .release_hold(hold_id, &Actor::of(require(caller)?))
            .await
    }

    /// Per-company rows for the programme's published figures. Staff only: the rows are not
    /// suppressed, so a firm would see its competitors' and a dashboard small cells.
    pub async fn voucher_totals(
        &self,
        caller: Option<&Caller>,
        issued_from: Option<&str>,
        issued_until: Option<&str>,
        kinds: &[ResourceKind],
        fundings: &[FundingSource],
    ) -> Result<Vec<VoucherTotalsRecord>, VouchersError> {
        require_role(caller, STAFF, "read per-company voucher totals")?;
        let (from, until) = validate_issue_window(issued_from, issued_until)?;
        self.store
            .voucher_totals(from, until, kinds, fundings)
            .await
    }

    pub async fn export_slurm_accounts(
        &self,
        caller: Option<&Caller>,
        cluster: &str,
    ) -> Result<String, VouchersError> {
        require_role(caller, METERING, "export Slurm accounts")?;
        Self::metering_input(cluster, "export")?;
        let who = caller
            .ok_or_else(|| VouchersError::Unauthenticated("authentication required".into()))?;
        let vouchers = self.store.gpu_vouchers_for_slurm().await?;
        let mut company_ids: Vec<String> = vouchers.iter().map(|v| v.company_id.clone()).collect();
        company_ids.sort();
        company_ids.dedup();
        let names: HashMap<String, String> = self
            .companies(who, &company_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name_ko))
            .collect();
        let mut users: HashMap<String, Vec<String>> = HashMap::new();
        let mut onboarding = self.onboarding.clone();
        for chunk in company_ids.chunks(MAX_BATCH) {
            let members = onboarding
                .list_cluster_users(VouchersError::request(
                    Some(&who.raw_token),
                    onboarding::ListClusterUsersRequest {
                        company_ids: chunk.to_vec(),
                    },
                )?)
                .await
                .map_err(VouchersError::upstream("company"))?
                .into_inner()
                .users;
            for member in members {
                users
                    .entry(member.company_id)
                    .or_default()
                    .push(member.cluster_user);
            }
        }
        let today = today_kst();
        let accounts: Vec<slurm_export::SlurmAccount> = vouchers
            .into_iter()
            .map(|v| {
                let spendable =
                    spend_refusal(v.status, today, v.valid_from, v.valid_until).is_none();
                slurm_export::SlurmAccount {
                    description: names
                        .get(&v.company_id)
                        .cloned()
                        .unwrap_or_else(|| format!("company {}", v.company_id)),
                    organization: "axv".to_owned(),
                    gpu_minutes: slurm_export::lifetime_gpu_minutes(spendable, v.granted),
                    users: users.get(&v.company_id).cloned().unwrap_or_default(),
                    code: v.code,
                }
            })
            .collect();
        Ok(slurm_export::sacctmgr_file(cluster, &accounts))
    }
}
