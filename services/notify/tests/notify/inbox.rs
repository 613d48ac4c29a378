//! Events become messages for the people they concern, once, in their inbox and as e-mail.

use std::time::Duration;

use axv_auth::Role;
use axv_platform::{ErrorCode, events::Event};
use axv_proto::notify::v1 as pb;
use axv_testkit::{Stack, TestDb, assert_refused, authed, on_both_backends};

use crate::{client, inbox, inbox_of};

/// `.eml` files written under `dir`.
fn mails_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn mails(dir: &std::path::Path, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let found = mails_in(dir);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} e-mails never came: {:?}", mails_in(dir));
}

/// A company's approval reaches its member, its submission the programme's manager; another
/// firm hears nothing; each message also goes out by e-mail; a redelivered event files nothing
/// twice; people read and mark only their own inbox.
async fn decisions_reach_the_firm_and_requests_the_managers(db: TestDb) {
    let h = Stack::start(db, &["notify"]).await;
    let manager_token = crate::manager(&h, "이서연 (AI산업과)").await;
    let firm = h.firm(1).named("광주알림랩").approved().await;
    let other = h.firm(2).draft().await;
    let mut client = client(&h).await;

    let firms = inbox_of(&mut client, &firm.token, 1).await;
    assert_eq!(firms.notifications.len(), 1, "{firms:?}");
    let approved = &firms.notifications[0];
    assert_eq!(approved.kind, "company.approved");
    assert_eq!(approved.title, "기업 등록이 승인되었습니다: 광주알림랩");
    assert_eq!(approved.link, format!("/companies/{}", firm.company_id));
    assert_eq!((firms.unread, firms.total), (1, 1));

    let managers = inbox_of(&mut client, &manager_token, 1).await;
    assert_eq!(managers.notifications[0].kind, "company.submitted");
    assert!(managers.notifications[0].title.contains("광주알림랩"));

    // Another firm's inbox stays empty (its draft told no one).
    let quiet = inbox(&mut client, &other.token).await.unwrap();
    assert!(quiet.notifications.is_empty(), "{quiet:?}");

    // One e-mail per message, to each person's address, in Korean.
    let sent = mails(&h.platform.mail.dir, 2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().any(|m| m.contains("firm1@test.kr")), "{sent:?}");
    assert!(sent.iter().any(|m| m.contains("pm@city.kr")), "{sent:?}");
    assert!(sent.iter().all(|m| m.contains("multipart/alternative")));

    // The same event again (a redelivery, a second replica): nothing new.
    let again = Event {
        id: "00000000-0000-7000-8000-000000000001".into(),
        ..Event::new("onboarding", "company.approved", &firm.company_id)
            .for_companies(vec![firm.company_id.clone()])
    };
    let notify = h.service::<axv_notify::service::Notify>();
    notify.handle(&again).await.unwrap();
    notify.handle(&again).await.unwrap();
    let twice = inbox(&mut client, &firm.token).await.unwrap();
    assert_eq!(twice.total, 2, "one more, not two: {twice:?}");

    // Reading: another person's ids change nothing; one's own do.
    let mine: Vec<String> = twice.notifications.iter().map(|n| n.id.clone()).collect();
    let by_other = client
        .mark_notifications_read(authed(
            pb::MarkNotificationsReadRequest {
                ids: mine.clone(),
                all: false,
            },
            &manager_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        by_other.unread, 1,
        "the manager's own message is still unread"
    );
    assert_eq!(inbox(&mut client, &firm.token).await.unwrap().unread, 2);
    let read = client
        .mark_notifications_read(authed(
            pb::MarkNotificationsReadRequest {
                ids: vec![mine[0].clone()],
                all: false,
            },
            &firm.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.unread, 1);
    let unread = client
        .list_notifications(authed(
            pb::ListNotificationsRequest {
                unread_only: true,
                ..Default::default()
            },
            &firm.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unread.notifications.len(), 1);
    assert_ne!(unread.notifications[0].id, mine[0]);
    let all = client
        .mark_notifications_read(authed(
            pb::MarkNotificationsReadRequest {
                ids: vec![],
                all: true,
            },
            &firm.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.unread, 0);

    // Machines have no inbox; nobody reads without a token.
    assert_refused(
        inbox(&mut client, &h.token(Role::Dashboard)).await,
        ErrorCode::Forbidden,
    );
    assert_refused(
        client
            .list_notifications(pb::ListNotificationsRequest::default())
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        client
            .list_notifications(authed(
                pb::ListNotificationsRequest {
                    page_size: 101,
                    ..Default::default()
                },
                &firm.token,
            ))
            .await,
        ErrorCode::BadUserInput,
    );
    h.stop().await;
}

/// Events from before the quiet mark (the demo's seeded past) are history: handled, and no
/// one is told; what happens after it is told as ever.
async fn history_tells_no_one(db: TestDb) {
    let h = Stack::start(db, &["notify"]).await;
    let firm = h.firm(1).approved().await;
    let mut client = client(&h).await;
    inbox_of(&mut client, &firm.token, 1).await;
    let notify = h.service::<axv_notify::service::Notify>();
    let now = axv_platform::ids::now_ms();
    notify.store().set_quiet_before(now).await.unwrap();
    let approved = || {
        Event::new("onboarding", "company.approved", &firm.company_id)
            .for_companies(vec![firm.company_id.clone()])
    };
    let past = Event {
        occurred_at_ms: now - 60_000,
        ..approved()
    };
    notify.handle(&past).await.unwrap();
    assert_eq!(inbox(&mut client, &firm.token).await.unwrap().total, 1);
    let later = Event {
        occurred_at_ms: now + 1,
        ..approved()
    };
    notify.handle(&later).await.unwrap();
    assert_eq!(inbox(&mut client, &firm.token).await.unwrap().total, 2);
    h.stop().await;
}

on_both_backends!(
    decisions => decisions_reach_the_firm_and_requests_the_managers,
    history => history_tells_no_one,
);
