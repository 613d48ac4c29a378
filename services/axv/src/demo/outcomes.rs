//! Demo outcome reports: the 2021–2024 cohort's quarterly reports, verified, whose totals are
//! exactly the figures Gwangju published for the period, spread over firms and quarters the
//! way a growing programme's are (small at first, larger as pilots mature). Plus a few recent
//! reports still in review, which count nowhere.

use axv_outcomes::{
    domain::{Figures, ReportAction},
    store::{ReportDraft, ReportSubject, Store},
};
use axv_pilots::{
    domain::PilotStatus,
    store::{ListScope, PilotFilter, PilotRecord},
};
use chrono::NaiveDate;

/// What the city published for 2021–2024.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// AI models developed or improved.
    pub models: i64,
    pub commercialized: i64,
    pub revenue_krw: i64,
    /// Patents filed or registered.
    pub patents: i64,
    pub papers: i64,
    pub new_hires: i64,
}

pub const PUBLISHED_2021_2024: Published = Published {
    models: 2_091,
    commercialized: 328,
    revenue_krw: 99_600_000_000,
    patents: 788,
    papers: 611,
    new_hires: 2_173,
};

/// Not published; a plausible follow-on investment total for the demo (KRW millions).
const INVESTMENT_MILLIONS: i64 = 38_400;
/// Compute the cohort reported consuming, in H100 GPU-hours.
const GPU_HOURS: i64 = 1_728_000;

pub const COHORT_START: &str = "2021-01-01";
pub const COHORT_END: &str = "2024-12-31";
pub const COHORT_QUARTERS: usize = 16;

/// Splits `total` over `weights` in proportion, exactly (largest remainders get the units
/// rounding left over; ties go to the earlier index).
pub fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum == 0 || weights.is_empty() {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, weight) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from((*weight).max(0));
        shares.push(i64::try_from(exact / sum).unwrap_or(0));
        remainders.push((exact % sum, index));
    }
    let left = total - shares.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders
        .into_iter()
        .take(usize::try_from(left).unwrap_or(0))
    {
        shares[index] += 1;
    }
    shares
}

/// A deterministic weight for figure `kind` of pilot `p` in quarter `q`: the firm's scale, the
/// programme's growth (`growth` percent per quarter) and some unevenness between quarters.
fn weight(p: usize, q: usize, kind: usize, growth: usize) -> i64 {
    let scale = 60 + (p * 37 + kind * 11) % 90;
    let trend = 100 + growth * q;
    let unevenness = 75 + ((p * 31 + q * 17 + kind * 7) % 11) * 5;
    i64::try_from(scale * trend * unevenness).unwrap_or(i64::MAX)
}

/// The cohort's figures, one per (pilot, quarter), pilot-major, and each report's compute in
/// GPU-seconds. Totals equal `published` exactly; every report passes the figure rules.
pub fn cohort_figures(pilots: usize, published: &Published) -> Vec<(Figures, i64)> {
    let n = pilots * COHORT_QUARTERS;
    let weights = |kind: usize, growth: usize| -> Vec<i64> {
        (0..n)
            .map(|i| weight(i / COHORT_QUARTERS, i % COHORT_QUARTERS, kind, growth))
            .collect()
    };
    let models = apportion(published.models, &weights(0, 8));
    // In proportion to each report's models, so no report commercializes more than it built.
    let commercialized = apportion(published.commercialized, &models);
    let revenue_millions = apportion(published.revenue_krw / 1_000_000, &weights(1, 25));
    let patents = apportion(published.patents, &weights(2, 10));
    let papers = apportion(published.papers, &weights(3, 4));
    let hires = apportion(published.new_hires, &weights(4, 6));
    let investment = apportion(INVESTMENT_MILLIONS, &weights(5, 20));
    let gpu_hours = apportion(GPU_HOURS, &weights(6, 12));
    (0..n)
        .map(|i| {
            let improved = models[i] * 2 / 5;
            let registered = patents[i] * 2 / 5;
            let figures = Figures {
                models_developed: models[i] - improved,
                models_improved: improved,
                models_commercialized: commercialized[i],
                patents_filed: patents[i] - registered,
                patents_registered: registered,
                papers: papers[i],
                new_hires: hires[i],
                revenue_krw: revenue_millions[i] * 1_000_000,
                investment_krw: investment[i] * 1_000_000,
            };
            (figures, gpu_hours[i] * 3_600)
        })
        .collect()
}

fn quarter(index: usize) -> (NaiveDate, NaiveDate) {
    let year = 2021 + i32::try_from(index / 4).unwrap_or(0);
    let month = u32::try_from(index % 4).unwrap_or(0) * 3 + 1;
    let start = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    let end = start
        .checked_add_months(chrono::Months::new(3))
        .and_then(|d| d.pred_opt())
        .unwrap_or_default();
    (start, end)
}

fn subject(pilot: &PilotRecord) -> ReportSubject {
    ReportSubject {
        pilot_id: pilot.id.clone(),
        company_id: pilot.lead.id.clone(),
        sector: pilot.lead.sector.clone(),
        domain: pilot.draft.domain.as_str().to_owned(),
    }
}

/// One report taken through review: submitted by the firm, then verified (or first returned
/// and resubmitted, as real reviews sometimes go).
async fn file(
    store: &Store,
    subject: &ReportSubject,
    draft: &ReportDraft,
    compute: i64,
    steps: &[(ReportAction, Option<&str>)],
    cast: &crate::demo::Cast,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let report = store.create(subject, draft, &cast.firm).await?;
    for (action, note) in steps {
        let actor = if *action == ReportAction::Submit {
            &cast.firm
        } else {
            &cast.manager
        };
        let compute = (*action == ReportAction::Submit).then_some(compute);
        store
            .transition(&report.id, *action, actor, *note, compute)
            .await?;
    }
    Ok(())
}

/// Seeds the cohort's verified reports and a few recent ones in review. Idempotent: does
/// nothing when reports exist. Returns how many reports it created.
pub async fn seed_outcomes(
    store: &Store,
    pilots: &axv_pilots::store::Store,
    cast: &crate::demo::Cast,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let (existing, _) = store
        .list(
            &axv_outcomes::store::ListScope::All,
            &axv_outcomes::store::ReportFilter::default(),
            None,
            1,
        )
        .await?;
    if !existing.is_empty() {
        return Ok(0);
    }
    let (all, _) = pilots
        .list(&ListScope::All, &PilotFilter::default(), None, 1_000)
        .await?;
    let (start, end) = (
        NaiveDate::parse_from_str(COHORT_START, "%Y-%m-%d")?,
        NaiveDate::parse_from_str(COHORT_END, "%Y-%m-%d")?,
    );
    let mut cohort: Vec<&PilotRecord> = all
        .iter()
        .filter(|p| p.status == PilotStatus::Completed)
        .filter(|p| p.draft.starts_on == start && p.draft.ends_on == end)
        .collect();
    cohort.sort_by(|a, b| a.draft.title.cmp(&b.draft.title));
    let figures = cohort_figures(cohort.len(), &PUBLISHED_2021_2024);
    let verify = [
        (ReportAction::Submit, None),
        (ReportAction::Verify, Some("증빙 확인 완료")),
    ];
    let returned_first = [
        (ReportAction::Submit, None),
        (
            ReportAction::Return,
            Some("매출 증빙(세금계산서)을 첨부해 주세요."),
        ),
        (ReportAction::Submit, None),
        (ReportAction::Verify, Some("보완 증빙 확인")),
    ];
    let mut created = 0;
    for (p, pilot) in cohort.iter().enumerate() {
        let subject = subject(pilot);
        for q in 0..COHORT_QUARTERS {
            let (period_start, period_end) = quarter(q);
            let (figures, compute) = figures[p * COHORT_QUARTERS + q];
            let draft = ReportDraft {
                period_start,
                period_end,
                figures,
                evidence: format!(
                    "https://axv.gwangju.kr/evidence/{}/{}Q{}",
                    pilot.id,
                    period_start.format("%Y"),
                    q % 4 + 1
                ),
            };
            let steps: &[(ReportAction, Option<&str>)] = if (p * 7 + q) % 23 == 0 {
                &returned_first
            } else {
                &verify
            };
            file(store, &subject, &draft, compute, steps, cast).await?;
            created += 1;
        }
    }
    created += seed_recent(store, &all, cast).await?;
    Ok(created)
}

/// Reports of running pilots, in every state of review: one verified (a lone firm's cell, so
/// the public sees it suppressed), one returned and one awaiting review.
async fn seed_recent(
    store: &Store,
    pilots: &[PilotRecord],

    cast: &crate::demo::Cast,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let active: Vec<&PilotRecord> = pilots
        .iter()
        .filter(|p| p.status == PilotStatus::Active)
        .collect();
    let mut created = 0;
    for (n, pilot) in active.iter().enumerate() {
        let start = quarter_of(pilot.draft.starts_on);
        let end = start
            .checked_add_months(chrono::Months::new(3))
            .and_then(|d| d.pred_opt())
            .unwrap_or(start);
        let draft = ReportDraft {
            period_start: start,
            period_end: end,
            figures: Figures {
                models_developed: 2,
                models_improved: 1,
                models_commercialized: 1,
                patents_filed: 1,
                papers: 1,
                new_hires: 3,
                revenue_krw: 120_000_000,
                investment_krw: 500_000_000,
                ..Figures::default()
            },
            evidence: "https://axv.gwangju.kr/evidence/demo".to_owned(),
        };
        let steps: &[(ReportAction, Option<&str>)] = match n % 3 {
            0 => &[
                (ReportAction::Submit, None),
                (ReportAction::Verify, Some("증빙 확인 완료")),
            ],
            1 => &[
                (ReportAction::Submit, None),
                (
                    ReportAction::Return,
                    Some("신규 채용 인원의 4대보험 가입 증빙이 필요합니다."),
                ),
            ],
            _ => &[(ReportAction::Submit, None)],
        };
        file(store, &subject(pilot), &draft, 36_000_000, steps, cast).await?;
        created += 1;
    }
    Ok(created)
}

/// The first day of the quarter holding `day`.
pub fn quarter_of(day: NaiveDate) -> NaiveDate {
    axv_outcomes::domain::quarter_start(day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn apportioning_is_exact_and_proportional() {
        assert_eq!(apportion(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0, 5, 0, 2]), vec![0, 5, 0, 2]);
        assert_eq!(apportion(5, &[0, 0]), vec![0, 0]);
        assert_eq!(apportion(0, &[3, 4]), vec![0, 0]);
        let shares = apportion(2_091, &[13, 7, 100, 1, 55]);
        assert_eq!(shares.iter().sum::<i64>(), 2_091);
    }

    #[test]
    fn the_cohort_reproduces_the_published_figures_exactly() {
        let reports = cohort_figures(18, &PUBLISHED_2021_2024);
        assert_eq!(reports.len(), 18 * COHORT_QUARTERS);
        let mut total = Figures::default();
        for (figures, compute) in &reports {
            figures.validate().expect("every report passes the rules");
            assert!(*compute >= 0);
            assert!(figures.models_developed + figures.models_improved > 0);
            total.add(figures);
        }
        let p = PUBLISHED_2021_2024;
        assert_eq!(total.models_developed + total.models_improved, p.models);
        assert_eq!(total.models_commercialized, p.commercialized);
        assert_eq!(total.revenue_krw, p.revenue_krw);
        assert_eq!(total.patents_filed + total.patents_registered, p.patents);
        assert_eq!(total.papers, p.papers);
        assert_eq!(total.new_hires, p.new_hires);
        // The programme grows: 2024 outdoes 2021.
        let year = |y: usize| -> i64 {
            reports
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % COHORT_QUARTERS) / 4 == y)
                .map(|(_, (f, _))| f.revenue_krw)
                .sum()
        };
        assert!(year(3) > year(0) * 2, "{} vs {}", year(3), year(0));
    }

    #[test]
    fn quarters_run_through_2021_to_2024() {
        assert_eq!(
            quarter(0),
            (
                NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
                NaiveDate::from_ymd_opt(2021, 3, 31).unwrap_or_default()
            )
        );
        assert_eq!(
            quarter(15).1,
            NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default()
        );
    }

    #[test]
    fn every_cohort_cell_has_three_firms() {
        // (sector of the lead, domain) -> leads, from the demo tables.
        let mut cells: BTreeMap<(String, &str), BTreeSet<&str>> = BTreeMap::new();
        for pilot in crate::demo::pilots::cohort_pilots() {
            let sector =
                crate::demo::companies::sector_of(pilot.0).expect("lead is a demo company");
            cells.entry((sector, pilot.3)).or_default().insert(pilot.0);
        }
        assert_eq!(cells.values().map(BTreeSet::len).sum::<usize>(), 18);
        for (cell, leads) in cells {
            assert!(leads.len() >= 3, "{cell:?} has {}", leads.len());
        }
    }
}
