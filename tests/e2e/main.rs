//! The platform end to end through HTTP GraphQL: the onboarding journey, every refusal a client
//! can meet, and GraphQL over HTTP as its spec says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_auth::Role;
use axv_e2e::{CREATE_COMPANY, PASSWORD, TestPlatform, business_number, company_input, error_code};
use axv_gateway::Limits;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

mod audit;
mod browser;
mod documents;
mod gateway;
mod notifications;
mod outcomes;
mod password_reset;
mod pilots;
mod releases;
mod review_claims;
mod subscriptions;
mod vouchers;

const COMPANY: &str = "query($id: ID!) { company(id: $id) { id nameKo status businessNumber history { from to by note } } }";

/// The answer's `data.<field>`, asserting there were no errors.
fn data<'a>(response: &'a Value, field: &str) -> &'a Value {
    let value = &response["data"][field];
    assert!(
        response["errors"].is_null() && !value.is_null(),
        "{field}: {response}"
    );
    value
}

async fn create_company(p: &TestPlatform, token: &str, number: &str, name: &str) -> String {
    let created = p
        .graphql(
            Some(token),
            CREATE_COMPANY,
            json!({ "input": company_input(number, name) }),
        )
        .await;
    assert_eq!(
        created["data"]["createCompany"]["status"], "DRAFT",
        "{created}"
    );
    created["data"]["createCompany"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn act(p: &TestPlatform, token: &str, mutation: &str, id: &str, note: Option<&str>) -> Value {
    let (signature, call) = match note {
        Some(_) => (
            "($id: ID!, $note: String!)",
            format!("{mutation}(id: $id, note: $note)"),
        ),
        None => ("($id: ID!)", format!("{mutation}(id: $id)")),
    };
    let query = format!("mutation{signature} {{ {call} {{ id status }} }}");
    p.graphql(Some(token), &query, json!({ "id": id, "note": note }))
        .await
}

/// A voucher for `company` (and its `pilot`, if named): an admin opens an H100 pool and a
/// programme, the firm applies for 36,000, a manager approves. Returns the voucher id.
async fn issue_voucher(
    p: &TestPlatform,
    firm: &str,
    manager: &str,
    company: &str,
    pilot: Option<&str>,
) -> String {
    let id_of = |response: &Value, field: &str| -> String {
        response["data"][field]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {response}"))
            .to_owned()
    };
    let program = p.open_programme().await;
    let applied = p
        .graphql(
            Some(firm),
            "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id } }",
            json!({ "input": {
                "programId": program,
                "companyId": company,
                "requestedAmount": 36_000,
                "justification": "실증 모델 학습",
                "pilotId": pilot,
            } }),
        )
        .await;
    let approved = p
        .graphql(
            Some(manager),
            "mutation($id: ID!) { approveVoucherApplication(id: $id) { id } }",
            json!({ "id": id_of(&applied, "applyForVoucher") }),
        )
        .await;
    id_of(&approved, "approveVoucherApplication")
}

fn status_of(response: &Value, mutation: &str) -> String {
    response["data"][mutation]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}

async fn review_journey(p: &TestPlatform) {
    let firm = p.sign_up("ceo@journey.kr").await;
    let manager = p.token(Role::ProgramManager);
    let id = create_company(p, &firm, "124-81-00998", "광주여정").await;

    assert_eq!(
        status_of(
            &act(p, &firm, "submitCompany", &id, None).await,
            "submitCompany"
        ),
        "SUBMITTED"
    );
    assert_eq!(
        status_of(
            &act(p, &manager, "startCompanyReview", &id, None).await,
            "startCompanyReview"
        ),
        "UNDER_REVIEW"
    );
    let changes = act(
        p,
        &manager,
        "requestCompanyChanges",
        &id,
        Some("직원 수를 확인해 주세요"),
    )
    .await;
    assert_eq!(
        status_of(&changes, "requestCompanyChanges"),
        "CHANGES_REQUESTED"
    );

    let mut input = company_input("124-81-00998", "광주여정 주식회사");
    input["employees"] = json!(15);
    let updated = p
        .graphql(
            Some(&firm),
            "mutation($id: ID!, $input: CompanyInput!) { updateCompany(id: $id, input: $input) { nameKo employees } }",
            json!({ "id": id, "input": input }),
        )
        .await;
    assert_eq!(
        updated["data"]["updateCompany"]["nameKo"], "광주여정 주식회사",
        "{updated}"
    );
    assert_eq!(updated["data"]["updateCompany"]["employees"], 15);

    assert_eq!(
        status_of(
            &act(p, &firm, "submitCompany", &id, None).await,
            "submitCompany"
        ),
        "SUBMITTED"
    );
    act(p, &manager, "startCompanyReview", &id, None).await;
    assert_eq!(
        status_of(
            &act(p, &manager, "approveCompany", &id, None).await,
            "approveCompany"
        ),
        "APPROVED"
    );

    let seen = p.graphql(Some(&firm), COMPANY, json!({ "id": id })).await;
    let company = &seen["data"]["company"];
    assert_eq!(company["status"], "APPROVED", "{seen}");
    assert_eq!(company["businessNumber"], "1248100998");
    let history: Vec<(Value, Value)> = company["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from"].clone(), h["to"].clone()))
        .collect();
    let expected: Vec<(Value, Value)> = [
        (Value::Null, "DRAFT"),
        (json!("DRAFT"), "SUBMITTED"),
        (json!("SUBMITTED"), "UNDER_REVIEW"),
        (json!("UNDER_REVIEW"), "CHANGES_REQUESTED"),
        (json!("CHANGES_REQUESTED"), "SUBMITTED"),
        (json!("SUBMITTED"), "UNDER_REVIEW"),
        (json!("UNDER_REVIEW"), "APPROVED"),
    ]
    .into_iter()
    .map(|(from, to)| (from, json!(to)))
    .collect();
    assert_eq!(history, expected);
    assert_eq!(company["history"][3]["note"], "직원 수를 확인해 주세요");

    let me = p
        .graphql(
            Some(&firm),
            "{ me { user { email role } companies { id status } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["data"]["me"]["user"]["email"], "ceo@journey.kr");
    assert_eq!(
        me["data"]["me"]["companies"][0]["status"], "APPROVED",
        "{me}"
    );
}

#[tokio::test]
async fn onboarding_journey_through_graphql() {
    let p = TestPlatform::start().await;
    review_journey(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn onboarding_journey_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    review_journey(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn refusals_carry_their_codes() {
    let p = TestPlatform::start().await;
    let firm_a = p.sign_up("a@refusals.kr").await;
    let firm_b = p.sign_up("b@refusals.kr").await;
    let id = create_company(&p, &firm_a, "220-81-62517", "에이기업").await;

    // Another firm's company does not exist for firm B.
    let other = p.graphql(Some(&firm_b), COMPANY, json!({ "id": id })).await;
    assert_eq!(error_code(&other), Some("NOT_FOUND"), "{other}");
    assert!(
        other["errors"][0]["extensions"]["traceId"].is_string()
            || other["errors"][0]["extensions"].get("traceId").is_none()
    );

    // A firm member may not approve, even its own company.
    act(&p, &firm_a, "submitCompany", &id, None).await;
    let approve = act(&p, &firm_a, "approveCompany", &id, None).await;
    assert_eq!(error_code(&approve), Some("FORBIDDEN"), "{approve}");
    let skip = act(
        &p,
        &p.token(Role::ProgramManager),
        "approveCompany",
        &id,
        None,
    )
    .await;
    assert_eq!(error_code(&skip), Some("FAILED_PRECONDITION"), "{skip}");
    // With why, for clients that say it in a person's own words.
    assert_eq!(
        skip["errors"][0]["extensions"]["reason"], "WRONG_STATE",
        "{skip}"
    );

    // No token where one is needed.
    let anonymous = p
        .graphql(
            None,
            CREATE_COMPANY,
            json!({ "input": company_input("101-81-00001", "익명") }),
        )
        .await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
    let logout = p.graphql(None, "mutation { logout }", json!({})).await;
    assert_eq!(error_code(&logout), Some("UNAUTHENTICATED"));
    let me = p.graphql(None, "{ me { user { id } } }", json!({})).await;
    assert_eq!(
        me["data"]["me"],
        Value::Null,
        "anonymous me is null, not an error: {me}"
    );

    // Bad input names the field.
    let bad = p
        .graphql(
            Some(&firm_a),
            CREATE_COMPANY,
            json!({ "input": company_input("120-81-47522", "체크섬") }),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"));
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("businessNumber"),
        "{bad}"
    );

    // Forged, tampered and expired tokens are refused at the door with 401.
    let forger = axv_auth::TokenIssuer::new(
        axv_auth::SigningKey::generate(),
        axv_platform::testing::TEST_ISSUER,
        axv_platform::testing::TEST_AUDIENCE,
        std::time::Duration::from_secs(600),
    );
    let forged = forger.issue("intruder", Role::Admin, vec![]).unwrap().token;
    let now = chrono::Utc::now().timestamp();
    let expired = p
        .platform
        .issuer
        .sign(&axv_auth::Claims {
            sub: "late".into(),
            role: Role::ProgramManager,
            companies: vec![],
            iss: axv_platform::testing::TEST_ISSUER.into(),
            aud: axv_platform::testing::TEST_AUDIENCE.into(),
            exp: now - 3600,
            iat: now - 7200,
            nbf: now - 7200,
            jti: axv_platform::ids::new_id(),
        })
        .unwrap();
    for token in [forged.as_str(), expired.as_str(), "not.a.jwt"] {
        let response = p
            .http
            .post(p.url())
            .bearer_auth(token)
            .json(&json!({ "query": "{ me { user { id } } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }

    // Page size 1..100.
    let manager = p.token(Role::ProgramManager);
    for first in [0, 101, -1] {
        let page = p
            .graphql(
                Some(&manager),
                "query($first: Int) { companies(first: $first) { totalCount } }",
                json!({ "first": first }),
            )
            .await;
        assert_eq!(
            error_code(&page),
            Some("BAD_USER_INPUT"),
            "first={first}: {page}"
        );
    }
    let forged_cursor = p
        .graphql(
            Some(&manager),
            "{ companies(after: \"bm90LWEtY3Vyc29y\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&forged_cursor), Some("BAD_USER_INPUT"));
    p.stop().await;
}

#[tokio::test]
async fn sessions_refresh_rotate_and_log_out() {
    let p = TestPlatform::start().await;
    p.sign_up("session@firm.kr").await;
    const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken expiresAt user { email } } }";
    let login = p
        .graphql(
            None,
            LOGIN,
            json!({ "e": "Session@Firm.kr", "p": PASSWORD }),
        )
        .await;
    let access = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = login["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        chrono::DateTime::parse_from_rfc3339(login["data"]["login"]["expiresAt"].as_str().unwrap())
            .is_ok()
    );

    const REFRESH: &str =
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";
    let rotated = p.graphql(None, REFRESH, json!({ "t": refresh })).await;
    let next_refresh = rotated["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(next_refresh, refresh);
    let reuse = p.graphql(None, REFRESH, json!({ "t": refresh })).await;
    assert_eq!(error_code(&reuse), Some("UNAUTHENTICATED"));
    let family = p.graphql(None, REFRESH, json!({ "t": next_refresh })).await;
    assert_eq!(
        error_code(&family),
        Some("UNAUTHENTICATED"),
        "reuse revokes the family"
    );
    // ...and the access tokens issued in it, at once rather than when they expire.
    let rotated_access = rotated["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [&access, &rotated_access] {
        let me = p
            .graphql(Some(token), "{ me { user { id } } }", json!({}))
            .await;
        assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
    }
    // A new session for the rest.
    let login = p
        .graphql(
            None,
            LOGIN,
            json!({ "e": "session@firm.kr", "p": PASSWORD }),
        )
        .await;
    let access = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let wrong = p
        .graphql(
            None,
            LOGIN,
            json!({ "e": "session@firm.kr", "p": "wrong password here" }),
        )
        .await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"));

    let out = p
        .graphql(Some(&access), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    let after = p
        .http
        .post(p.url())
        .bearer_auth(&access)
        .json(&json!({ "query": "{ me { user { id } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "a logged-out token is refused"
    );
    p.stop().await;
}

#[tokio::test]
async fn graphql_over_http_as_the_spec_says() {
    let p = TestPlatform::start_embedded().await;
    let url = p.url();
    const GQL_JSON: &str = "application/graphql-response+json";

    // A mutation over GET is refused with 405.
    let get_mutation = p
        .http
        .get(&url)
        .header("apollo-require-preflight", "true")
        .query(&[("query", "mutation { logout }")])
        .send()
        .await
        .unwrap();
    assert_eq!(get_mutation.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A query over GET runs when it proves it is no cross-site request (see gateway.rs).
    let get_query = p
        .http
        .get(&url)
        .header("apollo-require-preflight", "true")
        .query(&[("query", "{ companies { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(get_query.status(), StatusCode::OK);
    let body: Value = get_query.json().await.unwrap();
    assert_eq!(body["data"]["companies"]["totalCount"], 0);

    // POST without a content type, or with broken JSON.
    let no_type = p
        .http
        .post(&url)
        .body(r#"{"query":"{ me { user { id } } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken = p
        .http
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);

    // Media types: the new one gets 400 for a document that cannot run, the legacy one 200.
    let invalid = json!({ "query": "{ nosuchfield }" });
    let new_type = p
        .http
        .post(&url)
        .header(header::ACCEPT, GQL_JSON)
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(new_type.status(), StatusCode::BAD_REQUEST);
    assert_eq!(new_type.headers()[header::CONTENT_TYPE], GQL_JSON);
    // A document that never ran has no `data` entry at all (not even null).
    let new_body: Value = new_type.json().await.unwrap();
    assert!(new_body.get("data").is_none(), "{new_body}");
    assert_eq!(error_code(&new_body), Some("BAD_USER_INPUT"));
    let legacy = p
        .http
        .post(&url)
        .header(header::ACCEPT, "application/json")
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert_eq!(legacy.headers()[header::CONTENT_TYPE], "application/json");
    let legacy_body: Value = legacy.json().await.unwrap();
    assert_eq!(error_code(&legacy_body), Some("BAD_USER_INPUT"));
    let unparsable = p
        .http
        .post(&url)
        .header(header::ACCEPT, GQL_JSON)
        .json(&json!({ "query": "{ companies " }))
        .send()
        .await
        .unwrap();
    assert_eq!(unparsable.status(), StatusCode::BAD_REQUEST);
    let unparsable: Value = unparsable.json().await.unwrap();
    assert!(unparsable.get("data").is_none(), "{unparsable}");
    // An execution error is still 200 with the new media type: the document ran.
    let runs = p
        .http
        .post(&url)
        .header(header::ACCEPT, GQL_JSON)
        .json(
            &json!({ "query": "{ company(id: \"0190a0a0-0000-7000-8000-000000000000\") { id } }" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), StatusCode::OK);
    let runs: Value = runs.json().await.unwrap();
    assert!(runs.get("data").is_some(), "{runs}");

    // Body limit: 1 MiB.
    let huge = json!({ "query": format!("{{ companies {{ totalCount }} }} #{}", "x".repeat(1024 * 1024)) });
    let too_big = p.http.post(&url).json(&huge).send().await.unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let too_big: Value = too_big.json().await.unwrap();
    assert_eq!(error_code(&too_big), Some("BAD_USER_INPUT"), "{too_big}");

    // Batches: a few operations at most.
    let batch: Vec<Value> = (0..3)
        .map(|_| json!({ "query": "{ companies { totalCount } }" }))
        .collect();
    let ok: Value = p
        .http
        .post(&url)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok.as_array().unwrap().len(), 3);
    let many: Vec<Value> = (0..6)
        .map(|_| json!({ "query": "{ companies { totalCount } }" }))
        .collect();
    assert_eq!(
        p.http.post(&url).json(&many).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // Aliases are bounded.
    let aliases: String = (0..31)
        .map(|n| format!("a{n}: companies {{ totalCount }} "))
        .collect();
    let aliased: Value = p
        .http
        .post(&url)
        .json(&json!({ "query": format!("{{ {aliases} }}") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        aliased["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{aliased}"
    );

    // Aliases inside a fragment count at every spread of it.
    let fragment: String = (0..8)
        .map(|n| format!("a{n}: companies {{ totalCount }} "))
        .collect();
    let spreads = "x1: companies { edges { node { id } } } ...F ...F ...F ...F";
    let query = format!("{{ {spreads} }} fragment F on Query {{ {fragment} }}");
    let spread: Value = p
        .http
        .post(&url)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spread["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("aliases"),
        "{spread}"
    );

    // GraphiQL for a browser.
    let page = p
        .http
        .get(&url)
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );

    // Operational endpoints.
    assert_eq!(
        p.http
            .get(format!("{}/healthz", p.base_url()))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ready = p
        .http
        .get(format!("{}/readyz", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = p
        .http
        .get(format!("http://{}/metrics", p.metrics.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("grpc_server_handled_total"), "{metrics}");
    assert!(metrics.contains("http_requests_total"));
    // Not on the public port, where anyone would read pool names and consumption.
    let public = p
        .http
        .get(format!("{}/metrics", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    p.stop().await;
}

#[tokio::test]
async fn depth_and_complexity_limits() {
    let limits = Limits {
        max_depth: 4,
        max_complexity: 60,
        ..Limits::default()
    };
    let p = TestPlatform::start_with_limits(limits).await;
    let manager = p.token(Role::ProgramManager);
    let deep = p
        .graphql(
            Some(&manager),
            "{ companies(first: 1) { edges { node { history { to } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&deep), Some("BAD_USER_INPUT"), "{deep}");
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{deep}"
    );
    let costly = p
        .graphql(
            Some(&manager),
            "{ companies(first: 100) { edges { node { id nameKo } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&costly), Some("BAD_USER_INPUT"), "{costly}");
    assert!(
        costly["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{costly}"
    );
    let fine = p
        .graphql(
            Some(&manager),
            "{ companies(first: 5) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(fine["errors"].is_null(), "{fine}");
    p.stop().await;
}

/// The standard introspection query (graphql-js' `getIntrospectionQuery`, as GraphiQL and code
/// generators send it) nests deeper than ordinary queries may: it is answered wherever
/// introspection is on, while the depth limit still refuses everything else; and GraphiQL
/// loads nothing from another origin.
#[tokio::test]
async fn graphiql_and_code_generators_work_offline() {
    let p = TestPlatform::start_embedded().await;
    let standard = include_str!("fixtures/introspection_query.graphql");
    let schema = p.graphql(None, standard, json!({})).await;
    assert!(schema["errors"].is_null(), "{schema}");
    let types = schema["data"]["__schema"]["types"].as_array().unwrap();
    assert!(
        types.iter().any(|t| t["name"] == "ProgramStats"),
        "{schema}"
    );
    // Depth stays limited for anything that is not introspection alone.
    let mixed = p
        .graphql(
            None,
            &format!("{{ __typename {} }}", "pilots { edges { node { leadCompany { vouchers { edges { node { company { vouchers { edges { node { company { vouchers { edges { node { id } } } } } } } } } } } } } } } }"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&mixed), Some("BAD_USER_INPUT"), "{mixed}");

    // GraphiQL: the page and every file it names come from this origin, under a strict CSP.
    let page = p
        .http
        .get(p.url())
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("://"),
        "an absolute URL in GraphiQL's page: {html}"
    );
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect();
    assert_eq!(assets.len(), 6, "{html}");
    for asset in assets {
        let response = p
            .http
            .get(format!("{}{asset}", p.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let expected = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(kind.starts_with(expected), "{asset}: {kind}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("unpkg.com") && !body.contains("cdn.jsdelivr"),
            "{asset}"
        );
    }
    let missing = p
        .http
        .get(format!("{}/graphql/assets/../Cargo.toml", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    p.stop().await;
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let p = TestPlatform::start_with_limits(Limits {
        introspection: false,
        ..Limits::default()
    })
    .await;
    let schema = p
        .graphql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        schema["data"].is_null() || schema["data"]["__schema"].is_null(),
        "{schema}"
    );
    // No "did you mean" hints that would leak the schema instead.
    let typo = p
        .graphql(None, "{ compani { totalCount } }", json!({}))
        .await;
    assert!(
        !typo["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{typo}"
    );
    p.stop().await;

    let open = TestPlatform::start_embedded().await;
    let schema = open
        .graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "Query");
    let typo = open
        .graphql(None, "{ compani { totalCount } }", json!({}))
        .await;
    assert!(
        typo["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{typo}"
    );
    open.stop().await;
}

#[tokio::test]
async fn dashboards_and_anonymous_callers_see_public_fields_of_approved_companies() {
    let p = TestPlatform::start().await;
    let firm = p.sign_up("public@firm.kr").await;
    let manager = p.token(Role::ProgramManager);
    let approved = create_company(&p, &firm, &business_number(7), "공개기업").await;
    let draft = create_company(&p, &firm, &business_number(8), "비공개기업").await;
    act(&p, &firm, "submitCompany", &approved, None).await;
    act(&p, &manager, "startCompanyReview", &approved, None).await;
    act(&p, &manager, "approveCompany", &approved, None).await;

    for token in [Some(p.token(Role::Dashboard)), None] {
        let list = p.graphql(token.as_deref(), "{ companies { totalCount edges { node { id nameKo businessNumber history { to } } } } }", json!({})).await;
        assert_eq!(list["data"]["companies"]["totalCount"], 1, "{list}");
        let node = &list["data"]["companies"]["edges"][0]["node"];
        assert_eq!(node["nameKo"], "공개기업");
        assert_eq!(node["businessNumber"], Value::Null);
        assert_eq!(node["history"], json!([]));
        let hidden = p
            .graphql(token.as_deref(), COMPANY, json!({ "id": draft }))
            .await;
        assert_eq!(error_code(&hidden), Some("NOT_FOUND"));
    }
    p.stop().await;
}

/// Input that cannot be what it claims is the caller's mistake, named, never INTERNAL: control
/// characters in any text (a NUL would reach Postgres), numbers that do not fit their type,
/// impossible dates, amounts and figures beyond any real programme's.
#[tokio::test]
async fn impossible_input_is_bad_user_input_naming_the_field() {
    let p = TestPlatform::start().await;
    let firm = p.sign_up("bounds@input.kr").await;
    let manager = p.token(Role::ProgramManager);
    let company = p.approved_company(&firm, 902, "경계기업").await;
    let program = p.open_programme().await;
    // (caller, document, variables, what the message must name; empty: only the code counts)
    let apply =
        "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id } }";
    let cases: Vec<(Option<&str>, String, Value, &str)> = vec![
        (
            None,
            "query($text: String) { companies(filter: { text: $text }) { totalCount } }".into(),
            json!({ "text": "광주\u{0}에이아이" }),
            "text",
        ),
        (
            Some(&firm),
            CREATE_COMPANY.into(),
            json!({ "input": company_input(&business_number(901), "광주\u{1}에이아이") }),
            "nameKo",
        ),
        (
            None,
            "{ companies(filter: { text: \"a\\u0000b\" }) { totalCount } }".into(),
            json!({}),
            "text",
        ),
        (
            Some(&manager),
            "query($first: Int) { companies(first: $first) { totalCount } }".into(),
            json!({ "first": 2_147_483_648_i64 }),
            "",
        ),
        (
            Some(&manager),
            "{ companies(first: 2147483648) { totalCount } }".into(),
            json!({}),
            "",
        ),
        (
            Some(&manager),
            "query($f: StatsFilter) { programStats(filter: $f) { companies } }".into(),
            json!({ "f": { "from": "2024-02-30" } }),
            "",
        ),
        (
            Some(&manager),
            "{ programStats(filter: { from: \"2024-02-30\" }) { companies } }".into(),
            json!({}),
            "",
        ),
        (
            Some(&firm),
            apply.into(),
            json!({ "input": { "programId": program, "companyId": company,
                "requestedAmount": "9223372036854775808", "justification": "x" } }),
            "",
        ),
        (
            Some(&firm),
            apply.into(),
            json!({ "input": { "programId": program, "companyId": company,
                "requestedAmount": 9_223_372_036_854_775_807_i64, "justification": "x" } }),
            "requestedAmount",
        ),
        (
            Some(&firm),
            "mutation($input: PilotInput!) { registerPilot(input: $input) { id } }".into(),
            json!({ "input": { "title": "경계 실증", "domain": "ENERGY", "leadCompanyId": company,
                "site": "광주", "startsOn": "2027-01-01", "endsOn": "2027-12-31",
                "budgetNational": 9_223_372_036_854_775_807_i64, "budgetCity": 0, "budgetPrivate": 0,
                "regulatorySandbox": false } }),
            "budgetNational",
        ),
    ];
    for (token, query, variables, field) in cases {
        let answer = p.graphql(token, &query, variables.clone()).await;
        assert_eq!(
            error_code(&answer),
            Some("BAD_USER_INPUT"),
            "{query} {variables}: {answer}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{field} not named: {answer}");
    }
    p.stop().await;
}

/// What the console's account page and a firm's pilot page need from the API: a password
/// change that ends every other sign-in, a language kept on the account, names for the people
/// in a history, and a directory where a firm finds a partner company by name.
#[tokio::test]
async fn password_change_language_names_and_the_company_directory() {
    let p = TestPlatform::start().await;
    const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }";
    const CHANGE: &str = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken refreshToken user { email } } }";
    let first = p.sign_up("pw@firm.kr").await;
    let other = p
        .graphql(None, LOGIN, json!({ "e": "pw@firm.kr", "p": PASSWORD }))
        .await;
    let other_refresh = other["data"]["login"]["refreshToken"].as_str().unwrap();

    let wrong = p
        .graphql(
            Some(&first),
            CHANGE,
            json!({ "c": "not the password", "n": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    assert!(
        wrong["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("currentPassword ")),
        "the message names the field: {wrong}"
    );
    let short = p
        .graphql(Some(&first), CHANGE, json!({ "c": PASSWORD, "n": "short" }))
        .await;
    assert_eq!(error_code(&short), Some("BAD_USER_INPUT"), "{short}");
    assert!(
        short["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("newPassword ")),
        "the message names the field: {short}"
    );
    let anonymous = p
        .graphql(
            None,
            CHANGE,
            json!({ "c": PASSWORD, "n": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));

    let changed = p
        .graphql(
            Some(&first),
            CHANGE,
            json!({ "c": PASSWORD, "n": "a brand new passphrase" }),
        )
        .await;
    let fresh = changed["data"]["changePassword"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{changed}"))
        .to_owned();
    // Every earlier sign-in ends, the caller's own old token included; the new one works.
    for token in [
        &first,
        other["data"]["login"]["accessToken"].as_str().unwrap(),
    ] {
        let me = p
            .graphql(Some(token), "{ me { user { id } } }", json!({}))
            .await;
        assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
    }
    let refreshed = p
        .graphql(
            None,
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": other_refresh }),
        )
        .await;
    assert_eq!(error_code(&refreshed), Some("UNAUTHENTICATED"));
    let old = p
        .graphql(None, LOGIN, json!({ "e": "pw@firm.kr", "p": PASSWORD }))
        .await;
    assert_eq!(error_code(&old), Some("UNAUTHENTICATED"));
    let new = p
        .graphql(
            None,
            LOGIN,
            json!({ "e": "pw@firm.kr", "p": "a brand new passphrase" }),
        )
        .await;
    assert!(new["data"]["login"]["accessToken"].is_string(), "{new}");

    // The language is the person's own setting.
    const LANGUAGE: &str =
        "mutation($l: String) { updateMe(input: { language: $l }) { language name } }";
    let english = p
        .graphql(Some(&fresh), LANGUAGE, json!({ "l": "en" }))
        .await;
    assert_eq!(english["data"]["updateMe"]["language"], "en", "{english}");
    assert_eq!(english["data"]["updateMe"]["name"], "홍길동");
    let me = p
        .graphql(Some(&fresh), "{ me { user { language } } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["user"]["language"], "en");
    let japanese = p
        .graphql(Some(&fresh), LANGUAGE, json!({ "l": "ja" }))
        .await;
    assert_eq!(error_code(&japanese), Some("BAD_USER_INPUT"), "{japanese}");
    assert!(
        japanese["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("language ")),
        "the message names the field: {japanese}"
    );
    let cleared = p.graphql(Some(&fresh), LANGUAGE, json!({ "l": "" })).await;
    assert_eq!(cleared["data"]["updateMe"]["language"], Value::Null);

    // Names in a history: the firm member who submitted; a token of no account has none.
    let company = p.approved_company(&fresh, 41, "광주모빌리티").await;
    let history = p
        .graphql(
            Some(&fresh),
            "query($id: ID!) { company(id: $id) { history { to by byName } } }",
            json!({ "id": company }),
        )
        .await;
    let entries = history["data"]["company"]["history"].as_array().unwrap();
    let submitted = entries.iter().find(|h| h["to"] == "SUBMITTED").unwrap();
    assert_eq!(submitted["byName"], "홍길동", "{history}");
    let approved = entries.iter().find(|h| h["to"] == "APPROVED").unwrap();
    assert_eq!(approved["byName"], Value::Null, "{history}");

    // The directory: another firm finds the approved company by name, public fields only;
    // drafts are not in it, and its own `companies` still lists only its own.
    let partner = p.sign_up("partner@firm.kr").await;
    let draft = create_company(&p, &partner, &business_number(42), "광주초안").await;
    const DIRECTORY: &str = "query($t: String) { companyDirectory(filter: { text: $t, statuses: [DRAFT] }) { totalCount edges { node { id nameKo businessNumber status history { to } } } } }";
    let found = p
        .graphql(Some(&partner), DIRECTORY, json!({ "t": "광주" }))
        .await;
    assert_eq!(
        found["data"]["companyDirectory"]["totalCount"], 0,
        "{found}"
    );
    let found = p
        .graphql(
            Some(&partner),
            &DIRECTORY.replace("statuses: [DRAFT]", ""),
            json!({ "t": "모빌리티" }),
        )
        .await;
    let node = &found["data"]["companyDirectory"]["edges"][0]["node"];
    assert_eq!(
        found["data"]["companyDirectory"]["totalCount"], 1,
        "{found}"
    );
    assert_eq!(node["id"], company.as_str());
    assert_eq!(node["businessNumber"], Value::Null);
    assert_eq!(node["history"], json!([]));
    let own = p
        .graphql(
            Some(&partner),
            "{ companies { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        own["data"]["companies"]["edges"],
        json!([{ "node": { "id": draft } }])
    );
    p.stop().await;
}
