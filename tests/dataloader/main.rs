//! Nested fields of a list load through DataLoaders: a list of 50 companies costs one batch
//! call to onboarding, never 50. Its own test binary, so the process-wide counters it reads
//! see no other test's calls; the tests here take turns for the same reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_auth::Role;
use axv_e2e::{CREATE_COMPANY, TestPlatform, business_number, company_input};
use serde_json::{Value, json};

/// Held for a whole test: the counters are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn calls(service: &str, method: &str) -> u64 {
    axv_telemetry::metrics::global()
        .grpc_server_handled
        .with_label_values(&[service, method, "OK"])
        .get()
}

fn onboarding_calls(method: &str) -> u64 {
    calls("axv.onboarding.v1.OnboardingService", method)
}

fn voucher_calls(method: &str) -> u64 {
    calls("axv.vouchers.v1.VouchersService", method)
}

/// Waits until the platform's own background work has stopped calling onboarding (the notify
/// service looking up the people and names of the setup's events), so the counts taken next
/// are the query's alone.
async fn settled() {
    let busy = || {
        ["BatchGetCompanies", "ListCompanyMembers", "ListStaff"]
            .iter()
            .map(|m| onboarding_calls(m))
            .sum::<u64>()
    };
    let mut last = busy();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = busy();
        if now == last {
            return;
        }
        last = now;
    }
}

#[tokio::test]
async fn fifty_companies_with_nested_fields_cost_one_batch_call() {
    let _turn = SERIAL.lock().await;
    let p = TestPlatform::start().await;
    let firm = p.sign_up("fifty@firm.kr").await;
    for n in 0..50 {
        let created = p
            .graphql(Some(&firm), CREATE_COMPANY, json!({ "input": company_input(&business_number(1000 + n), &format!("오십기업{n}")) }))
            .await;
        assert!(created["errors"].is_null(), "{created}");
    }

    settled().await;
    let (batches, gets) = (
        onboarding_calls("BatchGetCompanies"),
        onboarding_calls("GetCompany"),
    );
    let me = p
        .graphql(
            Some(&firm),
            "{ me { companies { id nameKo sector status history { from to at by } } } }",
            json!({}),
        )
        .await;
    let companies = me["data"]["me"]["companies"].as_array().unwrap();
    assert_eq!(companies.len(), 50, "{me}");
    assert!(companies.iter().all(|c| c["history"][0]["to"] == "DRAFT"));
    assert_eq!(
        onboarding_calls("BatchGetCompanies") - batches,
        1,
        "one batch call for 50 nested companies"
    );
    assert_eq!(onboarding_calls("GetCompany") - gets, 0, "no per-row calls");
    p.stop().await;
}

fn data<'a>(response: &'a Value, field: &str) -> &'a Value {
    assert!(response["errors"].is_null(), "{response}");
    &response["data"][field]
}

#[tokio::test]
async fn vouchers_of_many_companies_cost_one_call_per_level() {
    let _turn = SERIAL.lock().await;
    let p = TestPlatform::start().await;
    let (admin, manager) = (p.token(Role::Admin), p.token(Role::ProgramManager));
    let today = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive();
    let pool = p
        .graphql(
            Some(&admin),
            "mutation($i: ResourcePoolInput!) { createResourcePool(input: $i) { id } }",
            json!({ "i": { "name": "H100", "kind": "GPU_H100", "capacity": 10_000_000,
                "funding": "CITY", "validFrom": today.to_string(),
                "validUntil": (today + chrono::Duration::days(90)).to_string() } }),
        )
        .await;
    let pool_id = data(&pool, "createResourcePool")["id"].clone();
    let mut programs = Vec::new();
    for n in 0..2 {
        let program = p
            .graphql(
                Some(&admin),
                "mutation($i: VoucherProgramInput!) { createVoucherProgram(input: $i) { id } }",
                json!({ "i": { "poolId": pool_id, "name": format!("프로그램{n}"),
                    "opensOn": today.to_string(),
                    "closesOn": (today + chrono::Duration::days(30)).to_string(),
                    "maxPerCompany": 100_000 } }),
            )
            .await;
        programs.push(data(&program, "createVoucherProgram")["id"].clone());
    }

    // Eight approved companies, each with a voucher from each programme.
    let firm = p.sign_up("many@vouchers.kr").await;
    for n in 0..8 {
        let created = p
            .graphql(Some(&firm), CREATE_COMPANY, json!({ "input": company_input(&business_number(2000 + n), &format!("바우처기업{n}")) }))
            .await;
        let id = data(&created, "createCompany")["id"].clone();
        for (token, step) in [
            (&firm, "submitCompany"),
            (&manager, "startCompanyReview"),
            (&manager, "approveCompany"),
        ] {
            let moved = p
                .graphql(
                    Some(token),
                    &format!("mutation($id: ID!) {{ {step}(id: $id) {{ status }} }}"),
                    json!({ "id": id }),
                )
                .await;
            data(&moved, step);
        }
        for program in &programs {
            let applied = p
                .graphql(
                    Some(&firm),
                    "mutation($i: VoucherApplicationInput!) { applyForVoucher(input: $i) { id } }",
                    json!({ "i": { "programId": program, "companyId": id,
                        "requestedAmount": 1_000, "justification": "학습" } }),
                )
                .await;
            let application = data(&applied, "applyForVoucher")["id"].clone();
            let approved = p
                .graphql(
                    Some(&manager),
                    "mutation($id: ID!) { approveVoucherApplication(id: $id) { id } }",
                    json!({ "id": application }),
                )
                .await;
            data(&approved, "approveVoucherApplication");
        }
    }

    let methods = [
        "ListCompanyVouchers",
        "ListVouchers",
        "GetVoucher",
        "BatchGetVouchers",
        "BatchGetPrograms",
        "BatchGetResourcePools",
    ];
    let before: Vec<u64> = methods.iter().map(|m| voucher_calls(m)).collect();
    settled().await;
    let (batches, gets) = (
        onboarding_calls("BatchGetCompanies"),
        onboarding_calls("GetCompany"),
    );
    let me = p
        .graphql(
            Some(&firm),
            "{ me { companies { vouchers { totalCount edges { node { code company { id } program { name pool { unit } } } } } } } }",
            json!({}),
        )
        .await;
    let companies = data(&me, "me")["companies"].as_array().unwrap();
    assert_eq!(companies.len(), 8, "{me}");
    assert!(companies.iter().all(|c| c["vouchers"]["totalCount"] == 2
        && c["vouchers"]["edges"][1]["node"]["program"]["pool"]["unit"] == "GPU-second"));
    let delta: Vec<(&str, u64)> = methods
        .iter()
        .zip(&before)
        .map(|(m, b)| (*m, voucher_calls(m) - b))
        .collect();
    assert_eq!(
        delta,
        vec![
            ("ListCompanyVouchers", 1),
            ("ListVouchers", 0),
            ("GetVoucher", 0),
            ("BatchGetVouchers", 0),
            ("BatchGetPrograms", 1),
            ("BatchGetResourcePools", 1),
        ],
        "one call per service per level"
    );
    // Viewer.companies, then Voucher.company.
    assert_eq!(onboarding_calls("BatchGetCompanies") - batches, 2);
    assert_eq!(onboarding_calls("GetCompany") - gets, 0);

    settled().await;
    let before = voucher_calls("BatchGetVouchers");
    let batches = onboarding_calls("BatchGetCompanies");
    let applications = p
        .graphql(
            Some(&manager),
            "{ voucherApplications(first: 16) { totalCount edges { node { company { nameKo } program { id } voucher { balance } } } } }",
            json!({}),
        )
        .await;
    let applications = data(&applications, "voucherApplications");
    assert_eq!(applications["totalCount"], 16, "{applications}");
    assert!(
        applications["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["voucher"]["balance"] == 1_000)
    );
    assert_eq!(voucher_calls("BatchGetVouchers") - before, 1);
    assert_eq!(onboarding_calls("BatchGetCompanies") - batches, 1);
    p.stop().await;
}
