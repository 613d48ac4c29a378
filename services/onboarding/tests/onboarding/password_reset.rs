//! Forgotten passwords over real gRPC, on SQLite and Postgres: the same answer for an account
//! and for nobody, the link's token only for the platform's mailer, usable once, not after it
//! expires nor after a newer password; every session ends; the requests are limited.

use std::time::Duration;

use axv_platform::{ErrorCode, events::Event};
use axv_proto::onboarding::v1::{self as pb, onboarding_service_client::OnboardingServiceClient};
use axv_testkit::{Stack, TestDb, assert_refused, authed, on_both_backends};
use futures::{StreamExt, stream::BoxStream};
use tonic::transport::Channel;

const EMAIL: &str = "reset@firm.kr";

fn service_token(h: &Stack, name: &str) -> String {
    axv_platform::error::service_token::<std::convert::Infallible>(&h.platform.issuer, name)
        .unwrap()
}

async fn request(
    client: &mut OnboardingServiceClient<Channel>,
    email: &str,
) -> Result<pb::RequestPasswordResetResponse, tonic::Status> {
    client
        .request_password_reset(pb::RequestPasswordResetRequest {
            email: email.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The next reset request announced, if one comes within `wait`.
async fn next_request(events: &mut BoxStream<'static, Event>, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait, async {
        while let Some(event) = events.next().await {
            if event.kind == "account.password_reset_requested" {
                return Some(event);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

async fn issue(
    client: &mut OnboardingServiceClient<Channel>,
    token: &str,
    request_id: &str,
) -> Result<pb::IssuePasswordResetResponse, tonic::Status> {
    client
        .issue_password_reset(authed(
            pb::IssuePasswordResetRequest {
                request_id: request_id.into(),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn reset(
    client: &mut OnboardingServiceClient<Channel>,
    token: &str,
    password: &str,
) -> Result<pb::ResetPasswordResponse, tonic::Status> {
    client
        .reset_password(pb::ResetPasswordRequest {
            token: token.into(),
            new_password: password.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn login(
    client: &mut OnboardingServiceClient<Channel>,
    password: &str,
) -> Result<String, tonic::Status> {
    client
        .login(pb::LoginRequest {
            email: EMAIL.into(),
            password: password.into(),
        })
        .await
        .map(|r| r.into_inner().tokens.unwrap_or_default().access_token)
}

async fn forgotten_passwords(db: TestDb) {
    let h = Stack::start(db, &["onboarding"]).await;
    let mut client = OnboardingServiceClient::new(h.channel("onboarding").await);
    let signed_up = client
        .sign_up(pb::SignUpRequest {
            email: EMAIL.into(),
            password: "correct horse battery".into(),
            name: "박재설".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let old_session = signed_up.tokens.unwrap().access_token;
    let mut events = h.platform.bus.subscribe();
    let mailer = service_token(&h, "notify");

    // The same answer for an account and for nobody; only the account's request is announced,
    // with no secret in it.
    assert_eq!(
        request(&mut client, EMAIL).await.unwrap(),
        request(&mut client, "nobody@firm.kr").await.unwrap()
    );
    let first = next_request(&mut events, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(first.company_ids.is_empty() && !first.public, "{first:?}");
    assert_eq!(first.payload["userId"], signed_up.user.unwrap().id);
    assert!(
        next_request(&mut events, Duration::from_millis(300))
            .await
            .is_none(),
        "nobody's address announced nothing"
    );
    assert_refused(
        request(&mut client, "not an address").await,
        ErrorCode::BadUserInput,
    );

    // Only the platform's mailer gets a link's token.
    for (who, refused) in [
        (Some(old_session.clone()), ErrorCode::Forbidden),
        (Some(service_token(&h, "pilots")), ErrorCode::Forbidden),
        (Some(h.token(axv_auth::Role::Admin)), ErrorCode::Forbidden),
    ] {
        assert_refused(
            issue(
                &mut client,
                who.as_deref().unwrap_or_default(),
                &first.subject_id,
            )
            .await,
            refused,
        );
    }
    assert_refused(
        client
            .issue_password_reset(pb::IssuePasswordResetRequest {
                request_id: first.subject_id.clone(),
            })
            .await,
        ErrorCode::Unauthenticated,
    );
    let issued = issue(&mut client, &mailer, &first.subject_id)
        .await
        .unwrap();
    assert_eq!(
        (issued.email.as_str(), issued.name.as_str()),
        (EMAIL, "박재설")
    );
    // One link per request: a redelivered event gets none.
    assert_refused(
        issue(&mut client, &mailer, &first.subject_id).await,
        ErrorCode::NotFound,
    );
    let now = axv_platform::ids::now_ms();
    assert!(issued.expires_at_ms > now + 29 * 60_000 && issued.expires_at_ms <= now + 30 * 60_000);

    // A password too short is refused and the link still works; then it works once.
    let short = assert_refused(
        reset(&mut client, &issued.token, "short").await,
        ErrorCode::BadUserInput,
    );
    assert!(short.message().contains("newPassword"), "{short:?}");
    // Two uses racing: exactly one sets the password.
    let (mut first_client, mut second_client) = (client.clone(), client.clone());
    let (one, other) = tokio::join!(
        reset(&mut first_client, &issued.token, "a brand new passphrase"),
        reset(&mut second_client, &issued.token, "a brand new passphrase"),
    );
    assert!(
        one.is_ok() != other.is_ok(),
        "exactly one use: {one:?} {other:?}"
    );
    let again = assert_refused(
        reset(&mut client, &issued.token, "another new passphrase").await,
        ErrorCode::BadUserInput,
    );
    assert!(again.message().contains("token"), "{again:?}");
    assert_refused(
        reset(&mut client, "never issued", "another new passphrase").await,
        ErrorCode::BadUserInput,
    );
    // Every session ended; the new password signs in, the old one no longer.
    assert_refused(
        client
            .get_me(authed(pb::GetMeRequest {}, &old_session))
            .await,
        ErrorCode::Unauthenticated,
    );
    assert_refused(
        login(&mut client, "correct horse battery").await,
        ErrorCode::Unauthenticated,
    );
    let session = login(&mut client, "a brand new passphrase").await.unwrap();

    // A link mailed before a newer password no longer works.
    request(&mut client, EMAIL).await.unwrap();
    let second = next_request(&mut events, Duration::from_secs(5))
        .await
        .unwrap();
    let stale = issue(&mut client, &mailer, &second.subject_id)
        .await
        .unwrap();
    client
        .change_password(authed(
            pb::ChangePasswordRequest {
                current_password: "a brand new passphrase".into(),
                new_password: "the newest passphrase".into(),
            },
            &session,
        ))
        .await
        .unwrap();
    assert_refused(
        reset(&mut client, &stale.token, "a stale link's choice").await,
        ErrorCode::BadUserInput,
    );
    // The request it came from is ended too: no new token for it.
    assert_refused(
        issue(&mut client, &mailer, &second.subject_id).await,
        ErrorCode::NotFound,
    );

    // An expired link does not work.
    request(&mut client, EMAIL).await.unwrap();
    let third = next_request(&mut events, Duration::from_secs(5))
        .await
        .unwrap();
    let late = issue(&mut client, &mailer, &third.subject_id)
        .await
        .unwrap();
    sqlx::query("UPDATE password_resets SET expires_at = $1 WHERE id = $2")
        .bind(axv_platform::ids::now_ms() - 1)
        .bind(&third.subject_id)
        .execute(h.onboarding().store().db().pool())
        .await
        .unwrap();
    assert_refused(
        reset(&mut client, &late.token, "too late a passphrase").await,
        ErrorCode::BadUserInput,
    );

    // Three links an hour per account: a fourth request is answered alike and sends nothing.
    request(&mut client, EMAIL).await.unwrap();
    assert!(
        next_request(&mut events, Duration::from_millis(500))
            .await
            .is_none()
    );
    // Ten requests an hour per client address, whatever address is asked about.
    // (Five asked so far, the malformed address not counted.)
    for n in 0..5 {
        request(&mut client, &format!("n{n}@firm.kr"))
            .await
            .unwrap();
    }
    for email in [EMAIL, "nobody@firm.kr"] {
        assert_refused(request(&mut client, email).await, ErrorCode::RateLimited);
    }
    h.stop().await;
}

on_both_backends!(forgotten => forgotten_passwords);
