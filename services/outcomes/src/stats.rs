//! The programme's figures (`programStats`) and the reports pilots owe: outcome figures from
//! this service's verified reports, headcounts from onboarding and pilots, voucher figures
//! from the vouchers service, and small-cell suppression for everyone but staff.

use axv_platform::calendar::today_kst;
use std::collections::{BTreeSet, HashMap};

use axv_auth::{Caller, Role};
use axv_proto::{
    common::v1::{PilotDomain, Sector},
    onboarding::v1 as onboarding,
    pilots::v1 as pilots,
    vouchers::v1 as vouchers,
};
use chrono::NaiveDate;

use crate::{
    domain::{
        Bucket, DueReport, MIN_COMPANIES, PeriodKind, PilotSchedule, Stats, StatsQuery,
        VoucherCell, VoucherTotals, aggregate, due_reports, quarter_end, quarter_start,
        voucher_totals,
    },
    error::ReportsError,
    releases::{
        rules::{Basis, company_counts, pilot_counts, vouchers_issued_in},
        store::ReleaseInfo,
    },
    service::{Outcomes, parse_date},
};

/// The filter of `programStats`, as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    /// As the request carries them (`Sector` and `PilotDomain` values).
    pub sectors: Vec<i32>,
    pub domains: Vec<i32>,
    /// `FundingSource` values; staff's live figures only.
    pub fundings: Vec<i32>,
}

/// Which figures a `programStats` answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsView {
    /// Live for staff, the latest release for everyone else.
    #[default]
    Default,
    /// Staff only: exact figures now.
    Live,
    /// The latest release, as the public sees it.
    Released,
    /// Staff only: the release that would be published now, as the public would see it.
    Preview,
}

/// The release an answer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOf {
    pub info: ReleaseInfo,
    /// Not published: what the next release would be.
    pub preview: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStats {
    pub companies: i64,
    pub approved_companies: i64,
    pub pilots: i64,
    pub active_pilots: i64,
    pub vouchers: VoucherTotals,
    /// Totals, groups and the quarterly series.
    pub outcomes: Stats,
    pub by_month: Stats,
    pub by_year: Stats,
    pub public: bool,
    /// `None` for staff's live answers, and for public ones before the first release.
    pub release: Option<ReleaseOf>,
}

/// The names of a filter's values, refusing an unknown or unset one: it would otherwise count
/// nothing and look like a real zero.
fn names_of(
    values: &[i32],
    name_of: fn(i32) -> Option<&'static str>,
    field: &'static str,
    what: &str,
) -> Result<Vec<String>, ReportsError> {
    values
        .iter()
        .map(|value| {
            name_of(*value)
                .map(str::to_owned)
                .ok_or_else(|| ReportsError::invalid(field, format!("{value} is not a {what}")))
        })
        .collect()
}

impl StatsFilter {
    fn query(&self, public: bool) -> Result<StatsQuery, ReportsError> {
        let from = self
            .from
            .as_deref()
            .map(|d| parse_date("from", d))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|d| parse_date("to", d))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            return Err(ReportsError::invalid("to", "must not be before from"));
        }
        Ok(StatsQuery {
            from,
            to,
            sectors: names_of(&self.sectors, Sector::name_of, "sectors", "sector")?,
            domains: names_of(
                &self.domains,
                PilotDomain::name_of,
                "domains",
                "pilot domain",
            )?,
            companies: None,
            public,
            min_companies: MIN_COMPANIES,
        })
    }

    /// The funding sources asked for, refusing an unknown or unset one like the other lists.
    fn fundings(&self) -> Result<Vec<vouchers::FundingSource>, ReportsError> {
        self.fundings
            .iter()
            .map(|value| {
                vouchers::FundingSource::try_from(*value)
                    .ok()
                    .filter(|f| *f != vouchers::FundingSource::Unspecified)
                    .ok_or_else(|| {
                        ReportsError::invalid(
                            "fundingSources",
                            format!("{value} is not a funding source"),
                        )
                    })
            })
            .collect()
    }
}

/// A public answer from a release's basis: the same aggregation as the live one, with
/// small-cell suppression, over the rows the release holds.
pub fn stats_from_basis(
    basis: &Basis,
    query: &StatsQuery,
    release: Option<ReleaseOf>,
) -> ProgramStats {
    let (companies, approved_companies) = company_counts(&basis.companies, &query.sectors);
    let (pilots, active_pilots) = pilot_counts(
        &basis.pilots,
        &query.sectors,
        &query.domains,
        query.from,
        query.to,
    );
    let vouchers = voucher_totals(
        &vouchers_issued_in(&basis.vouchers, query.from, query.to),
        &query.sectors,
        query.public,
        query.min_companies,
    );
    ProgramStats {
        companies,
        approved_companies,
        pilots,
        active_pilots,
        vouchers,
        outcomes: aggregate(&basis.outcomes, query, Bucket::Quarter),
        by_month: aggregate(&basis.outcomes, query, Bucket::Month),
        by_year: aggregate(&basis.outcomes, query, Bucket::Year),
        public: query.public,
        release,
    }
}

impl Outcomes {
    /// A short-lived staff token for this service's own reads of other services' programme
    /// data (grant figures and company sectors), which anonymous callers may not read
    /// themselves; only what survives suppression reaches them.
    pub(crate) fn service_token(&self) -> Result<Option<String>, ReportsError> {
        self.issuer
            .as_deref()
            .map(|issuer| axv_platform::error::service_token(issuer, crate::NAME))
            .transpose()
    }

    /// The figures for `filter`: live and exact for staff, from the latest release for
    /// everyone else (and for staff who ask for it, or for the preview of the next one).
    pub async fn program_stats(
        &self,
        caller: Option<&Caller>,
        filter: &StatsFilter,
        view: StatsView,
    ) -> Result<ProgramStats, ReportsError> {
        let staff = caller.is_some_and(Caller::is_staff);
        let view = match view {
            StatsView::Default if staff => StatsView::Live,
            StatsView::Default => StatsView::Released,
            other => other,
        };
        if !staff && view != StatsView::Released {
            return Err(ReportsError::Forbidden(
                "live figures and the preview of the next release are for programme staff; \
                 the public figures come from the latest release"
                    .into(),
            ));
        }
        if !filter.fundings.is_empty() && view != StatsView::Live {
            return Err(ReportsError::invalid(
                "fundingSources",
                "narrows only staff's live figures: releases do not record funding sources",
            ));
        }
        match view {
            StatsView::Released => {
                let query = filter.query(true)?;
                Ok(match self.store.releases().latest().await? {
                    Some(release) => stats_from_basis(
                        &release.basis,
                        &query,
                        Some(ReleaseOf {
                            info: release.info,
                            preview: false,
                        }),
                    ),
                    None => stats_from_basis(&Basis::default(), &query, None),
                })
            }
            StatsView::Preview => {
                let query = filter.query(true)?;
                let preview = self.preview_release().await?;
                let info = ReleaseInfo {
                    number: preview.number,
                    date: today_kst(),
                    published_at: 0,
                    published_by: String::new(),
                    note: String::new(),
                    schedule_key: None,
                    held: preview.next.held,
                };
                Ok(stats_from_basis(
                    &preview.next.basis,
                    &query,
                    Some(ReleaseOf {
                        info,
                        preview: true,
                    }),
                ))
            }
            StatsView::Live | StatsView::Default => self.live_stats(filter).await,
        }
    }

    async fn live_stats(&self, filter: &StatsFilter) -> Result<ProgramStats, ReportsError> {
        let public = false;
        let mut query = filter.query(public)?;
        let fundings = filter.fundings()?;
        if !fundings.is_empty() {
            query.companies = Some(self.funded_companies(&fundings).await?);
        }
        let reports = self.store.counted_reports().await?;
        let (companies, pilots, vouchers) = tokio::join!(
            self.company_counts(&query),
            self.pilot_counts(&query),
            self.voucher_figures(&query, &fundings),
        );
        let (companies, approved_companies) = companies?;
        let (pilots, active_pilots) = pilots?;
        Ok(ProgramStats {
            companies,
            approved_companies,
            pilots,
            active_pilots,
            vouchers: vouchers?,
            outcomes: aggregate(&reports, &query, Bucket::Quarter),
            by_month: aggregate(&reports, &query, Bucket::Month),
            by_year: aggregate(&reports, &query, Bucket::Year),
            public,
            release: None,
        })
    }

    /// The companies holding a voucher (of any kind, issued any day) from a pool of these
    /// funding sources: what a funding-source filter narrows figures to.
    async fn funded_companies(
        &self,
        fundings: &[vouchers::FundingSource],
    ) -> Result<BTreeSet<String>, ReportsError> {
        let (Some(client), Some(token)) = (self.vouchers.clone(), self.service_token()?) else {
            return Ok(BTreeSet::new());
        };
        let rows = client
            .clone()
            .voucher_totals(ReportsError::request(
                Some(&token),
                vouchers::VoucherTotalsRequest {
                    fundings: fundings.iter().map(|f| i32::from(*f)).collect(),
                    ..Default::default()
                },
            )?)
            .await
            .map_err(ReportsError::upstream("voucher totals"))?
            .into_inner()
            .rows;
        Ok(rows.into_iter().map(|r| r.company_id).collect())
    }

    /// The companies a count is narrowed to (`None`: every one), or `None` when the set is
    /// empty and nothing needs counting.
    fn named_companies(query: &StatsQuery) -> Option<Vec<String>> {
        match &query.companies {
            None => Some(Vec::new()),
            Some(set) if set.is_empty() => None,
            Some(set) => Some(set.iter().cloned().collect()),
        }
    }

    async fn company_counts(&self, query: &StatsQuery) -> Result<(i64, i64), ReportsError> {
        let Some(company_ids) = Self::named_companies(query) else {
            return Ok((0, 0));
        };
        // Counting named companies is for staff; this service asks on their behalf.
        let token = self.service_token()?.filter(|_| !company_ids.is_empty());
        let request = onboarding::CountCompaniesRequest {
            sectors: query.sectors.iter().map(|s| Sector::value_of(s)).collect(),
            company_ids,
        };
        let counts = self
            .onboarding
            .clone()
            .count_companies(ReportsError::request(token.as_deref(), request)?)
            .await
            .map_err(ReportsError::upstream("company counts"))?
            .into_inner();
        Ok((counts.registered, counts.approved))
    }

    async fn pilot_counts(&self, query: &StatsQuery) -> Result<(i64, i64), ReportsError> {
        let Some(lead_company_ids) = Self::named_companies(query) else {
            return Ok((0, 0));
        };
        let token = self
            .service_token()?
            .filter(|_| !lead_company_ids.is_empty());
        let request = pilots::CountPilotsRequest {
            lead_company_ids,
            lead_sectors: query.sectors.iter().map(|s| Sector::value_of(s)).collect(),
            domains: query
                .domains
                .iter()
                .map(|d| PilotDomain::value_of(d))
                .collect(),
            active_from: query.from.map(|d| d.to_string()),
            active_until: query.to.map(|d| d.to_string()),
        };
        let counts = self
            .pilots
            .clone()
            .count_pilots(ReportsError::request(token.as_deref(), request)?)
            .await
            .map_err(ReportsError::upstream("pilot counts"))?
            .into_inner();
        Ok((counts.pilots, counts.active))
    }

    /// Vouchers issued in the period, judged per (sector, issue quarter) cell for the public.
    async fn voucher_figures(
        &self,
        query: &StatsQuery,
        fundings: &[vouchers::FundingSource],
    ) -> Result<VoucherTotals, ReportsError> {
        let (from, to) = if query.public {
            (query.from.map(quarter_start), query.to.map(quarter_end))
        } else {
            (query.from, query.to)
        };
        let cells = self.voucher_cells(from, to, fundings).await?;
        Ok(voucher_totals(
            &cells,
            &query.sectors,
            query.public,
            query.min_companies,
        ))
    }

    /// What the vouchers service reports per company and issue quarter for vouchers issued in
    /// [from, to], with each company's sector; empty without the vouchers service.
    pub(crate) async fn voucher_cells(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        fundings: &[vouchers::FundingSource],
    ) -> Result<Vec<VoucherCell>, ReportsError> {
        let (Some(client), Some(token)) = (self.vouchers.clone(), self.service_token()?) else {
            return Ok(Vec::new());
        };
        let rows = client
            .clone()
            .voucher_totals(ReportsError::request(
                Some(&token),
                vouchers::VoucherTotalsRequest {
                    issued_from: from.map(|d| d.to_string()),
                    issued_until: to.map(|d| d.to_string()),
                    // Compute, not storage: GPU- and NPU-seconds.
                    kinds: vec![
                        vouchers::ResourceKind::GpuH100.into(),
                        vouchers::ResourceKind::Npu.into(),
                    ],
                    fundings: fundings.iter().map(|f| i32::from(*f)).collect(),
                },
            )?)
            .await
            .map_err(ReportsError::upstream("voucher totals"))?
            .into_inner()
            .rows;
        let mut ids: Vec<String> = rows.iter().map(|r| r.company_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let sectors = self.sectors_of(&token, ids).await?;
        rows.into_iter()
            .map(|row| {
                let quarter = parse_date("quarterStart", &row.quarter_start)?;
                Ok(VoucherCell {
                    sector: sectors.get(&row.company_id).cloned().unwrap_or_default(),
                    company_id: row.company_id,
                    quarter_start: quarter,
                    vouchers: row.vouchers,
                    granted: row.granted,
                    // The jobs ran either way: usage beyond the balance is consumption too.
                    consumed: row.consumed.saturating_add(row.overage),
                    overage: row.overage,
                })
            })
            .collect::<Result<Vec<_>, ReportsError>>()
    }

    async fn sectors_of(
        &self,
        token: &str,
        ids: Vec<String>,
    ) -> Result<HashMap<String, String>, ReportsError> {
        let mut sectors = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(crate::service::MAX_BATCH) {
            let companies = self
                .onboarding
                .clone()
                .batch_get_companies(ReportsError::request(
                    Some(token),
                    onboarding::BatchGetCompaniesRequest {
                        ids: chunk.to_vec(),
                    },
                )?)
                .await
                .map_err(ReportsError::upstream("companies"))?
                .into_inner()
                .companies;
            sectors.extend(companies.into_iter().map(|c| {
                (
                    c.id,
                    Sector::name_of(c.sector).unwrap_or_default().to_owned(),
                )
            }));
        }
        Ok(sectors)
    }

    /// Records every pilot as the pilots service has it now, so schedules are right even for
    /// events this service never saw (it was down, or the in-process bus published them before
    /// it subscribed). Returns how many pilots were recorded.
    pub async fn sync_pilots(&self) -> Result<usize, ReportsError> {
        let Some(token) = self.service_token()? else {
            return Ok(0);
        };
        let mut page_token = String::new();
        let mut recorded = 0;
        loop {
            let page = self
                .pilots
                .clone()
                .list_pilots(ReportsError::request(
                    Some(&token),
                    pilots::ListPilotsRequest {
                        filter: None,
                        page_size: 100,
                        page_token: page_token.clone(),
                    },
                )?)
                .await
                .map_err(ReportsError::upstream("pilots"))?
                .into_inner();
            for pilot in page.pilots {
                let status = pilots::PilotStatus::try_from(pilot.status)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("PILOT_STATUS_")
                            .to_owned()
                    })
                    .unwrap_or_default();
                let schedule = PilotSchedule {
                    starts_on: parse_date("startsOn", &pilot.starts_on)?,
                    ends_on: parse_date("endsOn", &pilot.ends_on)?,
                    pilot_id: pilot.id,
                    company_id: pilot.lead_company_id,
                    title: pilot.title,
                };
                // Stamped with the pilot's own last change (the pilots service's clock, as its
                // events are), so a move committed while this ran is never undone by an older
                // read.
                let changed_at = pilot
                    .history
                    .iter()
                    .map(|h| h.at_ms)
                    .max()
                    .unwrap_or(pilot.created_at_ms);
                self.store
                    .record_pilot(&schedule, &status, changed_at)
                    .await?;
                recorded += 1;
            }
            if page.next_page_token.is_empty() {
                return Ok(recorded);
            }
            page_token = page.next_page_token;
        }
    }

    /// The reports ACTIVE pilots owe today, by pilot then period.
    pub async fn due_reports(
        &self,
        caller: Option<&Caller>,
        overdue_only: bool,
    ) -> Result<Vec<DueReport>, ReportsError> {
        let caller = caller
            .ok_or_else(|| ReportsError::Unauthenticated("authentication required".into()))?;
        let companies = match caller.role {
            _ if caller.is_staff() => None,
            Role::FirmMember => Some(self.companies_of(caller).await?),
            _ => {
                return Err(ReportsError::Forbidden(
                    "due reports are for the reporting firms and programme managers".into(),
                ));
            }
        };
        let active = self
            .store
            .pilots_in_status("ACTIVE", companies.as_deref())
            .await?;
        let ids: Vec<String> = active.iter().map(|p| p.pilot_id.clone()).collect();
        let filed = self.store.filed_periods(&ids).await?;
        let today = today_kst();
        Ok(active
            .iter()
            .flat_map(|pilot| {
                let filed = filed.get(&pilot.pilot_id).map_or(&[][..], Vec::as_slice);
                due_reports(pilot, filed, today, PeriodKind::Quarter)
            })
            .filter(|due| !overdue_only || due.overdue)
            .collect())
    }
}
