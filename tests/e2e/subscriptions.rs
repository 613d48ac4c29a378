//! Live events: a firm subscribed over WebSocket (`graphql-transport-ws`) sees the voucher a
//! manager issues to it, and its own company's events; another firm and a dashboard do not see
//! what is not theirs or not public. The same stream as server-sent events.

use std::time::Duration;

use axv_auth::Role;
use axv_e2e::{TestPlatform, business_number};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use super::{act, create_company, issue_voucher};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, authenticates in `connection_init` and subscribes to `kinds`.
async fn connect(p: &TestPlatform) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", p.running.gateway.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn subscribe(p: &TestPlatform, token: Option<&str>, kinds: &[&str]) -> Socket {
    let mut socket = connect(p).await;
    let payload = match token {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    let ack = receive(&mut socket, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($kinds: [String!]) { programEvents(kinds: $kinds) { id kind at subjectId } }",
            "variables": { "kinds": kinds },
        } }),
    )
    .await;
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message, or `None` after `wait` without one.
async fn receive(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).ok();
        }
    }
}

/// The next message that is not the `complete` of an earlier answer.
async fn reply(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = receive(socket, wait).await?;
        if message["type"] != "complete" {
            return Some(message);
        }
    }
}

/// The events delivered within `wait`.
async fn events(socket: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Some(message) = receive(socket, wait).await {
        if message["type"] == "next" {
            got.push(message["payload"]["data"]["programEvents"].clone());
        }
    }
    got
}

/// An approved company of a new firm; returns (firm token, company id).
async fn approved_firm(
    p: &TestPlatform,
    manager: &str,
    email: &str,
    seed: u32,
) -> (String, String) {
    let firm = p.sign_up(email).await;
    let company = create_company(p, &firm, &business_number(seed), "광주실시간").await;
    act(p, &firm, "submitCompany", &company, None).await;
    act(p, manager, "startCompanyReview", &company, None).await;
    act(p, manager, "approveCompany", &company, None).await;
    (firm, company)
}

async fn live_events(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let (firm_a, company_a) = approved_firm(p, &manager, "a@live.kr", 6101).await;
    let (firm_b, _) = approved_firm(p, &manager, "b@live.kr", 6102).await;

    let mut a = subscribe(p, Some(&firm_a), &["voucher.issued", "company.*"]).await;
    let mut b = subscribe(p, Some(&firm_b), &["company.*"]).await;
    let mut dashboard = subscribe(p, Some(&p.token(Role::Dashboard)), &["company.*"]).await;

    // A manager (another client) issues firm A a voucher.
    let voucher = issue_voucher(p, &firm_a, &manager, &company_a, None).await;

    // Firm A registers a second company: an event about A alone.
    let private = create_company(p, &firm_a, &business_number(6103), "비공개").await;

    let seen_by_a = events(&mut a, Duration::from_secs(3)).await;
    assert!(
        seen_by_a
            .iter()
            .any(|e| e["kind"] == "voucher.issued" && e["subjectId"] == voucher),
        "{seen_by_a:?}"
    );
    assert!(
        seen_by_a
            .iter()
            .any(|e| e["kind"] == "company.created" && e["subjectId"] == private.as_str()),
        "{seen_by_a:?}"
    );
    // Firm B and the dashboard subscribed to company events see none of A's private ones.
    let seen_by_b = events(&mut b, Duration::from_millis(500)).await;
    assert!(
        !seen_by_b.iter().any(|e| e["subjectId"] == private.as_str()),
        "{seen_by_b:?}"
    );
    let seen_by_dashboard = events(&mut dashboard, Duration::from_millis(500)).await;
    assert!(
        !seen_by_dashboard
            .iter()
            .any(|e| e["subjectId"] == private.as_str()),
        "{seen_by_dashboard:?}"
    );

    // The same events as server-sent events, for clients without WebSocket.
    let mut stream = p
        .http
        .get(format!("{}/events?kinds=company.*", p.base_url()))
        .bearer_auth(&firm_a)
        .send()
        .await
        .unwrap();
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let other = create_company(p, &firm_a, &business_number(6104), "이벤트스트림").await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains(other.as_str()) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the event arrives over SSE")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: company.created"), "{text}");

    // A forged token is refused at connection_init.
    let mut forged = connect(p).await;
    send(
        &mut forged,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not.a.token" } }),
    )
    .await;
    let answer = receive(&mut forged, Duration::from_secs(5)).await;
    assert!(
        answer.is_none_or(|a| a["type"] != "connection_ack"),
        "a forged token was accepted"
    );
}

#[tokio::test]
async fn live_events_reach_only_who_may_see_them() {
    let p = TestPlatform::start().await;
    live_events(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn live_events_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    live_events(&p).await;
    p.stop().await;
}

/// The socket serves subscriptions only, with the HTTP guards: a query or mutation is refused
/// (and changes nothing), aliases are limited, each subscription started counts against the
/// caller's rate limit, and every refusal carries `extensions.code`.
#[tokio::test]
async fn the_socket_runs_subscriptions_only_under_the_http_guards() {
    let p = TestPlatform::start_with_limits(axv_gateway::Limits {
        rate_limits: axv_gateway::rate_limit::RateLimits {
            per_address: axv_gateway::rate_limit::Budget {
                requests: 5,
                cost: 1_000_000,
            },
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut socket = connect(&p).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    let ack = receive(&mut socket, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    // A refusal arrives as an `error` message, or as a `next` carrying only errors (what the
    // protocol does for an operation it answers once).
    let first_error = |message: &Value| match message["type"].as_str() {
        Some("error") => message["payload"][0].clone(),
        _ => {
            assert!(message["payload"]["data"].is_null(), "{message}");
            message["payload"]["errors"][0].clone()
        }
    };
    let ask = |id: &str, query: String| json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
    // A BAD_USER_INPUT refusal whose message says `why`.
    let refused_for = |message: &Value, why: &str| {
        let error = first_error(message);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{message}");
        assert!(
            error["message"].as_str().unwrap().contains(why),
            "{message}"
        );
    };

    // A mutation: refused, and no account was made.
    send(
        &mut socket,
        ask("m", "mutation { signUp(input: { email: \"ws@ws.kr\", password: \"correct horse battery staple\", name: \"소켓\" }) { accessToken } }".into()),
    )
    .await;
    let refused = reply(&mut socket, Duration::from_secs(5)).await.unwrap();
    refused_for(&refused, "POST /graphql");
    let login = p
        .graphql(
            None,
            "mutation { login(email: \"ws@ws.kr\", password: \"correct horse battery staple\") { accessToken } }",
            json!({}),
        )
        .await;
    assert!(
        login["data"].is_null() || login["data"]["login"].is_null(),
        "{login}"
    );

    // A query, and a subscription with too many aliases.
    send(&mut socket, ask("q", "{ companies { totalCount } }".into())).await;
    let refused = reply(&mut socket, Duration::from_secs(5)).await.unwrap();
    refused_for(&refused, "POST /graphql");
    let aliased: String = (0..200)
        .map(|n| format!("a{n}: programEvents {{ id }} "))
        .collect();
    send(
        &mut socket,
        ask("a", format!("subscription {{ {aliased} }}")),
    )
    .await;
    let refused = reply(&mut socket, Duration::from_secs(5)).await.unwrap();
    refused_for(&refused, "aliases");

    // Subscriptions count against the address's budget of 5 requests a minute (the login
    // above was one of them).
    let mut codes = Vec::new();
    for n in 0..6 {
        let id = format!("s{n}");
        send(
            &mut socket,
            ask(&id, "subscription { programEvents { id } }".into()),
        )
        .await;
        if let Some(message) = reply(&mut socket, Duration::from_millis(500)).await {
            codes.push(first_error(&message)["extensions"]["code"].clone());
        }
    }
    assert!(codes.contains(&json!("RATE_LIMITED")), "{codes:?}");
    p.stop().await;
}

/// A stream lives no longer than the session it was opened with: after the manager signs out,
/// the open stream delivers nothing more and ends (over SSE and over WebSocket alike).
#[tokio::test]
async fn streams_end_with_the_session() {
    let p = TestPlatform::start().await;
    let manager = p.token(Role::ProgramManager);
    let firm = p.sign_up("stream-end@firm.kr").await;
    let mut sse = p
        .http
        .get(format!("{}/events?kinds=company.*", p.base_url()))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    let mut socket = subscribe(&p, Some(&manager), &["company.*"]).await;
    // Before: a non-public event reaches the manager.
    let before = create_company(&p, &firm, &business_number(6201), "세션전").await;
    let delivered = events(&mut socket, Duration::from_secs(2)).await;
    assert!(
        delivered.iter().any(|e| e["subjectId"] == before.as_str()),
        "{delivered:?}"
    );
    let out = p
        .graphql(Some(&manager), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    // After: nothing private arrives, and the streams end.
    let after = create_company(&p, &firm, &business_number(6202), "세션후").await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, sse.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) | Ok(Err(_)) => break,
            Err(_) => panic!("the SSE stream outlived its session: {text}"),
        }
    }
    assert!(!text.contains(after.as_str()), "{text}");
    let mut closed = false;
    let mut leaked = Vec::new();
    while let Some(message) = receive(&mut socket, Duration::from_secs(15)).await {
        match message["type"].as_str() {
            Some("next") => leaked.push(message),
            Some("complete") | Some("error") => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        !leaked
            .iter()
            .any(|m| m["payload"]["data"]["programEvents"]["subjectId"] == after.as_str()),
        "{leaked:?}"
    );
    assert!(closed, "the subscription ends with the session");
    p.stop().await;
}
