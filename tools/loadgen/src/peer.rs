//! The peer: Hive Gateway with GraphQL Mesh's gRPC source (npm, in `tools/loadgen/peer`),
//! started in front of the very services `axv up` runs, so both gateways are measured on the
//! same backends, machine and run. Benchmarks only; nothing of it ships.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};

/// The peer's `pilot(id) { id title }`.
pub const PILOT_QUERY: &str = "query A($id: String!) { \
    axv_pilots_v1_PilotsService_GetPilot(input: { id: $id }) { pilot { id title } } }";

/// The peer's 20 pilots with participants and milestones (our `LIST_QUERY`).
pub const LIST_QUERY: &str = "{ axv_pilots_v1_PilotsService_ListPilots(input: { page_size: 20 }) \
    { pilots { id title domain status participants { role state } milestones { title due_on } } } }";

pub struct Peer {
    child: Child,
    pub graphql_url: String,
    pub pid: u32,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

/// Installs the peer's packages (`npm ci`, once) and starts it on `port` in front of the
/// services at `grpc` (service name → `http://host:port`). `Err` says why it could not run.
pub async fn start(grpc: &HashMap<String, String>, port: u16) -> anyhow::Result<Peer> {
    let dir = folder();
    if !dir.join("node_modules/@graphql-hive/gateway").is_dir() {
        eprintln!(
            "  installing the peer gateway (npm ci in {}) ...",
            dir.display()
        );
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .context("running npm (is Node.js installed?)")?;
        if !status.success() {
            bail!("npm ci failed in {}", dir.display());
        }
    }
    let log = std::fs::File::create(std::env::temp_dir().join("axv-bench-peer.log"))?;
    let mut command = Command::new(dir.join("start.sh"));
    command
        .args(["127.0.0.1", &port.to_string()])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    for service in ["pilots", "vouchers", "onboarding", "outcomes"] {
        let url = grpc
            .get(service)
            .ok_or_else(|| anyhow!("axv up printed no {service} gRPC address"))?;
        let address = url.trim_start_matches("http://").trim_end_matches('/');
        command.env(format!("{}_GRPC", service.to_uppercase()), address);
    }
    let child = command.spawn().context("starting the peer gateway")?;
    let peer = Peer {
        pid: child.id(),
        child,
        graphql_url: format!("http://127.0.0.1:{port}/graphql"),
    };
    let http = reqwest::Client::builder().no_proxy().build()?;
    let ready = format!("http://127.0.0.1:{port}/readiness");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(answer) = http.get(&ready).send().await
            && answer.status().is_success()
        {
            return Ok(peer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "the peer gateway was not ready in 60 s (its log: {})",
        std::env::temp_dir().join("axv-bench-peer.log").display()
    )
}
