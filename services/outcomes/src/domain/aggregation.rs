//! The programme's aggregate figures with small-group suppression, and the compute vouchers in them.

use std::collections::{BTreeMap, BTreeSet};

use axv_platform::{columns::StoredDate, string_enum};
use chrono::{Datelike, NaiveDate};

use super::*;

/// Fewer companies than this in a cell and the cell's figures stay out of public numbers.
pub const MIN_COMPANIES: usize = 3;

string_enum!(Bucket {
    Month => "MONTH",
    Quarter => "QUARTER",
    Year => "YEAR",
});

impl Bucket {
    /// The first day of the bucket holding `date`.
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Month => month_start(date.year(), date.month0()),
            Bucket::Quarter => quarter_start(date),
            Bucket::Year => month_start(date.year(), 0),
        }
    }
}

/// The counted (newest verified) version of one report, with what it is grouped by.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct CountedReport {
    pub company_id: String,
    /// Counted for `DomainStats.pilots`.
    pub pilot_id: String,
    pub sector: String,
    pub domain: String,
    #[sqlx(try_from = "StoredDate")]
    pub period_start: NaiveDate,
    #[sqlx(flatten)]
    pub figures: Figures,
    pub compute_consumed: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsQuery {
    /// Reports whose period starts on or after this day.
    pub from: Option<NaiveDate>,
    /// Reports whose period starts on or before this day.
    pub to: Option<NaiveDate>,
    /// Empty means every sector.
    pub sectors: Vec<String>,
    /// Empty means every domain.
    pub domains: Vec<String>,
    /// Only these companies' reports (those a funding source supported); `None` means all.
    pub companies: Option<BTreeSet<String>>,
    /// Dashboards and anonymous callers: small cells are suppressed.
    pub public: bool,
    pub min_companies: usize,
}

impl Default for StatsQuery {
    /// Public unless a caller proves otherwise, so forgetting the flag never leaks.
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            sectors: Vec::new(),
            domains: Vec::new(),
            companies: None,
            public: true,
            min_companies: MIN_COMPANIES,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStats {
    pub key: String,
    /// Distinct companies with selected reports in the group (suppressed cells included: a
    /// headcount is not a firm's figure).
    pub companies: usize,
    /// Distinct pilots with selected reports in the group.
    pub pilots: usize,
    /// `None` exactly when `suppressed`.
    pub figures: Option<Figures>,
    pub suppressed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// `None` only for a public query whose selection is non-empty but entirely suppressed;
    /// the API's non-null `outcomes` shows that as zeros.
    pub totals: Option<Figures>,
    /// A public query left some selected reports out (the totals are then a lower bound).
    pub totals_suppressed: bool,
    pub by_sector: Vec<GroupStats>,
    pub by_domain: Vec<GroupStats>,
    /// Per company, sorted by id; always empty for public queries.
    pub by_company: Vec<(String, Figures)>,
    /// (bucket start, figures, compute consumed), sorted; buckets without counted reports are
    /// left out.
    pub series: Vec<(NaiveDate, Figures, i64)>,
    pub compute_consumed: i64,
}

/// The unit of suppression: (sector, domain, quarter of the period's start).
type Cell<'a> = (&'a str, &'a str, NaiveDate);

fn cell_of(report: &CountedReport) -> Cell<'_> {
    (
        report.sector.as_str(),
        report.domain.as_str(),
        quarter_start(report.period_start),
    )
}

#[derive(Default)]
struct Group<'a> {
    companies: BTreeSet<&'a str>,
    pilots: BTreeSet<&'a str>,
    counted_companies: BTreeSet<&'a str>,
    figures: Figures,
}

impl Group<'_> {
    fn finish(self, key: &str, public: bool, min_companies: usize) -> GroupStats {
        // Every counted cell brings at least `min_companies` companies, so this only suppresses
        // groups made entirely of suppressed cells; it is kept as a direct guard regardless.
        let suppressed = public && self.counted_companies.len() < min_companies;
        GroupStats {
            key: key.to_owned(),
            companies: self.companies.len(),
            pilots: self.pilots.len(),
            figures: (!suppressed).then_some(self.figures),
            suppressed,
        }
    }
}

/// The programme's figures over counted reports.
///
/// Public queries count only cells with at least `min_companies` distinct companies, judged
/// over every report in the cell whatever the filters. Filters select whole cells (public
/// from/to snap outward to quarters), so any two public answers differ by whole cells of at
/// least `min_companies` companies each, and subtracting one filtered query from another never
/// isolates a firm. Suppressing only small result groups would not do: the total minus a large
/// group would give away a small one.
///
/// A half or year report falls wholly in the bucket and cell where its period starts; figures
/// are not prorated.
pub fn aggregate(reports: &[CountedReport], query: &StatsQuery, bucket: Bucket) -> Stats {
    let public = query.public;
    let min = query.min_companies;

    let mut cells: BTreeMap<Cell<'_>, BTreeSet<&str>> = BTreeMap::new();
    for report in reports {
        cells
            .entry(cell_of(report))
            .or_default()
            .insert(report.company_id.as_str());
    }
    let is_counted = |report: &CountedReport| {
        !public || cells.get(&cell_of(report)).is_some_and(|c| c.len() >= min)
    };

    let (from, to) = if public {
        (query.from.map(quarter_start), query.to.map(quarter_end))
    } else {
        (query.from, query.to)
    };
    let selected = reports.iter().filter(|r| {
        from.is_none_or(|f| r.period_start >= f)
            && to.is_none_or(|t| r.period_start <= t)
            && (query.sectors.is_empty() || query.sectors.contains(&r.sector))
            && (query.domains.is_empty() || query.domains.contains(&r.domain))
            && query
                .companies
                .as_ref()
                .is_none_or(|c| c.contains(&r.company_id))
    });

    let mut any_selected = false;
    let mut any_left_out = false;
    let mut any_counted = false;
    let mut totals = Figures::default();
    let mut compute: i64 = 0;
    let mut sectors: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    let mut domains: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    let mut companies: BTreeMap<&str, Figures> = BTreeMap::new();
    let mut series: BTreeMap<NaiveDate, (Figures, i64)> = BTreeMap::new();

    for report in selected {
        any_selected = true;
        let counted = is_counted(report);
        for group in [
            sectors.entry(report.sector.as_str()).or_default(),
            domains.entry(report.domain.as_str()).or_default(),
        ] {
            group.companies.insert(report.company_id.as_str());
            group.pilots.insert(report.pilot_id.as_str());
            if counted {
                group.counted_companies.insert(report.company_id.as_str());
                group.figures.add(&report.figures);
            }
        }
        if !counted {
            any_left_out = true;
            continue;
        }
        any_counted = true;
        totals.add(&report.figures);
        compute = compute.saturating_add(report.compute_consumed);
        if !public {
            companies
                .entry(report.company_id.as_str())
                .or_default()
                .add(&report.figures);
        }
        // Public buckets come from the cell's quarter, so even a month bucket never splits one.
        let day = if public {
            quarter_start(report.period_start)
        } else {
            report.period_start
        };
        let point = series.entry(bucket.start(day)).or_default();
        point.0.add(&report.figures);
        point.1 = point.1.saturating_add(report.compute_consumed);
    }

    Stats {
        totals: (!public || any_counted || !any_selected).then_some(totals),
        totals_suppressed: any_left_out,
        by_sector: sectors
            .into_iter()
            .map(|(key, group)| group.finish(key, public, min))
            .collect(),
        by_domain: domains
            .into_iter()
            .map(|(key, group)| group.finish(key, public, min))
            .collect(),
        by_company: companies
            .into_iter()
            .map(|(id, figures)| (id.to_owned(), figures))
            .collect(),
        series: series
            .into_iter()
            .map(|(start, (figures, compute))| (start, figures, compute))
            .collect(),
        compute_consumed: compute,
    }
}

// ---------------------------------------------------------------------------------------------
// Compute vouchers in the public figures

/// What the vouchers service reports for one company and issue quarter, with the company's
/// sector from onboarding.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoucherCell {
    pub company_id: String,
    pub sector: String,
    pub quarter_start: NaiveDate,
    pub vouchers: i64,
    pub granted: i64,
    /// Everything the vouchers' jobs used: charged usage and overage.
    pub consumed: i64,
    /// Of which usage beyond the vouchers' balances (never charged).
    pub overage: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VoucherTotals {
    pub vouchers: i64,
    pub granted: i64,
    /// Everything the vouchers' jobs used: charged usage and overage.
    pub consumed: i64,
    /// Of which usage beyond the vouchers' balances (never charged).
    pub overage: i64,
}

/// Voucher figures over `rows` (already limited to whole quarters of the period asked for),
/// restricted to `sectors` (empty: all). Public totals keep only (sector, issue quarter) cells
/// of at least `min_companies` companies, the same rule as the outcome figures, so no grant
/// can be read out by subtracting two answers.
pub fn voucher_totals(
    rows: &[VoucherCell],
    sectors: &[String],
    public: bool,
    min_companies: usize,
) -> VoucherTotals {
    let mut cells: BTreeMap<(&str, NaiveDate), BTreeSet<&str>> = BTreeMap::new();
    for row in rows {
        cells
            .entry((row.sector.as_str(), row.quarter_start))
            .or_default()
            .insert(row.company_id.as_str());
    }
    let mut totals = VoucherTotals::default();
    for row in rows {
        if !sectors.is_empty() && !sectors.contains(&row.sector) {
            continue;
        }
        let companies = cells
            .get(&(row.sector.as_str(), row.quarter_start))
            .map_or(0, BTreeSet::len);
        if public && companies < min_companies {
            continue;
        }
        totals.vouchers = totals.vouchers.saturating_add(row.vouchers);
        totals.granted = totals.granted.saturating_add(row.granted);
        totals.consumed = totals.consumed.saturating_add(row.consumed);
        totals.overage = totals.overage.saturating_add(row.overage);
    }
    totals
}
