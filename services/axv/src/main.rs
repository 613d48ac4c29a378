//! `axv`: the one AX Valley binary. It only parses flags and composes the libraries (the
//! pattern of Loki/Mimir's `-target`): `axv up` runs everything in one process, `axv serve
//! <component>...` runs the named components as each Kubernetes Deployment does.

use std::{collections::BTreeSet, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use axv::GraphqlArgs;
use axv_auth::Role;
use axv_gateway::ServiceUrls;
use axv_platform::{config::PlatformArgs, grpc::Upstreams, shutdown::CancellationToken};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Write a new token signing key (Ed25519, PKCS#8 PEM, mode 0600) unless FILE exists;
    /// print its key id either way.
    Keygen(KeygenArgs),
    /// Probe a running component (for container health checks); exits 0 when it is healthy.
    Healthcheck(HealthcheckArgs),
    /// Metered usage from the data center.
    #[command(subcommand)]
    Usage(UsageCommand),
    /// The releases of the public figures.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// People's staff accounts (programme managers, operators, admins).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// The tamper-evident audit trail each service keeps.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The e-mail notifications, newest first: sent, waiting or failing. Without an SMTP server
    /// (`AXV_SMTP_URL`) they are written as `.eml` files under `<data dir>/mail` instead.
    Mail(MailArgs),
}

#[derive(Debug, clap::Args)]
struct MailArgs {
    /// How many to list.
    #[arg(long, default_value_t = 20)]
    last: usize,
    /// Print each message's text too.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Add a staff account and print its temporary password (shown once): how the first admin
    /// of a new installation is made; later ones are added on the console's 직원 계정 page.
    Add(StaffAddArgs),
}

#[derive(Debug, clap::Args)]
struct StaffAddArgs {
    /// The person's e-mail address, which they sign in with.
    email: String,
    /// Their name as colleagues know it, e.g. "이서연 (AI산업과)".
    #[arg(long)]
    name: String,
    /// PROGRAM_MANAGER, OPERATOR or ADMIN.
    #[arg(long)]
    role: Role,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, Subcommand)]
enum StatsCommand {
    /// Prove of the releases named (every published one when none) that any two differ, cell
    /// by cell, either not at all or by at least three companies' figures; prints each cell
    /// that does not and exits non-zero if there is one.
    CheckDisclosure(CheckDisclosureArgs),
}

#[derive(Debug, clap::Args)]
struct CheckDisclosureArgs {
    /// Release numbers, e.g. `3 4`.
    releases: Vec<i64>,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk every service's hash chain from its first entry and report the first broken link
    /// (an entry edited, deleted or reordered after it was written); exits non-zero if any.
    Verify(PlatformOnlyArgs),
    /// Print each chain's latest entry number and hash, to keep outside the platform: a head
    /// kept today proves later that nothing up to it was rewritten.
    Head(PlatformOnlyArgs),
}

#[derive(Debug, clap::Args)]
struct PlatformOnlyArgs {
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Debug, Subcommand)]
enum UsageCommand {
    /// Upload a `sacct --parsable2` file (plain or gzip) to a running gateway, as an API client
    /// with the OPERATOR role; prints what was charged and every refused line.
    Push(axv::usage_push::PushArgs),
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Where the key goes (its directory is created).
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
struct HealthcheckArgs {
    /// `http://host:port/path` (healthy on a 2xx answer) or `grpc://host:port[/service]`
    /// (healthy when the standard gRPC health service answers SERVING); every one named must
    /// pass. Default: the gateway's `/healthz` on AXV_HTTP_LISTEN's port or a service's on
    /// AXV_METRICS_LISTEN's port, whichever answers.
    targets: Vec<String>,
    /// Seconds each probe may take.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Seed demo data (idempotently) and print demo logins.
    #[arg(long)]
    demo: bool,
    /// Where the gateway serves HTTP (GraphQL at /graphql).
    #[arg(long, env = "AXV_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// `/metrics` and `/healthz` for Prometheus, apart from the public port.
    #[arg(long, env = "AXV_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    metrics_listen: String,
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
    /// Notifications: the in-app inbox and e-mail.
    Notify,
    /// Documents: files attached to companies, applications, pilots and reports.
    Documents,
    Gateway,
    /// The web console alone, a client of the gateway at `--gateway-url`.
    Console,
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
    /// The notify service's gRPC address.
    #[arg(long, env = "AXV_NOTIFY_LISTEN", default_value = "0.0.0.0:50055")]
    notify_listen: String,
    /// Where the gateway reaches the notify service.
    #[arg(long, env = "AXV_NOTIFY_URL", default_value = "http://127.0.0.1:50055")]
    notify_url: String,
    /// The documents service's gRPC address.
    #[arg(long, env = "AXV_DOCUMENTS_LISTEN", default_value = "0.0.0.0:50056")]
    documents_listen: String,
    /// Where the gateway reaches the documents service.
    #[arg(
        long,
        env = "AXV_DOCUMENTS_URL",
        default_value = "http://127.0.0.1:50056"
    )]
    documents_url: String,
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
    /// `/metrics` and `/healthz` (never on the gateway's public port).
    #[arg(long, env = "AXV_METRICS_LISTEN", default_value = "0.0.0.0:9464")]
    metrics_listen: String,
    /// The web console's HTTP address (`axv serve console`).
    #[arg(long, env = "AXV_CONSOLE_LISTEN", default_value = "0.0.0.0:8081")]
    console_listen: String,
    /// Where the console reaches the gateway's GraphQL.
    #[arg(
        long,
        env = "AXV_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080/graphql"
    )]
    gateway_url: String,
    /// Check every setting (flags and environment, files they name included), connect and
    /// start nothing, print `configuration OK` or the bad setting's name, and exit (non-zero on
    /// a bad or unknown `AXV_*` setting).
    #[arg(long)]
    check_config: bool,
    #[command(flatten)]
    graphql: GraphqlArgs,
    #[command(flatten)]
    platform: PlatformArgs,
}

impl Component {
    /// Its name on the command line, in the component table and in [`Upstreams`].
    fn name(self) -> &'static str {
        match self {
            Component::Onboarding => axv_onboarding::NAME,
            Component::Vouchers => axv_vouchers::NAME,
            Component::Pilots => axv_pilots::NAME,
            Component::Outcomes => axv_outcomes::NAME,
            Component::Notify => axv_notify::NAME,
            Component::Documents => axv_documents::NAME,
            Component::Gateway => "gateway",
            Component::Console => "console",
        }
    }
}

impl ServeArgs {
    /// Where `component` listens: `--listen`, else its own flag.
    fn listen_of(&self, component: Component) -> String {
        let own = match component {
            Component::Onboarding => &self.onboarding_listen,
            Component::Vouchers => &self.vouchers_listen,
            Component::Pilots => &self.pilots_listen,
            Component::Outcomes => &self.outcomes_listen,
            Component::Notify => &self.notify_listen,
            Component::Documents => &self.documents_listen,
            Component::Gateway => &self.http_listen,
            Component::Console => &self.console_listen,
        };
        self.listen.clone().unwrap_or_else(|| own.clone())
    }

    /// Where each service is reached.
    fn upstreams(&self) -> Upstreams {
        Upstreams::default()
            .with(axv_onboarding::NAME, &self.onboarding_url)
            .with(axv_vouchers::NAME, &self.vouchers_url)
            .with(axv_pilots::NAME, &self.pilots_url)
            .with(axv_outcomes::NAME, &self.outcomes_url)
            .with(axv_notify::NAME, &self.notify_url)
            .with(axv_documents::NAME, &self.documents_url)
    }
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// Check the settings as `axv serve --check-config` does, migrate nothing, and exit.
    #[arg(long)]
    check_config: bool,
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
    // Probes run every few seconds: no logging or trace export set-up for them.
    if let Command::Healthcheck(args) = &cli.command {
        return healthcheck(args).await;
    }
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
        Command::Keygen(args) => keygen(&args),
        Command::Healthcheck(_) => Ok(()),
        Command::Stats(StatsCommand::CheckDisclosure(args)) => check_disclosure(args).await,
        Command::Staff(StaffCommand::Add(args)) => add_staff(args).await,
        Command::Mail(args) => mail(args).await,
        Command::Audit(AuditCommand::Verify(args)) => verify_audit(args).await,
        Command::Audit(AuditCommand::Head(args)) => audit_heads(args).await,
        Command::Usage(UsageCommand::Push(args)) => axv::usage_push::push(&args)
            .await
            .map(|report| print!("{}", axv::usage_push::describe(&report))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axv: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the demo's sacct file beside its databases; where it went, or `None` (with a
/// warning) when the directory cannot take it: the demo runs without it.
fn write_sample_sacct(data_dir: &std::path::Path, text: &str) -> Option<PathBuf> {
    let path = data_dir.join(axv::demo::SAMPLE_SACCT_FILE);
    match std::fs::create_dir_all(data_dir).and_then(|()| std::fs::write(&path, text)) {
        Ok(()) => Some(path),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "the sample sacct file was not written");
            None
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let mut platform = args.platform.build().await?;
    // Links in e-mail lead to this process's console unless the public address is set.
    if platform.mail.public_url.is_none() {
        platform.mail.public_url = Some(format!(
            "http://{}",
            args.listen.replace("0.0.0.0", "localhost")
        ));
    }
    let mut sample_sacct = None;
    if args.demo {
        let seeded = axv::seed_demo(&platform)
            .await
            .context("seeding demo data")?;
        tracing::info!(created = seeded.companies, "demo data seeded");
        sample_sacct = write_sample_sacct(&args.platform.data_dir, &seeded.sample_sacct);
    }
    let shutdown = CancellationToken::new();
    axv_platform::shutdown::cancel_on_signal(shutdown.clone());
    let running =
        axv::start_all(&platform, &args.listen, args.graphql.limits()?, &shutdown).await?;
    let metrics = axv::start_metrics(&args.metrics_listen, &shutdown).await?;
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
    for (name, server) in &running.services {
        println!("  {:<16} {}", format!("{name} gRPC:"), server.url());
    }
    println!("  metrics:         http://{}/metrics", metrics.addr);
    if args.demo {
        println!("  demo logins (password {}):", axv::demo::DEMO_PASSWORD);
        println!("    firm member:       {}", axv::demo::FIRM_EMAIL);
        println!("    programme manager: {}", axv::demo::MANAGER_EMAIL);
        println!("    admin:             {}", axv::demo::ADMIN_EMAIL);
        println!("    operator:          {}", axv::demo::OPERATOR_EMAIL);
        if let Some(path) = sample_sacct {
            println!(
                "  a week of sacct output for the operator's upload (/usage): {}",
                path.display()
            );
        }
    }
    println!("Ctrl-C stops it.");
    running.wait().await?;
    metrics.task.await??;
    Ok(())
}

/// Every variable some flag of the binary reads, and those read outside the flags.
fn known_settings() -> BTreeSet<String> {
    fn walk(command: &clap::Command, names: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                names.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, names);
        }
    }
    let mut names: BTreeSet<String> = axv::check::OTHER_SETTINGS
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    walk(&Cli::command(), &mut names);
    names
}

/// `axv serve --check-config`: what a start would refuse, without starting anything.
fn check_serve_config(args: &ServeArgs) -> anyhow::Result<()> {
    use axv::check;
    let known = known_settings();
    check::no_unknown_settings(&known)?;
    if let Some(listen) = &args.listen {
        check::listen_address("AXV_LISTEN", listen)?;
    }
    for (setting, value) in [
        ("AXV_ONBOARDING_LISTEN", &args.onboarding_listen),
        ("AXV_VOUCHERS_LISTEN", &args.vouchers_listen),
        ("AXV_PILOTS_LISTEN", &args.pilots_listen),
        ("AXV_OUTCOMES_LISTEN", &args.outcomes_listen),
        ("AXV_NOTIFY_LISTEN", &args.notify_listen),
        ("AXV_DOCUMENTS_LISTEN", &args.documents_listen),
        ("AXV_HTTP_LISTEN", &args.http_listen),
        ("AXV_METRICS_LISTEN", &args.metrics_listen),
        ("AXV_CONSOLE_LISTEN", &args.console_listen),
    ] {
        check::listen_address(setting, value)?;
    }
    if !args.gateway_url.starts_with("http://") && !args.gateway_url.starts_with("https://") {
        anyhow::bail!(
            "AXV_GATEWAY_URL: must be an http:// or https:// URL of the gateway's /graphql"
        );
    }
    if let Some(url) = &args.platform.public_url
        && !url.starts_with("http://")
        && !url.starts_with("https://")
    {
        anyhow::bail!("AXV_PUBLIC_URL: must be an http:// or https:// URL");
    }
    for (setting, value) in [
        ("AXV_ONBOARDING_URL", &args.onboarding_url),
        ("AXV_VOUCHERS_URL", &args.vouchers_url),
        ("AXV_PILOTS_URL", &args.pilots_url),
        ("AXV_OUTCOMES_URL", &args.outcomes_url),
        ("AXV_NOTIFY_URL", &args.notify_url),
        ("AXV_DOCUMENTS_URL", &args.documents_url),
    ] {
        check::service_url(setting, value)?;
    }
    check::trust_forwarded_for()?;
    check::trusted_proxies()?;
    args.platform.check()?;
    args.graphql.limits()?;
    let components: Vec<String> = args
        .components
        .iter()
        .filter_map(|c| c.to_possible_value().map(|v| v.get_name().to_owned()))
        .collect();
    check::report(&format!("serve {}", components.join(" ")), &known);
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.listen.is_some() && args.components.len() > 1 {
        anyhow::bail!(
            "--listen (AXV_LISTEN) names one address; with several components use the per-component flags"
        );
    }
    if args.check_config {
        return check_serve_config(&args);
    }
    let unknown = axv::check::unknown_settings(&known_settings());
    if !unknown.is_empty() {
        tracing::warn!(
            unknown = unknown.join(", "),
            "ignoring environment variables that are not settings of this axv"
        );
    }
    let platform = args.platform.build().await?;
    let shutdown = CancellationToken::new();
    axv_platform::shutdown::cancel_on_signal(shutdown.clone());
    let mut tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>> = Vec::new();
    for component in &args.components {
        match component {
            Component::Onboarding
            | Component::Vouchers
            | Component::Pilots
            | Component::Outcomes
            | Component::Notify
            | Component::Documents => {
                let name = component.name();
                let service = axv::components::service(name)
                    .with_context(|| format!("{name} is not a service of this axv"))?;
                let listen = args.listen_of(*component);
                let server = (service.spawn)(&platform, &listen, &args.upstreams(), &shutdown)
                    .await?
                    .server;
                println!("{name} gRPC listening on {}", server.addr);
                tasks.push(tokio::spawn(async move { Ok(server.task.await??) }));
            }
            Component::Gateway => {
                let urls = ServiceUrls::from_upstreams(&args.upstreams())?;
                let http_listen = args.listen_of(*component);
                let gateway = axv::start_gateway(
                    &platform,
                    &http_listen,
                    &urls,
                    args.graphql.limits()?,
                    None,
                    &shutdown,
                )
                .await?;
                println!("gateway listening on http://{}/graphql", gateway.addr);
                tasks.push(tokio::spawn(async move { Ok(gateway.task.await??) }));
            }
            Component::Console => {
                let listen = args.listen_of(*component);
                let secure = args
                    .platform
                    .public_url
                    .as_deref()
                    .is_some_and(|url| url.starts_with("https://"));
                let console = axv::start_console(
                    &platform,
                    &listen,
                    &args.gateway_url,
                    secure,
                    args.graphql.console_relay_key.clone(),
                    &shutdown,
                )
                .await?;
                println!("console listening on http://{}/", console.addr);
                tasks.push(tokio::spawn(async move { Ok(console.task.await??) }));
            }
        }
    }
    // Every process, the gateway's included, serves its metrics on their own port.
    let metrics = axv::start_metrics(&args.metrics_listen, &shutdown).await?;
    tasks.push(tokio::spawn(async move { Ok(metrics.task.await??) }));
    for task in tasks {
        task.await.context("component task")??;
    }
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    if args.check_config {
        let known = known_settings();
        axv::check::no_unknown_settings(&known)?;
        args.platform.check()?;
        axv::check::report("migrate", &known);
        return Ok(());
    }
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
    axv_notify::database(&platform)
        .await
        .context("notify migrations")?
        .close()
        .await;
    axv_documents::database(&platform)
        .await
        .context("documents migrations")?
        .close()
        .await;
    println!("migrations applied");
    Ok(())
}

async fn verify_audit(args: PlatformOnlyArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let mut broken = 0;
    for (service, found) in axv::verify_audit(&platform).await? {
        match &found.broken {
            None => println!(
                "{service}: {} entries, intact{}; head {} {}",
                found.entries,
                if found.redacted > 0 {
                    format!(" ({} notes erased on request)", found.redacted)
                } else {
                    String::new()
                },
                found.head.seq,
                found.head.hash
            ),
            Some((why, entry)) => {
                broken += 1;
                println!(
                    "{service}: BROKEN after {} intact entries: {why}",
                    found.entries
                );
                if let Some(entry) = entry {
                    println!(
                        "  entry {}: {} on {} {} at {} by {} {}",
                        entry.seq,
                        entry.action,
                        entry.object_kind,
                        entry.object_id,
                        chrono::DateTime::from_timestamp_millis(entry.at_ms)
                            .map_or_else(|| entry.at_ms.to_string(), |at| at.to_rfc3339()),
                        entry.actor_kind,
                        entry.actor_id
                    );
                }
            }
        }
    }
    if broken > 0 {
        anyhow::bail!("{broken} audit chain(s) broken");
    }
    Ok(())
}

async fn audit_heads(args: PlatformOnlyArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    for (service, head) in axv::audit_heads(&platform).await? {
        println!("{service} {} {}", head.seq, head.hash);
    }
    Ok(())
}

async fn check_disclosure(args: CheckDisclosureArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let (checked, found) = axv::check_disclosure(&platform, &args.releases).await?;
    if checked.len() < 2 {
        println!("{} release(s) published: nothing to compare", checked.len());
        return Ok(());
    }
    let pairs = checked.len() * (checked.len() - 1) / 2;
    for pair in &found {
        println!(
            "releases {} and {}: {}",
            pair.earlier, pair.later, pair.disclosure
        );
    }
    if found.is_empty() {
        println!(
            "releases {checked:?}: every one of the {pairs} pairs differs only in cells changed by at least 3 companies"
        );
        Ok(())
    } else {
        anyhow::bail!(
            "{} cell(s) would isolate fewer than 3 companies",
            found.len()
        )
    }
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let seeded = axv::seed_demo(&platform).await?;
    println!(
        "demo data: {} companies created (existing ones kept)",
        seeded.companies
    );
    println!(
        "demo logins, password {}: {}, {}, {}, {}",
        axv::demo::DEMO_PASSWORD,
        axv::demo::FIRM_EMAIL,
        axv::demo::MANAGER_EMAIL,
        axv::demo::ADMIN_EMAIL,
        axv::demo::OPERATOR_EMAIL
    );
    Ok(())
}

async fn add_staff(args: StaffAddArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let (user, password) = axv::add_staff(&platform, &args.email, &args.name, args.role).await?;
    println!(
        "staff account {} ({}, {})",
        user.email, user.name, user.role
    );
    println!("temporary password (shown once; the person changes it after signing in): {password}");
    Ok(())
}

async fn mail(args: MailArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let store = axv_notify::store::Store::new(
        axv_notify::database(&platform).await?,
        axv_platform::outbox::Outbox::default(),
    );
    let mails = store.recent_mail(args.last.clamp(1, 1_000)).await?;
    if mails.is_empty() {
        println!("no e-mail yet");
    }
    for mail in mails {
        // Korea time, as the people who get them read it.
        let when = chrono::DateTime::from_timestamp_millis(mail.created_at)
            .map(|at| {
                at.with_timezone(&axv_platform::calendar::KST)
                    .format("%Y-%m-%d %H:%M KST")
                    .to_string()
            })
            .unwrap_or_default();
        let status = match (mail.sent_at, &mail.last_error) {
            (Some(_), _) => "sent".to_owned(),
            (None, Some(error)) => format!("not sent after {} tries: {error}", mail.attempts),
            (None, None) => "waiting".to_owned(),
        };
        println!(
            "{when}  {} <{}>  {}  [{status}]",
            mail.to_name, mail.to_address, mail.subject
        );
        if args.full {
            println!("{}", mail.text_body);
        }
    }
    if platform.mail.smtp_url.is_none() {
        println!("(.eml files in {})", platform.mail.dir.display());
    }
    Ok(())
}

async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let platform = args.platform.build().await?;
    let subject = args.subject.unwrap_or_else(axv_platform::ids::new_id);
    let issued = platform.issuer.issue(&subject, args.role, args.company)?;
    println!("{}", issued.token);
    Ok(())
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let existed = args.file.exists();
    let key = axv_auth::SigningKey::load_or_generate(&args.file)
        .with_context(|| format!("key file {}", args.file.display()))?;
    let verb = if existed { "kept" } else { "wrote" };
    println!("{verb} {} (kid {})", args.file.display(), key.kid());
    Ok(())
}

async fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    if args.targets.is_empty() {
        // Whichever of the process's own ports answers.
        let mut failures = Vec::new();
        for target in axv::probe::default_targets() {
            match axv::probe::probe(&target, timeout).await {
                Ok(status) => {
                    println!("{target}: {status}");
                    return ExitCode::SUCCESS;
                }
                Err(error) => failures.push(format!("{error:#}")),
            }
        }
        eprintln!("axv healthcheck: {}", failures.join("; "));
        return ExitCode::FAILURE;
    }
    let mut healthy = true;
    for target in &args.targets {
        match axv::probe::probe(target, timeout).await {
            Ok(status) => println!("{target}: {status}"),
            Err(error) => {
                eprintln!("axv healthcheck: {error:#}");
                healthy = false;
            }
        }
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
