//! `axv-outcomes`: outcome reports per pilot and period, and the programme's aggregate figures
//! with small-group suppression, served over gRPC.
//!
//! - `domain` (pure): the report state machine and versioning, reporting periods, the figures'
//!   rules, and aggregation whose public figures resist the subtraction attack.
//! - `store`: SQL for this service's own tables.
//! - `service`: the use cases; `grpc`: the tonic mapping.
//! - `releases`: the public figures come only from releases, whose held revisions keep any two
//!   public answers from differing by fewer than three firms' figures.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod releases;
pub mod service;
pub mod stats;
pub mod store;

use axv_platform::{
    config::Platform,
    db::{Database, StoreError},
    events::{Event, EventHandler, SharedBus},
    grpc::{App, GrpcService, Running, ServeError, Upstreams},
    outbox::Outbox,
    shutdown::CancellationToken,
};
use std::sync::Arc;

pub use error::ReportsError;

pub const NAME: &str = "outcomes";
pub const DEFAULT_PORT: u16 = 50054;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
        )
        .with_issuer(platform.issuer.clone()),
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
}

/// The services it calls.
pub const UPSTREAMS: &[&str] = &["onboarding", "pilots", "vouchers"];

/// Migrates, then serves on `listen` until `shutdown`: what `axv serve`, `axv up` and the tests
/// run.
pub async fn spawn(
    platform: &Platform,
    listen: &str,
    upstreams: &Upstreams,
    shutdown: &CancellationToken,
) -> Result<Running<service::Outcomes>, ServeError> {
    let listener = axv_platform::grpc::bind(listen).await?;
    let onboarding = upstreams.url(NAME, "onboarding")?;
    let pilots = upstreams.url(NAME, "pilots")?;
    let vouchers = upstreams.url(NAME, "vouchers")?;
    let app = build(platform, onboarding, pilots)
        .await
        .and_then(|app| app.with_vouchers(vouchers))
        .map_err(ServeError::build(NAME))?;
    axv_platform::grpc::launch(platform, listener, app, shutdown)
}

impl App for OutcomesApp {
    type Service = service::Outcomes;

    fn service(&self) -> service::Outcomes {
        self.service.clone()
    }

    /// The gRPC routes; the outbox relay and the pilot listener run until `shutdown`.
    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        platform.bus.declare_group(NAME);
        self.outbox
            .spawn_relay(self.db.clone(), platform.bus.clone(), shutdown.clone());
        spawn_pilot_listener(
            self.service.store().clone(),
            platform.bus.clone(),
            shutdown.clone(),
        );
        if platform.release_days_after_quarter > 0 {
            releases::service::spawn_calendar(
                self.service.clone(),
                platform.release_days_after_quarter,
                shutdown.clone(),
            );
        }
        spawn_pilot_sync(self.service.clone(), shutdown.clone());
        GrpcService {
            routes: tonic::service::Routes::new(
                grpc::OutcomesGrpc::new(self.service).into_server(),
            ),
            health_names: vec!["axv.outcomes.v1.OutcomesService"],
        }
        .with_audit(self.db, self.outbox, NAME, shutdown)
    }
}

/// What a pilot event says of the pilot: its schedule and new status. `None` for events that
/// are not about pilots or lack the schedule (from a pilots service older than this one).
pub fn pilot_from_event(event: &Event) -> Option<(domain::PilotSchedule, String)> {
    if !event.kind.starts_with("pilot.") {
        return None;
    }
    let text = |key: &str| event.payload.get(key).and_then(|v| v.as_str());
    let day =
        |key: &str| text(key).and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
    let status = match (event.kind.as_str(), text("to")) {
        (_, Some(to)) => to.to_owned(),
        ("pilot.registered", None) => "DRAFT".to_owned(),
        _ => return None,
    };
    Some((
        domain::PilotSchedule {
            pilot_id: event.subject_id.clone(),
            company_id: text("leadCompanyId")?.to_owned(),
            title: text("title").unwrap_or_default().to_owned(),
            starts_on: day("startsOn")?,
            ends_on: day("endsOn")?,
        },
        status,
    ))
}

/// Keeps the schedule of pilots (and so the reports they owe) from the pilots service's
/// events. Replays are harmless: an event older than the stored one changes nothing.
struct PilotSchedules {
    store: store::Store,
}

#[async_trait::async_trait]
impl EventHandler for PilotSchedules {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        let Some((schedule, status)) = pilot_from_event(event) else {
            return Ok(());
        };
        self.store
            .record_pilot(&schedule, &status, event.occurred_at_ms)
            .await
            .map_err(|error| format!("could not record the pilot's schedule: {error}"))
    }
}

fn spawn_pilot_listener(store: store::Store, bus: SharedBus, shutdown: CancellationToken) {
    tokio::spawn(async move {
        bus.consume(NAME, Arc::new(PilotSchedules { store }), shutdown)
            .await;
    });
}

/// Catches up on pilots once at start (retrying while the pilots service is not up yet); the
/// listener keeps the schedule current from then on.
fn spawn_pilot_sync(service: service::Outcomes, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_millis(200);
        loop {
            match service.sync_pilots().await {
                Ok(count) => {
                    tracing::info!(count, "pilot schedules synchronized");
                    return;
                }
                Err(error) => tracing::warn!(%error, "pilot schedules not synchronized yet"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(std::time::Duration::from_secs(30));
        }
    });
}
