//! A password reset's link by e-mail: mailed once whatever the redeliveries, not kept once
//! sent, and given up unsent once useless.

use std::time::Duration;

use axv_platform::events::Event;
use axv_proto::onboarding::v1::{self as pb, onboarding_service_client::OnboardingServiceClient};
use axv_testkit::{Stack, TestDb, on_both_backends};
use futures::StreamExt;

async fn a_reset_link_is_mailed_once(db: TestDb) {
    let h = Stack::start(db, &["notify"]).await;
    let mut onboarding = OnboardingServiceClient::new(h.channel("onboarding").await);
    onboarding
        .sign_up(pb::SignUpRequest {
            email: "lost@firm.kr".into(),
            password: "correct horse battery".into(),
            name: "최분실".into(),
        })
        .await
        .unwrap();
    let mut events = h.platform.bus.subscribe();
    onboarding
        .request_password_reset(pb::RequestPasswordResetRequest {
            email: "lost@firm.kr".into(),
        })
        .await
        .unwrap();
    let requested: Event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = events.next().await.unwrap();
            if event.kind == "account.password_reset_requested" {
                return event;
            }
        }
    })
    .await
    .unwrap();
    let notify = h.service::<axv_notify::service::Notify>();
    let store = notify.store();
    let resets = || async {
        store
            .recent_mail(50)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.subject.contains("비밀번호 재설정"))
            .collect::<Vec<_>>()
    };
    let mut mailed = Vec::new();
    for _ in 0..100 {
        mailed = resets().await;
        if mailed.first().is_some_and(|m| m.sent_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mailed.len(), 1, "{mailed:?}");
    assert_eq!(mailed[0].to_address, "lost@firm.kr");
    assert!(mailed[0].sent_at.is_some(), "{mailed:?}");
    // Sent: the link is not kept.
    assert!(
        !mailed[0].text_body.contains("/password/reset/"),
        "{mailed:?}"
    );

    // The same event again, and the same request under another event id (a replica that
    // never saw it handled): no second link.
    notify.handle(&requested).await.unwrap();
    notify
        .handle(&Event {
            id: axv_platform::ids::new_id(),
            ..requested.clone()
        })
        .await
        .unwrap();
    assert_eq!(resets().await.len(), 1);

    // An e-mail that became useless before it went out is given up, its body blanked.
    let stale = axv_notify::store::NewMail {
        to_address: "lost@firm.kr".into(),
        to_name: "최분실".into(),
        subject: "[AX 실증밸리] 만료된 안내".into(),
        text_body: "https://axv.test/password/reset/secret".into(),
        html_body: String::new(),
        user_id: String::new(),
        category: "security".into(),
        unsubscribe: None,
        discard_after: Some(axv_platform::ids::now_ms() - 1),
    };
    // The sender skips it (a sender that ran would find nothing to claim either).
    store
        .record_event_mail("stale-event", "test.stale", Some(&stale))
        .await
        .unwrap();
    assert!(store.claim_due_mail(60_000).await.unwrap().is_none());
    assert_eq!(store.discard_stale_mail().await.unwrap(), 1);
    let given_up = store.recent_mail(1).await.unwrap().remove(0);
    assert!(given_up.sent_at.is_none() && given_up.last_error.is_some());
    assert!(!given_up.text_body.contains("secret"), "{given_up:?}");
    h.stop().await;
}

on_both_backends!(reset => a_reset_link_is_mailed_once);
