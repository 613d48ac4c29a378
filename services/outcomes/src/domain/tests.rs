//! The domain's rules, every refusal included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use axv_platform::error::Reason;
use chrono::NaiveDate;

use super::*;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn field_of(err: ReportsError) -> &'static str {
    match err {
        ReportsError::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

// --- states and moves ------------------------------------------------------------------

#[test]
fn enums_round_trip_through_their_names() {
    for s in ReportStatus::ALL {
        assert_eq!(ReportStatus::parse(s.as_str()), Some(*s));
    }
    for a in ReportAction::ALL {
        assert_eq!(ReportAction::parse(a.as_str()), Some(*a));
    }
    for k in PeriodKind::ALL {
        assert_eq!(PeriodKind::parse(k.as_str()), Some(*k));
    }
    for b in Bucket::ALL {
        assert_eq!(Bucket::parse(b.as_str()), Some(*b));
    }
    assert_eq!(ReportStatus::Draft.as_str(), "DRAFT");
    assert_eq!(ReportStatus::Verified.to_string(), "VERIFIED");
    assert_eq!(ReportStatus::parse("draft"), None);
    assert_eq!(Bucket::parse("WEEK"), None);
    assert_eq!(PeriodKind::default(), PeriodKind::Quarter);
}

#[test]
fn allowed_transitions() {
    use ReportAction as A;
    use ReportStatus as S;
    assert_eq!(A::Submit.apply(S::Draft), Ok(S::Submitted));
    assert_eq!(A::Verify.apply(S::Submitted), Ok(S::Verified));
    assert_eq!(A::Return.apply(S::Submitted), Ok(S::Returned));
    assert_eq!(A::Submit.apply(S::Returned), Ok(S::Submitted));
}

#[test]
fn every_other_transition_is_refused_naming_move_and_state() {
    use ReportAction as A;
    use ReportStatus as S;
    let allowed = [
        (A::Submit, S::Draft),
        (A::Verify, S::Submitted),
        (A::Return, S::Submitted),
        (A::Submit, S::Returned),
    ];
    let mut refused = 0;
    for &action in A::ALL {
        for &status in S::ALL {
            if allowed.contains(&(action, status)) {
                continue;
            }
            refused += 1;
            match action.apply(status) {
                Err(ReportsError::Refused {
                    reason: Reason::WrongState,
                    message: msg,
                }) => {
                    let verb = action.as_str().to_lowercase();
                    assert!(msg.contains(&verb), "{msg}");
                    assert!(msg.contains(status.as_str()), "{msg}");
                }
                other => panic!("{action} from {status}: {other:?}"),
            }
        }
    }
    assert_eq!(refused, 8);
    assert_eq!(
        A::Verify.apply(S::Draft),
        Err(ReportsError::refused(
            Reason::WrongState,
            "cannot verify a report that is DRAFT"
        ))
    );
}

#[test]
fn action_roles_notes_and_events() {
    assert!(ReportAction::Submit.is_firm_action());
    assert!(!ReportAction::Verify.is_firm_action());
    assert!(!ReportAction::Return.is_firm_action());
    assert!(ReportAction::Return.requires_note());
    assert!(!ReportAction::Verify.requires_note());
    assert!(!ReportAction::Submit.requires_note());
    assert_eq!(ReportAction::Submit.event_kind(), "report.submitted");
    assert_eq!(ReportAction::Verify.event_kind(), "report.verified");
    assert_eq!(ReportAction::Return.event_kind(), "report.returned");
}

#[test]
fn editing_only_in_draft_or_returned() {
    use ReportStatus as S;
    assert!(S::Draft.is_editable());
    assert!(S::Returned.is_editable());
    assert!(!S::Submitted.is_editable());
    assert!(!S::Verified.is_editable());
    assert_eq!(check_editable(S::Draft), Ok(()));
    assert_eq!(check_editable(S::Returned), Ok(()));
    for s in [S::Submitted, S::Verified] {
        match check_editable(s) {
            Err(ReportsError::Refused {
                reason: Reason::NotEditable,
                message,
            }) => assert!(message.contains(s.as_str())),
            other => panic!("{other:?}"),
        }
    }
    assert!(S::Verified.is_counted());
    assert!(!S::Submitted.is_counted());
}

#[test]
fn authorize_firm_submits_managers_decide() {
    use ReportAction as A;
    assert_eq!(authorize(false, true, A::Submit), Ok(()));
    assert!(matches!(
        authorize(true, false, A::Submit),
        Err(ReportsError::Forbidden(_))
    ));
    assert!(matches!(
        authorize(false, false, A::Submit),
        Err(ReportsError::Forbidden(_))
    ));
    for a in [A::Verify, A::Return] {
        assert_eq!(authorize(true, false, a), Ok(()));
        assert!(matches!(
            authorize(false, true, a),
            Err(ReportsError::Forbidden(_))
        ));
    }
}

#[test]
fn return_requires_a_note() {
    use ReportAction as A;
    assert_eq!(field_of(check_note(A::Return, None).unwrap_err()), "note");
    assert_eq!(
        field_of(check_note(A::Return, Some("  ")).unwrap_err()),
        "note"
    );
    assert_eq!(
        check_note(A::Return, Some(" fix revenue ")),
        Ok(Some("fix revenue".to_owned()))
    );
    assert_eq!(check_note(A::Verify, None), Ok(None));
    assert_eq!(check_note(A::Verify, Some("ok")), Ok(Some("ok".to_owned())));
    assert_eq!(check_note(A::Submit, Some("")), Ok(None));
    let long = "x".repeat(2001);
    assert_eq!(
        field_of(check_note(A::Verify, Some(&long)).unwrap_err()),
        "note"
    );
}

// --- versions --------------------------------------------------------------------------

#[test]
fn only_verified_reports_are_amended() {
    use ReportStatus as S;
    assert_eq!(can_amend(S::Verified), Ok(()));
    for s in [S::Draft, S::Submitted, S::Returned] {
        match can_amend(s) {
            Err(ReportsError::Precondition(msg)) => assert!(msg.contains(s.as_str())),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn amend_version_follows_a_verified_latest_version() {
    use ReportStatus as S;
    assert_eq!(amend_version(&[(1, S::Verified)]), Ok(2));
    assert_eq!(amend_version(&[(2, S::Verified), (1, S::Verified)]), Ok(3));
    assert!(matches!(
        amend_version(&[(1, S::Verified), (2, S::Draft)]),
        Err(ReportsError::Precondition(_))
    ));
    assert!(matches!(
        amend_version(&[(1, S::Submitted)]),
        Err(ReportsError::Precondition(_))
    ));
    assert!(matches!(
        amend_version(&[]),
        Err(ReportsError::Precondition(_))
    ));
}

#[test]
fn counted_version_is_newest_verified() {
    use ReportStatus as S;
    assert_eq!(counted_version(&[]), None);
    assert_eq!(counted_version(&[(1, S::Draft)]), None);
    assert_eq!(counted_version(&[(1, S::Submitted)]), None);
    assert_eq!(counted_version(&[(1, S::Returned)]), None);
    assert_eq!(counted_version(&[(1, S::Verified)]), Some(1));
    // A pending amendment does not hide the verified figures.
    assert_eq!(counted_version(&[(1, S::Verified), (2, S::Draft)]), Some(1));
    assert_eq!(
        counted_version(&[(1, S::Verified), (2, S::Submitted)]),
        Some(1)
    );
    assert_eq!(
        counted_version(&[(1, S::Verified), (2, S::Returned)]),
        Some(1)
    );
    // A newer verified version replaces the older one, whatever the input order.
    assert_eq!(
        counted_version(&[(2, S::Verified), (1, S::Verified)]),
        Some(2)
    );
    assert_eq!(
        counted_version(&[(3, S::Draft), (1, S::Verified), (2, S::Verified)]),
        Some(2)
    );
}

// --- periods ---------------------------------------------------------------------------

#[test]
fn calendar_quarters_halves_and_years_are_valid() {
    let q = PeriodKind::Quarter;
    let h = PeriodKind::Half;
    let y = PeriodKind::Year;
    for (start, end, kind) in [
        ("2024-01-01", "2024-03-31", q),
        ("2024-04-01", "2024-06-30", q),
        ("2024-07-01", "2024-09-30", q),
        ("2024-10-01", "2024-12-31", q),
        ("2023-01-01", "2023-03-31", q),
        ("2024-01-01", "2024-06-30", h),
        ("2024-07-01", "2024-12-31", h),
        ("2021-01-01", "2021-12-31", y),
        ("2024-01-01", "2024-12-31", y),
    ] {
        assert_eq!(
            validate_period(d(start), d(end)),
            Ok(kind),
            "{start}..{end}"
        );
        assert_eq!(period_of(d(start), kind), (d(start), d(end)));
    }
}

#[test]
fn other_periods_are_refused_naming_the_field() {
    for (start, end, field) in [
        ("2024-03-31", "2024-01-01", "periodEnd"), // backwards
        ("2024-01-02", "2024-03-31", "periodStart"),
        ("2024-02-01", "2024-04-30", "periodStart"), // three months, not a quarter
        ("2024-01-15", "2024-01-15", "periodStart"),
        ("2024-01-01", "2024-01-31", "periodEnd"), // a month
        ("2024-01-01", "2024-03-30", "periodEnd"),
        ("2024-01-01", "2024-04-01", "periodEnd"),
        ("2024-04-01", "2024-09-30", "periodEnd"), // six months, not a calendar half
        ("2024-10-01", "2025-03-31", "periodEnd"), // across the year
        ("2024-07-01", "2025-06-30", "periodEnd"), // a year, not a calendar year
        ("2024-01-01", "2024-12-30", "periodEnd"),
        ("2024-01-01", "2024-01-01", "periodEnd"),
    ] {
        let err = validate_period(d(start), d(end)).unwrap_err();
        assert_eq!(field_of(err), field, "{start}..{end}");
    }
}

#[test]
fn quarter_helpers() {
    assert_eq!(quarter_start(d("2024-02-29")), d("2024-01-01"));
    assert_eq!(quarter_end(d("2024-02-29")), d("2024-03-31"));
    assert_eq!(quarter_start(d("2024-12-31")), d("2024-10-01"));
    assert_eq!(quarter_end(d("2024-11-05")), d("2024-12-31"));
    assert_eq!(
        period_of(d("2024-08-08"), PeriodKind::Half),
        (d("2024-07-01"), d("2024-12-31"))
    );
}

#[test]
fn overlap_is_inclusive() {
    let q1 = (d("2024-01-01"), d("2024-03-31"));
    let q2 = (d("2024-04-01"), d("2024-06-30"));
    let h1 = (d("2024-01-01"), d("2024-06-30"));
    let y = (d("2024-01-01"), d("2024-12-31"));
    let q1_next = (d("2025-01-01"), d("2025-03-31"));
    assert!(overlaps(q1, q1));
    assert!(!overlaps(q1, q2));
    assert!(!overlaps(q2, q1));
    assert!(overlaps(q1, h1));
    assert!(overlaps(h1, q2));
    assert!(overlaps(q2, y));
    assert!(!overlaps(y, q1_next));
    // Sharing a single day is an overlap.
    assert!(overlaps(
        (d("2024-01-01"), d("2024-04-01")),
        (d("2024-04-01"), d("2024-06-30"))
    ));
}

#[test]
fn due_periods_are_those_ended_within_the_pilots_life() {
    let q = PeriodKind::Quarter;
    let start = d("2024-02-15");
    let end = d("2024-08-10");
    let q1 = (d("2024-01-01"), d("2024-03-31"));
    let q2 = (d("2024-04-01"), d("2024-06-30"));
    let q3 = (d("2024-07-01"), d("2024-09-30"));
    assert_eq!(due_periods(start, end, d("2024-03-30"), q), vec![]);
    assert_eq!(due_periods(start, end, d("2024-03-31"), q), vec![q1]);
    assert_eq!(due_periods(start, end, d("2024-09-29"), q), vec![q1, q2]);
    // The partial last quarter is due when it ends, after the pilot ended.
    assert_eq!(
        due_periods(start, end, d("2024-09-30"), q),
        vec![q1, q2, q3]
    );
    assert_eq!(
        due_periods(start, end, d("2030-01-01"), q),
        vec![q1, q2, q3]
    );
    assert_eq!(
        due_periods(start, end, d("2030-01-01"), PeriodKind::Half),
        vec![
            (d("2024-01-01"), d("2024-06-30")),
            (d("2024-07-01"), d("2024-12-31"))
        ]
    );
    assert_eq!(
        due_periods(
            d("2023-05-01"),
            d("2024-08-10"),
            d("2025-06-01"),
            PeriodKind::Year
        ),
        vec![
            (d("2023-01-01"), d("2023-12-31")),
            (d("2024-01-01"), d("2024-12-31"))
        ]
    );
    assert_eq!(
        due_periods(d("2024-06-30"), d("2024-07-01"), d("2025-01-01"), q),
        vec![q2, q3]
    );
    // Nonsense pilot dates owe nothing.
    assert_eq!(due_periods(end, start, d("2030-01-01"), q), vec![]);
    // Default is quarterly.
    assert_eq!(
        due_periods(start, end, d("2024-07-01"), PeriodKind::default()),
        vec![q1, q2]
    );
}

#[test]
fn missing_periods_skip_covered_ones() {
    let q1 = (d("2024-01-01"), d("2024-03-31"));
    let q2 = (d("2024-04-01"), d("2024-06-30"));
    let q3 = (d("2024-07-01"), d("2024-09-30"));
    let h1 = (d("2024-01-01"), d("2024-06-30"));
    assert_eq!(missing_periods(&[q1, q2, q3], &[]), vec![q1, q2, q3]);
    assert_eq!(missing_periods(&[q1, q2, q3], &[q2]), vec![q1, q3]);
    assert_eq!(missing_periods(&[q1, q2, q3], &[h1]), vec![q3]);
}

// --- figures ---------------------------------------------------------------------------

#[test]
fn figures_validate_names_each_negative_field() {
    assert_eq!(Figures::default().validate(), Ok(()));
    type Setter = fn(&mut Figures);
    let cases: [(&str, Setter); 9] = [
        ("modelsDeveloped", |f| f.models_developed = -1),
        ("modelsImproved", |f| f.models_improved = -1),
        ("modelsCommercialized", |f| f.models_commercialized = -1),
        ("patentsFiled", |f| f.patents_filed = -1),
        ("patentsRegistered", |f| f.patents_registered = -1),
        ("papers", |f| f.papers = -1),
        ("newHires", |f| f.new_hires = -1),
        ("revenueKrw", |f| f.revenue_krw = -1),
        ("investmentKrw", |f| f.investment_krw = -1),
    ];
    for (name, set) in cases {
        let mut f = Figures {
            models_developed: 5,
            ..Figures::default()
        };
        set(&mut f);
        assert_eq!(field_of(f.validate().unwrap_err()), name);
    }
}

#[test]
fn commercialized_cannot_exceed_developed_plus_improved() {
    let ok = Figures {
        models_developed: 2,
        models_improved: 3,
        models_commercialized: 5,
        ..Figures::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    let too_many = Figures {
        models_commercialized: 6,
        ..ok
    };
    match too_many.validate() {
        Err(ReportsError::InvalidInput { field, message }) => {
            assert_eq!(field, "modelsCommercialized");
            assert!(message.contains("(5)"), "{message}");
            assert!(message.contains("more commercialized"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let none_developed = Figures {
        models_commercialized: 1,
        ..Figures::default()
    };
    assert!(none_developed.validate().is_err());
    // The largest counts allowed pass the check.
    let largest = Figures {
        models_developed: MAX_COUNT,
        models_improved: MAX_COUNT,
        models_commercialized: MAX_COUNT,
        ..Figures::default()
    };
    assert_eq!(largest.validate(), Ok(()));
}

#[test]
fn figures_add_field_by_field_and_saturate() {
    let mut a = Figures {
        models_developed: 1,
        models_improved: 2,
        models_commercialized: 3,
        patents_filed: 4,
        patents_registered: 5,
        papers: 6,
        new_hires: 7,
        revenue_krw: 8,
        investment_krw: i64::MAX - 1,
    };
    a.add(&a.clone());
    assert_eq!(
        a,
        Figures {
            models_developed: 2,
            models_improved: 4,
            models_commercialized: 6,
            patents_filed: 8,
            patents_registered: 10,
            papers: 12,
            new_hires: 14,
            revenue_krw: 16,
            investment_krw: i64::MAX,
        }
    );
}

// --- aggregation -----------------------------------------------------------------------

const AI: &str = "ARTIFICIAL_INTELLIGENCE";
const MOB: &str = "MOBILITY";
const ENERGY: &str = "ENERGY";
const HEALTH: &str = "HEALTHCARE";
const TRAFFIC: &str = "TRAFFIC";

fn figs(revenue: i64) -> Figures {
    Figures {
        models_developed: revenue,
        revenue_krw: revenue,
        ..Figures::default()
    }
}

fn rep(company: &str, sector: &str, domain: &str, start: &str, revenue: i64) -> CountedReport {
    CountedReport {
        company_id: company.to_owned(),
        pilot_id: format!("pilot-{company}-{domain}"),
        sector: sector.to_owned(),
        domain: domain.to_owned(),
        period_start: d(start),
        figures: figs(revenue),
        compute_consumed: revenue,
    }
}

fn public() -> StatsQuery {
    StatsQuery::default()
}

fn manager() -> StatsQuery {
    StatsQuery {
        public: false,
        ..StatsQuery::default()
    }
}

fn with_sectors(mut q: StatsQuery, sectors: &[&str]) -> StatsQuery {
    q.sectors = sectors.iter().map(|s| (*s).to_owned()).collect();
    q
}

fn revenue(stats: &Stats) -> i64 {
    stats.totals.map_or(0, |f| f.revenue_krw)
}

fn group<'a>(groups: &'a [GroupStats], key: &str) -> &'a GroupStats {
    groups.iter().find(|g| g.key == key).unwrap()
}

/// Five AI companies and one MOBILITY company, all in HEALTHCARE pilots in 2024 Q1.
fn five_and_one() -> Vec<CountedReport> {
    let mut reports: Vec<_> = (1..=5)
        .map(|i| rep(&format!("a{i}"), AI, HEALTH, "2024-01-01", 1000 * i))
        .collect();
    reports.push(rep("b1", MOB, HEALTH, "2024-01-01", 7));
    reports
}

/// What suppressing only small result groups would publish: the sum of the selection
/// unless it holds fewer than three companies.
fn naive_revenue(reports: &[CountedReport], sectors: &[&str], domains: &[&str]) -> Option<i64> {
    let selected: Vec<_> = reports
        .iter()
        .filter(|r| sectors.is_empty() || sectors.contains(&r.sector.as_str()))
        .filter(|r| domains.is_empty() || domains.contains(&r.domain.as_str()))
        .collect();
    let companies: BTreeSet<_> = selected.iter().map(|r| &r.company_id).collect();
    (companies.len() >= MIN_COMPANIES).then(|| selected.iter().map(|r| r.figures.revenue_krw).sum())
}

#[test]
fn only_the_passed_reports_count() {
    let reports = five_and_one();
    let all = aggregate(&reports, &manager(), Bucket::Quarter);
    assert_eq!(revenue(&all), 15_007);
    assert_eq!(all.compute_consumed, 15_007);
    let fewer = aggregate(&reports[..2], &manager(), Bucket::Quarter);
    assert_eq!(revenue(&fewer), 3000);
    let none = aggregate(&[], &manager(), Bucket::Quarter);
    assert_eq!(none.totals, Some(Figures::default()));
    assert!(none.by_sector.is_empty() && none.by_domain.is_empty() && none.series.is_empty());
    let none_public = aggregate(&[], &public(), Bucket::Quarter);
    assert_eq!(none_public.totals, Some(Figures::default()));
    assert!(!none_public.totals_suppressed);
}

#[test]
fn public_suppresses_a_two_company_sector() {
    let mut reports: Vec<_> = (1..=3)
        .map(|i| rep(&format!("a{i}"), AI, HEALTH, "2024-01-01", 1000))
        .collect();
    reports.push(rep("m1", MOB, TRAFFIC, "2024-01-01", 5));
    reports.push(rep("m2", MOB, TRAFFIC, "2024-01-01", 6));
    let stats = aggregate(&reports, &public(), Bucket::Quarter);
    let mobility = group(&stats.by_sector, MOB);
    assert_eq!(mobility.companies, 2);
    assert_eq!(mobility.figures, None);
    assert!(mobility.suppressed);
    let traffic = group(&stats.by_domain, TRAFFIC);
    assert!(traffic.suppressed && traffic.figures.is_none());
    let ai = group(&stats.by_sector, AI);
    assert!(!ai.suppressed);
    assert_eq!(ai.figures, Some(figs(3000)));
    // The totals leave the small cell out too, or total minus AI would give it away.
    assert_eq!(revenue(&stats), 3000);
    assert_eq!(stats.compute_consumed, 3000);
    assert!(stats.totals_suppressed);
    assert!(stats.by_company.is_empty());
    assert_eq!(stats.series, vec![(d("2024-01-01"), figs(3000), 3000)]);
}

#[test]
fn a_cell_counts_distinct_companies_not_reports() {
    let reports = vec![
        rep("a1", AI, HEALTH, "2024-01-01", 1000),
        rep("a1", AI, HEALTH, "2024-01-01", 1000), // a second pilot of the same firm
        rep("a2", AI, HEALTH, "2024-01-01", 1000),
    ];
    let stats = aggregate(&reports, &public(), Bucket::Quarter);
    assert_eq!(stats.totals, None);
    assert!(stats.totals_suppressed);
    let ai = group(&stats.by_sector, AI);
    assert_eq!(ai.companies, 2);
    assert!(ai.suppressed);
    assert!(stats.series.is_empty());
    assert_eq!(stats.compute_consumed, 0);
}

#[test]
fn the_subtraction_attack_learns_nothing() {
    let reports = five_and_one();
    let total = aggregate(&reports, &public(), Bucket::Quarter);
    let only_ai = aggregate(&reports, &with_sectors(public(), &[AI]), Bucket::Quarter);
    let only_mob = aggregate(&reports, &with_sectors(public(), &[MOB]), Bucket::Quarter);
    let mut by_domain = public();
    by_domain.domains = vec![HEALTH.to_owned()];
    let only_health = aggregate(&reports, &by_domain, Bucket::Quarter);

    // Total minus sector A is zero: b1's cell never entered either number.
    assert_eq!(revenue(&total) - revenue(&only_ai), 0);
    assert_eq!(total.totals, only_ai.totals);
    assert_eq!(total.compute_consumed, only_ai.compute_consumed);
    assert_eq!(revenue(&total), 15_000);
    // Asking for sector B directly gives nothing either.
    assert_eq!(only_mob.totals, None);
    assert!(group(&only_mob.by_sector, MOB).suppressed);
    // The domain group has six companies but publishes only the five-company cell, so the
    // domain group minus the AI sector group is zero as well.
    let health = group(&total.by_domain, HEALTH);
    assert_eq!(health.companies, 6);
    assert!(!health.suppressed);
    let ai = group(&total.by_sector, AI);
    assert_eq!(health.figures, ai.figures);
    assert_eq!(only_health.totals, total.totals);
    assert_eq!(total.series, only_ai.series);

    // Why the rule exists: suppressing only groups under three companies publishes the
    // total (six companies) and sector A (five), and their difference is b1's revenue.
    let naive_total = naive_revenue(&reports, &[], &[]).unwrap();
    let naive_ai = naive_revenue(&reports, &[AI], &[]).unwrap();
    let naive_health = naive_revenue(&reports, &[], &[HEALTH]).unwrap();
    assert_eq!(naive_revenue(&reports, &[MOB], &[]), None); // B itself looks protected
    assert_eq!(naive_total - naive_ai, 7); // ...yet b1's revenue falls out
    assert_eq!(naive_health - naive_ai, 7); // ...even from one query's two groups
}

#[test]
fn the_subtraction_attack_fails_for_every_pair_of_public_queries() {
    // Every firm earns a multiple of 1000 except the victim (7), alone in its cell, so any
    // published number that is not a multiple of 1000 contains the victim's figures.
    let mut reports = Vec::new();
    for i in 1..=4 {
        reports.push(rep(&format!("a{i}"), AI, HEALTH, "2024-01-01", 1000 * i));
        reports.push(rep(&format!("a{i}"), AI, HEALTH, "2024-04-01", 2000 * i));
        reports.push(rep(&format!("a{i}"), AI, TRAFFIC, "2024-07-01", 3000 * i));
    }
    for i in 1..=3 {
        reports.push(rep(&format!("m{i}"), MOB, TRAFFIC, "2024-01-01", 5000 * i));
    }
    reports.push(rep("e1", ENERGY, HEALTH, "2024-04-01", 9000));
    reports.push(rep("e2", ENERGY, HEALTH, "2024-04-01", 11_000)); // a 2-company cell
    reports.push(rep("victim", MOB, HEALTH, "2024-01-01", 7));

    let sector_sets: Vec<Vec<&str>> = vec![
        vec![],
        vec![AI],
        vec![MOB],
        vec![ENERGY],
        vec![AI, MOB],
        vec![AI, ENERGY],
        vec![MOB, ENERGY],
        vec![AI, MOB, ENERGY],
    ];
    let domain_sets: Vec<Vec<&str>> = vec![vec![], vec![HEALTH], vec![TRAFFIC]];
    let dates = [
        None,
        Some("2024-01-01"),
        Some("2024-02-15"),
        Some("2024-03-31"),
        Some("2024-04-01"),
        Some("2024-05-20"),
        Some("2024-07-01"),
    ];
    let mut published = Vec::new();
    let mut queries = 0;
    for sectors in &sector_sets {
        for domains in &domain_sets {
            for from in dates {
                for to in dates {
                    let query = StatsQuery {
                        from: from.map(d),
                        to: to.map(d),
                        sectors: sectors.iter().map(|s| (*s).to_owned()).collect(),
                        domains: domains.iter().map(|s| (*s).to_owned()).collect(),
                        ..public()
                    };
                    for bucket in Bucket::ALL {
                        let stats = aggregate(&reports, &query, *bucket);
                        queries += 1;
                        published.push(revenue(&stats));
                        published.push(stats.compute_consumed);
                        for g in stats.by_sector.iter().chain(&stats.by_domain) {
                            published.extend(g.figures.map(|f| f.revenue_krw));
                        }
                        for (_, f, compute) in &stats.series {
                            published.push(f.revenue_krw);
                            published.push(*compute);
                        }
                        assert!(stats.by_company.is_empty());
                    }
                }
            }
        }
    }
    assert_eq!(queries, 8 * 3 * 7 * 7 * 3);
    // Every published number, and so every difference of two, is a sum of whole big cells.
    for a in &published {
        assert_eq!(a % 1000, 0, "a published figure contains the victim's: {a}");
    }

    // The naive rule over the same filters leaks: some two answers differ by exactly 7.
    let mut naive = Vec::new();
    for sectors in &sector_sets {
        for domains in &domain_sets {
            naive.extend(naive_revenue(&reports, sectors, domains));
        }
    }
    let leaked = naive.iter().any(|a| naive.iter().any(|b| a - b == 7));
    assert!(leaked);
}

#[test]
fn public_from_and_to_snap_outward_to_whole_quarters() {
    let reports: Vec<_> = (1..=3)
        .map(|i| rep(&format!("a{i}"), AI, HEALTH, "2024-04-01", 1000))
        .collect();
    let mid_q2 = StatsQuery {
        from: Some(d("2024-05-15")),
        to: Some(d("2024-05-16")),
        ..public()
    };
    assert_eq!(
        revenue(&aggregate(&reports, &mid_q2, Bucket::Quarter)),
        3000
    );
    // A manager's filter is taken literally.
    let literal = StatsQuery {
        public: false,
        ..mid_q2.clone()
    };
    assert_eq!(revenue(&aggregate(&reports, &literal, Bucket::Quarter)), 0);
    // to snaps to the quarter's end, from to its start.
    let to_q1 = StatsQuery {
        to: Some(d("2024-03-01")),
        ..public()
    };
    assert_eq!(revenue(&aggregate(&reports, &to_q1, Bucket::Quarter)), 0);
    let from_q3 = StatsQuery {
        from: Some(d("2024-07-01")),
        ..public()
    };
    assert_eq!(revenue(&aggregate(&reports, &from_q3, Bucket::Quarter)), 0);
}

#[test]
fn public_filters_never_split_a_cell_even_with_odd_period_starts() {
    // Valid periods start on a quarter's first day; should one not, the cell still holds.
    let reports = vec![
        rep("a1", AI, HEALTH, "2024-01-01", 1000),
        rep("a2", AI, HEALTH, "2024-01-01", 2000),
        rep("a3", AI, HEALTH, "2024-02-01", 4000),
    ];
    let from_feb = StatsQuery {
        from: Some(d("2024-02-01")),
        ..public()
    };
    // Without snapping this would publish a3 alone.
    assert_eq!(
        revenue(&aggregate(&reports, &from_feb, Bucket::Quarter)),
        7000
    );
    let months = aggregate(&reports, &public(), Bucket::Month);
    assert_eq!(months.series, vec![(d("2024-01-01"), figs(7000), 7000)]);
    // Managers see the months as filed.
    let months = aggregate(&reports, &manager(), Bucket::Month);
    assert_eq!(
        months.series,
        vec![
            (d("2024-01-01"), figs(3000), 3000),
            (d("2024-02-01"), figs(4000), 4000)
        ]
    );
}

#[test]
fn managers_see_everything() {
    let reports = five_and_one();
    let stats = aggregate(&reports, &manager(), Bucket::Quarter);
    assert_eq!(revenue(&stats), 15_007);
    assert!(!stats.totals_suppressed);
    let mob = group(&stats.by_sector, MOB);
    assert!(!mob.suppressed);
    assert_eq!(mob.figures, Some(figs(7)));
    assert_eq!(mob.companies, 1);
    let ids: Vec<_> = stats.by_company.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a4", "a5", "b1"]);
    assert_eq!(stats.by_company[5].1, figs(7));
    let only_mob = aggregate(&reports, &with_sectors(manager(), &[MOB]), Bucket::Quarter);
    assert_eq!(revenue(&only_mob), 7);
    assert_eq!(only_mob.by_company, vec![("b1".to_owned(), figs(7))]);
}

#[test]
fn a_company_set_narrows_reports_groups_and_the_drill_down() {
    let reports = five_and_one();
    let funded = |ids: &[&str]| StatsQuery {
        companies: Some(ids.iter().map(|id| (*id).to_owned()).collect()),
        ..manager()
    };
    let some = aggregate(&reports, &funded(&["a2", "b1"]), Bucket::Quarter);
    assert_eq!(revenue(&some), 2_007);
    let ids: Vec<_> = some.by_company.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a2", "b1"]);
    assert_eq!(group(&some.by_sector, AI).companies, 1);
    // An empty set is no company at all, not every company.
    let none = aggregate(&reports, &funded(&[]), Bucket::Quarter);
    assert_eq!(revenue(&none), 0);
    assert!(none.by_company.is_empty() && none.by_sector.is_empty());
}

#[test]
fn groups_are_sorted_and_count_companies_and_pilots() {
    let mut reports = five_and_one();
    reports.push(rep("a1", AI, ENERGY, "2024-01-01", 1));
    let mut second_pilot = rep("a1", AI, HEALTH, "2024-04-01", 1);
    second_pilot.pilot_id = "pilot-a1-other".to_owned();
    reports.push(second_pilot);
    let stats = aggregate(&reports, &manager(), Bucket::Quarter);
    let sectors: Vec<_> = stats.by_sector.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(sectors, [AI, MOB]);
    let domains: Vec<_> = stats.by_domain.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(domains, [ENERGY, HEALTH]);
    let health = group(&stats.by_domain, HEALTH);
    assert_eq!(health.companies, 6);
    assert_eq!(health.pilots, 7);
    assert_eq!(group(&stats.by_sector, AI).companies, 5);
}

#[test]
fn series_buckets_by_month_quarter_and_year() {
    let mut reports = Vec::new();
    for start in ["2023-10-01", "2024-01-01", "2024-04-01", "2024-07-01"] {
        for i in 1..=3 {
            reports.push(rep(&format!("a{i}"), AI, HEALTH, start, 100));
        }
    }
    reports.reverse(); // input order does not matter
    for query in [public(), manager()] {
        let quarters = aggregate(&reports, &query, Bucket::Quarter).series;
        let starts: Vec<_> = quarters.iter().map(|p| p.0).collect();
        assert_eq!(
            starts,
            [
                d("2023-10-01"),
                d("2024-01-01"),
                d("2024-04-01"),
                d("2024-07-01")
            ]
        );
        assert!(quarters.iter().all(|p| p.1 == figs(300) && p.2 == 300));
        let years = aggregate(&reports, &query, Bucket::Year).series;
        assert_eq!(
            years,
            vec![
                (d("2023-01-01"), figs(300), 300),
                (d("2024-01-01"), figs(900), 900)
            ]
        );
        let months = aggregate(&reports, &query, Bucket::Month).series;
        assert_eq!(months.len(), 4);
        assert_eq!(months[1].0, d("2024-01-01"));
    }
    assert_eq!(Bucket::Month.start(d("2024-02-29")), d("2024-02-01"));
    assert_eq!(Bucket::Quarter.start(d("2024-02-29")), d("2024-01-01"));
    assert_eq!(Bucket::Year.start(d("2024-02-29")), d("2024-01-01"));
}

#[test]
fn a_small_cell_elsewhere_in_time_is_suppressed_alone() {
    // The same five firms are published for Q1; b1 alone in Q2 is not, so Q1..Q2 minus Q1
    // is zero.
    let mut reports = five_and_one();
    reports.push(rep("b1", MOB, HEALTH, "2024-04-01", 70));
    let q1 = StatsQuery {
        to: Some(d("2024-03-31")),
        ..public()
    };
    let q1_q2 = StatsQuery {
        to: Some(d("2024-06-30")),
        ..public()
    };
    let a = aggregate(&reports, &q1, Bucket::Quarter);
    let b = aggregate(&reports, &q1_q2, Bucket::Quarter);
    assert_eq!(a.totals, b.totals);
    assert_eq!(a.compute_consumed, b.compute_consumed);
}

#[test]
fn min_companies_is_the_querys() {
    let reports = five_and_one();
    let strict = StatsQuery {
        min_companies: 6,
        ..public()
    };
    let stats = aggregate(&reports, &strict, Bucket::Quarter);
    assert_eq!(stats.totals, None);
    assert!(group(&stats.by_sector, AI).suppressed);
    let lax = StatsQuery {
        min_companies: 1,
        ..public()
    };
    assert_eq!(revenue(&aggregate(&reports, &lax, Bucket::Quarter)), 15_007);
    assert!(StatsQuery::default().public);
    assert_eq!(StatsQuery::default().min_companies, 3);
}

// --- vouchers in public figures ----------------------------------------------------------

fn cell(company: &str, sector: &str, quarter: &str, granted: i64) -> VoucherCell {
    VoucherCell {
        company_id: company.into(),
        sector: sector.into(),
        quarter_start: d(quarter),
        vouchers: 1,
        granted,
        consumed: granted / 2,
        overage: granted / 10,
    }
}

#[test]
fn voucher_cells_under_three_companies_stay_out_of_public_totals() {
    let rows = vec![
        cell("a", "AI", "2024-01-01", 100),
        cell("b", "AI", "2024-01-01", 200),
        cell("c", "AI", "2024-01-01", 300),
        cell("d", "ENERGY", "2024-01-01", 7_000),
        cell("e", "ENERGY", "2024-04-01", 9_000),
    ];
    let all = voucher_totals(&rows, &[], true, 3);
    assert_eq!(all.granted, 600);
    assert_eq!(all.vouchers, 3);
    assert_eq!(all.consumed, 50 + 100 + 150);
    assert_eq!(all.overage, 10 + 20 + 30);
    // Filtering to the lone firm's sector gives nothing away either.
    let energy = voucher_totals(&rows, &["ENERGY".into()], true, 3);
    assert_eq!(energy, VoucherTotals::default());
    let ai = voucher_totals(&rows, &["AI".into()], true, 3);
    assert_eq!(all.granted - ai.granted, 0);
    // Staff see everything.
    assert_eq!(voucher_totals(&rows, &[], false, 3).granted, 16_600);
    assert_eq!(
        voucher_totals(&rows, &["ENERGY".into()], false, 3).granted,
        16_000
    );
}

// --- due reports ---------------------------------------------------------------------

fn schedule(start: &str, end: &str) -> PilotSchedule {
    PilotSchedule {
        pilot_id: "p".into(),
        company_id: "c".into(),
        title: "t".into(),
        starts_on: d(start),
        ends_on: d(end),
    }
}

fn periods(due: &[DueReport]) -> Vec<(String, bool)> {
    due.iter()
        .map(|r| (format!("{}..{}", r.period_start, r.period_end), r.overdue))
        .collect()
}

#[test]
fn ended_quarters_without_reports_are_overdue_and_the_running_one_is_due() {
    let pilot = schedule("2024-02-15", "2025-06-30");
    let due = due_reports(&pilot, &[], d("2024-08-10"), PeriodKind::Quarter);
    assert_eq!(
        periods(&due),
        vec![
            ("2024-01-01..2024-03-31".into(), true),
            ("2024-04-01..2024-06-30".into(), true),
            ("2024-07-01..2024-09-30".into(), false),
        ]
    );
}

#[test]
fn filed_periods_are_not_due_and_a_year_report_covers_its_quarters() {
    let pilot = schedule("2024-01-01", "2025-12-31");
    let filed = [(d("2024-01-01"), d("2024-03-31"))];
    let due = due_reports(&pilot, &filed, d("2024-07-01"), PeriodKind::Quarter);
    assert_eq!(
        periods(&due),
        vec![
            ("2024-04-01..2024-06-30".into(), true),
            ("2024-07-01..2024-09-30".into(), false),
        ]
    );
    let year = [(d("2024-01-01"), d("2024-12-31"))];
    assert!(due_reports(&pilot, &year, d("2024-12-01"), PeriodKind::Quarter).is_empty());
}

#[test]
fn a_period_is_overdue_only_after_its_last_day() {
    let pilot = schedule("2024-01-01", "2024-12-31");
    let on_last_day = due_reports(&pilot, &[], d("2024-03-31"), PeriodKind::Quarter);
    assert_eq!(
        periods(&on_last_day),
        vec![("2024-01-01..2024-03-31".into(), false)]
    );
    let next_day = due_reports(&pilot, &[], d("2024-04-01"), PeriodKind::Quarter);
    assert_eq!(
        periods(&next_day)[0],
        ("2024-01-01..2024-03-31".into(), true)
    );
}

#[test]
fn nothing_is_due_before_a_pilot_starts_and_nothing_new_after_it_ends() {
    let pilot = schedule("2024-05-01", "2024-08-31");
    assert!(due_reports(&pilot, &[], d("2024-04-30"), PeriodKind::Quarter).is_empty());
    let after = due_reports(&pilot, &[], d("2025-03-01"), PeriodKind::Quarter);
    assert_eq!(
        periods(&after),
        vec![
            ("2024-04-01..2024-06-30".into(), true),
            ("2024-07-01..2024-09-30".into(), true),
        ]
    );
}

#[test]
fn a_report_is_submitted_only_once_its_period_has_ended() {
    let end = d("2027-03-31");
    assert!(submission_refusal(end, d("2027-04-01")).is_none());
    assert!(submission_refusal(end, d("2030-01-01")).is_none());
    for today in [d("2027-03-31"), d("2027-01-01"), d("2026-12-06")] {
        let refusal = submission_refusal(end, today).unwrap();
        assert!(refusal.contains("2027-04-01"), "{refusal}");
    }
}

#[test]
fn figures_are_bounded_before_they_reach_the_database() {
    let fine = Figures {
        papers: MAX_COUNT,
        revenue_krw: MAX_KRW,
        ..Figures::default()
    };
    assert!(fine.validate().is_ok());
    for (field, figures) in [
        (
            "papers",
            Figures {
                papers: i64::from(i32::MAX),
                ..Figures::default()
            },
        ),
        (
            "revenueKrw",
            Figures {
                revenue_krw: i64::MAX,
                ..Figures::default()
            },
        ),
        (
            "newHires",
            Figures {
                new_hires: MAX_COUNT + 1,
                ..Figures::default()
            },
        ),
    ] {
        let refused = figures.validate().unwrap_err();
        assert!(refused.to_string().contains(field), "{refused}");
    }
}
