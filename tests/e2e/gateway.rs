//! The gateway under real traffic: cross-site requests, CORS, idempotent retries, persisted
//! queries, rate limits shared by replicas, and partial answers when a service is down.

use axv_auth::Role;
use axv_e2e::{CREATE_COMPANY, TestPlatform, business_number, company_input, error_code};
use axv_gateway::{Limits, ServiceUrls, persisted::sha256_hex, rate_limit::RateLimits};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

#[tokio::test]
async fn cross_site_requests_cannot_run_operations() {
    let p = TestPlatform::start_embedded().await;
    let url = p.url();
    // A GET a page elsewhere could trigger (an <img> or a link) is refused...
    let plain_get = p
        .http
        .get(&url)
        .query(&[("query", "{ companies { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(plain_get.status(), StatusCode::BAD_REQUEST);
    let body: Value = plain_get.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // ...and so is a form POST (a content type browsers send without asking).
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let form = p
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, content_type)
            .body(r#"{"query":"mutation { logout }"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    // A browser following such a link instead gets GraphiQL holding the query, unrun.
    let navigation = p
        .http
        .get(&url)
        .header(header::ACCEPT, "text/html")
        .query(&[("query", "{ companies { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(navigation.status(), StatusCode::OK);
    assert!(
        navigation.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = navigation.text().await.unwrap();
    assert!(page.contains("id=\"graphiql\""), "{page}");
    assert!(!page.contains("\"data\""), "{page}");
    // A bearer token is something only a preflighted (or non-browser) request carries.
    let with_token = p
        .http
        .get(&url)
        .bearer_auth(p.token(Role::Dashboard))
        .query(&[("query", "{ companies { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
    p.stop().await;
}

#[tokio::test]
async fn cors_grants_only_the_configured_origins() {
    let p = TestPlatform::start_with_limits(Limits {
        cors_origins: vec!["https://dashboard.gwangju.go.kr".to_owned()],
        ..Limits::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        p.http
            .request(reqwest::Method::OPTIONS, p.url())
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "content-type,authorization,idempotency-key",
            )
            .send()
    };
    let allowed = preflight("https://dashboard.gwangju.go.kr").await.unwrap();
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://dashboard.gwangju.go.kr"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(
        other
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    p.stop().await;
}

async fn post_with_key(
    p: &TestPlatform,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    p.http
        .post(p.url())
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_idempotent_retry_replays_and_a_reused_key_is_refused() {
    let p = TestPlatform::start().await;
    let firm = p.sign_up("retry@gateway.kr").await;
    let create = json!({ "query": CREATE_COMPANY, "variables": { "input": company_input(&business_number(5101), "재시도") } });

    let first = post_with_key(&p, &firm, "create-5101", &create).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let id = first["data"]["createCompany"]["id"].clone();
    assert!(id.is_string(), "{first}");

    // The retry gets the first answer without creating a second company.
    let retry = post_with_key(&p, &firm, "create-5101", &create).await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first);
    let mine = p
        .graphql(Some(&firm), "{ me { companies { id } } }", json!({}))
        .await;
    assert_eq!(
        mine["data"]["me"]["companies"].as_array().unwrap().len(),
        1,
        "{mine}"
    );

    // The same key for another request is refused, and nothing runs.
    let other = json!({ "query": CREATE_COMPANY, "variables": { "input": company_input(&business_number(5102), "다른요청") } });
    let reused = post_with_key(&p, &firm, "create-5101", &other).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reused: Value = reused.json().await.unwrap();
    assert_eq!(error_code(&reused), Some("BAD_USER_INPUT"), "{reused}");

    // A first answer that was an error is kept too.
    let duplicate = post_with_key(&p, &firm, "create-5101-again", &create).await;
    let duplicate: Value = duplicate.json().await.unwrap();
    assert!(error_code(&duplicate).is_some(), "{duplicate}");
    let replayed = post_with_key(&p, &firm, "create-5101-again", &create).await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.json::<Value>().await.unwrap(), duplicate);

    // Keys are per caller: another firm's same key is its own.
    let stranger = p.sign_up("stranger@gateway.kr").await;
    let theirs = post_with_key(&p, &stranger, "create-5101", &other).await;
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    p.stop().await;
}

const STATS: &str = "{ programStats { companies } }";

async fn by_hash(p: &TestPlatform, hash: &str, query: Option<&str>) -> Value {
    let mut body =
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    p.http
        .post(p.url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn automatic_persisted_queries_miss_register_and_hit() {
    let p = TestPlatform::start().await;
    let hash = sha256_hex(STATS);
    let miss = by_hash(&p, &hash, None).await;
    assert_eq!(
        miss["errors"][0]["message"], "PersistedQueryNotFound",
        "{miss}"
    );
    let registered = by_hash(&p, &hash, Some(STATS)).await;
    assert_eq!(
        registered["data"]["programStats"]["companies"], 0,
        "{registered}"
    );
    let hit = by_hash(&p, &hash, None).await;
    assert_eq!(hit["data"]["programStats"]["companies"], 0, "{hit}");
    // Over GET too, as Apollo clients send hashed queries.
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    let get = p
        .http
        .get(p.url())
        .header("apollo-require-preflight", "true")
        .query(&[("extensions", extensions.as_str())])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(get["data"]["programStats"]["companies"], 0, "{get}");
    // A hash that is not the query's is refused.
    let lying = by_hash(&p, &sha256_hex("{ other }"), Some(STATS)).await;
    assert_eq!(error_code(&lying), Some("BAD_USER_INPUT"), "{lying}");
    // Text that is no valid query of this schema is not remembered for its hash.
    for junk in ["not graphql at all", "{ noSuchField }"] {
        let junk_hash = sha256_hex(junk);
        let sent = by_hash(&p, &junk_hash, Some(junk)).await;
        assert_eq!(error_code(&sent), Some("BAD_USER_INPUT"), "{sent}");
        let later = by_hash(&p, &junk_hash, None).await;
        assert_eq!(
            later["errors"][0]["message"], "PersistedQueryNotFound",
            "{later}"
        );
    }
    p.stop().await;
}

#[tokio::test]
async fn the_safelist_refuses_unregistered_operations() {
    let manifest = [(sha256_hex(STATS), STATS.to_owned())]
        .into_iter()
        .collect();
    let p = TestPlatform::start_with_limits(Limits {
        persisted_queries: axv_gateway::persisted::Mode::Safelist,
        persisted_manifest: manifest,
        ..Limits::default()
    })
    .await;
    let hit = by_hash(&p, &sha256_hex(STATS), None).await;
    assert_eq!(hit["data"]["programStats"]["companies"], 0, "{hit}");
    let listed_in_full = p.graphql(None, STATS, json!({})).await;
    assert!(listed_in_full["errors"].is_null(), "{listed_in_full}");
    let unlisted = p
        .graphql(None, "{ pilots { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&unlisted), Some("FORBIDDEN"), "{unlisted}");
    let taught = by_hash(
        &p,
        &sha256_hex("{ pilots { totalCount } }"),
        Some("{ pilots { totalCount } }"),
    )
    .await;
    assert_eq!(error_code(&taught), Some("FORBIDDEN"), "{taught}");
    p.stop().await;
}

/// Two gateway replicas on one store count one budget: what a client spends on one is gone
/// on the other. Other clients are unaffected.
#[tokio::test]
async fn rate_limits_are_shared_by_gateway_replicas() {
    let limits = Limits {
        rate_limits: RateLimits::default()
            .with_overrides("DASHBOARD=3/1000000")
            .unwrap(),
        ..Limits::default()
    };
    let p = TestPlatform::start_with_limits(limits.clone()).await;
    let urls = ServiceUrls::from_upstreams(&p.running.upstreams()).unwrap();
    let second = axv::start_gateway(&p.platform, "127.0.0.1:0", &urls, limits, None, &p.shutdown)
        .await
        .unwrap();
    let second_url = format!("http://{}/graphql", second.addr);
    let dashboard = p.token(Role::Dashboard);
    let ask = |url: String, token: String| {
        let http = p.http.clone();
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({ "query": STATS }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        ask(p.url(), dashboard.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(second_url.clone(), dashboard.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(p.url(), dashboard.clone()).await.status(),
        StatusCode::OK
    );
    let limited = ask(second_url.clone(), dashboard.clone()).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Another dashboard client still gets its answers, on either replica.
    let other = p.token(Role::Dashboard);
    assert_eq!(
        ask(second_url, other.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(ask(p.url(), other).await.status(), StatusCode::OK);
    p.stop().await;
    let _ = second.task.await;
}

/// One costly query spends the cost budget that many cheap ones would.
#[tokio::test]
async fn query_cost_has_its_own_budget() {
    let p = TestPlatform::start_with_limits(Limits {
        rate_limits: RateLimits::default()
            .with_overrides("DASHBOARD=1000/60")
            .unwrap(),
        ..Limits::default()
    })
    .await;
    let dashboard = p.token(Role::Dashboard);
    // Twenty companies with their pilots cost more than 60.
    let costly =
        "{ companies(first: 20) { edges { node { nameKo pilots(first: 5) { totalCount } } } } }";
    let response = p
        .http
        .post(p.url())
        .bearer_auth(&dashboard)
        .json(&json!({ "query": costly }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get(header::RETRY_AFTER).is_some());
    p.stop().await;
}

/// With the vouchers service gone, what does not need it still answers, and what does gets an
/// error for its field alone; the response is a 200 with data, never a 500.
#[tokio::test]
async fn a_stopped_service_costs_only_its_own_fields() {
    let p = TestPlatform::start_embedded().await;
    p.running.service("vouchers").unwrap().task.abort();
    // Let the aborted server drop its listener.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let manager = p.token(Role::ProgramManager);
    let response = p
        .http
        .post(p.url())
        .bearer_auth(&manager)
        .json(&json!({ "query": "{ companies { totalCount } pilots { totalCount } voucher(id: \"0190f0f0-0000-7000-8000-000000000000\") { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["companies"]["totalCount"], 0, "{body}");
    assert_eq!(body["data"]["pilots"]["totalCount"], 0, "{body}");
    assert_eq!(error_code(&body), Some("UNAVAILABLE"), "{body}");
    assert_eq!(body["errors"][0]["path"][0], "voucher", "{body}");
    assert!(body["data"]["voucher"].is_null(), "{body}");
    // The vouchers task was aborted, so stop without waiting for it.
    p.shutdown.cancel();
}

/// The public registry is cached for anonymous callers and dashboards, and a pilot going
/// public shows there as soon as its event arrives.
#[tokio::test]
async fn the_cached_public_registry_follows_events() {
    let p = TestPlatform::start().await;
    let manager = p.token(Role::ProgramManager);
    let dashboard = p.token(Role::Dashboard);
    let count = |response: Value| response["data"]["pilots"]["totalCount"].clone();
    let registry = "{ pilots { totalCount } }";
    assert_eq!(count(p.graphql(None, registry, json!({})).await), 0);
    assert_eq!(
        count(p.graphql(Some(&dashboard), registry, json!({})).await),
        0
    );

    let today = axv_platform::calendar::today_kst();
    let (firm, _, _) =
        super::outcomes::active_pilot(&p, &manager, "registry@gateway.kr", 5301, today).await;
    // The firm's own view never comes from the public cache.
    assert_eq!(count(p.graphql(Some(&firm), registry, json!({})).await), 1);
    for _ in 0..100 {
        if count(p.graphql(None, registry, json!({})).await) == 1
            && count(p.graphql(Some(&dashboard), registry, json!({})).await) == 1
        {
            p.stop().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the public registry still served the pilots from before");
}

async fn token_request(p: &TestPlatform, id: &str, secret: &str) -> reqwest::Response {
    p.http
        .post(format!("{}/oauth/token", p.base_url()))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// A dashboard client: an admin registers it, it trades its id and secret for a token at
/// `/oauth/token`, queries with it, and is cut off the moment the admin revokes it.
#[tokio::test]
async fn a_dashboard_client_authenticates_and_revocation_is_immediate() {
    let p = TestPlatform::start().await;
    let admin = p.token(Role::Admin);
    let registered = p
        .graphql(
            Some(&admin),
            "mutation { registerApiClient(name: \"광주시 성과 대시보드\", role: DASHBOARD) { clientId secret client { id role revokedAt } } }",
            json!({}),
        )
        .await;
    let credentials = &registered["data"]["registerApiClient"];
    let id = credentials["clientId"].as_str().unwrap().to_owned();
    let secret = credentials["secret"].as_str().unwrap().to_owned();
    assert_eq!(credentials["client"]["role"], "DASHBOARD", "{registered}");

    // Only an admin registers clients.
    let manager = p.token(Role::ProgramManager);
    let refused = p
        .graphql(
            Some(&manager),
            "mutation { registerApiClient(name: \"x\", role: DASHBOARD) { clientId } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");

    // The exchange, per RFC 6749 §4.4.
    let issued = token_request(&p, &id, &secret).await;
    assert_eq!(issued.status(), StatusCode::OK);
    assert_eq!(issued.headers()[header::CACHE_CONTROL], "no-store");
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    assert!(issued["expires_in"].as_i64().unwrap() <= 900, "{issued}");
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let wrong = token_request(&p, &id, "axvcs_not-the-secret").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // The token works as a dashboard's; the secret never shows again.
    let stats = p
        .graphql(
            Some(&token),
            "{ programStats { companies } me { user { id } } }",
            json!({}),
        )
        .await;
    assert!(stats["errors"].is_null(), "{stats}");
    assert!(stats["data"]["me"].is_null(), "{stats}");
    let listed = p
        .graphql(
            Some(&admin),
            "{ apiClients { id name role lastUsedAt } }",
            json!({}),
        )
        .await;
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert_eq!(
        listed["data"]["apiClients"][0]["id"],
        id.as_str(),
        "{listed}"
    );
    assert!(
        listed["data"]["apiClients"][0]["lastUsedAt"].is_string(),
        "{listed}"
    );

    // Revoked: the token already issued stops working at once, and no new one is issued.
    let revoked = p
        .graphql(
            Some(&admin),
            "mutation($id: ID!) { revokeApiClient(clientId: $id) { revokedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        revoked["data"]["revokeApiClient"]["revokedAt"].is_string(),
        "{revoked}"
    );
    let after = p
        .graphql(Some(&token), "{ programStats { companies } }", json!({}))
        .await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"), "{after}");
    assert_eq!(
        token_request(&p, &id, &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    p.stop().await;
}

/// The token endpoint has its own, stricter budget per address.
#[tokio::test]
async fn the_token_endpoint_is_rate_limited() {
    let p = TestPlatform::start_with_limits(Limits {
        rate_limits: RateLimits {
            token_endpoint_per_address: 3,
            ..RateLimits::default()
        },
        ..Limits::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            token_request(&p, "nobody", "nothing").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = token_request(&p, "nobody", "nothing").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(header::RETRY_AFTER).is_some());
    p.stop().await;
}

/// The CSV export counts against the caller's budgets like the query it stands for, and
/// accounts are created from one address only so fast (each costs an Argon2id hash).
#[tokio::test]
async fn exports_and_sign_ups_are_rate_limited() {
    let p = TestPlatform::start_with_limits(Limits {
        rate_limits: RateLimits {
            per_address: axv_gateway::rate_limit::Budget {
                requests: 3,
                cost: 1_000_000,
            },
            sign_ups_per_address: 2,
            ..RateLimits::default()
        },
        ..Limits::default()
    })
    .await;
    let url = format!("{}/export/stats.csv", p.base_url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(p.http.get(&url).send().await.unwrap().status());
    }
    assert_eq!(statuses[..3], [StatusCode::OK; 3], "{statuses:?}");
    let limited = p.http.get(&url).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(header::RETRY_AFTER).is_some());
    let body: Value = limited.json().await.unwrap();
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    p.stop().await;

    // A fresh platform (fresh budgets): two accounts from this address, then no more.
    let p = TestPlatform::start_with_limits(Limits {
        rate_limits: RateLimits {
            sign_ups_per_address: 2,
            ..RateLimits::default()
        },
        ..Limits::default()
    })
    .await;
    let sign_up = |n: u32| {
        p.graphql(
            None,
            "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
            json!({ "input": { "email": format!("many{n}@signup.kr"), "password": axv_e2e::PASSWORD, "name": "홍길동" } }),
        )
    };
    for n in 0..2 {
        let made = sign_up(n).await;
        assert!(made["errors"].is_null(), "{made}");
    }
    let refused = sign_up(2).await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    p.stop().await;
}

/// A Redis server of the test's own, on a free port, that the test can stop and start again.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.up();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.down();
    }
}

/// With Redis down, the API answers at once and in the catalogue's words: an authenticated
/// request is refused as UNAVAILABLE (503; a revocation could not be checked, so it fails
/// closed), the public figures still answer (the cache fails open); and once Redis is back,
/// the next calls work without a broken-pipe failure first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_answers_fast_and_in_the_catalogue() {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var("CI").is_err(), "CI installs redis-server");
        return;
    }
    let mut redis = OwnRedis::start();
    let p = TestPlatform::start_with_redis(&redis.url()).await;
    let firm = p.sign_up("outage@gateway.kr").await;
    let me = "{ me { user { id } } }";
    let stats = "{ programStats { companies } }";
    assert!(p.graphql(Some(&firm), me, json!({})).await["errors"].is_null());

    redis.down();
    let started = std::time::Instant::now();
    let refused = p
        .http
        .post(p.url())
        .bearer_auth(&firm)
        .json(&json!({ "query": me }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body), Some("UNAVAILABLE"), "{body}");
    let public = p.graphql(None, stats, json!({})).await;
    assert!(
        public["data"]["programStats"]["companies"].is_number(),
        "{public}"
    );
    // Sign-ins fail closed too (failures cannot be counted), as UNAVAILABLE.
    let login = p
        .graphql(
            None,
            "mutation { login(email: \"outage@gateway.kr\", password: \"correct horse battery staple\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&login), Some("UNAVAILABLE"), "{login}");
    // Not the 9.5 s (and 28 s for the figures) of waiting out every Redis call.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    redis.up();
    let mut back = false;
    for _ in 0..60 {
        let answer = p.graphql(Some(&firm), me, json!({})).await;
        if answer["errors"].is_null() {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(back, "the API recovers once Redis is back");
    p.stop().await;
}

/// Staff accounts through GraphQL: an admin adds a programme manager whose temporary password
/// signs in, deactivates the account (its sign-in is refused in words), and the role is the
/// admin's alone to give.
#[tokio::test]
async fn admins_manage_staff_accounts_through_graphql() {
    let p = TestPlatform::start_embedded().await;
    let admin = p.token(Role::Admin);
    let created = p
        .graphql(
            Some(&admin),
            "mutation($input: StaffAccountInput!) { createStaffAccount(input: $input) { temporaryPassword user { id email role deactivatedAt } } }",
            json!({ "input": { "email": "pm@gwangju.go.kr", "name": "이서연 (AI산업과)", "role": "PROGRAM_MANAGER" } }),
        )
        .await;
    let created = &created["data"]["createStaffAccount"];
    assert_eq!(created["user"]["role"], "PROGRAM_MANAGER", "{created}");
    assert_eq!(created["user"]["deactivatedAt"], Value::Null);
    let id = created["user"]["id"].as_str().unwrap();
    let password = created["temporaryPassword"].as_str().unwrap();
    let login = "mutation($p: String!) { login(email: \"pm@gwangju.go.kr\", password: $p) { user { role } } }";
    let signed_in = p.graphql(None, login, json!({ "p": password })).await;
    assert_eq!(
        signed_in["data"]["login"]["user"]["role"], "PROGRAM_MANAGER",
        "{signed_in}"
    );

    let listed = p
        .graphql(Some(&admin), "{ staffMembers { id name role } }", json!({}))
        .await;
    assert_eq!(
        listed["data"]["staffMembers"][0]["name"], "이서연 (AI산업과)",
        "{listed}"
    );

    let gone = p
        .graphql(
            Some(&admin),
            "mutation($id: ID!) { deactivateStaffAccount(userId: $id) { deactivatedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        gone["data"]["deactivateStaffAccount"]["deactivatedAt"].is_string(),
        "{gone}"
    );
    let refused = p.graphql(None, login, json!({ "p": password })).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    assert!(refused.to_string().contains("deactivated"), "{refused}");

    // A forgotten password: reactivated, then a new temporary password replaces the old.
    const REISSUE: &str = "mutation($id: ID!) { reissueTemporaryPassword(userId: $id) { temporaryPassword user { id } } }";
    let early = p.graphql(Some(&admin), REISSUE, json!({ "id": id })).await;
    assert_eq!(error_code(&early), Some("FAILED_PRECONDITION"), "{early}");
    assert_eq!(
        early["errors"][0]["extensions"]["reason"], "ACCOUNT_DEACTIVATED",
        "{early}"
    );
    p.graphql(
        Some(&admin),
        "mutation($id: ID!) { reactivateStaffAccount(userId: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    let reissued = p.graphql(Some(&admin), REISSUE, json!({ "id": id })).await;
    let fresh = reissued["data"]["reissueTemporaryPassword"]["temporaryPassword"]
        .as_str()
        .unwrap_or_else(|| panic!("{reissued}"))
        .to_owned();
    assert_ne!(fresh, password);
    let old = p.graphql(None, login, json!({ "p": password })).await;
    assert_eq!(error_code(&old), Some("UNAUTHENTICATED"), "{old}");
    let new = p.graphql(None, login, json!({ "p": fresh })).await;
    assert_eq!(
        new["data"]["login"]["user"]["role"], "PROGRAM_MANAGER",
        "{new}"
    );

    let manager = p.token(Role::ProgramManager);
    for (query, variables) in [
        ("{ staffMembers { id } }", json!({})),
        (
            "mutation($id: ID!) { changeStaffRole(userId: $id, role: ADMIN) { role } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { reactivateStaffAccount(userId: $id) { id } }",
            json!({ "id": id }),
        ),
        (REISSUE, json!({ "id": id })),
    ] {
        let answer = p.graphql(Some(&manager), query, variables).await;
        assert_eq!(error_code(&answer), Some("FORBIDDEN"), "{query}: {answer}");
    }
    p.stop().await;
}
