//! The programme office's worklist under load (`BENCH_ONLY=worklist`): 1,000 items waiting (a
//! thousand companies submitted through the API, beside the demo's own), 20 managers each
//! signed in to the console in their own session, every one reloading `/review` as soon as it
//! answers. The page runs the six queue queries and the claims lookup for each view.

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};

use crate::{
    Load, Op, Platform, Setup, console_session, cpu_row, env_number, free_port, latency_row,
    ledger::graphql, mib, rss_kib, thousands, ticks_per_second, wait_ready,
};

/// Managers reloading the worklist at once.
const MANAGERS: usize = 20;
/// Items waiting, submitted before the load.
const WAITING: u32 = 1_000;
/// Companies created and submitted at once while seeding.
const SEEDERS: usize = 16;

const CREATE: &str = "mutation($input: CompanyInput!) { createCompany(input: $input) { id } }";
const SUBMIT: &str = "mutation($id: ID!) { submitCompany(id: $id) { status } }";

/// The firm member who submits the waiting companies (sign-ups are limited per address).
async fn firm(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let answer: serde_json::Value = http
        .post(url)
        .json(&serde_json::json!({
            "query": "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
            "variables": { "input": {
                "email": "worklist@bench.axv.kr",
                "password": "worklist-bench-2026",
                "name": "부하 시험 기업",
            } },
        }))
        .send()
        .await?
        .json()
        .await?;
    answer["data"]["signUp"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("signing up a seeding firm: {answer}"))
}

async fn seed(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let mut seeders = tokio::task::JoinSet::new();
    let token = firm(http, url).await?;
    for s in 0..SEEDERS {
        let (http, url, token) = (http.clone(), url.to_owned(), token.clone());
        seeders.spawn(async move {
            let mut n = s as u32;
            while n < WAITING {
                let sector = ["MOBILITY", "ENERGY", "HEALTHCARE", "DATA"][n as usize % 4];
                let input = serde_json::json!({
                    "businessNumber": axv_platform::business_number::made_up(700_000 + n),
                    "nameKo": format!("광주 부하시험 {n:04}"),
                    "sector": sector,
                    "presence": "HEADQUARTERS",
                    "contactEmail": format!("c{n}@bench.axv.kr"),
                });
                let created = graphql(
                    &http,
                    &url,
                    &token,
                    CREATE,
                    serde_json::json!({ "input": input }),
                )
                .await?;
                let id = created["createCompany"]["id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no company id: {created}"))?
                    .to_owned();
                graphql(&http, &url, &token, SUBMIT, serde_json::json!({ "id": id })).await?;
                n += SEEDERS as u32;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = seeders.join_next().await {
        done??;
    }
    Ok(())
}

/// Twenty programme managers added by an admin, each with the temporary password it got.
async fn managers(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut accounts = Vec::with_capacity(MANAGERS);
    for m in 0..MANAGERS {
        let email = format!("pm{m}@bench.axv.kr");
        let answer = graphql(
            http,
            url,
            admin,
            "mutation($input: StaffAccountInput!) { createStaffAccount(input: $input) { temporaryPassword } }",
            serde_json::json!({ "input": {
                "email": email, "name": format!("사업관리자 {m}"), "role": "PROGRAM_MANAGER",
            } }),
        )
        .await?;
        let password = answer["createStaffAccount"]["temporaryPassword"]
            .as_str()
            .ok_or_else(|| anyhow!("no temporary password: {answer}"))?
            .to_owned();
        accounts.push((email, password));
    }
    Ok(accounts)
}

pub async fn bench(setup: &Setup, platform: &mut Option<Platform>) -> anyhow::Result<()> {
    let warmup = Duration::from_secs(env_number("BENCH_WARMUP_SECS", 3)?);
    let measure = Duration::from_secs(env_number("BENCH_SECS", 20)?.max(1));
    let listen = format!("127.0.0.1:{}", free_port()?);
    eprintln!("starting `axv up --demo` on {listen} ...");
    let p = platform.insert(setup.start(&listen).await?);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(MANAGERS * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    wait_ready(&http, &p.base_url).await?;

    let started = Instant::now();
    seed(&http, &p.graphql_url)
        .await
        .context("submitting the waiting companies")?;
    eprintln!(
        "  {WAITING} companies submitted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let admin = setup.token("ADMIN")?;
    let mut sessions = Vec::with_capacity(MANAGERS);
    for (email, password) in managers(&http, &p.graphql_url, &admin).await? {
        sessions.push(console_session(&p.base_url, &email, &password).await?);
    }
    eprintln!("  {MANAGERS} managers signed in to the console");

    let page = Op::Page {
        http: http.clone(),
        url: format!("{}/review", p.base_url),
        cookies: Arc::new(sessions),
        cookie: None,
    };
    // The page counts what waits: check it sees all of it before timing it.
    let first = match page.for_client(0) {
        Op::Page {
            http, url, cookie, ..
        } => {
            let mut request = http.get(&url);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            request.send().await?.text().await?
        }
        _ => String::new(),
    };
    let companies_waiting = first
        .split("data-queue=\"companies\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.trim().parse::<u32>().ok())
        .ok_or_else(|| anyhow!("the worklist shows no company count"))?;
    if companies_waiting < WAITING {
        bail!("the worklist counts {companies_waiting} companies waiting, not {WAITING}+");
    }
    eprintln!(
        "  the worklist counts {companies_waiting} companies waiting ({} bytes a page)",
        first.len()
    );

    let load = Load {
        clients: MANAGERS,
        warmup,
        measure,
        pid: p.pid,
        ticks_per_sec: ticks_per_second(),
        peak_rss: Arc::new(AtomicU64::new(0)),
        http: http.clone(),
        metrics_url: p.metrics_url.clone(),
    };
    let phase = load.run("worklist", page).await?;
    let rss = rss_kib(p.pid).unwrap_or(0);

    println!("| measurement | result |");
    println!("|---|---:|");
    println!(
        "| `/review` (every queue, counts and holders), {MANAGERS} managers in their own sessions, {companies_waiting} companies and the demo's items waiting: pages/s | {} |",
        thousands(phase.rate())
    );
    println!(
        "| the same: p50 / p90 / p99 / max (ms) | {} |",
        latency_row(&phase)
    );
    println!(
        "| the same: errors / pages | {} / {}{} |",
        phase.errors,
        thousands((phase.requests + phase.errors) as f64),
        phase
            .first_error
            .as_deref()
            .map(|e| format!(" (first: {})", e.chars().take(120).collect::<String>()))
            .unwrap_or_default()
    );
    println!(
        "| CPU, % of one core: axv / Postgres / Redis / load generator / other | {} |",
        cpu_row(&phase)
    );
    println!(
        "| gRPC calls and cache lookups per page | {} |",
        phase
            .work
            .iter()
            .take(8)
            .map(|(what, n)| format!("{what} {n:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| `axv up` resident memory after the load | {:.1} MB |",
        mib(rss)
    );
    println!("| machine | {} |", crate::machine());
    Ok(())
}
