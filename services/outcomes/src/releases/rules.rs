//! Releases of the public figures, pure: what a release holds (the basis every public answer is
//! computed from), the held-revision rule that decides cell by cell whether the next release takes
//! the live rows or keeps the released ones, the disclosure check that proves the rule of any two
//! releases, and the calendar.
//!
//! Every public answer is a sum over cells (outcomes by sector, domain and quarter; vouchers by
//! sector and issue quarter; companies by sector; pilots by lead sector and domain). So if each
//! cell differs between any two releases either not at all or by the rows of at least three
//! companies, no two public answers, whatever their filters and whenever they were asked, differ
//! by one or two firms' figures.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::{CountedReport, MIN_COMPANIES, VoucherCell, quarter_end, quarter_start};

/// A published cell changes only when at least this many companies' rows in it changed.
pub const MIN_CHANGED_COMPANIES: usize = 3;

/// Calendar releases come on this day after each quarter ends, unless configured otherwise.
pub const DEFAULT_DAYS_AFTER_QUARTER: u32 = 45;

/// A company as the public counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyRow {
    pub company_id: String,
    pub sector: String,
    pub approved: bool,
}

/// A pilot the programme took on, as the public counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PilotRow {
    pub pilot_id: String,
    /// The lead company.
    pub company_id: String,
    /// The lead company's sector.
    pub sector: String,
    pub domain: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// ACTIVE when the release was taken.
    pub active: bool,
}

/// Everything a release answers from: the counted reports, voucher cells, companies and pilots
/// as they stood (cell by cell) when it was published.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basis {
    pub outcomes: Vec<CountedReport>,
    pub vouchers: Vec<VoucherCell>,
    pub companies: Vec<CompanyRow>,
    pub pilots: Vec<PilotRow>,
}

/// Which public figures a cell carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Figure {
    Outcomes,
    Vouchers,
    Companies,
    Pilots,
}

impl Figure {
    pub fn as_str(self) -> &'static str {
        match self {
            Figure::Outcomes => "OUTCOMES",
            Figure::Vouchers => "VOUCHERS",
            Figure::Companies => "COMPANIES",
            Figure::Pilots => "PILOTS",
        }
    }
}

/// One cell, named without its values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellRef {
    pub figure: Figure,
    pub sector: String,
    pub domain: Option<String>,
    pub quarter_start: Option<NaiveDate>,
}

impl std::fmt::Display for CellRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.figure.as_str(), self.sector)?;
        if let Some(domain) = &self.domain {
            write!(f, " {domain}")?;
        }
        if let Some(quarter) = self.quarter_start {
            write!(f, " {}-Q{}", quarter.year(), quarter.month0() / 3 + 1)?;
        }
        Ok(())
    }
}

/// A row of a basis: which cell it falls in and whose it is.
trait Row: Serialize + Clone {
    /// Cells of fewer companies than this publish no figures (small-cell suppression); `None`
    /// for headcounts, which are always published.
    const SUPPRESSED_BELOW: Option<usize>;
    fn cell(&self) -> CellRef;
    fn company(&self) -> &str;
}

impl Row for CountedReport {
    const SUPPRESSED_BELOW: Option<usize> = Some(MIN_COMPANIES);
    fn cell(&self) -> CellRef {
        CellRef {
            figure: Figure::Outcomes,
            sector: self.sector.clone(),
            domain: Some(self.domain.clone()),
            quarter_start: Some(quarter_start(self.period_start)),
        }
    }
    fn company(&self) -> &str {
        &self.company_id
    }
}

impl Row for VoucherCell {
    const SUPPRESSED_BELOW: Option<usize> = Some(MIN_COMPANIES);
    fn cell(&self) -> CellRef {
        CellRef {
            figure: Figure::Vouchers,
            sector: self.sector.clone(),
            domain: None,
            quarter_start: Some(quarter_start(self.quarter_start)),
        }
    }
    fn company(&self) -> &str {
        &self.company_id
    }
}

impl Row for CompanyRow {
    const SUPPRESSED_BELOW: Option<usize> = None;
    fn cell(&self) -> CellRef {
        CellRef {
            figure: Figure::Companies,
            sector: self.sector.clone(),
            domain: None,
            quarter_start: None,
        }
    }
    fn company(&self) -> &str {
        &self.company_id
    }
}

impl Row for PilotRow {
    const SUPPRESSED_BELOW: Option<usize> = None;
    fn cell(&self) -> CellRef {
        CellRef {
            figure: Figure::Pilots,
            sector: self.sector.clone(),
            domain: Some(self.domain.clone()),
            quarter_start: None,
        }
    }
    fn company(&self) -> &str {
        &self.company_id
    }
}

/// A cell's rows per company, each company's rows in a canonical order, so two states of a cell
/// compare company by company.
type ByCompany = BTreeMap<String, Vec<String>>;

struct CellState<R> {
    rows: Vec<R>,
    by_company: ByCompany,
}

fn cells<R: Row>(rows: &[R]) -> BTreeMap<CellRef, CellState<R>> {
    let mut cells: BTreeMap<CellRef, CellState<R>> = BTreeMap::new();
    for row in rows {
        let state = cells.entry(row.cell()).or_insert_with(|| CellState {
            rows: Vec::new(),
            by_company: ByCompany::new(),
        });
        state.rows.push(row.clone());
        // Serializing these plain structs cannot fail; an empty text would still compare.
        let canonical = serde_json::to_string(row).unwrap_or_default();
        state
            .by_company
            .entry(row.company().to_owned())
            .or_default()
            .push(canonical);
    }
    for state in cells.values_mut() {
        for rows in state.by_company.values_mut() {
            rows.sort();
        }
    }
    cells
}

/// How many companies' rows differ between two states of one cell.
fn companies_changed(before: &ByCompany, after: &ByCompany) -> usize {
    before
        .keys()
        .chain(after.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|company| before.get(*company) != after.get(*company))
        .count()
}

/// Whether one release may show a cell as `before` and another as `after`: unchanged, changed by
/// at least three companies, or a suppressed cell (which published no figures) becoming one of
/// at least three companies (whose sum it then publishes).
fn may_differ(suppressed_below: Option<usize>, before: &ByCompany, after: &ByCompany) -> bool {
    let changed = companies_changed(before, after);
    changed == 0
        || changed >= MIN_CHANGED_COMPANIES
        || suppressed_below.is_some_and(|min| before.len() < min && after.len() >= min)
}

/// The next release's rows of one kind: per cell, the live rows when they may follow every
/// earlier release's state of the cell, else the latest release's rows (held).
fn revise<R: Row>(earlier: &[&[R]], live: &[R], held: &mut Vec<CellRef>) -> Vec<R> {
    let history: Vec<BTreeMap<CellRef, CellState<R>>> =
        earlier.iter().map(|rows| cells(rows)).collect();
    let live = cells(live);
    let empty = ByCompany::new();
    let mut keys: BTreeSet<&CellRef> = live.keys().collect();
    for release in &history {
        keys.extend(release.keys());
    }
    let mut rows = Vec::new();
    for key in keys {
        let after = live.get(key).map_or(&empty, |s| &s.by_company);
        let allowed = history.iter().all(|release| {
            let before = release.get(key).map_or(&empty, |s| &s.by_company);
            may_differ(R::SUPPRESSED_BELOW, before, after)
        });
        if allowed {
            if let Some(state) = live.get(key) {
                rows.extend(state.rows.iter().cloned());
            }
        } else {
            held.push(key.clone());
            if let Some(state) = history.last().and_then(|latest| latest.get(key)) {
                rows.extend(state.rows.iter().cloned());
            }
        }
    }
    rows
}

/// What the next release would publish, and the cells whose live changes it holds back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NextRelease {
    pub basis: Basis,
    /// Cells whose live rows differ from what the release shows, held until enough companies
    /// change to travel together.
    pub held: Vec<CellRef>,
}

/// The next release after `earlier` (every published release's basis, oldest first) from the
/// `live` rows.
pub fn next_release(earlier: &[Basis], live: &Basis) -> NextRelease {
    let mut held = Vec::new();
    let outcomes: Vec<&[CountedReport]> = earlier.iter().map(|b| b.outcomes.as_slice()).collect();
    let vouchers: Vec<&[VoucherCell]> = earlier.iter().map(|b| b.vouchers.as_slice()).collect();
    let companies: Vec<&[CompanyRow]> = earlier.iter().map(|b| b.companies.as_slice()).collect();
    let pilots: Vec<&[PilotRow]> = earlier.iter().map(|b| b.pilots.as_slice()).collect();
    let basis = Basis {
        outcomes: revise(&outcomes, &live.outcomes, &mut held),
        vouchers: revise(&vouchers, &live.vouchers, &mut held),
        companies: revise(&companies, &live.companies, &mut held),
        pilots: revise(&pilots, &live.pilots, &mut held),
    };
    held.sort();
    NextRelease { basis, held }
}

/// A cell two releases show differently by fewer than three companies' rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    pub cell: CellRef,
    pub companies_changed: usize,
}

impl std::fmt::Display for Disclosure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} changed by {} compan{} (at least {MIN_CHANGED_COMPANIES} required)",
            self.cell,
            self.companies_changed,
            if self.companies_changed == 1 {
                "y"
            } else {
                "ies"
            }
        )
    }
}

fn disclosures<R: Row>(a: &[R], b: &[R], out: &mut Vec<Disclosure>) {
    let (a, b) = (cells(a), cells(b));
    let empty = ByCompany::new();
    let keys: BTreeSet<&CellRef> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let before = a.get(key).map_or(&empty, |s| &s.by_company);
        let after = b.get(key).map_or(&empty, |s| &s.by_company);
        if !may_differ(R::SUPPRESSED_BELOW, before, after) {
            out.push(Disclosure {
                cell: key.clone(),
                companies_changed: companies_changed(before, after),
            });
        }
    }
}

/// Every cell that two releases (in either order) show differently by the rows of fewer than
/// three companies. Empty means no two public answers, one from each, can isolate a firm.
pub fn check_disclosure(a: &Basis, b: &Basis) -> Vec<Disclosure> {
    let mut out = Vec::new();
    disclosures(&a.outcomes, &b.outcomes, &mut out);
    disclosures(&a.vouchers, &b.vouchers, &mut out);
    disclosures(&a.companies, &b.companies, &mut out);
    disclosures(&a.pilots, &b.pilots, &mut out);
    out
}

/// The first cell by which `next` would differ from one of the `earlier` releases (oldest
/// first) by fewer than three companies, with that release's index: what makes publishing
/// refuse. `None` for every release [`next_release`] builds.
pub fn first_disclosure(earlier: &[Basis], next: &Basis) -> Option<(usize, Disclosure)> {
    earlier.iter().enumerate().find_map(|(index, release)| {
        check_disclosure(release, next)
            .into_iter()
            .next()
            .map(|found| (index, found))
    })
}

/// Companies past DRAFT and APPROVED ones, in `sectors` (empty: all).
pub fn company_counts(rows: &[CompanyRow], sectors: &[String]) -> (i64, i64) {
    let selected = rows
        .iter()
        .filter(|r| sectors.is_empty() || sectors.contains(&r.sector));
    let (mut registered, mut approved) = (0, 0);
    for row in selected {
        registered += 1;
        approved += i64::from(row.approved);
    }
    (registered, approved)
}

/// Pilots taken on and ACTIVE ones in `sectors` and `domains` (empty: all), whose period
/// overlaps [from, until].
pub fn pilot_counts(
    rows: &[PilotRow],
    sectors: &[String],
    domains: &[String],
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> (i64, i64) {
    let selected = rows.iter().filter(|r| {
        (sectors.is_empty() || sectors.contains(&r.sector))
            && (domains.is_empty() || domains.contains(&r.domain))
            && from.is_none_or(|f| r.ends_on >= f)
            && until.is_none_or(|u| r.starts_on <= u)
    });
    let (mut pilots, mut active) = (0, 0);
    for row in selected {
        pilots += 1;
        active += i64::from(row.active);
    }
    (pilots, active)
}

/// Voucher cells issued in the whole quarters around [from, until].
pub fn vouchers_issued_in(
    rows: &[VoucherCell],
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> Vec<VoucherCell> {
    let from = from.map(quarter_start);
    let until = until.map(quarter_end);
    rows.iter()
        .filter(|r| from.is_none_or(|f| r.quarter_start >= f))
        .filter(|r| until.is_none_or(|u| r.quarter_start <= u))
        .cloned()
        .collect()
}

/// The calendar release most recently due on `today`: the quarter it follows ("2026-Q3") and its
/// day, the `days_after`th day after that quarter ended.
pub fn calendar_due(today: NaiveDate, days_after: u32) -> Option<(String, NaiveDate)> {
    let mut start = quarter_start(today);
    // A release is due at most a year after its quarter (days_after is at most 366).
    for _ in 0..6 {
        let ended = start.pred_opt()?;
        let due = ended.checked_add_days(Days::new(days_after.into()))?;
        if due <= today {
            return Some((format!("{}-Q{}", ended.year(), ended.month0() / 3 + 1), due));
        }
        start = quarter_start(ended);
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;
    use crate::domain::{Bucket, Figures, StatsQuery, aggregate};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn report(
        company: &str,
        sector: &str,
        domain: &str,
        start: &str,
        revenue: i64,
    ) -> CountedReport {
        CountedReport {
            company_id: company.into(),
            pilot_id: format!("pilot-{company}"),
            sector: sector.into(),
            domain: domain.into(),
            period_start: day(start),
            figures: Figures {
                revenue_krw: revenue,
                ..Figures::default()
            },
            compute_consumed: 0,
        }
    }

    fn outcomes(rows: Vec<CountedReport>) -> Basis {
        Basis {
            outcomes: rows,
            ..Basis::default()
        }
    }

    fn public_revenue(basis: &Basis, query: &StatsQuery) -> i64 {
        aggregate(&basis.outcomes, query, Bucket::Quarter)
            .totals
            .map_or(0, |t| t.revenue_krw)
    }

    /// The attack of the issue: three firms published, a fourth firm's verified report must
    /// not show until two more firms' figures travel with it.
    #[test]
    fn one_firms_change_waits_for_two_more() {
        let cell = |n: usize, revenue: i64| {
            (0..n)
                .map(|i| report(&format!("c{i}"), "AI", "TRAFFIC", "2024-10-01", revenue))
                .collect::<Vec<_>>()
        };
        let first = next_release(&[], &outcomes(cell(3, 100)));
        assert!(first.held.is_empty(), "a new cell of three firms publishes");
        let query = StatsQuery::default();
        assert_eq!(public_revenue(&first.basis, &query), 300);

        let live = outcomes(cell(4, 100));
        let second = next_release(std::slice::from_ref(&first.basis), &live);
        assert_eq!(second.basis, first.basis, "one firm more: held");
        assert_eq!(second.held.len(), 1);
        assert_eq!(second.held[0].figure, Figure::Outcomes);

        let live = outcomes(cell(6, 100));
        let third = next_release(&[first.basis.clone(), second.basis.clone()], &live);
        assert!(third.held.is_empty());
        assert_eq!(
            public_revenue(&third.basis, &query),
            600,
            "three firms together"
        );
        for (a, b) in [(&first, &second), (&second, &third), (&first, &third)] {
            assert!(check_disclosure(&a.basis, &b.basis).is_empty());
        }
        // The check catches what the rule would never publish, and publishing refuses it.
        let leaky = outcomes(cell(4, 100));
        let found = check_disclosure(&first.basis, &leaky);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].companies_changed, 1);
        assert!(
            found[0].to_string().contains("changed by 1 company"),
            "{}",
            found[0]
        );
        let earlier = [
            first.basis.clone(),
            second.basis.clone(),
            third.basis.clone(),
        ];
        let refused = first_disclosure(&earlier, &leaky).unwrap();
        assert_eq!(refused.0, 0, "refused against the first release");
        assert_eq!(first_disclosure(&earlier, &third.basis), None);
    }

    #[test]
    fn a_suppressed_cell_publishes_once_it_has_three_firms() {
        let firms = |names: &[&str]| {
            outcomes(
                names
                    .iter()
                    .map(|c| report(c, "AI", "ENERGY", "2024-01-01", 10))
                    .collect(),
            )
        };
        // The first release has nothing to be compared with: it takes every live row (a cell
        // of one firm is suppressed in the public answers).
        let r1 = next_release(&[], &firms(&["a"])).basis;
        assert_eq!(r1.outcomes.len(), 1);
        assert_eq!(public_revenue(&r1, &StatsQuery::default()), 0);
        let r2 = next_release(std::slice::from_ref(&r1), &firms(&["a", "b"]));
        assert_eq!(r2.basis, r1, "one firm more in a suppressed cell: held");
        // Three firms: against a suppressed cell that published nothing, the sum of three is
        // safe to publish even though only two firms changed.
        let r3 = next_release(&[r1.clone(), r2.basis.clone()], &firms(&["a", "b", "c"])).basis;
        assert_eq!(public_revenue(&r3, &StatsQuery::default()), 30);
        assert!(check_disclosure(&r1, &r3).is_empty());
        // Headcounts have no suppression: one company more waits for two others.
        let companies = |n: usize| Basis {
            companies: (0..n)
                .map(|i| CompanyRow {
                    company_id: format!("c{i}"),
                    sector: "DATA".into(),
                    approved: true,
                })
                .collect(),
            ..Basis::default()
        };
        let first = next_release(&[], &companies(2)).basis;
        assert_eq!(company_counts(&first.companies, &[]), (2, 2));
        let held = next_release(std::slice::from_ref(&first), &companies(3));
        assert_eq!(held.basis, first);
        assert_eq!(held.held.len(), 1);
        assert_eq!(held.held[0].figure, Figure::Companies);
        let counted = next_release(&[first.clone(), held.basis.clone()], &companies(5)).basis;
        assert_eq!(company_counts(&counted.companies, &["DATA".into()]), (5, 5));
        assert_eq!(company_counts(&counted.companies, &["AI".into()]), (0, 0));
    }

    /// Two releases that are not consecutive differ by at least three firms as well: a change
    /// undone later cannot leave two firms' difference between the first and the last.
    #[test]
    fn every_pair_of_releases_not_only_neighbours() {
        let base: Vec<CountedReport> = ["a", "b", "c", "d"]
            .iter()
            .map(|c| report(c, "AI", "DATA", "2024-04-01", 10))
            .collect();
        let r1 = next_release(&[], &outcomes(base.clone())).basis;
        // a, b, c change.
        let mut live = base.clone();
        for row in live.iter_mut().take(3) {
            row.figures.revenue_krw = 11;
        }
        let r2 = next_release(std::slice::from_ref(&r1), &outcomes(live.clone())).basis;
        assert_eq!(public_revenue(&r2, &StatsQuery::default()), 43);
        // b and c go back, d changes: three companies against r2, but only a and d against r1.
        live[1].figures.revenue_krw = 10;
        live[2].figures.revenue_krw = 10;
        live[3].figures.revenue_krw = 12;
        let r3 = next_release(&[r1.clone(), r2.clone()], &outcomes(live)).basis;
        assert_eq!(r3, r2, "held: it would differ from r1 by two firms");
        assert!(check_disclosure(&r1, &r3).is_empty());
    }

    #[test]
    fn counts_follow_the_basis() {
        let pilots = vec![
            PilotRow {
                pilot_id: "p1".into(),
                company_id: "c1".into(),
                sector: "AI".into(),
                domain: "TRAFFIC".into(),
                starts_on: day("2024-01-01"),
                ends_on: day("2024-12-31"),
                active: true,
            },
            PilotRow {
                pilot_id: "p2".into(),
                company_id: "c2".into(),
                sector: "DATA".into(),
                domain: "ENERGY".into(),
                starts_on: day("2025-01-01"),
                ends_on: day("2025-06-30"),
                active: false,
            },
        ];
        assert_eq!(pilot_counts(&pilots, &[], &[], None, None), (2, 1));
        assert_eq!(
            pilot_counts(&pilots, &["DATA".into()], &[], None, None),
            (1, 0)
        );
        assert_eq!(
            pilot_counts(&pilots, &[], &[], Some(day("2025-01-01")), None),
            (1, 0)
        );
        assert_eq!(
            pilot_counts(
                &pilots,
                &[],
                &["TRAFFIC".into()],
                None,
                Some(day("2023-12-31"))
            ),
            (0, 0)
        );
    }

    #[test]
    fn the_calendar_is_the_45th_day_after_each_quarter() {
        let due = |today: &str| calendar_due(day(today), DEFAULT_DAYS_AFTER_QUARTER);
        assert_eq!(
            due("2026-02-14"),
            Some(("2025-Q4".into(), day("2026-02-14")))
        );
        assert_eq!(
            due("2026-02-13"),
            Some(("2025-Q3".into(), day("2025-11-14")))
        );
        assert_eq!(
            due("2026-05-15"),
            Some(("2026-Q1".into(), day("2026-05-15")))
        );
        assert_eq!(
            due("2026-12-06"),
            Some(("2026-Q3".into(), day("2026-11-14")))
        );
        assert_eq!(
            calendar_due(day("2026-12-06"), 90),
            Some(("2026-Q2".into(), day("2026-09-28")))
        );
    }

    /// For random histories of live changes and releases, and any union of cells a filter can
    /// pick, the difference between two releases' public answers is a sum over cells each of
    /// which changed by at least three companies (or published for the first time with three).
    #[test]
    fn no_filter_isolates_fewer_than_three_firms_across_releases() {
        const SECTORS: [&str; 2] = ["AI", "DATA"];
        const DOMAINS: [&str; 2] = ["TRAFFIC", "ENERGY"];
        const QUARTERS: [&str; 2] = ["2024-01-01", "2024-04-01"];
        let (mut held, mut published_changes) = (0, 0);
        for seed in 0..40_u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut live: BTreeMap<(usize, usize, usize, usize), i64> = BTreeMap::new();
            let mut releases: Vec<Basis> = Vec::new();
            for _ in 0..30 {
                let key = (
                    rng.gen_range(0..8),
                    rng.gen_range(0..2),
                    rng.gen_range(0..2),
                    rng.gen_range(0..2),
                );
                if rng.gen_bool(0.2) {
                    live.remove(&key);
                } else {
                    live.insert(key, rng.gen_range(1..1_000));
                }
                if rng.gen_bool(0.3) {
                    let rows = live
                        .iter()
                        .map(|(&(c, s, d, q), &revenue)| {
                            report(
                                &format!("c{c}"),
                                SECTORS[s],
                                DOMAINS[d],
                                QUARTERS[q],
                                revenue,
                            )
                        })
                        .collect();
                    let next = next_release(&releases, &outcomes(rows));
                    held += next.held.len();
                    releases.push(next.basis);
                }
            }
            for (i, a) in releases.iter().enumerate() {
                for b in &releases[i + 1..] {
                    assert!(
                        check_disclosure(a, b).is_empty(),
                        "seed {seed}: {:?}",
                        check_disclosure(a, b)
                    );
                    for _ in 0..10 {
                        let pick = |rng: &mut StdRng, all: &[&str]| -> Vec<String> {
                            all.iter()
                                .filter(|_| rng.gen_bool(0.5))
                                .map(|s| (*s).to_owned())
                                .collect()
                        };
                        let query = StatsQuery {
                            sectors: pick(&mut rng, &SECTORS),
                            domains: pick(&mut rng, &DOMAINS),
                            from: rng.gen_bool(0.5).then(|| day(QUARTERS[1])),
                            ..StatsQuery::default()
                        };
                        let difference = public_revenue(b, &query) - public_revenue(a, &query);
                        let (cells_a, cells_b) = (cells(&a.outcomes), cells(&b.outcomes));
                        let mut explained = 0;
                        let keys: BTreeSet<&CellRef> =
                            cells_a.keys().chain(cells_b.keys()).collect();
                        for key in keys {
                            let selected = (query.sectors.is_empty()
                                || query.sectors.contains(&key.sector))
                                && (query.domains.is_empty()
                                    || key
                                        .domain
                                        .as_ref()
                                        .is_some_and(|d| query.domains.contains(d)))
                                && query
                                    .from
                                    .is_none_or(|f| key.quarter_start.is_some_and(|q| q >= f));
                            if !selected {
                                continue;
                            }
                            let published = |state: Option<&CellState<CountedReport>>| {
                                state
                                    .filter(|s| s.by_company.len() >= MIN_COMPANIES)
                                    .map_or(0, |s| {
                                        s.rows.iter().map(|r| r.figures.revenue_krw).sum()
                                    })
                            };
                            let (before, after) = (cells_a.get(key), cells_b.get(key));
                            let change: i64 = published(after) - published(before);
                            if change != 0 {
                                published_changes += 1;
                                let empty = ByCompany::new();
                                let changed = companies_changed(
                                    before.map_or(&empty, |s| &s.by_company),
                                    after.map_or(&empty, |s| &s.by_company),
                                );
                                assert!(
                                    changed >= MIN_CHANGED_COMPANIES
                                        || before.map_or(0, |s| s.by_company.len()) < MIN_COMPANIES,
                                    "seed {seed}: {key} changed by {changed}"
                                );
                            }
                            explained += change;
                        }
                        assert_eq!(difference, explained, "seed {seed}");
                    }
                }
            }
        }
        // The histories exercised both sides of the rule.
        assert!(
            held > 100 && published_changes > 100,
            "{held} {published_changes}"
        );
    }
}
