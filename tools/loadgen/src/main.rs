//! `gateway_load`: a load generator (not a timed test) for the whole platform as it ships.
//!
//! It starts the release `axv up --demo` as a child process on a fresh Postgres database and a
//! private Redis key prefix, mints tokens with `axv token`, and then, with `BENCH_CLIENTS` (50)
//! concurrent clients in a closed loop for `BENCH_SECS` (20 s) after `BENCH_WARMUP_SECS` (3 s)
//! of warm-up per row, drives: the dashboard query (cached, and uncached for an operator);
//! `pilot(id)` through the gateway and `GetPilot` straight to gRPC, also for one client alone;
//! `voucher(id)` for one client; 20 pilots with nested fields; the same two queries through
//! Hive Gateway in front of the same services (`peer`, `BENCH_PEER=0` leaves it out);
//! `pilot(id)` in an open loop at `BENCH_RATE` (1,000/s) and beside clients signing in; the
//! console's home and voucher pages; ledger debits straight to the vouchers service (`ledger`);
//! and, on the embedded default, a voucher list with and without the SQLite reader pool.
//!
//! It samples the child's resident memory every 100 ms and the CPU time of the child (per
//! thread), Postgres, Redis and itself, and prints one Markdown table.
//!
//! ```sh
//! cargo build --release -p axv && cargo run --release -p axv-loadgen
//! ```
//!
//! Settings: `AXV_BIN` (default `$CARGO_TARGET_DIR/release/axv`), `AXV_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`; a database `axv_bench_<random>` is
//! created there and dropped at the end), `AXV_TEST_REDIS_URL` or `REDIS_URL` (default
//! `redis://127.0.0.1:6379`; keys go under `axvbench:<random>:` and are deleted at the end).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

mod ledger;
mod peer;
mod worklist;

use anyhow::{Context, anyhow, bail};
use axv_proto::pilots::v1::{GetPilotRequest, pilots_service_client::PilotsServiceClient};
use hdrhistogram::Histogram;
use tonic::{metadata::AsciiMetadataValue, transport::Channel};

/// Generous budgets so the bench client is never rate limited (the limiter still counts in
/// Redis on every request, as in production).
const RATE_LIMITS: &str = "DASHBOARD=100000000/100000000000,FIRM_MEMBER=100000000/100000000000,\
    PROGRAM_MANAGER=100000000/100000000000,OPERATOR=100000000/100000000000,ADMIN=100000000/100000000000,\
    ADDRESS=100000000/100000000000";

const TOTALS: &str = "fragment Totals on OutcomeTotals { modelsDeveloped modelsImproved \
    modelsCommercialized revenueKrw patentsFiled patentsRegistered papers newHires investmentKrw }";

/// What a dashboard's landing page asks for. `leadCompany { vouchers(first: 5) }` is left
/// out: the gateway refuses it to dashboards (FORBIDDEN, "dashboards see the programme's
/// figures, not vouchers"); `Pilot.vouchers` answers (empty for dashboards) and stays in.
const DASHBOARD_QUERY: &str = r#"query Dashboard {
  programStats {
    companies approvedCompanies pilots activePilots vouchersIssued computeGranted computeConsumed
    outcomesSuppressed
    outcomes { ...Totals }
    bySector { sector companies suppressed outcomes { ...Totals } }
    byDomain { domain pilots suppressed outcomes { ...Totals } }
    timeSeries(bucket: "QUARTER") { periodStart computeConsumed outcomes { ...Totals } }
  }
  pilots(first: 20) {
    totalCount
    edges { node {
      id title domain status site startsOn endsOn
      leadCompany { nameKo sector }
      vouchers { code kind status granted consumed balance }
    } }
  }
}
"#;

const PILOT_QUERY: &str = "query Pilot($id: ID!) { pilot(id: $id) { id title } }";

const VOUCHER_QUERY: &str =
    "query Voucher($id: ID!) { voucher(id: $id) { id code granted consumed balance status } }";

/// A list with nested fields, all from the pilots service (the peer gateway asks the same).
const LIST_QUERY: &str = "{ pilots(first: 20) { edges { node { id title domain status \
    participants { role state } milestones { title dueOn } } } } }";

/// What a programme manager's voucher list asks for.
const VOUCHER_LIST_QUERY: &str = "{ vouchers(first: 20) { totalCount edges { node { id code kind \
    status granted consumed balance validUntil } } } }";

/// Clients on the embedded default: a small office, not a dashboard fleet.
const EMBEDDED_CLIENTS: usize = 8;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        _ => Ok(default),
    }
}

/// `postgres://.../<db>?opts` with the database replaced.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://") && !server.ends_with('/'))
        .ok_or_else(|| anyhow!("{url:?} does not name a database"))?;
    Ok(match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    })
}

fn psql(admin_url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([admin_url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .context("running psql (is the Postgres client installed?)")?;
    if !out.status.success() {
        bail!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn axv_binary() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("AXV_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("release").join("axv")
        }
    };
    if !path.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p axv` (or set AXV_BIN)",
            path.display()
        );
    }
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------------
// /proc readings

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// (name, user + system ticks) from a `/proc/.../stat` file.
fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// CPU time of processes, threads of the child, and the whole machine, in clock ticks.
#[derive(Debug, Clone, Default)]
struct CpuSnapshot {
    at: Option<Instant>,
    machine_busy: u64,
    axv: u64,
    postgres: u64,
    redis: u64,
    loadgen: u64,
    /// Per thread name of the child (threads of one pool summed).
    axv_threads: HashMap<String, u64>,
}

fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    total.saturating_sub(idle)
}

fn cpu_snapshot(child: u32) -> CpuSnapshot {
    let mut snapshot = CpuSnapshot {
        at: Some(Instant::now()),
        machine_busy: machine_busy_ticks(),
        ..CpuSnapshot::default()
    };
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Some((comm, ticks)) = stat_ticks(&entry.path().join("stat")) else {
                continue;
            };
            if pid == child {
                snapshot.axv = ticks;
            } else if pid == std::process::id() {
                snapshot.loadgen = ticks;
            } else if comm == "postgres" {
                snapshot.postgres += ticks;
            } else if comm == "redis-server" {
                snapshot.redis += ticks;
            }
        }
    }
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{child}/task")) {
        for task in tasks.flatten() {
            if let Some((comm, ticks)) = stat_ticks(&task.path().join("stat")) {
                *snapshot.axv_threads.entry(comm).or_default() += ticks;
            }
        }
    }
    snapshot
}

/// Percent of one core each consumer used between two snapshots.
#[derive(Debug, Clone, Default)]
struct CpuUse {
    machine: f64,
    axv: f64,
    postgres: f64,
    redis: f64,
    loadgen: f64,
    other: f64,
    /// Thread name, percent of one core, threads with that name.
    axv_threads: Vec<(String, f64, usize)>,
}

fn cpu_use(before: &CpuSnapshot, after: &CpuSnapshot, ticks_per_sec: f64, child: u32) -> CpuUse {
    let secs = match (before.at, after.at) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64().max(1e-3),
        _ => 1.0,
    };
    let pct = |a: u64, b: u64| b.saturating_sub(a) as f64 / ticks_per_sec / secs * 100.0;
    let machine = pct(before.machine_busy, after.machine_busy);
    let axv = pct(before.axv, after.axv);
    let postgres = pct(before.postgres, after.postgres);
    let redis = pct(before.redis, after.redis);
    let loadgen = pct(before.loadgen, after.loadgen);
    let counts = thread_counts(child);
    let mut axv_threads: Vec<(String, f64, usize)> = after
        .axv_threads
        .iter()
        .map(|(name, &ticks)| {
            let earlier = before.axv_threads.get(name).copied().unwrap_or(0);
            (
                name.clone(),
                pct(earlier, ticks),
                counts.get(name).copied().unwrap_or(0),
            )
        })
        .collect();
    axv_threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    CpuUse {
        machine,
        axv,
        postgres,
        redis,
        loadgen,
        other: (machine - axv - postgres - redis - loadgen).max(0.0),
        axv_threads,
    }
}

fn thread_counts(pid: u32) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Some((comm, _)) = stat_ticks(&task.path().join("stat")) {
                *counts.entry(comm).or_default() += 1;
            }
        }
    }
    counts
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpus} CPUs (nproc), {model}, {memory_gib:.1} GiB RAM")
}

// ---------------------------------------------------------------------------------------------
// the child

struct Platform {
    child: Child,
    pid: u32,
    graphql_url: String,
    base_url: String,
    /// `/metrics` is served apart from the gateway's public port.
    metrics_url: String,
    pilots_grpc: String,
    vouchers_grpc: String,
    /// Every service's gRPC address, by service name (the peer gateway needs them all).
    grpc: HashMap<String, String>,
    stderr_path: PathBuf,
}

impl Platform {
    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Distinct log messages (timestamps left out) with their counts, most frequent first.
    fn stderr_summary(&self) -> Vec<(String, usize)> {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let message = line
                .split_once(' ')
                .filter(|(stamp, _)| stamp.ends_with('Z'))
                .map_or(line, |(_, rest)| rest)
                .trim();
            *counts.entry(message.to_owned()).or_default() += 1;
        }
        let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        counts
    }

    /// SIGTERM (graceful shutdown closes the database pools), SIGKILL after 15 s.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    data_dir: PathBuf,
}

impl Setup {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        // Telemetry export would only add noise (and a collector may not be running).
        command
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        command
    }

    async fn start(&self, listen: &str) -> anyhow::Result<Platform> {
        let stderr_path = self.data_dir.join("axv.stderr");
        let stderr = std::fs::File::create(&stderr_path)?;
        let metrics_listen = format!("127.0.0.1:{}", free_port()?);
        let mut child = self
            .command()
            .args(["up", "--demo", "--listen", listen, "--metrics-listen"])
            .arg(&metrics_listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        // Reads (and so drains) the child's stdout for its whole life.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut platform = Platform {
            child,
            pid,
            graphql_url: String::new(),
            base_url: format!("http://{listen}"),
            metrics_url: format!("http://{metrics_listen}/metrics"),
            pilots_grpc: String::new(),
            vouchers_grpc: String::new(),
            grpc: HashMap::new(),
            stderr_path,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let line = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => bail!(
                    "axv up exited before it was up:\n{}",
                    platform.stderr_tail()
                ),
                Err(_) => {
                    platform.stop();
                    bail!(
                        "axv up did not come up in 180 s:\n{}",
                        platform.stderr_tail()
                    )
                }
            };
            let url = || {
                line.split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .to_owned()
            };
            if let Some((service, _)) = line.trim_start().split_once(" gRPC:") {
                platform.grpc.insert(service.to_owned(), url());
            }
            if line.contains("GraphQL") {
                platform.graphql_url = url();
            } else if line.trim_start().starts_with("pilots gRPC:") {
                platform.pilots_grpc = url();
            } else if line.trim_start().starts_with("vouchers gRPC:") {
                platform.vouchers_grpc = url();
            } else if line.starts_with("Ctrl-C stops it") {
                break;
            }
        }
        if platform.pilots_grpc.is_empty()
            || platform.vouchers_grpc.is_empty()
            || platform.graphql_url.is_empty()
        {
            platform.stop();
            bail!("axv up did not print its GraphQL and pilots gRPC URLs");
        }
        // Keep draining stdout.
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        Ok(platform)
    }

    fn token(&self, role: &str) -> anyhow::Result<String> {
        let out = self
            .command()
            .args(["token", "--role", role, "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .context("running axv token")?;
        if !out.status.success() {
            bail!("axv token: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if token.is_empty() {
            bail!("axv token printed nothing");
        }
        Ok(token)
    }
}

async fn wait_ready(http: &reqwest::Client, base_url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        match http.get(format!("{base_url}/readyz")).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("/readyz not ready in 60 s: {last}")
}

// ---------------------------------------------------------------------------------------------
// console sessions

/// Sign-ins before the load (the console's sessions among them): memory after a burst of
/// Argon2id verifications.
const SIGN_INS: usize = 500;

/// The demo's firm member (`axv up --demo` creates it).
const DEMO_FIRM: &str = "firm@demo.axv.kr";
const DEMO_PASSWORD: &str = "gwangju-demo-2026";

/// `name=value` of the session cookie a console answer sets.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("axv_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Signs in to the console as a browser does (the sign-in page for its CSRF token, then the
/// form); returns the signed-in session's cookie.
async fn console_session(base_url: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let page = http.get(format!("{base_url}/login")).send().await?;
    let cookie = session_cookie(&page).ok_or_else(|| anyhow!("/login set no session"))?;
    let html = page.text().await?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow!("/login has no CSRF token"))?
        .to_owned();
    let signed_in = http
        .post(format!("{base_url}/login"))
        .header("cookie", &cookie)
        .header("origin", base_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await?;
    if signed_in.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("signing in answered {}", signed_in.status());
    }
    session_cookie(&signed_in).ok_or_else(|| anyhow!("signing in set no session"))
}

/// The demo firm's access token and the first voucher it holds, through the API.
async fn demo_firm(http: &reqwest::Client, graphql_url: &str) -> anyhow::Result<(String, String)> {
    let login: serde_json::Value = http
        .post(graphql_url)
        .json(&serde_json::json!({
            "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            "variables": { "e": DEMO_FIRM, "p": DEMO_PASSWORD },
        }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .ok_or_else(|| anyhow!("the demo firm cannot sign in: {login}"))?;
    let vouchers: serde_json::Value = http
        .post(graphql_url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": "{ vouchers(first: 1) { edges { node { id } } } }" }))
        .send()
        .await?
        .json()
        .await?;
    let voucher = vouchers["data"]["vouchers"]["edges"][0]["node"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the demo firm holds no voucher: {vouchers}"))?;
    Ok((token.to_owned(), voucher))
}

// ---------------------------------------------------------------------------------------------
// load

#[derive(Clone)]
enum Op {
    /// A GraphQL request; `auth: None` for anonymous ones (signing in).
    Graphql {
        http: reqwest::Client,
        url: String,
        auth: Option<String>,
        body: Vec<u8>,
    },
    /// `RecordUsage` straight to the vouchers service: a new job each time, charged to
    /// `codes[client % codes.len()]`.
    Usage(ledger::Debit),
    Grpc {
        client: PilotsServiceClient<Channel>,
        auth: AsciiMetadataValue,
        id: String,
    },
    /// A console page as a browser asks for it: client `i` is session `cookies[i]` (none:
    /// an anonymous visitor).
    Page {
        http: reqwest::Client,
        url: String,
        cookies: Arc<Vec<String>>,
        cookie: Option<String>,
    },
}

impl Op {
    /// What client `i` of a phase sends: pages come with that client's own session.
    fn for_client(&self, i: usize) -> Op {
        match self {
            Op::Page {
                http, url, cookies, ..
            } => Op::Page {
                http: http.clone(),
                url: url.clone(),
                cookie: (!cookies.is_empty()).then(|| cookies[i % cookies.len()].clone()),
                cookies: cookies.clone(),
            },
            Op::Usage(debit) => Op::Usage(debit.for_client(i)),
            other => other.clone(),
        }
    }

    /// `mutation login` for the demo firm: one Argon2id verification per request.
    fn sign_in(http: &reqwest::Client, url: &str) -> anyhow::Result<Self> {
        Ok(Op::Graphql {
            http: http.clone(),
            url: url.to_owned(),
            auth: None,
            body: serde_json::to_vec(&serde_json::json!({
                "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                "variables": { "e": DEMO_FIRM, "p": DEMO_PASSWORD },
            }))?,
        })
    }

    fn graphql(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        query: &str,
        variables: serde_json::Value,
    ) -> anyhow::Result<Self> {
        Ok(Op::Graphql {
            http: http.clone(),
            url: url.to_owned(),
            auth: Some(format!("Bearer {token}")),
            body: serde_json::to_vec(&serde_json::json!({
                "query": query,
                "variables": variables,
            }))?,
        })
    }

    /// One request before the load, which must succeed: `what` names it in the error.
    async fn check(&self, what: &str) -> anyhow::Result<()> {
        self.clone()
            .once()
            .await
            .map_err(|e| anyhow!("{what}: {e}"))
    }

    /// One request; `Err` carries what went wrong.
    async fn once(&mut self) -> Result<(), String> {
        match self {
            Op::Graphql {
                http,
                url,
                auth,
                body,
            } => {
                let mut request = http
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(auth) = auth {
                    request = request.header("authorization", auth.as_str());
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| format!("transport: {e}"))?;
                let status = response.status();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| format!("reading body: {e}"))?;
                if !status.is_success() {
                    return Err(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                    ));
                }
                if let Some(at) = find(&bytes, b"\"errors\"") {
                    let tail = &bytes[at..];
                    return Err(format!(
                        "GraphQL {}",
                        String::from_utf8_lossy(&tail[..tail.len().min(600)])
                    ));
                }
                Ok(())
            }
            Op::Page {
                http, url, cookie, ..
            } => {
                let mut request = http.get(url.as_str()).header("accept", "text/html");
                if let Some(cookie) = cookie {
                    request = request.header("cookie", cookie.as_str());
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| format!("transport: {e}"))?;
                let status = response.status();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| format!("reading body: {e}"))?;
                if !status.is_success() || find(&bytes, b"</html>").is_none() {
                    return Err(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                    ));
                }
                Ok(())
            }
            Op::Usage(debit) => debit.once().await,
            Op::Grpc { client, auth, id } => {
                let mut request = tonic::Request::new(GetPilotRequest { id: id.clone() });
                request.metadata_mut().insert("authorization", auth.clone());
                client
                    .get_pilot(request)
                    .await
                    .map(|_| ())
                    .map_err(|status| format!("gRPC {:?}: {}", status.code(), status.message()))
            }
        }
    }
}

/// `name{labels} value` samples of one counter from Prometheus text, by label set.
fn counters(text: &str, name: &str) -> HashMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

fn label<'a>(labels: &'a str, key: &str) -> &'a str {
    labels
        .split(',')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix("=\""))
        .map(|v| v.trim_end_matches('"'))
        .unwrap_or("?")
}

/// What the platform did per request between two `/metrics` readings: gRPC calls served by
/// method, and response cache hits and misses.
fn per_request(before: &str, after: &str, requests: u64) -> Vec<(String, f64)> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for (metric, group) in [
        ("grpc_server_handled_total", None),
        ("cache_requests_total", Some("cache")),
    ] {
        let earlier = counters(before, metric);
        for (labels, value) in counters(after, metric) {
            let delta = value - earlier.get(&labels).copied().unwrap_or(0.0);
            if delta <= 0.0 {
                continue;
            }
            let key = match group {
                None => {
                    let service = label(&labels, "grpc_service");
                    let short = service.rsplit('.').next().unwrap_or(service);
                    format!("{short}/{}", label(&labels, "grpc_method"))
                }
                Some(cache) => format!(
                    "{} cache {}",
                    label(&labels, cache),
                    label(&labels, "result")
                ),
            };
            *out.entry(key).or_default() += delta / requests.max(1) as f64;
        }
    }
    let mut out: Vec<(String, f64)> = out.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

async fn metrics(http: &reqwest::Client, metrics_url: &str) -> String {
    match http.get(metrics_url).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct Phase {
    name: String,
    /// Answered requests of the measured clients (the histogram's count).
    requests: u64,
    /// Answered requests of the clients loading the platform beside them (sign-ins in a mix).
    others: u64,
    errors: u64,
    first_error: Option<String>,
    measured: Duration,
    histogram: Histogram<u64>,
    peak_rss_kib: u64,
    cpu: CpuUse,
    /// gRPC calls served and cache lookups per request.
    work: Vec<(String, f64)>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.measured.as_secs_f64()
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }
}

struct Load {
    clients: usize,
    warmup: Duration,
    measure: Duration,
    pid: u32,
    ticks_per_sec: f64,
    peak_rss: Arc<AtomicU64>,
    http: reqwest::Client,
    metrics_url: String,
}

impl Load {
    async fn run(&self, name: &str, op: Op) -> anyhow::Result<Phase> {
        self.run_clients(name, op, self.clients).await
    }

    async fn run_clients(&self, name: &str, op: Op, clients: usize) -> anyhow::Result<Phase> {
        self.run_each(
            name,
            (0..clients).map(|i| (op.for_client(i), true)).collect(),
        )
        .await
    }

    /// Closed loop: client `i` sends `ops[i].0` again as soon as it is answered. Only clients
    /// whose flag is set count in the latencies (the others load the platform beside them);
    /// every client's errors count.
    async fn run_each(&self, name: &str, ops: Vec<(Op, bool)>) -> anyhow::Result<Phase> {
        eprintln!(
            "  {name}: {} clients, {:?} warm-up + {:?}",
            ops.len(),
            self.warmup,
            self.measure
        );
        let started = Instant::now();
        let measure_from = started + self.warmup;
        let stop_at = measure_from + self.measure;
        let mut tasks = Vec::with_capacity(ops.len());
        for (mut op, measured) in ops {
            tasks.push(tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)
                    .map_err(|e| e.to_string())?;
                let (mut errors, mut others, mut first_error) = (0u64, 0u64, None);
                loop {
                    let begin = Instant::now();
                    if begin >= stop_at {
                        break;
                    }
                    let result = op.once().await;
                    let took = begin.elapsed();
                    if begin < measure_from {
                        continue;
                    }
                    match result {
                        Ok(()) if measured => histogram.saturating_record(took.as_micros() as u64),
                        Ok(()) => others += 1,
                        Err(error) => {
                            errors += 1;
                            first_error.get_or_insert(error);
                        }
                    }
                }
                Ok::<_, String>((histogram, errors, others, first_error))
            }));
        }
        let window = self.observe(measure_from, stop_at).await;
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let (mut errors, mut others, mut first_error) = (0, 0, None);
        for task in tasks {
            let (h, e, o, first) = task.await?.map_err(|e| anyhow!(e))?;
            histogram.add(&h)?;
            errors += e;
            others += o;
            if first_error.is_none() {
                first_error = first;
            }
        }
        Ok(window.phase(name, histogram, errors, others, first_error))
    }

    /// Open loop: `rate` requests per second at fixed times whatever the answers do, each
    /// timed from when it was due (so a stall counts against every request that waited behind
    /// it, as it does for people). Requests still open after the window are abandoned, counted
    /// as errors.
    async fn run_open(&self, name: &str, op: Op, rate: f64) -> anyhow::Result<Phase> {
        eprintln!(
            "  {name}: {rate:.0} requests/s open loop, {:?} warm-up + {:?}",
            self.warmup, self.measure
        );
        let started = tokio::time::Instant::now();
        let measure_from = started + self.warmup;
        let stop_at = measure_from + self.measure;
        let every = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let results = Arc::new(std::sync::Mutex::new(Vec::<Result<u64, String>>::new()));
        let sender = {
            let results = results.clone();
            tokio::spawn(async move {
                let mut due = started;
                let mut requests = tokio::task::JoinSet::new();
                while due < stop_at {
                    tokio::time::sleep_until(due).await;
                    let (mut op, results, sent) = (op.clone(), results.clone(), due);
                    requests.spawn(async move {
                        let result = op.once().await;
                        if sent >= measure_from {
                            let took = sent.elapsed().as_micros() as u64;
                            if let Ok(mut results) = results.lock() {
                                results.push(result.map(|()| took));
                            }
                        }
                    });
                    due += every;
                    while requests.try_join_next().is_some() {}
                }
                let abandoned = tokio::time::timeout(Duration::from_secs(10), async {
                    while requests.join_next().await.is_some() {}
                })
                .await
                .is_err();
                requests.abort_all();
                abandoned.then_some(requests.len())
            })
        };
        let window = self.observe(measure_from.into(), stop_at.into()).await;
        let abandoned = sender.await?.unwrap_or(0) as u64;
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let (mut errors, mut first_error) = (abandoned, None);
        let results = std::mem::take(&mut *results.lock().map_err(|_| anyhow!("poisoned"))?);
        for result in results {
            match result {
                Ok(took) => histogram.saturating_record(took),
                Err(error) => {
                    errors += 1;
                    first_error.get_or_insert(error);
                }
            }
        }
        if abandoned > 0 {
            first_error.get_or_insert(format!(
                "{abandoned} requests unanswered 10 s after the window"
            ));
        }
        Ok(window.phase(name, histogram, errors, 0, first_error))
    }

    /// CPU, memory and `/metrics` over the measured window.
    async fn observe(&self, measure_from: Instant, stop_at: Instant) -> Window {
        tokio::time::sleep_until(measure_from.into()).await;
        self.peak_rss.store(0, Ordering::Relaxed);
        let cpu_before = cpu_snapshot(self.pid);
        let metrics_before = metrics(&self.http, &self.metrics_url).await;
        tokio::time::sleep_until(stop_at.into()).await;
        let cpu_after = cpu_snapshot(self.pid);
        let metrics_after = metrics(&self.http, &self.metrics_url).await;
        Window {
            measured: self.measure,
            peak_rss_kib: self.peak_rss.load(Ordering::Relaxed),
            cpu: cpu_use(&cpu_before, &cpu_after, self.ticks_per_sec, self.pid),
            metrics_before,
            metrics_after,
        }
    }
}

struct Window {
    measured: Duration,
    peak_rss_kib: u64,
    cpu: CpuUse,
    metrics_before: String,
    metrics_after: String,
}

impl Window {
    fn phase(
        self,
        name: &str,
        histogram: Histogram<u64>,
        errors: u64,
        others: u64,
        first_error: Option<String>,
    ) -> Phase {
        Phase {
            name: name.to_owned(),
            work: per_request(&self.metrics_before, &self.metrics_after, histogram.len()),
            requests: histogram.len(),
            others,
            errors,
            first_error,
            measured: self.measured,
            histogram,
            peak_rss_kib: self.peak_rss_kib,
            cpu: self.cpu,
        }
    }
}

// ---------------------------------------------------------------------------------------------

struct Report {
    machine: String,
    postgres_version: String,
    clients: usize,
    warmup: Duration,
    measure: Duration,
    dashboard: Phase,
    gateway: Phase,
    direct: Phase,
    /// The console's home page, anonymous visitors.
    home_page: Phase,
    /// The firm's voucher page, one signed-in session per client.
    voucher_page: Phase,
    /// `pilot(id)` and `GetPilot` for one client alone.
    one_client_pilot: Phase,
    one_client_direct: Phase,
    one_client_voucher: Phase,
    uncached_dashboard: Phase,
    pilot_list: Phase,
    /// Hive Gateway's single pilot and pilot list, or why it did not run.
    peer: Result<(Phase, Phase), String>,
    open_loop: Phase,
    /// The open loop's arrival rate, requests/s.
    rate: f64,
    sign_in_mix: Phase,
    debits_spread: Phase,
    debits_hot: Phase,
    /// Voucher lists on SQLite: reads on the writer's connection, then with the reader pool.
    embedded: Vec<Phase>,
    /// After [`SIGN_INS`] sign-ins.
    rss_after_sign_ins_kib: u64,
    rss_idle_kib: u64,
    rss_after_kib: u64,
    stderr: Vec<(String, usize)>,
}

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn latency_row(phase: &Phase) -> String {
    format!(
        "{:.1} / {:.1} / {:.1} / {:.1}",
        phase.ms(0.50),
        phase.ms(0.90),
        phase.ms(0.99),
        phase.max_ms()
    )
}

fn cpu_row(phase: &Phase) -> String {
    let c = &phase.cpu;
    format!(
        "{:.0}% / {:.0}% / {:.0}% / {:.0}% / {:.0}% (machine {:.0}%)",
        c.axv, c.postgres, c.redis, c.loadgen, c.other, c.machine
    )
}

/// A phase's throughput, latencies and errors in one row.
fn phase_row(what: &str, phase: &Phase, unit: &str, goal: &str) {
    println!(
        "| {what}: {unit}/s; p50 / p90 / p99 / max; errors | {}; {}; {} of {} | {goal} |",
        thousands(phase.rate()),
        latency_row(phase),
        phase.errors,
        thousands((phase.requests + phase.others + phase.errors) as f64),
    );
}

fn print_more_rows(r: &Report) {
    let one = &r.one_client_voucher;
    println!(
        "| one client: `voucher(id)` through the gateway (the firm's own token), p50 / p90 / p99 / max | {} | p50 < 5: {} |",
        latency_row(one),
        verdict(one.ms(0.50) < 5.0)
    );
    phase_row(
        "dashboard query, uncached (an operator: never served from the cache)",
        &r.uncached_dashboard,
        "requests",
        "",
    );
    phase_row(
        "20 pilots with participants and milestones through the gateway",
        &r.pilot_list,
        "requests",
        "",
    );
    match &r.peer {
        Ok((single, list)) => {
            for (what, ours, theirs) in [
                ("single object `pilot(id)`", &r.gateway, single),
                ("20 pilots with nested fields", &r.pilot_list, list),
            ] {
                let ratio = ours.rate() / theirs.rate().max(1e-3);
                println!(
                    "| {what}, ours vs Hive Gateway (same services, {} clients): requests/s; p50; p99 | {} vs {} ({ratio:.2}x); {:.1} vs {:.1}; {:.1} vs {:.1} | ≥ 2x and p99 lower: {} |",
                    r.clients,
                    thousands(ours.rate()),
                    thousands(theirs.rate()),
                    ours.ms(0.50),
                    theirs.ms(0.50),
                    ours.ms(0.99),
                    theirs.ms(0.99),
                    verdict(ratio >= 2.0 && ours.ms(0.99) < theirs.ms(0.99))
                );
            }
        }
        Err(why) => println!("| Hive Gateway side by side | not run: {why} | |"),
    }
    let open = &r.open_loop;
    phase_row(
        &format!(
            "`pilot(id)` open loop at {:.0}/s, timed from when each was due",
            r.rate
        ),
        open,
        "requests",
        "",
    );
    let mix = &r.sign_in_mix;
    println!(
        "| `pilot(id)` while {} of {} clients sign in: requests/s; p50 / p90 / p99 / max; sign-ins/s; errors | {}; {}; {:.1}; {} | |",
        r.clients / 10,
        r.clients,
        thousands(mix.rate()),
        latency_row(mix),
        mix.others as f64 / mix.measured.as_secs_f64(),
        mix.errors
    );
    let (spread, hot) = (&r.debits_spread, &r.debits_hot);
    phase_row(
        &format!("debits (`RecordUsage`, gRPC) over {} vouchers", r.clients),
        spread,
        "debits",
        &format!(
            "≥ 5,000/s and p99 < 20: {}",
            verdict(spread.rate() >= 5000.0 && spread.ms(0.99) < 20.0)
        ),
    );
    phase_row(
        "debits on one voucher",
        hot,
        "debits",
        &format!("≥ 2,000/s: {}", verdict(hot.rate() >= 2000.0)),
    );
    for (what, phase) in [
        ("debits over many vouchers", spread),
        ("debits on one voucher", hot),
    ] {
        println!("| CPU during {what} | {} | |", cpu_row(phase));
    }
    if let [shared, pooled] = r.embedded.as_slice() {
        phase_row(&shared.name, shared, "requests", "");
        let gain = pooled.rate() / shared.rate().max(1e-3);
        phase_row(
            &pooled.name,
            pooled,
            "requests",
            &format!("≥ 2x the row above: {gain:.2}x, {}", verdict(gain >= 2.0)),
        );
        for phase in [shared, pooled] {
            println!("| CPU during the {} | {} | |", phase.name, cpu_row(phase));
        }
    }
}

fn print_report(r: &Report) {
    let d = &r.dashboard;
    let g = &r.gateway;
    let x = &r.direct;
    let p50_ratio = g.ms(0.50) / x.ms(0.50).max(1e-3);
    let p99_ratio = g.ms(0.99) / x.ms(0.99).max(1e-3);
    let rate_ratio = x.rate() / g.rate().max(1e-3);
    let peak = [d, g, x, &r.home_page, &r.voucher_page]
        .iter()
        .map(|phase| phase.peak_rss_kib)
        .max()
        .unwrap_or(0);
    let secs = r.measure.as_secs_f64();
    println!();
    println!(
        "`axv up --demo` (release) on Postgres and Redis, {} concurrent clients in a closed loop, \
         {:.0} s measured after {:.0} s warm-up per row; latencies in ms.",
        r.clients,
        secs,
        r.warmup.as_secs_f64()
    );
    println!();
    println!("| measurement | result | goal |");
    println!("|---|---:|---|");
    println!(
        "| dashboard query (`programStats` + 20 pilots with lead companies): requests/s | {} | ≥ 1,000: {} |",
        thousands(d.rate()),
        verdict(d.rate() >= 1000.0)
    );
    println!(
        "| dashboard query: p50 / p90 / p99 / max | {} | p99 < 50: {} |",
        latency_row(d),
        verdict(d.ms(0.99) < 50.0)
    );
    println!(
        "| dashboard query: errors / requests | {} / {} | |",
        d.errors,
        thousands(d.requests as f64)
    );
    println!(
        "| `pilot(id) {{ id title }}` through the gateway: requests/s | {} | |",
        thousands(g.rate())
    );
    println!(
        "| `pilot(id)` through the gateway: p50 / p90 / p99 / max | {} | |",
        latency_row(g)
    );
    println!(
        "| `GetPilot` straight to the pilots gRPC port: requests/s | {} | |",
        thousands(x.rate())
    );
    println!(
        "| `GetPilot` direct: p50 / p90 / p99 / max | {} | |",
        latency_row(x)
    );
    println!(
        "| gateway overhead: p50 ratio / p99 ratio / throughput ratio (gateway ÷ direct) | {p50_ratio:.2}x / {p99_ratio:.2}x / {rate_ratio:.2}x | p50 ≤ 1.3x: {} |",
        verdict(p50_ratio <= 1.3)
    );
    let (one, one_direct) = (&r.one_client_pilot, &r.one_client_direct);
    println!(
        "| one client: `pilot(id)` through the gateway, p50 / p90 / p99 / max | {} | p50 < 5: {} |",
        latency_row(one),
        verdict(one.ms(0.50) < 5.0)
    );
    println!(
        "| one client: `GetPilot` direct, p50 / p90 / p99 / max | {} | |",
        latency_row(one_direct)
    );
    for (page, phase) in [
        (
            "console home page (anonymous; release figures, charts)",
            &r.home_page,
        ),
        (
            "console voucher page (signed-in sessions; balance, ledger)",
            &r.voucher_page,
        ),
    ] {
        println!("| {page}: pages/s | {} | |", thousands(phase.rate()));
        println!(
            "| {page}: p50 / p90 / p99 / max | {} | |",
            latency_row(phase)
        );
        println!(
            "| {page}: errors / pages | {} / {} | |",
            phase.errors,
            thousands(phase.requests as f64)
        );
    }
    print_more_rows(r);
    println!(
        "| errors / requests: gateway `pilot(id)`, direct `GetPilot` | {} / {}, {} / {} | |",
        g.errors,
        thousands(g.requests as f64),
        x.errors,
        thousands(x.requests as f64)
    );
    println!(
        "| `axv up` resident memory: idle after start | {:.1} MB | < 150 MB: {} |",
        mib(r.rss_idle_kib),
        verdict(mib(r.rss_idle_kib) < 150.0)
    );
    println!(
        "| `axv up` resident memory: peak under load (dashboard / `pilot` / direct / home page / voucher page) | {:.1} MB ({:.1} / {:.1} / {:.1} / {:.1} / {:.1}) | < 150 MB: {} |",
        mib(peak),
        mib(d.peak_rss_kib),
        mib(g.peak_rss_kib),
        mib(x.peak_rss_kib),
        mib(r.home_page.peak_rss_kib),
        mib(r.voucher_page.peak_rss_kib),
        verdict(mib(peak) < 150.0)
    );
    println!(
        "| `axv up` resident memory: 3 s after the load | {:.1} MB | |",
        mib(r.rss_after_kib)
    );
    println!(
        "| `axv up` resident memory: after {SIGN_INS} sign-ins | {:.1} MB | < 150 MB: {} |",
        mib(r.rss_after_sign_ins_kib),
        verdict(mib(r.rss_after_sign_ins_kib) < 150.0)
    );
    println!(
        "| CPU during the dashboard load, % of one core: axv / Postgres / Redis / load generator / other | {} | |",
        cpu_row(d)
    );
    println!(
        "| CPU during `pilot(id)` through the gateway | {} | |",
        cpu_row(g)
    );
    println!("| CPU during direct `GetPilot` | {} | |", cpu_row(x));
    println!(
        "| CPU during the console's home page | {} | |",
        cpu_row(&r.home_page)
    );
    println!(
        "| CPU during the firm's voucher page | {} | |",
        cpu_row(&r.voucher_page)
    );
    println!(
        "| machine | {}; Postgres {} | |",
        r.machine, r.postgres_version
    );
    println!();
    for phase in [d, g, x, &r.home_page, &r.voucher_page] {
        let top: Vec<String> = phase
            .cpu
            .axv_threads
            .iter()
            .filter(|(_, pct, _)| *pct >= 1.0)
            .take(6)
            .map(|(name, pct, n)| format!("{name} ×{n}: {pct:.0}%"))
            .collect();
        println!(
            "axv threads by CPU during {}: {}",
            phase.name,
            if top.is_empty() {
                "(none above 1%)".to_owned()
            } else {
                top.join(", ")
            }
        );
    }
    let mut phases = vec![
        d,
        g,
        x,
        &r.one_client_pilot,
        &r.one_client_direct,
        &r.home_page,
        &r.voucher_page,
        &r.one_client_voucher,
        &r.uncached_dashboard,
        &r.pilot_list,
        &r.open_loop,
        &r.sign_in_mix,
        &r.debits_spread,
        &r.debits_hot,
    ];
    phases.extend(r.embedded.iter());
    if let Ok((single, list)) = &r.peer {
        phases.extend([single, list]);
    }
    for phase in &phases {
        let work: Vec<String> = phase
            .work
            .iter()
            .take(10)
            .map(|(what, n)| format!("{what} {n:.2}"))
            .collect();
        println!(
            "per request during {}: {}",
            phase.name,
            if work.is_empty() {
                "(no /metrics)".to_owned()
            } else {
                work.join(", ")
            }
        );
    }
    for phase in &phases {
        if let Some(error) = &phase.first_error {
            println!("first error in {}: {error}", phase.name);
        }
    }
    let lines: usize = r.stderr.iter().map(|(_, n)| n).sum();
    if lines > 0 {
        println!("axv logged {lines} lines (RUST_LOG=warn) during the run, most frequent:");
        for (message, n) in r.stderr.iter().take(5) {
            println!("  {n:>6} × {message}");
        }
    }
}

// ---------------------------------------------------------------------------------------------

async fn bench(setup: &Setup, platform: &mut Option<Platform>) -> anyhow::Result<Report> {
    let clients = usize::try_from(env_number("BENCH_CLIENTS", 50)?)?;
    let warmup = Duration::from_secs(env_number("BENCH_WARMUP_SECS", 3)?);
    let measure = Duration::from_secs(env_number("BENCH_SECS", 20)?.max(1));
    let listen = format!("127.0.0.1:{}", free_port()?);

    eprintln!("starting `axv up --demo` on {listen} ...");
    let started = Instant::now();
    let p = platform.insert(setup.start(&listen).await?);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_ready(&http, &p.base_url).await?;
    eprintln!("  up and ready in {:.1} s", started.elapsed().as_secs_f64());

    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    {
        let (peak, sampling, pid) = (peak_rss.clone(), sampling.clone(), p.pid);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle_kib = rss_kib(p.pid).ok_or_else(|| anyhow!("axv up is gone"))?;

    let token = setup.token("DASHBOARD")?;

    // Check the dashboard query answers cleanly, and find a pilot for the simple query.
    let dashboard = Op::graphql(
        &http,
        &p.graphql_url,
        &token,
        &format!("{DASHBOARD_QUERY}\n{TOTALS}"),
        serde_json::json!({}),
    )?;
    dashboard.check("the dashboard query fails").await?;
    let answer: serde_json::Value = http
        .post(&p.graphql_url)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": format!("{DASHBOARD_QUERY}\n{TOTALS}") }))
        .send()
        .await?
        .json()
        .await?;
    let pilots = answer["data"]["pilots"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pilot_vouchers = pilots
        .iter()
        .filter(|e| {
            e["node"]["vouchers"]
                .as_array()
                .is_some_and(|v| !v.is_empty())
        })
        .count();
    eprintln!(
        "  dashboard query answers: {} pilots of {} on the page, {} pilots with vouchers visible, {} sectors, {} domains, {} quarters; {} bytes",
        pilots.len(),
        answer["data"]["pilots"]["totalCount"],
        pilot_vouchers,
        answer["data"]["programStats"]["bySector"]
            .as_array()
            .map_or(0, Vec::len),
        answer["data"]["programStats"]["byDomain"]
            .as_array()
            .map_or(0, Vec::len),
        answer["data"]["programStats"]["timeSeries"]
            .as_array()
            .map_or(0, Vec::len),
        answer.to_string().len()
    );
    let pilot_id = pilots
        .first()
        .and_then(|e| e["node"]["id"].as_str())
        .ok_or_else(|| anyhow!("the dashboard sees no pilots: {answer}"))?
        .to_owned();

    let gateway_pilot = Op::graphql(
        &http,
        &p.graphql_url,
        &token,
        PILOT_QUERY,
        serde_json::json!({ "id": pilot_id }),
    )?;
    gateway_pilot.check("pilot(id) fails").await?;
    let channel = tonic::transport::Endpoint::from_shared(p.pilots_grpc.clone())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {}", p.pilots_grpc))?;
    let direct = Op::Grpc {
        client: PilotsServiceClient::new(channel),
        auth: AsciiMetadataValue::try_from(format!("Bearer {token}"))?,
        id: pilot_id.clone(),
    };
    direct.check("GetPilot fails").await?;

    // The console: the home page for anonymous visitors, and the firm's voucher page for as
    // many signed-in sessions as clients.
    let home = Op::Page {
        http: http.clone(),
        url: format!("{}/", p.base_url),
        cookies: Arc::new(Vec::new()),
        cookie: None,
    };
    home.check("the home page fails").await?;
    let (firm_token, voucher) = demo_firm(&http, &p.graphql_url).await?;
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(console_session(&p.base_url, DEMO_FIRM, DEMO_PASSWORD).await?);
    }
    let voucher_page = Op::Page {
        http: http.clone(),
        url: format!("{}/vouchers/{voucher}", p.base_url),
        cookies: Arc::new(sessions),
        cookie: None,
    };
    voucher_page
        .for_client(0)
        .check("the voucher page fails")
        .await?;
    eprintln!("  {clients} console sessions signed in");
    // The rest of SIGN_INS sign-ins through the API, as many at once as clients: memory after a
    // burst of Argon2id verifications.
    let more = SIGN_INS.saturating_sub(clients);
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..more {
        let (http, url) = (http.clone(), p.graphql_url.clone());
        logins.spawn(async move {
            let answer: serde_json::Value = http
                .post(&url)
                .json(&serde_json::json!({
                    "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                    "variables": { "e": DEMO_FIRM, "p": DEMO_PASSWORD },
                }))
                .send()
                .await
                .map_err(|e| anyhow!("sign-in {i}: {e}"))?
                .json()
                .await
                .map_err(|e| anyhow!("sign-in {i}: {e}"))?;
            answer["data"]["login"]["accessToken"]
                .as_str()
                .map(|_| ())
                .ok_or_else(|| anyhow!("sign-in {i} refused: {answer}"))
        });
        if logins.len() >= clients
            && let Some(done) = logins.join_next().await
        {
            done??;
        }
    }
    while let Some(done) = logins.join_next().await {
        done??;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_sign_ins_kib = rss_kib(p.pid).ok_or_else(|| anyhow!("axv up is gone"))?;
    eprintln!(
        "  {SIGN_INS} sign-ins: resident memory {:.1} MB",
        mib(rss_after_sign_ins_kib)
    );

    let load = Load {
        clients,
        warmup,
        measure,
        pid: p.pid,
        ticks_per_sec: ticks_per_second(),
        peak_rss,
        http: http.clone(),
        metrics_url: p.metrics_url.clone(),
    };
    // The ledger: vouchers issued through the API, then debits straight to the vouchers service.
    let operator = setup.token("OPERATOR")?;
    let tokens = ledger::Tokens {
        admin: setup.token("ADMIN")?,
        manager: setup.token("PROGRAM_MANAGER")?,
        firm: firm_token.clone(),
    };
    let codes = ledger::issue_vouchers(&http, &p.graphql_url, &tokens, clients).await?;
    eprintln!("  {} vouchers issued for the ledger rows", codes.len());
    let channel = tonic::transport::Endpoint::from_shared(p.vouchers_grpc.clone())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {}", p.vouchers_grpc))?;
    let vouchers =
        axv_proto::vouchers::v1::vouchers_service_client::VouchersServiceClient::new(channel);
    let spread = ledger::Debit::new(vouchers.clone(), &operator, codes.clone(), "spread")?;
    Op::Usage(spread.clone()).check("RecordUsage fails").await?;
    eprintln!("driving load:");
    let dashboard = load.run("the dashboard query", dashboard).await?;
    // One person at a time: the latency the console mostly sees.
    let one_client_pilot = load
        .run_clients(
            "`pilot(id)` through the gateway, one client",
            gateway_pilot.clone(),
            1,
        )
        .await?;
    let one_client_direct = load
        .run_clients("direct `GetPilot`, one client", direct.clone(), 1)
        .await?;
    let gateway = load
        .run("`pilot(id)` through the gateway", gateway_pilot.clone())
        .await?;
    let direct = load.run("direct `GetPilot`", direct).await?;
    let home_page = load.run("the console's home page", home).await?;
    let voucher_page = load.run("the firm's voucher page", voucher_page).await?;

    // One person opening a voucher: the firm's own token, answered per request.
    let firm_voucher = Op::graphql(
        &http,
        &p.graphql_url,
        &firm_token,
        VOUCHER_QUERY,
        serde_json::json!({ "id": voucher }),
    )?;
    firm_voucher.check("voucher(id) fails").await?;
    let one_client_voucher = load
        .run_clients(
            "`voucher(id)` through the gateway, one client",
            firm_voucher,
            1,
        )
        .await?;
    // The dashboard query for a caller the response cache never serves (an operator).
    let uncached = Op::graphql(
        &http,
        &p.graphql_url,
        &operator,
        &format!("{DASHBOARD_QUERY}\n{TOTALS}"),
        serde_json::json!({}),
    )?;
    uncached.check("the uncached dashboard query fails").await?;
    let uncached_dashboard = load
        .run("the dashboard query, uncached (an operator)", uncached)
        .await?;
    // A manager sees every pilot's participants and milestones (a dashboard sees none).
    let manager = tokens.manager.clone();
    let list = Op::graphql(
        &http,
        &p.graphql_url,
        &manager,
        LIST_QUERY,
        serde_json::json!({}),
    )?;
    list.check("the pilot list fails").await?;
    let pilot_list = load
        .run("20 pilots with participants and milestones", list)
        .await?;
    let peer = if env_or("BENCH_PEER", "1") == "0" {
        Err("BENCH_PEER=0".to_owned())
    } else {
        side_by_side(&load, &http, &p.grpc, &token, &manager, &pilot_id)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    let rate = env_number("BENCH_RATE", 1_000)? as f64;
    let open_loop = load
        .run_open("`pilot(id)` open loop", gateway_pilot.clone(), rate)
        .await?;
    // People signing in beside people reading: Argon2id on a bounded pool must not stall reads.
    let signing_in = clients / 10;
    let sign_in = Op::sign_in(&http, &p.graphql_url)?;
    let mix: Vec<(Op, bool)> = (0..clients)
        .map(|i| {
            if i < signing_in {
                (sign_in.clone(), false)
            } else {
                (gateway_pilot.for_client(i), true)
            }
        })
        .collect();
    let sign_in_mix = load
        .run_each(
            &format!("`pilot(id)` while {signing_in} clients sign in"),
            mix,
        )
        .await?;

    let debits_spread = load
        .run(
            &format!("debits over {} vouchers", codes.len()),
            Op::Usage(spread),
        )
        .await?;
    let hot = ledger::Debit::new(vouchers, &operator, codes[..1].to_vec(), "hot")?;
    let debits_hot = load.run("debits on one voucher", Op::Usage(hot)).await?;

    sampling.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after_kib = rss_kib(p.pid).ok_or_else(|| anyhow!("axv up is gone"))?;

    Ok(Report {
        machine: machine(),
        postgres_version: String::new(),
        clients,
        warmup,
        measure,
        dashboard,
        gateway,
        direct,
        home_page,
        voucher_page,
        one_client_pilot,
        one_client_direct,
        one_client_voucher,
        uncached_dashboard,
        pilot_list,
        peer,
        open_loop,
        rate,
        sign_in_mix,
        debits_spread,
        debits_hot,
        embedded: Vec::new(),
        rss_after_sign_ins_kib,
        rss_idle_kib,
        rss_after_kib,
        stderr: p.stderr_summary(),
    })
}

/// The peer gateway in front of the same services: the single pilot (the dashboard's token,
/// as our `pilot(id)` row) and the 20-pilot list (the manager's, as ours).
async fn side_by_side(
    load: &Load,
    http: &reqwest::Client,
    grpc: &HashMap<String, String>,
    dashboard: &str,
    manager: &str,
    pilot_id: &str,
) -> anyhow::Result<(Phase, Phase)> {
    let peer = peer::start(grpc, free_port()?).await?;
    eprintln!("  peer gateway (Hive Gateway, pid {}) ready", peer.pid);
    let single = Op::graphql(
        http,
        &peer.graphql_url,
        dashboard,
        peer::PILOT_QUERY,
        serde_json::json!({ "id": pilot_id }),
    )?;
    single.check("the peer's pilot query fails").await?;
    let list = Op::graphql(
        http,
        &peer.graphql_url,
        manager,
        peer::LIST_QUERY,
        serde_json::json!({}),
    )?;
    list.check("the peer's pilot list fails").await?;
    let single = load.run("Hive Gateway: the single pilot", single).await?;
    let list = load.run("Hive Gateway: 20 pilots", list).await?;
    Ok((single, list))
}

/// The embedded default (SQLite files, in-process cache and bus): the voucher list for a
/// programme manager at [`EMBEDDED_CLIENTS`] clients, with reads sharing the writer's one
/// connection (`AXV_SQLITE_READERS=0`, as before the reader pool) and with the reader pool.
async fn embedded(
    setup: &Setup,
    measure: Duration,
    warmup: Duration,
) -> anyhow::Result<Vec<Phase>> {
    let mut phases = Vec::new();
    for (readers, name) in [
        (
            "0",
            "voucher list, SQLite, reads on the writer's connection",
        ),
        ("", "voucher list, SQLite, reader pool"),
    ] {
        let data_dir = tempfile::Builder::new()
            .prefix("axv-bench-sqlite-")
            .tempdir()?;
        let mut env: Vec<(&'static str, String)> = setup
            .env
            .iter()
            .filter(|(name, _)| {
                !matches!(
                    *name,
                    "DATABASE_URL" | "REDIS_URL" | "AXV_REDIS_PREFIX" | "AXV_DATA_DIR"
                )
            })
            .cloned()
            .collect();
        env.push(("AXV_DATA_DIR", data_dir.path().display().to_string()));
        if !readers.is_empty() {
            env.push(("AXV_SQLITE_READERS", readers.to_owned()));
        }
        let embedded = Setup {
            bin: setup.bin.clone(),
            env,
            data_dir: data_dir.path().to_owned(),
        };
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut platform = embedded.start(&listen).await?;
        let result = async {
            let http = reqwest::Client::builder()
                .no_proxy()
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(30))
                .build()?;
            wait_ready(&http, &platform.base_url).await?;
            let manager = embedded.token("PROGRAM_MANAGER")?;
            let list = Op::graphql(
                &http,
                &platform.graphql_url,
                &manager,
                VOUCHER_LIST_QUERY,
                serde_json::json!({}),
            )?;
            list.check("the voucher list fails").await?;
            let load = Load {
                clients: EMBEDDED_CLIENTS,
                warmup,
                measure,
                pid: platform.pid,
                ticks_per_sec: ticks_per_second(),
                peak_rss: Arc::new(AtomicU64::new(0)),
                http: http.clone(),
                metrics_url: platform.metrics_url.clone(),
            };
            load.run(name, list).await
        }
        .await;
        platform.stop();
        phases.push(result?);
    }
    Ok(phases)
}

fn redis_cleanup(redis_url: &str, prefix: &str) -> String {
    let scan = Command::new("redis-cli")
        .args([
            "-u",
            redis_url,
            "--scan",
            "--pattern",
            &format!("{prefix}*"),
        ])
        .output();
    let keys: Vec<String> = match scan {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => return format!("redis-cli unavailable: keys under {prefix:?} were left in Redis"),
    };
    for chunk in keys.chunks(200) {
        let _ = Command::new("redis-cli")
            .args(["-u", redis_url, "DEL"])
            .args(chunk)
            .output();
    }
    format!("deleted {} Redis keys under {prefix:?}", keys.len())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gateway_load: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let bin = axv_binary()?;
    let admin_url = env_or(
        "AXV_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let redis_url = std::env::var("AXV_TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let suffix = format!(
        "{:x}{:x}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let database = format!("axv_bench_{suffix}");
    let prefix = format!("axvbench:{suffix}:");
    let postgres_version = psql(&admin_url, "SHOW server_version")?;
    psql(&admin_url, &format!("CREATE DATABASE {database}"))?;
    eprintln!("created database {database}; Redis prefix {prefix:?}");
    let data_dir = tempfile::Builder::new().prefix("axv-bench-").tempdir()?;
    let setup = Setup {
        bin,
        env: vec![
            ("DATABASE_URL", with_database(&admin_url, &database)?),
            ("REDIS_URL", redis_url.clone()),
            ("AXV_REDIS_PREFIX", prefix.clone()),
            ("AXV_DATA_DIR", data_dir.path().display().to_string()),
            ("AXV_RATE_LIMITS", RATE_LIMITS.to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ],
        data_dir: data_dir.path().to_owned(),
    };

    let mut platform = None;
    // `BENCH_ONLY=worklist`: the programme office's worklist alone (see `worklist`).
    let only_worklist = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "worklist");
    let result = if only_worklist {
        worklist::bench(&setup, &mut platform).await.map(|()| None)
    } else {
        bench(&setup, &mut platform).await.map(Some)
    };

    // Clean up whatever happened.
    if let Some(mut p) = platform {
        if result.is_err() {
            eprintln!("axv stderr (last lines):\n{}", p.stderr_tail());
        }
        p.stop();
    }
    match psql(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
    ) {
        Ok(_) => eprintln!("dropped database {database}"),
        Err(e) => eprintln!("could not drop database {database}: {e:#}"),
    }
    eprintln!("{}", redis_cleanup(&redis_url, &prefix));

    let Some(mut report) = result? else {
        return Ok(());
    };
    report.postgres_version = postgres_version;
    eprintln!("the embedded default:");
    report.embedded = embedded(&setup, report.measure, report.warmup).await?;
    print_report(&report);
    Ok(())
}
