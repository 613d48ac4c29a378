//! `axv-notify`: who must know of what happened. It consumes the platform's events (each once,
//! whatever the replicas and restarts), decides who is concerned (a company's members, the
//! programme's managers), files a message in each person's in-app inbox, and sends it by
//! e-mail: over SMTP, or as `.eml` files under the data directory when no server is set.
//!
//! - `domain` (pure): each event's audience and its words in Korean and English.
//! - `store`: SQL for this service's own tables; `service`: the use cases; `grpc`: the tonic
//!   mapping; `mail`: the e-mail sender; `scheduler`: the daily digests, on one replica at a
//!   time.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod mail;
pub mod reminders;
pub mod scheduler;
pub mod service;
pub mod store;

use std::sync::Arc;

use axv_platform::{
    config::Platform,
    db::{Database, StoreError},
    events::{Event, EventHandler},
    grpc::{App, GrpcService, Running, ServeError, Upstreams},
    outbox::Outbox,
    shutdown::CancellationToken,
};

pub use error::NotifyError;

pub const NAME: &str = "notify";
pub const DEFAULT_PORT: u16 = 50055;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The services it calls: onboarding for people and companies, outcomes and vouchers for the
/// reminders.
pub const UPSTREAMS: &[&str] = &["onboarding", "vouchers", "outcomes"];

pub async fn database(platform: &Platform) -> Result<Database, StoreError> {
    let db = Database::connect(&platform.database, NAME).await?;
    db.migrate(&MIGRATOR).await?;
    Ok(db)
}

pub struct NotifyApp {
    pub service: service::Notify,
    pub outbox: Outbox,
    pub db: Database,
    mailer: mail::Mailer,
    from: lettre::message::Mailbox,
}

/// `upstreams`: where the services it calls answer (see [`UPSTREAMS`]).
pub async fn build(platform: &Platform, upstreams: &Upstreams) -> Result<NotifyApp, StoreError> {
    let db = database(platform).await?;
    let outbox = Outbox::default();
    let store = store::Store::new(db.clone(), outbox.clone());
    let channel = |name: &'static str| {
        let url = upstreams
            .url(NAME, name)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        axv_platform::grpc::channel(url)
            .map_err(|e| StoreError::Config(format!("{name} URL {url:?}: {e}")))
    };
    let upstreams = service::Upstreams {
        onboarding: channel("onboarding")?,
        outcomes: channel("outcomes")?,
        vouchers: channel("vouchers")?,
    };
    let settings = &platform.mail;
    if settings.smtp_url.is_none() {
        tracing::warn!(
            dir = %settings.dir.display(),
            "no SMTP server (AXV_SMTP_URL): e-mail is written as .eml files, not sent"
        );
    }
    let mailer = mail::Mailer::new(
        settings.smtp_url.as_ref().map(|url| url.expose()),
        settings.dir.clone(),
    )
    .map_err(StoreError::Config)?;
    let from = settings
        .from
        .parse()
        .map_err(|e| StoreError::Config(format!("AXV_MAIL_FROM {:?}: {e}", settings.from)))?;
    Ok(NotifyApp {
        service: service::Notify::new(
            store,
            upstreams,
            platform.issuer.clone(),
            settings.public_url.clone(),
        ),
        outbox,
        db,
        mailer,
        from,
    })
}

/// Migrates, then serves on `listen` until `shutdown`: what `axv serve`, `axv up` and the tests
/// run.
pub async fn spawn(
    platform: &Platform,
    listen: &str,
    upstreams: &Upstreams,
    shutdown: &CancellationToken,
) -> Result<Running<service::Notify>, ServeError> {
    let listener = axv_platform::grpc::bind(listen).await?;
    let app = build(platform, upstreams)
        .await
        .map_err(ServeError::build(NAME))?;
    axv_platform::grpc::launch(platform, listener, app, shutdown)
}

/// Files each event's messages (see [`service::Notify::handle`]).
struct Notifier {
    service: service::Notify,
}

#[async_trait::async_trait]
impl EventHandler for Notifier {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        self.service
            .handle(event)
            .await
            .map(|_| ())
            .map_err(|error| format!("could not notify: {error}"))
    }
}

impl App for NotifyApp {
    type Service = service::Notify;

    fn service(&self) -> service::Notify {
        self.service.clone()
    }

    /// The gRPC routes; the event consumer and the e-mail sender run until `shutdown`.
    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        platform.bus.declare_group(NAME);
        let bus = platform.bus.clone();
        let notifier = Arc::new(Notifier {
            service: self.service.clone(),
        });
        let consuming = shutdown.clone();
        tokio::spawn(async move { bus.consume(NAME, notifier, consuming).await });
        scheduler::spawn(self.service.clone(), shutdown.clone());
        mail::spawn_sender(
            self.service.store().clone(),
            self.mailer,
            self.from,
            self.service.wake.clone(),
            shutdown,
        );
        GrpcService {
            routes: tonic::service::Routes::new(grpc::NotifyGrpc::new(self.service).into_server()),
            health_names: vec!["axv.notify.v1.NotifyService"],
        }
    }
}
