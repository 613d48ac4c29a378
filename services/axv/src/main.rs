//! `axv`: the one AX Valley binary. It only parses flags and composes the service libraries
//! (the pattern of Loki/Mimir's `-target`): `axv serve <component>...` runs the named
//! components, as each Kubernetes Deployment does; `axv migrate` runs migrations and exits.

use std::process::ExitCode;

use anyhow::Context;
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
    /// Run the named components, each a gRPC server, until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Run every component's database migrations, then exit.
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Component {
    Onboarding,
}

impl Component {
    fn default_port(self) -> u16 {
        match self {
            Component::Onboarding => axv_onboarding::DEFAULT_PORT,
        }
    }
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Components to run in this process.
    #[arg(required = true, value_enum)]
    components: Vec<Component>,
    /// gRPC listen address; only with a single component (default 0.0.0.0:<component port>,
    /// onboarding 50051).
    #[arg(long, env = "AXV_LISTEN")]
    listen: Option<String>,
    /// Where `/metrics` (Prometheus) and `/healthz` are served.
    #[arg(long, env = "AXV_METRICS_LISTEN", default_value = "0.0.0.0:9464")]
    metrics_listen: String,
    /// Validate the configuration (and connect nothing), then exit.
    #[arg(long)]
    check_config: bool,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
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
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => migrate(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axv: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    axv_onboarding::database(&platform)
        .await
        .context("onboarding migrations")?
        .close()
        .await;
    println!("migrations applied");
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.listen.is_some() && args.components.len() > 1 {
        anyhow::bail!(
            "--listen (AXV_LISTEN) names one address; it cannot serve several components"
        );
    }
    let platform = args.platform.build().await?;
    if args.check_config {
        println!("configuration is valid");
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    axv_platform::shutdown::cancel_on_signal(shutdown.clone());
    let metrics = tokio::net::TcpListener::bind(&args.metrics_listen)
        .await
        .with_context(|| format!("AXV_METRICS_LISTEN: cannot bind {}", args.metrics_listen))?;
    let metrics_shutdown = shutdown.clone();
    let metrics_task = tokio::spawn(async move {
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(|| async { axv_telemetry::metrics::render() }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok" }));
        axum::serve(metrics, app)
            .with_graceful_shutdown(metrics_shutdown.cancelled_owned())
            .await
    });

    let mut servers = Vec::new();
    for component in args.components {
        let addr = args
            .listen
            .clone()
            .unwrap_or_else(|| format!("0.0.0.0:{}", component.default_port()));
        let listener = axv_platform::grpc::bind(&addr)
            .await
            .context("AXV_LISTEN")?;
        let service = match component {
            Component::Onboarding => axv_onboarding::build(&platform)
                .await
                .context("onboarding")?
                .start(&platform, shutdown.clone()),
        };
        let running = axv_platform::grpc::spawn(
            listener,
            service,
            platform.verifier.clone(),
            shutdown.clone(),
        )?;
        tracing::info!(component = ?component, addr = %running.addr, "serving gRPC");
        println!("{component:?} listening on {}", running.addr);
        servers.push(running);
    }
    for server in servers {
        server.task.await.context("server task")??;
    }
    metrics_task
        .await
        .context("metrics task")?
        .context("metrics server")?;
    Ok(())
}
