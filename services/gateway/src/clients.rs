//! gRPC clients of the services, each call carrying the caller's token, the end client's
//! address and the trace context (injected by the client telemetry layer).

use std::time::Duration;

use axv_platform::grpc::balanced;
use axv_proto::{
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

/// Where the gateway finds each service.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub onboarding: String,
    pub vouchers: String,
    pub pilots: String,
    pub outcomes: String,
}

#[derive(Clone)]
pub struct Clients {
    pub onboarding: OnboardingServiceClient<GrpcChannel>,
    pub vouchers: VouchersServiceClient<GrpcChannel>,
    pub pilots: PilotsServiceClient<GrpcChannel>,
    pub outcomes: OutcomesServiceClient<GrpcChannel>,
    /// Raw channels by service name, for readiness checks.
    pub channels: Vec<(&'static str, Channel)>,
}

/// Calls are spread over every instance of the service (see `axv_platform::grpc::balanced`).
fn lazy_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    balanced::channel(
        url,
        balanced::ChannelSettings {
            connect_timeout: Duration::from_secs(3),
            request_timeout: CALL_TIMEOUT,
        },
    )
}

impl Clients {
    pub fn connect(urls: &ServiceUrls) -> Result<Self, tonic::transport::Error> {
        let onboarding = lazy_channel(&urls.onboarding)?;
        let vouchers = lazy_channel(&urls.vouchers)?;
        let pilots = lazy_channel(&urls.pilots)?;
        let outcomes = lazy_channel(&urls.outcomes)?;
        let traced = |channel: &Channel| {
            tower::ServiceBuilder::new()
                .layer(GrpcClientLayer::new())
                .service(channel.clone())
        };
        Ok(Self {
            onboarding: OnboardingServiceClient::new(traced(&onboarding)),
            vouchers: VouchersServiceClient::new(traced(&vouchers)),
            pilots: PilotsServiceClient::new(traced(&pilots)),
            outcomes: OutcomesServiceClient::new(traced(&outcomes)),
            channels: vec![
                ("onboarding", onboarding),
                ("vouchers", vouchers),
                ("pilots", pilots),
                ("outcomes", outcomes),
            ],
        })
    }
}

/// A request to a service on behalf of the GraphQL caller.
pub fn request<T>(ctx: &RequestContext, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    if let Some(token) = &ctx.token {
        // The token was verified already; a value that is not a valid header cannot be one.
        let _ = axv_auth::attach_bearer(&mut request, token);
    }
    if let Ok(value) = ctx.client_address.parse() {
        request.metadata_mut().insert("x-forwarded-for", value);
    }
    request
}
