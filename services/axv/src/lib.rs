//! What the `axv` binary composes: the components, how `axv up` runs them all in one process
//! (each a real gRPC server on its own loopback port, the gateway a real gRPC client), and the
//! demo data.

pub mod check;
pub mod components;
pub mod demo;

pub mod probe;
pub mod usage_push;

use std::net::SocketAddr;

use anyhow::Context;
use axv_gateway::{Limits, ServiceUrls, rate_limit::RateLimits};
use axv_platform::{
    config::Platform,
    grpc::{RunningServer, ServeError, Upstreams},
    shutdown::CancellationToken,
};

/// GraphQL limits and switches, as flags and `AXV_GRAPHQL_*` variables.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphqlArgs {
    /// Whether the schema can be introspected (and field suggestions given).
    #[arg(long, env = "AXV_GRAPHQL_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphql_introspection: bool,
    #[arg(long, env = "AXV_GRAPHQL_MAX_DEPTH", default_value_t = 12, value_parser = clap::value_parser!(u16).range(2..=64))]
    pub graphql_max_depth: u16,
    #[arg(long, env = "AXV_GRAPHQL_MAX_COMPLEXITY", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    pub graphql_max_complexity: u32,
    #[arg(long, env = "AXV_GRAPHQL_MAX_ALIASES", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub graphql_max_aliases: u16,
    #[arg(long, env = "AXV_GRAPHQL_MAX_BATCH", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub graphql_max_batch: u16,
    /// Per-minute budgets as `ROLE=REQUESTS/COST` pairs (and `ADDRESS=...` for each client
    /// address), overriding the defaults, e.g. `DASHBOARD=6000/2000000,ADDRESS=600/200000`.
    #[arg(long, env = "AXV_RATE_LIMITS", default_value = "", value_parser = parse_rate_limits)]
    pub rate_limits: RateLimits,
    /// Requests served at once; more get 503 at once instead of waiting in a queue.
    #[arg(long, env = "AXV_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,
    /// Browser origins allowed to call the API, comma-separated (CORS).
    #[arg(long, env = "AXV_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// `automatic` (Apollo's automatic persisted queries) or `safelist` (only the manifest's
    /// operations run).
    #[arg(long, env = "AXV_PERSISTED_QUERIES", default_value = "automatic", value_parser = ["automatic", "safelist"])]
    pub persisted_queries: String,
    /// The persisted query manifest: Apollo's `{"operations": [{"id", "body"}]}` or a
    /// `{"<sha256>": "<query>"}` map. Required for `safelist`.
    #[arg(long, env = "AXV_PERSISTED_QUERIES_FILE")]
    pub persisted_queries_file: Option<std::path::PathBuf>,
    /// A secret shared by the gateway and a separately run console (`axv serve console`): the
    /// console sends it with each call so the gateway counts the console's visitors by their
    /// own addresses. `axv up` makes one itself.
    #[arg(long, env = "AXV_CONSOLE_RELAY_KEY", hide_env_values = true)]
    pub console_relay_key: Option<String>,
}

fn parse_rate_limits(text: &str) -> Result<RateLimits, String> {
    RateLimits::default().with_overrides(text)
}

impl Default for GraphqlArgs {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            graphql_introspection: limits.introspection,
            graphql_max_depth: limits.max_depth as u16,
            graphql_max_complexity: limits.max_complexity as u32,
            graphql_max_aliases: limits.max_aliases as u16,
            graphql_max_batch: limits.max_batch as u16,
            rate_limits: limits.rate_limits,
            max_in_flight: u32::try_from(limits.max_in_flight).unwrap_or(u32::MAX),
            cors_origins: limits.cors_origins,
            persisted_queries: "automatic".to_owned(),
            persisted_queries_file: None,
            console_relay_key: None,
        }
    }
}

impl GraphqlArgs {
    /// The gateway's limits; a manifest that cannot be read, or safelist mode without one,
    /// fails naming the setting.
    pub fn limits(&self) -> anyhow::Result<Limits> {
        let safelist = self.persisted_queries == "safelist";
        let manifest = match &self.persisted_queries_file {
            Some(path) => axv_gateway::persisted::load_manifest(path)
                .map_err(|e| anyhow::anyhow!("AXV_PERSISTED_QUERIES_FILE: {e}"))?,
            None if safelist => anyhow::bail!(
                "AXV_PERSISTED_QUERIES=safelist needs AXV_PERSISTED_QUERIES_FILE (the operations that may run)"
            ),
            None => Default::default(),
        };
        Ok(Limits {
            max_depth: usize::from(self.graphql_max_depth),
            max_complexity: self.graphql_max_complexity as usize,
            max_aliases: usize::from(self.graphql_max_aliases),
            max_batch: usize::from(self.graphql_max_batch),
            introspection: self.graphql_introspection,
            rate_limits: self.rate_limits.clone(),
            max_in_flight: self.max_in_flight as usize,
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            persisted_queries: if safelist {
                axv_gateway::persisted::Mode::Safelist
            } else {
                axv_gateway::persisted::Mode::Automatic
            },
            persisted_manifest: manifest,
            console_relay_key: self
                .console_relay_key
                .clone()
                .filter(|key| !key.trim().is_empty()),
            // Set from the documents settings where the gateway starts (`start_gateway`).
            ..Limits::default()
        })
    }
}

/// `axv stats check-disclosure`: checks the releases numbered `numbers` (all when empty)
/// pairwise in the outcomes database; returns the releases checked and what it found.
pub async fn check_disclosure(
    platform: &Platform,
    numbers: &[i64],
) -> anyhow::Result<(
    Vec<i64>,
    Vec<axv_outcomes::releases::service::PairDisclosure>,
)> {
    let db = axv_outcomes::database(platform)
        .await
        .context("outcomes database")?;
    let store = axv_outcomes::store::Store::new(db, axv_platform::outbox::Outbox::default());
    let found = axv_outcomes::releases::service::check_published(&store.releases(), numbers)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.database().clone().close().await;
    Ok(found)
}

/// `axv audit verify`: walks every service's audit chain; each service's name and what its
/// walk found.
pub async fn verify_audit(
    platform: &Platform,
) -> anyhow::Result<Vec<(&'static str, axv_platform::audit::Verification)>> {
    let mut found = Vec::new();
    for service in axv_platform::audit::AUDITED_SERVICES {
        let db = audited_database(platform, service).await?;
        let verification = axv_platform::audit::verify(&db)
            .await
            .with_context(|| format!("reading the {service} audit chain"))?;
        db.close().await;
        found.push((*service, verification));
    }
    Ok(found)
}

/// `axv audit head`: each service's chain head.
pub async fn audit_heads(
    platform: &Platform,
) -> anyhow::Result<Vec<(&'static str, axv_platform::audit::Head)>> {
    let mut heads = Vec::new();
    for service in axv_platform::audit::AUDITED_SERVICES {
        let db = audited_database(platform, service).await?;
        let head = axv_platform::audit::head(&db)
            .await
            .with_context(|| format!("reading the {service} audit chain's head"))?;
        db.close().await;
        heads.push((*service, head));
    }
    Ok(heads)
}

/// A service's database as it is: reading the trail never migrates it.
async fn audited_database(
    platform: &Platform,
    service: &str,
) -> anyhow::Result<axv_platform::db::Database> {
    axv_platform::db::Database::connect(&platform.database, service)
        .await
        .with_context(|| format!("{service} database"))
}

/// Prometheus' `/metrics` (and `/healthz`) on a listener of their own. They are never on the
/// public HTTP port: pool names, capacities, consumption and operation names are for the
/// operators' monitoring, not for whoever reaches the ingress.
pub struct RunningMetrics {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn start_metrics(
    listen: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<RunningMetrics> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("AXV_METRICS_LISTEN: cannot bind {listen}"))?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    axv_telemetry::metrics::render(),
                )
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    Ok(RunningMetrics { addr, task })
}

pub struct RunningGateway {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The web console served on the gateway's own listener (one origin for pages and API).
#[derive(Debug, Clone, Copy)]
pub struct ConsoleOnGateway {
    /// People reach it over TLS: its session cookie is `__Host-` and Secure.
    pub secure: bool,
}

/// Where a console beside a gateway bound at `addr` reaches its GraphQL: over loopback when
/// the gateway listens on every address.
pub fn graphql_url_of(addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    format!("http://{host}/graphql")
}

pub async fn start_gateway(
    platform: &Platform,
    listen: &str,
    urls: &ServiceUrls,
    limits: Limits,
    console: Option<ConsoleOnGateway>,
    shutdown: &CancellationToken,
) -> anyhow::Result<RunningGateway> {
    let mut limits = limits;
    // The console on the same listener relays its visitors under a key made now, unless one
    // was configured (a separate console shares it).
    if console.is_some() && limits.console_relay_key.is_none() {
        limits.console_relay_key = Some(axv_auth::new_refresh_secret().token);
    }
    limits.max_upload_bytes = platform.documents.max_file_bytes;
    let relay_key = limits.console_relay_key.clone();
    let stats = axv_gateway::cache::ResponseCache::new(
        platform.kv.clone(),
        axv_gateway::cache::ResponseCache::DEFAULT_TTL,
    );
    let events = axv_gateway::events::EventHub::start(platform.bus.clone(), shutdown.clone());
    stats.spawn_invalidator(&events, shutdown.clone());
    let state = axv_gateway::AppState::new(
        urls,
        platform.verifier.clone(),
        limits,
        stats,
        platform.kv.clone(),
        events,
    )
    .context("service URLs")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen: cannot bind {listen}"))?;
    let addr = listener.local_addr()?;
    let pages = console.map(|console| {
        axv_console::router(
            axv_console::Console::new(
                graphql_url_of(addr),
                platform.kv.clone(),
                console.secure,
                relay_key,
            )
            .with_max_upload(platform.documents.max_file_bytes),
        )
    });
    let task = tokio::spawn(axv_gateway::serve_with(
        listener,
        state,
        pages,
        shutdown.clone(),
    ));
    Ok(RunningGateway { addr, task })
}

/// `axv serve console`: the web console alone on `listen`, a client of the gateway at
/// `graphql_url`.
pub async fn start_console(
    platform: &Platform,
    listen: &str,
    graphql_url: &str,
    secure: bool,
    relay_key: Option<String>,
    shutdown: &CancellationToken,
) -> anyhow::Result<RunningGateway> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("console listen address {listen}"))?;
    let addr = listener.local_addr()?;
    let app = axv_console::router(
        axv_console::Console::new(graphql_url, platform.kv.clone(), secure, relay_key)
            .with_max_upload(platform.documents.max_file_bytes),
    )
    .layer(axum::middleware::from_fn(axv_telemetry::http_middleware));
    let shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(
            axv_gateway::accept_with_nodelay(listener),
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    });
    Ok(RunningGateway { addr, task })
}

/// Every component in one process.
pub struct RunningPlatform {
    pub gateway: RunningGateway,
    /// The gRPC services, in starting order.
    pub services: Vec<(&'static str, RunningServer)>,
}

impl RunningPlatform {
    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.gateway.addr)
    }

    /// The running service named `name`.
    pub fn service(&self, name: &str) -> Option<&RunningServer> {
        self.services
            .iter()
            .find(|(running, _)| *running == name)
            .map(|(_, server)| server)
    }

    /// Where each service is reached, by name.
    pub fn upstreams(&self) -> Upstreams {
        self.services
            .iter()
            .map(|(name, server)| (*name, server.url()))
            .collect()
    }

    /// Waits until every component has shut down.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.gateway
            .task
            .await
            .context("gateway task")?
            .context("gateway")?;
        for (name, server) in self.services {
            server
                .task
                .await
                .with_context(|| format!("{name} task"))?
                .with_context(|| name.to_owned())?;
        }
        Ok(())
    }
}

/// Starts `services` on free loopback ports in order, each told where the ones before it are.
pub async fn start_services(
    platform: &Platform,
    services: &[&components::Service],
    shutdown: &CancellationToken,
) -> Result<Vec<(&'static str, components::Started)>, ServeError> {
    let mut upstreams = Upstreams::default();
    let mut running = Vec::with_capacity(services.len());
    for service in services {
        let started = (service.spawn)(platform, "127.0.0.1:0", &upstreams, shutdown).await?;
        upstreams.insert(service.name, started.server.url());
        running.push((service.name, started));
    }
    Ok(running)
}

/// `axv up`: every service on its own loopback port, the gateway on `listen`.
pub async fn start_all(
    platform: &Platform,
    listen: &str,
    limits: Limits,
    shutdown: &CancellationToken,
) -> anyhow::Result<RunningPlatform> {
    // The consumer groups keep events from before their listeners first run: onboarding's and
    // the pilots' relays publish what their outboxes still hold as soon as they start.
    for group in [axv_vouchers::NAME, axv_outcomes::NAME] {
        platform.bus.declare_group(group);
    }
    let all: Vec<_> = components::SERVICES.iter().collect();
    let services: Vec<_> = start_services(platform, &all, shutdown)
        .await?
        .into_iter()
        .map(|(name, started)| (name, started.server))
        .collect();
    let urls = ServiceUrls::from_upstreams(
        &services
            .iter()
            .map(|(name, server)| (*name, server.url()))
            .collect(),
    )?;
    // One origin for the console's pages and the API.
    let console = Some(ConsoleOnGateway { secure: false });
    let gateway = start_gateway(platform, listen, &urls, limits, console, shutdown).await?;
    Ok(RunningPlatform { gateway, services })
}

/// Seeds the demo data through the services' libraries (the same rules as the API).
/// Adds a staff account as the installation itself (the local `axv staff add`, which can
/// reach the database): the account and its temporary password.
pub async fn add_staff(
    platform: &Platform,
    email: &str,
    name: &str,
    role: axv_auth::Role,
) -> anyhow::Result<(axv_onboarding::store::UserRecord, String)> {
    let onboarding = axv_onboarding::build(platform)
        .await
        .context("onboarding database")?;
    let installation = axv_auth::Caller {
        // The installation itself: its audit entry names the command, not a person.
        subject: "system:cli".to_owned(),
        role: axv_auth::Role::Admin,
        company_ids: vec![],
        token_id: String::new(),
        expires_at: 0,
        issuer: "axv-cli".to_owned(),
        raw_token: std::sync::Arc::from(""),
    };
    Ok(onboarding
        .service
        .create_staff_account(Some(&installation), email, name, Some(role))
        .await?)
}

/// What seeding the demo did: companies created, and a sacct file of the demo's vouchers for
/// trying the operators' upload.
pub struct DemoSeeded {
    pub companies: usize,
    pub sample_sacct: String,
}

pub async fn seed_demo(platform: &Platform) -> anyhow::Result<DemoSeeded> {
    // Nobody is told of the seeded past, even by a notify service already running (compose):
    // quiet while seeding, then from the end of it.
    let notify_db = axv_notify::database(platform)
        .await
        .context("notify database")?;
    let notify = axv_notify::store::Store::new(notify_db, axv_platform::outbox::Outbox::default());
    notify
        .set_quiet_before(i64::MAX)
        .await
        .map_err(|e| anyhow::anyhow!("quieting notifications while seeding: {e}"))?;
    let onboarding = axv_onboarding::build(platform)
        .await
        .context("onboarding database")?;
    let companies = demo::seed(&onboarding.service).await?;
    let cast = demo::cast(&onboarding.service).await?;
    let pilots_db = axv_pilots::database(platform)
        .await
        .context("pilots database")?;
    let pilots = axv_pilots::store::Store::new(pilots_db, axv_platform::outbox::Outbox::default());
    let linked = demo::seed_pilots(&pilots, &onboarding.service, &cast)
        .await
        .map_err(|e| anyhow::anyhow!("seeding pilots: {e}"))?;
    let vouchers_db = axv_vouchers::database(platform)
        .await
        .context("vouchers database")?;
    let store =
        axv_vouchers::store::Store::new(vouchers_db, axv_platform::outbox::Outbox::default());
    demo::seed_vouchers(&store, &onboarding.service, &linked, &cast)
        .await
        .map_err(|e| anyhow::anyhow!("seeding vouchers: {e}"))?;
    let outcomes_db = axv_outcomes::database(platform)
        .await
        .context("outcomes database")?;
    let outcomes =
        axv_outcomes::store::Store::new(outcomes_db, axv_platform::outbox::Outbox::default());
    demo::outcomes::seed_outcomes(&outcomes, &pilots, &cast)
        .await
        .map_err(|e| anyhow::anyhow!("seeding outcome reports: {e}"))?;
    let sample_sacct = demo::sample_sacct(&store)
        .await
        .map_err(|e| anyhow::anyhow!("writing the sample sacct file: {e}"))?;
    // The seeded past is history: nobody is told of it, by inbox or by e-mail; what people do
    // from now on is.
    notify
        .set_quiet_before(axv_platform::ids::now_ms())
        .await
        .map_err(|e| anyhow::anyhow!("marking the demo's past as history: {e}"))?;
    Ok(DemoSeeded {
        companies,
        sample_sacct,
    })
}
