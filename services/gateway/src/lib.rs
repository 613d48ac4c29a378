//! `axv-gateway`: the public GraphQL API. Resolvers call the services over gRPC with the
//! caller's token; nested fields load through per-request DataLoaders over the batch RPCs.

pub mod cache;
pub mod clients;
pub mod context;
pub mod csrf;
pub mod errors;
pub mod events;
pub mod export;
pub mod http;
pub mod idempotency;
pub mod loaders;
pub mod oauth;
pub mod persisted;
pub mod rate_limit;
pub mod schema;

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
    pub clients: clients::Clients,
    pub verifier: Arc<Verifier>,
    pub limits: Limits,
    pub stats: cache::ResponseCache,
    pub limiter: rate_limit::Limiter,
    pub persisted: persisted::PersistedQueries,
    pub idempotency: axv_platform::kv::IdempotencyStore,
    pub events: events::EventHub,
}

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
            clients: clients::Clients::connect(urls)?,
            verifier,
            limiter: rate_limit::Limiter::new(kv.clone(), limits.rate_limits.clone()),
            persisted: persisted::PersistedQueries::new(
                kv.clone(),
                limits.persisted_queries.clone(),
                limits.persisted_manifest.clone(),
            ),
            idempotency: idempotency::store(kv),
            limits,
            stats,
            events,
        })
    }
}

pub fn router(state: AppState) -> Router {
    // Request/response routes share the in-flight limit: over `max_in_flight`, requests are
    // refused at once (503) instead of queueing without bound behind slow ones.
    let requests = Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/export/stats.csv", get(export::stats_csv))
        .route("/oauth/token", axum::routing::post(oauth::token))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(state.limits.max_in_flight.max(1)),
        );
    // Long-lived streams would hold in-flight slots for hours, so they stay outside the limit
    // (the broadcast ring bounds what each one costs); probes must answer under load too.
    Router::new()
        .merge(requests)
        .route("/graphql/ws", get(events::graphql_ws))
        .route("/events", get(events::sse))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&state.limits.cors_origins))
        .layer(axum::middleware::from_fn(axv_telemetry::http_middleware))
        .with_state(state)
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
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Serves the gateway on `listener` until `shutdown`, letting in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}
