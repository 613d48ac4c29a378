//! `axv-pilots`: the pilot (demonstration) project registry, served over gRPC.
//!
//! - `domain`: the pilot's state machine, who may move it, what is public (pure).
//! - `store`: SQL for this service's own tables.
//! - `service`: the use cases; `grpc`: the tonic mapping.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod service;
pub mod store;

use axv_platform::{
    config::Platform,
    db::{Database, StoreError},
    grpc::{App, GrpcService, Running, ServeError, Upstreams},
    outbox::Outbox,
    shutdown::CancellationToken,
};

pub use error::PilotsError;

pub const NAME: &str = "pilots";
pub const DEFAULT_PORT: u16 = 50053;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn database(platform: &Platform) -> Result<Database, StoreError> {
    let db = Database::connect(&platform.database, NAME).await?;
    db.migrate(&MIGRATOR).await?;
    Ok(db)
}

pub struct PilotsApp {
    pub service: service::Pilots,
    pub outbox: Outbox,
    pub db: Database,
}

/// `onboarding_url`: where company facts and memberships come from.
pub async fn build(platform: &Platform, onboarding_url: &str) -> Result<PilotsApp, StoreError> {
    let db = database(platform).await?;
    let outbox = Outbox::default();
    let store = store::Store::new(db.clone(), outbox.clone());
    store
        .backfill_search_keys()
        .await
        .map_err(|e| StoreError::Config(format!("filling in pilot search keys: {e}")))?;
    let channel = axv_platform::grpc::channel(onboarding_url)
        .map_err(|e| StoreError::Config(format!("onboarding URL {onboarding_url:?}: {e}")))?;
    let onboarding =
        axv_proto::onboarding::v1::onboarding_service_client::OnboardingServiceClient::new(channel);
    Ok(PilotsApp {
        service: service::Pilots::new(store, onboarding, platform.issuer.clone()),
        outbox,
        db,
    })
}

/// The services it calls.
pub const UPSTREAMS: &[&str] = &["onboarding"];

/// Migrates, then serves on `listen` until `shutdown`: what `axv serve`, `axv up` and the tests
/// run.
pub async fn spawn(
    platform: &Platform,
    listen: &str,
    upstreams: &Upstreams,
    shutdown: &CancellationToken,
) -> Result<Running<service::Pilots>, ServeError> {
    let listener = axv_platform::grpc::bind(listen).await?;
    let onboarding = upstreams.url(NAME, "onboarding")?;
    let app = build(platform, onboarding)
        .await
        .map_err(ServeError::build(NAME))?;
    axv_platform::grpc::launch(platform, listener, app, shutdown)
}

impl App for PilotsApp {
    type Service = service::Pilots;

    fn service(&self) -> service::Pilots {
        self.service.clone()
    }

    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        self.outbox
            .spawn_relay(self.db.clone(), platform.bus.clone(), shutdown.clone());
        GrpcService {
            routes: tonic::service::Routes::new(grpc::PilotsGrpc::new(self.service).into_server()),
            health_names: vec!["axv.pilots.v1.PilotsService"],
        }
        .with_audit(self.db, self.outbox, NAME, shutdown)
    }
}
