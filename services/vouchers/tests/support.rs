//! Shared test fixtures: a running onboarding + vouchers pair over real gRPC, firms with
//! approved companies, and vouchers issued through the real approval path.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axv_platform::calendar::today_kst;
use std::sync::Arc;

use axv_auth::{Caller, Role};
use axv_onboarding::domain::{CompanyAction, CompanyInput, GwangjuPresence, Sector};
use axv_platform::{
    config::Platform,
    grpc::RunningServer,
    shutdown::CancellationToken,
    testing::{TestDb, platform},
};
use axv_proto::vouchers::v1::{self as pb, vouchers_service_client::VouchersServiceClient};
use axv_vouchers::{
    domain::{FundingSource, ResourceKind},
    store::{NewApplication, NewPool, NewProgram, Store, VoucherRecord},
};
use tonic::{Request, transport::Channel};

pub struct Harness {
    pub platform: Platform,
    pub onboarding: axv_onboarding::service::Onboarding,
    pub pilots: axv_pilots::service::Pilots,
    pub store: Store,
    pub vouchers: RunningServer,
    pub shutdown: CancellationToken,
    /// Faults to inject into the vouchers service's company-standing handler.
    pub faults: std::sync::Arc<axv_vouchers::EventFaults>,
    pub onboarding_url: String,
    pub pilots_url: String,
    _db: TestDb,
}

pub fn caller(id: &str, role: Role) -> Caller {
    Caller {
        subject: id.to_owned(),
        role,
        company_ids: vec![],
        token_id: String::new(),
        expires_at: 0,
        issuer: "test".into(),
        raw_token: Arc::from(""),
    }
}

/// A valid business registration number from `seed`.
pub fn business_number(seed: u32) -> String {
    const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let body = format!("{:09}", 200_000_000 + seed % 700_000_000);
    let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    sum += (digits[8] * 5) / 10;
    format!("{body}{}", (10 - sum % 10) % 10)
}

pub struct Firm {
    pub token: String,
    pub user_id: String,
    pub company_id: String,
}

impl Harness {
    pub async fn start(db: TestDb) -> Self {
        let platform = platform(db.config.clone());
        Self::start_on(db, platform).await
    }

    /// On a platform of the test's making (e.g. a Redis event bus).
    pub async fn start_on(db: TestDb, platform: Platform) -> Self {
        let shutdown = CancellationToken::new();
        let onboarding_app = axv_onboarding::build(&platform).await.unwrap();
        let onboarding = onboarding_app.service.clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let onboarding_server = axv_platform::grpc::spawn(
            listener,
            onboarding_app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        let pilots_app = axv_pilots::build(&platform, &onboarding_server.url())
            .await
            .unwrap();
        let pilots_service = pilots_app.service.clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let pilots_server = axv_platform::grpc::spawn(
            listener,
            pilots_app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        let app = axv_vouchers::build(&platform, &onboarding_server.url(), &pilots_server.url())
            .await
            .unwrap();
        let store = app.service.store().clone();
        let faults = app.event_faults.clone();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        let vouchers = axv_platform::grpc::spawn(
            listener,
            app.start(&platform, shutdown.clone()),
            platform.verifier.clone(),
            shutdown.clone(),
        )
        .unwrap();
        Self {
            platform,
            onboarding,
            pilots: pilots_service,
            store,
            vouchers,
            shutdown,
            faults,
            onboarding_url: onboarding_server.url(),
            pilots_url: pilots_server.url(),
            _db: db,
        }
    }

    pub async fn client(&self) -> VouchersServiceClient<Channel> {
        client_of(&self.vouchers).await
    }

    /// Another replica of the vouchers service on the same database, as a second `axv serve
    /// vouchers` behind a load balancer would be; stops with the harness.
    pub async fn another_vouchers_replica(&self) -> RunningServer {
        let app = axv_vouchers::build(&self.platform, &self.onboarding_url, &self.pilots_url)
            .await
            .unwrap();
        let listener = axv_platform::grpc::bind("127.0.0.1:0").await.unwrap();
        axv_platform::grpc::spawn(
            listener,
            app.start(&self.platform, self.shutdown.clone()),
            self.platform.verifier.clone(),
            self.shutdown.clone(),
        )
        .unwrap()
    }

    pub fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    /// A firm member with one company in `status` (APPROVED unless told otherwise).
    pub async fn firm(&self, n: u32, sector: Sector, approve: bool) -> Firm {
        let session = self
            .onboarding
            .sign_up(
                &format!("firm{n}@vouchers.kr"),
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
                    name_ko: format!("바우처기업{n}"),
                    name_en: None,
                    sector: Some(sector),
                    presence: Some(GwangjuPresence::Headquarters),
                    employees: Some(10),
                    founded_on: None,
                    contact_email: "a@b.kr".into(),
                },
            )
            .await
            .unwrap();
        let id = company.company.id;
        if approve {
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
        }
        Firm {
            token: session.access.token,
            user_id: session.user.id,
            company_id: id,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.vouchers.task.await.unwrap().unwrap();
    }
}

pub async fn client_of(server: &RunningServer) -> VouchersServiceClient<Channel> {
    VouchersServiceClient::new(
        Channel::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    )
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    axv_auth::attach_bearer(&mut request, token).unwrap();
    request
}

/// A pool of `capacity` and an open programme with `cap` per company.
pub async fn pool_and_program(store: &Store, capacity: i64, cap: i64) -> (String, String) {
    let year = today_kst().format("%Y").to_string();
    let pool = store
        .create_pool(NewPool {
            name: "국가AI데이터센터 H100".into(),
            kind: ResourceKind::GpuH100,
            capacity,
            funding: FundingSource::National,
            valid_from: chrono::NaiveDate::parse_from_str(&format!("{year}-01-01"), "%Y-%m-%d")
                .unwrap(),
            valid_until: today_kst() + chrono::Days::new(365),
        })
        .await
        .unwrap();
    let program = store
        .create_program(NewProgram {
            pool_id: pool.id.clone(),
            name: "AX 실증 컴퓨팅 바우처".into(),
            opens_on: today_kst() - chrono::Days::new(30),
            closes_on: today_kst() + chrono::Days::new(30),
            max_per_company: cap,
            sectors: vec![],
        })
        .await
        .unwrap();
    (pool.id, program.id)
}

/// A voucher of `amount` for `company`, through the store's real approval path.
pub async fn issue(
    store: &Store,
    program_id: &str,
    company_id: &str,
    amount: i64,
) -> VoucherRecord {
    let application = store
        .create_application(NewApplication {
            program_id: program_id.into(),
            company_id: company_id.into(),
            requested_amount: amount,
            justification: "test".into(),
            pilot_id: None,
            created_by: "firm".into(),
        })
        .await
        .unwrap();
    store
        .approve_application(&application.id, amount, "manager", None, today_kst())
        .await
        .unwrap()
        .1
}

pub fn usage(job: &str, code: &str, amount: i64) -> pb::RecordUsageRequest {
    pb::RecordUsageRequest {
        cluster: "h100".into(),
        job_id: job.into(),
        voucher_code: code.into(),
        amount,
        started_at_ms: 0,
        ended_at_ms: 0,
    }
}
