//! `axv-onboarding`: accounts, companies and their review workflow, served over gRPC.
//!
//! - `domain`: validated values, the application state machine, who sees and does what (pure).
//! - `store`: SQL for this service's own tables.
//! - `service`: the use cases.
//! - `grpc`: the tonic service, protobuf <-> use cases.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod revocations;
pub mod service;
pub mod store;

use std::sync::Arc;

use axv_platform::{
    config::Platform,
    db::{Database, StoreError},
    grpc::{App, GrpcService, Running, ServeError, Upstreams},
    kv::RateLimiter,
    outbox::Outbox,
    shutdown::CancellationToken,
};

pub use error::OnboardingError;

/// The component's name in `axv serve` and its Postgres schema / SQLite file.
pub const NAME: &str = "onboarding";
/// The default port of `axv serve onboarding`.
pub const DEFAULT_PORT: u16 = 50051;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects and migrates this service's database.
pub async fn database(platform: &Platform) -> Result<Database, StoreError> {
    let db = Database::connect(&platform.database, NAME).await?;
    db.migrate(&MIGRATOR).await?;
    Ok(db)
}

/// The use cases wired to the platform's shared pieces, plus the outbox relay.
pub struct Onboarding {
    pub service: service::Onboarding,
    pub outbox: Outbox,
    pub db: Database,
    /// Durable revocations, refilled into the cache when it loses them.
    pub revocations: Arc<revocations::DurableRevocations>,
}

pub async fn build(platform: &Platform) -> Result<Onboarding, StoreError> {
    let db = database(platform).await?;
    let outbox = Outbox::default();
    let store = store::Store::new(db.clone(), outbox.clone());
    store.backfill_search_keys().await?;
    let revocations = Arc::new(revocations::DurableRevocations::new(
        store.clone(),
        platform.kv.clone(),
    ));
    let service = service::Onboarding::new(
        store,
        platform.issuer.clone(),
        revocations.clone(),
        RateLimiter::new(platform.kv.clone()),
        platform.refresh_token_ttl,
    );
    Ok(Onboarding {
        service,
        outbox,
        db,
        revocations,
    })
}

/// The services it calls: none.
pub const UPSTREAMS: &[&str] = &[];

/// Migrates, then serves on `listen` until `shutdown`: what `axv serve`, `axv up` and the tests
/// run.
pub async fn spawn(
    platform: &Platform,
    listen: &str,
    _upstreams: &Upstreams,
    shutdown: &CancellationToken,
) -> Result<Running<service::Onboarding>, ServeError> {
    let listener = axv_platform::grpc::bind(listen).await?;
    let app = build(platform).await.map_err(ServeError::build(NAME))?;
    axv_platform::grpc::launch(platform, listener, app, shutdown)
}

impl App for Onboarding {
    type Service = service::Onboarding;

    fn service(&self) -> service::Onboarding {
        self.service.clone()
    }

    /// The gRPC routes, and the relay publishing this service's events until `shutdown`.
    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        self.outbox
            .spawn_relay(self.db.clone(), platform.bus.clone(), shutdown.clone());
        self.revocations.clone().spawn_reseeder(shutdown.clone());
        GrpcService {
            routes: tonic::service::Routes::new(
                grpc::OnboardingGrpc::new(self.service).into_server(),
            ),
            health_names: vec!["axv.onboarding.v1.OnboardingService"],
        }
        .with_audit(self.db, self.outbox, NAME, shutdown)
    }
}
