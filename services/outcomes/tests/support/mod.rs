//! The outcomes tests' shared harness: onboarding, pilots, vouchers and outcomes over real gRPC
//! on one test database, firms with approved companies, pilots moved along their life, vouchers
//! issued through the vouchers store, and the report calls every test makes.
// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use axv_platform::calendar::today_kst;
use std::sync::Arc;

use axv_auth::{Caller, Role};
use axv_onboarding::domain::{CompanyAction, CompanyInput, GwangjuPresence, Sector};
use axv_platform::{
    config::Platform,
    grpc::{GrpcService, RunningServer},
    shutdown::CancellationToken,
    testing::{TestDb, platform},
};
use axv_proto::outcomes::v1::{self as pb, outcomes_service_client::OutcomesServiceClient};
use axv_proto::pilots::v1::{self as pilots_pb, pilots_service_client::PilotsServiceClient};
use axv_proto::vouchers::v1::{
    self as vouchers_pb, vouchers_service_client::VouchersServiceClient,
};
use chrono::{Days, NaiveDate};
use tonic::{Request, transport::Channel};

pub struct Harness {
    platform: Platform,
    onboarding: axv_onboarding::service::Onboarding,
    pilots: RunningServer,
    pub pilot_store: axv_pilots::store::Store,
    vouchers: RunningServer,
    voucher_store: axv_vouchers::store::Store,
    /// `None` when the outcomes app was built but not started (no server, no listener).
    outcomes: Option<RunningServer>,
    pub service: axv_outcomes::service::Outcomes,
    pub shutdown: CancellationToken,
    _db: TestDb,
}

pub struct Firm {
    pub token: String,
    pub company_id: String,
}

/// What a pilot is registered with.
pub struct PilotSpec<'a> {
    pub title: &'a str,
    pub domain: pilots_pb::PilotDomain,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl PilotSpec<'_> {
    /// A pilot in `domain` running through 2026 and 2027.
    pub fn standard(domain: pilots_pb::PilotDomain) -> Self {
        PilotSpec {
            title: "실증 과제",
            domain,
            starts_on: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            ends_on: NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(),
        }
    }
}

/// How far along its life `Harness::pilot` moves a pilot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Registered,
    Approved,
    Active,
}

pub fn caller(id: &str, role: Role) -> Caller {
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

/// A valid business registration number from `seed`.
fn business_number(seed: u32) -> String {
    const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let body = format!("{:09}", 300_000_000 + seed);
    let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    sum += (digits[8] * 5) / 10;
    format!("{body}{}", (10 - sum % 10) % 10)
}

async fn connect(server: &RunningServer) -> Channel {
    Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Serves `service` on a free local port until `shutdown` is cancelled.
async fn spawn_server(
    platform: &Platform,
    service: GrpcService,
    shutdown: &CancellationToken,
) -> RunningServer {
    let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
    axv_platform::grpc::spawn(
        listener,
        service,
        platform.verifier.clone(),
        shutdown.clone(),
    )
    .unwrap()
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    axv_auth::attach_bearer(&mut request, token).unwrap();
    request
}

impl Harness {
    pub async fn start(db: TestDb) -> Self {
        Self::start_with(db, true).await
    }

    /// Every service running; the outcomes one only built, not served, unless `start_outcomes`.
    pub async fn start_with(db: TestDb, start_outcomes: bool) -> Self {
        let platform = platform(db.config.clone());
        let shutdown = CancellationToken::new();
        let serve = |service| spawn_server(&platform, service, &shutdown);
        let app = axv_onboarding::build(&platform).await.unwrap();
        let onboarding = app.service.clone();
        let onboarding_server = serve(app.start(&platform, shutdown.clone())).await;
        let pilots_app = axv_pilots::build(&platform, &onboarding_server.url())
            .await
            .unwrap();
        let pilot_store = pilots_app.service.store().clone();
        let pilots = serve(pilots_app.start(&platform, shutdown.clone())).await;
        let vouchers_app = axv_vouchers::build(&platform, &onboarding_server.url(), &pilots.url())
            .await
            .unwrap();
        let voucher_store = vouchers_app.service.store().clone();
        let vouchers = serve(vouchers_app.start(&platform, shutdown.clone())).await;
        let outcomes_app = axv_outcomes::build(&platform, &onboarding_server.url(), &pilots.url())
            .await
            .unwrap()
            .with_vouchers(&vouchers.url())
            .unwrap();
        let service = outcomes_app.service.clone();
        let outcomes = if start_outcomes {
            Some(serve(outcomes_app.start(&platform, shutdown.clone())).await)
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

    pub async fn client(&self) -> OutcomesServiceClient<Channel> {
        OutcomesServiceClient::new(connect(self.outcomes.as_ref().unwrap()).await)
    }

    pub async fn pilots_client(&self) -> PilotsServiceClient<Channel> {
        PilotsServiceClient::new(connect(&self.pilots).await)
    }

    pub fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    /// A firm member and its company in `sector`, APPROVED when `approve`, else only SUBMITTED.
    pub async fn firm(&self, n: u32, sector: Sector, approve: bool) -> Firm {
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
        let mut moves = vec![(&firm, CompanyAction::Submit)];
        if approve {
            moves.push((&manager, CompanyAction::StartReview));
            moves.push((&manager, CompanyAction::Approve));
        }
        for (who, action) in moves {
            self.onboarding
                .transition(Some(who), &id, action, None)
                .await
                .unwrap();
        }
        Firm {
            token: session.access.token,
            company_id: id,
        }
    }

    /// A pilot `lead` leads, moved as far as `stage`.
    pub async fn pilot(&self, lead: &Firm, spec: &PilotSpec<'_>, stage: Stage) -> String {
        let manager = self.token(Role::ProgramManager);
        let pilot = self
            .pilots_client()
            .await
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

    pub async fn move_pilot(&self, id: &str, action: pilots_pb::PilotAction, token: &str) {
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

    /// The code of a voucher of `amount` GPU-seconds for `company_id`, linked to `pilot` and
    /// issued now through the vouchers store.
    pub async fn voucher(&self, company_id: &str, pilot: &str, amount: i64) -> String {
        use axv_vouchers::{
            domain::{FundingSource, ResourceKind},
            store::{NewApplication, NewPool, NewProgram},
        };
        let store = &self.voucher_store;
        let pool = store
            .create_pool(NewPool {
                name: "국가AI데이터센터 H100".into(),
                kind: ResourceKind::GpuH100,
                capacity: 10_000,
                funding: FundingSource::National,
                valid_from: today_kst() - Days::new(365),
                valid_until: today_kst() + Days::new(365),
            })
            .await
            .unwrap();
        let program = store
            .create_program(NewProgram {
                pool_id: pool.id.clone(),
                name: "AX 실증 컴퓨팅 바우처".into(),
                opens_on: today_kst() - Days::new(30),
                closes_on: today_kst() + Days::new(30),
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
            .approve_application(&application.id, amount, "manager", None, today_kst())
            .await
            .unwrap()
            .1
            .code
    }

    /// `jobs` usage records of one GPU-second each on the voucher `code`, through the vouchers
    /// store (a long ledger, quickly).
    pub async fn record_many_usages(&self, code: &str, jobs: usize) {
        for n in 0..jobs {
            self.voucher_store
                .record_usage(
                    axv_vouchers::store::spend::UsageInput {
                        cluster: "h100",
                        job_id: &format!("bulk-{n}"),
                        voucher_code: code,
                        amount: 1,
                        started_at: None,
                        ended_at: None,
                    },
                    today_kst(),
                    &Default::default(),
                )
                .await
                .unwrap();
        }
    }

    /// Moves every ledger movement and usage record of the voucher `code` to `at_ms`, as if
    /// the usage had been metered then (reports are filed for periods that have ended).
    pub async fn backdate_usage(&self, code: &str, at_ms: i64) {
        let pool = self.voucher_store.database().pool();
        for sql in [
            "UPDATE ledger_transfers SET created_at = $1 WHERE kind <> 'grant' \
             AND voucher_id = (SELECT id FROM vouchers WHERE code = $2)",
            "UPDATE usage_records SET created_at = $1 \
             WHERE voucher_id = (SELECT id FROM vouchers WHERE code = $2)",
        ] {
            sqlx::query(sql)
                .bind(at_ms)
                .bind(code)
                .execute(pool)
                .await
                .unwrap();
        }
    }

    /// Charges `amount` GPU-seconds of `job` to the voucher `code`, as the cluster's operator.
    pub async fn record_usage(&self, code: &str, job: &str, amount: i64) {
        VouchersServiceClient::new(connect(&self.vouchers).await)
            .record_usage(authed(
                vouchers_pb::RecordUsageRequest {
                    cluster: "h100".into(),
                    job_id: job.into(),
                    voucher_code: code.into(),
                    amount,
                    started_at_ms: 0,
                    ended_at_ms: 0,
                },
                &self.token(Role::Operator),
            ))
            .await
            .unwrap();
    }
}

pub async fn create(
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

pub async fn act(
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
