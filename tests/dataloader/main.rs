//! Nested fields of a list load through DataLoaders: a list of 50 companies costs one batch
//! call to onboarding, never 50. Its own test binary, so the process-wide counters it reads
//! see no other test's calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axv_e2e::{CREATE_COMPANY, TestPlatform, business_number, company_input};
use serde_json::json;

fn onboarding_calls(method: &str) -> u64 {
    axv_telemetry::metrics::global()
        .grpc_server_handled
        .with_label_values(&["axv.onboarding.v1.OnboardingService", method, "OK"])
        .get()
}

#[tokio::test]
async fn fifty_companies_with_nested_fields_cost_one_batch_call() {
    let p = TestPlatform::start().await;
    let firm = p.sign_up("fifty@firm.kr").await;
    for n in 0..50 {
        let created = p
            .graphql(Some(&firm), CREATE_COMPANY, json!({ "input": company_input(&business_number(1000 + n), &format!("오십기업{n}")) }))
            .await;
        assert!(created["errors"].is_null(), "{created}");
    }

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
