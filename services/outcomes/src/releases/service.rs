//! Publishing releases: gathering the live rows from this service and the others, applying the
//! held-revision rule against every earlier release, checking disclosure, and the calendar job.

use axv_auth::{Caller, Role};
use axv_platform::audit::Actor;
use axv_platform::calendar::today_kst;
use axv_platform::shutdown::CancellationToken;
use axv_proto::{
    common::v1::{PilotDomain, Sector},
    onboarding::v1 as onboarding,
    pilots::v1 as pilots,
};

use super::{
    rules::{
        Basis, CompanyRow, DEFAULT_DAYS_AFTER_QUARTER, NextRelease, PilotRow, calendar_due,
        check_disclosure, first_disclosure, next_release,
    },
    store::{NewRelease, ReleaseInfo},
};
use crate::{
    error::ReportsError,
    service::{Outcomes, parse_date},
};

/// Longest note a manager may give a release.
const MAX_NOTE: usize = 500;

/// The next release as it would be published now, and the number it would get.
#[derive(Clone, Debug)]
pub struct Preview {
    pub number: i64,
    pub next: NextRelease,
}

impl Outcomes {
    fn staff_token(&self) -> Result<String, ReportsError> {
        self.service_token()?.ok_or_else(|| {
            ReportsError::Unavailable("releases need this service's token signing key".into())
        })
    }

    /// Companies past DRAFT as onboarding has them now.
    async fn live_companies(&self, token: &str) -> Result<Vec<CompanyRow>, ReportsError> {
        let statuses = onboarding::CompanyStatus::Draft as i32;
        let mut rows = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .onboarding
                .clone()
                .list_companies(ReportsError::request(
                    Some(token),
                    onboarding::ListCompaniesRequest {
                        filter: None,
                        page_size: 100,
                        page_token: page_token.clone(),
                        directory: false,
                    },
                )?)
                .await
                .map_err(ReportsError::upstream("companies"))?
                .into_inner();
            rows.extend(
                page.companies
                    .into_iter()
                    .filter(|c| c.status != statuses)
                    .map(|c| CompanyRow {
                        approved: c.status == onboarding::CompanyStatus::Approved as i32,
                        sector: Sector::name_of(c.sector).unwrap_or_default().to_owned(),
                        company_id: c.id,
                    }),
            );
            if page.next_page_token.is_empty() {
                return Ok(rows);
            }
            page_token = page.next_page_token;
        }
    }

    /// Pilots the programme took on, as the pilots service has them now.
    async fn live_pilots(&self, token: &str) -> Result<Vec<PilotRow>, ReportsError> {
        let taken_on = [
            pilots::PilotStatus::Approved,
            pilots::PilotStatus::Active,
            pilots::PilotStatus::Completed,
            pilots::PilotStatus::Suspended,
        ];
        let mut rows = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .pilots
                .clone()
                .list_pilots(ReportsError::request(
                    Some(token),
                    pilots::ListPilotsRequest {
                        filter: Some(pilots::PilotFilter {
                            statuses: taken_on.iter().map(|s| i32::from(*s)).collect(),
                            ..pilots::PilotFilter::default()
                        }),
                        page_size: 100,
                        page_token: page_token.clone(),
                    },
                )?)
                .await
                .map_err(ReportsError::upstream("pilots"))?
                .into_inner();
            for pilot in page.pilots {
                rows.push(PilotRow {
                    starts_on: parse_date("startsOn", &pilot.starts_on)?,
                    ends_on: parse_date("endsOn", &pilot.ends_on)?,
                    active: pilot.status == pilots::PilotStatus::Active as i32,
                    domain: PilotDomain::name_of(pilot.domain)
                        .unwrap_or_default()
                        .to_owned(),
                    sector: Sector::name_of(pilot.lead_company_sector)
                        .unwrap_or_default()
                        .to_owned(),
                    company_id: pilot.lead_company_id,
                    pilot_id: pilot.id,
                });
            }
            if page.next_page_token.is_empty() {
                return Ok(rows);
            }
            page_token = page.next_page_token;
        }
    }

    /// Everything the public figures are computed from, live.
    pub async fn live_basis(&self) -> Result<Basis, ReportsError> {
        let token = self.staff_token()?;
        let (outcomes, vouchers, companies, pilots) = tokio::join!(
            self.store.counted_reports(),
            self.voucher_cells(None, None, &[]),
            self.live_companies(&token),
            self.live_pilots(&token),
        );
        Ok(Basis {
            outcomes: outcomes?,
            vouchers: vouchers?,
            companies: companies?,
            pilots: pilots?,
        })
    }

    /// What the next release would publish now.
    pub async fn preview_release(&self) -> Result<Preview, ReportsError> {
        let earlier = self.store.releases().all().await?;
        let live = self.live_basis().await?;
        let bases: Vec<Basis> = earlier.into_iter().map(|r| r.basis).collect();
        Ok(Preview {
            number: i64::try_from(bases.len()).unwrap_or(i64::MAX - 1) + 1,
            next: next_release(&bases, &live),
        })
    }

    /// Publishes the next release: the held-revision rule against every earlier release, then
    /// the disclosure check against each, refusing to publish if any cell would isolate fewer
    /// than three companies.
    async fn publish(
        &self,
        by: &Actor,
        note: String,
        schedule_key: Option<String>,
    ) -> Result<ReleaseInfo, ReportsError> {
        let releases = self.store.releases();
        let earlier = releases.all().await?;
        let live = self.live_basis().await?;
        let bases: Vec<Basis> = earlier.iter().map(|r| r.basis.clone()).collect();
        let next = next_release(&bases, &live);
        if let Some((index, found)) = first_disclosure(&bases, &next.basis) {
            let against = earlier.get(index).map_or(0, |r| r.info.number);
            tracing::error!(release = against, cell = %found, "release refused by the disclosure check");
            return Err(ReportsError::Internal(format!(
                "the release was not published: against release {against}, {found}"
            )));
        }
        let after = earlier.last().map_or(0, |r| r.info.number);
        let info = releases
            .publish(
                after,
                &NewRelease {
                    date: today_kst(),
                    published_by: by.history_id(),
                    note,
                    schedule_key,
                    held: next.held,
                    basis: next.basis,
                },
                by,
            )
            .await?;
        tracing::info!(
            number = info.number,
            held = info.held.len(),
            "public figures released"
        );
        Ok(info)
    }

    /// A programme manager (or admin) publishes the next release now, before the calendar's.
    pub async fn publish_release_early(
        &self,
        caller: Option<&Caller>,
        note: &str,
    ) -> Result<ReleaseInfo, ReportsError> {
        let caller = caller
            .ok_or_else(|| ReportsError::Unauthenticated("authentication required".into()))?;
        if !matches!(caller.role, Role::ProgramManager | Role::Admin) {
            return Err(ReportsError::Forbidden(
                "releases of the public figures are published by programme managers".into(),
            ));
        }
        let note = note.trim();
        if note.is_empty() || note.chars().count() > MAX_NOTE {
            return Err(ReportsError::invalid(
                "note",
                format!("must say why, in 1 to {MAX_NOTE} characters"),
            ));
        }
        self.publish(&Actor::of(caller), note.to_owned(), None)
            .await
    }

    /// Publishes the calendar release due today unless it (or a later release) is out already.
    pub async fn publish_due_calendar_release(
        &self,
        days_after_quarter: u32,
    ) -> Result<Option<ReleaseInfo>, ReportsError> {
        let Some((key, due)) = calendar_due(today_kst(), days_after_quarter) else {
            return Ok(None);
        };
        let releases = self.store.releases();
        if releases.has_schedule_key(&key).await? {
            return Ok(None);
        }
        if let Some(latest) = releases.latest().await?
            && latest.info.date >= due
        {
            // A manager published on or after the calendar's day: that release is this one.
            return Ok(None);
        }
        let (year, quarter) = key.split_once("-Q").unwrap_or((&key, ""));
        let note = format!(
            "정기 공표: {year}년 {quarter}분기 종료 후 {days_after_quarter}일 (scheduled release after {key})"
        );
        match self
            .publish(&Actor::system("release-calendar"), note, Some(key))
            .await
        {
            Ok(info) => Ok(Some(info)),
            // Another replica published it first.
            Err(ReportsError::Conflict(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn releases(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<ReleaseInfo>, i64), ReportsError> {
        self.store
            .releases()
            .list(before, limit.clamp(1, 100))
            .await
    }
}

/// How often the calendar is looked at; a release is due at most once a quarter.
const CALENDAR_CHECK: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Publishes each quarter's release on its day (`days_after_quarter` days after the quarter
/// ends, 45 by default), checking at start and every quarter of an hour.
pub fn spawn_calendar(service: Outcomes, days_after_quarter: u32, shutdown: CancellationToken) {
    let days = if (1..=366).contains(&days_after_quarter) {
        days_after_quarter
    } else {
        DEFAULT_DAYS_AFTER_QUARTER
    };
    tokio::spawn(async move {
        loop {
            match service.publish_due_calendar_release(days).await {
                Ok(Some(info)) => {
                    tracing::info!(number = info.number, "calendar release published")
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "calendar release not published yet"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(CALENDAR_CHECK) => {}
            }
        }
    });
}

/// A cell two published releases show differently by fewer than three companies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairDisclosure {
    pub earlier: i64,
    pub later: i64,
    pub disclosure: super::rules::Disclosure,
}

/// Checks the named releases against each other (every published one when `numbers` is
/// empty), each pair in both directions of time: empty means no two public answers from them
/// differ by fewer than three companies' figures. An unknown number is NOT_FOUND.
pub async fn check_published(
    releases: &super::store::ReleaseStore,
    numbers: &[i64],
) -> Result<(Vec<i64>, Vec<PairDisclosure>), ReportsError> {
    let all = releases.all().await?;
    for number in numbers {
        if !all.iter().any(|r| r.info.number == *number) {
            return Err(ReportsError::NotFound("release"));
        }
    }
    let chosen: Vec<_> = all
        .iter()
        .filter(|r| numbers.is_empty() || numbers.contains(&r.info.number))
        .collect();
    let mut found = Vec::new();
    for (i, earlier) in chosen.iter().enumerate() {
        for later in &chosen[i + 1..] {
            found.extend(
                check_disclosure(&earlier.basis, &later.basis)
                    .into_iter()
                    .map(|disclosure| PairDisclosure {
                        earlier: earlier.info.number,
                        later: later.info.number,
                        disclosure,
                    }),
            );
        }
    }
    Ok((chosen.iter().map(|r| r.info.number).collect(), found))
}
