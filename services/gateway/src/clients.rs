//! gRPC clients of the services, each call carrying the caller's token, the end client's
//! address and the trace context (injected by the client telemetry layer).

use std::time::Duration;

use axv_platform::grpc::balanced;
use axv_proto::{
    audit::v1::audit_log_client::AuditLogClient,
    documents::v1::documents_service_client::DocumentsServiceClient,
    notify::v1::notify_service_client::NotifyServiceClient,
    onboarding::v1::onboarding_service_client::OnboardingServiceClient,
    outcomes::v1::outcomes_service_client::OutcomesServiceClient,
    pilots::v1::pilots_service_client::PilotsServiceClient,
    vouchers::v1::vouchers_service_client::VouchersServiceClient,
};
use axv_telemetry::{GrpcClientLayer, GrpcTelemetryService};
use tonic::transport::Channel;

use crate::context::RequestContext;

pub type GrpcChannel = GrpcTelemetryService<Channel>;

/// Every downstream call gets this deadline, so one slow service cannot hold requests forever.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A sacct file of tens of megabytes over a slow office link takes minutes, not seconds.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Where the gateway finds each service.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub onboarding: String,
    pub vouchers: String,
    pub pilots: String,
    pub outcomes: String,
    pub notify: String,
    pub documents: String,
}

impl ServiceUrls {
    /// The services' URLs by name, as `axv up` and the test kit collect them.
    pub fn from_upstreams(
        upstreams: &axv_platform::grpc::Upstreams,
    ) -> Result<Self, axv_platform::grpc::ServeError> {
        let url = |name| upstreams.url("gateway", name).map(str::to_owned);
        Ok(Self {
            onboarding: url("onboarding")?,
            vouchers: url("vouchers")?,
            pilots: url("pilots")?,
            outcomes: url("outcomes")?,
            notify: url("notify")?,
            documents: url("documents")?,
        })
    }
}

#[derive(Clone)]
pub struct Clients {
    pub onboarding: OnboardingServiceClient<GrpcChannel>,
    pub vouchers: VouchersServiceClient<GrpcChannel>,
    /// The vouchers service for streamed uploads, on a channel with [`UPLOAD_TIMEOUT`].
    pub vouchers_uploads: VouchersServiceClient<GrpcChannel>,
    pub pilots: PilotsServiceClient<GrpcChannel>,
    pub outcomes: OutcomesServiceClient<GrpcChannel>,
    pub notify: NotifyServiceClient<GrpcChannel>,
    pub documents: DocumentsServiceClient<GrpcChannel>,
    /// The documents service for uploads and downloads, on a channel with [`UPLOAD_TIMEOUT`].
    pub documents_transfers: DocumentsServiceClient<GrpcChannel>,
    /// Each service's audit trail, by the service's name.
    pub audit_logs: Vec<(&'static str, AuditLogClient<GrpcChannel>)>,
    /// Raw channels by service name, for readiness checks.
    pub channels: Vec<(&'static str, Channel)>,
}

/// Calls are spread over every instance of the service (see `axv_platform::grpc::balanced`).
fn lazy_channel(url: &str, request_timeout: Duration) -> Result<Channel, tonic::transport::Error> {
    balanced::channel(
        url,
        balanced::ChannelSettings {
            connect_timeout: Duration::from_secs(3),
            request_timeout,
        },
    )
}

impl Clients {
    pub fn connect(urls: &ServiceUrls) -> Result<Self, tonic::transport::Error> {
        let onboarding = lazy_channel(&urls.onboarding, CALL_TIMEOUT)?;
        let vouchers = lazy_channel(&urls.vouchers, CALL_TIMEOUT)?;
        let uploads = lazy_channel(&urls.vouchers, UPLOAD_TIMEOUT)?;
        let pilots = lazy_channel(&urls.pilots, CALL_TIMEOUT)?;
        let outcomes = lazy_channel(&urls.outcomes, CALL_TIMEOUT)?;
        let notify = lazy_channel(&urls.notify, CALL_TIMEOUT)?;
        let documents = lazy_channel(&urls.documents, CALL_TIMEOUT)?;
        let transfers = lazy_channel(&urls.documents, UPLOAD_TIMEOUT)?;
        let traced = |channel: &Channel| {
            tower::ServiceBuilder::new()
                .layer(GrpcClientLayer::new())
                .service(channel.clone())
        };
        Ok(Self {
            onboarding: OnboardingServiceClient::new(traced(&onboarding)),
            vouchers: VouchersServiceClient::new(traced(&vouchers)),
            vouchers_uploads: VouchersServiceClient::new(traced(&uploads)),
            pilots: PilotsServiceClient::new(traced(&pilots)),
            outcomes: OutcomesServiceClient::new(traced(&outcomes)),
            notify: NotifyServiceClient::new(traced(&notify)),
            documents: DocumentsServiceClient::new(traced(&documents)),
            documents_transfers: DocumentsServiceClient::new(traced(&transfers)),
            audit_logs: [
                ("documents", &documents),
                ("onboarding", &onboarding),
                ("outcomes", &outcomes),
                ("pilots", &pilots),
                ("vouchers", &vouchers),
            ]
            .into_iter()
            .filter(|(name, _)| axv_platform::audit::AUDITED_SERVICES.contains(name))
            .map(|(name, channel)| (name, AuditLogClient::new(traced(channel))))
            .collect(),
            channels: vec![
                ("onboarding", onboarding),
                ("vouchers", vouchers),
                ("pilots", pilots),
                ("outcomes", outcomes),
                ("notify", notify),
                ("documents", documents),
            ],
        })
    }
}

/// A request to a service on behalf of the GraphQL caller.
pub fn request<T>(ctx: &RequestContext, message: T) -> tonic::Request<T> {
    request_within(ctx, message, CALL_TIMEOUT)
}

/// [`request`] with its own deadline.
pub fn request_within<T>(ctx: &RequestContext, message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    if let Some(token) = &ctx.token {
        // The token was verified already; a value that is not a valid header cannot be one.
        let _ = axv_auth::attach_bearer(&mut request, token);
    }
    if let Ok(value) = ctx.client_address.parse() {
        request.metadata_mut().insert("x-forwarded-for", value);
    }
    request
}
