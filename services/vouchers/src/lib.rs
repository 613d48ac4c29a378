//! `axv-vouchers`: resource pools, programmes, applications, vouchers with a double-entry
//! ledger, and usage metering from the data center, served over gRPC.
//!
//! - `domain`: states, eligibility, accounts and transfers (pure).
//! - `sacct` / `slurm_export`: the Slurm formats (pure).
//! - `store`: SQL for this service's tables; `store::ledger` is the ledger's core.
//! - `service`: the use cases; `grpc`: the tonic mapping.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod sacct;
pub mod service;
pub mod slurm_export;
pub mod store;
pub mod usage_queue;

use axv_platform::calendar::today_kst;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axv_platform::{
    config::Platform,
    db::{Database, StoreError},
    events::{Event, EventHandler},
    grpc::{App, GrpcService, Running, ServeError, Upstreams},
    outbox::Outbox,
    shutdown::CancellationToken,
};

pub use error::VouchersError;

pub const NAME: &str = "vouchers";
pub const DEFAULT_PORT: u16 = 50052;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How often expired holds and vouchers are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How often the pools' gauges are read from the ledger.
const POOL_GAUGES_EVERY: Duration = Duration::from_secs(15);

pub async fn database(platform: &Platform) -> Result<Database, StoreError> {
    let db = Database::connect(&platform.database, NAME).await?;
    db.migrate(&MIGRATOR).await?;
    Ok(db)
}

pub struct VouchersApp {
    pub service: service::Vouchers,
    pub outbox: Outbox,
    pub db: Database,
}

/// Faults a test injects into the company-standing handler, each used up once it happened.
#[derive(Debug, Default)]
pub struct EventFaults {
    /// The next handlings to fail with a transient error.
    pub fail: AtomicU32,
    /// The next handlings to hang for ever, as a process killed between receiving an event and
    /// handling it: the event is never acknowledged by this consumer.
    pub hang: AtomicU32,
}

impl EventFaults {
    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// `onboarding_url`: where company facts and memberships come from; `pilots_url`: where the
/// pilots that applications name are checked.
pub async fn build(
    platform: &Platform,
    onboarding_url: &str,
    pilots_url: &str,
) -> Result<VouchersApp, StoreError> {
    let db = database(platform).await?;
    let outbox = Outbox::default();
    let store = store::Store::new(db.clone(), outbox.clone());
    let channel = axv_platform::grpc::channel(onboarding_url)
        .map_err(|e| StoreError::Config(format!("onboarding URL {onboarding_url:?}: {e}")))?;
    let onboarding =
        axv_proto::onboarding::v1::onboarding_service_client::OnboardingServiceClient::new(channel);
    let channel = axv_platform::grpc::channel(pilots_url)
        .map_err(|e| StoreError::Config(format!("pilots URL {pilots_url:?}: {e}")))?;
    let pilots = axv_proto::pilots::v1::pilots_service_client::PilotsServiceClient::new(channel);
    Ok(VouchersApp {
        service: service::Vouchers::new(store, onboarding, pilots),
        outbox,
        db,
    })
}

/// The services it calls.
pub const UPSTREAMS: &[&str] = &["onboarding", "pilots"];

/// Migrates, then serves on `listen` until `shutdown`: what `axv serve`, `axv up` and the tests
/// run.
pub async fn spawn(
    platform: &Platform,
    listen: &str,
    upstreams: &Upstreams,
    shutdown: &CancellationToken,
) -> Result<Running<service::Vouchers>, ServeError> {
    let listener = axv_platform::grpc::bind(listen).await?;
    let onboarding = upstreams.url(NAME, "onboarding")?;
    let pilots = upstreams.url(NAME, "pilots")?;
    let app = build(platform, onboarding, pilots)
        .await
        .map_err(ServeError::build(NAME))?;
    axv_platform::grpc::launch(platform, listener, app, shutdown)
}

impl App for VouchersApp {
    type Service = service::Vouchers;

    fn service(&self) -> service::Vouchers {
        self.service.clone()
    }

    /// The gRPC routes; the outbox relay, the expiry sweeper and the company-status listener
    /// run until `shutdown`.
    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService {
        platform.bus.declare_group(NAME);
        self.outbox
            .spawn_relay(self.db.clone(), platform.bus.clone(), shutdown.clone());
        spawn_sweeper(self.service.store().clone(), shutdown.clone());
        spawn_pool_gauges(self.service.store().clone(), shutdown.clone());
        let standing = Arc::new(CompanyStanding {
            store: self.service.store().clone(),
            faults: self.service.event_faults().clone(),
        });
        let bus = platform.bus.clone();
        let consumer_shutdown = shutdown.clone();
        tokio::spawn(async move { bus.consume(NAME, standing, consumer_shutdown).await });
        GrpcService {
            routes: tonic::service::Routes::new(
                grpc::VouchersGrpc::new(self.service).into_server(),
            ),
            health_names: vec!["axv.vouchers.v1.VouchersService"],
        }
        .with_audit(self.db.clone(), self.outbox.clone(), NAME, shutdown)
    }
}

/// One pass of what time does to vouchers: holds past their timeout release themselves and
/// vouchers past their validity expire. Returns (holds, vouchers) expired.
pub async fn sweep(store: &store::Store) -> Result<(usize, usize), VouchersError> {
    let holds = store.expire_holds(axv_platform::ids::now_ms()).await?;
    let mut vouchers = 0;
    for id in store.vouchers_due_to_expire(today_kst()).await? {
        match store
            .end_voucher(
                &id,
                domain::VoucherStatus::Expired,
                Some("validity ended"),
                &axv_platform::audit::Actor::system("sweeper"),
            )
            .await
        {
            Ok(()) => vouchers += 1,
            Err(error) => tracing::warn!(voucher = %id, %error, "could not expire voucher"),
        }
    }
    Ok((holds, vouchers))
}

fn spawn_sweeper(store: store::Store, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = sweep(&store).await {
                tracing::warn!(%error, "voucher sweep failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
        }
    });
}

/// Keeps `axv_pool_*` gauges current: one read of the pools' ledger figures per interval.
fn spawn_pool_gauges(store: store::Store, shutdown: CancellationToken) {
    metrics::init();
    tokio::spawn(async move {
        loop {
            match store.pools(None).await {
                Ok(pools) => metrics::set_pools(&pools),
                Err(error) => tracing::warn!(%error, "could not read pool figures for metrics"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POOL_GAUGES_EVERY) => {}
            }
        }
    });
}

/// Freezes a suspended company's vouchers and thaws them on reinstatement, from onboarding's
/// events (each event acted on once; the bus retries a failure and acknowledges only success).
struct CompanyStanding {
    store: store::Store,
    faults: Arc<EventFaults>,
}

#[async_trait::async_trait]
impl EventHandler for CompanyStanding {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        let frozen = match event.kind.as_str() {
            "company.suspended" => true,
            "company.reinstated" => false,
            _ => return Ok(()),
        };
        if EventFaults::take(&self.faults.hang) {
            std::future::pending::<()>().await;
        }
        if EventFaults::take(&self.faults.fail) {
            return Err("injected transient failure".to_owned());
        }
        self.store
            .set_company_frozen(&event.id, &event.subject_id, frozen)
            .await
            .map(|_| ())
            .map_err(|error| format!("could not apply company status to its vouchers: {error}"))
    }
}
