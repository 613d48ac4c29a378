//! `axv-gateway`: the public GraphQL API. Resolvers call the services over gRPC with the
//! caller's token; nested fields load through per-request DataLoaders over the batch RPCs.

pub mod clients;
pub mod context;
pub mod errors;
pub mod export;
pub mod http;
pub mod loaders;
pub mod schema;
pub mod stats_cache;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit, routing::get};
use axv_auth::Verifier;
use axv_platform::shutdown::CancellationToken;
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
    pub stats: stats_cache::StatsCache,
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
        stats: stats_cache::StatsCache,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self {
            schema: schema::build(&limits),
            clients: clients::Clients::connect(urls)?,
            verifier,
            limits,
            stats,
        })
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .route("/export/stats.csv", get(export::stats_csv))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(axv_telemetry::http_middleware))
        .with_state(state)
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
