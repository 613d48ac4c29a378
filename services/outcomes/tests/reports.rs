//! Outcome reports over real gRPC with real onboarding and pilots services behind them, on
//! SQLite and Postgres: a report's whole life, its versions, and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axv_auth::{Caller, Role};
use axv_onboarding::domain::{CompanyAction, CompanyInput, GwangjuPresence, Sector};
use axv_platform::{
    config::Platform,
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
use tonic::{Code, Request, transport::Channel};

struct Harness {
    platform: Platform,
    onboarding: axv_onboarding::service::Onboarding,
    pilots: RunningServer,
    outcomes: RunningServer,
    vouchers: RunningServer,
    voucher_store: axv_vouchers::store::Store,
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

impl Harness {
    async fn start(db: TestDb) -> Self {
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
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let outcomes = axv_platform::grpc::spawn(
            listener,
            outcomes_app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        Self {
            platform,
            onboarding,
            pilots,
            outcomes,
            vouchers,
            voucher_store,
            shutdown,
            _db: db,
        }
    }

    async fn client(&self) -> OutcomesServiceClient<Channel> {
        OutcomesServiceClient::new(connect(&self.outcomes).await)
    }

    fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    async fn firm(&self, n: u32) -> Firm {
        let session = self
            .onboarding
            .sign_up(
                &format!("firm{n}@outcomes.kr"),
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
                    name_ko: format!("성과기업{n}"),
                    name_en: None,
                    sector: Some(Sector::Mobility),
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
        self.onboarding
            .transition(Some(&manager), &id, CompanyAction::StartReview, None)
            .await
            .unwrap();
        self.onboarding
            .transition(Some(&manager), &id, CompanyAction::Approve, None)
            .await
            .unwrap();
        Firm {
            token: session.access.token,
            company_id: id,
        }
    }

    /// A pilot the firm leads, moved as far as `start` says (ACTIVE when true, APPROVED
    /// otherwise).
    async fn pilot(&self, lead: &Firm, start: bool) -> String {
        let mut client = PilotsServiceClient::new(connect(&self.pilots).await);
        let manager = self.token(Role::ProgramManager);
        let pilot = client
            .register_pilot(authed(
                pilots_pb::RegisterPilotRequest {
                    input: Some(pilots_pb::PilotInput {
                        title: "자율주행 셔틀 실증".into(),
                        title_en: None,
                        summary: "도심 실증".into(),
                        domain: pilots_pb::PilotDomain::AutonomousDriving.into(),
                        lead_company_id: lead.company_id.clone(),
                        site: "광주 첨단3지구".into(),
                        starts_on: "2026-01-01".into(),
                        ends_on: "2027-12-31".into(),
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
        let mut moves = vec![
            (pilots_pb::PilotAction::Submit, lead.token.clone()),
            (pilots_pb::PilotAction::Approve, manager),
        ];
        if start {
            moves.push((pilots_pb::PilotAction::Start, lead.token.clone()));
        }
        for (action, token) in moves {
            client
                .transition_pilot(authed(
                    pilots_pb::TransitionPilotRequest {
                        id: pilot.id.clone(),
                        action: action.into(),
                        note: None,
                    },
                    &token,
                ))
                .await
                .unwrap();
        }
        pilot.id
    }
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    axv_auth::attach_bearer(&mut request, token).unwrap();
    request
}

fn input(pilot_id: &str, start: &str, end: &str) -> pb::ReportInput {
    pb::ReportInput {
        pilot_id: pilot_id.into(),
        period_start: start.into(),
        period_end: end.into(),
        models_developed: 2,
        models_improved: 1,
        models_commercialized: 1,
        patents_filed: 1,
        patents_registered: 0,
        papers: 1,
        new_hires: 3,
        revenue_krw: 50_000_000,
        investment_krw: 0,
        evidence: "https://example.kr/evidence".into(),
    }
}

async fn create(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    input: pb::ReportInput,
) -> Result<pb::OutcomeReport, tonic::Status> {
    client
        .create_report(authed(
            pb::CreateReportRequest { input: Some(input) },
            token,
        ))
        .await
        .map(|r| r.into_inner().report.unwrap())
}

async fn act(
    client: &mut OutcomesServiceClient<Channel>,
    token: &str,
    id: &str,
    action: pb::ReportAction,
    note: Option<&str>,
) -> Result<pb::OutcomeReport, tonic::Status> {
    client
        .transition_report(authed(
            pb::TransitionReportRequest {
                id: id.into(),
                action: action.into(),
                note: note.map(str::to_owned),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().report.unwrap())
}

async fn whole_life_versions_and_refusals(db: TestDb) {
    let h = Harness::start(db).await;
    let lead = h.firm(1).await;
    let stranger = h.firm(2).await;
    let manager = h.token(Role::ProgramManager);
    let dashboard = h.token(Role::Dashboard);
    let pilot = h.pilot(&lead, true).await;
    let approved_only = h.pilot(&lead, false).await;
    let strangers_pilot = h.pilot(&stranger, true).await;
    let mut client = h.client().await;

    // Who may file: the lead company, for its ACTIVE/COMPLETED pilot.
    assert_eq!(
        client
            .create_report(pb::CreateReportRequest {
                input: Some(input(&pilot, "2026-01-01", "2026-03-31")),
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        create(
            &mut client,
            &manager,
            input(&pilot, "2026-01-01", "2026-03-31")
        )
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    // A pilot the caller's company only takes part in: seen, but not the caller's to report.
    PilotsServiceClient::new(connect(&h.pilots).await)
        .add_participant(authed(
            pilots_pb::AddParticipantRequest {
                pilot_id: pilot.clone(),
                company_id: stranger.company_id.clone(),
                role: "partner".into(),
            },
            &lead.token,
        ))
        .await
        .unwrap();
    let not_lead = create(
        &mut client,
        &stranger.token,
        input(&pilot, "2026-01-01", "2026-03-31"),
    )
    .await
    .unwrap_err();
    assert_eq!(not_lead.code(), Code::FailedPrecondition);
    // Another firm's pilot the caller cannot see at all.
    assert_eq!(
        create(
            &mut client,
            &lead.token,
            input(&strangers_pilot, "2026-01-01", "2026-03-31"),
        )
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );
    assert_eq!(
        create(
            &mut client,
            &lead.token,
            input(&axv_platform::ids::new_id(), "2026-01-01", "2026-03-31")
        )
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );
    let not_active = create(
        &mut client,
        &lead.token,
        input(&approved_only, "2026-01-01", "2026-03-31"),
    )
    .await
    .unwrap_err();
    assert_eq!(not_active.code(), Code::FailedPrecondition);
    assert!(
        not_active.message().contains("APPROVED"),
        "{}",
        not_active.message()
    );

    // Input: the period names its bad field; commercialized cannot exceed developed+improved.
    let bad_period = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-01-02", "2026-03-31"),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_period.code(), Code::InvalidArgument);
    assert!(
        bad_period.message().starts_with("periodStart"),
        "{}",
        bad_period.message()
    );
    let bad_end = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-01-01", "2026-03-30"),
    )
    .await
    .unwrap_err();
    assert!(
        bad_end.message().starts_with("periodEnd"),
        "{}",
        bad_end.message()
    );
    let too_many = pb::ReportInput {
        models_commercialized: 4,
        ..input(&pilot, "2026-01-01", "2026-03-31")
    };
    let error = create(&mut client, &lead.token, too_many)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().starts_with("modelsCommercialized"),
        "{}",
        error.message()
    );

    // Create, then an overlapping period of the same pilot is refused.
    let report = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-01-01", "2026-03-31"),
    )
    .await
    .unwrap();
    assert_eq!(report.status(), pb::ReportStatus::Draft);
    assert_eq!(report.version, 1);
    assert_eq!(report.lineage_id, report.id);
    assert_eq!(report.company_id, lead.company_id);
    assert_eq!(report.sector, "MOBILITY");
    assert_eq!(report.domain, "AUTONOMOUS_DRIVING");
    assert_eq!(report.compute_consumed, 0);
    let overlap = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-01-01", "2026-06-30"),
    )
    .await
    .unwrap_err();
    assert_eq!(overlap.code(), Code::InvalidArgument);
    let next_quarter = create(
        &mut client,
        &lead.token,
        input(&pilot, "2026-04-01", "2026-06-30"),
    )
    .await
    .unwrap();
    // Editing one's own report to overlap another lineage is refused too.
    let moved = client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: next_quarter.id.clone(),
                input: Some(input("", "2026-01-01", "2026-03-31")),
            },
            &lead.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(moved.code(), Code::InvalidArgument);

    // Visibility: another firm NOT_FOUND, dashboards FORBIDDEN, managers see it.
    let get = |token: String, id: String| {
        let mut client = client.clone();
        async move {
            client
                .get_report(authed(pb::GetReportRequest { id }, &token))
                .await
        }
    };
    assert_eq!(
        get(stranger.token.clone(), report.id.clone())
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        get(dashboard.clone(), report.id.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert!(get(manager.clone(), report.id.clone()).await.is_ok());
    assert_eq!(
        act(
            &mut client,
            &stranger.token,
            &report.id,
            pb::ReportAction::Submit,
            None
        )
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );

    // Edit while DRAFT, submit; the firm cannot verify; managers cannot submit.
    let edited = client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: report.id.clone(),
                input: Some(pb::ReportInput {
                    papers: 4,
                    ..input("", "2026-01-01", "2026-03-31")
                }),
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(edited.papers, 4);
    assert_eq!(
        act(
            &mut client,
            &manager,
            &report.id,
            pb::ReportAction::Submit,
            None
        )
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    let submitted = act(
        &mut client,
        &lead.token,
        &report.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted.status(), pb::ReportStatus::Submitted);
    assert_eq!(
        act(
            &mut client,
            &lead.token,
            &report.id,
            pb::ReportAction::Verify,
            None
        )
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    let locked = client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: report.id.clone(),
                input: Some(input("", "2026-01-01", "2026-03-31")),
            },
            &lead.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::FailedPrecondition);

    // Return needs a note; resubmit; verify.
    let no_note = act(
        &mut client,
        &manager,
        &report.id,
        pb::ReportAction::Return,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(no_note.code(), Code::InvalidArgument);
    assert!(
        no_note.message().starts_with("note"),
        "{}",
        no_note.message()
    );
    let returned = act(
        &mut client,
        &manager,
        &report.id,
        pb::ReportAction::Return,
        Some("매출 증빙을 첨부하세요"),
    )
    .await
    .unwrap();
    assert_eq!(returned.status(), pb::ReportStatus::Returned);
    assert_eq!(
        returned.history.last().unwrap().note.as_deref(),
        Some("매출 증빙을 첨부하세요")
    );
    act(
        &mut client,
        &lead.token,
        &report.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    let verified = act(
        &mut client,
        &manager,
        &report.id,
        pb::ReportAction::Verify,
        None,
    )
    .await
    .unwrap();
    assert_eq!(verified.status(), pb::ReportStatus::Verified);
    let path: Vec<&str> = verified.history.iter().map(|c| c.to.as_str()).collect();
    assert_eq!(
        path,
        ["DRAFT", "SUBMITTED", "RETURNED", "SUBMITTED", "VERIFIED"]
    );

    // Amend: a DRAFT version 2 in the same lineage; version 1 stays VERIFIED.
    let amend = |token: String, id: String| {
        let mut client = client.clone();
        async move {
            client
                .amend_report(authed(pb::AmendReportRequest { id }, &token))
                .await
        }
    };
    assert_eq!(
        amend(lead.token.clone(), next_quarter.id.clone())
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    let v2 = amend(lead.token.clone(), report.id.clone())
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.lineage_id, report.id);
    assert_eq!(v2.status(), pb::ReportStatus::Draft);
    assert_eq!(v2.papers, 4);
    assert_eq!(
        amend(lead.token.clone(), report.id.clone())
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    // The amendment keeps its own period: not an overlap with its own lineage.
    client
        .update_report(authed(
            pb::UpdateReportRequest {
                id: v2.id.clone(),
                input: Some(pb::ReportInput {
                    papers: 5,
                    ..input("", "2026-01-01", "2026-03-31")
                }),
            },
            &lead.token,
        ))
        .await
        .unwrap();
    let versions = client
        .list_report_versions(authed(
            pb::ListReportVersionsRequest {
                lineage_id: report.id.clone(),
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .reports;
    let states: Vec<(i32, pb::ReportStatus)> =
        versions.iter().map(|r| (r.version, r.status())).collect();
    assert_eq!(
        states,
        [
            (1, pb::ReportStatus::Verified),
            (2, pb::ReportStatus::Draft)
        ]
    );
    assert_eq!(versions[0].papers, 4);

    // Lists and loaders: the firm sees its own, the stranger nothing, managers all.
    let list = |token: String| {
        let mut client = client.clone();
        async move {
            client
                .list_reports(authed(
                    pb::ListReportsRequest {
                        filter: None,
                        page_size: 2,
                        page_token: String::new(),
                    },
                    &token,
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let mine = list(lead.token.clone()).await.unwrap();
    assert_eq!(mine.total_count, 3);
    assert_eq!(mine.reports.len(), 2);
    assert!(!mine.next_page_token.is_empty());
    assert_eq!(list(stranger.token.clone()).await.unwrap().total_count, 0);
    assert_eq!(list(manager.clone()).await.unwrap().total_count, 3);
    assert_eq!(
        list(dashboard.clone()).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let verified_only = client
        .list_reports(authed(
            pb::ListReportsRequest {
                filter: Some(pb::ReportFilter {
                    pilot_id: Some(pilot.clone()),
                    company_id: None,
                    statuses: vec![pb::ReportStatus::Verified.into()],
                }),
                page_size: 10,
                page_token: String::new(),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified_only.total_count, 1);
    let loaded = client
        .list_pilot_reports(authed(
            pb::ListPilotReportsRequest {
                pilot_ids: vec![pilot.clone(), strangers_pilot.clone()],
            },
            &lead.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .pilots;
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].pilot_id, pilot);
    assert_eq!(loaded[0].reports.len(), 3);
    let batch = client
        .batch_get_reports(authed(
            pb::BatchGetReportsRequest {
                ids: vec![report.id.clone(), v2.id.clone()],
            },
            &stranger.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(batch.reports.is_empty());
    h.shutdown.cancel();
}

/// A voucher of `amount` linked to `pilot`, for the pilot's lead company.
async fn pilot_voucher(
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
            valid_from: today() - chrono::Days::new(365),
            valid_until: today() + chrono::Days::new(365),
        })
        .await
        .unwrap();
    let program = store
        .create_program(NewProgram {
            pool_id: pool.id.clone(),
            name: "AX 실증 컴퓨팅 바우처".into(),
            opens_on: today() - chrono::Days::new(30),
            closes_on: today() + chrono::Days::new(30),
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

async fn compute_consumed_comes_from_vouchers(db: TestDb) {
    let h = Harness::start(db).await;
    let lead = h.firm(1).await;
    let pilot = h.pilot(&lead, true).await;
    let code = pilot_voucher(&h.voucher_store, &lead.company_id, &pilot, 500).await;
    let operator = h.token(Role::Operator);
    let mut vouchers = VouchersServiceClient::new(connect(&h.vouchers).await);
    for (job, amount) in [("job-1", 30), ("job-2", 12)] {
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
    // The usage was charged now, so it falls in the current quarter and not in an earlier one.
    let today = axv_vouchers::service::today();
    let (start, end) = (
        axv_outcomes::domain::quarter_start(today),
        axv_outcomes::domain::quarter_end(today),
    );
    let mut client = h.client().await;
    let current = create(
        &mut client,
        &lead.token,
        input(&pilot, &start.to_string(), &end.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(current.compute_consumed, 0);
    let submitted = act(
        &mut client,
        &lead.token,
        &current.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted.compute_consumed, 42);
    let before = start.pred_opt().unwrap();
    let earlier = create(
        &mut client,
        &lead.token,
        input(
            &pilot,
            &axv_outcomes::domain::quarter_start(before).to_string(),
            &before.to_string(),
        ),
    )
    .await
    .unwrap();
    let submitted = act(
        &mut client,
        &lead.token,
        &earlier.id,
        pb::ReportAction::Submit,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted.compute_consumed, 0);
    h.shutdown.cancel();
}

on_both_backends!(
    whole_life => whole_life_versions_and_refusals,
    compute => compute_consumed_comes_from_vouchers,
);
