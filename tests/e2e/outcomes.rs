//! The outcome report journey through GraphQL only: a firm leading an active pilot files a
//! quarterly report, a manager returns it with a note, the firm resubmits and the manager
//! verifies it; with who may see and do what on the way.

use axv_auth::Role;
use axv_e2e::{TestPlatform, business_number, error_code};
use chrono::{Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{Value, json};

use super::{act, create_company};

const CREATE: &str = "mutation($input: OutcomeReportInput!) { createOutcomeReport(input: $input) { id status version periodStart periodEnd modelsDeveloped revenueKrw investmentKrw computeConsumed pilot { id } company { id } } }";
const REPORT: &str =
    "query($id: ID!) { outcomeReport(id: $id) { id status version history { from to note } } }";
const PILOT_REPORTS: &str =
    "query($id: ID!) { pilot(id: $id) { id outcomeReports { id status version } } }";

fn data<'a>(response: &'a Value, field: &str) -> &'a Value {
    let value = &response["data"][field];
    assert!(
        response["errors"].is_null() && !value.is_null(),
        "{field}: {response}"
    );
    value
}

fn id_of(value: &Value, what: &str) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
        .to_owned()
}

/// The calendar quarter (Asia/Seoul) that `today` falls in.
fn quarter_of(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first_month = (today.month0() / 3) * 3 + 1;
    let start = NaiveDate::from_ymd_opt(today.year(), first_month, 1).unwrap();
    let next = if first_month == 10 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(today.year(), first_month + 3, 1).unwrap()
    };
    (start, next - Duration::days(1))
}

async fn outcomes_journey(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let kst = FixedOffset::east_opt(9 * 3600).unwrap();
    let today = Utc::now().with_timezone(&kst).date_naive();

    // A firm with an approved company; another firm with nothing to do with it.
    let firm = p.sign_up("lead@outcomes.kr").await;
    let other = p.sign_up("other@outcomes.kr").await;
    let company = create_company(p, &firm, &business_number(4101), "광주성과").await;
    act(p, &firm, "submitCompany", &company, None).await;
    act(p, &manager, "startCompanyReview", &company, None).await;
    let approved = act(p, &manager, "approveCompany", &company, None).await;
    assert_eq!(data(&approved, "approveCompany")["status"], "APPROVED");

    // The firm registers a pilot, a manager approves it, the firm starts it.
    let registered = p
        .graphql(
            Some(&firm),
            "mutation($input: PilotInput!) { registerPilot(input: $input) { id status } }",
            json!({ "input": {
                "title": "광주 AI 헬스케어 실증",
                "domain": "HEALTHCARE",
                "leadCompanyId": company,
                "site": "광주 첨단의료단지",
                "startsOn": (today - Duration::days(30)).to_string(),
                "endsOn": (today + Duration::days(365)).to_string(),
                "budgetNational": 500_000_000_i64,
                "budgetCity": 100_000_000_i64,
                "budgetPrivate": 50_000_000_i64,
                "regulatorySandbox": false,
            } }),
        )
        .await;
    let pilot = id_of(&data(&registered, "registerPilot")["id"], "pilot id");
    act(p, &firm, "submitPilot", &pilot, None).await;
    let approved = act(p, &manager, "approvePilot", &pilot, None).await;
    assert_eq!(data(&approved, "approvePilot")["status"], "APPROVED");
    let started = act(p, &firm, "startPilot", &pilot, None).await;
    assert_eq!(data(&started, "startPilot")["status"], "ACTIVE");

    // A quarterly report for the current quarter.
    let (start, end) = quarter_of(today);
    let created = p
        .graphql(
            Some(&firm),
            CREATE,
            json!({ "input": {
                "pilotId": pilot,
                "periodStart": start.to_string(),
                "periodEnd": end.to_string(),
                "modelsDeveloped": 2,
                "modelsImproved": 1,
                "modelsCommercialized": 0,
                "revenueKrw": 120_000_000_i64,
                "patentsFiled": 1,
                "patentsRegistered": 0,
                "papers": 1,
                "newHires": 3,
                "investmentKrw": 300_000_000_i64,
            } }),
        )
        .await;
    let report = data(&created, "createOutcomeReport").clone();
    assert_eq!(report["status"], "DRAFT");
    assert_eq!(report["version"], 1);
    assert_eq!(report["periodStart"], start.to_string().as_str());
    assert_eq!(report["periodEnd"], end.to_string().as_str());
    assert_eq!(report["modelsDeveloped"], 2);
    assert_eq!(report["revenueKrw"], 120_000_000_i64);
    assert_eq!(report["pilot"]["id"], pilot.as_str());
    assert_eq!(report["company"]["id"], company.as_str());
    let id = id_of(&report["id"], "report id");

    let submitted = act(p, &firm, "submitOutcomeReport", &id, None).await;
    assert_eq!(
        data(&submitted, "submitOutcomeReport")["status"],
        "SUBMITTED"
    );

    // A firm may not verify, even its own report.
    let self_verified = act(p, &firm, "verifyOutcomeReport", &id, None).await;
    assert_eq!(
        error_code(&self_verified),
        Some("FORBIDDEN"),
        "{self_verified}"
    );

    // The manager returns it with a note; the firm resubmits; the manager verifies.
    let returned = act(
        p,
        &manager,
        "returnOutcomeReport",
        &id,
        Some("매출 증빙을 첨부해 주세요"),
    )
    .await;
    assert_eq!(data(&returned, "returnOutcomeReport")["status"], "RETURNED");
    let resubmitted = act(p, &firm, "submitOutcomeReport", &id, None).await;
    assert_eq!(
        data(&resubmitted, "submitOutcomeReport")["status"],
        "SUBMITTED"
    );
    let verified = act(p, &manager, "verifyOutcomeReport", &id, None).await;
    assert_eq!(data(&verified, "verifyOutcomeReport")["status"], "VERIFIED");

    let seen = p.graphql(Some(&firm), REPORT, json!({ "id": id })).await;
    let seen = data(&seen, "outcomeReport");
    assert_eq!(seen["status"], "VERIFIED");
    let history = seen["history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|h| h["to"] == "RETURNED" && h["note"] == "매출 증빙을 첨부해 주세요"),
        "{seen}"
    );

    // The pilot shows its verified report.
    let on_pilot = p
        .graphql(Some(&firm), PILOT_REPORTS, json!({ "id": pilot }))
        .await;
    let reports = data(&on_pilot, "pilot")["outcomeReports"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(reports.len(), 1, "{on_pilot}");
    assert_eq!(reports[0]["status"], "VERIFIED");
    assert_eq!(reports[0]["version"], 1);

    // Another firm does not see it.
    let hidden = p.graphql(Some(&other), REPORT, json!({ "id": id })).await;
    assert_eq!(error_code(&hidden), Some("NOT_FOUND"), "{hidden}");
}

#[tokio::test]
async fn outcome_report_journey() {
    let p = TestPlatform::start().await;
    outcomes_journey(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn outcome_report_journey_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    outcomes_journey(&p).await;
    p.stop().await;
}
