//! Notifications through GraphQL: a manager's decision reaches the firm's inbox (and its
//! e-mail), the firm marks it read, and machines have no inbox; people choose how each
//! category comes by e-mail and unsubscribe with one click.

use std::time::Duration;

use axv_auth::Role;
use axv_e2e::{TestPlatform, error_code};
use serde_json::{Value, json};

use super::{act, create_company};

const INBOX: &str = "{ inbox { unreadCount notifications { totalCount edges { node { id kind title body link readAt } } } } }";

async fn inbox_with(p: &TestPlatform, token: &str, count: i64) -> Value {
    for _ in 0..100 {
        let answer = p.graphql(Some(token), INBOX, json!({})).await;
        let shown = answer["data"]["inbox"]["notifications"]["edges"]
            .as_array()
            .map_or(0, Vec::len);
        // The counts are read before the page (a message filed in between shows in the page
        // first): wait for both.
        let counted = answer["data"]["inbox"]["notifications"]["totalCount"]
            .as_i64()
            .unwrap_or(0);
        if i64::try_from(shown).ok() >= Some(count) && counted >= count {
            return answer["data"]["inbox"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the inbox never held {count} messages");
}

#[tokio::test]
async fn a_decision_reaches_the_firms_inbox() {
    let p = TestPlatform::start_embedded().await;
    let firm = p.sign_up("ceo@inbox.kr").await;
    let manager = p.token(Role::ProgramManager);
    let company = create_company(&p, &firm, "124-81-00998", "광주알림").await;
    act(&p, &firm, "submitCompany", &company, None).await;
    act(&p, &manager, "startCompanyReview", &company, None).await;
    act(
        &p,
        &manager,
        "requestCompanyChanges",
        &company,
        Some("사업자등록증 사본을 첨부해 주세요"),
    )
    .await;

    let inbox = inbox_with(&p, &firm, 1).await;
    assert_eq!(inbox["unreadCount"], 1, "{inbox}");
    let node = &inbox["notifications"]["edges"][0]["node"];
    assert_eq!(node["kind"], "company.changes_requested");
    assert_eq!(node["title"], "기업 등록 보완 요청: 광주알림");
    assert_eq!(node["link"], format!("/companies/{company}"));
    assert!(node["readAt"].is_null());

    let read = p
        .graphql(
            Some(&firm),
            "mutation { markNotificationsRead(all: true) }",
            json!({}),
        )
        .await;
    assert_eq!(read["data"]["markNotificationsRead"], 0, "{read}");
    let after = p.graphql(Some(&firm), INBOX, json!({})).await;
    assert_eq!(after["data"]["inbox"]["unreadCount"], 0, "{after}");
    assert!(after["data"]["inbox"]["notifications"]["edges"][0]["node"]["readAt"].is_string());

    // Another firm sees none of it; a dashboard has no inbox; nor has a visitor.
    let other = p.sign_up("other@inbox.kr").await;
    let theirs = p.graphql(Some(&other), INBOX, json!({})).await;
    assert_eq!(
        theirs["data"]["inbox"]["notifications"]["totalCount"], 0,
        "{theirs}"
    );
    let dashboard = p
        .graphql(Some(&p.token(Role::Dashboard)), INBOX, json!({}))
        .await;
    assert_eq!(error_code(&dashboard), Some("FORBIDDEN"), "{dashboard}");
    let anonymous = p.graphql(None, INBOX, json!({})).await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
    p.stop().await;
}

const PREFERENCES: &str = "{ notificationPreferences { category delivery } }";
const SET_PREFERENCES: &str = "mutation($p: [NotificationPreferenceInput!]!) { setNotificationPreferences(preferences: $p) { category delivery } }";

#[tokio::test]
async fn people_choose_how_mail_comes_and_unsubscribe_in_one_click() {
    let p = TestPlatform::start_embedded().await;
    let firm = p.sign_up("ceo@prefs.kr").await;
    let defaults = p.graphql(Some(&firm), PREFERENCES, json!({})).await;
    assert_eq!(
        defaults["data"]["notificationPreferences"],
        json!([
            { "category": "COMPANY", "delivery": "IMMEDIATE" },
            { "category": "VOUCHER", "delivery": "IMMEDIATE" },
            { "category": "PILOT", "delivery": "IMMEDIATE" },
            { "category": "REPORT", "delivery": "IMMEDIATE" },
        ]),
        "{defaults}"
    );
    let set = p
        .graphql(
            Some(&firm),
            SET_PREFERENCES,
            json!({ "p": [{ "category": "VOUCHER", "delivery": "DIGEST" }] }),
        )
        .await;
    assert_eq!(
        set["data"]["setNotificationPreferences"][1],
        json!({ "category": "VOUCHER", "delivery": "DIGEST" }),
        "{set}"
    );
    // A manager's category is not a firm's to set; a dashboard has no preferences.
    let review = p
        .graphql(
            Some(&firm),
            SET_PREFERENCES,
            json!({ "p": [{ "category": "REVIEW", "delivery": "OFF" }] }),
        )
        .await;
    assert_eq!(error_code(&review), Some("BAD_USER_INPUT"), "{review}");
    let dashboard = p
        .graphql(Some(&p.token(Role::Dashboard)), PREFERENCES, json!({}))
        .await;
    assert_eq!(error_code(&dashboard), Some("FORBIDDEN"), "{dashboard}");
    let manager = p.token(Role::ProgramManager);
    let managers = p.graphql(Some(&manager), PREFERENCES, json!({})).await;
    assert_eq!(
        managers["data"]["notificationPreferences"],
        json!([{ "category": "REVIEW", "delivery": "IMMEDIATE" }]),
        "{managers}"
    );

    // The approval's e-mail carries a one-click link that works without signing in: a mail
    // program POSTs to it (RFC 8058), with no cookie and no form token.
    p.approved_company(&firm, 4417, "광주수신랩").await;
    let token = p.unsubscribe_token("ceo@prefs.kr").await;
    let one_click = p
        .http
        .post(format!("{}/unsubscribe/{token}", p.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    let unsubscribe = "mutation($t: String!) { unsubscribe(token: $t) }";
    let off = p.graphql(None, unsubscribe, json!({ "t": token })).await;
    assert_eq!(
        off["data"]["unsubscribe"],
        json!(["COMPANY"]),
        "done already, done again alike: {off}"
    );
    let after = p.graphql(Some(&firm), PREFERENCES, json!({})).await;
    assert_eq!(
        after["data"]["notificationPreferences"][0],
        json!({ "category": "COMPANY", "delivery": "OFF" }),
        "{after}"
    );
    let unknown = p
        .graphql(None, unsubscribe, json!({ "t": "x".repeat(43) }))
        .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");

    // The contract's name for the inbox listing.
    let listed = p
        .graphql(
            Some(&firm),
            "{ notifications(first: 5) { totalCount edges { node { kind } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["notifications"]["edges"][0]["node"]["kind"], "company.approved",
        "{listed}"
    );
    p.stop().await;
}
