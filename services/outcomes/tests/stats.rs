//! The programme's figures (`GetProgramStats`), the reports pilots owe (`ListDueReports`) and
//! the pilot schedules behind them (events, `sync_pilots`), over real gRPC with real
//! onboarding, pilots and vouchers services behind them, on SQLite and Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axv_auth::{Caller, Role};
use axv_onboarding::domain::{CompanyAction, CompanyInput, GwangjuPresence, Sector};
use axv_outcomes::{
    domain::{PilotSchedule, quarter_end, quarter_start},
    pilot_from_event,
    stats::today,
};
use axv_platform::{
    config::Platform,
    events::Event,
    grpc::RunningServer,
    on_both_backends,
    shutdown::CancellationToken,
    testing::{TestDb, platform},
};
use axv_proto::outcomes::v1::{self as pb, outcomes_service_client::OutcomesServiceClient};
use axv_proto::pilots::v1::{self as pilots_pb, pilots_service_client::PilotsServiceClient};
use axv_proto::vouchers::v1::{
    self as vouchers_pb, vouchers_service_client::VouchersServiceClient,
};
use chrono::{Days, NaiveDate};
use tonic::{Code, Request, transport::Channel};

struct Harness {
    platform: Platform,
    onboarding: axv_onboarding::service::Onboarding,
    pilots: RunningServer,
    pilot_store: axv_pilots::store::Store,
    vouchers: RunningServer,
    voucher_store: axv_vouchers::store::Store,
    /// `None` when the outcomes app was built but not started (no server, no listener).
    outcomes: Option<RunningServer>,
    service: axv_outcomes::service::Outcomes,
    shutdown: CancellationToken,
    _db: TestDb,
}

fn caller(id: &str, role: Role) -> Caller {
    Caller {
        subject: id.into(),
        role,
        company_ids: vec![],
        token_id: String::new(),
        expires_at: 0,
        issuer: "t".into(),
        raw_token: Arc::from(""),
    }
}

fn business_number(seed: u32) -> String {
    const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let body = format!("{:09}", 300_000_000 + seed);
    let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    sum += (digits[8] * 5) / 10;
    format!("{body}{}", (10 - sum % 10) % 10)
}

struct Firm {
    token: String,
    company_id: String,
}

async fn connect(server: &RunningServer) -> Channel {
    Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    axv_auth::attach_bearer(&mut request, token).unwrap();
    request
}

/// What a pilot is registered with.
struct PilotSpec<'a> {
    title: &'a str,
    domain: pilots_pb::PilotDomain,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
}

impl PilotSpec<'_> {
    fn standard(domain: pilots_pb::PilotDomain) -> Self {
        PilotSpec {
            title: "실증 과제",
            domain,
            starts_on: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            ends_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Registered,
    Approved,
    Active,
}

impl Harness {
    async fn start(db: TestDb) -> Self {
        Self::start_with(db, true).await
    }

    async fn start_with(db: TestDb, start_outcomes: bool) -> Self {
        let platform = platform(db.config.clone());
        let shutdown = CancellationToken::new();
        let app = axv_onboarding::build(&platform).await.unwrap();
        let onboarding = app.service.clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let onboarding_server = axv_platform::grpc::spawn(
            listener,
            app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        let pilots_app = axv_pilots::build(&platform, &onboarding_server.url())
            .await
            .unwrap();
        let pilot_store = pilots_app.service.store().clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let pilots = axv_platform::grpc::spawn(
            listener,
            pilots_app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        let vouchers_app = axv_vouchers::build(&platform, &onboarding_server.url(), &pilots.url())
            .await
            .unwrap();
        let voucher_store = vouchers_app.service.store().clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let vouchers = axv_platform::grpc::spawn(
            listener,
            vouchers_app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        let outcomes_app = axv_outcomes::build(&platform, &onboarding_server.url(), &pilots.url())
            .await
            .unwrap()
            .with_vouchers(&vouchers.url())
            .unwrap();
        let service = outcomes_app.service.clone();
        let outcomes = if start_outcomes {
            let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
            Some(
                axv_platform::grpc::spawn(
                    listener,
                    outcomes_app.start(&platform, shutdown.clone()),
                    platform.verifier.clone(),
                    shutdown.clone(),
                )
                .unwrap(),
            )
        } else {
            None
        };
        Self {
            platform,
            onboarding,
            pilots,
            pilot_store,
            vouchers,
            voucher_store,
            outcomes,
            service,
            shutdown,
            _db: db,
        }
    }

    async fn client(&self) -> OutcomesServiceClient<Channel> {
        OutcomesServiceClient::new(connect(self.outcomes.as_ref().unwrap()).await)
    }

    fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    /// A firm member and its company in `sector`, APPROVED when `approve`, else only SUBMITTED.
    async fn firm(&self, n: u32, sector: Sector, approve: bool) -> Firm {
        let session = self
            .onboarding
            .sign_up(
                &format!("firm{n}@stats.kr"),
                "correct horse battery",
                "firm",
            )
            .await
            .unwrap();
        let firm = caller(&session.user.id, Role::FirmMember);
        let manager = caller("manager", Role::ProgramManager);
        let company = self
            .onboarding
            .create_company(
                Some(&firm),
                CompanyInput {
                    business_number: business_number(n),
                    name_ko: format!("통계기업{n}"),
                    name_en: None,
                    sector: Some(sector),
                    presence: Some(GwangjuPresence::Headquarters),
                    employees: Some(5),
                    founded_on: None,
                    contact_email: "a@b.kr".into(),
                },
            )
            .await
            .unwrap();
        let id = company.company.id;
        self.onboarding
            .transition(Some(&firm), &id, CompanyAction::Submit, None)
            .await
            .unwrap();
        if approve {
            self.onboarding
                .transition(Some(&manager), &id, CompanyAction::StartReview, None)
                .await
                .unwrap();
            self.onboarding
                .transition(Some(&manager), &id, CompanyAction::Approve, None)
                .await
                .unwrap();
        }
        Firm {
            token: session.access.token,
            company_id: id,
        }
    }

    async fn pilots_client(&self) -> PilotsServiceClient<Channel> {
        PilotsServiceClient::new(connect(&self.pilots).await)
    }

    /// A pilot `lead` leads, moved as far as `stage`.
    async fn pilot(&self, lead: &Firm, spec: &PilotSpec<'_>, stage: Stage) -> String {
        let mut client = self.pilots_client().await;
        let manager = self.token(Role::ProgramManager);
        let pilot = client
            .register_pilot(authed(
                pilots_pb::RegisterPilotRequest {
                    input: Some(pilots_pb::PilotInput {
                        title: spec.title.into(),
                        title_en: None,
                        summary: "실증".into(),
                        domain: spec.domain.into(),
                        lead_company_id: lead.company_id.clone(),
                        site: "광주 첨단3지구".into(),
                        starts_on: spec.starts_on.to_string(),
                        ends_on: spec.ends_on.to_string(),
                        budget_national: 1,
                        budget_city: 1,
                        budget_private: 1,
                        regulatory_sandbox: false,
                        sandbox_reference: None,
                    }),
                },
                &lead.token,
            ))
            .await
            .unwrap()
            .into_inner()
            .pilot
            .unwrap();
        let mut moves = Vec::new();
        if stage >= Stage::Approved {
            moves.push((pilots_pb::PilotAction::Submit, lead.token.clone()));
            moves.push((pilots_pb::PilotAction::Approve, manager));
        }
        if stage >= Stage::Active {
            moves.push((pilots_pb::PilotAction::Start, lead.token.clone()));
        }
        for (action, token) in moves {
            self.move_pilot(&pilot.id, action, &token).await;
        }
        pilot.id
    }

    async fn move_pilot(&self, id: &str, action: pilots_pb::PilotAction, token: &str) {
        self.pilots_client()
            .await
            .transition_pilot(authed(
                pilots_pb::TransitionPilotRequest {
                    id: id.into(),
                    action: action.into(),
                    note: None,
                },
                token,
            ))
            .await
            .unwrap();
    }
}

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

async fn create(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    input: pb::ReportInput,
) -> pb::OutcomeReport {
    client
        .create_report(authed(
            pb::CreateReportRequest { input: Some(input) },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap()
}

async fn act(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    id: &str,
    action: pb::ReportAction,
) -> pb::OutcomeReport {
    client
        .transition_report(authed(
            pb::TransitionReportRequest {
                id: id.into(),
                action: action.into(),
                note: None,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap()
}

/// Files a report and has it verified.
async fn verified(
    client: &mut OutcomesServiceClient<Channel>,
    firm: &Firm,
    manager: &str,
    input: pb::ReportInput,
) -> pb::OutcomeReport {
    let report = create(client, &firm.token, input).await;
    act(client, &firm.token, &report.id, pb::ReportAction::Submit).await;
    act(client, manager, &report.id, pb::ReportAction::Verify).await
}

fn filter() -> pb::StatsFilter {
    pb::StatsFilter::default()
}

async fn stats(
    client: &mut OutcomesServiceClient<Channel>,
    token: Option<&str>,
    filter: pb::StatsFilter,
) -> Result<pb::GetProgramStatsResponse, tonic::Status> {
    let message = pb::GetProgramStatsRequest {
        filter: Some(filter),
    };
    let request = match token {
        Some(token) => authed(message, token),
        None => Request::new(message),
    };
    client
        .get_program_stats(request)
        .await
        .map(tonic::Response::into_inner)
}

fn group(groups: &[pb::GroupStats], key: &str) -> pb::GroupStats {
    groups
        .iter()
        .find(|g| g.key == key)
        .unwrap_or_else(|| panic!("no group {key} in {groups:?}"))
        .clone()
}

fn series(periods: &[pb::PeriodStats]) -> Vec<(String, i64)> {
    periods
        .iter()
        .map(|p| (p.period_start.clone(), p.figures.as_ref().unwrap().papers))
        .collect()
}

/// A voucher of `amount` GPU-seconds for `company_id`, issued now through the vouchers store.
async fn voucher(
    store: &axv_vouchers::store::Store,
    company_id: &str,
    pilot: &str,
    amount: i64,
) -> String {
    use axv_vouchers::{
        domain::{FundingSource, ResourceKind},
        service::today,
        store::{NewApplication, NewPool, NewProgram},
    };
    let pool = store
        .create_pool(NewPool {
            name: "국가AI데이터센터 H100".into(),
            kind: ResourceKind::GpuH100,
            capacity: 10_000,
            funding: FundingSource::National,
            valid_from: today() - Days::new(365),
            valid_until: today() + Days::new(365),
        })
        .await
        .unwrap();
    let program = store
        .create_program(NewProgram {
            pool_id: pool.id.clone(),
            name: "AX 실증 컴퓨팅 바우처".into(),
            opens_on: today() - Days::new(30),
            closes_on: today() + Days::new(30),
            max_per_company: amount,
            sectors: vec![],
        })
        .await
        .unwrap();
    let application = store
        .create_application(NewApplication {
            program_id: program.id,
            company_id: company_id.into(),
            requested_amount: amount,
            justification: "실증 학습".into(),
            pilot_id: Some(pilot.into()),
            created_by: "firm".into(),
        })
        .await
        .unwrap();
    store
        .approve_application(&application.id, amount, "manager", None, today())
        .await
        .unwrap()
        .1
        .code
}

const Q1: (&str, &str) = ("2026-01-01", "2026-03-31");
const Q2: (&str, &str) = ("2026-04-01", "2026-06-30");

/// Cells: (MOBILITY, AUTONOMOUS_DRIVING, 2026Q1) has firms A, B, C (k = 1, 2, 4);
/// (HEALTHCARE, HEALTHCARE, 2026Q1) has firm D alone (k = 8); (MOBILITY, AUTONOMOUS_DRIVING,
/// 2026Q2) has firm A alone (k = 32). Firm E (MOBILITY) files a report that stays SUBMITTED
/// (k = 16); firm F (HEALTHCARE) is registered but not approved.
async fn program_stats_suppress_small_cells(db: TestDb) {
    let h = Harness::start(db).await;
    let a = h.firm(1, Sector::Mobility, true).await;
    let b = h.firm(2, Sector::Mobility, true).await;
    let c = h.firm(3, Sector::Mobility, true).await;
    let d = h.firm(4, Sector::Healthcare, true).await;
    let e = h.firm(5, Sector::Mobility, true).await;
    let _f = h.firm(6, Sector::Healthcare, false).await;
    let driving = PilotSpec::standard(pilots_pb::PilotDomain::AutonomousDriving);
    let health = PilotSpec::standard(pilots_pb::PilotDomain::Healthcare);
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

    for (firm, pilot, k) in [(&a, &pa, 1), (&b, &pb_, 2), (&c, &pc, 4), (&d, &pd, 8)] {
        verified(&mut client, firm, &manager, input(pilot, Q1.0, Q1.1, k)).await;
    }
    verified(&mut client, &a, &manager, input(&pa, Q2.0, Q2.1, 32)).await;
    // A DRAFT and a SUBMITTED report count nowhere.
    let e_report = create(&mut client, &e.token, input(&pe, Q1.0, Q1.1, 16)).await;
    let before_submit = (
        stats(&mut client, Some(&manager), filter()).await.unwrap(),
        stats(&mut client, None, filter()).await.unwrap(),
    );
    act(
        &mut client,
        &e.token,
        &e_report.id,
        pb::ReportAction::Submit,
    )
    .await;
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

    // Programme managers: everything, per company, nothing suppressed.
    let full = stats(&mut client, Some(&manager), filter()).await.unwrap();
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
        full.by_sector.iter().map(|g| &g.key).collect::<Vec<_>>(),
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
    assert_eq!(before_submit.1, public);
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
    assert_eq!(
        (
            public.companies,
            public.approved_companies,
            public.pilots,
            public.active_pilots
        ),
        (6, 5, 6, 5)
    );

    // The subtraction attack: no difference of two public answers gives a lone firm away.
    let public_with = |sectors: &[&str], domains: &[&str], from: Option<&str>, to: Option<&str>| {
        let mut client = client.clone();
        let filter = pb::StatsFilter {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            sectors: sectors.iter().map(|s| (*s).to_owned()).collect(),
            domains: domains.iter().map(|s| (*s).to_owned()).collect(),
        };
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
        let filter = pb::StatsFilter {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            sectors: sectors.iter().map(|s| (*s).to_owned()).collect(),
            domains: vec![],
        };
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
    assert_eq!(
        (staff_health.companies, staff_health.approved_companies),
        (2, 1)
    );
    assert_eq!((staff_health.pilots, staff_health.active_pilots), (1, 1));
    let staff_mobility = staff_with(&["MOBILITY"], None, None).await;
    assert_eq!(
        (staff_mobility.companies, staff_mobility.approved_companies),
        (4, 4)
    );
    assert_eq!(
        (staff_mobility.pilots, staff_mobility.active_pilots),
        (5, 4)
    );
    let by_domain = stats(
        &mut client.clone(),
        Some(&manager),
        pb::StatsFilter {
            domains: vec!["HEALTHCARE".into()],
            ..filter()
        },
    )
    .await
    .unwrap();
    assert_eq!((by_domain.pilots, by_domain.active_pilots), (1, 1));
    assert_eq!(by_domain.outcomes, Some(figures(8)));
    // Pilots whose period does not overlap the filter's are not counted.
    let before_pilots = staff_with(&[], None, Some("2025-12-31")).await;
    assert_eq!((before_pilots.pilots, before_pilots.active_pilots), (0, 0));

    // Once firm E's report is verified it counts: the big cell now has four firms.
    act(
        &mut client,
        &manager,
        &e_report.id,
        pb::ReportAction::Verify,
    )
    .await;
    let after = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(after.outcomes, Some(figures(1 + 2 + 4 + 16)));
    assert_eq!(
        stats(&mut client, Some(&manager), filter())
            .await
            .unwrap()
            .outcomes,
        Some(figures(1 + 2 + 4 + 8 + 16 + 32))
    );

    // Bad filters: INVALID_ARGUMENT naming the field, for anyone.
    for (bad, field) in [
        (
            pb::StatsFilter {
                sectors: vec!["SPACE".into()],
                ..filter()
            },
            "sectors",
        ),
        (
            pb::StatsFilter {
                sectors: vec!["UNSPECIFIED".into()],
                ..filter()
            },
            "sectors",
        ),
        (
            pb::StatsFilter {
                domains: vec!["FARMING".into()],
                ..filter()
            },
            "domains",
        ),
        (
            pb::StatsFilter {
                from: Some("2026-02-30".into()),
                ..filter()
            },
            "from",
        ),
        (
            pb::StatsFilter {
                to: Some("next week".into()),
                ..filter()
            },
            "to",
        ),
        (
            pb::StatsFilter {
                from: Some("2026-06-01".into()),
                to: Some("2026-01-01".into()),
                ..filter()
            },
            "to",
        ),
    ] {
        for token in [None, Some(manager.as_str())] {
            let error = stats(&mut client, token, bad.clone()).await.unwrap_err();
            assert_eq!(error.code(), Code::InvalidArgument, "{bad:?}");
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
    let h = Harness::start(db).await;
    let driving = PilotSpec::standard(pilots_pb::PilotDomain::AutonomousDriving);
    let mut firms = Vec::new();
    for (n, sector) in [
        (1, Sector::Mobility),
        (2, Sector::Mobility),
        (3, Sector::Mobility),
        (4, Sector::Healthcare),
    ] {
        let firm = h.firm(n, sector, true).await;
        let pilot = h.pilot(&firm, &driving, Stage::Active).await;
        firms.push((firm, pilot));
    }
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;
    let none = stats(&mut client, Some(&manager), filter()).await.unwrap();
    assert_eq!(
        (
            none.vouchers_issued,
            none.compute_granted,
            none.compute_consumed
        ),
        (0, 0, 0)
    );

    let mut codes = Vec::new();
    for ((firm, pilot), amount) in firms.iter().zip([100, 200, 400, 800]) {
        codes.push(voucher(&h.voucher_store, &firm.company_id, pilot, amount).await);
    }
    // A second voucher for firm 1 in the same cell.
    codes.push(voucher(&h.voucher_store, &firms[0].0.company_id, &firms[0].1, 50).await);
    let operator = h.token(Role::Operator);
    let mut vouchers = VouchersServiceClient::new(connect(&h.vouchers).await);
    for (code, job, amount) in [(&codes[0], "job-1", 30), (&codes[3], "job-2", 70)] {
        vouchers
            .record_usage(authed(
                vouchers_pb::RecordUsageRequest {
                    cluster: "h100".into(),
                    job_id: job.into(),
                    voucher_code: code.clone(),
                    amount,
                    started_at_ms: 0,
                    ended_at_ms: 0,
                },
                &operator,
            ))
            .await
            .unwrap();
    }

    let full = stats(&mut client, Some(&manager), filter()).await.unwrap();
    assert_eq!(
        (
            full.vouchers_issued,
            full.compute_granted,
            full.compute_consumed
        ),
        (5, 1550, 100)
    );
    // The public answer: the HEALTHCARE cell has one firm and stays out.
    let public = stats(&mut client, None, filter()).await.unwrap();
    assert_eq!(
        (
            public.vouchers_issued,
            public.compute_granted,
            public.compute_consumed
        ),
        (4, 750, 30)
    );
    let dashboard = stats(&mut client, Some(&h.token(Role::Dashboard)), filter())
        .await
        .unwrap();
    assert_eq!(
        (
            dashboard.vouchers_issued,
            dashboard.compute_granted,
            dashboard.compute_consumed
        ),
        (4, 750, 30)
    );
    let sector = |sector: &str| pb::StatsFilter {
        sectors: vec![sector.into()],
        ..filter()
    };
    let public_health = stats(&mut client, None, sector("HEALTHCARE"))
        .await
        .unwrap();
    assert_eq!(
        (public_health.vouchers_issued, public_health.compute_granted),
        (0, 0)
    );
    let public_mobility = stats(&mut client, None, sector("MOBILITY")).await.unwrap();
    assert_eq!(
        (
            public_mobility.vouchers_issued,
            public_mobility.compute_granted
        ),
        (4, 750)
    );
    let staff_health = stats(&mut client, Some(&manager), sector("HEALTHCARE"))
        .await
        .unwrap();
    assert_eq!(
        (
            staff_health.vouchers_issued,
            staff_health.compute_granted,
            staff_health.compute_consumed
        ),
        (1, 800, 70)
    );
    // Domains do not narrow vouchers.
    let domain = stats(
        &mut client,
        Some(&manager),
        pb::StatsFilter {
            domains: vec!["HEALTHCARE".into()],
            ..filter()
        },
    )
    .await
    .unwrap();
    assert_eq!(domain.vouchers_issued, 5);
    // Issued now: nothing in a window that ended before today, everything in one around today.
    let today = today();
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
    assert_eq!((past.vouchers_issued, past.compute_granted), (0, 0));
    let around = window(today - Days::new(1), today + Days::new(1));
    let current = stats(&mut client, Some(&manager), around.clone())
        .await
        .unwrap();
    assert_eq!(
        (current.vouchers_issued, current.compute_granted),
        (5, 1550)
    );
    let current = stats(&mut client, None, around).await.unwrap();
    assert_eq!((current.vouchers_issued, current.compute_granted), (4, 750));
    h.shutdown.cancel();
}

async fn due(
    client: &mut OutcomesServiceClient<Channel>,
    token: Option<&str>,
    overdue_only: bool,
) -> Result<Vec<pb::DueReport>, tonic::Status> {
    let message = pb::ListDueReportsRequest { overdue_only };
    let request = match token {
        Some(token) => authed(message, token),
        None => Request::new(message),
    };
    client
        .list_due_reports(request)
        .await
        .map(|r| r.into_inner().reports)
}

/// (pilot, period start, period end, overdue) of each due report, in the order given.
fn rows(reports: &[pb::DueReport]) -> Vec<(String, String, String, bool)> {
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

fn row(pilot: &str, start: NaiveDate, overdue: bool) -> (String, String, String, bool) {
    (
        pilot.to_owned(),
        start.to_string(),
        quarter_end(start).to_string(),
        overdue,
    )
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
    let h = Harness::start(db).await;
    let a = h.firm(1, Sector::Mobility, true).await;
    let b = h.firm(2, Sector::Healthcare, true).await;
    let today = today();
    let q0 = quarter_start(today);
    let q1 = quarter_start(q0 - Days::new(1));
    let q2 = quarter_start(q1 - Days::new(1));
    let manager = h.token(Role::ProgramManager);
    let mut client = h.client().await;
    assert!(
        due(&mut client, Some(&manager), false)
            .await
            .unwrap()
            .is_empty()
    );

    // A pilot that began mid-quarter two quarters ago, one that begins this quarter, and one
    // approved but not started.
    let old = h
        .pilot(
            &a,
            &PilotSpec {
                title: "오래된 실증",
                domain: pilots_pb::PilotDomain::AutonomousDriving,
                starts_on: q2 + Days::new(10),
                ends_on: today + Days::new(400),
            },
            Stage::Active,
        )
        .await;
    let new = h
        .pilot(
            &b,
            &PilotSpec {
                title: "새 실증",
                domain: pilots_pb::PilotDomain::Healthcare,
                starts_on: q0,
                ends_on: today + Days::new(400),
            },
            Stage::Active,
        )
        .await;
    let approved = h
        .pilot(
            &a,
            &PilotSpec::standard(pilots_pb::PilotDomain::Energy),
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
        rows(
            &due(&mut client, Some(&h.token(Role::Admin)), false)
                .await
                .unwrap()
        ),
        expected
    );

    // overdue_only.
    assert_eq!(
        rows(&due(&mut client, Some(&manager), true).await.unwrap()),
        expected[..2]
    );

    // Firm members see their own companies' pilots only.
    assert_eq!(
        rows(&due(&mut client, Some(&a.token), false).await.unwrap()),
        expected[..3]
    );
    assert_eq!(
        rows(&due(&mut client, Some(&b.token), false).await.unwrap()),
        expected[3..]
    );
    assert!(
        due(&mut client, Some(&b.token), true)
            .await
            .unwrap()
            .is_empty()
    );

    // Who may not ask.
    for role in [Role::Dashboard, Role::Operator] {
        assert_eq!(
            due(&mut client, Some(&h.token(role)), false)
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied,
            "{role:?}"
        );
    }
    assert_eq!(
        due(&mut client, None, false).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // A DRAFT is not filed; submitting it is.
    let report = create(
        &mut client,
        &a.token,
        input(&old, &q2.to_string(), &quarter_end(q2).to_string(), 1),
    )
    .await;
    assert_eq!(
        rows(&due(&mut client, Some(&a.token), true).await.unwrap()),
        expected[..2]
    );
    act(&mut client, &a.token, &report.id, pb::ReportAction::Submit).await;
    assert_eq!(
        rows(&due(&mut client, Some(&a.token), false).await.unwrap()),
        expected[1..3]
    );
    assert_eq!(
        rows(&due(&mut client, Some(&manager), true).await.unwrap()),
        expected[1..2]
    );
    // Filing the running quarter early removes it too.
    let running = create(
        &mut client,
        &b.token,
        input(&new, &q0.to_string(), &quarter_end(q0).to_string(), 1),
    )
    .await;
    act(&mut client, &b.token, &running.id, pb::ReportAction::Submit).await;
    assert!(
        due(&mut client, Some(&b.token), false)
            .await
            .unwrap()
            .is_empty()
    );

    // A pilot that stops being ACTIVE owes nothing here any more (its event updates the
    // schedule).
    h.move_pilot(&old, pilots_pb::PilotAction::Complete, &manager)
        .await;
    due_until(&mut client, &manager, <[pb::DueReport]>::is_empty).await;

    // The schedules lost (e.g. a fresh database) come back from the pilots service.
    h.move_pilot(&approved, pilots_pb::PilotAction::Start, &a.token)
        .await;
    due_until(&mut client, &manager, |r| {
        r.iter().any(|d| d.pilot_id == approved)
    })
    .await;
    let pool = h.service.store().database().pool();
    sqlx::query("DELETE FROM pilot_schedules")
        .execute(pool)
        .await
        .unwrap();
    assert!(
        due(&mut client, Some(&manager), false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.service.sync_pilots().await.unwrap(), 3);
    let restored = due(&mut client, Some(&manager), false).await.unwrap();
    assert!(!restored.is_empty());
    assert!(restored.iter().all(|d| d.pilot_id == approved));
    h.shutdown.cancel();
}

/// With no listener running, `sync_pilots` records every pilot as the pilots service has it.
async fn sync_pilots_backfills_schedules(db: TestDb) {
    let h = Harness::start_with(db, false).await;
    let a = h.firm(1, Sector::Mobility, true).await;
    let b = h.firm(2, Sector::Energy, true).await;
    let store = h.service.store();
    let spec = PilotSpec {
        title: "백필 실증",
        domain: pilots_pb::PilotDomain::Energy,
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

    assert_eq!(h.service.sync_pilots().await.unwrap(), 3);
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
    assert_eq!(h.service.sync_pilots().await.unwrap(), 3);
    assert_eq!(h.service.sync_pilots().await.unwrap(), 3);
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
    let owed = h.service.due_reports(Some(&manager), false).await.unwrap();
    assert!(!owed.is_empty());

    // Pilots made ACTIVE directly in the pilots store, more than one page of them.
    let lead = axv_pilots::store::CompanySnapshot {
        id: a.company_id.clone(),
        name_ko: "통계기업1".into(),
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
        let pilot = h.pilot_store.create(&draft, &lead, "firm").await.unwrap();
        for action in [
            axv_pilots::domain::PilotAction::Submit,
            axv_pilots::domain::PilotAction::Approve,
            axv_pilots::domain::PilotAction::Start,
        ] {
            h.pilot_store
                .transition(&pilot.id, action, "manager", |_| Ok(None))
                .await
                .unwrap();
        }
        direct.push(pilot.id);
    }
    assert_eq!(h.service.sync_pilots().await.unwrap(), 104);
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
    let mut older = payload(None, "DRAFT");
    older.as_object_mut().unwrap().remove("to");
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
    let mut untitled = payload(Some("APPROVED"), "ACTIVE");
    untitled.as_object_mut().unwrap().remove("title");
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
        let mut partial = payload(Some("APPROVED"), "ACTIVE");
        partial.as_object_mut().unwrap().remove(key);
        assert_eq!(
            pilot_from_event(&pilot_event("pilot.started", partial)),
            None,
            "{key}"
        );
    }
    // A transition without "to" says no status.
    let mut no_status = payload(Some("APPROVED"), "ACTIVE");
    no_status.as_object_mut().unwrap().remove("to");
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
