//! How people choose to hear of each category by e-mail (at once, a daily digest, or not at
//! all), the digest that gathers what waits, and one-click unsubscribe.

use std::time::Duration;

use axv_auth::Role;
use axv_platform::{ErrorCode, events::Event, ids::now_ms};
use axv_proto::notify::v1::{self as pb, notify_service_client::NotifyServiceClient};
use axv_testkit::{Stack, TestDb, assert_refused, authed, on_both_backends};
use tonic::transport::Channel;

use crate::{client, inbox, inbox_of};

const DAY_MS: i64 = 24 * 3_600_000;

pub fn choice(category: &str, delivery: &str) -> pb::NotificationPreference {
    pb::NotificationPreference {
        category: category.into(),
        delivery: delivery.into(),
    }
}

pub async fn set(
    client: &mut NotifyServiceClient<Channel>,
    token: &str,
    choices: Vec<pb::NotificationPreference>,
) -> Result<Vec<(String, String)>, tonic::Status> {
    client
        .set_notification_preferences(authed(
            pb::SetNotificationPreferencesRequest {
                preferences: choices,
            },
            token,
        ))
        .await
        .map(|r| {
            r.into_inner()
                .preferences
                .into_iter()
                .map(|p| (p.category, p.delivery))
                .collect()
        })
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(c, d)| ((*c).to_owned(), (*d).to_owned()))
        .collect()
}

/// An event about `company_id` that its members hear of.
fn about(kind: &str, company_id: &str) -> Event {
    Event::new("onboarding", kind, company_id).for_companies(vec![company_id.to_owned()])
}

/// Each role sees its own categories, at once by default; a firm's member turns one off and
/// gathers another in the digest: the inbox keeps everything, e-mail follows the choice, and
/// the digest goes out once however often (and on however many replicas) the scheduler runs.
/// Choices no role may make, and callers without an inbox, are refused.
async fn choices_shape_the_mail(db: TestDb) {
    let h = Stack::start(db, &["notify"]).await;
    let manager_token = crate::manager(&h, "이서연").await;
    let firm = h.firm(1).named("광주설정랩").approved().await;
    let mut client = client(&h).await;
    inbox_of(&mut client, &firm.token, 1).await;
    let notify = h.service::<axv_notify::service::Notify>();
    let store = notify.store();
    // Wait for the approval's and the submission's e-mail to be filed.
    let mut mails_before = 0;
    for _ in 0..100 {
        mails_before = store.recent_mail(100).await.unwrap().len();
        if mails_before >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        mails_before, 2,
        "the approval's and the submission's e-mail"
    );

    let defaults = client
        .get_notification_preferences(authed(
            pb::GetNotificationPreferencesRequest {},
            &firm.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .preferences;
    let defaults: Vec<(String, String)> = defaults
        .into_iter()
        .map(|p| (p.category, p.delivery))
        .collect();
    assert_eq!(
        defaults,
        pairs(&[
            ("company", "immediate"),
            ("voucher", "immediate"),
            ("pilot", "immediate"),
            ("report", "immediate"),
        ])
    );
    let after = set(
        &mut client,
        &firm.token,
        vec![choice("company", "off"), choice("voucher", "digest")],
    )
    .await
    .unwrap();
    assert_eq!(
        after,
        pairs(&[
            ("company", "off"),
            ("voucher", "digest"),
            ("pilot", "immediate"),
            ("report", "immediate"),
        ])
    );
    // The manager's own choices are theirs alone.
    assert_eq!(
        set(
            &mut client,
            &manager_token,
            vec![choice("review", "digest")]
        )
        .await
        .unwrap(),
        pairs(&[("review", "digest")])
    );

    // Refused: a category the role never hears of, a delivery that does not exist (nothing of
    // the request is kept), a machine's token, no token.
    assert_refused(
        set(&mut client, &firm.token, vec![choice("review", "off")]).await,
        ErrorCode::BadUserInput,
    );
    assert_refused(
        set(
            &mut client,
            &firm.token,
            vec![choice("pilot", "off"), choice("report", "weekly")],
        )
        .await,
        ErrorCode::BadUserInput,
    );
    assert_refused(
        set(
            &mut client,
            &h.token(Role::Dashboard),
            vec![choice("company", "off")],
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        client
            .get_notification_preferences(pb::GetNotificationPreferencesRequest {})
            .await,
        ErrorCode::Unauthenticated,
    );
    let unchanged = set(&mut client, &firm.token, vec![]).await.unwrap();
    assert_eq!(unchanged, after, "a refused request changed nothing");

    // Company news: in the inbox, no e-mail. Voucher news: in the inbox, waiting for the digest.
    for kind in ["company.suspended", "company.reinstated"] {
        notify.handle(&about(kind, &firm.company_id)).await.unwrap();
    }
    for kind in ["application.approved", "voucher.low_balance"] {
        notify
            .handle(
                &about(kind, &firm.company_id).with_payload(serde_json::json!({ "code": "GPU-7" })),
            )
            .await
            .unwrap();
    }
    assert_eq!(inbox(&mut client, &firm.token).await.unwrap().total, 5);
    assert_eq!(
        store.recent_mail(100).await.unwrap().len(),
        mails_before,
        "no e-mail at once"
    );

    // Before 08:00 in Korea comes round, nothing; after it, one digest, whoever runs it and
    // however often.
    assert_eq!(notify.send_digests(now_ms() - DAY_MS).await.unwrap(), 0);
    let tomorrow = now_ms() + DAY_MS;
    // Two replicas at once; the stack's own scheduler is a third that may hold the lease for
    // a moment, so they try until one of them ran.
    let mut filed = 0;
    for _ in 0..100 {
        let (first, second) = tokio::join!(
            axv_notify::scheduler::run_once(notify, "replica-a", tomorrow),
            axv_notify::scheduler::run_once(notify, "replica-b", tomorrow),
        );
        let ran = [first.unwrap(), second.unwrap()];
        filed += ran.iter().flatten().map(|r| r.digests).sum::<usize>();
        if ran.iter().any(Option::is_some) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(filed, 1, "one digest, whoever ran");
    assert_eq!(notify.send_digests(tomorrow).await.unwrap(), 0);
    // The lease itself: one holder at a time, renewable by its holder, free once given up.
    assert!(store.hold_lease("test", "a", 60_000).await.unwrap());
    assert!(!store.hold_lease("test", "b", 60_000).await.unwrap());
    assert!(store.hold_lease("test", "a", 60_000).await.unwrap());
    store.release_lease("test", "b").await.unwrap();
    assert!(!store.hold_lease("test", "b", 60_000).await.unwrap());
    store.release_lease("test", "a").await.unwrap();
    assert!(store.hold_lease("test", "b", 60_000).await.unwrap());
    // An expired lease is anyone's.
    assert!(store.hold_lease("short", "a", -1).await.unwrap());
    assert!(store.hold_lease("short", "b", 60_000).await.unwrap());
    let mails = store.recent_mail(100).await.unwrap();
    assert_eq!(mails.len(), mails_before + 1, "{mails:?}");
    let digest = &mails[0];
    assert_eq!(digest.to_address, "firm1@test.kr");
    assert_eq!(digest.subject, "[AX 실증밸리] 알림 모아보기 2건");
    assert!(
        digest.text_body.contains("바우처 신청이 승인되었습니다")
            && digest
                .text_body
                .contains("바우처 잔액이 얼마 남지 않았습니다: GPU-7"),
        "{}",
        digest.text_body
    );
    assert!(
        !digest.text_body.contains("기업 자격"),
        "{}",
        digest.text_body
    );
    h.stop().await;
}

/// The link in an e-mail turns that category's e-mail off without signing in, once or twice
/// alike; a digest's link turns off what was gathered in digests; a token never issued is
/// NOT_FOUND.
async fn one_click_unsubscribe(db: TestDb) {
    let mut platform = axv_platform::testing::platform(db.config.clone());
    platform.mail.public_url = Some("https://axv.gwangju.example".into());
    let h = Stack::start_on(db, platform, &["notify"]).await;
    let firm = h.firm(2).approved().await;
    let mut client = client(&h).await;
    inbox_of(&mut client, &firm.token, 1).await;
    let notify = h.service::<axv_notify::service::Notify>();
    let token = loop {
        let mails = notify.store().recent_mail(10).await.unwrap();
        if let Some(mail) = mails.iter().find(|m| m.to_address == "firm2@test.kr") {
            break unsubscribe_token(&mail.text_body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let unsubscribing = client.clone();
    let unsubscribe = |token: String| {
        let mut client = unsubscribing.clone();
        async move {
            client
                .unsubscribe(pb::UnsubscribeRequest { token })
                .await
                .map(|r| r.into_inner().categories)
        }
    };
    assert_eq!(unsubscribe(token.clone()).await.unwrap(), vec!["company"]);
    assert_eq!(unsubscribe(token).await.unwrap(), vec!["company"]);
    let now = client
        .get_notification_preferences(authed(
            pb::GetNotificationPreferencesRequest {},
            &firm.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .preferences;
    assert_eq!(now[0].category, "company");
    assert_eq!(now[0].delivery, "off");
    for never in [
        "A".repeat(43),
        "short".into(),
        String::new(),
        "../../etc".into(),
    ] {
        assert_refused(unsubscribe(never).await, ErrorCode::NotFound);
    }

    // A digest's link: every category the person gathers in digests goes off.
    set(
        &mut client,
        &firm.token,
        vec![choice("voucher", "digest"), choice("pilot", "digest")],
    )
    .await
    .unwrap();
    notify
        .handle(&about("application.approved", &firm.company_id))
        .await
        .unwrap();
    assert_eq!(notify.send_digests(now_ms() + DAY_MS).await.unwrap(), 1);
    let digest = notify.store().recent_mail(1).await.unwrap().remove(0);
    assert!(digest.subject.contains("모아보기"), "{digest:?}");
    let mut off = unsubscribe(unsubscribe_token(&digest.text_body))
        .await
        .unwrap();
    off.sort();
    assert_eq!(off, vec!["pilot", "voucher"]);
    h.stop().await;
}

/// The token of the unsubscribe link an e-mail's text carries.
pub fn unsubscribe_token(text: &str) -> String {
    let at = text
        .find("/unsubscribe/")
        .unwrap_or_else(|| panic!("no unsubscribe link in {text}"));
    text[at + "/unsubscribe/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

on_both_backends!(
    choices => choices_shape_the_mail,
    unsubscribe => one_click_unsubscribe,
);
