//! Releases of the public figures, end to end: the temporal differencing attack recovers
//! nothing, on the embedded default and on Postgres with Redis.

use axv_auth::Role;
use axv_e2e::TestPlatform;
use axv_platform::calendar::today_kst;
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::json;

use super::{
    act, data,
    outcomes::{RELEASE_FIELDS, active_pilot, file_report, publish_release},
};

/// The last quarter that has ended, as (first day, last day).
fn last_quarter(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start_month = (today.month0() / 3) * 3 + 1;
    let this_quarter = NaiveDate::from_ymd_opt(today.year(), start_month, 1).unwrap();
    let end = this_quarter - Duration::days(1);
    let start = NaiveDate::from_ymd_opt(end.year(), (end.month0() / 3) * 3 + 1, 1).unwrap();
    (start, end)
}

/// What the anonymous caller of the issue asks: one industry, one domain, one quarter.
async fn public_revenue(p: &TestPlatform, (from, to): (NaiveDate, NaiveDate)) -> (i64, i64) {
    let response = p
        .graphql(
            None,
            &format!("query($f: StatsFilter) {{ programStats(filter: $f) {{ outcomes {{ revenueKrw }} release {{ {RELEASE_FIELDS} }} }} }}"),
            json!({ "f": {
                "from": from.to_string(),
                "to": to.to_string(),
                "sectors": ["ARTIFICIAL_INTELLIGENCE"],
                "domains": ["HEALTHCARE"],
            } }),
        )
        .await;
    let stats = data(&response, "programStats");
    (
        stats["outcomes"]["revenueKrw"].as_i64().unwrap(),
        stats["release"]["number"].as_i64().unwrap_or(0),
    )
}

/// A firm in the cell (AI industry, healthcare domain) with its last-quarter report verified.
async fn verified_firm(
    p: &TestPlatform,
    manager: &str,
    n: u32,
    quarter: (NaiveDate, NaiveDate),
    revenue: i64,
    today: NaiveDate,
) {
    let (firm, _, pilot) =
        active_pilot(p, manager, &format!("firm{n}@release.kr"), 4300 + n, today).await;
    let id = file_report(p, &firm, &pilot, quarter, revenue).await;
    act(p, &firm, "submitOutcomeReport", &id, None).await;
    let verified = act(p, manager, "verifyOutcomeReport", &id, None).await;
    assert_eq!(data(&verified, "verifyOutcomeReport")["status"], "VERIFIED");
}

async fn differencing_recovers_nothing(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let today = today_kst();
    let quarter = last_quarter(today);
    for (n, revenue) in [(1, 500_000_000), (2, 600_000_000), (3, 610_000_000)] {
        verified_firm(p, &manager, n, quarter, revenue, today).await;
    }
    publish_release(p, &manager, "첫 공표").await;
    let (published, release) = public_revenue(p, quarter).await;
    assert_eq!(published, 1_710_000_000);
    assert_eq!(release, 1);

    // 1. A new firm's report in the cell is verified: the public answer does not move.
    verified_firm(p, &manager, 4, quarter, 1_234_567_890, today).await;
    assert_eq!(public_revenue(p, quarter).await, (1_710_000_000, 1));
    // The staff's live figures have it at once.
    let live = p
        .graphql(
            Some(&manager),
            "{ programStats { outcomes { revenueKrw } release { number } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&live, "programStats")["outcomes"]["revenueKrw"],
        2_944_567_890_i64
    );
    assert!(data(&live, "programStats")["release"].is_null());

    // 2. The next release holds the cell back (one firm) and says so, without its values;
    //    the firm's company and pilot wait in their headcount cells as well.
    let second = publish_release(p, &manager, "정기 공표 전 점검").await;
    assert_eq!(
        second["heldCells"],
        json!([
            {
                "figure": "OUTCOMES",
                "sector": "ARTIFICIAL_INTELLIGENCE",
                "domain": "HEALTHCARE",
                "quarterStart": quarter.0.to_string(),
            },
            {
                "figure": "COMPANIES",
                "sector": "ARTIFICIAL_INTELLIGENCE",
                "domain": null,
                "quarterStart": null,
            },
            {
                "figure": "PILOTS",
                "sector": "ARTIFICIAL_INTELLIGENCE",
                "domain": "HEALTHCARE",
                "quarterStart": null,
            },
        ]),
        "{second}"
    );
    assert_eq!(public_revenue(p, quarter).await, (1_710_000_000, 2));

    // 3. Two more firms' reports: the three changes travel together.
    verified_firm(p, &manager, 5, quarter, 700_000_000, today).await;
    verified_firm(p, &manager, 6, quarter, 800_000_000, today).await;
    // Dashboards learn of a release from the public event stream.
    let mut stream = p
        .http
        .get(format!("{}/events?kinds=stats.*", p.base_url()))
        .send()
        .await
        .unwrap();
    let third = publish_release(p, &manager, "세 기업 반영").await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !text.contains("event: stats.release_published") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the release's event arrives over SSE")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(stream);
    assert_eq!(third["heldCells"], json!([]), "{third}");
    assert_eq!(
        public_revenue(p, quarter).await,
        (1_710_000_000 + 1_234_567_890 + 700_000_000 + 800_000_000, 3)
    );

    // Every pair of the three releases passes the disclosure check, and the list of releases
    // is public.
    let (checked, found) = axv::check_disclosure(&p.platform, &[]).await.unwrap();
    assert_eq!(checked, [1, 2, 3]);
    assert!(found.is_empty(), "{found:?}");
    let listed = p
        .graphql(
            None,
            "{ releases(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { number note scheduled } } } }",
            json!({}),
        )
        .await;
    let releases = data(&listed, "releases");
    assert_eq!(releases["totalCount"], 3);
    assert_eq!(releases["pageInfo"]["hasNextPage"], true);
    assert_eq!(releases["edges"][0]["node"]["number"], 3);
    assert_eq!(releases["edges"][0]["node"]["note"], "세 기업 반영");
    let rest = p
        .graphql(
            None,
            "query($after: String) { releases(first: 2, after: $after) { pageInfo { hasNextPage } edges { node { number } } } }",
            json!({ "after": releases["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(data(&rest, "releases")["edges"][0]["node"]["number"], 1);
    assert_eq!(data(&rest, "releases")["pageInfo"]["hasNextPage"], false);

    // Staff preview the next release as the public would see it.
    let preview = p
        .graphql(
            Some(&manager),
            "{ programStats(view: PREVIEW) { outcomes { revenueKrw } release { number preview publishedAt heldCells { figure } } } }",
            json!({}),
        )
        .await;
    let preview = data(&preview, "programStats");
    assert_eq!(preview["release"]["number"], 4, "{preview}");
    assert_eq!(preview["release"]["preview"], true);
    assert!(preview["release"]["publishedAt"].is_null());

    // Only staff publish or see live figures; everyone else is told so.
    let firm = p.sign_up("curious@release.kr").await;
    for token in [None, Some(firm.as_str())] {
        let refused = p
            .graphql(
                token,
                "mutation { publishRelease(note: \"몰래\") { number } }",
                json!({}),
            )
            .await;
        let expected = if token.is_some() {
            "FORBIDDEN"
        } else {
            "UNAUTHENTICATED"
        };
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], expected,
            "{refused}"
        );
        let live = p
            .graphql(
                token,
                "{ programStats(view: LIVE) { companies } }",
                json!({}),
            )
            .await;
        assert_eq!(
            live["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{live}"
        );
    }

    // The public CSV carries the release in its headers and first row.
    let response = p
        .http
        .get(format!("{}/export/stats.csv", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-axv-release"], "3");
    let body = response.text().await.unwrap();
    assert!(body.contains("\nrelease,3,"), "{body}");
}

#[tokio::test]
async fn differencing_recovers_nothing_on_postgres_and_redis() {
    let p = TestPlatform::start().await;
    differencing_recovers_nothing(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn differencing_recovers_nothing_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    differencing_recovers_nothing(&p).await;
    p.stop().await;
}
