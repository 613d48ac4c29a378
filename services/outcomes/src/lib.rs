//! `axv-outcomes`: outcome reports per pilot and period, and the programme's aggregate figures
//! with small-group suppression, served over gRPC.
//!
//! - `domain` (pure): the report state machine and versioning, reporting periods, the figures'
//!   rules, and aggregation whose public figures resist the subtraction attack.
//! - `store`: SQL for this service's own tables.
//! - `service`: the use cases; `grpc`: the tonic mapping.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod service;
pub mod store;

use axv_platform::{
    ErrorCode,
    config::Platform,
    db::{Database, StoreError},
    error::DomainError,
    grpc::GrpcService,
    outbox::Outbox,
    shutdown::CancellationToken,
};

pub use domain::OutcomesError;
pub use error::ReportsError;

pub const NAME: &str = "outcomes";
pub const DEFAULT_PORT: u16 = 50054;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl DomainError for OutcomesError {
    fn code(&self) -> ErrorCode {
        match self {
            OutcomesError::InvalidInput { .. } => ErrorCode::BadUserInput,
            OutcomesError::Precondition(_) => ErrorCode::FailedPrecondition,
            OutcomesError::Forbidden(_) => ErrorCode::Forbidden,
        }
    }
}

impl From<OutcomesError> for tonic::Status {
    fn from(error: OutcomesError) -> Self {
        error.to_status()
    }
}

pub async fn database(platform: &Platform) -> Result<Database, StoreError> {
    let db = Database::connect(&platform.database, NAME).await?;
    db.migrate(&MIGRATOR).await?;
    Ok(db)
}

pub struct OutcomesApp {
    pub service: service::Outcomes,
    pub outbox: Outbox,
    pub db: Database,
}

/// `onboarding_url`: where the caller's companies come from; `pilots_url`: where pilots are
/// looked up (with the caller's own token, so a pilot the caller cannot see is NOT_FOUND).
pub async fn build(
    platform: &Platform,
    onboarding_url: &str,
    pilots_url: &str,
) -> Result<OutcomesApp, StoreError> {
    let db = database(platform).await?;
    let outbox = Outbox::default();
    let store = store::Store::new(db.clone(), outbox.clone());
    let onboarding = axv_platform::grpc::channel(onboarding_url)
        .map_err(|e| StoreError::Config(format!("onboarding URL {onboarding_url:?}: {e}")))?;
    let pilots = axv_platform::grpc::channel(pilots_url)
        .map_err(|e| StoreError::Config(format!("pilots URL {pilots_url:?}: {e}")))?;
    Ok(OutcomesApp {
        service: service::Outcomes::new(
            store,
            axv_proto::onboarding::v1::onboarding_service_client::OnboardingServiceClient::new(
                onboarding,
            ),
            axv_proto::pilots::v1::pilots_service_client::PilotsServiceClient::new(pilots),
        ),
        outbox,
        db,
    })
}

impl OutcomesApp {
    /// Takes compute consumption from the vouchers service at `vouchers_url` when reports are
    /// submitted; without it, reports record 0.
    pub fn with_vouchers(mut self, vouchers_url: &str) -> Result<Self, StoreError> {
        let channel = axv_platform::grpc::channel(vouchers_url)
            .map_err(|e| StoreError::Config(format!("vouchers URL {vouchers_url:?}: {e}")))?;
        self.service = self.service.with_vouchers(
            axv_proto::vouchers::v1::vouchers_service_client::VouchersServiceClient::new(channel),
        );
        Ok(self)
    }

    pub fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        self.outbox
            .spawn_relay(self.db.clone(), platform.bus.clone(), shutdown);
        GrpcService {
            routes: tonic::service::Routes::new(
                grpc::OutcomesGrpc::new(self.service).into_server(),
            ),
            health_names: vec!["axv.outcomes.v1.OutcomesService"],
        }
    }
}
