//! Live programme events for subscribers: `programEvents` over WebSocket (`graphql-transport-ws`,
//! authenticated in `connection_init`) and the same stream as server-sent events at `/events`.
//!
//! The gateway reads the event bus once and fans events out through a bounded broadcast ring:
//! a subscriber that cannot keep up skips what it missed (and is told how many), so it never
//! slows the others or makes the gateway hold events for it.

use std::{collections::HashSet, sync::Arc, time::Duration};

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{Query, State, WebSocketUpgrade},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use axv_auth::{Caller, MaybeCaller, Role};
use axv_platform::{
    events::{Event, SharedBus},
    shutdown::CancellationToken,
};
use axv_proto::onboarding::v1 as onboarding;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

use crate::{AppState, clients::Clients, context::RequestContext};

/// Events kept for subscribers that fall behind; beyond this they skip.
const RING: usize = 1024;

#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<Event>>,
    /// Re-verifies a signed-in subscriber's token while its stream is open (revocation).
    verifier: Option<Arc<axv_auth::Verifier>>,
}

/// How often an open stream asks again whether its token was revoked (sign-out, a revoked API
/// client): a revoked session hears nothing more after at most this long.
const SESSION_RECHECK: Duration = Duration::from_secs(10);

impl EventHub {
    /// Reads the bus until `shutdown`, fanning each event out to every subscriber.
    pub fn start(bus: SharedBus, shutdown: CancellationToken) -> Self {
        let (sender, _) = broadcast::channel(RING);
        let hub = Self {
            sender,
            verifier: None,
        };
        let fan_out = hub.sender.clone();
        tokio::spawn(async move {
            let mut events = bus.subscribe();
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => return,
                    event = events.next() => match event { Some(event) => event, None => return },
                };
                // No subscribers is not an error.
                let _ = fan_out.send(Arc::new(event));
            }
        });
        hub
    }

    pub fn receiver(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Streams of signed-in subscribers end when their token is revoked.
    pub fn with_verifier(mut self, verifier: Arc<axv_auth::Verifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }
}

/// Which events a subscriber may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Programme managers and admins: everything.
    Staff,
    /// A firm member: its companies' events and public ones.
    Firm(HashSet<String>),
    /// Dashboards, operators and anonymous callers: public events only.
    Public,
}

impl Audience {
    pub fn sees(&self, event: &Event) -> bool {
        // Accounts' own events (a password reset asked for) are for the platform's services
        // only, whoever subscribes.
        if event.kind.starts_with("account.") {
            return false;
        }
        match self {
            Audience::Staff => true,
            _ if event.public => true,
            Audience::Firm(own) => event.company_ids.iter().any(|c| own.contains(c)),
            Audience::Public => false,
        }
    }
}

/// Whether `kind` is asked for: no filter takes everything; `report.*` takes a family.
pub fn wanted(kinds: &[String], kind: &str) -> bool {
    kinds.is_empty()
        || kinds.iter().any(|k| match k.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => k == kind,
        })
}

/// One subscriber's view of the hub: what it may see, of the kinds it asked for.
pub struct Subscriber {
    receiver: broadcast::Receiver<Arc<Event>>,
    audience: Audience,
    kinds: Vec<String>,
    /// The subscriber's user id, to learn of companies it joins while subscribed.
    user_id: Option<String>,
    /// A signed-in subscriber's token and when it expires: the stream ends then, or as soon as
    /// the token is found revoked.
    session: Option<Session>,
}

struct Session {
    token: Arc<str>,
    expires_at: i64,
    verifier: Option<Arc<axv_auth::Verifier>>,
}

impl Session {
    /// Whether the token still holds: not expired, not revoked.
    async fn holds(&self) -> bool {
        if chrono::Utc::now().timestamp() >= self.expires_at {
            return false;
        }
        match &self.verifier {
            Some(verifier) => verifier.verify(&self.token).await.is_ok(),
            None => true,
        }
    }
}

async fn companies_of(clients: &Clients, rc: &RequestContext) -> HashSet<String> {
    match clients
        .onboarding
        .clone()
        .get_me(crate::clients::request(rc, onboarding::GetMeRequest {}))
        .await
    {
        Ok(me) => me.into_inner().company_ids.into_iter().collect(),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "could not look up a subscriber's companies");
            HashSet::new()
        }
    }
}

impl Subscriber {
    pub async fn new(
        hub: &EventHub,
        clients: &Clients,
        rc: &RequestContext,
        kinds: Vec<String>,
    ) -> Self {
        // Subscribe first so nothing published while looking up companies is missed.
        let receiver = hub.receiver();
        let audience = match rc.caller.as_ref() {
            Some(caller) if caller.is_staff() => Audience::Staff,
            Some(Caller {
                role: Role::FirmMember,
                ..
            }) => Audience::Firm(companies_of(clients, rc).await),
            _ => Audience::Public,
        };
        Self {
            receiver,
            audience,
            kinds,
            user_id: rc.caller.as_ref().map(|c| c.subject.clone()),
            session: rc.caller.as_ref().map(|c| Session {
                token: c.raw_token.clone(),
                expires_at: c.expires_at,
                verifier: hub.verifier.clone(),
            }),
        }
    }

    /// A firm member who creates or joins a company while subscribed learns of it from the
    /// event itself (`memberIds`), so its later events reach it too.
    fn admits(&mut self, event: &Event) -> bool {
        if let (Audience::Firm(own), Some(user)) = (&mut self.audience, &self.user_id)
            && event
                .payload
                .get("memberIds")
                .and_then(|m| m.as_array())
                .is_some_and(|m| m.iter().any(|id| id.as_str() == Some(user)))
        {
            own.extend(event.company_ids.iter().cloned());
        }
        wanted(&self.kinds, &event.kind) && self.audience.sees(event)
    }

    /// The events this subscriber may see, as they come; for a signed-in subscriber, until its
    /// token expires or is revoked (checked before each event and every [`SESSION_RECHECK`]).
    pub fn into_stream(self) -> impl Stream<Item = Arc<Event>> + Send {
        futures::stream::unfold(self, |mut subscriber| async move {
            loop {
                let received = match &subscriber.session {
                    Some(session) => {
                        let left = session.expires_at - chrono::Utc::now().timestamp();
                        let wait = SESSION_RECHECK
                            .min(Duration::from_secs(u64::try_from(left.max(0)).unwrap_or(0)));
                        tokio::select! {
                            received = subscriber.receiver.recv() => Some(received),
                            () = tokio::time::sleep(wait) => None,
                        }
                    }
                    None => Some(subscriber.receiver.recv().await),
                };
                if let Some(session) = &subscriber.session
                    && !session.holds().await
                {
                    return None;
                }
                let Some(received) = received else {
                    continue;
                };
                match received {
                    Ok(event) => {
                        if subscriber.admits(&event) {
                            return Some((event, subscriber));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "a slow subscriber skipped events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// Verifies the token a WebSocket client sends in `connection_init` (`{"Authorization":
/// "Bearer <jwt>"}`, or `{"token": "<jwt>"}`); no token is an anonymous subscriber.
async fn authenticate(
    state: &AppState,
    payload: &serde_json::Value,
) -> async_graphql::Result<Option<Caller>> {
    let field = |name: &str| payload.get(name).and_then(|v| v.as_str());
    let token = field("Authorization")
        .or_else(|| field("authorization"))
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v))
        .or_else(|| field("token"));
    match token {
        None => Ok(None),
        Some(token) => state
            .verifier
            .verify(token)
            .await
            .map(Some)
            .map_err(|_| async_graphql::Error::new("invalid or expired token")),
    }
}

/// `GET /graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the
/// older `graphql-ws`).
pub async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let address =
        crate::http::client_address(&headers, connect, state.limits.console_relay_key.as_deref());
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = state.websocket.clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let caller = authenticate(&state, &payload).await?;
                    // Each subscription started is charged as an HTTP request would be.
                    let charge = state.limiter.charge(caller.as_ref(), &address);
                    let rc = RequestContext {
                        token: caller.as_ref().map(|c| c.raw_token.clone()),
                        caller,
                        client_address: address,
                    };
                    let mut data = Data::default();
                    data.insert(charge);
                    data.insert(rc);
                    data.insert(state.clients.clone());
                    data.insert(state.events.clone());
                    Ok(data)
                })
                .serve()
        })
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SseParams {
    /// Comma-separated kinds; `report.*` for a family.
    pub kinds: Option<String>,
}

pub fn kinds_of(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The event as clients see it: the fields of `ProgramEvent`.
pub fn event_json(event: &Event) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "kind": event.kind,
        "at": chrono::DateTime::from_timestamp_millis(event.occurred_at_ms).map(|t| t.to_rfc3339()),
        "subjectId": event.subject_id,
    })
}

/// `GET /events?kinds=...`: the same events as server-sent events, for clients that cannot use
/// WebSocket; authenticated by the `Authorization` header like any request.
pub async fn sse(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(params): Query<SseParams>,
) -> impl IntoResponse {
    let rc = RequestContext {
        token: caller.as_ref().map(|c| c.raw_token.clone()),
        caller,
        client_address: String::new(),
    };
    let subscriber = Subscriber::new(
        &state.events,
        &state.clients,
        &rc,
        kinds_of(params.kinds.as_deref()),
    )
    .await;
    let stream = subscriber.into_stream().map(|event| {
        Ok::<_, std::convert::Infallible>(
            SseEvent::default()
                .event(event.kind.clone())
                .id(event.id.clone())
                .data(event_json(&event).to_string()),
        )
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, companies: &[&str], public: bool) -> Event {
        Event::new("test", kind, "s")
            .for_companies(companies.iter().map(|c| (*c).to_owned()).collect())
            .public(public)
    }

    #[test]
    fn audiences_see_what_they_may() {
        let mine = event("company.submitted", &["a"], false);
        let theirs = event("company.submitted", &["b"], false);
        let public = event("voucher.issued", &["b"], true);
        let firm = Audience::Firm(["a".to_owned()].into_iter().collect());
        assert!(firm.sees(&mine) && !firm.sees(&theirs) && firm.sees(&public));
        assert!(!Audience::Public.sees(&mine) && Audience::Public.sees(&public));
        assert!(Audience::Staff.sees(&theirs));
        // An account's own events reach no subscriber, staff included.
        let reset = event("account.password_reset_requested", &[], true);
        assert!(!Audience::Staff.sees(&reset) && !Audience::Public.sees(&reset));
    }

    #[test]
    fn a_firm_learns_the_companies_it_joins_from_their_events() {
        let (sender, _) = broadcast::channel(4);
        let mut subscriber = Subscriber {
            receiver: sender.subscribe(),
            audience: Audience::Firm(HashSet::new()),
            kinds: Vec::new(),
            user_id: Some("user-1".into()),
            session: None,
        };
        let created = event("company.created", &["new"], false)
            .with_payload(serde_json::json!({ "memberIds": ["user-1"] }));
        assert!(subscriber.admits(&created));
        assert!(subscriber.admits(&event("company.submitted", &["new"], false)));
        // Someone else's new company teaches it nothing.
        let theirs = event("company.created", &["other"], false)
            .with_payload(serde_json::json!({ "memberIds": ["user-2"] }));
        assert!(!subscriber.admits(&theirs));
        assert!(!subscriber.admits(&event("company.submitted", &["other"], false)));
    }

    #[test]
    fn kinds_filter_exactly_or_by_family() {
        let kinds = kinds_of(Some("voucher.issued, report.*"));
        assert!(wanted(&kinds, "voucher.issued"));
        assert!(wanted(&kinds, "report.verified"));
        assert!(!wanted(&kinds, "voucher.exhausted"));
        assert!(wanted(&[], "anything"));
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_instead_of_holding_events() {
        let (sender, _) = broadcast::channel(4);
        let hub = EventHub {
            sender,
            verifier: None,
        };
        let rc = RequestContext::default();
        let clients = Clients::connect(&crate::ServiceUrls {
            onboarding: "http://127.0.0.1:9".into(),
            vouchers: "http://127.0.0.1:9".into(),
            pilots: "http://127.0.0.1:9".into(),
            outcomes: "http://127.0.0.1:9".into(),
            notify: "http://127.0.0.1:9".into(),
            documents: "http://127.0.0.1:9".into(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let subscriber = Subscriber::new(&hub, &clients, &rc, Vec::new()).await;
        for n in 0..10 {
            let _ = hub
                .sender
                .send(Arc::new(event(&format!("e.{n}"), &[], true)));
        }
        // Only the newest four were kept for it; it goes on from there.
        let got: Vec<String> = subscriber
            .into_stream()
            .take(4)
            .map(|e| e.kind.clone())
            .collect()
            .await;
        assert_eq!(got, vec!["e.6", "e.7", "e.8", "e.9"]);
    }
}
