//! Ledger throughput against Postgres, printed as a table (not a timed test):
//! - single usage debits through gRPC with 32 concurrent clients (p50/p99 latency), spread over
//!   many vouchers and all on one voucher (the hot row);
//! - Slurm `sacct` ingestion of a 100,000-line file through gRPC.
//!
//! `cargo bench -p axv-vouchers --bench ledger` (set AXV_TEST_DATABASE_URL if Postgres is not
//! at postgres://postgres@127.0.0.1:5432/postgres).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_platform::{audit::Actor, calendar::today_kst};
use std::time::{Duration, Instant};

use axv_auth::Role;
use axv_proto::vouchers::v1::{self as pb, vouchers_service_client::VouchersServiceClient};
use axv_testkit::{Stack, vouchers::issue};
use axv_vouchers::{
    domain::{FundingSource, ResourceKind},
    store::{NewPool, NewProgram},
};
use tonic::transport::Channel;

const CLIENTS: usize = 32;
const DEBITS_PER_CLIENT: usize = 400;
const SACCT_LINES: usize = 100_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Row {
    name: String,
    operations: usize,
    elapsed: Duration,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

async fn debits(
    clients: &[VouchersServiceClient<Channel>],
    token: &str,
    codes: &[String],
    label: &str,
) -> Row {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let mut client = clients[n % clients.len()].clone();
        let code = codes[n % codes.len()].clone();
        let token = token.to_owned();
        let label = label.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(DEBITS_PER_CLIENT);
            for i in 0..DEBITS_PER_CLIENT {
                let mut request = tonic::Request::new(pb::RecordUsageRequest {
                    cluster: "bench".into(),
                    job_id: format!("{label}-{n}-{i}"),
                    voucher_code: code.clone(),
                    amount: 60,
                    started_at_ms: 0,
                    ended_at_ms: 0,
                });
                axv_auth::attach_bearer(&mut request, &token).unwrap();
                let sent = Instant::now();
                client.record_usage(request).await.unwrap();
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Row {
        name: label.to_owned(),
        operations: latencies.len(),
        elapsed,
        p50: Some(percentile(&latencies, 0.50)),
        p99: Some(percentile(&latencies, 0.99)),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let Some(db) = axv_testkit::db::postgres().await else {
        eprintln!("the ledger benchmark needs Postgres (AXV_TEST_DATABASE_URL)");
        return;
    };
    // Onboarding, pilots and vouchers over real gRPC, as in the tests: every batch of debits
    // asks onboarding whether the companies are in good standing.
    let h = Stack::start(db, &["vouchers"]).await;
    let store = h.vouchers().store().clone();
    let firm = h.firm(1).approved().await;
    let operator = h.token(Role::Operator);

    let pool = store
        .create_pool(
            NewPool {
                name: "bench".into(),
                kind: ResourceKind::GpuH100,
                capacity: i64::MAX / 4,
                funding: FundingSource::National,
                valid_from: today_kst(),
                valid_until: today_kst() + chrono::Days::new(30),
            },
            &Actor::account("bench-admin", Role::Admin),
        )
        .await
        .unwrap();
    let program = store
        .create_program(
            NewProgram {
                pool_id: pool.id,
                name: "bench".into(),
                opens_on: today_kst(),
                closes_on: today_kst() + chrono::Days::new(30),
                max_per_company: i64::MAX / 8,
                sectors: vec![],
            },
            &Actor::account("bench-manager", Role::ProgramManager),
        )
        .await
        .unwrap();
    let mut codes = Vec::new();
    for _ in 0..CLIENTS {
        codes.push(
            issue(&store, &program.id, &firm.company_id, 1_000_000_000)
                .await
                .code,
        );
    }
    let hot = issue(&store, &program.id, &firm.company_id, 1_000_000_000)
        .await
        .code;

    let mut clients = Vec::new();
    for _ in 0..4 {
        let channel = Channel::from_shared(h.url("vouchers"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(
            VouchersServiceClient::new(channel)
                .max_encoding_message_size(axv_vouchers::grpc::MAX_MESSAGE_BYTES)
                .max_decoding_message_size(axv_vouchers::grpc::MAX_MESSAGE_BYTES),
        );
    }
    // Warm-up: connections, prepared statements, the pool.
    debits(&clients, &operator, &codes, "warmup").await;

    let mut rows = Vec::new();
    rows.push(
        debits(
            &clients,
            &operator,
            &codes,
            "debits, 32 clients, 32 vouchers",
        )
        .await,
    );
    rows.push(
        debits(
            &clients,
            &operator,
            std::slice::from_ref(&hot),
            "debits, 32 clients, one voucher",
        )
        .await,
    );

    // sacct: about 100,000 lines (jobs with their steps, arrays, running jobs).
    let accounts: Vec<&str> = codes.iter().map(String::as_str).collect();
    let mut jobs = SACCT_LINES / 3;
    let mut text = axv_testkit::sacct::synthetic(jobs, &accounts, 7);
    while text.lines().count() < SACCT_LINES {
        jobs += jobs / 10;
        text = axv_testkit::sacct::synthetic(jobs, &accounts, 7);
    }
    let text: String = text
        .lines()
        .take(SACCT_LINES + 1)
        .map(|l| format!("{l}\n"))
        .collect();
    let lines = text.lines().count() - 1;
    let mut request = tonic::Request::new(pb::IngestSacctRequest {
        cluster: "bench".into(),
        sacct: text,
    });
    axv_auth::attach_bearer(&mut request, &operator).unwrap();
    let started = Instant::now();
    let report = clients[0]
        .clone()
        .ingest_sacct(request)
        .await
        .unwrap()
        .into_inner();
    rows.push(Row {
        name: format!("sacct ingestion ({} jobs charged)", report.accepted),
        operations: lines,
        elapsed: started.elapsed(),
        p50: None,
        p99: None,
    });

    println!();
    println!(
        "| benchmark (Postgres, release build, 2 cores) | operations | seconds | per second | p50 ms | p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| {
                format!("{:.2}", d.as_secs_f64() * 1000.0)
            })
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} |",
            row.name,
            row.operations,
            row.elapsed.as_secs_f64(),
            row.operations as f64 / row.elapsed.as_secs_f64(),
            ms(row.p50),
            ms(row.p99)
        );
    }
    assert_eq!(
        store.ledger_sum().await.unwrap(),
        0,
        "the ledger still balances"
    );
    h.stop().await;
}
