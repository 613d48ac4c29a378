//! `axv`: the one AX Valley binary. It only parses flags and composes the libraries (the
//! pattern of Loki/Mimir's `-target`): `axv up` runs everything in one process, `axv serve
//! <component>...` runs the named components as each Kubernetes Deployment does.

use std::process::ExitCode;

use anyhow::Context;
use axv::GraphqlArgs;
use axv_auth::Role;
use axv_gateway::ServiceUrls;
use axv_platform::{config::PlatformArgs, shutdown::CancellationToken};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "axv",
    version,
    about = "The AX Valley platform: compute vouchers, pilots and outcomes for Gwangju's AI demonstration valley"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole platform in one process: every service and the GraphQL gateway.
    Up(UpArgs),
    /// Run the named components only (one per Kubernetes Deployment).
    Serve(Box<ServeArgs>),
    /// Apply every component's database migrations, then exit.
    Migrate(MigrateArgs),
    /// Load data into the database.
    Seed(SeedArgs),
    /// Mint an access token with the embedded default's signing key, for local use.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL) the gateway serves.
    Schema,
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Seed demo data (idempotently) and print demo logins.
    #[arg(long)]
    demo: bool,
    /// Where the gateway serves HTTP (GraphQL at /graphql).
    #[arg(long, env = "AXV_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    graphql: GraphqlArgs,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Component {
    Onboarding,
    Vouchers,
    Pilots,
    Outcomes,
    Gateway,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Components to run in this process.
    #[arg(required = true, value_enum)]
    components: Vec<Component>,
    /// The address of the one component served (gRPC for a service, HTTP for the gateway);
    /// overrides the per-component addresses below.
    #[arg(long, env = "AXV_LISTEN")]
    listen: Option<String>,
    /// onboarding's gRPC address.
    #[arg(long, env = "AXV_ONBOARDING_LISTEN", default_value = "0.0.0.0:50051")]
    onboarding_listen: String,
    /// The gateway's HTTP address.
    #[arg(long, env = "AXV_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    http_listen: String,
    /// The vouchers service's gRPC address.
    #[arg(long, env = "AXV_VOUCHERS_LISTEN", default_value = "0.0.0.0:50052")]
    vouchers_listen: String,
    /// The pilot registry's gRPC address.
    #[arg(long, env = "AXV_PILOTS_LISTEN", default_value = "0.0.0.0:50053")]
    pilots_listen: String,
    /// Where the gateway and the vouchers service reach the pilot registry.
    #[arg(long, env = "AXV_PILOTS_URL", default_value = "http://127.0.0.1:50053")]
    pilots_url: String,
    /// The outcomes reports service's gRPC address.
    #[arg(long, env = "AXV_OUTCOMES_LISTEN", default_value = "0.0.0.0:50054")]
    outcomes_listen: String,
    /// Where the gateway reaches the outcomes reports service.
    #[arg(
        long,
        env = "AXV_OUTCOMES_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    outcomes_url: String,
    /// Where the gateway reaches the vouchers service.
    #[arg(
        long,
        env = "AXV_VOUCHERS_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    vouchers_url: String,
    /// Where the gateway and the other services reach onboarding.
    #[arg(
        long,
        env = "AXV_ONBOARDING_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    onboarding_url: String,
    /// `/metrics` and `/healthz` of gRPC-only processes.
    #[arg(long, env = "AXV_METRICS_LISTEN", default_value = "0.0.0.0:9464")]
    metrics_listen: String,
    /// Validate the configuration, connect nothing, and exit.
    #[arg(long)]
    check_config: bool,
    #[command(flatten)]
    graphql: GraphqlArgs,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// Demo firms in every application state, with demo logins.
    #[arg(long, required = true)]
    demo: bool,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// FIRM_MEMBER, PROGRAM_MANAGER, OPERATOR, DASHBOARD or ADMIN.
    #[arg(long)]
    role: Role,
    /// Company ids the token names (firm members).
    #[arg(long)]
    company: Vec<String>,
    /// The token's subject; a fresh id by default.
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = match axv_telemetry::init("axv") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("axv: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Up(args) => up(args).await,
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Seed(args) => seed(args).await,
        Command::Token(args) => token(args).await,
        Command::Schema => {
            print!("{}", axv_gateway::schema::sdl());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axv: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    if args.demo {
        let created = axv::seed_demo(&platform)
            .await
            .context("seeding demo data")?;
        tracing::info!(created, "demo data seeded");
    }
    let shutdown = CancellationToken::new();
    axv_platform::shutdown::cancel_on_signal(shutdown.clone());
    let running =
        axv::start_all(&platform, &args.listen, args.graphql.limits()?, &shutdown).await?;
    let storage = if args.platform.database_url.is_some() {
        "Postgres".to_owned()
    } else {
        format!("SQLite under {}", args.platform.data_dir.display())
    };
    println!("AX Valley platform is up ({storage}).");
    println!(
        "  GraphQL (and GraphiQL in a browser): {}",
        running.graphql_url()
    );
    println!("  onboarding gRPC: {}", running.onboarding.url());
    println!("  vouchers gRPC:   {}", running.vouchers.url());
    println!("  pilots gRPC:     {}", running.pilots.url());
    println!("  outcomes gRPC:   {}", running.outcomes.url());
    if args.demo {
        println!("  demo logins (password {}):", axv::demo::DEMO_PASSWORD);
        println!("    firm member:       {}", axv::demo::FIRM_EMAIL);
        println!("    programme manager: {}", axv::demo::MANAGER_EMAIL);
        println!("    admin:             {}", axv::demo::ADMIN_EMAIL);
    }
    println!("Ctrl-C stops it.");
    running.wait().await
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    if args.check_config {
        println!("configuration is valid");
        return Ok(());
    }
    if args.listen.is_some() && args.components.len() > 1 {
        anyhow::bail!(
            "--listen (AXV_LISTEN) names one address; with several components use the per-component flags"
        );
    }
    let onboarding_listen = args
        .listen
        .clone()
        .unwrap_or_else(|| args.onboarding_listen.clone());
    let http_listen = args
        .listen
        .clone()
        .unwrap_or_else(|| args.http_listen.clone());
    let vouchers_listen = args
        .listen
        .clone()
        .unwrap_or_else(|| args.vouchers_listen.clone());
    let pilots_listen = args
        .listen
        .clone()
        .unwrap_or_else(|| args.pilots_listen.clone());
    let outcomes_listen = args
        .listen
        .clone()
        .unwrap_or_else(|| args.outcomes_listen.clone());
    let shutdown = CancellationToken::new();
    axv_platform::shutdown::cancel_on_signal(shutdown.clone());
    let mut tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>> = Vec::new();
    let mut has_http = false;
    for component in &args.components {
        match component {
            Component::Onboarding => {
                let server =
                    axv::start_onboarding(&platform, &onboarding_listen, &shutdown).await?;
                println!("onboarding gRPC listening on {}", server.addr);
                tasks.push(tokio::spawn(async move { Ok(server.task.await??) }));
            }
            Component::Vouchers => {
                let server = axv::start_vouchers(
                    &platform,
                    &vouchers_listen,
                    &args.onboarding_url,
                    &args.pilots_url,
                    &shutdown,
                )
                .await?;
                println!("vouchers gRPC listening on {}", server.addr);
                tasks.push(tokio::spawn(async move { Ok(server.task.await??) }));
            }
            Component::Pilots => {
                let server =
                    axv::start_pilots(&platform, &pilots_listen, &args.onboarding_url, &shutdown)
                        .await?;
                println!("pilots gRPC listening on {}", server.addr);
                tasks.push(tokio::spawn(async move { Ok(server.task.await??) }));
            }
            Component::Outcomes => {
                let server = axv::start_outcomes(
                    &platform,
                    &outcomes_listen,
                    &args.onboarding_url,
                    &args.pilots_url,
                    &args.vouchers_url,
                    &shutdown,
                )
                .await?;
                println!("outcomes gRPC listening on {}", server.addr);
                tasks.push(tokio::spawn(async move { Ok(server.task.await??) }));
            }
            Component::Gateway => {
                has_http = true;
                let urls = ServiceUrls {
                    onboarding: args.onboarding_url.clone(),
                    vouchers: args.vouchers_url.clone(),
                    pilots: args.pilots_url.clone(),
                    outcomes: args.outcomes_url.clone(),
                };
                let gateway = axv::start_gateway(
                    &platform,
                    &http_listen,
                    &urls,
                    args.graphql.limits()?,
                    &shutdown,
                )
                .await?;
                println!("gateway listening on http://{}/graphql", gateway.addr);
                tasks.push(tokio::spawn(async move { Ok(gateway.task.await??) }));
            }
        }
    }
    if !has_http {
        // gRPC-only processes still expose metrics for Prometheus.
        let listener = tokio::net::TcpListener::bind(&args.metrics_listen)
            .await
            .with_context(|| format!("AXV_METRICS_LISTEN: cannot bind {}", args.metrics_listen))?;
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let app = axum::Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(|| async { axv_telemetry::metrics::render() }),
                )
                .route("/healthz", axum::routing::get(|| async { "ok" }));
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await?;
            Ok(())
        }));
    }
    for task in tasks {
        task.await.context("component task")??;
    }
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    axv_onboarding::database(&platform)
        .await
        .context("onboarding migrations")?
        .close()
        .await;
    axv_vouchers::database(&platform)
        .await
        .context("vouchers migrations")?
        .close()
        .await;
    axv_pilots::database(&platform)
        .await
        .context("pilots migrations")?
        .close()
        .await;
    axv_outcomes::database(&platform)
        .await
        .context("outcomes migrations")?
        .close()
        .await;
    println!("migrations applied");
    Ok(())
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let created = axv::seed_demo(&platform).await?;
    println!("demo data: {created} companies created (existing ones kept)");
    println!(
        "demo logins, password {}: {}, {}, {}",
        axv::demo::DEMO_PASSWORD,
        axv::demo::FIRM_EMAIL,
        axv::demo::MANAGER_EMAIL,
        axv::demo::ADMIN_EMAIL
    );
    Ok(())
}

async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let subject = args.subject.unwrap_or_else(axv_platform::ids::new_id);
    let issued = platform.issuer.issue(&subject, args.role, args.company)?;
    println!("{}", issued.token);
    Ok(())
}
