//! The programme's figures (`GetProgramStats`), the reports pilots owe (`ListDueReports`) and
//! the pilot schedules behind them (events, `sync_pilots`), over real gRPC with real
//! onboarding, pilots and vouchers services behind them, on SQLite and Postgres.

use axv_platform::calendar::today_kst;
use std::time::{Duration, Instant};

use crate::support::{OutcomesStack, PilotSpec, Stage, act, create};
use axv_auth::Role;
use axv_onboarding::domain::Sector;
use axv_outcomes::{
    domain::{PilotSchedule, quarter_end, quarter_start},
    pilot_from_event,
};
use axv_platform::events::Event;
use axv_platform::{ErrorCode, audit::Actor};
use axv_proto::common::v1::{self as common_pb, PilotDomain};
use axv_proto::outcomes::v1::{self as pb, outcomes_service_client::OutcomesServiceClient};
use axv_proto::pilots::v1 as pilots_pb;
use axv_proto::vouchers::v1 as vouchers_pb;
use axv_testkit::{Firm, Stack, TestDb, assert_refused, authed, caller, on_both_backends};
use chrono::{Days, NaiveDate};
use tonic::{Code, Request, transport::Channel};

/// Figures scaled by `k`, so every company's contribution is recognisable in a sum.
fn input(pilot_id: &str, start: &str, end: &str, k: i64) -> pb::ReportInput {
    pb::ReportInput {
        pilot_id: pilot_id.into(),
        period_start: start.into(),
        period_end: end.into(),
        models_developed: k,
        models_improved: 0,
        models_commercialized: 0,
        patents_filed: k,
        patents_registered: 0,
        papers: k,
        new_hires: k,
        revenue_krw: k * 1_000_000,
        investment_krw: 0,
        evidence: "https://example.kr/evidence".into(),
    }
}

fn figures(k: i64) -> pb::Figures {
    pb::Figures {
        models_developed: k,
        models_improved: 0,
        models_commercialized: 0,
        revenue_krw: k * 1_000_000,
        patents_filed: k,
        patents_registered: 0,
        papers: k,
        new_hires: k,
        investment_krw: 0,
    }
}

/// `message` with `token` as its bearer, or anonymous when there is none.
fn maybe_authed<T>(message: T, token: Option<&str>) -> Request<T> {
    match token {
        Some(token) => authed(message, token),
        None => Request::new(message),
    }
}

async fn submit(client: &mut OutcomesServiceClient<Channel>, token: &str, id: &str) {
    act(client, token, id, pb::ReportAction::Submit, None)
        .await
        .unwrap();
}

async fn verify(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    id: &str,
) -> pb::OutcomeReport {
    act(client, token, id, pb::ReportAction::Verify, None)
        .await
        .unwrap()
}

/// Files a report and has it verified.
async fn verified(
    client: &mut OutcomesServiceClient<Channel>,
    firm: &Firm,
    manager: &str,
    input: pb::ReportInput,
) -> pb::OutcomeReport {
    let report = create(client, &firm.token, input).await.unwrap();
    submit(client, &firm.token, &report.id).await;
    verify(client, manager, &report.id).await
}

fn filter() -> pb::StatsFilter {
    pb::StatsFilter::default()
}

/// A sector's or domain's value by its name; an unknown name becomes a value no enum has.
fn value_of<E: Into<i32>>(name: &str, from_name: fn(&str) -> Option<E>) -> i32 {
    from_name(name).map_or(99, Into::into)
}

/// The group's sector or domain name.
fn key(group: &pb::GroupStats) -> &'static str {
    common_pb::Sector::name_of(group.sector)
        .or_else(|| PilotDomain::name_of(group.domain))
        .unwrap_or_default()
}

/// A filter on `sectors`, `domains` (by name) and the days `from`..=`to` (empty or `None`: no
/// bound).
fn filter_on(
    sectors: &[&str],
    domains: &[&str],
    from: Option<&str>,
    to: Option<&str>,
) -> pb::StatsFilter {
    pb::StatsFilter {
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        sectors: sectors
            .iter()
            .map(|s| value_of(s, common_pb::Sector::from_name))
            .collect(),
        domains: domains
            .iter()
            .map(|d| value_of(d, PilotDomain::from_name))
            .collect(),
        fundings: Vec::new(),
    }
}

async fn stats(
    client: &mut OutcomesServiceClient<Channel>,
    token: Option<&str>,
    filter: pb::StatsFilter,
) -> Result<pb::GetProgramStatsResponse, tonic::Status> {
    let message = pb::GetProgramStatsRequest {
        filter: Some(filter),
        ..Default::default()
    };
    client
        .get_program_stats(maybe_authed(message, token))
        .await
        .map(tonic::Response::into_inner)
}

/// Publishes the next release of the public figures as `manager`.
async fn publish(client: &mut OutcomesServiceClient<Channel>, manager: &str) -> pb::Release {
    client
        .publish_release(authed(
            pb::PublishReleaseRequest {
                note: "시험 공표".into(),
            },
            manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .release
        .unwrap()
}

/// The answer without the release it came from, to compare two releases' figures.
fn figures_of(mut answer: pb::GetProgramStatsResponse) -> pb::GetProgramStatsResponse {
    answer.release = None;
    answer
}

/// (companies, approved companies) in an answer.
fn companies(answer: &pb::GetProgramStatsResponse) -> (i64, i64) {
    (answer.companies, answer.approved_companies)
}

/// (pilots taken on, active pilots) in an answer.
fn pilots(answer: &pb::GetProgramStatsResponse) -> (i64, i64) {
    (answer.pilots, answer.active_pilots)
}

/// (vouchers issued, compute granted) in an answer.
fn grants(answer: &pb::GetProgramStatsResponse) -> (i64, i64) {
    (answer.vouchers_issued, answer.compute_granted)
}

/// (vouchers issued, compute granted, compute consumed) in an answer.
fn vouchers(answer: &pb::GetProgramStatsResponse) -> (i64, i64, i64) {
    (
        answer.vouchers_issued,
        answer.compute_granted,
        answer.compute_consumed,
    )
}

fn group(groups: &[pb::GroupStats], key: &str) -> pb::GroupStats {
    *groups
        .iter()
        .find(|g| self::key(g) == key)
        .unwrap_or_else(|| panic!("no group {key} in {groups:?}"))
}

fn series(periods: &[pb::PeriodStats]) -> Vec<(String, i64)> {
    periods
        .iter()
        .map(|p| (p.period_start.clone(), p.figures.as_ref().unwrap().papers))
        .collect()
}

const Q1: (&str, &str) = ("2026-01-01", "2026-03-31");
const Q2: (&str, &str) = ("2026-04-01", "2026-06-30");

/// Cells: (MOBILITY, AUTONOMOUS_DRIVING, 2026Q1) has firms A, B, C (k = 1, 2, 4);
/// (HEALTHCARE, HEALTHCARE, 2026Q1) has firm D alone (k = 8); (MOBILITY, AUTONOMOUS_DRIVING,
/// 2026Q2) has firm A alone (k = 32). Firm E (MOBILITY) files a report that stays SUBMITTED
/// (k = 16); firm F (HEALTHCARE) is registered but not approved.
async fn program_stats_suppress_small_cells(db: TestDb) {
    let h = Stack::start(db, &["outcomes"]).await;
    let a = h.firm(1).sector(Sector::Mobility).approved().await;
    let b = h.firm(2).sector(Sector::Mobility).approved().await;
    let c = h.firm(3).sector(Sector::Mobility).approved().await;
    let d = h.firm(4).sector(Sector::Healthcare).approved().await;
    let e = h.firm(5).sector(Sector::Mobility).approved().await;
    let _f = h.firm(6).sector(Sector::Healthcare).submitted().await;
    let driving = PilotSpec::standard(PilotDomain::AutonomousDriving);
    let health = PilotSpec::standard(PilotDomain::Healthcare);
    let pa = h.pilot(&a, &driving, Stage::Active).await;
    let pb_ = h.pilot(&b, &driving, Stage::Active).await;
    let pc = h.pilot(&c, &driving, Stage::Active).await;
    let pd = h.pilot(&d, &health, Stage::Active).await;
    let pe = h.pilot(&e, &driving, Stage::Active).await;
    // Taken on but not started: counted in `pilots`, not in `active_pilots`.
    h.pilot(&b, &driving, Stage::Approved).await;
    // Never submitted: not taken on.
    h.pilot(&c, &driving, Stage::Registered).await;
    let manager = h.token(Role::ProgramManager);
    let dashboard = h.token(Role::Dashboard);
    let mut client = h.client().await;

    // Before any report: nothing, nothing suppressed.
    let empty = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(empty.outcomes, Some(pb::Figures::default()));
    assert!(!empty.outcomes_suppressed);
    assert!(empty.by_sector.is_empty());
    assert!(empty.public);
    assert_eq!(
        empty.release, None,
        "no release yet: the public sees nothing"
    );

    for (firm, pilot, k) in [(&a, &pa, 1), (&b, &pb_, 2), (&c, &pc, 4), (&d, &pd, 8)] {
        verified(&mut client, firm, &manager, input(pilot, Q1.0, Q1.1, k)).await;
    }
    verified(&mut client, &a, &manager, input(&pa, Q2.0, Q2.1, 32)).await;
    let first = publish(&mut client, &manager).await;
    assert_eq!(first.number, 1);
    assert!(
        first.held_cells.is_empty(),
        "the first release holds nothing back"
    );
    // A DRAFT and a SUBMITTED report count nowhere.
    let e_report = create(&mut client, &e.token, input(&pe, Q1.0, Q1.1, 16))
        .await
        .unwrap();
    let before_submit = (
        stats(&mut client, Some(&manager), filter()).await.unwrap(),
        stats(&mut client, None, filter()).await.unwrap(),
    );
    submit(&mut client, &e.token, &e_report.id).await;
    // A verified report's DRAFT amendment does not change the figures either.
    let d_reports = client
        .list_reports(authed(
            pb::ListReportsRequest {
                filter: Some(pb::ReportFilter {
                    pilot_id: Some(pd.clone()),
                    company_id: None,
                    statuses: vec![],
                }),
                page_size: 10,
                page_token: String::new(),
            },
            &d.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .reports;
    let amendment = client
        .amend_report(authed(
            pb::AmendReportRequest {
                id: d_reports[0].id.clone(),
            },
            &d.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: amendment.id.clone(),
                input: Some(input("", Q1.0, Q1.1, 1000)),
            },
            &d.token,
        ))
        .await
        .unwrap();

    let second = publish(&mut client, &manager).await;
    assert_eq!(second.number, 2);
    assert!(second.held_cells.is_empty(), "nothing counted changed");

    // Programme managers: everything, per company, nothing suppressed.
    let full = stats(&mut client, Some(&manager), filter()).await.unwrap();
    assert_eq!(full.release, None, "staff get live figures");
    assert_eq!(
        before_submit.0, full,
        "a SUBMITTED report or a DRAFT amendment changed the figures"
    );
    assert!(!full.public);
    assert!(!full.outcomes_suppressed);
    assert_eq!(full.outcomes, Some(figures(1 + 2 + 4 + 8 + 32)));
    assert_eq!(full.companies, 6);
    assert_eq!(full.approved_companies, 5);
    assert_eq!(full.pilots, 6);
    assert_eq!(full.active_pilots, 5);
    let mut by_company: Vec<(String, i64)> = full
        .by_company
        .iter()
        .map(|c| (c.company_id.clone(), c.figures.as_ref().unwrap().papers))
        .collect();
    by_company.sort();
    let mut expected = vec![
        (a.company_id.clone(), 33),
        (b.company_id.clone(), 2),
        (c.company_id.clone(), 4),
        (d.company_id.clone(), 8),
    ];
    expected.sort();
    assert_eq!(by_company, expected);
    assert_eq!(
        full.by_sector.iter().map(key).collect::<Vec<_>>(),
        ["HEALTHCARE", "MOBILITY"]
    );
    let healthcare = group(&full.by_sector, "HEALTHCARE");
    assert!(!healthcare.suppressed);
    assert_eq!(healthcare.figures, Some(figures(8)));
    assert_eq!((healthcare.companies, healthcare.pilots), (1, 1));
    let mobility = group(&full.by_sector, "MOBILITY");
    assert_eq!(mobility.figures, Some(figures(39)));
    assert_eq!((mobility.companies, mobility.pilots), (3, 3));
    assert_eq!(
        group(&full.by_domain, "HEALTHCARE").figures,
        Some(figures(8))
    );
    assert_eq!(
        group(&full.by_domain, "AUTONOMOUS_DRIVING").figures,
        Some(figures(39))
    );
    assert_eq!(
        series(&full.by_quarter),
        [("2026-01-01".to_owned(), 15), ("2026-04-01".to_owned(), 32)]
    );
    assert_eq!(
        series(&full.by_month),
        [("2026-01-01".to_owned(), 15), ("2026-04-01".to_owned(), 32)]
    );
    assert_eq!(series(&full.by_year), [("2026-01-01".to_owned(), 47)]);

    // Dashboards and anonymous callers: the same public answer, the lone firms' cells out.
    let public = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(public.release.as_ref().map(|r| r.number), Some(2));
    assert_eq!(figures_of(before_submit.1), figures_of(public.clone()));
    assert_eq!(
        stats(&mut client, Some(&dashboard), filter())
            .await
            .unwrap(),
        public
    );
    // Firm members are not staff: they get the public answer too, even the lone firm.
    assert_eq!(
        stats(&mut client, Some(&d.token), filter()).await.unwrap(),
        public
    );
    assert!(public.public);
    assert!(public.outcomes_suppressed);
    assert_eq!(public.outcomes, Some(figures(1 + 2 + 4)));
    assert!(public.by_company.is_empty());
    let healthcare = group(&public.by_sector, "HEALTHCARE");
    assert!(healthcare.suppressed);
    assert_eq!(healthcare.figures, None);
    // Headcounts stay: they are not a firm's figures.
    assert_eq!((healthcare.companies, healthcare.pilots), (1, 1));
    let mobility = group(&public.by_sector, "MOBILITY");
    assert!(!mobility.suppressed);
    assert_eq!(mobility.figures, Some(figures(7)));
    let health_domain = group(&public.by_domain, "HEALTHCARE");
    assert!(health_domain.suppressed);
    assert_eq!(health_domain.figures, None);
    assert_eq!(
        group(&public.by_domain, "AUTONOMOUS_DRIVING").figures,
        Some(figures(7))
    );
    assert_eq!(series(&public.by_quarter), [("2026-01-01".to_owned(), 7)]);
    assert_eq!(series(&public.by_month), [("2026-01-01".to_owned(), 7)]);
    assert_eq!(series(&public.by_year), [("2026-01-01".to_owned(), 7)]);
    // Headcounts are not suppressed.
    assert_eq!((companies(&public), pilots(&public)), ((6, 5), (6, 5)));

    // The subtraction attack: no difference of two public answers gives a lone firm away.
    let public_with = |sectors: &[&str], domains: &[&str], from: Option<&str>, to: Option<&str>| {
        let mut client = client.clone();
        let filter = filter_on(sectors, domains, from, to);
        async move { stats(&mut client, None, filter).await.unwrap() }
    };
    let total = public.outcomes.unwrap();
    for (sectors, domains, from, to) in [
        (&["MOBILITY"][..], &[][..], None, None),
        (&[][..], &["AUTONOMOUS_DRIVING"][..], None, None),
        (&["MOBILITY", "HEALTHCARE"][..], &[][..], None, None),
        (&[][..], &[][..], None, Some(Q1.1)),
        (&[][..], &[][..], Some("2026-02-15"), None),
        (&[][..], &[][..], None, Some("2026-05-15")),
    ] {
        let answer = public_with(sectors, domains, from, to).await;
        assert_eq!(
            answer.outcomes.unwrap(),
            total,
            "{sectors:?} {domains:?} {from:?} {to:?}: the difference would reveal a lone firm"
        );
        assert!(answer.outcomes_suppressed);
    }
    // Asking for the lone firms' own cells gives zeros, flagged.
    for (sectors, domains, from, to) in [
        (&["HEALTHCARE"][..], &[][..], None, None),
        (&[][..], &["HEALTHCARE"][..], None, None),
        (&[][..], &[][..], Some(Q2.0), None),
        (
            &["MOBILITY"][..],
            &[][..],
            Some("2026-05-01"),
            Some("2026-06-30"),
        ),
    ] {
        let answer = public_with(sectors, domains, from, to).await;
        assert_eq!(
            answer.outcomes,
            Some(pb::Figures::default()),
            "{sectors:?} {domains:?} {from:?} {to:?}"
        );
        assert!(answer.outcomes_suppressed);
        assert!(answer.by_quarter.is_empty());
        assert!(answer.by_sector.iter().all(|g| g.suppressed));
    }
    // Staff filters are exact (not widened to quarters).
    let staff_with = |sectors: &[&str], from: Option<&str>, to: Option<&str>| {
        let mut client = client.clone();
        let manager = manager.clone();
        let filter = filter_on(sectors, &[], from, to);
        async move { stats(&mut client, Some(&manager), filter).await.unwrap() }
    };
    assert_eq!(
        staff_with(&[], Some("2026-02-15"), None).await.outcomes,
        Some(figures(32))
    );
    assert_eq!(
        staff_with(&[], None, Some(Q1.1)).await.outcomes,
        Some(figures(15))
    );
    let staff_health = staff_with(&["HEALTHCARE"], None, None).await;
    assert_eq!(staff_health.outcomes, Some(figures(8)));
    assert_eq!(companies(&staff_health), (2, 1));
    assert_eq!(pilots(&staff_health), (1, 1));
    let staff_mobility = staff_with(&["MOBILITY"], None, None).await;
    assert_eq!(companies(&staff_mobility), (4, 4));
    assert_eq!(pilots(&staff_mobility), (5, 4));
    let by_domain = stats(
        &mut client.clone(),
        Some(&manager),
        filter_on(&[], &["HEALTHCARE"], None, None),
    )
    .await
    .unwrap();
    assert_eq!(pilots(&by_domain), (1, 1));
    assert_eq!(by_domain.outcomes, Some(figures(8)));
    // Pilots whose period does not overlap the filter's are not counted.
    let before_pilots = staff_with(&[], None, Some("2025-12-31")).await;
    assert_eq!(pilots(&before_pilots), (0, 0));

    // Once firm E's report is verified it counts for staff at once; the public answer comes
    // from the release, and even the next release holds E back: the big cell would change by
    // one firm's figures, which the difference of two answers would give away.
    verify(&mut client, &manager, &e_report.id).await;
    let after = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(after.outcomes, Some(figures(1 + 2 + 4)));
    let third = publish(&mut client, &manager).await;
    assert_eq!(
        third.held_cells,
        [pb::HeldCell {
            figure: "OUTCOMES".into(),
            sector: common_pb::Sector::Mobility.into(),
            domain: Some(PilotDomain::AutonomousDriving.into()),
            quarter_start: Some(Q1.0.into()),
        }]
    );
    let after = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(after.outcomes, Some(figures(1 + 2 + 4)));
    assert_eq!(after.release.map(|r| r.held_cells.len()), Some(1));
    assert_eq!(
        stats(&mut client, Some(&manager), filter())
            .await
            .unwrap()
            .outcomes,
        Some(figures(1 + 2 + 4 + 8 + 16 + 32))
    );
    // Staff see the latest release as the public does, and preview the next one.
    let reader = client.clone();
    let viewed = |view: pb::StatsView, token: Option<&str>| {
        let mut client = reader.clone();
        let request = maybe_authed(
            pb::GetProgramStatsRequest {
                filter: Some(filter()),
                view: view.into(),
            },
            token,
        );
        async move {
            client
                .get_program_stats(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let released = viewed(pb::StatsView::Released, Some(&manager))
        .await
        .unwrap();
    assert_eq!(
        released,
        viewed(pb::StatsView::Released, None).await.unwrap()
    );
    let preview = viewed(pb::StatsView::Preview, Some(&manager))
        .await
        .unwrap();
    let next = preview.release.clone().unwrap();
    assert!(next.preview && next.number == 4 && next.held_cells.len() == 1);
    assert_eq!(figures_of(preview).outcomes, released.outcomes);
    // Everyone else: the release only, and no publishing.
    for token in [None, Some(dashboard.as_str()), Some(d.token.as_str())] {
        for view in [pb::StatsView::Live, pb::StatsView::Preview] {
            assert_refused(viewed(view, token).await, ErrorCode::Forbidden);
        }
        let refused = client
            .publish_release(maybe_authed(
                pb::PublishReleaseRequest { note: "x".into() },
                token,
            ))
            .await
            .unwrap_err();
        let expected = if token.is_none() {
            Code::Unauthenticated
        } else {
            Code::PermissionDenied
        };
        assert_eq!(refused.code(), expected, "{token:?}");
    }
    assert_refused(
        client
            .publish_release(authed(
                pb::PublishReleaseRequest { note: " ".into() },
                &manager,
            ))
            .await,
        ErrorCode::BadUserInput,
    );
    let listed = client
        .list_releases(Request::new(pb::ListReleasesRequest {
            page_size: 2,
            page_token: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_count, 3);
    assert_eq!(
        listed.releases.iter().map(|r| r.number).collect::<Vec<_>>(),
        [3, 2]
    );
    let rest = client
        .list_releases(Request::new(pb::ListReleasesRequest {
            page_size: 2,
            page_token: listed.next_page_token,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.releases.len(), 1);
    assert!(rest.next_page_token.is_empty());
    // The calendar: a manager's release on or after the quarter's release day counts as it.
    assert_eq!(
        h.outcomes().publish_due_calendar_release(1).await.unwrap(),
        None
    );

    // Bad filters: INVALID_ARGUMENT naming the field, for anyone.
    for (bad, field) in [
        (filter_on(&["SPACE"], &[], None, None), "sectors"),
        (filter_on(&["UNSPECIFIED"], &[], None, None), "sectors"),
        (filter_on(&[], &["FARMING"], None, None), "domains"),
        (filter_on(&[], &[], Some("2026-02-30"), None), "from"),
        (filter_on(&[], &[], None, Some("next week")), "to"),
        (
            filter_on(&[], &[], Some("2026-06-01"), Some("2026-01-01")),
            "to",
        ),
    ] {
        for token in [None, Some(manager.as_str())] {
            let error = assert_refused(
                stats(&mut client, token, bad.clone()).await,
                ErrorCode::BadUserInput,
            );
            assert!(
                error.message().starts_with(field),
                "{bad:?}: {}",
                error.message()
            );
        }
    }
    h.shutdown.cancel();
}

/// Voucher figures: per (sector, issue quarter) cell, with the lone firm's grants out of the
/// public answer.
async fn program_stats_voucher_figures(db: TestDb) {
    let h = Stack::start(db, &["outcomes"]).await;
    let driving = PilotSpec::standard(PilotDomain::AutonomousDriving);
    let mut firms = Vec::new();
    for (n, sector) in [
        (1, Sector::Mobility),
        (2, Sector::Mobility),
        (3, Sector::Mobility),
        (4, Sector::Healthcare),
    ] {
        let firm = h.firm(n).sector(sector).approved().await;
        let pilot = h.pilot(&firm, &driving, Stage::Active).await;
        firms.push((firm, pilot));
    }
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;
    let none = stats(&mut client, Some(&manager), filter()).await.unwrap();
    assert_eq!(vouchers(&none), (0, 0, 0));
    // The calendar: the release for the quarter that ended is due (on its first day after),
    // published once, however many times (or replicas) ask.
    let calendar = h.outcomes().publish_due_calendar_release(1).await.unwrap();
    let calendar = calendar.expect("the last quarter's calendar release was due");
    assert_eq!(calendar.number, 1);
    assert!(calendar.schedule_key.is_some() && calendar.note.contains("정기 공표"));
    assert_eq!(
        h.outcomes().publish_due_calendar_release(1).await.unwrap(),
        None
    );
    let public = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(
        public.release.map(|r| (r.number, r.scheduled)),
        Some((1, true))
    );

    let mut codes = Vec::new();
    for ((firm, pilot), amount) in firms.iter().zip([100, 200, 400, 800]) {
        codes.push(h.pilot_voucher(&firm.company_id, pilot, amount).await);
    }
    // A second voucher for firm 1 in the same cell.
    codes.push(
        h.pilot_voucher(&firms[0].0.company_id, &firms[0].1, 50)
            .await,
    );
    h.record_usage(&codes[0], "job-1", 30).await;
    h.record_usage(&codes[3], "job-2", 70).await;

    let full = stats(&mut client, Some(&manager), filter()).await.unwrap();
    assert_eq!(vouchers(&full), (5, 1550, 100));
    publish(&mut client, &manager).await;
    // The public answer: the HEALTHCARE cell has one firm and stays out.
    let public = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(vouchers(&public), (4, 750, 30));
    let dashboard = stats(&mut client, Some(&h.token(Role::Dashboard)), filter())
        .await
        .unwrap();
    assert_eq!(vouchers(&dashboard), (4, 750, 30));
    let sector = |sector| filter_on(&[sector], &[], None, None);
    let public_health = stats(&mut client, None, sector("HEALTHCARE"))
        .await
        .unwrap();
    assert_eq!(grants(&public_health), (0, 0));
    let public_mobility = stats(&mut client, None, sector("MOBILITY")).await.unwrap();
    assert_eq!(grants(&public_mobility), (4, 750));
    let staff_health = stats(&mut client, Some(&manager), sector("HEALTHCARE"))
        .await
        .unwrap();
    assert_eq!(vouchers(&staff_health), (1, 800, 70));
    // Domains do not narrow vouchers.
    let domain = stats(
        &mut client,
        Some(&manager),
        filter_on(&[], &["HEALTHCARE"], None, None),
    )
    .await
    .unwrap();
    assert_eq!(domain.vouchers_issued, 5);
    // Issued now: nothing in a window that ended before today, everything in one around today.
    let today = today_kst();
    let window = |from: NaiveDate, to: NaiveDate| pb::StatsFilter {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        ..filter()
    };
    let earlier = quarter_start(today) - Days::new(1);
    let past = stats(
        &mut client,
        Some(&manager),
        window(quarter_start(earlier), earlier),
    )
    .await
    .unwrap();
    assert_eq!(grants(&past), (0, 0));
    let around = window(today - Days::new(1), today + Days::new(1));
    let current = stats(&mut client, Some(&manager), around.clone())
        .await
        .unwrap();
    assert_eq!(grants(&current), (5, 1550));
    let current = stats(&mut client, None, around).await.unwrap();
    assert_eq!(grants(&current), (4, 750));

    // Funding sources (staff, live): the harness's pools are national money, so every firm
    // holding one of their vouchers counts, with its pilot; city money supported nobody.
    let funded = |fundings: Vec<vouchers_pb::FundingSource>| pb::StatsFilter {
        fundings: fundings.into_iter().map(i32::from).collect(),
        ..filter()
    };
    let national = stats(
        &mut client,
        Some(&manager),
        funded(vec![vouchers_pb::FundingSource::National]),
    )
    .await
    .unwrap();
    assert_eq!(vouchers(&national), (5, 1550, 100));
    assert_eq!(
        (
            national.companies,
            national.approved_companies,
            national.pilots
        ),
        (4, 4, 4)
    );
    let city = stats(
        &mut client,
        Some(&manager),
        funded(vec![vouchers_pb::FundingSource::City]),
    )
    .await
    .unwrap();
    assert_eq!(vouchers(&city), (0, 0, 0));
    assert_eq!((city.companies, city.pilots), (0, 0));
    // A sector narrows the funded companies further.
    let health = stats(
        &mut client,
        Some(&manager),
        pb::StatsFilter {
            sectors: vec![common_pb::Sector::Healthcare.into()],
            ..funded(vec![vouchers_pb::FundingSource::National])
        },
    )
    .await
    .unwrap();
    assert_eq!((health.companies, health.pilots), (1, 1));
    // Releases do not record funding: the public and previews cannot be narrowed by it.
    let refused = stats(
        &mut client,
        None,
        funded(vec![vouchers_pb::FundingSource::National]),
    )
    .await;
    assert!(
        assert_refused(refused, ErrorCode::BadUserInput)
            .message()
            .contains("fundingSources")
    );
    let unknown = stats(
        &mut client,
        Some(&manager),
        funded(vec![vouchers_pb::FundingSource::Unspecified]),
    )
    .await;
    assert_refused(unknown, ErrorCode::BadUserInput);
    h.shutdown.cancel();
}

async fn due(
    client: &mut OutcomesServiceClient<Channel>,
    token: Option<&str>,
    overdue_only: bool,
) -> Result<Vec<pb::DueReport>, tonic::Status> {
    let message = pb::ListDueReportsRequest { overdue_only };
    client
        .list_due_reports(maybe_authed(message, token))
        .await
        .map(|r| r.into_inner().reports)
}

/// (pilot, period start, period end, overdue) of a due report.
type Row = (String, String, String, bool);

/// The row of each due report, in the order given.
fn rows(reports: &[pb::DueReport]) -> Vec<Row> {
    reports
        .iter()
        .map(|r| {
            (
                r.pilot_id.clone(),
                r.period_start.clone(),
                r.period_end.clone(),
                r.overdue,
            )
        })
        .collect()
}

fn row(pilot: &str, start: NaiveDate, overdue: bool) -> Row {
    (
        pilot.to_owned(),
        start.to_string(),
        quarter_end(start).to_string(),
        overdue,
    )
}

/// A DRAFT report (k = 1) on `pilot` for the quarter starting `start`.
async fn quarter_report(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    pilot: &str,
    start: NaiveDate,
) -> pb::OutcomeReport {
    let period = (start.to_string(), quarter_end(start).to_string());
    create(client, token, input(pilot, &period.0, &period.1, 1))
        .await
        .unwrap()
}

/// The rows of the reports due to `token`'s caller.
async fn due_rows(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    overdue_only: bool,
) -> Vec<Row> {
    rows(&due(client, Some(token), overdue_only).await.unwrap())
}

/// Polls the manager's due reports until `done` holds; the schedule arrives through an
/// asynchronous event, so this waits for the listener (at most 5 s), it does not time anything.
async fn due_until(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    done: impl Fn(&[pb::DueReport]) -> bool,
) -> Vec<pb::DueReport> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reports = due(client, Some(token), false).await.unwrap();
        if done(&reports) {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "the pilot listener did not catch up: {:?}",
            rows(&reports)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn due_reports_follow_pilot_events(db: TestDb) {
    let h = Stack::start(db, &["outcomes"]).await;
    let a = h.firm(1).sector(Sector::Mobility).approved().await;
    let b = h.firm(2).sector(Sector::Healthcare).approved().await;
    let today = today_kst();
    let q0 = quarter_start(today);
    let q1 = quarter_start(q0 - Days::new(1));
    let q2 = quarter_start(q1 - Days::new(1));
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;
    assert!(due_rows(&mut client, &manager, false).await.is_empty());

    // A pilot that began mid-quarter two quarters ago, one that begins this quarter, and one
    // approved but not started.
    let running_from = |title, domain, starts_on| PilotSpec {
        title,
        domain,
        starts_on,
        ends_on: today + Days::new(400),
    };
    let old_spec = running_from(
        "오래된 실증",
        PilotDomain::AutonomousDriving,
        q2 + Days::new(10),
    );
    let new_spec = running_from("새 실증", PilotDomain::Healthcare, q0);
    let old = h.pilot(&a, &old_spec, Stage::Active).await;
    let new = h.pilot(&b, &new_spec, Stage::Active).await;
    let approved = h
        .pilot(
            &a,
            &PilotSpec::standard(PilotDomain::Energy),
            Stage::Approved,
        )
        .await;

    let expected = vec![
        row(&old, q2, true),
        row(&old, q1, true),
        row(&old, q0, false),
        row(&new, q0, false),
    ];
    let all = due_until(&mut client, &manager, |r| rows(r) == expected).await;
    assert!(all.iter().all(|r| r.pilot_id != approved));
    let first = &all[0];
    assert_eq!(first.company_id, a.company_id);
    assert_eq!(first.pilot_title, "오래된 실증");
    assert_eq!(all[3].company_id, b.company_id);
    assert_eq!(all[3].pilot_title, "새 실증");
    // Admins are staff too.
    assert_eq!(
        due_rows(&mut client, &h.token(Role::Admin), false).await,
        expected
    );

    // overdue_only.
    assert_eq!(due_rows(&mut client, &manager, true).await, expected[..2]);

    // Firm members see their own companies' pilots only.
    assert_eq!(due_rows(&mut client, &a.token, false).await, expected[..3]);
    assert_eq!(due_rows(&mut client, &b.token, false).await, expected[3..]);
    assert!(due_rows(&mut client, &b.token, true).await.is_empty());

    // Who may not ask.
    for role in [Role::Dashboard, Role::Operator] {
        assert_refused(
            due(&mut client, Some(&h.token(role)), false).await,
            ErrorCode::Forbidden,
        );
    }
    assert_refused(
        due(&mut client, None, false).await,
        ErrorCode::Unauthenticated,
    );

    // A DRAFT is not filed; submitting it is.
    let report = quarter_report(&mut client, &a.token, &old, q2).await;
    assert_eq!(due_rows(&mut client, &a.token, true).await, expected[..2]);
    submit(&mut client, &a.token, &report.id).await;
    assert_eq!(due_rows(&mut client, &a.token, false).await, expected[1..3]);
    assert_eq!(due_rows(&mut client, &manager, true).await, expected[1..2]);
    // The running quarter's report can be drafted but not filed before the quarter ends, so
    // it stays due.
    let running = quarter_report(&mut client, &b.token, &new, q0).await;
    assert_refused(
        act(
            &mut client,
            &b.token,
            &running.id,
            pb::ReportAction::Submit,
            None,
        )
        .await,
        ErrorCode::FailedPrecondition,
    );
    assert_eq!(due_rows(&mut client, &b.token, false).await, expected[3..]);

    // A pilot that stops being ACTIVE owes nothing here any more (its event updates the
    // schedule).
    h.move_pilot(&old, pilots_pb::PilotAction::Complete, &manager)
        .await;
    due_until(&mut client, &manager, |r| rows(r) == expected[3..]).await;

    // The schedules lost (e.g. a fresh database) come back from the pilots service.
    h.move_pilot(&approved, pilots_pb::PilotAction::Start, &a.token)
        .await;
    due_until(&mut client, &manager, |r| {
        r.iter().any(|d| d.pilot_id == approved)
    })
    .await;
    let pool = h.outcomes().store().database().pool();
    sqlx::query("DELETE FROM pilot_schedules")
        .execute(pool)
        .await
        .unwrap();
    assert!(due_rows(&mut client, &manager, false).await.is_empty());
    assert_eq!(h.outcomes().sync_pilots().await.unwrap(), 3);
    let restored = due(&mut client, Some(&manager), false).await.unwrap();
    assert!(restored.iter().any(|d| d.pilot_id == approved));
    assert!(
        restored
            .iter()
            .all(|d| d.pilot_id == approved || d.pilot_id == new)
    );
    h.shutdown.cancel();
}

/// With no listener running, `sync_pilots` records every pilot as the pilots service has it.
async fn sync_pilots_backfills_schedules(db: TestDb) {
    // Onboarding and pilots serve; outcomes is only built, so no listener runs.
    let h = Stack::start(db, &["vouchers"]).await;
    let outcomes = axv_outcomes::build(&h.platform, &h.url("onboarding"), &h.url("pilots"))
        .await
        .unwrap();
    let a = h.firm(1).sector(Sector::Mobility).approved().await;
    let b = h.firm(2).sector(Sector::Energy).approved().await;
    let store = outcomes.service.store();
    let spec = PilotSpec {
        title: "백필 실증",
        domain: PilotDomain::Energy,
        starts_on: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        ends_on: NaiveDate::from_ymd_opt(2027, 1, 31).unwrap(),
    };
    let active = h.pilot(&a, &spec, Stage::Active).await;
    let approved = h.pilot(&b, &spec, Stage::Approved).await;
    let registered = h.pilot(&b, &spec, Stage::Registered).await;
    // Nothing listens: nothing recorded.
    assert!(
        store
            .pilots_in_status("ACTIVE", None)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(outcomes.service.sync_pilots().await.unwrap(), 3);
    assert_eq!(
        store.pilots_in_status("ACTIVE", None).await.unwrap(),
        [PilotSchedule {
            pilot_id: active.clone(),
            company_id: a.company_id.clone(),
            title: "백필 실증".into(),
            starts_on: spec.starts_on,
            ends_on: spec.ends_on,
        }]
    );
    let ids =
        |pilots: Vec<PilotSchedule>| pilots.into_iter().map(|p| p.pilot_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.pilots_in_status("APPROVED", None).await.unwrap()),
        std::slice::from_ref(&approved)
    );
    assert_eq!(
        ids(store.pilots_in_status("DRAFT", None).await.unwrap()),
        [registered]
    );
    assert_eq!(
        ids(store
            .pilots_in_status("ACTIVE", Some(std::slice::from_ref(&b.company_id)))
            .await
            .unwrap()),
        Vec::<String>::new()
    );

    // A second sync picks up a move made since; running it again is harmless.
    h.move_pilot(&approved, pilots_pb::PilotAction::Start, &b.token)
        .await;
    assert_eq!(outcomes.service.sync_pilots().await.unwrap(), 3);
    assert_eq!(outcomes.service.sync_pilots().await.unwrap(), 3);
    assert_eq!(
        ids(store.pilots_in_status("ACTIVE", None).await.unwrap()),
        {
            let mut both = vec![active, approved];
            both.sort();
            both
        }
    );
    // Due reports read what the sync recorded (no server needed to ask the service).
    let manager = caller("manager", Role::ProgramManager);
    let owed = outcomes
        .service
        .due_reports(Some(&manager), false)
        .await
        .unwrap();
    assert!(!owed.is_empty());

    // Pilots made ACTIVE directly in the pilots store, more than one page of them.
    let lead = axv_pilots::store::CompanySnapshot {
        id: a.company_id.clone(),
        name_ko: "성과기업1".into(),
        sector: "MOBILITY".into(),
        presence: "HEADQUARTERS".into(),
    };
    let mut direct = Vec::new();
    for n in 0..101 {
        let draft = axv_pilots::domain::PilotDraft {
            title: format!("직접 실증 {n}"),
            title_en: None,
            summary: String::new(),
            domain: axv_pilots::domain::PilotDomain::Traffic,
            site: "광주".into(),
            starts_on: spec.starts_on,
            ends_on: spec.ends_on,
            budget_national: 0,
            budget_city: 0,
            budget_private: 0,
            regulatory_sandbox: false,
            sandbox_reference: None,
        };
        let pilot = h
            .pilots()
            .store()
            .create(&draft, &lead, &Actor::account("firm", Role::FirmMember))
            .await
            .unwrap();
        for action in [
            axv_pilots::domain::PilotAction::Submit,
            axv_pilots::domain::PilotAction::Approve,
            axv_pilots::domain::PilotAction::Start,
        ] {
            h.pilots()
                .store()
                .transition(
                    &pilot.id,
                    action,
                    &Actor::account("manager", Role::ProgramManager),
                    |_| Ok(None),
                )
                .await
                .unwrap();
        }
        direct.push(pilot.id);
    }
    assert_eq!(outcomes.service.sync_pilots().await.unwrap(), 104);
    let recorded = ids(store
        .pilots_in_status("ACTIVE", Some(std::slice::from_ref(&a.company_id)))
        .await
        .unwrap());
    assert_eq!(recorded.len(), 102);
    assert!(direct.iter().all(|id| recorded.contains(id)));
    h.shutdown.cancel();
}

on_both_backends!(
    program_stats => program_stats_suppress_small_cells,
    voucher_figures => program_stats_voucher_figures,
    due_reports => due_reports_follow_pilot_events,
    sync_pilots => sync_pilots_backfills_schedules,
);

// --- pilot_from_event ------------------------------------------------------------------------

fn pilot_event(kind: &str, payload: serde_json::Value) -> Event {
    Event::new("pilots", kind, "pilot-1").with_payload(payload)
}

fn payload(from: Option<&str>, to: &str) -> serde_json::Value {
    serde_json::json!({
        "from": from,
        "to": to,
        "domain": "ENERGY",
        "leadCompanyId": "company-1",
        "sector": "MOBILITY",
        "startsOn": "2026-03-01",
        "endsOn": "2026-12-31",
        "title": "에너지 실증",
    })
}

/// `payload` with `key` left out.
fn without(mut payload: serde_json::Value, key: &str) -> serde_json::Value {
    payload.as_object_mut().unwrap().remove(key);
    payload
}

fn expected_schedule() -> PilotSchedule {
    PilotSchedule {
        pilot_id: "pilot-1".into(),
        company_id: "company-1".into(),
        title: "에너지 실증".into(),
        starts_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        ends_on: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    }
}

#[test]
fn a_registered_event_gives_a_draft_schedule() {
    let event = pilot_event("pilot.registered", payload(None, "DRAFT"));
    assert_eq!(
        pilot_from_event(&event),
        Some((expected_schedule(), "DRAFT".to_owned()))
    );
    // An older pilots service's registered event without "to" is still a DRAFT.
    let older = without(payload(None, "DRAFT"), "to");
    assert_eq!(
        pilot_from_event(&pilot_event("pilot.registered", older)),
        Some((expected_schedule(), "DRAFT".to_owned()))
    );
}

#[test]
fn a_transition_event_gives_the_new_status() {
    for (kind, from, to) in [
        ("pilot.started", "APPROVED", "ACTIVE"),
        ("pilot.completed", "ACTIVE", "COMPLETED"),
        ("pilot.suspended", "ACTIVE", "SUSPENDED"),
    ] {
        assert_eq!(
            pilot_from_event(&pilot_event(kind, payload(Some(from), to))),
            Some((expected_schedule(), to.to_owned())),
            "{kind}"
        );
    }
    // The title is optional.
    let untitled = without(payload(Some("APPROVED"), "ACTIVE"), "title");
    let (schedule, _) = pilot_from_event(&pilot_event("pilot.started", untitled)).unwrap();
    assert_eq!(schedule.title, "");
}

#[test]
fn other_events_are_not_about_pilots() {
    for kind in [
        "company.approved",
        "report.submitted",
        "pilots",
        "voucher.issued",
    ] {
        assert_eq!(
            pilot_from_event(&pilot_event(kind, payload(Some("APPROVED"), "ACTIVE"))),
            None,
            "{kind}"
        );
    }
}

#[test]
fn events_missing_the_schedule_are_skipped() {
    for key in ["leadCompanyId", "startsOn", "endsOn"] {
        let partial = without(payload(Some("APPROVED"), "ACTIVE"), key);
        assert_eq!(
            pilot_from_event(&pilot_event("pilot.started", partial)),
            None,
            "{key}"
        );
    }
    // A transition without "to" says no status.
    let no_status = without(payload(Some("APPROVED"), "ACTIVE"), "to");
    assert_eq!(
        pilot_from_event(&pilot_event("pilot.started", no_status)),
        None
    );
    // Unparseable dates and a null payload.
    let mut bad_date = payload(Some("APPROVED"), "ACTIVE");
    bad_date["startsOn"] = serde_json::json!("03/01/2026");
    assert_eq!(
        pilot_from_event(&pilot_event("pilot.started", bad_date)),
        None
    );
    assert_eq!(
        pilot_from_event(&pilot_event("pilot.started", serde_json::Value::Null)),
        None
    );
}
