//! The end-to-end harness: the platform as `axv up` starts it (every service a real gRPC server
//! on a free loopback port, the gateway a real gRPC client) with its own database and Redis
//! prefix, driven through HTTP GraphQL as a client would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axv::RunningPlatform;
use axv_auth::Role;
use axv_gateway::Limits;
use axv_platform::{
    config::Platform,
    events::{InProcessBus, RedisStreamBus, SharedBus},
    kv::{MemoryKv, RedisKv, SharedKv},
    shutdown::CancellationToken,
    testing::{TestDb, platform_with, redis_available, redis_test_url, unique_prefix},
};
use serde_json::{Value, json};

pub struct TestPlatform {
    pub platform: Platform,
    pub running: RunningPlatform,
    pub shutdown: CancellationToken,
    pub http: reqwest::Client,
    /// Where `/metrics` is served, apart from the gateway.
    pub metrics: axv::RunningMetrics,
    /// With the demo: the week of sacct output `axv up --demo` writes for the operator.
    pub demo_sacct: Option<String>,
    _db: TestDb,
}

pub use axv_testkit::{PASSWORD, business_number};

/// The console's address in e-mail links (tests open the paths on the console they started).
pub const PUBLIC_URL: &str = "https://axv.test";

impl TestPlatform {
    /// Postgres and Redis where they answer (required in CI), else the embedded default.
    pub async fn start() -> Self {
        Self::start_with_limits(Limits::default()).await
    }

    pub async fn start_with_limits(limits: Limits) -> Self {
        Self::start_where_available(limits, false).await
    }

    /// Postgres and Redis where they answer, else the embedded default; with `demo`, the demo
    /// seeded first.
    async fn start_where_available(limits: Limits, demo: bool) -> Self {
        let db = match axv_testkit::db::postgres().await {
            Some(db) => db,
            None => TestDb::sqlite(),
        };
        let (kv, bus): (SharedKv, SharedBus) = if redis_available().await {
            let prefix = unique_prefix();
            (
                Arc::new(RedisKv::connect(&redis_test_url(), &prefix).await.unwrap()),
                Arc::new(
                    RedisStreamBus::connect(&redis_test_url(), &prefix)
                        .await
                        .unwrap(),
                ),
            )
        } else {
            (
                Arc::new(MemoryKv::default()),
                Arc::new(InProcessBus::default()),
            )
        };
        Self::start_seeded(db, kv, bus, limits, demo).await
    }

    /// The embedded database with the key-value store and the event bus on the Redis at `url`
    /// (a server the test runs, e.g. to stop it).
    pub async fn start_with_redis(url: &str) -> Self {
        let prefix = unique_prefix();
        Self::start_on(
            TestDb::sqlite(),
            Arc::new(RedisKv::connect(url, &prefix).await.unwrap()),
            Arc::new(RedisStreamBus::connect(url, &prefix).await.unwrap()),
            Limits::default(),
        )
        .await
    }

    /// SQLite files and in-process cache and bus: exactly what `axv up` uses with nothing set.
    pub async fn start_embedded() -> Self {
        Self::start_on(
            TestDb::sqlite(),
            Arc::new(MemoryKv::default()),
            Arc::new(InProcessBus::default()),
            Limits::default(),
        )
        .await
    }

    /// `axv up --demo` on the embedded default: the demo seeded before anything starts, as
    /// `axv up` does (on SQLite a second writer beside running services would race them).
    pub async fn start_embedded_demo() -> Self {
        Self::start_seeded(
            TestDb::sqlite(),
            Arc::new(MemoryKv::default()),
            Arc::new(InProcessBus::default()),
            Limits::default(),
            true,
        )
        .await
    }

    /// `axv up --demo` on Postgres and Redis where they answer, else the embedded default.
    pub async fn start_demo() -> Self {
        Self::start_where_available(Limits::default(), true).await
    }

    async fn start_on(db: TestDb, kv: SharedKv, bus: SharedBus, limits: Limits) -> Self {
        Self::start_seeded(db, kv, bus, limits, false).await
    }

    async fn start_seeded(
        db: TestDb,
        kv: SharedKv,
        bus: SharedBus,
        limits: Limits,
        demo: bool,
    ) -> Self {
        let mut platform = platform_with(db.config.clone(), kv, bus);
        platform.mail.public_url = Some(PUBLIC_URL.into());
        let mut demo_sacct = None;
        if demo {
            demo_sacct = Some(axv::seed_demo(&platform).await.unwrap().sample_sacct);
        }
        let shutdown = CancellationToken::new();
        let running = axv::start_all(&platform, "127.0.0.1:0", limits, &shutdown)
            .await
            .unwrap();
        let metrics = axv::start_metrics("127.0.0.1:0", &shutdown).await.unwrap();
        Self {
            platform,
            running,
            shutdown,
            http: reqwest::Client::new(),
            metrics,
            demo_sacct,
            _db: db,
        }
    }

    pub fn url(&self) -> String {
        self.running.graphql_url()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.gateway.addr)
    }

    /// Waits for an e-mail delivered to `to` (an `.eml` file of the embedded mail directory)
    /// that `found` picks something out of, and answers it.
    async fn delivered<T>(&self, to: &str, found: impl Fn(&str) -> Option<T>) -> T {
        for _ in 0..100 {
            let hit = std::fs::read_dir(&self.platform.mail.dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter_map(|file| std::fs::read_to_string(file.path()).ok())
                .filter(|mail| mail.contains(&format!("<{to}>")))
                .find_map(|mail| found(&mail));
            if let Some(hit) = hit {
                return hit;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no e-mail to {to} with what was looked for");
    }

    /// The token of the one-click unsubscribe link (`List-Unsubscribe`) of an e-mail to `to`.
    pub async fn unsubscribe_token(&self, to: &str) -> String {
        let prefix = format!("List-Unsubscribe: <{PUBLIC_URL}/unsubscribe/");
        self.delivered(to, |mail| {
            let start = mail.find(&prefix)? + prefix.len();
            let end = start + mail[start..].find('>')?;
            Some(mail[start..end].to_owned())
        })
        .await
    }

    /// The plain text of an e-mail to `to` that contains `containing`, as a mail program shows
    /// it (its base64 transfer encoding undone).
    pub async fn mail_text(&self, to: &str, containing: &str) -> String {
        self.delivered(to, |mail| {
            plain_text(mail).filter(|text| text.contains(containing))
        })
        .await
    }

    /// POSTs a GraphQL request and returns the JSON body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(self.url())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// A GraphQL multipart request (the GraphQL multipart request specification, as
    /// `curl -F operations=... -F map=... -F 0=@file` sends it): `query` with `variables`, its
    /// `$file` the file `file_name` whose bytes `content` streams. The status and the JSON body.
    pub async fn upload_stream(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        file_name: &str,
        content: impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>>
        + Send
        + Sync
        + 'static,
    ) -> (reqwest::StatusCode, Value) {
        // Browsers' boundaries are mixed-case, and the boundary is matched byte for byte.
        let boundary = format!(
            "----AxvFormBoundary{}",
            axv_platform::ids::new_id().replace('-', "")
        );
        let operations = json!({ "query": query, "variables": variables });
        let body = axv_console::api::graphql_multipart(&boundary, &operations, file_name, content);
        let mut request = self
            .http
            .post(self.url())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(reqwest::Body::wrap_stream(body));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// [`Self::upload_stream`] with the file's bytes at hand.
    pub async fn upload(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        file_name: &str,
        content: Vec<u8>,
    ) -> (reqwest::StatusCode, Value) {
        let content = futures::stream::once(async move { Ok(bytes::Bytes::from(content)) });
        self.upload_stream(token, query, variables, file_name, content)
            .await
    }

    /// A token for a staff role, as an operator would mint with `axv token`.
    pub fn token(&self, role: Role) -> String {
        self.platform
            .issuer
            .issue(&axv_platform::ids::new_id(), role, vec![])
            .unwrap()
            .token
    }

    /// A staff account (a programme manager, an operator...) that signs in with `PASSWORD`,
    /// made as `axv up --demo` makes its own: staff do not sign up.
    pub async fn staff_account(&self, email: &str, name: &str, role: Role) {
        let onboarding = axv_onboarding::build(&self.platform).await.unwrap();
        onboarding
            .service
            .create_account(email, PASSWORD, name, role)
            .await
            .unwrap();
    }

    /// Signs a firm member up through GraphQL; returns the access token.
    pub async fn sign_up(&self, email: &str) -> String {
        let response = self
            .graphql(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { role } } }",
                json!({ "input": { "email": email, "password": PASSWORD, "name": "홍길동" } }),
            )
            .await;
        assert_eq!(
            response["data"]["signUp"]["user"]["role"], "FIRM_MEMBER",
            "{response}"
        );
        response["data"]["signUp"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A company of `firm`'s, created, submitted and approved by a programme manager; its id.
    pub async fn approved_company(&self, firm: &str, seed: u32, name_ko: &str) -> String {
        let id = self.submitted_company(firm, seed, name_ko).await;
        let manager = self.token(Role::ProgramManager);
        for mutation in ["startCompanyReview", "approveCompany"] {
            self.move_company(&manager, mutation, &id).await;
        }
        id
    }

    /// A company of `firm`'s, created and submitted for review; its id.
    pub async fn submitted_company(&self, firm: &str, seed: u32, name_ko: &str) -> String {
        let created = self
            .graphql(
                Some(firm),
                CREATE_COMPANY,
                json!({ "input": company_input(&business_number(seed), name_ko) }),
            )
            .await;
        let id = created["data"]["createCompany"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createCompany: {created}"))
            .to_owned();
        self.move_company(firm, "submitCompany", &id).await;
        id
    }

    /// Runs a company mutation that takes only its id (`submitCompany`...), which must succeed.
    pub async fn move_company(&self, token: &str, mutation: &str, id: &str) {
        let moved = self
            .graphql(
                Some(token),
                &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ status }} }}"),
                json!({ "id": id }),
            )
            .await;
        assert!(moved["errors"].is_null(), "{mutation}: {moved}");
    }

    /// An admin's H100 pool of 10,000,000 GPU-seconds and a programme open from today for 30
    /// days with a cap of 100,000 per company; the programme's id.
    pub async fn open_programme(&self) -> String {
        let admin = self.token(Role::Admin);
        let today = axv_platform::calendar::today_kst();
        let id_of = |response: &Value, field: &str| -> String {
            response["data"][field]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{field}: {response}"))
                .to_owned()
        };
        let pool = self
            .graphql(
                Some(&admin),
                "mutation($input: ResourcePoolInput!) { createResourcePool(input: $input) { id } }",
                json!({ "input": {
                    "name": "국가AI데이터센터 H100",
                    "kind": "GPU_H100",
                    "capacity": 10_000_000,
                    "funding": "NATIONAL",
                    "validFrom": today.to_string(),
                    "validUntil": (today + chrono::Duration::days(365)).to_string(),
                } }),
            )
            .await;
        let program = self
            .graphql(
                Some(&admin),
                "mutation($input: VoucherProgramInput!) { createVoucherProgram(input: $input) { id } }",
                json!({ "input": {
                    "poolId": id_of(&pool, "createResourcePool"),
                    "name": "실증 컴퓨팅 바우처",
                    "opensOn": today.to_string(),
                    "closesOn": (today + chrono::Duration::days(30)).to_string(),
                    "maxPerCompany": 100_000,
                } }),
            )
            .await;
        id_of(&program, "createVoucherProgram")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.running.wait().await.unwrap();
    }
}

/// The first error's `extensions.code`.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

pub fn company_input(business_number: &str, name_ko: &str) -> Value {
    json!({
        "businessNumber": business_number,
        "nameKo": name_ko,
        "nameEn": "Test Firm",
        "sector": "ARTIFICIAL_INTELLIGENCE",
        "presence": "HEADQUARTERS",
        "employees": 12,
        "foundedOn": "2020-01-01",
        "contactEmail": "ceo@test.kr",
    })
}

pub const CREATE_COMPANY: &str =
    "mutation($input: CompanyInput!) { createCompany(input: $input) { id status } }";

/// The `text/plain` part of a raw e-mail as lettre writes it (base64), decoded.
fn plain_text(mail: &str) -> Option<String> {
    use base64::Engine as _;
    let part = mail.split("Content-Type: text/plain").nth(1)?;
    let body = part
        .split_once("\r\n\r\n")
        .or_else(|| part.split_once("\n\n"))?
        .1;
    let encoded: String = body
        .lines()
        .take_while(|line| !line.trim().is_empty() && !line.starts_with("--"))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}
