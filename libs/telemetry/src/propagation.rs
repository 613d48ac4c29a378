//! W3C trace-context (`traceparent`/`tracestate`) across process boundaries, through the
//! global propagator that [`crate::init`] sets.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
    trace::TraceContextExt,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// tonic client interceptor: injects the current span's context as `traceparent`/`tracestate`
/// metadata. Use it where a [`crate::GrpcClientLayer`] does not fit, e.g.
/// `FooClient::with_interceptor(channel, TraceContextInterceptor)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_metadata(request.metadata_mut());
        Ok(request)
    }
}

/// Writes the current span's context into gRPC metadata.
pub fn inject_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    inject_headers(metadata.as_mut());
}

/// Writes the current span's context into HTTP headers.
pub fn inject_headers(headers: &mut HeaderMap) {
    inject_context(&current_context(), headers);
}

/// Writes `cx` into HTTP headers.
pub fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut HeaderInjector(headers));
    });
}

/// Reads the remote parent from HTTP headers (an empty context when there is none).
pub fn extract_headers(headers: &HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Reads the remote parent from gRPC metadata.
pub fn extract_metadata(metadata: &tonic::metadata::MetadataMap) -> Context {
    extract_headers(metadata.as_ref())
}

/// The OpenTelemetry context of the current `tracing` span, or the attached OpenTelemetry
/// context when the span is disabled or not seen by an OpenTelemetry layer.
pub(crate) fn current_context() -> Context {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        cx
    } else {
        Context::current()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagators only produce valid names and values; skipping a bad one beats failing
        // the request over telemetry.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}
