//! The outcome reports' use cases: who may file, edit, move and read reports, what the pilots
//! and onboarding services say about the pilot and the caller, and the store doing it.

use axv_platform::calendar::today_kst;
use std::{collections::HashMap, sync::Arc};

use axv_auth::{Caller, Role, TokenIssuer};
use axv_platform::{audit::Actor, ids::is_valid_id, pagination::PageRequest};
use axv_proto::{
    common::v1::{PilotDomain, Sector},
    onboarding::v1 as onboarding,
    pilots::v1 as pilots,
    vouchers::v1 as vouchers,
};
use chrono::NaiveDate;
use tonic::transport::Channel;

use crate::{
    domain::{Figures, ReportAction, authorize, check_note, submission_refusal, validate_period},
    error::ReportsError,
    store::{ListScope, ReportDraft, ReportFilter, ReportRecord, ReportSubject, Store},
};

pub type OnboardingClient = onboarding::onboarding_service_client::OnboardingServiceClient<Channel>;
pub type PilotsClient = pilots::pilots_service_client::PilotsServiceClient<Channel>;
pub type VouchersClient = vouchers::vouchers_service_client::VouchersServiceClient<Channel>;

pub const MAX_BATCH: usize = 500;
const MAX_EVIDENCE: usize = 4000;

/// The firm's part of a report as it arrives, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportInput {
    pub pilot_id: String,
    pub period_start: String,
    pub period_end: String,
    pub figures: Figures,
    pub evidence: String,
}

pub(crate) fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, ReportsError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ReportsError::invalid(field, "must be a date (YYYY-MM-DD)"))
}

impl ReportInput {
    /// Checks the period, the figures and the evidence.
    pub fn validate(&self) -> Result<ReportDraft, ReportsError> {
        let period_start = parse_date("periodStart", &self.period_start)?;
        let period_end = parse_date("periodEnd", &self.period_end)?;
        validate_period(period_start, period_end)?;
        self.figures.validate()?;
        let evidence = self.evidence.trim().to_owned();
        if evidence.chars().count() > MAX_EVIDENCE {
            return Err(ReportsError::invalid(
                "evidence",
                format!("must be at most {MAX_EVIDENCE} characters"),
            ));
        }
        Ok(ReportDraft {
            period_start,
            period_end,
            figures: self.figures,
            evidence,
        })
    }
}

fn require(caller: Option<&Caller>) -> Result<&Caller, ReportsError> {
    caller.ok_or_else(|| ReportsError::Unauthenticated("authentication required".into()))
}

/// Whose reports a caller may read.
enum Reach {
    All,
    Companies(Vec<String>),
}

impl Reach {
    fn sees(&self, report: &ReportRecord) -> bool {
        match self {
            Reach::All => true,
            Reach::Companies(own) => own.contains(&report.subject.company_id),
        }
    }
}

#[derive(Clone)]
pub struct Outcomes {
    pub(crate) store: Store,
    pub(crate) onboarding: OnboardingClient,
    pub(crate) pilots: PilotsClient,
    /// Where compute consumption (at submission) and voucher figures come from; without it,
    /// both are 0.
    pub(crate) vouchers: Option<VouchersClient>,
    /// Signs this service's own staff token for programme-wide reads (see `stats`).
    pub(crate) issuer: Option<Arc<TokenIssuer>>,
}

/// Unix milliseconds of the start of `day` in Gwangju (KST, UTC+9).
fn kst_midnight_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis() - 9 * 3_600_000)
        .unwrap_or(0)
}

impl Outcomes {
    pub fn new(store: Store, onboarding: OnboardingClient, pilots: PilotsClient) -> Self {
        Self {
            store,
            onboarding,
            pilots,
            vouchers: None,
            issuer: None,
        }
    }

    /// Takes compute consumption from the vouchers service when reports are submitted.
    pub fn with_vouchers(mut self, vouchers: VouchersClient) -> Self {
        self.vouchers = Some(vouchers);
        self
    }

    /// Lets the service read voucher figures and company sectors for `programStats` under its
    /// own identity.
    pub fn with_issuer(mut self, issuer: Arc<TokenIssuer>) -> Self {
        self.issuer = Some(issuer);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The firm caller's companies, from onboarding (membership changes after tokens are issued).
    pub(crate) async fn companies_of(&self, caller: &Caller) -> Result<Vec<String>, ReportsError> {
        let me = self
            .onboarding
            .clone()
            .get_me(ReportsError::request(
                Some(&caller.raw_token),
                onboarding::GetMeRequest {},
            )?)
            .await
            .map_err(ReportsError::upstream("user"))?;
        Ok(me.into_inner().company_ids)
    }

    /// Managers and admins read every report, firm members their companies' reports; nobody
    /// else reads individual reports (dashboards get aggregates).
    async fn reach(&self, caller: Option<&Caller>) -> Result<Reach, ReportsError> {
        match caller {
            Some(c) if c.is_staff() => Ok(Reach::All),
            Some(c) if c.role == Role::FirmMember => {
                Ok(Reach::Companies(self.companies_of(c).await?))
            }
            _ => Err(ReportsError::Forbidden(
                "individual outcome reports are for the reporting firm and programme managers"
                    .into(),
            )),
        }
    }

    /// The report if the caller may see it, and whether it is the caller's company's report.
    async fn visible(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<(ReportRecord, bool), ReportsError> {
        require(caller)?;
        let reach = self.reach(caller).await?;
        let report = if is_valid_id(id) {
            self.store.report(id).await?
        } else {
            None
        };
        let report = report
            .filter(|r| reach.sees(r))
            .ok_or(ReportsError::NotFound("report"))?;
        let own = matches!(&reach, Reach::Companies(c) if c.contains(&report.subject.company_id));
        Ok((report, own))
    }

    /// The pilot as the caller sees it, through the pilots service with the caller's token.
    async fn pilot(&self, caller: &Caller, pilot_id: &str) -> Result<pilots::Pilot, ReportsError> {
        if !is_valid_id(pilot_id) {
            return Err(ReportsError::NotFound("pilot"));
        }
        self.pilots
            .clone()
            .batch_get_pilots(ReportsError::request(
                Some(&caller.raw_token),
                pilots::BatchGetPilotsRequest {
                    ids: vec![pilot_id.to_owned()],
                },
            )?)
            .await
            .map_err(ReportsError::upstream("pilot"))?
            .into_inner()
            .pilots
            .into_iter()
            .find(|p| p.id == pilot_id)
            .ok_or(ReportsError::NotFound("pilot"))
    }

    pub async fn create(
        &self,
        caller: Option<&Caller>,
        input: ReportInput,
    ) -> Result<ReportRecord, ReportsError> {
        let who = require(caller)?;
        if who.role != Role::FirmMember {
            return Err(ReportsError::Forbidden(
                "reports are filed by the company leading the pilot".into(),
            ));
        }
        let draft = input.validate()?;
        let pilot = self.pilot(who, &input.pilot_id).await?;
        if !self
            .companies_of(who)
            .await?
            .contains(&pilot.lead_company_id)
        {
            return Err(ReportsError::Precondition(
                "only the pilot's lead company files its outcome reports".into(),
            ));
        }
        let status =
            pilots::PilotStatus::try_from(pilot.status).unwrap_or(pilots::PilotStatus::Unspecified);
        if !matches!(
            status,
            pilots::PilotStatus::Active | pilots::PilotStatus::Completed
        ) {
            return Err(ReportsError::refused(
                axv_platform::error::Reason::PilotNotRunning,
                format!(
                    "the pilot is {}; reports are filed for ACTIVE or COMPLETED pilots",
                    status.as_str_name().trim_start_matches("PILOT_STATUS_")
                ),
            ));
        }
        let subject = ReportSubject {
            sector: Sector::name_of(pilot.lead_company_sector)
                .unwrap_or_default()
                .to_owned(),
            domain: PilotDomain::name_of(pilot.domain)
                .unwrap_or_default()
                .to_owned(),
            pilot_id: pilot.id,
            company_id: pilot.lead_company_id,
        };
        self.store.create(&subject, &draft, &Actor::of(who)).await
    }

    pub async fn update(
        &self,
        caller: Option<&Caller>,
        id: &str,
        input: ReportInput,
    ) -> Result<ReportRecord, ReportsError> {
        let (report, own) = self.visible(caller, id).await?;
        if !own {
            return Err(ReportsError::Forbidden(
                "only the reporting company may edit its report".into(),
            ));
        }
        if !input.pilot_id.is_empty() && input.pilot_id != report.subject.pilot_id {
            return Err(ReportsError::invalid(
                "pilotId",
                "cannot move a report to another pilot",
            ));
        }
        let draft = input.validate()?;
        self.store
            .update(&report.id, &draft, &Actor::of(require(caller)?))
            .await
    }

    /// The compute the pilot's vouchers consumed in the report's period, asked with the
    /// submitting caller's token; `None` when no vouchers service is wired.
    async fn compute_consumed(
        &self,
        caller: &Caller,
        report: &ReportRecord,
    ) -> Result<Option<i64>, ReportsError> {
        let Some(client) = &self.vouchers else {
            return Ok(None);
        };
        let mut client = client.clone();
        let lookup = ReportsError::upstream("voucher");
        let from_ms = kst_midnight_ms(report.draft.period_start);
        let until_ms = report
            .draft
            .period_end
            .succ_opt()
            .map_or(i64::MAX, kst_midnight_ms);
        let list = client
            .list_pilot_vouchers(ReportsError::request(
                Some(&caller.raw_token),
                vouchers::ListPilotVouchersRequest {
                    pilot_ids: vec![report.subject.pilot_id.clone()],
                },
            )?)
            .await
            .map_err(&lookup)?
            .into_inner()
            .vouchers;
        // Summed by the vouchers service: a voucher's ledger may run to thousands of entries.
        let consumption = client
            .voucher_consumption(ReportsError::request(
                Some(&caller.raw_token),
                vouchers::VoucherConsumptionRequest {
                    voucher_ids: list.into_iter().map(|v| v.id).collect(),
                    from_ms,
                    until_ms,
                },
            )?)
            .await
            .map_err(&lookup)?
            .into_inner()
            .vouchers;
        let total = consumption
            .iter()
            .map(|c| c.consumed.saturating_add(c.overage))
            .fold(0_i64, i64::saturating_add);
        Ok(Some(total))
    }

    /// Submitting records the compute the pilot consumed in the period (from the vouchers
    /// service, when wired).
    pub async fn transition(
        &self,
        caller: Option<&Caller>,
        id: &str,
        action: ReportAction,
        note: Option<&str>,
    ) -> Result<ReportRecord, ReportsError> {
        let who = require(caller)?;
        let (report, own) = self.visible(caller, id).await?;
        authorize(who.is_staff(), own, action)?;
        let note = check_note(action, note)?;
        // Checked before asking the vouchers service, so a refused move costs no lookup.
        action.apply(report.status)?;
        if action == ReportAction::Submit
            && let Some(refusal) = submission_refusal(report.draft.period_end, today_kst())
        {
            return Err(ReportsError::refused(
                axv_platform::error::Reason::PeriodNotOver,
                refusal,
            ));
        }
        let consumed = if action == ReportAction::Submit {
            self.compute_consumed(who, &report).await?
        } else {
            None
        };
        self.store
            .transition(
                &report.id,
                action,
                &Actor::of(who),
                note.as_deref(),
                consumed,
            )
            .await
    }

    /// A new DRAFT version of a VERIFIED report, by the reporting company.
    pub async fn amend(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<ReportRecord, ReportsError> {
        let who = require(caller)?;
        let (report, own) = self.visible(caller, id).await?;
        if !own {
            return Err(ReportsError::Forbidden(
                "only the reporting company may amend its report".into(),
            ));
        }
        self.store.amend(&report.id, &Actor::of(who)).await
    }

    pub async fn get(
        &self,
        caller: Option<&Caller>,
        id: &str,
    ) -> Result<ReportRecord, ReportsError> {
        Ok(self.visible(caller, id).await?.0)
    }

    pub async fn batch_get(
        &self,
        caller: Option<&Caller>,
        ids: &[String],
    ) -> Result<Vec<ReportRecord>, ReportsError> {
        if ids.len() > MAX_BATCH {
            return Err(ReportsError::invalid(
                "ids",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let reach = self.reach(caller).await?;
        let ids: Vec<String> = ids.iter().filter(|id| is_valid_id(id)).cloned().collect();
        Ok(self
            .store
            .reports_by_ids(&ids)
            .await?
            .into_iter()
            .filter(|r| reach.sees(r))
            .collect())
    }

    pub async fn list(
        &self,
        caller: Option<&Caller>,
        filter: ReportFilter,
        page: &PageRequest,
    ) -> Result<(Vec<ReportRecord>, i64), ReportsError> {
        let scope = match self.reach(caller).await? {
            Reach::All => ListScope::All,
            Reach::Companies(own) => ListScope::Companies(own),
        };
        self.store
            .list(&scope, &filter, page.after(), page.fetch_limit())
            .await
    }

    /// For Pilot.outcomeReports: each pilot's reports the caller may see.
    pub async fn of_pilots(
        &self,
        caller: Option<&Caller>,
        pilot_ids: &[String],
    ) -> Result<HashMap<String, Vec<ReportRecord>>, ReportsError> {
        if pilot_ids.len() > MAX_BATCH {
            return Err(ReportsError::invalid(
                "pilotIds",
                format!("at most {MAX_BATCH} per call"),
            ));
        }
        let reach = self.reach(caller).await?;
        let mut grouped = self.store.reports_of_pilots(pilot_ids).await?;
        for reports in grouped.values_mut() {
            reports.retain(|r| reach.sees(r));
        }
        grouped.retain(|_, reports| !reports.is_empty());
        Ok(grouped)
    }

    /// Every version of a lineage the caller may see, oldest first.
    pub async fn versions(
        &self,
        caller: Option<&Caller>,
        lineage_id: &str,
    ) -> Result<Vec<ReportRecord>, ReportsError> {
        let reach = self.reach(caller).await?;
        if !is_valid_id(lineage_id) {
            return Err(ReportsError::NotFound("report"));
        }
        let versions: Vec<ReportRecord> = self
            .store
            .versions(lineage_id)
            .await?
            .into_iter()
            .filter(|r| reach.sees(r))
            .collect();
        if versions.is_empty() {
            return Err(ReportsError::NotFound("report"));
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_midnight_in_gwangju() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        // 2025-12-31T15:00:00Z
        assert_eq!(kst_midnight_ms(day), 1_767_193_200_000);
    }
}
