//! Picking items up for review through GraphQL: a company whose review one manager started is
//! held for them; another manager's decision is refused naming them until taken over; firms
//! are never held up, and cannot pick anything up.

use axv_auth::Role;
use axv_e2e::{PASSWORD, TestPlatform, error_code};
use serde_json::{Value, json};

async fn sign_in(p: &TestPlatform, email: &str) -> String {
    let answer = p
        .graphql(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": email, "p": PASSWORD }),
        )
        .await;
    answer["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

const CLAIMS: &str = "query($ids: [ID!]!) { reviewClaims(subjectIds: $ids) { subjectId byName } }";
const PICK_UP: &str = "mutation($id: ID!, $take: Boolean) { pickUpForReview(subjectId: $id, takeOver: $take) { byName } }";
const APPROVE: &str = "mutation($id: ID!) { approveCompany(id: $id) { status } }";

fn refusal_field(answer: &Value) -> Option<&str> {
    answer["errors"][0]["extensions"]["field"].as_str()
}

#[tokio::test]
async fn a_manager_holds_what_they_picked_up_until_another_takes_it_over() {
    let p = TestPlatform::start_embedded().await;
    p.staff_account("a@city.kr", "김하나 (AI산업과)", Role::ProgramManager)
        .await;
    p.staff_account("b@city.kr", "박두리 (AI산업과)", Role::ProgramManager)
        .await;
    let (a, b) = (
        sign_in(&p, "a@city.kr").await,
        sign_in(&p, "b@city.kr").await,
    );
    let firm = p.sign_up("firm@claims.kr").await;
    let company = p.submitted_company(&firm, 8801, "광주클레임랩").await;
    let ids = json!({ "ids": [company] });

    // Starting the review picks the company up.
    let started = p
        .graphql(
            Some(&a),
            "mutation($id: ID!) { startCompanyReview(id: $id) { status } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(
        started["data"]["startCompanyReview"]["status"], "UNDER_REVIEW",
        "{started}"
    );
    let seen = p.graphql(Some(&b), CLAIMS, ids.clone()).await;
    assert_eq!(
        seen["data"]["reviewClaims"][0]["byName"], "김하나 (AI산업과)",
        "{seen}"
    );

    // B can neither decide nor pick it up quietly; the refusal names A.
    let refused = p.graphql(Some(&b), APPROVE, json!({ "id": company })).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    assert_eq!(refusal_field(&refused), Some("reviewClaim"));
    assert!(refused.to_string().contains("김하나"), "{refused}");
    let quietly = p
        .graphql(Some(&b), PICK_UP, json!({ "id": company, "take": false }))
        .await;
    assert_eq!(error_code(&quietly), Some("CONFLICT"), "{quietly}");

    // Taken over explicitly: now A is the one refused, and B decides.
    let taken = p
        .graphql(Some(&b), PICK_UP, json!({ "id": company, "take": true }))
        .await;
    assert_eq!(
        taken["data"]["pickUpForReview"]["byName"], "박두리 (AI산업과)",
        "{taken}"
    );
    let a_refused = p.graphql(Some(&a), APPROVE, json!({ "id": company })).await;
    assert_eq!(error_code(&a_refused), Some("CONFLICT"), "{a_refused}");
    let changes = p
        .graphql(
            Some(&b),
            "mutation($id: ID!) { requestCompanyChanges(id: $id, note: \"사업장 주소를 적어 주세요\") { status } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(
        changes["data"]["requestCompanyChanges"]["status"], "CHANGES_REQUESTED",
        "{changes}"
    );
    // The firm resubmits while B still holds its company: firms are never held up.
    let resubmitted = p
        .graphql(
            Some(&firm),
            "mutation($id: ID!) { submitCompany(id: $id) { status } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(
        resubmitted["data"]["submitCompany"]["status"], "SUBMITTED",
        "{resubmitted}"
    );
    let again = p
        .graphql(
            Some(&b),
            "mutation($id: ID!) { startCompanyReview(id: $id) { status } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(
        again["data"]["startCompanyReview"]["status"], "UNDER_REVIEW",
        "{again}"
    );
    let approved = p.graphql(Some(&b), APPROVE, json!({ "id": company })).await;
    assert_eq!(
        approved["data"]["approveCompany"]["status"], "APPROVED",
        "{approved}"
    );

    // Deciding let it go; letting go by hand counts only for the holder.
    let none = p.graphql(Some(&a), CLAIMS, ids.clone()).await;
    assert_eq!(none["data"]["reviewClaims"], json!([]), "{none}");
    let release = "mutation($id: ID!) { releaseReview(subjectId: $id) }";
    let picked = p.graphql(Some(&b), PICK_UP, json!({ "id": company })).await;
    assert!(picked["data"]["pickUpForReview"].is_object(), "{picked}");
    let by_a = p.graphql(Some(&a), release, json!({ "id": company })).await;
    assert_eq!(by_a["data"]["releaseReview"], false, "{by_a}");
    let by_b = p.graphql(Some(&b), release, json!({ "id": company })).await;
    assert_eq!(by_b["data"]["releaseReview"], true, "{by_b}");
    let none = p.graphql(Some(&a), CLAIMS, ids.clone()).await;
    assert_eq!(none["data"]["reviewClaims"], json!([]), "{none}");

    // Firms, operators and visitors cannot claim or look.
    let pilot_firm = p.graphql(Some(&firm), CLAIMS, ids.clone()).await;
    assert_eq!(error_code(&pilot_firm), Some("FORBIDDEN"), "{pilot_firm}");
    let firm_pick = p
        .graphql(Some(&firm), PICK_UP, json!({ "id": company }))
        .await;
    assert_eq!(error_code(&firm_pick), Some("FORBIDDEN"), "{firm_pick}");
    let operator = p.token(Role::Operator);
    let operator_pick = p
        .graphql(Some(&operator), PICK_UP, json!({ "id": company }))
        .await;
    assert_eq!(
        error_code(&operator_pick),
        Some("FORBIDDEN"),
        "{operator_pick}"
    );
    let anonymous = p.graphql(None, PICK_UP, json!({ "id": company })).await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
    p.stop().await;
}
