//! The tonic service: protobuf <-> the use cases in `service`, errors -> `Status`.

use axv_auth::caller;
use axv_platform::pagination::PageRequest;
use axv_proto::{common::v1 as common, outcomes::v1 as pb};
use tonic::{Request, Response, Status};

use crate::{
    domain::{Figures, GroupStats, ReportAction, ReportStatus, Stats},
    error::ReportsError,
    releases::store::ReleaseInfo,
    service::{Outcomes, ReportInput},
    stats::{ProgramStats, ReleaseOf, StatsFilter, StatsView},
    store::{ReportFilter, ReportRecord},
};

pub struct OutcomesGrpc {
    service: Outcomes,
}

impl OutcomesGrpc {
    pub fn new(service: Outcomes) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::outcomes_service_server::OutcomesServiceServer<Self> {
        pb::outcomes_service_server::OutcomesServiceServer::new(self)
    }
}

macro_rules! mirror {
    ($to:ident, $from:ident, $domain:ident, $pb:ty { $($variant:ident),+ $(,)? }) => {
        pub fn $to(value: $domain) -> $pb {
            match value { $($domain::$variant => <$pb>::$variant),+ }
        }

        pub fn $from(value: i32) -> Option<$domain> {
            match <$pb>::try_from(value).ok()? {
                $(<$pb>::$variant => Some($domain::$variant),)+
                _ => None,
            }
        }
    };
}

mirror!(
    status_to_pb,
    status_from_pb,
    ReportStatus,
    pb::ReportStatus {
        Draft,
        Submitted,
        Verified,
        Returned,
    }
);
mirror!(
    action_to_pb,
    action_from_pb,
    ReportAction,
    pb::ReportAction {
        Submit,
        Verify,
        Return,
    }
);

pub fn report_to_pb(r: ReportRecord) -> pb::OutcomeReport {
    let f = r.draft.figures;
    pb::OutcomeReport {
        id: r.id,
        lineage_id: r.lineage_id,
        version: i32::try_from(r.version).unwrap_or(i32::MAX),
        pilot_id: r.subject.pilot_id,
        company_id: r.subject.company_id,
        period_start: r.draft.period_start.to_string(),
        period_end: r.draft.period_end.to_string(),
        models_developed: f.models_developed,
        models_improved: f.models_improved,
        models_commercialized: f.models_commercialized,
        patents_filed: f.patents_filed,
        patents_registered: f.patents_registered,
        papers: f.papers,
        new_hires: f.new_hires,
        revenue_krw: f.revenue_krw,
        investment_krw: f.investment_krw,
        compute_consumed: r.compute_consumed,
        evidence: r.draft.evidence,
        status: status_to_pb(r.status).into(),
        history: r
            .history
            .into_iter()
            .map(|h| common::StatusChange {
                from: h.from.unwrap_or_default(),
                to: h.to,
                at_ms: h.at,
                by: h.actor,
                note: h.note,
            })
            .collect(),
        created_at_ms: r.created_at,
        sector: common::Sector::value_of(&r.subject.sector),
        domain: common::PilotDomain::value_of(&r.subject.domain),
    }
}

fn input_from_pb(input: Option<pb::ReportInput>) -> Result<ReportInput, ReportsError> {
    let i = input.ok_or_else(|| ReportsError::invalid("input", "is required"))?;
    Ok(ReportInput {
        pilot_id: i.pilot_id,
        period_start: i.period_start,
        period_end: i.period_end,
        figures: Figures {
            models_developed: i.models_developed,
            models_improved: i.models_improved,
            models_commercialized: i.models_commercialized,
            patents_filed: i.patents_filed,
            patents_registered: i.patents_registered,
            papers: i.papers,
            new_hires: i.new_hires,
            revenue_krw: i.revenue_krw,
            investment_krw: i.investment_krw,
        },
        evidence: i.evidence,
    })
}

fn filter_from_pb(f: pb::ReportFilter) -> Result<ReportFilter, ReportsError> {
    Ok(ReportFilter {
        pilot_id: f.pilot_id.filter(|p| !p.is_empty()),
        company_id: f.company_id.filter(|c| !c.is_empty()),
        statuses: f
            .statuses
            .into_iter()
            .map(|s| {
                status_from_pb(s).ok_or_else(|| {
                    ReportsError::invalid("filter.statuses", "has an unknown status")
                })
            })
            .collect::<Result<_, _>>()?,
    })
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::outcomes_service_server::OutcomesService for OutcomesGrpc {
    async fn create_report(
        &self,
        request: Request<pb::CreateReportRequest>,
    ) -> Reply<pb::CreateReportResponse> {
        let input = input_from_pb(request.get_ref().input.clone())?;
        let report = self.service.create(caller(&request), input).await?;
        Ok(Response::new(pb::CreateReportResponse {
            report: Some(report_to_pb(report)),
        }))
    }

    async fn update_report(
        &self,
        request: Request<pb::UpdateReportRequest>,
    ) -> Reply<pb::UpdateReportResponse> {
        let r = request.get_ref();
        let input = input_from_pb(r.input.clone())?;
        let report = self.service.update(caller(&request), &r.id, input).await?;
        Ok(Response::new(pb::UpdateReportResponse {
            report: Some(report_to_pb(report)),
        }))
    }

    async fn transition_report(
        &self,
        request: Request<pb::TransitionReportRequest>,
    ) -> Reply<pb::TransitionReportResponse> {
        let r = request.get_ref();
        let action = action_from_pb(r.action)
            .ok_or_else(|| ReportsError::invalid("action", "must be SUBMIT, VERIFY or RETURN"))?;
        let report = self
            .service
            .transition(caller(&request), &r.id, action, r.note.as_deref())
            .await?;
        Ok(Response::new(pb::TransitionReportResponse {
            report: Some(report_to_pb(report)),
        }))
    }

    async fn amend_report(
        &self,
        request: Request<pb::AmendReportRequest>,
    ) -> Reply<pb::AmendReportResponse> {
        let report = self
            .service
            .amend(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::AmendReportResponse {
            report: Some(report_to_pb(report)),
        }))
    }

    async fn get_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Reply<pb::GetReportResponse> {
        let report = self
            .service
            .get(caller(&request), &request.get_ref().id)
            .await?;
        Ok(Response::new(pb::GetReportResponse {
            report: Some(report_to_pb(report)),
        }))
    }

    async fn list_reports(
        &self,
        request: Request<pb::ListReportsRequest>,
    ) -> Reply<pb::ListReportsResponse> {
        let r = request.get_ref();
        let filter = filter_from_pb(r.filter.clone().unwrap_or_default())?;
        let page = PageRequest::parse(r.page_size, &r.page_token)
            .map_err(|e| ReportsError::invalid(e.field(), e.to_string()))?;
        let (reports, total) = self.service.list(caller(&request), filter, &page).await?;
        let (reports, next_page_token) = page.finish(reports, |r| &r.id);
        Ok(Response::new(pb::ListReportsResponse {
            reports: reports.into_iter().map(report_to_pb).collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn batch_get_reports(
        &self,
        request: Request<pb::BatchGetReportsRequest>,
    ) -> Reply<pb::BatchGetReportsResponse> {
        let reports = self
            .service
            .batch_get(caller(&request), &request.get_ref().ids)
            .await?;
        Ok(Response::new(pb::BatchGetReportsResponse {
            reports: reports.into_iter().map(report_to_pb).collect(),
        }))
    }

    async fn list_pilot_reports(
        &self,
        request: Request<pb::ListPilotReportsRequest>,
    ) -> Reply<pb::ListPilotReportsResponse> {
        let grouped = self
            .service
            .of_pilots(caller(&request), &request.get_ref().pilot_ids)
            .await?;
        Ok(Response::new(pb::ListPilotReportsResponse {
            pilots: grouped
                .into_iter()
                .map(|(pilot_id, reports)| pb::PilotReports {
                    pilot_id,
                    reports: reports.into_iter().map(report_to_pb).collect(),
                })
                .collect(),
        }))
    }

    async fn list_report_versions(
        &self,
        request: Request<pb::ListReportVersionsRequest>,
    ) -> Reply<pb::ListReportVersionsResponse> {
        let reports = self
            .service
            .versions(caller(&request), &request.get_ref().lineage_id)
            .await?;
        Ok(Response::new(pb::ListReportVersionsResponse {
            reports: reports.into_iter().map(report_to_pb).collect(),
        }))
    }

    async fn get_program_stats(
        &self,
        request: Request<pb::GetProgramStatsRequest>,
    ) -> Reply<pb::GetProgramStatsResponse> {
        let f = request.get_ref().filter.clone().unwrap_or_default();
        let filter = StatsFilter {
            from: f.from.filter(|d| !d.is_empty()),
            to: f.to.filter(|d| !d.is_empty()),
            sectors: f.sectors,
            domains: f.domains,
            fundings: f.fundings,
        };
        let view = match request.get_ref().view() {
            pb::StatsView::Unspecified => StatsView::Default,
            pb::StatsView::Live => StatsView::Live,
            pb::StatsView::Released => StatsView::Released,
            pb::StatsView::Preview => StatsView::Preview,
        };
        let stats = self
            .service
            .program_stats(caller(&request), &filter, view)
            .await?;
        Ok(Response::new(stats_to_pb(stats)))
    }

    async fn publish_release(
        &self,
        request: Request<pb::PublishReleaseRequest>,
    ) -> Reply<pb::PublishReleaseResponse> {
        let info = self
            .service
            .publish_release_early(caller(&request), &request.get_ref().note)
            .await?;
        Ok(Response::new(pb::PublishReleaseResponse {
            release: Some(release_to_pb(&ReleaseOf {
                info,
                preview: false,
            })),
        }))
    }

    async fn list_releases(
        &self,
        request: Request<pb::ListReleasesRequest>,
    ) -> Reply<pb::ListReleasesResponse> {
        let r = request.get_ref();
        let before = match r.page_token.as_str() {
            "" => None,
            token => Some(token.parse::<i64>().map_err(|_| {
                ReportsError::invalid("pageToken", "is not a token this listing gave")
            })?),
        };
        let size = match r.page_size {
            0 => 20,
            n => usize::try_from(n.clamp(1, 100)).unwrap_or(20),
        };
        let (releases, total) = self.service.releases(before, size).await?;
        let next_page_token = match releases.last() {
            Some(last) if releases.len() == size && last.number > 1 => last.number.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListReleasesResponse {
            releases: releases
                .into_iter()
                .map(|info| {
                    release_to_pb(&ReleaseOf {
                        info,
                        preview: false,
                    })
                })
                .collect(),
            next_page_token,
            total_count: total,
        }))
    }

    async fn list_due_reports(
        &self,
        request: Request<pb::ListDueReportsRequest>,
    ) -> Reply<pb::ListDueReportsResponse> {
        let due = self
            .service
            .due_reports(caller(&request), request.get_ref().overdue_only)
            .await?;
        Ok(Response::new(pb::ListDueReportsResponse {
            reports: due
                .into_iter()
                .map(|d| pb::DueReport {
                    pilot_id: d.pilot_id,
                    company_id: d.company_id,
                    pilot_title: d.title,
                    period_start: d.period_start.to_string(),
                    period_end: d.period_end.to_string(),
                    overdue: d.overdue,
                })
                .collect(),
        }))
    }
}

pub fn figures_to_pb(f: &Figures) -> pb::Figures {
    pb::Figures {
        models_developed: f.models_developed,
        models_improved: f.models_improved,
        models_commercialized: f.models_commercialized,
        revenue_krw: f.revenue_krw,
        patents_filed: f.patents_filed,
        patents_registered: f.patents_registered,
        papers: f.papers,
        new_hires: f.new_hires,
        investment_krw: f.investment_krw,
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn group_to_pb(g: &GroupStats) -> pb::GroupStats {
    pb::GroupStats {
        companies: count(g.companies),
        pilots: count(g.pilots),
        figures: g.figures.as_ref().map(figures_to_pb),
        suppressed: g.suppressed,
        ..Default::default()
    }
}

fn sector_groups_to_pb(groups: &[GroupStats]) -> Vec<pb::GroupStats> {
    let group = |g: &GroupStats| pb::GroupStats {
        sector: common::Sector::value_of(&g.key),
        ..group_to_pb(g)
    };
    groups.iter().map(group).collect()
}

fn domain_groups_to_pb(groups: &[GroupStats]) -> Vec<pb::GroupStats> {
    let group = |g: &GroupStats| pb::GroupStats {
        domain: common::PilotDomain::value_of(&g.key),
        ..group_to_pb(g)
    };
    groups.iter().map(group).collect()
}

fn series_to_pb(stats: &Stats) -> Vec<pb::PeriodStats> {
    stats
        .series
        .iter()
        .map(|(start, figures, compute)| pb::PeriodStats {
            period_start: start.to_string(),
            figures: Some(figures_to_pb(figures)),
            compute_consumed: *compute,
        })
        .collect()
}

pub fn release_to_pb(release: &ReleaseOf) -> pb::Release {
    let info: &ReleaseInfo = &release.info;
    pb::Release {
        number: info.number,
        date: info.date.to_string(),
        published_at_ms: info.published_at,
        note: info.note.clone(),
        scheduled: info.schedule_key.is_some(),
        held_cells: info
            .held
            .iter()
            .map(|cell| pb::HeldCell {
                figure: cell.figure.as_str().to_owned(),
                sector: common::Sector::value_of(&cell.sector),
                domain: cell.domain.as_deref().map(common::PilotDomain::value_of),
                quarter_start: cell.quarter_start.map(|q| q.to_string()),
            })
            .collect(),
        preview: release.preview,
    }
}

pub fn stats_to_pb(stats: ProgramStats) -> pb::GetProgramStatsResponse {
    let outcomes = &stats.outcomes;
    pb::GetProgramStatsResponse {
        companies: stats.companies,
        approved_companies: stats.approved_companies,
        pilots: stats.pilots,
        active_pilots: stats.active_pilots,
        vouchers_issued: stats.vouchers.vouchers,
        compute_granted: stats.vouchers.granted,
        compute_consumed: stats.vouchers.consumed,
        compute_overage: stats.vouchers.overage,
        // A wholly suppressed public answer shows as zeros, flagged as suppressed.
        outcomes: Some(figures_to_pb(&outcomes.totals.unwrap_or_default())),
        outcomes_suppressed: outcomes.totals_suppressed,
        by_sector: sector_groups_to_pb(&outcomes.by_sector),
        by_domain: domain_groups_to_pb(&outcomes.by_domain),
        by_company: outcomes
            .by_company
            .iter()
            .map(|(company_id, figures)| pb::CompanyStats {
                company_id: company_id.clone(),
                figures: Some(figures_to_pb(figures)),
            })
            .collect(),
        by_month: series_to_pb(&stats.by_month),
        by_quarter: series_to_pb(outcomes),
        by_year: series_to_pb(&stats.by_year),
        public: stats.public,
        release: stats.release.as_ref().map(release_to_pb),
    }
}
