//! The notify service's tests, in one binary: events turned into inboxes and e-mail over real
//! gRPC with the onboarding service behind it, on SQLite and Postgres (`inbox`, `preferences`),
//! and e-mail through a real SMTP server (`smtp`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod inbox;
mod password_reset;
mod preferences;
mod reminders;
mod smtp;

use std::time::Duration;

use axv_proto::notify::v1::{self as pb, notify_service_client::NotifyServiceClient};
use axv_testkit::{Stack, authed};
use tonic::transport::Channel;

pub async fn client(h: &Stack) -> NotifyServiceClient<Channel> {
    NotifyServiceClient::new(h.channel("notify").await)
}

pub async fn inbox(
    client: &mut NotifyServiceClient<Channel>,
    token: &str,
) -> Result<pb::ListNotificationsResponse, tonic::Status> {
    client
        .list_notifications(authed(pb::ListNotificationsRequest::default(), token))
        .await
        .map(tonic::Response::into_inner)
}

/// Waits (events arrive through the bus) until `token`'s inbox holds `count` messages.
pub async fn inbox_of(
    client: &mut NotifyServiceClient<Channel>,
    token: &str,
    count: usize,
) -> pb::ListNotificationsResponse {
    for _ in 0..100 {
        let answer = inbox(client, token).await.unwrap();
        // The counts are read before the page: wait for both.
        if answer.notifications.len() >= count && answer.total >= count as i64 {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the inbox never held {count} messages");
}

/// A programme manager's account `pm@city.kr`, named `name`: its access token.
pub async fn manager(h: &Stack, name: &str) -> String {
    let admin = axv_testkit::caller("admin", axv_auth::Role::Admin);
    let (manager, _) = h
        .onboarding()
        .create_staff_account(
            Some(&admin),
            "pm@city.kr",
            name,
            Some(axv_auth::Role::ProgramManager),
        )
        .await
        .unwrap();
    h.platform
        .issuer
        .issue(&manager.id, axv_auth::Role::ProgramManager, vec![])
        .unwrap()
        .token
}
