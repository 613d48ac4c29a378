//! `axv-gateway`: the public GraphQL API. Resolvers call the services over gRPC with the
//! caller's token; nested fields load through per-request DataLoaders over the batch RPCs.

pub mod cache;
pub mod clients;
pub mod context;
pub mod csrf;
pub mod documents;
pub mod errors;
pub mod events;
pub mod export;
pub mod graphiql;
pub mod http;
pub mod idempotency;
pub mod loaders;
pub mod multipart;
pub mod oauth;
pub mod persisted;
pub mod rate_limit;
pub mod schema;
pub mod usage_upload;
pub mod ws_guard;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit, routing::get};
use axv_auth::Verifier;
use axv_platform::{kv::SharedKv, shutdown::CancellationToken};
use tokio::net::TcpListener;

pub use clients::ServiceUrls;
pub use schema::Limits;

/// Requests larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub schema: schema::AppSchema,
    /// Runs introspection-only requests (see `schema::build_introspection`).
    pub introspection: Option<schema::AppSchema>,
    /// Runs `/graphql/ws`: subscriptions only (see `ws_guard`).
    pub websocket: schema::AppSchema,
    pub clients: clients::Clients,
    pub verifier: Arc<Verifier>,
    pub limits: Limits,
    pub stats: cache::ResponseCache,
    pub limiter: rate_limit::Limiter,
    pub persisted: persisted::PersistedQueries,
    pub idempotency: axv_platform::kv::IdempotencyStore,
    pub events: events::EventHub,
    pub review_claims: schema::review_claims::ReviewClaims,
    /// Multipart uploads being received at once (see [`multipart::UploadSlots`]).
    pub uploads: multipart::UploadSlots,
}

/// Uploads received at once by one gateway at most (fewer when the spool holds fewer files of
/// the upload limit); more are refused (503) rather than queued.
pub const MAX_UPLOADS_AT_ONCE: usize = 32;

impl axum::extract::FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl AppState {
    pub fn new(
        urls: &ServiceUrls,
        verifier: Arc<Verifier>,
        limits: Limits,
        stats: cache::ResponseCache,
        kv: SharedKv,
        events: events::EventHub,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self {
            schema: schema::build(&limits),
            introspection: schema::build_introspection(&limits),
            websocket: schema::build_for_websocket(&limits),
            clients: clients::Clients::connect(urls)?,
            events: events.with_verifier(verifier.clone()),
            verifier,
            limiter: rate_limit::Limiter::new(kv.clone(), limits.rate_limits.clone()),
            persisted: persisted::PersistedQueries::new(
                kv.clone(),
                limits.persisted_queries.clone(),
                limits.persisted_manifest.clone(),
            ),
            review_claims: schema::review_claims::ReviewClaims::new(kv.clone()),
            idempotency: idempotency::store(kv),
            uploads: multipart::UploadSlots::new(MAX_UPLOADS_AT_ONCE, limits.max_upload_bytes),
            limits,
            stats,
        })
    }
}

pub fn router(state: AppState) -> Router {
    // Request/response routes share the in-flight limit: over `max_in_flight`, requests are
    // refused at once (503) instead of queueing without bound behind slow ones.
    let requests = limit_in_flight(
        Router::new()
            .route("/graphql", get(http::graphql_get).post(http::graphql_post))
            .route("/graphql/assets/{file}", get(graphiql::asset))
            .route("/export/stats.csv", get(export::stats_csv))
            .route("/export/audit.csv", get(export::audit_csv))
            .route("/oauth/token", axum::routing::post(oauth::token))
            .route(
                "/usage/sacct",
                axum::routing::post(usage_upload::sacct_upload),
            )
            .route("/documents/{id}", get(documents::download)),
        state.limits.max_in_flight,
    );
    // Long-lived streams would hold in-flight slots for hours, so they stay outside the limit
    // (the broadcast ring bounds what each one costs); probes must answer under load too.
    Router::new()
        .merge(requests)
        .route("/graphql/ws", get(events::graphql_ws))
        .route("/events", get(events::sse))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&state.limits.cors_origins))
        .layer(axum::middleware::from_fn(axv_telemetry::http_middleware))
        .with_state(state)
}

/// Refuses requests beyond `max` at once (503) instead of queueing them.
fn limit_in_flight<S: Clone + Send + Sync + 'static>(router: Router<S>, max: usize) -> Router<S> {
    router.layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
            .load_shed()
            .concurrency_limit(max.max(1)),
    )
}

async fn overloaded(_: tower::BoxError) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({ "errors": [{ "message": "the gateway is overloaded; retry shortly", "extensions": { "code": "UNAVAILABLE" } }] });
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        axum::Json(body),
    )
        .into_response()
}

/// Dashboards on the allowed origins may call the API from browsers (with credentials in the
/// Authorization header, never cookies); other origins get no CORS grant.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static(idempotency::HEADER),
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
            HeaderName::from_static("traceparent"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
            // Which release a public CSV export comes from, for dashboards in a browser.
            HeaderName::from_static("x-axv-release"),
            HeaderName::from_static("x-axv-release-date"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Serves the gateway on `listener` until `shutdown`, letting in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// `listener` with TCP_NODELAY set on every connection it accepts: without it, Nagle's
/// algorithm and delayed ACKs hold small writes back by tens of milliseconds on every round trip
/// (and for seconds over a streamed upload).
pub fn accept_with_nodelay(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt as _;
    fn set_nodelay(socket: &mut tokio::net::TcpStream) {
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set on an accepted connection");
        }
    }
    listener.tap_io(set_nodelay as fn(&mut tokio::net::TcpStream))
}

/// The same, with `pages` (the web console) served beside the API on the same origin: the API
/// keeps its paths, and every other path is the pages'.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    pages: Option<Router>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = accept_with_nodelay(listener);
    let mut app = router(state);
    if let Some(pages) = pages {
        app = app.merge(pages.layer(axum::middleware::from_fn(axv_telemetry::http_middleware)));
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    /// Every connection the gateway (and the console) accepts has TCP_NODELAY, read back from
    /// the accepted socket.
    #[tokio::test]
    async fn accepted_connections_have_nodelay() {
        use axum::serve::Listener as _;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = accept_with_nodelay(listener);
        let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
        let (accepted, _) = listener.accept().await;
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY on the accepted socket"
        );
        drop(client.await);
    }

    /// Over the in-flight limit a request is refused at once with 503, not queued; once the
    /// running one finishes, requests are served again.
    #[tokio::test]
    async fn load_beyond_the_in_flight_limit_is_shed() {
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        let router: Router = limit_in_flight(
            Router::new().route(
                "/slow",
                get(move || {
                    let released = released.clone();
                    async move {
                        let wait = released.lock().await.take();
                        if let Some(wait) = wait {
                            let _ = wait.await;
                        }
                        "done"
                    }
                }),
            ),
            1,
        )
        // As in `router`: the state is given once, so the layer wraps each route once (without
        // it axum would layer a fresh limit per request).
        .with_state(());
        let request = || Request::get("/slow").body(Body::empty()).unwrap();
        let first = tokio::spawn(router.clone().oneshot(request()));
        // Let the first request take the only slot.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let shed = router.clone().oneshot(request()).await.unwrap();
        assert_eq!(shed.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()["retry-after"], "1");
        release.send(()).unwrap();
        assert_eq!(
            first.await.unwrap().unwrap().status(),
            axum::http::StatusCode::OK
        );
        let again = router.oneshot(request()).await.unwrap();
        assert_eq!(again.status(), axum::http::StatusCode::OK);
    }
}
