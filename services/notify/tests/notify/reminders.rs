//! Reminders over real gRPC, with the vouchers and outcomes services behind notify: a voucher
//! about to expire is told to its company's members at each step once, in Korean, whatever the
//! replicas and however often the scheduler looks.

use axv_testkit::{Stack, TestDb, on_both_backends};
use chrono::Days;

use crate::{client, inbox, inbox_of};

async fn an_expiring_voucher_is_told_once_per_step(db: TestDb) {
    let h = Stack::start(db, &["notify"]).await;
    let firm = h.firm(6).named("광주기한랩").approved().await;
    let voucher = h.voucher(&firm, 3_600).await;
    let mut client = client(&h).await;
    // The approval and the voucher application's approval.
    let settled = inbox_of(&mut client, &firm.token, 2).await.total;
    let notify = h.service::<axv_notify::service::Notify>();

    // Ten days before it expires: the 14-day step, once however often it is looked for.
    let ten_before = voucher.valid_until - Days::new(10);
    assert_eq!(notify.send_reminders(ten_before).await.unwrap(), 1);
    assert_eq!(notify.send_reminders(ten_before).await.unwrap(), 0);
    let told = inbox(&mut client, &firm.token).await.unwrap();
    assert_eq!(told.total, settled + 1, "{told:?}");
    let newest = &told.notifications[0];
    assert_eq!(newest.kind, "voucher.expiring");
    assert_eq!(
        newest.title,
        format!("바우처 사용 기간이 곧 끝납니다: {}", voucher.code)
    );
    let korean_date = voucher.valid_until.format("%Y년 %-m월 %-d일").to_string();
    assert!(
        newest.body.contains(&format!("{korean_date}까지")),
        "{newest:?}"
    );
    assert_eq!(newest.link, format!("/vouchers/{}", voucher.id));

    // The 7-day step, looked for by two replicas at once: told once.
    let week_before = voucher.valid_until - Days::new(7);
    let second = notify.clone();
    let (a, b) = tokio::join!(
        notify.send_reminders(week_before),
        second.send_reminders(week_before),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1, "told by one of them");
    assert_eq!(
        inbox(&mut client, &firm.token).await.unwrap().total,
        settled + 2
    );
    // Far from its end, nothing.
    assert_eq!(
        notify
            .send_reminders(voucher.valid_until - Days::new(40))
            .await
            .unwrap(),
        0
    );

    // The scheduler tells reminders in the daytime only, once an hour across the replicas.
    let korea = |time: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!(
            "{}T{time}+09:00",
            axv_platform::calendar::today_kst()
        ))
        .unwrap()
        .timestamp_millis()
    };
    let night = axv_notify::scheduler::run_once(notify, "a", korea("08:59:00"))
        .await
        .unwrap();
    assert!(
        night.is_some_and(|ran| ran.reminders.is_none()),
        "{night:?}"
    );
    axv_notify::scheduler::run_once(notify, "a", korea("10:00:00"))
        .await
        .unwrap();
    let again = axv_notify::scheduler::run_once(notify, "b", korea("10:00:00"))
        .await
        .unwrap();
    assert!(
        again.is_some_and(|ran| ran.reminders.is_none()),
        "the hour's reminders ran already: {again:?}"
    );
    h.stop().await;
}

on_both_backends!(expiring => an_expiring_voucher_is_told_once_per_step);
