//! The ledger under load: vouchers issued through the API the way the city issues them (a pool,
//! a programme, the demo firm's applications, a manager's approvals), then `RecordUsage` sent
//! straight to the vouchers service, as the data center's metering agent sends it.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use anyhow::{anyhow, bail};
use axv_proto::vouchers::v1::{RecordUsageRequest, vouchers_service_client::VouchersServiceClient};
use tonic::{metadata::AsciiMetadataValue, transport::Channel};

/// Large enough that no voucher runs dry during a run (every debit is a real charge), small
/// enough that a pool holds fifty (the API caps amounts at 10^13).
const GRANT: i64 = 100_000_000_000;

/// One debit per request: a job id never sent before, one GPU-second.
#[derive(Clone)]
pub struct Debit {
    client: VouchersServiceClient<Channel>,
    auth: AsciiMetadataValue,
    codes: Arc<Vec<String>>,
    code: String,
    run: String,
    next_job: Arc<AtomicU64>,
}

impl Debit {
    pub fn new(
        client: VouchersServiceClient<Channel>,
        operator_token: &str,
        codes: Vec<String>,
        run: &str,
    ) -> anyhow::Result<Self> {
        let code = codes
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("no voucher to debit"))?;
        Ok(Self {
            client,
            auth: AsciiMetadataValue::try_from(format!("Bearer {operator_token}"))?,
            codes: Arc::new(codes),
            code,
            run: run.to_owned(),
            next_job: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Client `i` charges voucher `i` (wrapping): with as many vouchers as clients, each voucher
    /// has one client; with one voucher, every client charges it.
    pub fn for_client(&self, i: usize) -> Self {
        Self {
            code: self.codes[i % self.codes.len()].clone(),
            ..self.clone()
        }
    }

    pub async fn once(&mut self) -> Result<(), String> {
        let job = self.next_job.fetch_add(1, Ordering::Relaxed);
        let mut request = tonic::Request::new(RecordUsageRequest {
            cluster: "bench".into(),
            job_id: format!("{}-{job}", self.run),
            voucher_code: self.code.clone(),
            amount: 1,
            started_at_ms: 0,
            ended_at_ms: 0,
        });
        request
            .metadata_mut()
            .insert("authorization", self.auth.clone());
        let recorded = self
            .client
            .record_usage(request)
            .await
            .map_err(|status| format!("gRPC {:?}: {}", status.code(), status.message()))?
            .into_inner();
        if recorded.duplicate || recorded.amount != 1 {
            return Err(format!("job {job} was not charged once: {recorded:?}"));
        }
        Ok(())
    }
}

/// One GraphQL request as `token`'s bearer; its `data`, or the errors as the error.
pub(crate) async fn graphql(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let answer: serde_json::Value = http
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    if answer.get("errors").is_some() {
        bail!("{query}: {answer}");
    }
    Ok(answer["data"].clone())
}

/// Issues `count` GPU vouchers of [`GRANT`] GPU-seconds to the demo firm's first company;
/// returns their codes.
pub async fn issue_vouchers(
    http: &reqwest::Client,
    url: &str,
    tokens: &Tokens,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let today = window();
    let pool = graphql(
        http,
        url,
        &tokens.admin,
        "mutation($i: ResourcePoolInput!) { createResourcePool(input: $i) { id } }",
        serde_json::json!({ "i": {
            "name": "부하 시험 풀", "kind": "GPU_H100", "capacity": GRANT * (count as i64 + 1),
            "funding": "NATIONAL", "validFrom": today.0, "validUntil": today.1,
        } }),
    )
    .await?;
    let pool = pool["createResourcePool"]["id"].clone();
    let program = graphql(
        http,
        url,
        &tokens.manager,
        "mutation($i: VoucherProgramInput!) { createVoucherProgram(input: $i) { id } }",
        serde_json::json!({ "i": {
            "poolId": pool, "name": "부하 시험 프로그램", "opensOn": today.0, "closesOn": today.1,
            "maxPerCompany": GRANT * (count as i64 + 1),
        } }),
    )
    .await?;
    let program = program["createVoucherProgram"]["id"].clone();
    let me = graphql(
        http,
        url,
        &tokens.firm,
        "{ me { companies { id } } }",
        serde_json::json!({}),
    )
    .await?;
    let company = me["me"]["companies"][0]["id"].clone();
    if company.is_null() {
        bail!("the demo firm has no company: {me}");
    }
    let mut codes = Vec::with_capacity(count);
    for _ in 0..count {
        let application = graphql(
            http,
            url,
            &tokens.firm,
            "mutation($i: VoucherApplicationInput!) { applyForVoucher(input: $i) { id } }",
            serde_json::json!({ "i": {
                "programId": program, "companyId": company, "requestedAmount": GRANT,
                "justification": "부하 시험",
            } }),
        )
        .await?;
        let voucher = graphql(
            http,
            url,
            &tokens.manager,
            "mutation($id: ID!) { approveVoucherApplication(id: $id) { code } }",
            serde_json::json!({ "id": application["applyForVoucher"]["id"] }),
        )
        .await?;
        codes.push(
            voucher["approveVoucherApplication"]["code"]
                .as_str()
                .ok_or_else(|| anyhow!("no voucher code: {voucher}"))?
                .to_owned(),
        );
    }
    Ok(codes)
}

pub struct Tokens {
    pub admin: String,
    pub manager: String,
    pub firm: String,
}

/// From yesterday to a year on, as `YYYY-MM-DD`: a window every run falls in.
fn window() -> (String, String) {
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    (
        day(today - chrono::Days::new(1)),
        day(today + chrono::Days::new(365)),
    )
}
