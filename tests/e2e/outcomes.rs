//! The outcome report journey through GraphQL only: a firm leading an active pilot files a
//! quarterly report, a manager returns it with a note, the firm resubmits and the manager
//! verifies it; with who may see and do what on the way.

use axv_auth::Role;
use axv_e2e::{TestPlatform, business_number, error_code};
use axv_platform::calendar::today_kst;
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{Value, json};

use super::{act, create_company, data};

const CREATE: &str = "mutation($input: OutcomeReportInput!) { createOutcomeReport(input: $input) { id status version periodStart periodEnd modelsDeveloped revenueKrw investmentKrw computeConsumed pilot { id } company { id } } }";
const REPORT: &str =
    "query($id: ID!) { outcomeReport(id: $id) { id status version history { from to note } } }";
const PILOT_REPORTS: &str =
    "query($id: ID!) { pilot(id: $id) { id outcomeReports { id status version } } }";

fn id_of(value: &Value, what: &str) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
        .to_owned()
}

/// The calendar quarter (Asia/Seoul) that `today` falls in.
pub(crate) fn quarter_of(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first_month = (today.month0() / 3) * 3 + 1;
    let start = NaiveDate::from_ymd_opt(today.year(), first_month, 1).unwrap();
    let next = if first_month == 10 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(today.year(), first_month + 3, 1).unwrap()
    };
    (start, next - Duration::days(1))
}

const STATS: &str = "query($filter: StatsFilter) { programStats(filter: $filter) { release { number } outcomesSuppressed outcomes { modelsDeveloped revenueKrw } bySector { sector companies suppressed outcomes { revenueKrw } } byDomain { domain pilots suppressed } timeSeries(bucket: \"QUARTER\") { periodStart outcomes { revenueKrw } } } }";
const MANAGER_STATS: &str = "query($filter: StatsFilter) { programStats(filter: $filter) { outcomesSuppressed outcomes { modelsDeveloped revenueKrw } byCompany { companyId outcomes { revenueKrw } } } }";
const DUE: &str = "query($overdueOnly: Boolean!) { dueOutcomeReports(overdueOnly: $overdueOnly) { pilotId periodStart periodEnd overdue } }";

pub(crate) const RELEASE_FIELDS: &str = "number date publishedAt note scheduled preview heldCells { figure sector domain quarterStart }";

/// Publishes the next release of the public figures as `manager`.
pub(crate) async fn publish_release(p: &TestPlatform, manager: &str, note: &str) -> Value {
    let response = p
        .graphql(
            Some(manager),
            &format!(
                "mutation($note: String!) {{ publishRelease(note: $note) {{ {RELEASE_FIELDS} }} }}"
            ),
            json!({ "note": note }),
        )
        .await;
    data(&response, "publishRelease").clone()
}

async fn stats(p: &TestPlatform, token: Option<&str>, range: (NaiveDate, NaiveDate)) -> Value {
    stats_query(p, token, STATS, range).await
}

/// With `byCompany`, which only managers may ask for.
async fn manager_stats(p: &TestPlatform, token: &str, range: (NaiveDate, NaiveDate)) -> Value {
    stats_query(p, Some(token), MANAGER_STATS, range).await
}

async fn stats_query(
    p: &TestPlatform,
    token: Option<&str>,
    query: &str,
    (from, to): (NaiveDate, NaiveDate),
) -> Value {
    let response = p
        .graphql(
            token,
            query,
            json!({ "filter": { "from": from.to_string(), "to": to.to_string() } }),
        )
        .await;
    data(&response, "programStats").clone()
}

async fn export(
    p: &TestPlatform,
    token: Option<&str>,
    (from, to): (NaiveDate, NaiveDate),
) -> String {
    let mut request = p.http.get(format!(
        "{}/export/stats.csv?from={from}&to={to}",
        p.base_url()
    ));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = response.bytes().await.unwrap();
    // The byte order mark Excel needs to read UTF-8 (Korean names) rather than CP949.
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or_else(|| panic!("no UTF-8 BOM: {bytes:?}"));
    String::from_utf8(body.to_vec()).unwrap()
}

/// The pilot's due periods as (start, overdue) once its schedule has arrived (when `arrived`
/// is true, waits up to 10 s for the event to be applied).
async fn due_periods(
    p: &TestPlatform,
    token: &str,
    pilot: &str,
    arrived: bool,
) -> Vec<(String, bool)> {
    for _ in 0..100 {
        let response = p
            .graphql(Some(token), DUE, json!({ "overdueOnly": false }))
            .await;
        let due: Vec<(String, bool)> = data(&response, "dueOutcomeReports")
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["pilotId"] == pilot)
            .map(|d| {
                (
                    d["periodStart"].as_str().unwrap().to_owned(),
                    d["overdue"].as_bool().unwrap(),
                )
            })
            .collect();
        if !arrived || !due.is_empty() {
            return due;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the pilot's schedule never arrived");
}

/// A firm with an approved company leading an ACTIVE healthcare pilot that began 30 days ago.
pub(crate) async fn active_pilot(
    p: &TestPlatform,
    manager: &str,
    email: &str,
    seed: u32,
    today: NaiveDate,
) -> (String, String, String) {
    let firm = p.sign_up(email).await;
    let company = create_company(p, &firm, &business_number(seed), "광주성과").await;
    act(p, &firm, "submitCompany", &company, None).await;
    act(p, manager, "startCompanyReview", &company, None).await;
    let approved = act(p, manager, "approveCompany", &company, None).await;
    assert_eq!(data(&approved, "approveCompany")["status"], "APPROVED");
    let registered = p
        .graphql(
            Some(&firm),
            "mutation($input: PilotInput!) { registerPilot(input: $input) { id status } }",
            json!({ "input": {
                "title": "광주 AI 헬스케어 실증",
                "domain": "HEALTHCARE",
                "leadCompanyId": company,
                "site": "광주 첨단의료단지",
                // Started long enough ago to have a whole quarter behind it to report on.
                "startsOn": (today - Duration::days(200)).to_string(),
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
    let approved = act(p, manager, "approvePilot", &pilot, None).await;
    assert_eq!(data(&approved, "approvePilot")["status"], "APPROVED");
    let started = act(p, &firm, "startPilot", &pilot, None).await;
    assert_eq!(data(&started, "startPilot")["status"], "ACTIVE");
    (firm, company, pilot)
}

/// A DRAFT report for `period` with 4 models developed and `revenue`; returns its id.
pub(crate) async fn file_report(
    p: &TestPlatform,
    firm: &str,
    pilot: &str,
    (start, end): (NaiveDate, NaiveDate),
    revenue: i64,
) -> String {
    let created = p
        .graphql(
            Some(firm),
            CREATE,
            json!({ "input": {
                "pilotId": pilot,
                "periodStart": start.to_string(),
                "periodEnd": end.to_string(),
                "modelsDeveloped": 4,
                "modelsImproved": 0,
                "modelsCommercialized": 1,
                "revenueKrw": revenue,
                "patentsFiled": 0,
                "patentsRegistered": 0,
                "papers": 2,
                "newHires": 1,
                "investmentKrw": 0,
            } }),
        )
        .await;
    id_of(&data(&created, "createOutcomeReport")["id"], "report id")
}

async fn outcomes_journey(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let today = today_kst();

    // A firm with an approved company and an active pilot; another firm with nothing to do
    // with it; two peers in the same industry and domain whose verified reports make the
    // quarter's cell two companies strong.
    let (firm, company, pilot) = active_pilot(p, &manager, "lead@outcomes.kr", 4101, today).await;
    let other = p.sign_up("other@outcomes.kr").await;
    // Reports are filed for a quarter that has ended: the last one.
    let (start, end) = quarter_of(quarter_of(today).0 - Duration::days(1));
    for (n, email) in ["peer1@outcomes.kr", "peer2@outcomes.kr"]
        .iter()
        .enumerate()
    {
        let (peer, _, peer_pilot) = active_pilot(p, &manager, email, 4102 + n as u32, today).await;
        let id = file_report(p, &peer, &peer_pilot, (start, end), 100_000_000).await;
        act(p, &peer, "submitOutcomeReport", &id, None).await;
        let verified = act(p, &manager, "verifyOutcomeReport", &id, None).await;
        assert_eq!(data(&verified, "verifyOutcomeReport")["status"], "VERIFIED");
    }
    let dashboard = p.token(Role::Dashboard);
    let stats_range = (start, end);

    // The public figures come from releases: none yet, so nothing; the manager publishes one.
    let unreleased = stats(p, None, stats_range).await;
    assert_eq!(unreleased["outcomes"]["revenueKrw"], 0, "{unreleased}");
    assert!(unreleased["release"].is_null(), "{unreleased}");
    let first = publish_release(p, &manager, "2분기 조기 공표").await;
    assert_eq!(first["number"], 1, "{first}");

    // Two companies are too few to publish: the public sees the cell suppressed and totals
    // without it; the manager sees everything.
    let before = manager_stats(p, &manager, stats_range).await;
    assert_eq!(
        before["outcomes"]["revenueKrw"], 200_000_000_i64,
        "{before}"
    );
    assert_eq!(before["byCompany"].as_array().unwrap().len(), 2, "{before}");
    assert_eq!(before["outcomesSuppressed"], false);
    for token in [Some(dashboard.as_str()), None] {
        let public = stats(p, token, stats_range).await;
        assert_eq!(public["outcomes"]["revenueKrw"], 0, "{public}");
        assert_eq!(public["outcomesSuppressed"], true, "{public}");
        let sector = &public["bySector"][0];
        assert_eq!(sector["sector"], "ARTIFICIAL_INTELLIGENCE");
        assert_eq!(sector["suppressed"], true);
        assert!(sector["outcomes"].is_null(), "{public}");
        assert_eq!(sector["companies"], 2);
        // Asking for per-company figures is refused without losing the rest of the answer.
        let refused = p
            .graphql(
                token,
                "{ programStats { companies byCompany { companyId } } }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
        assert!(
            refused["data"]["programStats"]["companies"]
                .as_i64()
                .unwrap()
                >= 3,
            "{refused}"
        );
    }

    // The last quarter is overdue from the active pilot (the schedule arrives by event).
    let due = due_periods(p, &firm, &pilot, true).await;
    assert!(due.contains(&(start.to_string(), true)), "{due:?}");
    let others_due = p
        .graphql(Some(&other), DUE, json!({ "overdueOnly": false }))
        .await;
    assert_eq!(
        data(&others_due, "dueOutcomeReports"),
        &json!([]),
        "{others_due}"
    );
    let refused = p
        .graphql(Some(&dashboard), DUE, json!({ "overdueOnly": false }))
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");

    // The running quarter's report can be prepared, not submitted before the quarter ends.
    let (running, running_end) = quarter_of(today);
    let early = file_report(p, &firm, &pilot, (running, running_end), 1).await;
    let refused = act(p, &firm, "submitOutcomeReport", &early, None).await;
    assert_eq!(
        error_code(&refused),
        Some("FAILED_PRECONDITION"),
        "{refused}"
    );
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    let from = (running_end + Duration::days(1)).to_string();
    assert!(message.contains(&from), "{refused}");

    // A quarterly report for the last quarter.
    let report_input = json!({
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
    });
    let created = p
        .graphql(Some(&firm), CREATE, json!({ "input": report_input }))
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
    // Filed: no longer due.
    let due = due_periods(p, &firm, &pilot, false).await;
    assert!(!due.iter().any(|(s, _)| s == &start.to_string()), "{due:?}");

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
    // The firm corrects the returned report before resubmitting; nobody else can.
    let mut fixed = report_input.clone();
    fixed["investmentKrw"] = json!(350_000_000_i64);
    fixed["evidence"] = json!("매출 증빙: 세금계산서 12건");
    let corrected = json!({ "id": id, "input": fixed });
    const UPDATE: &str = "mutation($id: ID!, $input: OutcomeReportInput!) { updateOutcomeReport(id: $id, input: $input) { id status investmentKrw evidence } }";
    let edited = p.graphql(Some(&firm), UPDATE, corrected.clone()).await;
    let edited = data(&edited, "updateOutcomeReport");
    assert_eq!(edited["status"], "RETURNED");
    assert_eq!(edited["investmentKrw"], 350_000_000_i64);
    assert_eq!(edited["evidence"], "매출 증빙: 세금계산서 12건");
    let stranger = p.graphql(Some(&other), UPDATE, corrected.clone()).await;
    assert_eq!(error_code(&stranger), Some("NOT_FOUND"), "{stranger}");
    let meanwhile = manager_stats(p, &manager, stats_range).await;
    assert_eq!(
        meanwhile["outcomes"]["revenueKrw"], 200_000_000_i64,
        "{meanwhile}"
    );
    let resubmitted = act(p, &firm, "submitOutcomeReport", &id, None).await;
    assert_eq!(
        data(&resubmitted, "submitOutcomeReport")["status"],
        "SUBMITTED"
    );
    let submitted_edit = p.graphql(Some(&firm), UPDATE, corrected).await;
    assert_eq!(
        error_code(&submitted_edit),
        Some("FAILED_PRECONDITION"),
        "{submitted_edit}"
    );
    let verified = act(p, &manager, "verifyOutcomeReport", &id, None).await;
    assert_eq!(data(&verified, "verifyOutcomeReport")["status"], "VERIFIED");
    // The public answer stays the release's until the next one.
    let unchanged = stats(p, None, stats_range).await;
    assert_eq!(unchanged["outcomesSuppressed"], true, "{unchanged}");
    assert_eq!(unchanged["release"]["number"], 1, "{unchanged}");
    let second = publish_release(p, &manager, "검증 반영").await;
    assert_eq!(second["heldCells"], json!([]), "{second}");

    // Verified, the report counts: the manager sees it, and the cell now has three companies,
    // so once released dashboards and the public see it too (a suppressed cell that published
    // nothing may publish the sum of three).
    let after = manager_stats(p, &manager, stats_range).await;
    assert_eq!(after["outcomes"]["revenueKrw"], 320_000_000_i64, "{after}");
    assert_eq!(after["outcomes"]["modelsDeveloped"], 2 + 2 * 4, "{after}");
    assert_eq!(after["byCompany"].as_array().unwrap().len(), 3, "{after}");
    for token in [Some(dashboard.as_str()), None] {
        let public = stats(p, token, stats_range).await;
        assert_eq!(
            public["outcomes"]["revenueKrw"], 320_000_000_i64,
            "{public}"
        );
        assert_eq!(public["outcomesSuppressed"], false, "{public}");
        let sector = &public["bySector"][0];
        assert_eq!(sector["suppressed"], false, "{public}");
        assert_eq!(sector["companies"], 3);
        assert_eq!(sector["outcomes"]["revenueKrw"], 320_000_000_i64);
        let domain = &public["byDomain"][0];
        assert_eq!(domain["domain"], "HEALTHCARE");
        assert_eq!(domain["pilots"], 3);
        let series = public["timeSeries"].as_array().unwrap();
        assert_eq!(series.len(), 1, "{public}");
        assert_eq!(series[0]["periodStart"], start.to_string().as_str());
    }

    // The same figures as CSV: the public gets no per-company rows, the manager does. The
    // public file names its release.
    let csv = export(p, None, stats_range).await;
    let released_on = second["date"].as_str().unwrap();
    assert!(
        csv.contains(&format!("\nrelease,2,{released_on},")),
        "{csv}"
    );
    assert!(
        csv.contains("sector,ARTIFICIAL_INTELLIGENCE,,3,3,false,10,1,2,320000000,"),
        "{csv}"
    );
    assert!(!csv.contains("\ncompany,"), "{csv}");
    let csv = export(p, Some(&manager), stats_range).await;
    assert_eq!(csv.matches("\ncompany,").count(), 3, "{csv}");
    let named = p
        .graphql(
            Some(&manager),
            "query($id: ID!) { company(id: $id) { nameKo } }",
            json!({ "id": company }),
        )
        .await;
    let name = data(&named, "company")["nameKo"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        csv.contains(&format!("\ncompany,{company},{name},")),
        "{csv}"
    );

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

    // The pilot shows its verified report, and the running quarter's draft.
    let on_pilot = p
        .graphql(Some(&firm), PILOT_REPORTS, json!({ "id": pilot }))
        .await;
    let reports = data(&on_pilot, "pilot")["outcomeReports"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(reports.len(), 2, "{on_pilot}");
    assert_eq!(reports[0]["status"], "VERIFIED");
    assert_eq!(reports[0]["version"], 1);
    assert_eq!(reports[1]["status"], "DRAFT");

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

/// `axv up --demo`: the anonymous figures for 2021–2024 are the city's published ones, and a
/// manager can drill down by industry, domain and quarter.
#[tokio::test]
async fn the_demo_reproduces_the_published_figures() {
    let p = TestPlatform::start_embedded_demo().await;
    // `axv up --demo` has its calendar publish the release at start; the test platform runs
    // no calendar, so a manager publishes it.
    let manager = p.token(Role::ProgramManager);
    let release = publish_release(&p, &manager, "데모 공표").await;
    let published = axv::demo::outcomes::PUBLISHED_2021_2024;
    let query = "query($filter: StatsFilter) { programStats(filter: $filter) { release { number } outcomesSuppressed outcomes { modelsDeveloped modelsImproved modelsCommercialized revenueKrw patentsFiled patentsRegistered papers newHires } bySector { sector suppressed outcomes { revenueKrw } } byDomain { domain suppressed outcomes { revenueKrw } } timeSeries(bucket: \"QUARTER\") { periodStart outcomes { revenueKrw } } } }";
    let period = json!({ "filter": { "from": "2021-01-01", "to": "2024-12-31" } });

    let anonymous = p.graphql(None, query, period.clone()).await;
    let stats = data(&anonymous, "programStats");
    let totals = &stats["outcomes"];
    let sum = |a: &str, b: &str| totals[a].as_i64().unwrap() + totals[b].as_i64().unwrap();
    assert_eq!(sum("modelsDeveloped", "modelsImproved"), published.models);
    assert_eq!(totals["modelsCommercialized"], published.commercialized);
    assert_eq!(totals["revenueKrw"], published.revenue_krw);
    assert_eq!(sum("patentsFiled", "patentsRegistered"), published.patents);
    assert_eq!(totals["papers"], published.papers);
    assert_eq!(totals["newHires"], published.new_hires);
    assert_eq!(stats["outcomesSuppressed"], false, "{stats}");
    assert_eq!(stats["release"]["number"], release["number"], "{stats}");
    assert_eq!(
        release["heldCells"],
        json!([]),
        "the first release holds nothing back"
    );

    // Drilling down as a manager: every industry and domain, every quarter, adding up.
    let managed = p.graphql(Some(&manager), query, period).await;
    let stats = data(&managed, "programStats");
    assert_eq!(stats["outcomes"], *totals);
    assert!(
        stats["release"].is_null(),
        "managers see live figures: {stats}"
    );
    let revenue_of = |groups: &Value| -> i64 {
        groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["outcomes"]["revenueKrw"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(stats["bySector"].as_array().unwrap().len(), 6, "{stats}");
    assert_eq!(stats["byDomain"].as_array().unwrap().len(), 6, "{stats}");
    assert_eq!(revenue_of(&stats["bySector"]), published.revenue_krw);
    assert_eq!(revenue_of(&stats["byDomain"]), published.revenue_krw);
    let quarters = stats["timeSeries"].as_array().unwrap();
    assert_eq!(quarters.len(), 16);
    assert_eq!(quarters[0]["periodStart"], "2021-01-01");
    assert_eq!(quarters[15]["periodStart"], "2024-10-01");
    assert_eq!(revenue_of(&stats["timeSeries"]), published.revenue_krw);

    // One industry and domain in one quarter: the drill-down's leaf.
    let leaf = p
        .graphql(
            Some(&manager),
            query,
            json!({ "filter": { "from": "2023-04-01", "to": "2023-06-30", "sectors": ["HEALTHCARE"], "domains": ["HEALTHCARE"] } }),
        )
        .await;
    let leaf = data(&leaf, "programStats");
    assert_eq!(leaf["bySector"].as_array().unwrap().len(), 1, "{leaf}");
    assert_eq!(leaf["timeSeries"].as_array().unwrap().len(), 1, "{leaf}");
    assert!(leaf["outcomes"]["revenueKrw"].as_i64().unwrap() > 0);
    p.stop().await;
}

/// Cached figures follow the events: a company approved through onboarding (which the gateway
/// does not invalidate for by itself) shows in a manager's live `programStats` as soon as its
/// event arrives, long before the cache entry's minute is up.
async fn cache_follows_events(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let query = "{ programStats { approvedCompanies } }";
    let approved = |response: Value| data(&response, "programStats")["approvedCompanies"].clone();
    assert_eq!(
        approved(p.graphql(Some(&manager), query, json!({})).await),
        0
    );
    // Served from the cache now.
    assert_eq!(
        approved(p.graphql(Some(&manager), query, json!({})).await),
        0
    );

    let firm = p.sign_up("cache@outcomes.kr").await;
    let company = create_company(p, &firm, &business_number(4201), "광주캐시").await;
    act(p, &firm, "submitCompany", &company, None).await;
    act(p, &manager, "startCompanyReview", &company, None).await;
    act(p, &manager, "approveCompany", &company, None).await;
    let mut followed = false;
    for _ in 0..100 {
        if approved(p.graphql(Some(&manager), query, json!({})).await) == 1 {
            followed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        followed,
        "programStats still served the figures from before the approval"
    );
    // The public answer is the release's: nothing until one is published, then the company.
    assert_eq!(approved(p.graphql(None, query, json!({})).await), 0);
    publish_release(p, &manager, "승인 반영").await;
    assert_eq!(approved(p.graphql(None, query, json!({})).await), 1);
}

#[tokio::test]
async fn cache_is_invalidated_by_events() {
    let p = TestPlatform::start().await;
    cache_follows_events(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn cache_is_invalidated_by_events_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    cache_follows_events(&p).await;
    p.stop().await;
}

/// What a suspension freezes, decided per operation: members cannot be added, and a firm
/// changes nothing on its pilots (milestones, evidence); what happened before the suspension
/// is still reported (outcome reports for ended quarters stay possible); reinstatement lifts
/// it all.
#[tokio::test]
async fn a_suspension_freezes_what_it_should() {
    let p = TestPlatform::start().await;
    let manager = p.token(Role::ProgramManager);
    let today = today_kst();
    let (firm, company, pilot) =
        active_pilot(&p, &manager, "frozen@outcomes.kr", 4301, today).await;
    p.sign_up("colleague@outcomes.kr").await;
    const MILESTONE: &str = "mutation($p: ID!, $i: MilestoneInput!) { addMilestone(pilotId: $p, input: $i) { milestones { id } } }";
    let milestone = |title: &str| json!({ "p": pilot, "i": { "title": title, "dueOn": (today + Duration::days(60)).to_string() } });
    let added = p
        .graphql(Some(&firm), MILESTONE, milestone("착수 보고"))
        .await;
    let milestone_id = data(&added, "addMilestone")["milestones"][0]["id"].clone();

    let suspended = p
        .graphql(
            Some(&manager),
            "mutation($id: ID!) { suspendCompany(id: $id, note: \"감사 중\") { status } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(data(&suspended, "suspendCompany")["status"], "SUSPENDED");

    let member = p
        .graphql(
            Some(&firm),
            "mutation($c: ID!) { addCompanyMember(companyId: $c, email: \"colleague@outcomes.kr\") { id } }",
            json!({ "c": company }),
        )
        .await;
    assert_eq!(error_code(&member), Some("FAILED_PRECONDITION"), "{member}");
    let more = p
        .graphql(Some(&firm), MILESTONE, milestone("중간 보고"))
        .await;
    assert_eq!(error_code(&more), Some("FAILED_PRECONDITION"), "{more}");
    let evidence = p
        .graphql(
            Some(&firm),
            "mutation($p: ID!, $m: ID!) { completeMilestone(pilotId: $p, milestoneId: $m, evidence: \"보고서\") { id } }",
            json!({ "p": pilot, "m": milestone_id }),
        )
        .await;
    assert_eq!(
        error_code(&evidence),
        Some("FAILED_PRECONDITION"),
        "{evidence}"
    );
    // Reporting on a quarter that has ended still works: the programme wants its outcomes.
    let last = quarter_of(quarter_of(today).0 - Duration::days(1));
    let report = file_report(&p, &firm, &pilot, last, 1_000).await;
    let submitted = act(&p, &firm, "submitOutcomeReport", &report, None).await;
    assert_eq!(
        data(&submitted, "submitOutcomeReport")["status"],
        "SUBMITTED"
    );

    let reinstated = p
        .graphql(
            Some(&manager),
            "mutation($id: ID!) { reinstateCompany(id: $id) { status } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(data(&reinstated, "reinstateCompany")["status"], "APPROVED");
    let again = p
        .graphql(Some(&firm), MILESTONE, milestone("중간 보고"))
        .await;
    assert!(again["errors"].is_null(), "{again}");
    p.stop().await;
}
