//! `axv usage push FILE --cluster C`: sends a `sacct --parsable2` file (plain or gzip) to a
//! running gateway's `/usage/sacct` as a cron job on the data center's side would, signed in as
//! an API client with the OPERATOR role (client credentials), or with a token given outright.
//! The file is streamed from disk, never read whole.

use std::path::PathBuf;

use anyhow::{Context, bail};
use axv_gateway::usage_upload::UploadReport;
use tokio::io::AsyncReadExt as _;

/// What `axv usage push` was told.
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The `sacct --parsable2` output (a `.gz` file is sent compressed).
    pub file: PathBuf,
    /// The cluster the jobs ran on, as vouchers know it (e.g. `h100`).
    #[arg(long)]
    pub cluster: String,
    /// The gateway's base URL.
    #[arg(long, env = "AXV_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API client's id (an admin registers one with the OPERATOR role).
    #[arg(long, env = "AXV_CLIENT_ID")]
    pub client_id: Option<String>,
    /// That client's secret.
    #[arg(long, env = "AXV_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// An access token to use instead of client credentials.
    #[arg(long, env = "AXV_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// The message of a JSON error answer, or the raw text.
fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = &v["errors"][0];
            let message = error["message"].as_str()?;
            let code = error["extensions"]["code"].as_str().unwrap_or("ERROR");
            Some(format!("{code}: {message}"))
        })
        .or_else(|| {
            serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v["error_description"]
                        .as_str()
                        .or(v["error"].as_str())
                        .map(str::to_owned)
                })
        })
        .unwrap_or_else(|| body.trim().to_owned())
}

async fn token(http: &reqwest::Client, args: &PushArgs) -> anyhow::Result<String> {
    if let Some(token) = &args.token {
        return Ok(token.clone());
    }
    let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) else {
        bail!("give --client-id and --client-secret (AXV_CLIENT_ID, AXV_CLIENT_SECRET) or --token");
    };
    let response = http
        .post(format!("{}/oauth/token", args.url.trim_end_matches('/')))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.url))?;
    let status = response.status();
    let body = response.text().await.context("reading the token answer")?;
    if !status.is_success() {
        bail!("sign-in refused ({status}): {}", error_text(&body));
    }
    Ok(serde_json::from_str::<TokenAnswer>(&body)
        .context("the token answer is not OAuth 2.0 JSON")?
        .access_token)
}

/// Uploads the file; the gateway's report, or why it was refused.
pub async fn push(args: &PushArgs) -> anyhow::Result<UploadReport> {
    let http = reqwest::Client::new();
    let token = token(&http, args).await?;
    let mut file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).await.is_ok() && magic == [0x1f, 0x8b];
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let mut request = http
        .post(format!("{}/usage/sacct", args.url.trim_end_matches('/')))
        .query(&[("cluster", args.cluster.as_str())])
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(
            tokio_util::io::ReaderStream::new(file),
        ));
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.url))?;
    let status = response.status();
    let body = response.text().await.context("reading the upload answer")?;
    if !status.is_success() {
        bail!("upload refused ({status}): {}", error_text(&body));
    }
    serde_json::from_str(&body).context("the upload answer is not the expected JSON")
}

/// The report as an operator reads it: GPU-hours, and every refused line with its reason.
pub fn describe(report: &UploadReport) -> String {
    let hours = |seconds: i64| seconds as f64 / 3600.0;
    let mut text = format!(
        "accepted {} jobs: {:.2} GPU-hours charged; {} already recorded, {} not chargeable (steps, unfinished, no GPU)\n",
        report.accepted,
        hours(report.amount),
        report.duplicates,
        report.skipped
    );
    for charge in &report.charges {
        text.push_str(&format!(
            "  {}: {:.2} GPU-hours for {} jobs\n",
            charge.voucher_code,
            hours(charge.amount),
            charge.jobs
        ));
    }
    if report.overage_jobs > 0 {
        text.push_str(&format!(
            "{} jobs ran beyond their voucher's balance: {:.2} GPU-hours recorded as overage, not charged\n",
            report.overage_jobs,
            hours(report.overage)
        ));
    }
    if report.rejected.is_empty() {
        text.push_str("no line was refused\n");
    } else {
        text.push_str(&format!("{} lines refused:\n", report.rejected.len()));
        for line in &report.rejected {
            text.push_str(&format!("  line {}: {}\n", line.line, line.reason));
        }
    }
    text
}
