//! The outcomes part of the contract: each pilot's outcome reports per period, reviewed by the
//! programme's managers. The outcomes service decides who may see and do what (a report another
//! firm may not see is NOT_FOUND); resolvers pass the caller's token and map its answers.

use async_graphql::{Context, ID, InputObject, Object, Result};
use axv_platform::ErrorCode;
use axv_proto::outcomes::v1 as pb;

use super::{
    connection::{check_cursor, connection, page_size},
    onboarding::{Company, StatusChange, load_company, require_company},
    pilots::{Pilot, load_pilot},
    scalars::{Date, DateTime, Long},
    support::{date, date_text, internal, mirror_enum},
};
use crate::{
    cache::ResponseCache,
    errors::{bad_input, error},
};

mirror_enum!(
    ReportStatus,
    pb::ReportStatus {
        Draft,
        Submitted,
        Verified,
        Returned,
    }
);

/// A count the contract gives as `Int`: larger than an `Int` can hold is an internal error.
fn int(value: i64, what: &str) -> Result<i32> {
    i32::try_from(value).map_err(|_| internal(what))
}

/// One version of an outcome report, as the caller may see it.
#[derive(Clone, Debug)]
pub struct OutcomeReport(pub pb::OutcomeReport);

#[Object]
impl OutcomeReport {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Files attached to it that the caller may read (none for dashboards and anonymous
    /// callers), oldest first.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<super::documents::Document>> {
        super::documents::documents_of(
            ctx,
            super::documents::DocumentParentKind::OutcomeReport,
            &self.0.id,
            "",
        )
        .await
    }
    /// NOT_FOUND when the caller may no longer see the pilot.
    async fn pilot(&self, ctx: &Context<'_>) -> Result<Pilot> {
        load_pilot(ctx, &self.0.pilot_id)
            .await?
            .ok_or_else(|| error(ErrorCode::NotFound, "pilot not found"))
    }
    /// The pilot's lead company, which reports.
    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        require_company(ctx, &self.0.company_id).await
    }
    /// One calendar quarter, half or year.
    async fn period_start(&self) -> Result<Date> {
        date(&self.0.period_start, "periodStart")
    }
    async fn period_end(&self) -> Result<Date> {
        date(&self.0.period_end, "periodEnd")
    }
    async fn models_developed(&self) -> Result<i32> {
        int(self.0.models_developed, "modelsDeveloped")
    }
    async fn models_improved(&self) -> Result<i32> {
        int(self.0.models_improved, "modelsImproved")
    }
    async fn models_commercialized(&self) -> Result<i32> {
        int(self.0.models_commercialized, "modelsCommercialized")
    }
    /// KRW.
    async fn revenue_krw(&self) -> Long {
        Long(self.0.revenue_krw)
    }
    async fn patents_filed(&self) -> Result<i32> {
        int(self.0.patents_filed, "patentsFiled")
    }
    async fn patents_registered(&self) -> Result<i32> {
        int(self.0.patents_registered, "patentsRegistered")
    }
    async fn papers(&self) -> Result<i32> {
        int(self.0.papers, "papers")
    }
    async fn new_hires(&self) -> Result<i32> {
        int(self.0.new_hires, "newHires")
    }
    /// KRW.
    async fn investment_krw(&self) -> Long {
        Long(self.0.investment_krw)
    }
    /// Compute (voucher) consumption in the period, taken when the report is submitted.
    async fn compute_consumed(&self) -> Long {
        Long(self.0.compute_consumed)
    }
    /// Text or links backing the figures.
    async fn evidence(&self) -> Option<&str> {
        Some(self.0.evidence.as_str()).filter(|s| !s.is_empty())
    }
    async fn status(&self) -> Result<ReportStatus> {
        ReportStatus::from_pb(self.0.status).ok_or_else(|| internal("status"))
    }
    /// 1 for the first version; an amendment of a VERIFIED report is the next one.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Every transition of this version, oldest first.
    async fn history(&self) -> Vec<StatusChange> {
        self.0.history.iter().map(StatusChange::from_pb).collect()
    }
    async fn created_at(&self) -> DateTime {
        DateTime::from_millis(self.0.created_at_ms)
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct OutcomeReportInput {
    /// A pilot the caller's company leads.
    pub pilot_id: ID,
    /// One calendar quarter, half or year.
    pub period_start: Date,
    pub period_end: Date,
    pub models_developed: i32,
    pub models_improved: i32,
    pub models_commercialized: i32,
    /// KRW.
    pub revenue_krw: Long,
    pub patents_filed: i32,
    pub patents_registered: i32,
    pub papers: i32,
    pub new_hires: i32,
    /// KRW.
    pub investment_krw: Long,
    /// Text or links backing the figures.
    pub evidence: Option<String>,
}

impl From<OutcomeReportInput> for pb::ReportInput {
    fn from(input: OutcomeReportInput) -> Self {
        pb::ReportInput {
            pilot_id: input.pilot_id.0,
            period_start: date_text(input.period_start),
            period_end: date_text(input.period_end),
            models_developed: input.models_developed.into(),
            models_improved: input.models_improved.into(),
            models_commercialized: input.models_commercialized.into(),
            patents_filed: input.patents_filed.into(),
            patents_registered: input.patents_registered.into(),
            papers: input.papers.into(),
            new_hires: input.new_hires.into(),
            revenue_krw: input.revenue_krw.0,
            investment_krw: input.investment_krw.0,
            evidence: input.evidence.unwrap_or_default(),
        }
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct OutcomeReportFilter {
    pub pilot_id: Option<ID>,
    pub company_id: Option<ID>,
    pub statuses: Option<Vec<ReportStatus>>,
}

impl From<OutcomeReportFilter> for pb::ReportFilter {
    fn from(filter: OutcomeReportFilter) -> Self {
        pb::ReportFilter {
            pilot_id: filter.pilot_id.map(|id| id.0),
            company_id: filter.company_id.map(|id| id.0),
            statuses: filter
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(|s| pb::ReportStatus::from(s).into())
                .collect(),
        }
    }
}

connection!(OutcomeReportConnection, OutcomeReportEdge, OutcomeReport);

fn report_of(report: Option<pb::OutcomeReport>) -> Result<OutcomeReport> {
    report
        .map(OutcomeReport)
        .ok_or_else(|| internal("missing report"))
}

/// A report an ACTIVE pilot owes: one for each reporting quarter, due on its last day.
#[derive(Clone, Debug)]
pub struct DueReport(pub pb::DueReport);

#[Object]
impl DueReport {
    async fn pilot_id(&self) -> ID {
        ID(self.0.pilot_id.clone())
    }
    async fn pilot_title(&self) -> &str {
        &self.0.pilot_title
    }
    async fn pilot(&self, ctx: &Context<'_>) -> Result<Option<Pilot>> {
        load_pilot(ctx, &self.0.pilot_id).await
    }
    /// The pilot's lead company, which owes the report.
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<Company>> {
        load_company(ctx, &self.0.company_id).await
    }
    async fn period_start(&self) -> Result<Date> {
        date(&self.0.period_start, "periodStart")
    }
    /// The day the report is due.
    async fn period_end(&self) -> Result<Date> {
        date(&self.0.period_end, "periodEnd")
    }
    /// The period ended and no report was filed.
    async fn overdue(&self) -> bool {
        self.0.overdue
    }
}

#[derive(Default)]
pub struct OutcomesQuery;

#[Object]
impl OutcomesQuery {
    /// NOT_FOUND for a report the caller may not see.
    async fn outcome_report(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OutcomeReport>> {
        let response = call!(ctx, outcomes.get_report(pb::GetReportRequest { id: id.0 }))?;
        Ok(response.report.map(OutcomeReport))
    }

    /// Reports ACTIVE pilots owe (ended quarters without a filed report, and the running
    /// quarter): managers see every pilot's, firm members their own companies'.
    #[graphql(complexity = "100 * child_complexity")]
    async fn due_outcome_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] overdue_only: bool,
    ) -> Result<Vec<DueReport>> {
        let response = call!(
            ctx,
            outcomes.list_due_reports(pb::ListDueReportsRequest { overdue_only })
        )?;
        Ok(response.reports.into_iter().map(DueReport).collect())
    }

    /// Firms see their own companies' reports; managers and admins every one.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn outcome_reports(
        &self,
        ctx: &Context<'_>,
        filter: Option<OutcomeReportFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<OutcomeReportConnection> {
        let size = page_size(first)?;
        check_cursor(after.as_deref())?;
        let response = call!(
            ctx,
            outcomes.list_reports(pb::ListReportsRequest {
                filter: Some(filter.unwrap_or_default().into()),
                page_size: size,
                page_token: after.unwrap_or_default(),
            })
        )?;
        let nodes = response
            .reports
            .into_iter()
            .map(|r| (r.id.clone(), OutcomeReport(r)))
            .collect();
        Ok(OutcomeReportConnection::from_page(
            nodes,
            response.next_page_token,
            response.total_count,
        ))
    }
}

#[derive(Default)]
pub struct OutcomesMutation;

impl OutcomesMutation {
    async fn transition(
        ctx: &Context<'_>,
        id: ID,
        action: pb::ReportAction,
        note: Option<String>,
    ) -> Result<OutcomeReport> {
        let request = pb::TransitionReportRequest {
            id: id.0.clone(),
            action: action.into(),
            note,
        };
        let response = super::review_claims::decide(ctx, &id, async {
            call!(ctx, outcomes.transition_report(request))
        })
        .await?;
        // The caller sees its own change in programStats at once, before the event arrives.
        ctx.data::<ResponseCache>()?.invalidate().await;
        report_of(response.report)
    }
}

#[Object]
impl OutcomesMutation {
    /// The pilot's lead company: a DRAFT report for one period.
    async fn create_outcome_report(
        &self,
        ctx: &Context<'_>,
        input: OutcomeReportInput,
    ) -> Result<OutcomeReport> {
        let response = call!(
            ctx,
            outcomes.create_report(pb::CreateReportRequest {
                input: Some(input.into()),
            })
        )?;
        report_of(response.report)
    }

    /// The lead company edits its DRAFT or RETURNED report (a returned one is then submitted
    /// again). `input.pilotId` must be the report's own pilot.
    async fn update_outcome_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: OutcomeReportInput,
    ) -> Result<OutcomeReport> {
        let response = call!(
            ctx,
            outcomes.update_report(pb::UpdateReportRequest {
                id: id.0,
                input: Some(input.into()),
            })
        )?;
        report_of(response.report)
    }

    /// The lead company: DRAFT or RETURNED -> SUBMITTED.
    async fn submit_outcome_report(&self, ctx: &Context<'_>, id: ID) -> Result<OutcomeReport> {
        Self::transition(ctx, id, pb::ReportAction::Submit, None).await
    }

    /// Managers: SUBMITTED -> VERIFIED.
    async fn verify_outcome_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<OutcomeReport> {
        Self::transition(ctx, id, pb::ReportAction::Verify, note).await
    }

    /// Managers: SUBMITTED -> RETURNED, saying why.
    async fn return_outcome_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
    ) -> Result<OutcomeReport> {
        if note.trim().is_empty() {
            return Err(bad_input("note must say why the report is returned"));
        }
        Self::transition(ctx, id, pb::ReportAction::Return, Some(note)).await
    }

    /// The lead company: a new DRAFT version of a VERIFIED report (which keeps counting until
    /// the new one is verified).
    async fn amend_outcome_report(&self, ctx: &Context<'_>, id: ID) -> Result<OutcomeReport> {
        let response = call!(
            ctx,
            outcomes.amend_report(pb::AmendReportRequest { id: id.0 })
        )?;
        report_of(response.report)
    }
}
