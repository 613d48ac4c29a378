//! The one way every service serves gRPC: standard health (`grpc.health.v1`) and reflection,
//! tracing and metrics (skipping health checks), the auth layer putting the verified caller in
//! request extensions, and graceful shutdown (health turns NOT_SERVING, the listener stops
//! accepting, in-flight calls drain, then the server returns).

pub mod balanced;

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use axv_auth::{AuthLayer, Verifier};
use axv_telemetry::GrpcServerLayer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::config::Platform;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{service} cannot start: {source}")]
    Build {
        service: &'static str,
        source: crate::db::StoreError,
    },
    #[error("{service} needs to know where {upstream} is")]
    MissingUpstream {
        service: &'static str,
        upstream: &'static str,
    },
}

/// Where a component reaches the services it calls, by their names (`onboarding`, ...).
#[derive(Debug, Clone, Default)]
pub struct Upstreams(BTreeMap<&'static str, String>);

impl Upstreams {
    pub fn insert(&mut self, name: &'static str, url: impl Into<String>) {
        self.0.insert(name, url.into());
    }

    pub fn with(mut self, name: &'static str, url: impl Into<String>) -> Self {
        self.insert(name, url);
        self
    }

    /// `service`'s URL for `upstream`, or the error naming what is missing.
    pub fn url(&self, service: &'static str, upstream: &'static str) -> Result<&str, ServeError> {
        self.0
            .get(upstream)
            .map(String::as_str)
            .ok_or(ServeError::MissingUpstream { service, upstream })
    }
}

impl FromIterator<(&'static str, String)> for Upstreams {
    fn from_iter<I: IntoIterator<Item = (&'static str, String)>>(services: I) -> Self {
        Upstreams(services.into_iter().collect())
    }
}

/// A service serving on its port, and its in-process handle (what the demo seeder and tests
/// call directly).
pub struct Running<S> {
    pub server: RunningServer,
    pub service: S,
}

/// A service built (database migrated, clients made) and ready to serve.
pub trait App {
    /// What the service offers in-process.
    type Service: Clone;

    fn service(&self) -> Self::Service;

    /// The gRPC routes; the service's background work (outbox relay, listeners, sweepers)
    /// runs until `shutdown`.
    fn start(self, platform: &Platform, shutdown: CancellationToken) -> GrpcService;
}

/// Serves `app` on `listener` until `shutdown`: the last step of every service's `spawn`.
pub fn launch<A: App>(
    platform: &Platform,
    listener: TcpListener,
    app: A,
    shutdown: &CancellationToken,
) -> Result<Running<A::Service>, ServeError> {
    let service = app.service();
    let routes = app.start(platform, shutdown.clone());
    let server = spawn(
        listener,
        routes,
        platform.verifier.clone(),
        shutdown.clone(),
    )?;
    Ok(Running { server, service })
}

impl ServeError {
    /// For `map_err` on a service's build: its database could not be opened or migrated, or an
    /// upstream's URL is not one.
    pub fn build(service: &'static str) -> impl FnOnce(crate::db::StoreError) -> ServeError {
        move |source| ServeError::Build { service, source }
    }
}

/// Binds `addr` (port 0 for a free port).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// A service ready to serve: its routes and the fully-qualified names it reports in health.
pub struct GrpcService {
    pub routes: Routes,
    pub health_names: Vec<&'static str>,
}

impl GrpcService {
    /// Adds the service's audit trail (`axv.audit.v1.AuditLog`) to what it serves, and the
    /// daily publication of its chain's head.
    pub fn with_audit(
        mut self,
        db: crate::db::Database,
        outbox: crate::outbox::Outbox,
        source: &'static str,
        shutdown: CancellationToken,
    ) -> Self {
        crate::audit::spawn_head_publisher(db.clone(), outbox, source, shutdown);
        self.routes = self
            .routes
            .add_service(crate::audit::AuditLogGrpc::new(db, source).into_server());
        self.health_names.push(crate::audit::GRPC_NAME);
        self
    }
}

/// Serves `service` on `listener` until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    listener: TcpListener,
    service: GrpcService,
    verifier: Arc<Verifier>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in &service.health_names {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let routes = service
        .routes
        .add_service(health)
        .add_service(reflection(&service.health_names).build_v1()?)
        .add_service(reflection(&service.health_names).build_v1alpha()?);
    let names = service.health_names.clone();
    let drained = async move {
        shutdown.cancelled().await;
        // Probes see NOT_SERVING while in-flight calls drain.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in names {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    };
    tonic::transport::Server::builder()
        .layer(GrpcServerLayer::new())
        .layer(AuthLayer::new(verifier))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), drained)
        .await?;
    Ok(())
}

/// The connections a service accepts, each with TCP_NODELAY: Nagle's algorithm with delayed
/// ACKs costs tens of milliseconds per internal hop (tonic's own nodelay setting only applies
/// when it binds the listener itself).
fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Reflection listing exactly what this server serves: its own services, health and reflection
/// (every proto of the platform is registered, so any message type still resolves). Both
/// protocol versions are served: v1alpha is what Python's grpcio-reflection and many grpcurl
/// builds still ask for.
fn reflection(served: &[&'static str]) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(axv_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection");
    served
        .iter()
        .fold(builder, |builder, name| builder.with_service_name(*name))
}

/// A server running in the background, as `axv up` and the tests use it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn spawn(
    listener: TcpListener,
    service: GrpcService,
    verifier: Arc<Verifier>,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: "listener".to_owned(),
        source,
    })?;
    let task = tokio::spawn(serve(listener, service, verifier, shutdown));
    Ok(RunningServer { addr, task })
}

/// How long a call to another service may take before the caller gives up on it.
pub const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A call to another service: the deadline, the current trace context (W3C `traceparent`, so
/// the callee's spans join the request's trace instead of starting a new one) and, when given,
/// the bearer token the call acts with.
pub fn outbound<T>(token: Option<&str>, message: T) -> Result<tonic::Request<T>, tonic::Status> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(OUTBOUND_TIMEOUT);
    axv_telemetry::propagation::inject_metadata(request.metadata_mut());
    if let Some(token) = token {
        axv_auth::attach_bearer(&mut request, token)?;
    }
    Ok(request)
}

/// A lazily-connecting channel to another service, spreading calls over all its instances
/// ([`balanced`]).
pub fn channel(url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    balanced::channel(
        url,
        balanced::ChannelSettings {
            connect_timeout: std::time::Duration::from_secs(5),
            request_timeout: std::time::Duration::from_secs(30),
        },
    )
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    /// Every connection a service accepts has TCP_NODELAY, read back from the accepted socket.
    #[tokio::test]
    async fn accepted_connections_have_nodelay() -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut incoming = super::incoming(listener);
        let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
        let accepted = incoming.next().await.ok_or("no connection")??;
        assert!(accepted.nodelay()?, "TCP_NODELAY on the accepted socket");
        drop(client.await);
        Ok(())
    }
}
