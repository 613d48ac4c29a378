//! `axv-documents`: the papers a programme runs on. Files attached to a company, a voucher
//! application, a pilot, a milestone or an outcome report: metadata in this service's tables,
//! bytes in object storage (a directory under the data directory, or S3). Who may read a
//! document is exactly who sees its parent in full, asked of the service that owns the parent
//! with the caller's own token.
//!
//! - `domain` (pure): file types from bytes, file names, who may attach and delete when.
//! - `parents`: the parent as its owner shows it to the caller.
//! - `store`: SQL; `storage`: the bytes; `scanner`: the malware scanner hook.
//! - `service`: the use cases; `grpc`: the tonic mapping; `sweeper`: deleted bytes purged after
//!   the retention period, scans retried.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod parents;
pub mod scanner;
pub mod service;
pub mod storage;
pub mod store;
pub mod sweeper;

use axv_platform::{
    config::Platform,
    db::{Database, StoreError},
    grpc::{App, GrpcService, Running, ServeError, Upstreams},
    shutdown::CancellationToken,
};

pub use error::DocumentsError;

pub const NAME: &str = "documents";
pub const DEFAULT_PORT: u16 = 50056;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The services that own documents' parents.
pub const UPSTREAMS: &[&str] = &["onboarding", "pilots", "vouchers", "outcomes"];

pub async fn database(platform: &Platform) -> Result<Database, StoreError> {
    let db = Database::connect(&platform.database, NAME).await?;
    db.migrate(&MIGRATOR).await?;
    Ok(db)
}

pub struct DocumentsApp {
    pub service: service::Documents,
    db: Database,
    outbox: axv_platform::outbox::Outbox,
}

/// `upstreams`: where the services it calls answer (see [`UPSTREAMS`]).
pub async fn build(platform: &Platform, upstreams: &Upstreams) -> Result<DocumentsApp, StoreError> {
    let db = database(platform).await?;
    let channel = |name: &'static str| {
        let url = upstreams
            .url(NAME, name)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        axv_platform::grpc::channel(url)
            .map_err(|e| StoreError::Config(format!("{name} URL {url:?}: {e}")))
    };
    use axv_proto::{
        onboarding::v1::onboarding_service_client::OnboardingServiceClient,
        outcomes::v1::outcomes_service_client::OutcomesServiceClient,
        pilots::v1::pilots_service_client::PilotsServiceClient,
        vouchers::v1::vouchers_service_client::VouchersServiceClient,
    };
    let parents = parents::Parents {
        onboarding: OnboardingServiceClient::new(channel("onboarding")?),
        vouchers: VouchersServiceClient::new(channel("vouchers")?),
        pilots: PilotsServiceClient::new(channel("pilots")?),
        outcomes: OutcomesServiceClient::new(channel("outcomes")?),
    };
    let settings = &platform.documents;
    let storage = storage::Storage::open(settings).map_err(StoreError::Config)?;
    let scanner = settings
        .scanner
        .as_deref()
        .map(scanner::Scanner::parse)
        .transpose()
        .map_err(StoreError::Config)?;
    tracing::info!(location = %storage.location, scanner = scanner.is_some(), "documents stored");
    Ok(DocumentsApp {
        db: db.clone(),
        outbox: axv_platform::outbox::Outbox::default(),
        service: service::Documents::new(
            store::Store::new(db),
            storage,
            parents,
            service::Settings {
                limits: domain::Limits {
                    max_file_bytes: settings.max_file_bytes,
                    max_parent_bytes: settings.max_parent_bytes,
                },
                retention: settings.retention,
                scanner,
            },
        ),
    })
}

/// Migrates, then serves on `listen` until `shutdown`: what `axv serve`, `axv up` and the tests
/// run.
pub async fn spawn(
    platform: &Platform,
    listen: &str,
    upstreams: &Upstreams,
    shutdown: &CancellationToken,
) -> Result<Running<service::Documents>, ServeError> {
    let listener = axv_platform::grpc::bind(listen).await?;
    let app = build(platform, upstreams)
        .await
        .map_err(ServeError::build(NAME))?;
    axv_platform::grpc::launch(platform, listener, app, shutdown)
}

impl App for DocumentsApp {
    type Service = service::Documents;

    fn service(&self) -> service::Documents {
        self.service.clone()
    }

    /// The gRPC routes; the sweeper and the outbox relay run until `shutdown`.
    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        sweeper::spawn(self.service.clone(), shutdown.clone());
        self.outbox
            .spawn_relay(self.db.clone(), platform.bus.clone(), shutdown.clone());
        GrpcService {
            routes: tonic::service::Routes::new(
                grpc::DocumentsGrpc::new(self.service).into_server(),
            ),
            health_names: vec!["axv.documents.v1.DocumentsService"],
        }
        .with_audit(self.db, self.outbox, NAME, shutdown)
    }
}
