//! The voucher journey through GraphQL only: an admin opens a pool and a programme, a firm
//! applies, a manager approves in part, an operator meters usage (single records and sacct),
//! and everyone sees the same balance; with every refusal a caller can meet on the way.

use axv_auth::Role;
use axv_e2e::{TestPlatform, error_code};
use axv_platform::calendar::today_kst;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::{act, create_company, data};

const CAPACITY: i64 = 8 * 3600 * 24 * 30;
const REQUESTED: i64 = 50_000;
const GRANTED: i64 = 30_000;
const RECORDED: i64 = 3_600;
/// The sacct batch's one chargeable job: gres/gpu=2 for 100 seconds.
const INGESTED: i64 = 200;

const APPLY: &str = "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id status requestedAmount program { id pool { kind } } company { nameKo } voucher { id } } }";
const APPROVE: &str = "mutation($id: ID!, $granted: Long, $note: String) { approveVoucherApplication(id: $id, grantedAmount: $granted, note: $note) { id code granted balance status kind company { nameKo } } }";
const RECORD: &str = "mutation($input: UsageInput!) { recordUsage(input: $input) { id amount duplicate voucher { id balance consumed } } }";
const INGEST: &str = "mutation($cluster: String!, $sacct: String!) { ingestUsage(cluster: $cluster, sacct: $sacct) { uploadId accepted duplicates skipped amount rejected { line reason } charges { voucher { code } jobs amount } } }";
const UPLOADS: &str = "{ usageUploads { totalCount edges { node { id cluster accepted duplicates skipped amount rejectedCount uploadedAt } } } }";
const UPLOAD: &str = "query($id: ID!) { usageUpload(id: $id) { id uploadedByName rejected { line reason } charges { voucher { code } jobs amount } } }";
const VOUCHER: &str = "query($id: ID!) { voucher(id: $id) { id code balance consumed granted held status validFrom validUntil ledger { totalCount edges { node { kind amount balanceAfter reference } } } company { nameKo } } }";

fn long(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not a Long: {value}"))
}

fn usage(code: &str, job: &str, amount: i64) -> Value {
    let ended = Utc::now();
    let started = ended - Duration::seconds(amount);
    json!({ "input": {
        "cluster": "gwangju-h100",
        "jobId": job,
        "voucherCode": code,
        "amount": amount,
        "startedAt": started.to_rfc3339(),
        "endedAt": ended.to_rfc3339(),
    } })
}

async fn voucher_journey(p: &TestPlatform) {
    let admin = p.token(Role::Admin);
    let manager = p.token(Role::ProgramManager);
    let operator = p.token(Role::Operator);
    let dashboard = p.token(Role::Dashboard);
    let today = today_kst();

    // An admin opens an H100 pool and a programme open today.
    let pool = p
        .graphql(
            Some(&admin),
            "mutation($input: ResourcePoolInput!) { createResourcePool(input: $input) { id kind unit capacity committed consumed available funding validFrom } }",
            json!({ "input": {
                "name": "국가AI데이터센터 H100",
                "kind": "GPU_H100",
                "capacity": CAPACITY,
                "funding": "NATIONAL",
                "validFrom": today.to_string(),
                "validUntil": (today + Duration::days(365)).to_string(),
            } }),
        )
        .await;
    let pool = data(&pool, "createResourcePool").clone();
    assert_eq!(pool["kind"], "GPU_H100");
    assert_eq!(pool["funding"], "NATIONAL");
    assert_eq!(long(&pool["capacity"]), CAPACITY);
    assert_eq!(long(&pool["available"]), CAPACITY);
    assert_eq!(long(&pool["committed"]), 0);
    let pool_id = pool["id"].as_str().unwrap().to_owned();

    let program = p
        .graphql(
            Some(&admin),
            "mutation($input: VoucherProgramInput!) { createVoucherProgram(input: $input) { id name opensOn closesOn maxPerCompany sectors pool { id kind } } }",
            json!({ "input": {
                "poolId": pool_id,
                "name": "2025 AX 실증 컴퓨팅 바우처",
                "opensOn": today.to_string(),
                "closesOn": (today + Duration::days(30)).to_string(),
                "maxPerCompany": 100_000,
                "sectors": ["ARTIFICIAL_INTELLIGENCE", "DATA"],
            } }),
        )
        .await;
    let program = data(&program, "createVoucherProgram").clone();
    assert_eq!(program["pool"]["id"], pool_id.as_str());
    assert_eq!(
        program["sectors"],
        json!(["ARTIFICIAL_INTELLIGENCE", "DATA"])
    );
    assert_eq!(program["opensOn"], today.to_string());
    assert_eq!(long(&program["maxPerCompany"]), 100_000);
    let program_id = program["id"].as_str().unwrap().to_owned();

    // A firm registers a company and gets it approved; a second one stays a draft.
    let firm = p.sign_up("ceo@voucher.kr").await;
    let company = create_company(p, &firm, "124-81-00998", "광주바우처").await;
    let draft = create_company(p, &firm, "220-81-62517", "초안기업").await;
    act(p, &firm, "submitCompany", &company, None).await;
    act(p, &manager, "startCompanyReview", &company, None).await;
    let approved = act(p, &manager, "approveCompany", &company, None).await;
    assert_eq!(data(&approved, "approveCompany")["status"], "APPROVED");

    let application = |company_id: &str, amount: i64| {
        json!({ "input": {
            "programId": program_id,
            "companyId": company_id,
            "requestedAmount": amount,
            "justification": "자율주행 인지 모델 학습",
        } })
    };

    // Refusals before applying: no token, and a company not yet approved.
    let anonymous = p
        .graphql(None, APPLY, application(&company, REQUESTED))
        .await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
    let not_approved = p
        .graphql(Some(&firm), APPLY, application(&draft, REQUESTED))
        .await;
    assert_eq!(
        error_code(&not_approved),
        Some("FAILED_PRECONDITION"),
        "{not_approved}"
    );
    let why = not_approved["errors"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("DRAFT") && why.contains("APPROVED"),
        "the refusal says why: {why}"
    );

    // The firm applies.
    let applied = p
        .graphql(Some(&firm), APPLY, application(&company, REQUESTED))
        .await;
    let applied = data(&applied, "applyForVoucher").clone();
    assert_eq!(applied["status"], "SUBMITTED");
    assert_eq!(long(&applied["requestedAmount"]), REQUESTED);
    assert_eq!(applied["program"]["id"], program_id.as_str());
    assert_eq!(applied["program"]["pool"]["kind"], "GPU_H100");
    assert_eq!(applied["company"]["nameKo"], "광주바우처");
    assert_eq!(applied["voucher"], Value::Null);
    let application_id = applied["id"].as_str().unwrap().to_owned();

    // One application reads whole to its firm and to staff, and to no one else.
    const ONE: &str =
        "query($id: ID!) { voucherApplication(id: $id) { id status company { nameKo } } }";
    for reader in [&firm, &manager] {
        let read = p
            .graphql(Some(reader), ONE, json!({ "id": application_id }))
            .await;
        let read = data(&read, "voucherApplication");
        assert_eq!(read["id"], application_id.as_str());
        assert_eq!(read["company"]["nameKo"], "광주바우처");
    }
    let stranger = p.sign_up("stranger@voucher.kr").await;
    for (who, code) in [
        (Some(stranger.as_str()), "NOT_FOUND"),
        (Some(operator.as_str()), "FORBIDDEN"),
        (Some(dashboard.as_str()), "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ] {
        let refused = p.graphql(who, ONE, json!({ "id": application_id })).await;
        assert_eq!(error_code(&refused), Some(code), "{refused}");
    }

    // A firm may not decide; a manager may not grant more than asked.
    let self_approve = p
        .graphql(
            Some(&firm),
            APPROVE,
            json!({ "id": application_id, "granted": null }),
        )
        .await;
    assert_eq!(
        error_code(&self_approve),
        Some("FORBIDDEN"),
        "{self_approve}"
    );
    let too_much = p
        .graphql(
            Some(&manager),
            APPROVE,
            json!({ "id": application_id, "granted": REQUESTED + 1 }),
        )
        .await;
    assert_eq!(error_code(&too_much), Some("BAD_USER_INPUT"), "{too_much}");
    assert!(
        too_much["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("grantedAmount"),
        "{too_much}"
    );

    // The manager approves in part.
    let voucher = p
        .graphql(
            Some(&manager),
            APPROVE,
            json!({ "id": application_id, "granted": GRANTED, "note": "예산 범위 내 일부 승인" }),
        )
        .await;
    let voucher = data(&voucher, "approveVoucherApplication").clone();
    assert_eq!(long(&voucher["granted"]), GRANTED);
    assert_eq!(long(&voucher["balance"]), GRANTED);
    assert_eq!(voucher["status"], "ACTIVE");
    assert_eq!(voucher["kind"], "GPU_H100");
    assert_eq!(voucher["company"]["nameKo"], "광주바우처");
    let code = voucher["code"].as_str().unwrap().to_owned();
    assert!(!code.is_empty());
    let voucher_id = voucher["id"].as_str().unwrap().to_owned();

    // Staff narrow the live figures by funding source: the national pool's voucher and the
    // one company holding it; nothing comes from city money.
    let funded = |sources: Value, token: Option<String>| async move {
        p.graphql(
                token.as_deref(),
                "query($f: StatsFilter) { programStats(filter: $f) { companies approvedCompanies pilots vouchersIssued computeGranted } }",
                json!({ "f": { "fundingSources": sources } }),
            )
            .await
    };
    let national = funded(json!(["NATIONAL"]), Some(manager.clone())).await;
    let national = data(&national, "programStats");
    assert_eq!(
        (
            long(&national["companies"]),
            long(&national["approvedCompanies"]),
            long(&national["vouchersIssued"]),
            long(&national["computeGranted"]),
        ),
        (1, 1, 1, GRANTED),
        "{national}"
    );
    let city = funded(json!(["CITY", "PRIVATE"]), Some(manager.clone())).await;
    let city = data(&city, "programStats");
    assert_eq!(
        (
            long(&city["companies"]),
            long(&city["vouchersIssued"]),
            long(&city["computeGranted"]),
        ),
        (0, 0, 0),
        "{city}"
    );
    // Releases do not record funding: the public cannot narrow by it.
    for token in [None, Some(dashboard.clone())] {
        let refused = funded(json!(["NATIONAL"]), token).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    }

    let applications = p
        .graphql(
            Some(&firm),
            "{ voucherApplications(filter: { statuses: [APPROVED] }) { totalCount edges { node { id status decisionNote voucher { id code } } } } }",
            json!({}),
        )
        .await;
    let applications = data(&applications, "voucherApplications");
    assert_eq!(applications["totalCount"], 1, "{applications}");
    let node = &applications["edges"][0]["node"];
    assert_eq!(node["id"], application_id.as_str());
    assert_eq!(node["voucher"]["code"], code.as_str());
    assert_eq!(node["decisionNote"], "예산 범위 내 일부 승인");

    // An operator meters one job twice: charged once.
    let first = p
        .graphql(Some(&operator), RECORD, usage(&code, "1001", RECORDED))
        .await;
    let first = data(&first, "recordUsage").clone();
    assert_eq!(first["duplicate"], false);
    assert_eq!(long(&first["voucher"]["balance"]), GRANTED - RECORDED);
    let again = p
        .graphql(Some(&operator), RECORD, usage(&code, "1001", RECORDED))
        .await;
    let again = data(&again, "recordUsage").clone();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(long(&again["voucher"]["balance"]), GRANTED - RECORDED);
    assert_eq!(long(&again["voucher"]["consumed"]), RECORDED);

    // Firms do not meter.
    let firm_meters = p
        .graphql(Some(&firm), RECORD, usage(&code, "1002", 1))
        .await;
    assert_eq!(error_code(&firm_meters), Some("FORBIDDEN"), "{firm_meters}");

    // A sacct batch: one chargeable job, its step, a running job and an unknown account.
    let sacct = format!(
        "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
         2001|2001|{code}|kimjh|billing=16,cpu=16,gres/gpu=2,mem=128G,node=1|100|2025-03-01T09:00:00|2025-03-01T09:01:40|COMPLETED\n\
         2001.batch|2001.batch|{code}|kimjh|cpu=16,gres/gpu=2,mem=128G,node=1|100|2025-03-01T09:00:00|2025-03-01T09:01:40|COMPLETED\n\
         2002|2002|{code}|kimjh|billing=16,cpu=16,gres/gpu=4,node=1|50|2025-03-01T09:05:00|Unknown|RUNNING\n\
         2003|2003|unknown-acct|leesy|billing=8,cpu=8,gres/gpu=1,node=1|10|2025-03-01T09:00:00|2025-03-01T09:00:10|COMPLETED\n"
    );
    let vars = json!({ "cluster": "gwangju-h100", "sacct": sacct });
    let report = p.graphql(Some(&operator), INGEST, vars.clone()).await;
    let report = data(&report, "ingestUsage").clone();
    assert_eq!(report["accepted"], 1, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_eq!(report["skipped"], 2, "{report}");
    assert_eq!(long(&report["amount"]), INGESTED);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["line"], 5, "{report}");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown-acct"),
        "{report}"
    );
    let replay = p.graphql(Some(&operator), INGEST, vars).await;
    let replay = data(&replay, "ingestUsage").clone();
    assert_eq!(replay["accepted"], 0, "{replay}");
    assert_eq!(replay["duplicates"], 1, "{replay}");
    assert_eq!(long(&replay["amount"]), 0);
    assert_eq!(replay["charges"], json!([]), "{replay}");

    // Both files are in the history, newest first; one upload keeps its lines and charges.
    let history = p.graphql(Some(&operator), UPLOADS, json!({})).await;
    let history = data(&history, "usageUploads").clone();
    assert_eq!(history["totalCount"], 2, "{history}");
    let listed: Vec<&Value> = history["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(listed[0]["id"], replay["uploadId"], "{history}");
    assert_eq!(listed[1]["id"], report["uploadId"], "{history}");
    assert_eq!(
        (
            listed[1]["accepted"].clone(),
            listed[1]["rejectedCount"].clone()
        ),
        (json!(1), json!(1)),
        "{history}"
    );
    assert_eq!(listed[1]["cluster"], "gwangju-h100");
    let upload = p
        .graphql(Some(&operator), UPLOAD, json!({ "id": report["uploadId"] }))
        .await;
    let upload = data(&upload, "usageUpload").clone();
    assert_eq!(upload["rejected"], report["rejected"], "{upload}");
    assert_eq!(upload["charges"], report["charges"], "{upload}");
    assert_eq!(
        upload["charges"],
        json!([{ "voucher": { "code": code }, "jobs": 1, "amount": INGESTED }]),
        "{upload}"
    );
    // Firms and managers do not read the data center's uploads.
    for (who, token) in [("firm", &firm), ("manager", &manager)] {
        let refused = p.graphql(Some(token), UPLOADS, json!({})).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{who}: {refused}");
        let refused = p
            .graphql(Some(token), UPLOAD, json!({ "id": report["uploadId"] }))
            .await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{who}: {refused}");
    }

    // The firm sees its voucher: granted - consumed = balance, the grant and both debits.
    let consumed = RECORDED + INGESTED;
    let seen = p
        .graphql(Some(&firm), VOUCHER, json!({ "id": voucher_id }))
        .await;
    let seen = data(&seen, "voucher").clone();
    assert_eq!(long(&seen["granted"]), GRANTED);
    assert_eq!(long(&seen["consumed"]), consumed);
    assert_eq!(long(&seen["held"]), 0);
    assert_eq!(long(&seen["balance"]), GRANTED - consumed);
    assert_eq!(seen["status"], "ACTIVE");
    assert_eq!(seen["company"]["nameKo"], "광주바우처");
    assert_eq!(seen["ledger"]["totalCount"], 3, "{seen}");
    let ledger: Vec<(String, i64, i64)> = seen["ledger"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["kind"].as_str().unwrap().to_owned(),
                long(&n["amount"]),
                long(&n["balanceAfter"]),
            )
        })
        .collect();
    assert_eq!(
        ledger,
        vec![
            ("grant".to_owned(), GRANTED, GRANTED),
            ("debit".to_owned(), -RECORDED, GRANTED - RECORDED),
            ("debit".to_owned(), -INGESTED, GRANTED - consumed),
        ]
    );
    // Paging the ledger: one entry, then the rest after its cursor.
    let page = p
        .graphql(
            Some(&firm),
            "query($id: ID!, $after: String) { voucher(id: $id) { ledger(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { kind } } } } }",
            json!({ "id": voucher_id }),
        )
        .await;
    let page = &data(&page, "voucher")["ledger"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{page}");
    let rest = p
        .graphql(
            Some(&firm),
            "query($id: ID!, $after: String) { voucher(id: $id) { ledger(first: 5, after: $after) { pageInfo { hasNextPage } edges { node { kind } } } } }",
            json!({ "id": voucher_id, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let rest = &data(&rest, "voucher")["ledger"];
    assert_eq!(rest["edges"].as_array().unwrap().len(), 2, "{rest}");
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    // ...and through its companies, loaded for all of them at once.
    let me = p
        .graphql(
            Some(&firm),
            "{ me { companies { id vouchers { totalCount pageInfo { hasNextPage } edges { node { code balance } } } } } }",
            json!({}),
        )
        .await;
    let companies = me["data"]["me"]["companies"]
        .as_array()
        .unwrap_or_else(|| panic!("{me}"));
    let with = companies
        .iter()
        .find(|c| c["id"] == company.as_str())
        .unwrap();
    assert_eq!(with["vouchers"]["totalCount"], 1, "{me}");
    assert_eq!(with["vouchers"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(with["vouchers"]["edges"][0]["node"]["code"], code.as_str());
    assert_eq!(
        long(&with["vouchers"]["edges"][0]["node"]["balance"]),
        GRANTED - consumed
    );
    let without = companies
        .iter()
        .find(|c| c["id"] == draft.as_str())
        .unwrap();
    assert_eq!(without["vouchers"]["totalCount"], 0, "{me}");
    assert_eq!(without["vouchers"]["edges"], json!([]));

    // The pool shows the grant as committed and the usage as consumed; pools are public.
    for token in [Some(dashboard.as_str()), Some(firm.as_str()), None] {
        let pools = p
            .graphql(
                token,
                "{ resourcePools { id capacity committed consumed available } voucherPrograms { id pool { id } } }",
                json!({}),
            )
            .await;
        let pools = data(&pools, "resourcePools").as_array().unwrap().clone();
        let pool = pools.iter().find(|x| x["id"] == pool_id.as_str()).unwrap();
        assert_eq!(long(&pool["committed"]), GRANTED, "{pool}");
        assert_eq!(long(&pool["consumed"]), consumed, "{pool}");
        assert_eq!(long(&pool["available"]), CAPACITY - GRANTED, "{pool}");
    }

    // Operators and managers read vouchers; the export names the voucher.
    let listed = p
        .graphql(
            Some(&operator),
            "query($c: [ID!]) { vouchers(filter: { companyIds: $c, statuses: [ACTIVE] }) { totalCount edges { node { code company { nameKo } } } } }",
            json!({ "c": [company] }),
        )
        .await;
    let listed = data(&listed, "vouchers");
    assert_eq!(listed["totalCount"], 1, "{listed}");
    assert_eq!(listed["edges"][0]["node"]["code"], code.as_str());
    let export = p
        .graphql(
            Some(&operator),
            "{ slurmAccounts(cluster: \"gwangju-h100\") }",
            json!({}),
        )
        .await;
    assert!(
        data(&export, "slurmAccounts")
            .as_str()
            .unwrap()
            .contains(&code),
        "{export}"
    );

    // Visibility: another firm's voucher does not exist; dashboards see no vouchers.
    let other = p.sign_up("other@voucher.kr").await;
    let hidden = p
        .graphql(Some(&other), VOUCHER, json!({ "id": voucher_id }))
        .await;
    assert_eq!(error_code(&hidden), Some("NOT_FOUND"), "{hidden}");
    let none = p
        .graphql(Some(&other), "{ vouchers { totalCount } }", json!({}))
        .await;
    assert_eq!(data(&none, "vouchers")["totalCount"], 0, "{none}");
    let board = p
        .graphql(Some(&dashboard), "{ vouchers { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&board), Some("FORBIDDEN"), "{board}");

    // A second application, withdrawn by the firm.
    let second = p
        .graphql(Some(&firm), APPLY, application(&company, 1_000))
        .await;
    let second_id = data(&second, "applyForVoucher")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let withdrawn = p
        .graphql(
            Some(&firm),
            "mutation($id: ID!) { withdrawVoucherApplication(id: $id) { status } }",
            json!({ "id": second_id }),
        )
        .await;
    assert_eq!(
        data(&withdrawn, "withdrawVoucherApplication")["status"],
        "WITHDRAWN"
    );

    // Page sizes and cursors are checked as everywhere else.
    for first in [0, 101] {
        let page = p
            .graphql(
                Some(&manager),
                "query($first: Int) { vouchers(first: $first) { totalCount } }",
                json!({ "first": first }),
            )
            .await;
        assert_eq!(error_code(&page), Some("BAD_USER_INPUT"), "{page}");
    }
}

#[tokio::test]
async fn voucher_journey_through_graphql() {
    let p = TestPlatform::start().await;
    voucher_journey(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn voucher_journey_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    voucher_journey(&p).await;
    p.stop().await;
}

/// Every list pages on: 200 applications, 101 vouchers and a ledger of 101 entries each say
/// that another page follows exactly until the last one (the extra row used to be clamped
/// away, so every first page claimed to be the last).
#[tokio::test]
async fn long_lists_page_to_their_end() {
    let p = TestPlatform::start_with_limits(axv_gateway::Limits {
        rate_limits: axv_gateway::rate_limit::RateLimits {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let admin = p.token(Role::Admin);
    let manager = p.token(Role::ProgramManager);
    let operator = p.token(Role::Operator);
    let firm = p.sign_up("pages@vouchers.kr").await;
    let company = p.approved_company(&firm, 5501, "페이지기업").await;
    let today = today_kst();
    let pool = p
        .graphql(
            Some(&admin),
            "mutation($input: ResourcePoolInput!) { createResourcePool(input: $input) { id } }",
            json!({ "input": { "name": "H100", "kind": "GPU_H100", "capacity": CAPACITY, "funding": "CITY",
                "validFrom": today.to_string(), "validUntil": (today + Duration::days(365)).to_string() } }),
        )
        .await;
    let program = p
        .graphql(
            Some(&admin),
            "mutation($input: VoucherProgramInput!) { createVoucherProgram(input: $input) { id } }",
            json!({ "input": { "poolId": data(&pool, "createResourcePool")["id"], "name": "페이지 바우처",
                "opensOn": today.to_string(), "closesOn": (today + Duration::days(30)).to_string(),
                "maxPerCompany": CAPACITY } }),
        )
        .await;
    let program = data(&program, "createVoucherProgram")["id"].clone();
    let mut applications = Vec::new();
    for _ in 0..200 {
        let applied = p
            .graphql(
                Some(&firm),
                APPLY,
                json!({ "input": { "programId": program, "companyId": company,
                    "requestedAmount": 100, "justification": "페이지" } }),
            )
            .await;
        applications.push(data(&applied, "applyForVoucher")["id"].clone());
    }
    let mut vouchers = Vec::new();
    for id in &applications[..101] {
        let approved = p
            .graphql(Some(&manager), APPROVE, json!({ "id": id }))
            .await;
        vouchers.push(data(&approved, "approveVoucherApplication")["code"].clone());
    }
    for n in 0..100 {
        let recorded = p
            .graphql(
                Some(&operator),
                RECORD,
                json!({ "input": { "cluster": "h100", "jobId": format!("page-{n}"),
                    "voucherCode": vouchers[0], "amount": 1,
                    "startedAt": "2026-01-01T00:00:00Z", "endedAt": "2026-01-01T00:00:01Z" } }),
            )
            .await;
        data(&recorded, "recordUsage");
    }
    let voucher_id = p
        .graphql(
            Some(&firm),
            "{ vouchers(first: 1) { edges { node { id code } } } }",
            json!({}),
        )
        .await;
    let first_voucher = data(&voucher_id, "vouchers")["edges"][0]["node"].clone();
    assert_eq!(first_voucher["code"], vouchers[0]);

    // (page sizes seen, total) for a connection reached by `path` from the query's data.
    async fn pages(
        p: &TestPlatform,
        token: &str,
        query: &str,
        variables: Value,
        path: &[&str],
    ) -> (Vec<usize>, i64) {
        let mut sizes = Vec::new();
        let mut after = Value::Null;
        loop {
            let mut vars = variables.clone();
            vars["after"] = after.clone();
            let response = p.graphql(Some(token), query, vars).await;
            assert!(response["errors"].is_null(), "{response}");
            let mut connection = &response["data"];
            for step in path {
                connection = &connection[step];
            }
            let edges = connection["edges"].as_array().unwrap().len();
            sizes.push(edges);
            if connection["pageInfo"]["hasNextPage"] != true {
                return (sizes, connection["totalCount"].as_i64().unwrap());
            }
            after = connection["pageInfo"]["endCursor"].clone();
            assert!(sizes.len() < 10, "{response}");
        }
    }
    let page = "totalCount pageInfo { hasNextPage endCursor } edges { node { id } }";
    for token in [&firm, &manager] {
        let applications = pages(
            &p,
            token,
            &format!("query($after: String) {{ voucherApplications(first: 100, after: $after) {{ {page} }} }}"),
            json!({}),
            &["voucherApplications"],
        )
        .await;
        assert_eq!(applications, (vec![100, 100], 200));
        let listed = pages(
            &p,
            token,
            &format!(
                "query($after: String) {{ vouchers(first: 100, after: $after) {{ {page} }} }}"
            ),
            json!({}),
            &["vouchers"],
        )
        .await;
        assert_eq!(listed, (vec![100, 1], 101));
        let ledger = pages(
            &p,
            token,
            &format!("query($id: ID!, $after: String) {{ voucher(id: $id) {{ ledger(first: 100, after: $after) {{ {page} }} }} }}"),
            json!({ "id": first_voucher["id"] }),
            &["voucher", "ledger"],
        )
        .await;
        assert_eq!(ledger, (vec![100, 1], 101));
    }
    p.stop().await;
}

/// The operators' path for real files: a sacct file of about 12 MB, gzip-compressed, uploaded
/// by `axv usage push` signed in as an API client with the OPERATOR role, streamed through the
/// gateway to the vouchers service; the same file plain is all duplicates; a truncated gzip
/// charges nothing; strangers and firms are refused with JSON codes before the body is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sacct_files_of_tens_of_megabytes_stream_in_gzip_or_plain() {
    use std::io::Write as _;
    let p = TestPlatform::start().await;
    let admin = p.token(Role::Admin);
    let manager = p.token(Role::ProgramManager);
    let firm = p.sign_up("upload@vouchers.kr").await;
    let company = p.approved_company(&firm, 5601, "업로드기업").await;
    let voucher_id = super::issue_voucher(&p, &firm, &manager, &company, None).await;
    let voucher = p
        .graphql(Some(&manager), VOUCHER, json!({ "id": voucher_id }))
        .await;
    let code = data(&voucher, "voucher")["code"]
        .as_str()
        .unwrap()
        .to_owned();

    let text = axv_testkit::sacct::synthetic(30_000, &[code.as_str()], 7);
    assert!(text.len() > 10 * 1024 * 1024, "{} bytes", text.len());
    let expected = axv_vouchers::sacct::parse(&text).unwrap();
    let gpu_seconds: i64 = expected.jobs.iter().map(|j| j.gpu_seconds).sum();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("sacct.txt");
    std::fs::write(&plain, &text).unwrap();
    let gzipped = dir.path().join("sacct.txt.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    std::fs::write(&gzipped, &compressed).unwrap();

    let registered = p
        .graphql(
            Some(&admin),
            "mutation { registerApiClient(name: \"데이터센터 과금 배치\", role: OPERATOR) { clientId secret } }",
            json!({}),
        )
        .await;
    let credentials = data(&registered, "registerApiClient");
    let args = |file: &std::path::Path| axv::usage_push::PushArgs {
        file: file.to_owned(),
        cluster: "h100".into(),
        url: p.base_url(),
        client_id: credentials["clientId"].as_str().map(str::to_owned),
        client_secret: credentials["secret"].as_str().map(str::to_owned),
        token: None,
    };
    // A truncated gzip file: refused whole, nothing charged.
    let truncated = dir.path().join("cut.txt.gz");
    std::fs::write(&truncated, &compressed[..compressed.len() / 2]).unwrap();
    let cut = axv::usage_push::push(&args(&truncated)).await.unwrap_err();
    assert!(format!("{cut:#}").contains("BAD_USER_INPUT"), "{cut:#}");
    let untouched = p
        .graphql(Some(&manager), VOUCHER, json!({ "id": voucher_id }))
        .await;
    assert_eq!(data(&untouched, "voucher")["consumed"], 0, "{untouched}");

    let report = axv::usage_push::push(&args(&gzipped)).await.unwrap();
    assert_eq!(report.accepted as usize, expected.jobs.len());
    assert_eq!(report.skipped as usize, expected.skipped);
    assert_eq!(report.amount + report.overage, gpu_seconds);
    // The voucher's 36,000 GPU-seconds are charged; the rest ran beyond it.
    assert_eq!(report.amount, 36_000);
    assert_eq!(report.charges.len(), 1, "{report:?}");
    assert_eq!(report.charges[0].voucher_code, code);
    assert_eq!(report.charges[0].amount, 36_000);
    assert_eq!(report.charges[0].jobs, report.accepted);
    let summary = axv::usage_push::describe(&report);
    assert!(summary.contains("10.00 GPU-hours charged"), "{summary}");
    assert!(
        summary.contains(&format!(
            "{code}: 10.00 GPU-hours for {} jobs",
            report.accepted
        )),
        "{summary}"
    );
    let charged = p
        .graphql(
            Some(&manager),
            "query($id: ID!) { voucher(id: $id) { consumed balance overage status } }",
            json!({ "id": voucher_id }),
        )
        .await;
    let charged = data(&charged, "voucher");
    assert_eq!(charged["consumed"], 36_000, "{charged}");
    assert_eq!(charged["balance"], 0, "{charged}");
    assert_eq!(charged["overage"], report.overage, "{charged}");
    assert_eq!(charged["status"], "EXHAUSTED", "{charged}");
    // The programme's figures count what ran, overage included, and say how much was unfunded.
    let stats = p
        .graphql(
            Some(&manager),
            "{ programStats { computeGranted computeConsumed computeOverage } }",
            json!({}),
        )
        .await;
    let stats = data(&stats, "programStats");
    assert_eq!(stats["computeConsumed"], gpu_seconds, "{stats}");
    assert_eq!(stats["computeOverage"], report.overage, "{stats}");

    // The same jobs again, plain and with a token: all already recorded.
    let operator = p.token(Role::Operator);
    let again = axv::usage_push::push(&axv::usage_push::PushArgs {
        token: Some(operator),
        client_id: None,
        client_secret: None,
        ..args(&plain)
    })
    .await
    .unwrap();
    assert_eq!((again.accepted, again.amount), (0, 0));
    assert_eq!(
        again.duplicates as usize,
        report.accepted as usize + expected.in_file_duplicates
    );

    for (token, status, code) in [
        (None, 401, "UNAUTHENTICATED"),
        (Some(firm.as_str()), 403, "FORBIDDEN"),
    ] {
        // A few lines are enough: the refusal comes before the body is read.
        let head: String = text.lines().take(20).map(|l| format!("{l}\n")).collect();
        let mut request = p
            .http
            .post(format!("{}/usage/sacct?cluster=h100", p.base_url()))
            .body(head);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), Some(code), "{body}");
    }
    p.stop().await;
}
