//! `programStats`: the programme's figures for dashboards, the public and managers. The outcomes
//! service computes them (and suppresses small groups for everyone but staff); the gateway
//! caches the answers (see `cache`) and maps them to the contract.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use axv_platform::ErrorCode;
use axv_proto::{common::v1 as common_pb, outcomes::v1 as pb};

use super::{
    connection::{PageInfo, connection, page_size},
    onboarding::{Company, Sector, load_company, parts},
    pilots::PilotDomain,
    scalars::{Date, DateTime, Long},
    support::{date, date_text, internal},
    vouchers::FundingSource,
};
use crate::{
    cache::ResponseCache,
    clients::{Clients, request},
    context::RequestContext,
    errors::{bad_input, error, from_status},
};

#[derive(InputObject, Debug, Clone, Default)]
pub struct StatsFilter {
    /// Reports whose period starts on or after this day; pilots active from it; vouchers
    /// issued from it. Public answers widen the range to whole quarters.
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub sectors: Option<Vec<Sector>>,
    pub domains: Option<Vec<PilotDomain>>,
    /// Staff's live figures only: the companies holding a voucher from a pool of these
    /// sources, their pilots and outcomes, and only those pools' vouchers.
    pub funding_sources: Option<Vec<FundingSource>>,
}

impl StatsFilter {
    /// Sorted and deduplicated, so equal questions share one cache entry.
    pub fn to_pb(&self) -> pb::StatsFilter {
        let mut sectors: Vec<i32> = self
            .sectors
            .iter()
            .flatten()
            .map(|s| common_pb::Sector::from(*s).into())
            .collect();
        sectors.sort();
        sectors.dedup();
        let mut domains: Vec<i32> = self
            .domains
            .iter()
            .flatten()
            .map(|d| common_pb::PilotDomain::from(*d).into())
            .collect();
        domains.sort();
        domains.dedup();
        let mut fundings: Vec<i32> = self
            .funding_sources
            .iter()
            .flatten()
            .map(|f| axv_proto::vouchers::v1::FundingSource::from(*f).into())
            .collect();
        fundings.sort();
        fundings.dedup();
        pb::StatsFilter {
            from: self.from.map(date_text),
            to: self.to.map(date_text),
            sectors,
            domains,
            fundings,
        }
    }
}

/// Which figures `programStats` answers from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StatsView {
    /// Staff only (their default): the exact figures now.
    Live,
    /// The latest release, as the public sees it (everyone else's default and only choice).
    Released,
    /// Staff only: the release that would be published now, as the public would see it.
    Preview,
}

impl From<StatsView> for pb::StatsView {
    fn from(view: StatsView) -> Self {
        match view {
            StatsView::Live => pb::StatsView::Live,
            StatsView::Released => pb::StatsView::Released,
            StatsView::Preview => pb::StatsView::Preview,
        }
    }
}

/// The figures for `filter` as the caller may see them, from the cache when it has them.
pub async fn load_stats(
    clients: &Clients,
    rc: &RequestContext,
    cache: &ResponseCache,
    filter: pb::StatsFilter,
    view: Option<StatsView>,
) -> std::result::Result<pb::GetProgramStatsResponse, tonic::Status> {
    let question = pb::GetProgramStatsRequest {
        filter: Some(filter),
        view: view.map_or(pb::StatsView::Unspecified, pb::StatsView::from) as i32,
    };
    let load = async {
        clients
            .outcomes
            .clone()
            .get_program_stats(request(rc, question.clone()))
            .await
            .map(tonic::Response::into_inner)
    };
    cache
        .get_or_load("program_stats", rc.caller.as_ref(), &question, load)
        .await
}

/// Which figures a cell a release holds back carries.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum HeldFigure {
    /// Outcome figures of verified reports, by industry, domain and quarter.
    Outcomes,
    /// Vouchers issued, compute granted and consumed, by industry and issue quarter.
    Vouchers,
    /// Companies that applied and were approved, by industry.
    Companies,
    /// Pilots taken on and active, by the lead company's industry and the domain.
    Pilots,
}

/// A cell whose live changes a release holds back until enough companies' changes travel
/// together; named without its values.
pub struct HeldCell(pb::HeldCell);

#[Object]
impl HeldCell {
    async fn figure(&self) -> Result<HeldFigure> {
        match self.0.figure.as_str() {
            "OUTCOMES" => Ok(HeldFigure::Outcomes),
            "VOUCHERS" => Ok(HeldFigure::Vouchers),
            "COMPANIES" => Ok(HeldFigure::Companies),
            "PILOTS" => Ok(HeldFigure::Pilots),
            _ => Err(internal("figure")),
        }
    }
    /// `null` for a sector this gateway does not know (none today).
    async fn sector(&self) -> Option<Sector> {
        Sector::from_pb(self.0.sector)
    }
    /// Outcome and pilot cells only.
    async fn domain(&self) -> Option<PilotDomain> {
        self.0.domain.and_then(PilotDomain::from_pb)
    }
    /// The quarter's first day; outcome and voucher cells only.
    async fn quarter_start(&self) -> Result<Option<Date>> {
        self.0
            .quarter_start
            .as_deref()
            .map(|d| date(d, "quarterStart"))
            .transpose()
    }
}

/// A release of the public figures: every public answer (anonymous callers, dashboards, the
/// public CSV) comes from the latest one.
pub struct Release(pub pb::Release);

#[Object]
impl Release {
    /// 1, 2, 3... in the order they were published.
    async fn number(&self) -> Result<i32> {
        int(self.0.number, "number")
    }
    /// The day it was published (KST).
    async fn date(&self) -> Result<Date> {
        date(&self.0.date, "date")
    }
    /// `null` for a preview.
    async fn published_at(&self) -> Option<DateTime> {
        (!self.0.preview).then(|| DateTime::from_millis(self.0.published_at_ms))
    }
    /// Why it was published (a calendar release says which quarter it follows).
    async fn note(&self) -> &str {
        &self.0.note
    }
    /// Published by the calendar after a quarter (else early, by a programme manager).
    async fn scheduled(&self) -> bool {
        self.0.scheduled
    }
    /// Not published: what the next release would be if published now (staff only).
    async fn preview(&self) -> bool {
        self.0.preview
    }
    /// Cells whose live figures changed by fewer than three companies since the releases
    /// before: they keep their released values until more changes travel with them.
    async fn held_cells(&self) -> Vec<HeldCell> {
        self.0.held_cells.iter().cloned().map(HeldCell).collect()
    }
}

connection!(ReleaseConnection, ReleaseEdge, Release);

fn int(value: i64, what: &str) -> Result<i32> {
    i32::try_from(value).map_err(|_| internal(what))
}

/// Sums of the counted (newest verified) reports' figures.
#[derive(SimpleObject, Debug, Clone)]
pub struct OutcomeTotals {
    pub models_developed: i32,
    pub models_improved: i32,
    pub models_commercialized: i32,
    /// KRW.
    pub revenue_krw: Long,
    pub patents_filed: i32,
    pub patents_registered: i32,
    pub papers: i32,
    pub new_hires: i32,
    /// Follow-on investment, KRW.
    pub investment_krw: Long,
}

impl OutcomeTotals {
    pub fn from_pb(f: Option<&pb::Figures>) -> Result<Self> {
        let f = f.cloned().unwrap_or_default();
        Ok(Self {
            models_developed: int(f.models_developed, "modelsDeveloped")?,
            models_improved: int(f.models_improved, "modelsImproved")?,
            models_commercialized: int(f.models_commercialized, "modelsCommercialized")?,
            revenue_krw: Long(f.revenue_krw),
            patents_filed: int(f.patents_filed, "patentsFiled")?,
            patents_registered: int(f.patents_registered, "patentsRegistered")?,
            papers: int(f.papers, "papers")?,
            new_hires: int(f.new_hires, "newHires")?,
            investment_krw: Long(f.investment_krw),
        })
    }
}

fn group_outcomes(group: &pb::GroupStats) -> Result<Option<OutcomeTotals>> {
    group
        .figures
        .as_ref()
        .map(|f| OutcomeTotals::from_pb(Some(f)))
        .transpose()
}

/// One industry's figures.
pub struct SectorStats(pb::GroupStats);

#[Object]
impl SectorStats {
    async fn sector(&self) -> Result<Sector> {
        Sector::from_pb(self.0.sector).ok_or_else(|| internal("sector"))
    }
    /// Companies with verified reports in the group (shown even when suppressed).
    async fn companies(&self) -> Result<i32> {
        int(self.0.companies, "companies")
    }
    /// `null` when suppressed.
    async fn outcomes(&self) -> Result<Option<OutcomeTotals>> {
        group_outcomes(&self.0)
    }
    /// For dashboards and anonymous callers, a group of fewer than 3 companies shows no figures.
    async fn suppressed(&self) -> bool {
        self.0.suppressed
    }
}

/// One pilot domain's figures.
pub struct DomainStats(pb::GroupStats);

#[Object]
impl DomainStats {
    async fn domain(&self) -> Result<PilotDomain> {
        PilotDomain::from_pb(self.0.domain).ok_or_else(|| internal("domain"))
    }
    /// Pilots with verified reports in the group.
    async fn pilots(&self) -> Result<i32> {
        int(self.0.pilots, "pilots")
    }
    /// `null` when suppressed.
    async fn outcomes(&self) -> Result<Option<OutcomeTotals>> {
        group_outcomes(&self.0)
    }
    async fn suppressed(&self) -> bool {
        self.0.suppressed
    }
}

/// One company's figures (managers only).
pub struct CompanyStats(pb::CompanyStats);

#[Object]
impl CompanyStats {
    async fn company_id(&self) -> ID {
        ID(self.0.company_id.clone())
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<Company>> {
        load_company(ctx, &self.0.company_id).await
    }
    async fn outcomes(&self) -> Result<OutcomeTotals> {
        OutcomeTotals::from_pb(self.0.figures.as_ref())
    }
}

/// One bucket of the time series.
pub struct PeriodStats(pb::PeriodStats);

#[Object]
impl PeriodStats {
    /// The bucket's first day.
    async fn period_start(&self) -> Result<Date> {
        date(&self.0.period_start, "periodStart")
    }
    async fn outcomes(&self) -> Result<OutcomeTotals> {
        OutcomeTotals::from_pb(self.0.figures.as_ref())
    }
    /// Compute consumed in the bucket, as the verified reports state it (base units).
    async fn compute_consumed(&self) -> Long {
        Long(self.0.compute_consumed)
    }
}

pub struct ProgramStats(pub pb::GetProgramStatsResponse);

#[Object]
impl ProgramStats {
    /// Companies that applied (past DRAFT) in the filter's sectors.
    async fn companies(&self) -> Result<i32> {
        int(self.0.companies, "companies")
    }
    async fn approved_companies(&self) -> Result<i32> {
        int(self.0.approved_companies, "approvedCompanies")
    }
    /// Pilots the programme took on whose period overlaps the filter's.
    async fn pilots(&self) -> Result<i32> {
        int(self.0.pilots, "pilots")
    }
    async fn active_pilots(&self) -> Result<i32> {
        int(self.0.active_pilots, "activePilots")
    }
    /// Vouchers issued in the period (domains do not narrow vouchers: a voucher belongs to a
    /// firm, not a domain).
    async fn vouchers_issued(&self) -> Result<i32> {
        int(self.0.vouchers_issued, "vouchersIssued")
    }
    /// Base units (GPU-seconds for GPU pools).
    async fn compute_granted(&self) -> Long {
        Long(self.0.compute_granted)
    }
    /// Consumed on those vouchers so far: what the ledger charged plus the usage that ran
    /// beyond their balances.
    async fn compute_consumed(&self) -> Long {
        Long(self.0.compute_consumed)
    }
    /// Of `computeConsumed`, the usage beyond the vouchers' balances (recorded, never charged).
    async fn compute_overage(&self) -> Long {
        Long(self.0.compute_overage)
    }
    /// VERIFIED reports only, newest verified version of each.
    async fn outcomes(&self) -> Result<OutcomeTotals> {
        OutcomeTotals::from_pb(self.0.outcomes.as_ref())
    }
    /// The release the answer comes from: set for every public answer (once a release exists)
    /// and for staff asking for RELEASED or PREVIEW; `null` for staff's live answers.
    async fn release(&self) -> Option<Release> {
        self.0.release.clone().map(Release)
    }
    /// True when a public answer left out groups of fewer than 3 companies, so `outcomes` is a
    /// lower bound.
    async fn outcomes_suppressed(&self) -> bool {
        self.0.outcomes_suppressed
    }
    async fn by_sector(&self) -> Vec<SectorStats> {
        self.0.by_sector.iter().cloned().map(SectorStats).collect()
    }
    async fn by_domain(&self) -> Vec<DomainStats> {
        self.0.by_domain.iter().cloned().map(DomainStats).collect()
    }
    /// Programme managers and admins only; FORBIDDEN (and null) for everyone else, leaving the
    /// rest of the answer intact.
    #[graphql(complexity = "50 * child_complexity")]
    async fn by_company(&self) -> Result<Option<Vec<CompanyStats>>> {
        if self.0.public {
            return Err(error(
                ErrorCode::Forbidden,
                "figures per company are for programme managers",
            ));
        }
        Ok(Some(
            self.0
                .by_company
                .iter()
                .cloned()
                .map(CompanyStats)
                .collect(),
        ))
    }
    /// `bucket`: MONTH, QUARTER or YEAR. Buckets without verified reports are left out. Public
    /// answers place each report in its quarter, so month buckets are quarters' first months.
    async fn time_series(&self, bucket: String) -> Result<Vec<PeriodStats>> {
        let series = match bucket.as_str() {
            "MONTH" => &self.0.by_month,
            "QUARTER" => &self.0.by_quarter,
            "YEAR" => &self.0.by_year,
            _ => return Err(bad_input("bucket must be MONTH, QUARTER or YEAR")),
        };
        Ok(series.iter().cloned().map(PeriodStats).collect())
    }
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The programme's figures. Everyone may ask. Dashboards and anonymous callers get the
    /// latest release, with groups of fewer than 3 companies suppressed; staff get live, exact
    /// figures unless they ask for `view: RELEASED` or `PREVIEW` (FORBIDDEN for others).
    async fn program_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<StatsFilter>,
        view: Option<StatsView>,
    ) -> Result<ProgramStats> {
        let (clients, rc) = parts(ctx)?;
        let cache = ctx.data::<ResponseCache>()?;
        let filter = filter.unwrap_or_default().to_pb();
        load_stats(&clients, &rc, cache, filter, view)
            .await
            .map(ProgramStats)
            .map_err(from_status)
    }

    /// Published releases of the public figures, newest first. Anyone may ask.
    async fn releases(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ReleaseConnection> {
        let page_token = match after.as_deref() {
            None | Some("") => String::new(),
            Some(cursor) => cursor
                .parse::<u32>()
                .map_err(|_| bad_input("after is not a cursor this listing gave"))?
                .to_string(),
        };
        let response = call!(
            ctx,
            outcomes.list_releases(pb::ListReleasesRequest {
                page_size: page_size(first)?,
                page_token,
            })
        )?;
        let edges: Vec<ReleaseEdge> = response
            .releases
            .into_iter()
            .map(|release| ReleaseEdge {
                cursor: release.number.to_string(),
                node: Release(release),
            })
            .collect();
        Ok(ReleaseConnection {
            page_info: PageInfo {
                has_next_page: !response.next_page_token.is_empty(),
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            edges,
            total_count: int(response.total_count, "totalCount")?,
        })
    }
}

#[derive(Default)]
pub struct StatsMutation;

#[Object]
impl StatsMutation {
    /// Programme managers and admins: publish the next release of the public figures now,
    /// before the calendar's (the 45th day after each quarter). `note` says why; cells changed
    /// by fewer than three companies are held as in every release.
    async fn publish_release(&self, ctx: &Context<'_>, note: String) -> Result<Release> {
        let response = call!(
            ctx,
            outcomes.publish_release(pb::PublishReleaseRequest { note })
        )?;
        ctx.data::<ResponseCache>()?.invalidate().await;
        response
            .release
            .map(Release)
            .ok_or_else(|| internal("release"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_normalized_for_the_cache() {
        let a = StatsFilter {
            sectors: Some(vec![Sector::Energy, Sector::Mobility, Sector::Energy]),
            domains: Some(vec![PilotDomain::Traffic, PilotDomain::Energy]),
            ..Default::default()
        };
        let b = StatsFilter {
            sectors: Some(vec![Sector::Mobility, Sector::Energy]),
            domains: Some(vec![PilotDomain::Energy, PilotDomain::Traffic]),
            ..Default::default()
        };
        assert_eq!(a.to_pb(), b.to_pb());
        assert_eq!(
            a.to_pb().sectors,
            vec![
                common_pb::Sector::Mobility as i32,
                common_pb::Sector::Energy as i32
            ]
        );
    }
}
